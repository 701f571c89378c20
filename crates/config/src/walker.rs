//! A typed walk over a TOML table that collects every error with its key path and reports
//! the keys nobody asked for as unknown. Adding a key is one call here plus a field.

use crate::ConfigError;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;
use toml::{Table, Value};

pub(crate) struct Section<'a> {
    table: &'a Table,
    prefix: String,
    taken: Vec<&'static str>,
    errors: Vec<ConfigError>,
}

impl<'a> Section<'a> {
    pub fn new(table: &'a Table, prefix: &str) -> Section<'a> {
        Section {
            table,
            prefix: prefix.to_owned(),
            taken: Vec::new(),
            errors: Vec::new(),
        }
    }

    fn path(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.prefix)
        }
    }

    pub fn error(&mut self, key: &str, message: String) {
        let key = self.path(key);
        self.errors.push(ConfigError { key, message });
    }

    fn take(&mut self, key: &'static str) -> Option<&'a Value> {
        self.taken.push(key);
        self.table.get(key)
    }

    fn wrong_type(&mut self, key: &str, expected: &str, got: &Value) {
        self.error(
            key,
            format!("expected {expected}, got {} {}", got.type_str(), got),
        );
    }

    pub fn string(&mut self, key: &'static str) -> Option<String> {
        match self.take(key)? {
            Value::String(s) => Some(s.clone()),
            other => {
                self.wrong_type(key, "a string", other);
                None
            }
        }
    }

    pub fn boolean(&mut self, key: &'static str) -> Option<bool> {
        match self.take(key)? {
            Value::Boolean(b) => Some(*b),
            other => {
                self.wrong_type(key, "true or false", other);
                None
            }
        }
    }

    /// A whole number of at least `min`.
    pub fn integer(&mut self, key: &'static str, min: u64) -> Option<u64> {
        let value = self.take(key)?;
        match value.as_integer() {
            Some(n) if n >= 0 && n as u64 >= min => Some(n as u64),
            Some(n) => {
                self.error(key, format!("must be at least {min}, got {n}"));
                None
            }
            None => {
                self.wrong_type(key, "a whole number", value);
                None
            }
        }
    }

    /// Bytes: a number, or a string like "50MiB", "512K", "1G" (K, M, G are powers of 1024).
    pub fn size(&mut self, key: &'static str, min: u64) -> Option<u64> {
        let value = self.take(key)?;
        let parsed = match value {
            Value::Integer(n) => u64::try_from(*n).ok(),
            Value::String(s) => parse_size(s),
            _ => None,
        };
        match parsed {
            Some(n) if n >= min => Some(n),
            Some(n) => {
                self.error(key, format!("must be at least {min} bytes, got {n}"));
                None
            }
            None => {
                self.error(
                    key,
                    format!("expected a size such as 52428800 or \"50MiB\", got {value}"),
                );
                None
            }
        }
    }

    /// A duration: seconds as a number, or a string like "30s", "5m", "2h", "1d".
    pub fn duration(&mut self, key: &'static str) -> Option<Duration> {
        let value = self.take(key)?;
        let parsed = match value {
            Value::Integer(n) => u64::try_from(*n).ok(),
            Value::String(s) => parse_duration(s),
            _ => None,
        };
        match parsed {
            Some(secs) if secs > 0 => Some(Duration::from_secs(secs)),
            _ => {
                self.error(
                    key,
                    format!("expected a positive duration such as 300 or \"5m\", got {value}"),
                );
                None
            }
        }
    }

    /// A list of "addr:port" strings.
    pub fn addrs(&mut self, key: &'static str) -> Option<Vec<SocketAddr>> {
        let value = self.take(key)?;
        let Value::Array(items) = value else {
            self.wrong_type(key, "a list of \"addr:port\" strings", value);
            return None;
        };
        let mut out = Vec::new();
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let parsed = item.as_str().and_then(|s| {
                s.parse::<SocketAddr>()
                    .ok()
                    .or_else(|| resolve_localhost(s))
            });
            match parsed {
                Some(addr) => out.push(addr),
                None => {
                    ok = false;
                    self.error(
                        &format!("{key}[{i}]"),
                        format!(
                            "{item} is not an \"addr:port\" (e.g. \"0.0.0.0:25\" or \"[::]:25\")"
                        ),
                    );
                }
            }
        }
        ok.then_some(out)
    }

    /// A sub-table; its errors come back through [`Section::absorb`].
    pub fn section(&mut self, key: &'static str) -> Option<Section<'a>> {
        let path = self.path(key);
        match self.take(key)? {
            Value::Table(t) => Some(Section::new(t, &path)),
            other => {
                self.wrong_type(key, "a table", other);
                None
            }
        }
    }

    pub fn absorb(&mut self, child: Section<'_>) {
        self.errors.extend(child.finish());
    }

    /// Every error, plus one per key nobody took.
    pub fn finish(mut self) -> Vec<ConfigError> {
        let mut unknown: Vec<&String> = self
            .table
            .keys()
            .filter(|k| !self.taken.contains(&k.as_str()))
            .collect();
        unknown.sort();
        for key in unknown {
            let key = self.path(key);
            self.errors.push(ConfigError {
                key,
                message: "unknown key".into(),
            });
        }
        self.errors
    }
}

/// `localhost:25` is common in configs; accept it (and only it) as a name.
fn resolve_localhost(s: &str) -> Option<SocketAddr> {
    let (host, _) = s.rsplit_once(':')?;
    if host != "localhost" {
        return None;
    }
    s.to_socket_addrs().ok()?.find(SocketAddr::is_ipv4)
}

fn split_number(s: &str) -> Option<(u64, String)> {
    let s = s.trim();
    let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let number = s[..digits].parse().ok()?;
    Some((number, s[digits..].trim().to_ascii_lowercase()))
}

pub(crate) fn parse_size(s: &str) -> Option<u64> {
    let (n, unit) = split_number(s)?;
    let factor: u64 = match unit.as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(factor)
}

pub(crate) fn parse_duration(s: &str) -> Option<u64> {
    let (n, unit) = split_number(s)?;
    let factor = match unit.as_str() {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    n.checked_mul(factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations() {
        assert_eq!(parse_size("50MiB"), Some(50 << 20));
        assert_eq!(parse_size("512 K"), Some(512 << 10));
        assert_eq!(parse_size("1g"), Some(1 << 30));
        assert_eq!(parse_size("12"), Some(12));
        assert_eq!(parse_size("12 parsecs"), None);
        assert_eq!(parse_size("MiB"), None);
        assert_eq!(parse_duration("5m"), Some(300));
        assert_eq!(parse_duration("2h"), Some(7200));
        assert_eq!(parse_duration("1d"), Some(86_400));
        assert_eq!(parse_duration("soon"), None);
    }
}
