//! `[acme]`: certificates from an ACME CA (RFC 8555), e.g. Let's Encrypt.

use crate::walker::Section;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub struct Acme {
    /// The CA's directory URL; `None` turns ACME off.
    pub directory: Option<String>,
    /// Where the CA writes about expiry and problems (`mailto:` URLs).
    pub contact: Vec<String>,
    /// The names the certificate covers; empty means the default set (hostname, and
    /// `mta-sts.`, `autoconfig.` and `autodiscover.` of each local domain).
    pub names: Vec<String>,
    /// How the CA checks control of a name.
    pub challenge: AcmeChallenge,
    /// A certificate is renewed when it has less than this left.
    pub renew_before: Duration,
    /// How often the names to certify are worked out again: a domain added since the last
    /// order (by the CLI, the web or another node) gets its certificate within this.
    pub names_check: Duration,
    /// Extra CA certificate (PEM) trusted for the directory's HTTPS, for test CAs such as
    /// pebble; `None` trusts the system's roots.
    pub directory_ca: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcmeChallenge {
    /// HTTP-01: a file on the `http` listener (the CA connects to port 80).
    Http01,
    /// TLS-ALPN-01: a special certificate on the `https` listener (port 443).
    TlsAlpn01,
}

impl AcmeChallenge {
    pub fn as_str(self) -> &'static str {
        match self {
            AcmeChallenge::Http01 => "http-01",
            AcmeChallenge::TlsAlpn01 => "tls-alpn-01",
        }
    }
}

impl Default for Acme {
    fn default() -> Acme {
        Acme {
            directory: None,
            contact: Vec::new(),
            names: Vec::new(),
            challenge: AcmeChallenge::TlsAlpn01,
            renew_before: Duration::from_secs(30 * 86_400),
            names_check: Duration::from_secs(600),
            directory_ca: None,
        }
    }
}

pub(crate) fn read_acme(root: &mut Section<'_>, acme: &mut Acme, base: &Path) {
    let Some(mut s) = root.section("acme") else {
        return;
    };
    if let Some(url) = s.string("directory") {
        match url.is_empty() {
            true => acme.directory = None,
            false if url.starts_with("https://") => acme.directory = Some(url),
            false => s.error(
                "directory",
                format!("expected an https:// URL, got {url:?}"),
            ),
        }
    }
    let mailto = |c: &str| match c.strip_prefix("mailto:") {
        Some(rest) if rest.contains('@') => Ok(c.to_owned()),
        _ => Err(format!("expected \"mailto:ADDRESS\", got {c:?}")),
    };
    if let Some(contact) = s.list("contact", mailto) {
        acme.contact = contact;
    }
    if let Some(names) = s.list("names", crate::validate_hostname) {
        acme.names = names;
    }
    if let Some(kind) = s.string("challenge") {
        match kind.as_str() {
            "http-01" => acme.challenge = AcmeChallenge::Http01,
            "tls-alpn-01" => acme.challenge = AcmeChallenge::TlsAlpn01,
            _ => s.error(
                "challenge",
                format!("expected \"http-01\" or \"tls-alpn-01\", got {kind:?}"),
            ),
        }
    }
    if let Some(before) = s.duration("renew_before") {
        acme.renew_before = before;
    }
    if let Some(every) = s.duration("names_check") {
        acme.names_check = every;
    }
    acme.directory_ca = s.path("directory_ca", base);
    root.absorb(s);
}
