//! The `[spam]` section: connection checks, sender authentication and the content filter.

use crate::walker::Section;
use hermod_types::Cidr;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub struct Spam {
    /// Sender authentication, the content filter and the connection checks on the smtp
    /// listener. Off: only the static block list applies.
    pub enabled: bool,
    /// Clients refused at connect (`554 5.7.1`), from the config and from `blocklist_file`.
    pub blocklist: Vec<Cidr>,
    /// Clients exempt from every connection check and from rejection or Junk filing.
    pub allowlist: Vec<Cidr>,
    /// Files with one network per line (`#` comments), re-read on SIGHUP.
    pub blocklist_file: Option<PathBuf>,
    pub allowlist_file: Option<PathBuf>,
    pub dnsbl_zones: Vec<DnsblZone>,
    pub dnsbl_timeout: Duration,
    /// Wait this long before the greeting; a client that talks first is a `PREGREET`.
    pub greet_delay: Duration,
    pub pregreet: CheckAction,
    /// HELO that is neither a plausible host name nor an address literal.
    pub helo: CheckAction,
    /// No reverse DNS, or a name whose addresses do not include the client's.
    pub rdns: CheckAction,
    /// Refuse mail that fails DMARC when the domain's policy is `p=reject`.
    pub dmarc_reject: bool,
    /// Remember whom each account sends mail to, and score `KNOWN_SENDER` for that account
    /// on mail whose authenticated author is one of them.
    pub known_senders: bool,
    /// At or above: filed into the recipient's Junk folder.
    pub junk_threshold: f64,
    /// At or above: refused at the end of DATA (`550 5.7.1`).
    pub reject_threshold: f64,
    /// Larger messages are stored without a content scan or DKIM check.
    pub max_scan_size: u64,
    /// Greylisting: a first attempt from an unknown (network, sender, recipient) waits.
    pub greylisting: bool,
    pub greylist_delay: Duration,
}

/// A DNS block list: listed clients are refused, or (with a score) scored.
#[derive(Debug, Clone, PartialEq)]
pub struct DnsblZone {
    pub zone: String,
    /// `None`: a listing refuses the connection; `Some(n)`: it adds `n` to the score.
    pub score: Option<f64>,
}

/// What a connection check does when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckAction {
    Off,
    Score,
    Reject,
}

impl Default for Spam {
    fn default() -> Spam {
        Spam {
            enabled: true,
            blocklist: Vec::new(),
            allowlist: Vec::new(),
            blocklist_file: None,
            allowlist_file: None,
            dnsbl_zones: Vec::new(),
            dnsbl_timeout: Duration::from_secs(2),
            greet_delay: Duration::ZERO,
            pregreet: CheckAction::Reject,
            helo: CheckAction::Score,
            rdns: CheckAction::Score,
            dmarc_reject: true,
            known_senders: true,
            junk_threshold: 5.0,
            reject_threshold: 15.0,
            max_scan_size: 512 * 1024,
            greylisting: false,
            greylist_delay: Duration::from_secs(300),
        }
    }
}

pub(crate) fn read_spam(root: &mut Section<'_>, spam: &mut Spam, base: &Path) {
    let Some(mut s) = root.section("spam") else {
        return;
    };
    if let Some(v) = s.boolean("enabled") {
        spam.enabled = v;
    }
    let cidr = |t: &str| Cidr::parse(t).map_err(|e| e.to_string());
    if let Some(v) = s.list("blocklist", cidr) {
        spam.blocklist = v;
    }
    if let Some(v) = s.list("allowlist", cidr) {
        spam.allowlist = v;
    }
    spam.blocklist_file = s
        .path("blocklist_file", base)
        .or(spam.blocklist_file.take());
    spam.allowlist_file = s
        .path("allowlist_file", base)
        .or(spam.allowlist_file.take());
    if let Some(v) = s.list("dnsbl_zones", parse_zone) {
        spam.dnsbl_zones = v;
    }
    if let Some(v) = s.duration("dnsbl_timeout") {
        spam.dnsbl_timeout = v;
    }
    if let Some(v) = s.duration_or_zero("greet_delay") {
        spam.greet_delay = v;
    }
    read_actions(&mut s, spam);
    if let Some(v) = s.boolean("dmarc_reject") {
        spam.dmarc_reject = v;
    }
    if let Some(v) = s.boolean("known_senders") {
        spam.known_senders = v;
    }
    read_thresholds(&mut s, spam);
    if let Some(v) = s.size("max_scan_size", 1024) {
        spam.max_scan_size = v;
    }
    if let Some(v) = s.boolean("greylisting") {
        spam.greylisting = v;
    }
    if let Some(v) = s.duration("greylist_delay") {
        spam.greylist_delay = v;
    }
    root.absorb(s);
}

fn read_actions(s: &mut Section<'_>, spam: &mut Spam) {
    for (key, slot) in [
        ("pregreet", &mut spam.pregreet),
        ("helo", &mut spam.helo),
        ("rdns", &mut spam.rdns),
    ] {
        let Some(word) = s.string(key) else { continue };
        match word.as_str() {
            "off" => *slot = CheckAction::Off,
            "score" => *slot = CheckAction::Score,
            "reject" => *slot = CheckAction::Reject,
            _ => s.error(
                key,
                format!("expected \"off\", \"score\" or \"reject\", got {word:?}"),
            ),
        }
    }
}

fn read_thresholds(s: &mut Section<'_>, spam: &mut Spam) {
    if let Some(v) = s.number("junk_threshold") {
        spam.junk_threshold = v;
    }
    if let Some(v) = s.number("reject_threshold") {
        spam.reject_threshold = v;
    }
    if spam.reject_threshold < spam.junk_threshold {
        let message = format!(
            "must not be below junk_threshold ({}), got {}",
            spam.junk_threshold, spam.reject_threshold
        );
        s.error("reject_threshold", message);
    }
}

/// `"zen.spamhaus.org"` refuses listed clients; `"bl.example.org:2.5"` adds 2.5 to the score.
fn parse_zone(text: &str) -> Result<DnsblZone, String> {
    let (zone, score) = match text.rsplit_once(':') {
        Some((zone, score)) => {
            let score = score
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|s| s.is_finite())
                .ok_or_else(|| format!("{text:?}: the score after ':' must be a number"))?;
            (zone, Some(score))
        }
        None => (text, None),
    };
    let zone = zone.trim().trim_end_matches('.').to_ascii_lowercase();
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if zone.len() > 200 || !zone.contains('.') || !zone.split('.').all(label_ok) {
        return Err(format!(
            "{text:?} is not a DNS zone (e.g. \"zen.spamhaus.org\" or \"bl.example.org:2.5\")"
        ));
    }
    Ok(DnsblZone { zone, score })
}
