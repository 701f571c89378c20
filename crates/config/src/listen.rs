//! The `[listen]`, `[tls]` and `[limits]` sections: where hermod listens (and that no two
//! services claim one address), its certificate, and the limits every session keeps.

use crate::walker::Section;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub struct Listen {
    pub smtp: Vec<SocketAddr>,
    pub submission: Vec<SocketAddr>,
    pub submissions: Vec<SocketAddr>,
    pub pop3: Vec<SocketAddr>,
    pub pop3s: Vec<SocketAddr>,
    pub imap: Vec<SocketAddr>,
    pub imaps: Vec<SocketAddr>,
    /// ManageSieve (RFC 5804) with STARTTLS: users manage their Sieve scripts.
    pub managesieve: Vec<SocketAddr>,
    /// Autoconfiguration, MTA-STS (plain HTTP and HTTPS).
    pub http: Vec<SocketAddr>,
    pub https: Vec<SocketAddr>,
    /// Prometheus metrics (plain HTTP; keep it private).
    pub metrics: Vec<SocketAddr>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tls {
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    pub max_message_size: u64,
    pub max_recipients: usize,
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    /// Connections at once per kind of service, so idle sessions of one protocol cannot
    /// take every place: SMTP (port 25), submission (587 and 465), POP3, IMAP, ManageSieve.
    pub max_smtp_connections: usize,
    pub max_submission_connections: usize,
    pub max_pop3_connections: usize,
    pub max_imap_connections: usize,
    pub max_managesieve_connections: usize,
    pub max_command_line: usize,
    pub max_data_line: usize,
    pub max_received_headers: usize,
    pub command_timeout: Duration,
    pub data_timeout: Duration,
    /// After `data_timeout`, message data must keep arriving at this many bytes per second
    /// on average, or the client is cut off (a byte a second would hold a session forever).
    pub min_data_rate: usize,
    pub shutdown_grace: Duration,
}

fn loopback(port: u16) -> Vec<SocketAddr> {
    vec![SocketAddr::from(([127, 0, 0, 1], port))]
}

impl Default for Listen {
    fn default() -> Listen {
        Listen {
            smtp: loopback(2525),
            submission: loopback(2587),
            submissions: loopback(2465),
            pop3: loopback(2110),
            pop3s: loopback(2995),
            imap: loopback(2143),
            imaps: loopback(2993),
            // 4190 (RFC 5804) is not a privileged port: the standard one works as it is.
            managesieve: loopback(4190),
            http: loopback(2080),
            https: loopback(2443),
            metrics: loopback(9425),
        }
    }
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_message_size: 50 * 1024 * 1024,
            max_recipients: 100,
            max_connections: 1000,
            max_connections_per_ip: 50,
            max_smtp_connections: 500,
            max_submission_connections: 300,
            max_pop3_connections: 300,
            max_imap_connections: 600,
            max_managesieve_connections: 100,
            max_command_line: 2048,
            max_data_line: 8192,
            max_received_headers: 50,
            // RFC 5321 4.5.3.2.7 (server timeout) and 4.5.3.2.5 (data block).
            command_timeout: Duration::from_secs(300),
            data_timeout: Duration::from_secs(180),
            min_data_rate: 1024,
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

pub(crate) fn read_listen(root: &mut Section<'_>, listen: &mut Listen) {
    let Some(mut section) = root.section("listen") else {
        return;
    };
    let fields: [(&'static str, &mut Vec<SocketAddr>); 11] = [
        ("smtp", &mut listen.smtp),
        ("submission", &mut listen.submission),
        ("submissions", &mut listen.submissions),
        ("pop3", &mut listen.pop3),
        ("pop3s", &mut listen.pop3s),
        ("imap", &mut listen.imap),
        ("imaps", &mut listen.imaps),
        ("managesieve", &mut listen.managesieve),
        ("http", &mut listen.http),
        ("https", &mut listen.https),
        ("metrics", &mut listen.metrics),
    ];
    // What each service will bind, for the clash check: what the file says, or the default
    // when the key is absent; a key with errors is left out so it cannot cause false clashes.
    let mut binds = Vec::new();
    for (key, field) in fields {
        let given = match section.addrs(key) {
            Some(addrs) => {
                *field = addrs;
                true
            }
            None if !section.has(key) => false,
            None => continue,
        };
        binds.extend(field.iter().enumerate().map(|(index, &addr)| Bind {
            key,
            index,
            addr,
            given,
        }));
    }
    for (key, message) in listen_clashes(&binds) {
        section.error(&key, message);
    }
    root.absorb(section);
}

/// One address a listener will bind, for the clash check.
struct Bind {
    key: &'static str,
    index: usize,
    addr: SocketAddr,
    /// Written in the file, as opposed to a default.
    given: bool,
}

/// Addresses two listeners would both bind, which would fail at start one at a time; found
/// here they are all reported at once. A wildcard (0.0.0.0, [::]) clashes with any address
/// of its family on the same port. Port 0 (the OS picks) never clashes.
fn listen_clashes(binds: &[Bind]) -> Vec<(String, String)> {
    let clash = |a: &SocketAddr, b: &SocketAddr| {
        a.port() == b.port()
            && a.port() != 0
            && a.is_ipv4() == b.is_ipv4()
            && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
    };
    let mut out = Vec::new();
    for (n, later) in binds.iter().enumerate() {
        let Some(earlier) = binds[..n].iter().find(|e| clash(&later.addr, &e.addr)) else {
            continue;
        };
        // Point at an entry the user wrote, so the key path names a line in the file.
        let (at, with) = match later.given || !earlier.given {
            true => (later, earlier),
            false => (earlier, later),
        };
        let note = if with.given { "" } else { " (its default)" };
        let message = format!(
            "{} clashes with listen.{}[{}] {}{note}",
            at.addr, with.key, with.index, with.addr
        );
        out.push((format!("{}[{}]", at.key, at.index), message));
    }
    out
}

pub(crate) fn read_tls(root: &mut Section<'_>, tls: &mut Tls, base: &Path) {
    let Some(mut section) = root.section("tls") else {
        return;
    };
    tls.cert = section.path("cert", base);
    tls.key = section.path("key", base);
    // Only complain about a missing half when the other half is really missing, not merely
    // invalid (that has its own error already).
    if section.has("cert") != section.has("key") {
        let missing = if tls.cert.is_none() { "cert" } else { "key" };
        section.error(
            missing,
            "tls.cert and tls.key must be given together".into(),
        );
    }
    root.absorb(section);
}

pub(crate) fn read_limits(root: &mut Section<'_>, limits: &mut Limits) {
    let Some(mut s) = root.section("limits") else {
        return;
    };
    let as_usize = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
    if let Some(v) = s.size("max_message_size", 1024) {
        limits.max_message_size = v;
    }
    let counts: [(&'static str, u64, &mut usize); 12] = [
        ("max_recipients", 1, &mut limits.max_recipients),
        ("max_connections", 1, &mut limits.max_connections),
        (
            "max_connections_per_ip",
            1,
            &mut limits.max_connections_per_ip,
        ),
        ("max_command_line", 512, &mut limits.max_command_line),
        ("max_data_line", 1000, &mut limits.max_data_line),
        ("max_received_headers", 1, &mut limits.max_received_headers),
        ("max_smtp_connections", 1, &mut limits.max_smtp_connections),
        (
            "max_submission_connections",
            1,
            &mut limits.max_submission_connections,
        ),
        ("max_pop3_connections", 1, &mut limits.max_pop3_connections),
        ("max_imap_connections", 1, &mut limits.max_imap_connections),
        (
            "max_managesieve_connections",
            1,
            &mut limits.max_managesieve_connections,
        ),
        ("min_data_rate", 1, &mut limits.min_data_rate),
    ];
    for (key, min, field) in counts {
        if let Some(v) = s.integer(key, min) {
            *field = as_usize(v);
        }
    }
    let durations: [(&'static str, &mut Duration); 3] = [
        ("command_timeout", &mut limits.command_timeout),
        ("data_timeout", &mut limits.data_timeout),
        ("shutdown_grace", &mut limits.shutdown_grace),
    ];
    for (key, field) in durations {
        if let Some(v) = s.duration(key) {
            *field = v;
        }
    }
    root.absorb(s);
}
