//! Outbound delivery rules: routing by MX (RFC 5321 5.1, null MX RFC 7505), the retry
//! schedule, and what a remote reply means for a recipient.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::time::Duration;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What DNS says about a domain's mail servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mx {
    /// MX hosts, most preferred first.
    Hosts(Vec<String>),
    /// `MX 0 .`: the domain accepts no mail (RFC 7505).
    Null,
    /// No MX records: the domain itself is the host (RFC 5321 5.1).
    None,
}

/// DNS as outbound delivery needs it; tests inject a fake.
pub trait Resolver: Send + Sync {
    fn mx<'a>(&'a self, domain: &'a str) -> BoxFuture<'a, Result<Mx, String>>;
    fn ips<'a>(&'a self, host: &'a str) -> BoxFuture<'a, Result<Vec<IpAddr>, String>>;
}

/// Orders MX records by preference (ties keep their order) and spots a null MX.
pub fn mx_from_records(mut records: Vec<(u16, String)>) -> Mx {
    if records.is_empty() {
        return Mx::None;
    }
    let null = records.len() == 1 && records[0].1.trim_end_matches('.').is_empty();
    if null {
        return Mx::Null;
    }
    records.sort_by_key(|(pref, _)| *pref);
    Mx::Hosts(
        records
            .into_iter()
            .map(|(_, host)| host.trim_end_matches('.').to_ascii_lowercase())
            .collect(),
    )
}

/// How long to wait after the `attempts`-th failed try: 1m, 5m, 15m, 30m, then hourly.
pub fn backoff(attempts: u32) -> Duration {
    let minutes = match attempts {
        0 | 1 => 1,
        2 => 5,
        3 => 15,
        4 => 30,
        _ => 60,
    };
    Duration::from_secs(minutes * 60)
}

/// What a reply means for the recipients it concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    /// 4xx: try again later.
    Deferred,
    /// 5xx: give up and tell the sender.
    Failed,
}

pub fn verdict(code: u16) -> Verdict {
    match code {
        200..=399 => Verdict::Delivered,
        500..=599 => Verdict::Failed,
        _ => Verdict::Deferred,
    }
}

/// Whether a DSN NOTIFY value asks for reports of `kind` (`FAILURE` or `DELAY`). Absent
/// NOTIFY means failures and delays are reported (RFC 3461 4.1 leaves it to us).
pub fn notify_asks(notify: Option<&str>, kind: &str) -> bool {
    notify.is_none_or(|n| n.split(',').any(|v| v.trim().eq_ignore_ascii_case(kind)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mx_ordering_and_null_mx() {
        let recs = vec![
            (20, "b.example.".into()),
            (10, "A.example.".into()),
            (20, "c.example".into()),
        ];
        assert_eq!(
            mx_from_records(recs),
            Mx::Hosts(vec![
                "a.example".into(),
                "b.example".into(),
                "c.example".into()
            ])
        );
        assert_eq!(mx_from_records(vec![(0, ".".into())]), Mx::Null);
        assert_eq!(mx_from_records(vec![]), Mx::None);
    }

    #[test]
    fn schedule_and_verdicts() {
        let mins: Vec<u64> = (1..=7).map(|a| backoff(a).as_secs() / 60).collect();
        assert_eq!(mins, [1, 5, 15, 30, 60, 60, 60]);
        assert_eq!(
            (verdict(250), verdict(451), verdict(550), verdict(0)),
            (
                Verdict::Delivered,
                Verdict::Deferred,
                Verdict::Failed,
                Verdict::Deferred
            )
        );
        assert!(notify_asks(None, "FAILURE") && notify_asks(Some("DELAY,FAILURE"), "DELAY"));
        assert!(!notify_asks(Some("NEVER"), "FAILURE") && !notify_asks(Some("SUCCESS"), "DELAY"));
    }
}
