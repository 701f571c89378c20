//! hermod's configuration: the TOML schema, its defaults, validation that reports every
//! problem at once with its key path, and the commented default file. Only this crate reads
//! configuration files.
//!
//! Adding a key: a field on its struct, its default in [`Config::defaults`], one getter call
//! in that section's `read_*` function (`s.boolean("key")`, `s.duration(..)`, `s.addrs(..)`,
//! ...), a commented line in the default file and a row in CONFIG.md. The tests check that
//! every key in the default file parses, shows its default and is in CONFIG.md. A new
//! section is one more `read_*` function called from [`parse`].

mod acme;
mod bulk;
mod default_file;
mod listen;
mod lists;
mod outbound_tls;
mod sieve;
mod spam;
mod store;
mod walker;

pub use acme::{Acme, AcmeChallenge};
pub use bulk::Bulk;
pub use default_file::default_file_text;
pub use listen::{Limits, Listen, Tls};
use listen::{read_limits, read_listen, read_tls};
pub use lists::Lists;
pub use outbound_tls::OutboundTls;
pub use sieve::Sieve;
pub use spam::{CheckAction, DnsblZone, Spam};
pub use store::{Store, StoreBackend};

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use walker::Section;

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The file this configuration came from.
    pub path: PathBuf,
    pub hostname: String,
    /// Absolute: relative paths in the file resolve against the file's folder.
    pub data_dir: PathBuf,
    pub run_as: Option<String>,
    /// Plus-addressing separator; `None` turns it off.
    pub recipient_delimiter: Option<char>,
    pub listen: Listen,
    pub tls: Tls,
    pub limits: Limits,
    pub pop3: Pop3,
    pub managesieve: ManageSieve,
    pub smtp: Smtp,
    pub submission: Submission,
    pub dns: Dns,
    pub outbound: Outbound,
    pub spam: Spam,
    pub mta_sts: MtaSts,
    pub sieve: Sieve,
    pub bulk: Bulk,
    pub imap: Imap,
    pub lists: Lists,
    pub acme: Acme,
    pub store: Store,
    pub outbound_tls: OutboundTls,
}

/// The MTA-STS policy (RFC 8461) served at `https://mta-sts.DOMAIN/.well-known/mta-sts.txt`.
#[derive(Debug, Clone, PartialEq)]
pub struct MtaSts {
    pub mode: MtaStsMode,
    /// How long senders may cache the policy (RFC 8461 3.2: at most a year).
    pub max_age: Duration,
    /// The `mx:` patterns; empty means `hostname` alone.
    pub mx: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MtaStsMode {
    /// Senders report failures (TLS-RPT) but deliver anyway: the mode to start with.
    Testing,
    /// Senders refuse to deliver without valid TLS to a listed MX.
    Enforce,
    /// Tells senders that cached policies no longer apply (the way out of MTA-STS).
    None,
}

impl MtaStsMode {
    pub fn as_str(self) -> &'static str {
        match self {
            MtaStsMode::Testing => "testing",
            MtaStsMode::Enforce => "enforce",
            MtaStsMode::None => "none",
        }
    }
}

impl MtaSts {
    /// The MX host names the policy lists.
    pub fn mx_names<'a>(&'a self, hostname: &'a str) -> Vec<&'a str> {
        match self.mx.is_empty() {
            true => vec![hostname],
            false => self.mx.iter().map(String::as_str).collect(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dns {
    /// Resolvers to ask ("ip:port"); empty means the system's (/etc/resolv.conf).
    pub nameservers: Vec<SocketAddr>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Outbound {
    /// The port of other servers to deliver to (25; tests point it elsewhere).
    pub port: u16,
    /// Send everything through this relay ("host:port") instead of looking up MX records.
    pub smarthost: Option<String>,
    /// Credentials for the smarthost (SMTP AUTH PLAIN, only inside TLS).
    pub smarthost_user: Option<String>,
    pub smarthost_password: Option<String>,
    /// How long a message may stay undeliverable before it is bounced.
    pub max_queue_time: Duration,
    /// When a still-undelivered message earns its sender a delay notice.
    pub delay_notice_after: Duration,
    /// Deliveries in flight at once, over all destinations.
    pub max_concurrent: usize,
    /// Deliveries in flight at once to one destination domain.
    pub max_per_domain: usize,
    /// How long this node's claim on a queue entry lasts unless renewed (it is renewed at a
    /// third of it while delivering): how long other nodes wait for a dead node's entries.
    pub claim_lease: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Smtp {
    /// Offer AUTH on the `smtp` listener too (after STARTTLS); authenticated clients may then
    /// relay there as on submission.
    pub allow_auth: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Submission {
    /// Leave the client's IP address out of the Received: field hermod adds.
    pub hide_client_ip: bool,
    /// File a copy of each submitted message into the sender's Sent folder.
    pub save_to_sent: bool,
    /// Recipients one user may give per message.
    pub max_recipients: usize,
    /// Messages one user may submit per hour.
    pub max_messages_per_hour: u32,
    pub max_messages_per_day: u32,
    /// Recipients (local and remote) one user may send to per hour and per day.
    pub max_recipients_per_hour: u32,
    pub max_recipients_per_day: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Pop3 {
    /// USER/PASS and AUTH without TLS, but only from loopback (local tools, tests).
    pub allow_plaintext_auth_on_loopback: bool,
    /// The autologout timer: the longest a command may take to arrive (RFC 1939 3: at
    /// least 10 minutes).
    pub idle_timeout: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Imap {
    /// LOGIN and AUTHENTICATE without TLS, but only from loopback (local tools, tests).
    pub allow_plaintext_auth_on_loopback: bool,
    /// The autologout timer once logged in: the longest a command may take to arrive
    /// (RFC 9051 5.4: at least 30 minutes). IDLE is renewed by the same amount.
    pub idle_timeout: Duration,
    /// The autologout timer before login: a connection that never logs in costs a place
    /// of `max_imap_connections`, so it gets less time.
    pub idle_timeout_unauthenticated: Duration,
    /// The largest message APPEND accepts (advertised as APPENDLIMIT, RFC 7889); `None`
    /// follows `limits.max_message_size`.
    pub max_append_size: Option<u64>,
    /// The longest command line, CRLF included.
    pub max_line: usize,
    /// The largest command with its literals (APPEND's message literals excepted).
    pub max_command_size: usize,
}

impl Imap {
    /// The APPEND limit in effect.
    pub fn append_limit(&self, limits: &Limits) -> u64 {
        self.max_append_size.unwrap_or(limits.max_message_size)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ManageSieve {
    /// AUTHENTICATE without TLS, but only from loopback (local tools, tests).
    pub allow_plaintext_auth_on_loopback: bool,
    /// The longest the next whole command may take to arrive.
    pub idle_timeout: Duration,
}

impl Config {
    /// Every default, for a file at `path` storing in `data_dir`.
    pub fn defaults(path: PathBuf, data_dir: PathBuf) -> Config {
        Config {
            path,
            hostname: "localhost".into(),
            data_dir,
            run_as: None,
            recipient_delimiter: Some('+'),
            listen: Listen::default(),
            tls: Tls::default(),
            limits: Limits::default(),
            pop3: Pop3 {
                allow_plaintext_auth_on_loopback: true,
                idle_timeout: Duration::from_secs(600),
            },
            managesieve: ManageSieve {
                allow_plaintext_auth_on_loopback: true,
                idle_timeout: Duration::from_secs(600),
            },
            smtp: Smtp { allow_auth: false },
            submission: Submission {
                hide_client_ip: false,
                save_to_sent: false,
                max_recipients: 100,
                max_messages_per_hour: 500,
                max_messages_per_day: 2000,
                max_recipients_per_hour: 1000,
                max_recipients_per_day: 5000,
            },
            dns: Dns::default(),
            outbound: Outbound {
                port: 25,
                smarthost: None,
                smarthost_user: None,
                smarthost_password: None,
                max_queue_time: Duration::from_secs(5 * 86_400),
                delay_notice_after: Duration::from_secs(4 * 3600),
                max_concurrent: 32,
                max_per_domain: 4,
                claim_lease: Duration::from_secs(120),
            },
            spam: Spam::default(),
            mta_sts: MtaSts {
                mode: MtaStsMode::Testing,
                max_age: Duration::from_secs(7 * 86_400),
                mx: Vec::new(),
            },
            sieve: Sieve::default(),
            bulk: Bulk::default(),
            imap: Imap {
                allow_plaintext_auth_on_loopback: true,
                idle_timeout: Duration::from_secs(30 * 60),
                idle_timeout_unauthenticated: Duration::from_secs(180),
                max_append_size: None,
                max_line: 8192,
                max_command_size: 64 * 1024,
            },
            lists: Lists::default(),
            acme: Acme::default(),
            store: Store::default(),
            outbound_tls: OutboundTls::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    /// Dotted key path (`limits.max_recipients`, `listen.smtp[1]`); empty for the whole file.
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.key, self.message)
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub struct ConfigErrors {
    pub file: PathBuf,
    pub errors: Vec<ConfigError>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration in {}:", self.file.display())?;
        for e in &self.errors {
            write!(f, "\n  {e}")?;
        }
        Ok(())
    }
}

/// Reads and validates the file at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigErrors {
        file: path.to_owned(),
        errors: vec![ConfigError {
            key: String::new(),
            message: format!("cannot read: {e}"),
        }],
    })?;
    parse(&text, path)
}

/// Parses configuration text; `path` is the file it came from (its folder anchors relative
/// paths).
pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigErrors> {
    let fail = |errors| ConfigErrors {
        file: path.to_owned(),
        errors,
    };
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        let message = e.message().to_owned();
        let at = e
            .span()
            .map(|s| line_col(text, s.start))
            .unwrap_or_default();
        fail(vec![ConfigError {
            key: String::new(),
            message: format!("TOML syntax error{at}: {message}"),
        }])
    })?;
    let base = absolute_folder(path);
    let mut config = Config::defaults(path.to_owned(), base.clone());
    let mut root = Section::new(&table, "");
    read_root(&mut root, &mut config, &base);
    read_listen(&mut root, &mut config.listen);
    read_tls(&mut root, &mut config.tls, &base);
    read_limits(&mut root, &mut config.limits);
    // The top-level key sets the policy for every protocol; a section's own key overrides it.
    if let Some(v) = root.boolean("allow_plaintext_auth_on_loopback") {
        config.pop3.allow_plaintext_auth_on_loopback = v;
        config.imap.allow_plaintext_auth_on_loopback = v;
        config.managesieve.allow_plaintext_auth_on_loopback = v;
    }
    read_pop3(&mut root, &mut config.pop3);
    read_imap(&mut root, &mut config.imap);
    read_managesieve(&mut root, &mut config.managesieve);
    read_smtp(&mut root, &mut config.smtp);
    read_submission(&mut root, &mut config.submission);
    read_dns(&mut root, &mut config.dns);
    read_outbound(&mut root, &mut config.outbound);
    spam::read_spam(&mut root, &mut config.spam, &base);
    read_mta_sts(&mut root, &mut config.mta_sts);
    sieve::read_sieve(&mut root, &mut config.sieve, &base);
    bulk::read_bulk(&mut root, &mut config.bulk);
    lists::read_lists(&mut root, &mut config.lists);
    acme::read_acme(&mut root, &mut config.acme, &base);
    store::read_store(&mut root, &mut config.store, &base);
    outbound_tls::read_outbound_tls(&mut root, &mut config.outbound_tls, &base);
    let errors = root.finish();
    if errors.is_empty() {
        Ok(config)
    } else {
        Err(fail(errors))
    }
}

fn line_col(text: &str, offset: usize) -> String {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!(" at line {line}, column {col}")
}

fn absolute_folder(path: &Path) -> PathBuf {
    let folder = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::path::absolute(folder).unwrap_or_else(|_| folder.to_owned())
}

fn read_root(root: &mut Section<'_>, config: &mut Config, base: &Path) {
    if let Some(hostname) = root.string("hostname") {
        match validate_hostname(&hostname) {
            Ok(h) => config.hostname = h,
            Err(message) => root.error("hostname", message),
        }
    }
    if let Some(dir) = root.path("data_dir", base) {
        config.data_dir = dir;
    }
    if let Some(user) = root.string("run_as") {
        match user.is_empty() {
            true => root.error(
                "run_as",
                "must name a user (leave the key out to keep the current user)".into(),
            ),
            false => config.run_as = Some(user),
        }
    }
    if let Some(delimiter) = root.string("recipient_delimiter") {
        let mut chars = delimiter.chars();
        match (chars.next(), chars.next()) {
            (None, _) => config.recipient_delimiter = None,
            (Some(c), None) if !c.is_alphanumeric() && c != '@' && !c.is_whitespace() => {
                config.recipient_delimiter = Some(c)
            }
            _ => root.error(
                "recipient_delimiter",
                format!("expected one punctuation character or \"\", got {delimiter:?}"),
            ),
        }
    }
}

pub(crate) fn validate_hostname(name: &str) -> Result<String, String> {
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if name.is_empty() || name.len() > 253 || !name.split('.').all(label_ok) {
        return Err(format!(
            "{name:?} is not a valid host name (letters, digits, hyphens, dots)"
        ));
    }
    Ok(name)
}

fn read_pop3(root: &mut Section<'_>, pop3: &mut Pop3) {
    let Some(mut s) = root.section("pop3") else {
        return;
    };
    if let Some(v) = s.boolean("allow_plaintext_auth_on_loopback") {
        pop3.allow_plaintext_auth_on_loopback = v;
    }
    if let Some(v) = s.duration("idle_timeout") {
        pop3.idle_timeout = v;
    }
    root.absorb(s);
}

fn read_imap(root: &mut Section<'_>, imap: &mut Imap) {
    let Some(mut s) = root.section("imap") else {
        return;
    };
    if let Some(v) = s.boolean("allow_plaintext_auth_on_loopback") {
        imap.allow_plaintext_auth_on_loopback = v;
    }
    if let Some(v) = s.duration("idle_timeout") {
        // RFC 9051 5.4: an autologout timer of at least 30 minutes.
        match v < Duration::from_secs(30 * 60) {
            true => s.error(
                "idle_timeout",
                format!("must be at least 30m (RFC 9051 5.4), got {}s", v.as_secs()),
            ),
            false => imap.idle_timeout = v,
        }
    }
    if let Some(v) = s.duration("idle_timeout_unauthenticated") {
        imap.idle_timeout_unauthenticated = v;
    }
    if let Some(v) = s.size("max_append_size", 1024) {
        imap.max_append_size = Some(v);
    }
    let as_usize = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
    // RFC 7162 4 asks clients to keep lines under 8192 octets, so servers take at least that.
    if let Some(v) = s.size("max_line", 8192) {
        imap.max_line = as_usize(v);
    }
    if let Some(v) = s.size("max_command_size", 8192) {
        imap.max_command_size = as_usize(v);
    }
    if imap.max_command_size < imap.max_line {
        s.error(
            "max_command_size",
            format!(
                "must be at least max_line ({}), got {}",
                imap.max_line, imap.max_command_size
            ),
        );
    }
    root.absorb(s);
}

fn read_managesieve(root: &mut Section<'_>, managesieve: &mut ManageSieve) {
    let Some(mut s) = root.section("managesieve") else {
        return;
    };
    if let Some(v) = s.boolean("allow_plaintext_auth_on_loopback") {
        managesieve.allow_plaintext_auth_on_loopback = v;
    }
    if let Some(v) = s.duration("idle_timeout") {
        managesieve.idle_timeout = v;
    }
    root.absorb(s);
}

fn read_smtp(root: &mut Section<'_>, smtp: &mut Smtp) {
    let Some(mut s) = root.section("smtp") else {
        return;
    };
    if let Some(v) = s.boolean("allow_auth") {
        smtp.allow_auth = v;
    }
    root.absorb(s);
}

fn read_submission(root: &mut Section<'_>, sub: &mut Submission) {
    let Some(mut s) = root.section("submission") else {
        return;
    };
    if let Some(v) = s.boolean("hide_client_ip") {
        sub.hide_client_ip = v;
    }
    if let Some(v) = s.boolean("save_to_sent") {
        sub.save_to_sent = v;
    }
    if let Some(v) = s.integer("max_recipients", 1) {
        sub.max_recipients = usize::try_from(v).unwrap_or(usize::MAX);
    }
    let limits: [(&'static str, &mut u32); 4] = [
        ("max_messages_per_hour", &mut sub.max_messages_per_hour),
        ("max_messages_per_day", &mut sub.max_messages_per_day),
        ("max_recipients_per_hour", &mut sub.max_recipients_per_hour),
        ("max_recipients_per_day", &mut sub.max_recipients_per_day),
    ];
    for (key, field) in limits {
        if let Some(v) = s.integer(key, 1) {
            *field = u32::try_from(v).unwrap_or(u32::MAX);
        }
    }
    root.absorb(s);
}

fn read_dns(root: &mut Section<'_>, dns: &mut Dns) {
    let Some(mut s) = root.section("dns") else {
        return;
    };
    if let Some(v) = s.addrs("nameservers") {
        dns.nameservers = v;
    }
    root.absorb(s);
}

fn read_outbound(root: &mut Section<'_>, out: &mut Outbound) {
    let Some(mut s) = root.section("outbound") else {
        return;
    };
    if let Some(port) = s.integer("port", 1) {
        match u16::try_from(port) {
            Ok(port) => out.port = port,
            Err(_) => s.error("port", format!("must be a port number, got {port}")),
        }
    }
    if let Some(host) = s.string("smarthost") {
        match host.rsplit_once(':').map(|(h, p)| (h, p.parse::<u16>())) {
            _ if host.is_empty() => out.smarthost = None,
            Some((h, Ok(_))) if !h.is_empty() => out.smarthost = Some(host),
            _ => s.error("smarthost", format!("expected \"host:port\", got {host:?}")),
        }
    }
    out.smarthost_user = s.string("smarthost_user").filter(|u| !u.is_empty());
    out.smarthost_password = s.string("smarthost_password").filter(|p| !p.is_empty());
    if out.smarthost_user.is_some() != out.smarthost_password.is_some() {
        s.error(
            "smarthost_password",
            "smarthost_user and smarthost_password go together".into(),
        );
    }
    if let Some(v) = s.duration("max_queue_time") {
        out.max_queue_time = v;
    }
    if let Some(v) = s.duration("delay_notice_after") {
        out.delay_notice_after = v;
    }
    if let Some(v) = s.integer("max_concurrent", 1) {
        out.max_concurrent = usize::try_from(v).unwrap_or(usize::MAX);
    }
    if let Some(v) = s.integer("max_per_domain", 1) {
        out.max_per_domain = usize::try_from(v).unwrap_or(usize::MAX);
    }
    if let Some(v) = s.duration("claim_lease") {
        if v < Duration::from_secs(3) {
            s.error("claim_lease", "must be at least 3s".into());
        } else {
            out.claim_lease = v;
        }
    }
    root.absorb(s);
}

fn read_mta_sts(root: &mut Section<'_>, sts: &mut MtaSts) {
    let Some(mut s) = root.section("mta_sts") else {
        return;
    };
    if let Some(mode) = s.string("mode") {
        match mode.as_str() {
            "testing" => sts.mode = MtaStsMode::Testing,
            "enforce" => sts.mode = MtaStsMode::Enforce,
            "none" => sts.mode = MtaStsMode::None,
            _ => s.error(
                "mode",
                format!("expected \"testing\", \"enforce\" or \"none\", got {mode:?}"),
            ),
        }
    }
    if let Some(age) = s.duration("max_age") {
        // RFC 8461 3.2: max_age is at most 31557600 seconds.
        match age.as_secs() <= 31_557_600 {
            true => sts.max_age = age,
            false => s.error(
                "max_age",
                "must be at most a year (31557600 seconds)".into(),
            ),
        }
    }
    // RFC 8461 3.2: an mx pattern is a host name, or "*." and a host name.
    let mx_pattern = |p: &str| {
        let name = p.strip_prefix("*.").unwrap_or(p);
        validate_hostname(name).map(|n| match p.starts_with("*.") {
            true => format!("*.{n}"),
            false => n,
        })
    };
    if let Some(mx) = s.list("mx", mx_pattern) {
        sts.mx = mx;
    }
    root.absorb(s);
}

/// Writes the commented default file, creating its folder; never overwrites.
pub fn write_default(path: &Path) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    file.write_all(default_file_text().as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests;
