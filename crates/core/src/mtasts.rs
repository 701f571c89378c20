//! Outbound TLS policy rules: MTA-STS (RFC 8461) records and policies, which MX hosts a
//! policy allows, and TLS-RPT (RFC 8460) records. Parsing only; the relay does the I/O.

/// What a policy asks of deliveries to its domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StsMode {
    /// Only matching MX hosts, only over verified TLS.
    Enforce,
    /// Deliver as usual; report what enforcement would have refused.
    Testing,
    /// The domain withdrew its policy.
    None,
}

impl StsMode {
    pub fn as_str(self) -> &'static str {
        match self {
            StsMode::Enforce => "enforce",
            StsMode::Testing => "testing",
            StsMode::None => "none",
        }
    }
}

/// A domain's policy as fetched (RFC 8461 3.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StsPolicy {
    pub mode: StsMode,
    /// MX patterns: a host name, or `*.` and a domain (one label more).
    pub mx: Vec<String>,
    /// Seconds the policy may be cached.
    pub max_age: u64,
    /// The policy's lines as fetched, for TLS reports.
    pub lines: Vec<String>,
}

/// The largest `max_age` RFC 8461 3.2 allows (about a year).
const MAX_AGE_LIMIT: u64 = 31_557_600;

/// Parses a policy body. `version: STSv1`, `mode`, `max_age` and (unless the mode is none)
/// at least one `mx` are required; unknown keys are ignored.
pub fn parse_policy(text: &str) -> Result<StsPolicy, String> {
    let mut version = false;
    let (mut mode, mut max_age, mut mx, mut lines) = (None, None, Vec::new(), Vec::new());
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        lines.push(line.to_owned());
        let Some((key, value)) = line.split_once(':') else {
            return Err(format!("policy line without a colon: {line:?}"));
        };
        let value = value.trim();
        match key.trim() {
            "version" => version = value == "STSv1",
            "mode" => {
                mode = Some(match value {
                    "enforce" => StsMode::Enforce,
                    "testing" => StsMode::Testing,
                    "none" => StsMode::None,
                    other => return Err(format!("unknown mode {other:?}")),
                })
            }
            "max_age" => {
                let age: u64 = value
                    .parse()
                    .map_err(|_| format!("max_age is not a number: {value:?}"))?;
                max_age = Some(age.min(MAX_AGE_LIMIT));
            }
            "mx" => mx.push(value.to_ascii_lowercase().trim_end_matches('.').to_owned()),
            _ => {}
        }
    }
    if !version {
        return Err("not an STSv1 policy".into());
    }
    let mode = mode.ok_or("the policy has no mode")?;
    let max_age = max_age.ok_or("the policy has no max_age")?;
    if mx.is_empty() && mode != StsMode::None {
        return Err("the policy names no mx".into());
    }
    Ok(StsPolicy {
        mode,
        mx,
        max_age,
        lines,
    })
}

/// The `id` of the `_mta-sts` TXT record among `records` (RFC 8461 3.1): exactly one record
/// must start with `v=STSv1`; none, or several, means no policy.
pub fn sts_record_id(records: &[String]) -> Option<String> {
    let mut sts = records.iter().filter(|r| {
        r.trim_start()
            .strip_prefix("v=STSv1")
            .is_some_and(|rest| rest.is_empty() || rest.trim_start().starts_with(';'))
    });
    let record = sts.next()?;
    if sts.next().is_some() {
        return None;
    }
    record.split(';').find_map(|field| {
        let (key, value) = field.split_once('=')?;
        let value = value.trim();
        let valid = !value.is_empty()
            && value.len() <= 32
            && value.bytes().all(|b| b.is_ascii_alphanumeric());
        (key.trim() == "id" && valid).then(|| value.to_owned())
    })
}

/// Whether `host` (an MX name) matches one of the policy's patterns (RFC 8461 4.1): equal,
/// or `*.domain` standing for exactly one more leftmost label.
pub fn mx_allowed(policy: &StsPolicy, host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    policy
        .mx
        .iter()
        .any(|pattern| match pattern.strip_prefix("*.") {
            Some(parent) => host
                .split_once('.')
                .is_some_and(|(label, rest)| !label.is_empty() && rest == parent),
            None => *pattern == host,
        })
}

/// The `mailto:` addresses of a `_smtp._tls` TXT record (RFC 8460 3): exactly one record
/// must start with `v=TLSRPTv1`; `https:` destinations are left out (not offered here).
pub fn tlsrpt_mailto(records: &[String]) -> Vec<String> {
    let mut rpt = records
        .iter()
        .filter(|r| r.trim_start().starts_with("v=TLSRPTv1"));
    let (Some(record), None) = (rpt.next(), rpt.next()) else {
        return Vec::new();
    };
    let Some(rua) = record.split(';').find_map(|field| {
        let (key, value) = field.split_once('=')?;
        (key.trim() == "rua").then_some(value)
    }) else {
        return Vec::new();
    };
    rua.split(',')
        .filter_map(|uri| uri.trim().strip_prefix("mailto:"))
        .map(|address| address.split('?').next().unwrap_or("").to_owned())
        .filter(|address| address.contains('@'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\n\
                          mx: *.example.net\r\nmx: backupmx.example.com\r\nmax_age: 604800\r\n";

    #[test]
    fn policies_parse_as_rfc_8461_shows_them() {
        let policy = parse_policy(POLICY).unwrap();
        assert_eq!(policy.mode, StsMode::Enforce);
        assert_eq!(policy.max_age, 604_800);
        assert_eq!(policy.lines.len(), 6);
        assert!(mx_allowed(&policy, "mail.example.com"));
        assert!(mx_allowed(&policy, "MX1.example.net."));
        assert!(!mx_allowed(&policy, "a.b.example.net"), "one label only");
        assert!(!mx_allowed(&policy, "example.net"));
        assert!(!mx_allowed(&policy, "evil.example.com"));
        let none = parse_policy("version: STSv1\nmode: none\nmax_age: 86400\n").unwrap();
        assert_eq!(none.mode, StsMode::None);
        assert!(parse_policy("version: STSv2\nmode: enforce\nmx: a\nmax_age: 1\n").is_err());
        assert!(parse_policy("version: STSv1\nmode: enforce\nmax_age: 1\n").is_err());
        assert!(parse_policy("version: STSv1\nmode: strict\nmx: a\nmax_age: 1\n").is_err());
        let long = parse_policy("version: STSv1\nmode: testing\nmx: a\nmax_age: 99999999999\n");
        assert_eq!(long.unwrap().max_age, MAX_AGE_LIMIT);
    }

    #[test]
    fn records_name_one_policy_id_and_report_addresses() {
        let txt = |r: &[&str]| r.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            sts_record_id(&txt(&["v=STSv1; id=20160831085700Z;"])).as_deref(),
            Some("20160831085700Z")
        );
        assert_eq!(sts_record_id(&txt(&["v=spf1 -all"])), None);
        assert_eq!(
            sts_record_id(&txt(&["v=STSv1; id=a", "v=STSv1; id=b"])),
            None
        );
        assert_eq!(sts_record_id(&txt(&["v=STSv1; id=no-dashes"])), None);
        let rua = txt(&["v=TLSRPTv1; rua=mailto:tls@a.test,https://r.a.test/x, mailto:b@c.test"]);
        assert_eq!(tlsrpt_mailto(&rua), ["tls@a.test", "b@c.test"]);
        assert!(tlsrpt_mailto(&txt(&["v=TLSRPTv1;"])).is_empty());
    }
}
