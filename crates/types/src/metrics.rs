//! The server's counters, in one process-wide registry every crate can reach (the store
//! times its commits, `core` counts logins, `server` counts connections and verdicts), and
//! their rendering in the Prometheus text format (version 0.0.4).
//!
//! Hand-written rather than a metrics crate: a dozen families of atomics need no more, and
//! incrementing one costs one atomic add (a label is looked up in a short fixed list).
//! Labels are fixed at compile time, so every series exists from the start (at 0) and
//! dashboards never see one appear out of nowhere.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A counter per value of one label; the label values are fixed.
pub struct Counters {
    name: &'static str,
    help: &'static str,
    label: &'static str,
    values: &'static [&'static str],
    counts: Box<[AtomicU64]>,
}

impl Counters {
    fn new(
        name: &'static str,
        help: &'static str,
        label: &'static str,
        values: &'static [&'static str],
    ) -> Counters {
        let counts = values.iter().map(|_| AtomicU64::new(0)).collect();
        Counters {
            name,
            help,
            label,
            values,
            counts,
        }
    }

    /// Adds one to the series of `value`. A value not in the list is a bug at the call
    /// site; it is counted under the last value ("other" in every family that has one)
    /// rather than lost or made to panic in production.
    pub fn inc(&self, value: &str) {
        let index = self.values.iter().position(|v| *v == value);
        debug_assert!(
            index.is_some(),
            "{}: unknown {} {value:?}",
            self.name,
            self.label
        );
        let index = index.unwrap_or(self.values.len() - 1);
        self.counts[index].fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(&self, value: &str) -> u64 {
        self.values
            .iter()
            .position(|v| *v == value)
            .map_or(0, |i| self.counts[i].load(Ordering::Relaxed))
    }

    fn render(&self, out: &mut String) {
        header(out, self.name, self.help, "counter");
        for (value, count) in self.values.iter().zip(&self.counts) {
            let count = count.load(Ordering::Relaxed);
            let _ = writeln!(out, "{}{{{}=\"{value}\"}} {count}", self.name, self.label);
        }
    }
}

/// A histogram of durations in seconds with fixed bucket bounds.
pub struct Histogram {
    name: &'static str,
    help: &'static str,
    bounds: &'static [f64],
    /// One count per bound (not cumulative; summed when rendered), then +Inf.
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    fn new(name: &'static str, help: &'static str, bounds: &'static [f64]) -> Histogram {
        let buckets = (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect();
        Histogram {
            name,
            help,
            bounds,
            buckets,
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let index = self
            .bounds
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(self.bounds.len());
        self.buckets[index].fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    fn render(&self, out: &mut String) {
        header(out, self.name, self.help, "histogram");
        let mut cumulative = 0;
        for (i, bucket) in self.buckets.iter().enumerate() {
            cumulative += bucket.load(Ordering::Relaxed);
            let le = match self.bounds.get(i) {
                Some(bound) => bound.to_string(),
                None => "+Inf".to_owned(),
            };
            let _ = writeln!(out, "{}_bucket{{le=\"{le}\"}} {cumulative}", self.name);
        }
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{}_sum {sum}", self.name);
        let _ = writeln!(out, "{}_count {}", self.name, self.count());
    }
}

fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A value measured at scrape time, with its help text.
pub struct Gauge {
    pub name: &'static str,
    pub help: &'static str,
    pub value: f64,
}

pub const SERVICES: &[&str] = &[
    "smtp",
    "submission",
    "submissions",
    "pop3",
    "pop3s",
    "imap",
    "imaps",
    "managesieve",
    "http",
    "https",
    "metrics",
];

/// Why a message (or one recipient of it) was refused. "other" stays last.
pub const REFUSAL_REASONS: &[&str] = &[
    "unknown_recipient",
    "relay_denied",
    "too_many_recipients",
    "too_large",
    "loop",
    "blocklist",
    "connection_check",
    "greylist",
    "dmarc",
    "spam",
    "sender_not_allowed",
    "rate_limit",
    "bulk",
    "quota",
    "bad_message",
    "temporary_failure",
    "other",
];

pub const SPAM_VERDICTS: &[&str] = &["ham", "junk", "reject"];
pub const DELIVERY_RESULTS: &[&str] = &["delivered", "deferred", "bounced"];
pub const LOGIN_RESULTS: &[&str] = &["accepted", "failed", "throttled"];
const COMMIT_BOUNDS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// Every metric hermod keeps.
pub struct Metrics {
    /// Connections accepted, per listener kind (refused ones too: they were made).
    pub connections: Counters,
    /// Messages taken responsibility for, per service ("smtp" from other servers,
    /// "submission" from users).
    pub messages_accepted: Counters,
    /// Messages or recipients refused, by reason.
    pub messages_refused: Counters,
    pub spam_verdicts: Counters,
    /// Outbound delivery attempts per recipient, by result.
    pub deliveries: Counters,
    pub logins: Counters,
    /// Time of one group commit of the store (directory syncs, the transaction, its fsync).
    pub store_commit: Histogram,
}

static METRICS: std::sync::OnceLock<Metrics> = std::sync::OnceLock::new();

/// The process's registry.
pub fn metrics() -> &'static Metrics {
    METRICS.get_or_init(|| Metrics {
        connections: Counters::new(
            "hermod_connections_total",
            "Connections accepted, by service.",
            "service",
            SERVICES,
        ),
        messages_accepted: Counters::new(
            "hermod_messages_accepted_total",
            "Messages accepted, by service (smtp: from other servers; submission: from users).",
            "service",
            &["smtp", "submission"],
        ),
        messages_refused: Counters::new(
            "hermod_messages_refused_total",
            "Messages or recipients refused, by reason.",
            "reason",
            REFUSAL_REASONS,
        ),
        spam_verdicts: Counters::new(
            "hermod_spam_verdicts_total",
            "Spam filter verdicts on inbound messages.",
            "verdict",
            SPAM_VERDICTS,
        ),
        deliveries: Counters::new(
            "hermod_deliveries_total",
            "Outbound delivery attempts per recipient, by result.",
            "result",
            DELIVERY_RESULTS,
        ),
        logins: Counters::new(
            "hermod_logins_total",
            "Password logins (all services), by result.",
            "result",
            LOGIN_RESULTS,
        ),
        store_commit: Histogram::new(
            "hermod_store_commit_seconds",
            "Store group commit latency: directory syncs, the transaction and its fsync.",
            COMMIT_BOUNDS,
        ),
    })
}

impl Metrics {
    /// The whole registry, plus `gauges` measured by the caller at scrape time, in the
    /// Prometheus text format.
    pub fn render(&self, gauges: &[Gauge]) -> String {
        let mut out = String::with_capacity(4096);
        for counters in [
            &self.connections,
            &self.messages_accepted,
            &self.messages_refused,
            &self.spam_verdicts,
            &self.deliveries,
            &self.logins,
        ] {
            counters.render(&mut out);
        }
        self.store_commit.render(&mut out);
        for gauge in gauges {
            header(&mut out, gauge.name, gauge.help, "gauge");
            let _ = writeln!(out, "{} {}", gauge.name, gauge.value);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histogram_and_gauges() {
        let m = metrics();
        let before = m.logins.get("failed");
        m.logins.inc("failed");
        assert_eq!(m.logins.get("failed"), before + 1);
        m.store_commit.observe(Duration::from_micros(700));
        m.store_commit.observe(Duration::from_secs(10));
        let gauge = Gauge {
            name: "hermod_queue_messages",
            help: "Messages in the outbound queue.",
            value: 3.0,
        };
        let text = m.render(&[gauge]);
        assert!(
            text.contains("# TYPE hermod_logins_total counter\n"),
            "{text}"
        );
        assert!(text.contains("hermod_connections_total{service=\"smtp\"} "));
        assert!(text.contains("# TYPE hermod_queue_messages gauge\nhermod_queue_messages 3\n"));
        // Buckets are cumulative and end with +Inf = count.
        let count = m.store_commit.count();
        assert!(text.contains(&format!(
            "hermod_store_commit_seconds_bucket{{le=\"+Inf\"}} {count}\n"
        )));
        let bucket = |le: &str| -> u64 {
            let prefix = format!("hermod_store_commit_seconds_bucket{{le=\"{le}\"}} ");
            let line = text.lines().find(|l| l.starts_with(&prefix)).unwrap();
            line[prefix.len()..].parse().unwrap()
        };
        assert!(bucket("0.001") >= 1 && bucket("0.0005") <= bucket("0.001"));
        assert!(bucket("2.5") < count);
        // Every sample line is `name{labels} value` or `name value`.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (_, value) = line.rsplit_once(' ').unwrap();
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }
}
