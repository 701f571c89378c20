//! A typed walk over a TOML table that collects every error with its key path and reports
//! the keys nobody asked for as unknown. Adding a key is one call here plus a field.

use crate::ConfigError;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
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

    /// The full dotted path of `key` in this section, for error messages.
    fn key_path(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.prefix)
        }
    }

    /// Whether the file has `key` here (taken or not).
    pub fn has(&self, key: &str) -> bool {
        self.table.contains_key(key)
    }

    pub fn error(&mut self, key: &str, message: String) {
        let key = self.key_path(key);
        self.errors.push(ConfigError { key, message });
    }

    fn take(&mut self, key: &'static str) -> Option<&'a Value> {
        self.taken.push(key);
        self.table.get(key)
    }

    fn wrong_type(&mut self, key: &str, expected: &str, got: &Value) {
        self.error(key, format!("expected {expected}, got {}", describe(got)));
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

    /// A file or folder path; relative ones resolve against `base` (the config's folder).
    pub fn path(&mut self, key: &'static str, base: &Path) -> Option<PathBuf> {
        let value = self.string(key)?;
        if value.is_empty() {
            // Joining "" would silently mean the config folder itself.
            self.error(key, "expected a path, got an empty string".into());
            return None;
        }
        Some(base.join(value))
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
                let got = describe(value);
                let message = format!("expected a size such as 52428800 or \"50MiB\", got {got}");
                self.error(key, message);
                None
            }
        }
    }

    /// A duration: seconds as a number, or a string like "30s", "5m", "2h", "1d".
    pub fn duration(&mut self, key: &'static str) -> Option<Duration> {
        self.duration_at_least(key, 1)
    }

    /// A duration that may be zero ("0s" turns a wait off).
    pub fn duration_or_zero(&mut self, key: &'static str) -> Option<Duration> {
        self.duration_at_least(key, 0)
    }

    fn duration_at_least(&mut self, key: &'static str, min_secs: u64) -> Option<Duration> {
        let value = self.take(key)?;
        let parsed = match value {
            Value::Integer(n) => u64::try_from(*n).ok(),
            Value::String(s) => parse_duration(s),
            _ => None,
        };
        match parsed {
            Some(secs) if secs >= min_secs => Some(Duration::from_secs(secs)),
            _ => {
                let got = describe(value);
                let kind = if min_secs > 0 { "a positive" } else { "a" };
                let message = format!("expected {kind} duration such as 300 or \"5m\", got {got}");
                self.error(key, message);
                None
            }
        }
    }

    /// A number (whole or with a fraction), such as a spam score.
    pub fn number(&mut self, key: &'static str) -> Option<f64> {
        match self.take(key)? {
            Value::Float(f) if f.is_finite() => Some(*f),
            Value::Integer(n) => Some(*n as f64),
            other => {
                self.wrong_type(key, "a number", other);
                None
            }
        }
    }

    /// A list of strings, each checked by `parse`; each bad item is reported as `key[i]`.
    pub fn list<T>(
        &mut self,
        key: &'static str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Option<Vec<T>> {
        let value = self.take(key)?;
        let Value::Array(items) = value else {
            self.wrong_type(key, "a list of strings", value);
            return None;
        };
        let mut out = Vec::new();
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let parsed = match item.as_str() {
                Some(text) => parse(text),
                None => Err(format!("expected a string, got {}", describe(item))),
            };
            match parsed {
                Ok(v) => out.push(v),
                Err(message) => {
                    ok = false;
                    self.error(&format!("{key}[{i}]"), message);
                }
            }
        }
        ok.then_some(out)
    }

    /// A list of "addr:port" strings; each bad item is reported as `key[i]`.
    pub fn addrs(&mut self, key: &'static str) -> Option<Vec<SocketAddr>> {
        let value = self.take(key)?;
        let Value::Array(items) = value else {
            self.wrong_type(key, "a list of \"addr:port\" strings", value);
            return None;
        };
        let mut out = Vec::new();
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            match item.as_str().and_then(parse_addr) {
                Some(addr) => out.push(addr),
                None => {
                    ok = false;
                    let message = format!(
                        "{} is not an \"addr:port\" (e.g. \"0.0.0.0:25\" or \"[::]:25\")",
                        show(item)
                    );
                    self.error(&format!("{key}[{i}]"), message);
                }
            }
        }
        ok.then_some(out)
    }

    /// A sub-table; its errors come back through [`Section::absorb`].
    pub fn section(&mut self, key: &'static str) -> Option<Section<'a>> {
        let path = self.key_path(key);
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

    /// Every error, plus one per key nobody took (with a hint when it looks like a typo of
    /// a key that was asked for).
    pub fn finish(mut self) -> Vec<ConfigError> {
        let mut unknown: Vec<&String> = self
            .table
            .keys()
            .filter(|k| !self.taken.contains(&k.as_str()))
            .collect();
        unknown.sort();
        for key in unknown {
            let message = match closest(key, &self.taken) {
                Some(near) => format!("unknown key (did you mean `{near}`?)"),
                None => "unknown key".to_owned(),
            };
            let key = self.key_path(key);
            self.errors.push(ConfigError { key, message });
        }
        self.errors
    }
}

/// The known key within two edits of `key`, if any: `smpt` -> `smtp`, `hostnme` -> `hostname`.
fn closest(key: &str, known: &[&'static str]) -> Option<&'static str> {
    known
        .iter()
        .map(|k| (edit_distance(key, k), *k))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, k)| k)
}

/// Levenshtein distance counting an adjacent swap as one edit, so a transposition (`smpt`)
/// is as close as any single typo.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    // Rolling rows: two back (needed for swaps), previous, current.
    let mut older: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                cur[j] = cur[j].min(older[j - 2] + 1);
            }
        }
        older = std::mem::replace(&mut prev, cur);
    }
    prev[b.len()]
}

/// A value for an error message, on one line: scalars as written, lists and tables by kind
/// only (their TOML rendering can span lines and bury the message).
fn describe(value: &Value) -> String {
    match value {
        Value::Array(_) => "a list".to_owned(),
        Value::Table(_) => "a table".to_owned(),
        scalar => format!("{} {scalar}", scalar.type_str()),
    }
}

/// Like [`describe`], but a string is shown as just its quoted text (`"127.0.0.1:99999"`).
fn show(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{s:?}"),
        other => describe(other),
    }
}

/// "ip:port", or "localhost:port" because it is common in configs. localhost is taken to be
/// 127.0.0.1 rather than resolved: parsing stays free of I/O and gives the same answer on
/// every machine.
fn parse_addr(s: &str) -> Option<SocketAddr> {
    if let Ok(addr) = s.parse() {
        return Some(addr);
    }
    let port = s.strip_prefix("localhost:")?.parse().ok()?;
    Some(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
}

/// "50 MiB" -> (50, "mib"): the leading digits and the lowercased unit after them.
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
        assert_eq!(parse_duration("99999999999999999999d"), None);
    }

    #[test]
    fn addresses() {
        assert_eq!(parse_addr("[::1]:25"), Some("[::1]:25".parse().unwrap()));
        assert_eq!(
            parse_addr("localhost:2525"),
            Some("127.0.0.1:2525".parse().unwrap())
        );
        assert_eq!(parse_addr("127.0.0.1:99999"), None);
        assert_eq!(parse_addr("mx.example.org:25"), None);
        assert_eq!(parse_addr("127.0.0.1"), None);
    }

    #[test]
    fn typo_hints() {
        assert_eq!(edit_distance("smpt", "smtp"), 1);
        assert_eq!(edit_distance("hostnme", "hostname"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(closest("smpt", &["smtp", "imap"]), Some("smtp"));
        assert_eq!(closest("bogus", &["smtp", "imap"]), None);
    }

    #[test]
    fn errors_carry_paths_and_unknown_keys_are_listed() {
        let table: Table = "a = 1\nb = [1, {x = 2}]\n[t]\nz = 1\nyy = 2\n"
            .parse()
            .unwrap();
        let mut root = Section::new(&table, "");
        assert_eq!(root.string("a"), None);
        assert_eq!(root.addrs("b"), None);
        let t = root.section("t").unwrap();
        root.absorb(t);
        let lines: Vec<String> = root.finish().iter().map(|e| e.to_string()).collect();
        assert_eq!(
            lines,
            [
                "a: expected a string, got integer 1",
                "b[0]: integer 1 is not an \"addr:port\" (e.g. \"0.0.0.0:25\" or \"[::]:25\")",
                "b[1]: a table is not an \"addr:port\" (e.g. \"0.0.0.0:25\" or \"[::]:25\")",
                "t.yy: unknown key",
                "t.z: unknown key",
            ]
        );
    }
}
