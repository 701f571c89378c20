//! Sender authentication for inbound mail (mail-auth): SPF for the HELO and MAIL FROM
//! identities (RFC 7208), DKIM signatures (RFC 6376), DMARC alignment and policy (RFC 7489),
//! and the reverse DNS result, all written into one `Authentication-Results:` field
//! (RFC 8601) in the name of our hostname.

use super::SpamFilter;
use hermod_spam::authorship::within;
use hermod_spam::{Hit, verdict};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dmarc::Policy;
use mail_auth::dmarc::verify::DmarcParameters;
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{
    AuthenticatedMessage, AuthenticationResults, DkimResult, DmarcResult, SpfOutput, SpfResult,
};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The envelope of the message being judged.
pub(crate) struct Envelope<'a> {
    pub ip: IpAddr,
    pub helo: &'a str,
    /// The reverse path; empty for the null sender.
    pub mail_from: &'a str,
    pub hostname: &'a str,
}

#[derive(Debug, Default)]
pub(crate) struct AuthOutcome {
    /// The `Authentication-Results:` field, CRLF-terminated.
    pub field: String,
    pub hits: Vec<Hit>,
    /// The author's domain publishes `p=reject` and the message failed DMARC.
    pub dmarc_reject: Option<String>,
    /// The domains (`d=`) of the DKIM signatures that verified, lowercase.
    pub dkim_pass: Vec<String>,
    /// The `From:` address (lowercase) when the author's domain is authenticated
    /// ([`authenticated_author`]).
    pub author: Option<String>,
}

/// How long SPF, DKIM and DMARC lookups may take together before the message is accepted
/// without their results (a broken resolver must not hold mail up).
const AUTH_TIMEOUT: Duration = Duration::from_secs(15);
/// How long the resolver may take to answer anything at all (a cached name, or that a
/// name does not exist) before it counts as down. A dead resolver is not refused at once
/// (hickory's UDP sockets never see the ICMP error): without this, every message would
/// wait the whole budget.
const PROBE_TIMEOUT: Duration = Duration::from_millis(1500);
/// After the resolver was found down, how long messages get only [`PROBE_TIMEOUT`] for
/// their checks before the full budget is tried again.
const TROUBLE_FOR: Duration = Duration::from_secs(60);

/// Whether DNS failed lately; shared by every session.
#[derive(Debug, Default)]
pub(crate) struct DnsHealth {
    trouble_until: Mutex<Option<Instant>>,
}

impl DnsHealth {
    fn in_trouble(&self) -> bool {
        let until = self.trouble_until.lock().unwrap_or_else(|e| e.into_inner());
        until.is_some_and(|t| t > Instant::now())
    }

    fn set_trouble(&self, trouble: bool) {
        let mut until = self.trouble_until.lock().unwrap_or_else(|e| e.into_inner());
        *until = trouble.then(|| Instant::now() + TROUBLE_FOR);
    }
}

fn temperror(hostname: &str, why: &str) -> AuthOutcome {
    AuthOutcome {
        field: format!(
            "Authentication-Results: {hostname};\r\n\tspf=temperror ({why});\r\n\tdkim=temperror ({why})\r\n"
        ),
        hits: Vec::new(),
        dmarc_reject: None,
        dkim_pass: Vec::new(),
        author: None,
    }
}

impl SpamFilter {
    /// [`authenticate`](Self::authenticate), giving up with `temperror` results after
    /// [`AUTH_TIMEOUT`], or as soon as the resolver shows it is not answering: a DNS outage
    /// costs each message [`PROBE_TIMEOUT`] at most.
    pub async fn authenticate_in_time(
        &self,
        env: &Envelope<'_>,
        message: Option<&[u8]>,
    ) -> AuthOutcome {
        let trouble = self.dns_health.in_trouble();
        let budget = if trouble { PROBE_TIMEOUT } else { AUTH_TIMEOUT };
        let checks = tokio::time::timeout(budget, self.authenticate(env, message));
        let outcome = tokio::select! {
            checked = checks => checked.ok(),
            () = self.resolver_down(env.hostname), if !trouble => None,
        };
        self.dns_health.set_trouble(outcome.is_none());
        outcome.unwrap_or_else(|| {
            tracing::warn!(ip = %env.ip, "sender authentication gave up: DNS is not answering");
            temperror(env.hostname, "DNS not answering")
        })
    }

    /// Finishes only if the resolver fails to answer a lookup of `hostname` in
    /// [`PROBE_TIMEOUT`]; any answer, "no such name" included, shows it alive.
    async fn resolver_down(&self, hostname: &str) {
        let lookup = self.auth.resolver().lookup_ip(format!("{hostname}."));
        match tokio::time::timeout(PROBE_TIMEOUT, lookup).await {
            Ok(Ok(_)) => std::future::pending().await,
            Ok(Err(e)) if e.is_no_records_found() || e.is_nx_domain() => {
                std::future::pending().await
            }
            Ok(Err(_)) | Err(_) => {}
        }
    }

    /// Checks `message` (the whole content; `None` when too large to scan: SPF only).
    pub async fn authenticate(&self, env: &Envelope<'_>, message: Option<&[u8]>) -> AuthOutcome {
        let ip = hermod_types::canonical_ip(env.ip);
        let spf = self
            .auth
            .verify_spf(SpfParameters::verify(
                ip,
                env.helo,
                env.hostname,
                env.mail_from,
            ))
            .await;
        let mut outcome = AuthOutcome::default();
        outcome.hits.extend(spf_hit(&spf));
        let results = AuthenticationResults::new(env.hostname);
        let parsed = message.and_then(AuthenticatedMessage::parse);
        let Some(parsed) = parsed else {
            let why = if message.is_some() {
                "unparseable message"
            } else {
                "too large to check"
            };
            let mut field = results
                .with_spf_mailfrom_result(&spf, ip, env.mail_from, env.helo)
                .to_header();
            insert_before_crlf(&mut field, &format!(";\r\n\tdkim=neutral ({why})"));
            outcome.field = field;
            return outcome;
        };
        let dkim = self.auth.verify_dkim(&parsed).await;
        if dkim
            .iter()
            .any(|d| matches!(d.result(), DkimResult::Fail(_)))
        {
            outcome.hits.push(verdict::check("DKIM_INVALID"));
        }
        outcome.dkim_pass = dkim
            .iter()
            .filter(|d| matches!(d.result(), DkimResult::Pass))
            .filter_map(|d| d.signature().map(|s| s.d.to_ascii_lowercase()))
            .collect();
        let mail_from_domain = match env.mail_from.rsplit_once('@') {
            Some((_, domain)) => domain,
            None => env.helo,
        };
        let dmarc = self
            .auth
            .verify_dmarc(DmarcParameters::new(&parsed, &dkim, mail_from_domain, &spf))
            .await;
        if matches!(dmarc.result(), DmarcResult::Fail(_)) {
            match dmarc.policy() {
                Policy::Reject => {
                    let why = format!(
                        "{} publishes a DMARC policy of reject and this message fails it",
                        dmarc.domain()
                    );
                    outcome.dmarc_reject = Some(why);
                    outcome.hits.push(verdict::check("DMARC_FAIL"));
                }
                Policy::Quarantine => outcome.hits.push(verdict::check("DMARC_FAIL")),
                Policy::None | Policy::Unspecified => {}
            }
        }
        let spf_domain = (spf.result() == SpfResult::Pass).then_some(mail_from_domain);
        outcome.author = authenticated_author(&parsed, &dmarc, &outcome.dkim_pass, spf_domain);
        let header_from = parsed.from().to_owned();
        let mut field = results
            .with_dkim_results(&dkim, &header_from)
            .with_spf_mailfrom_result(&spf, ip, env.mail_from, env.helo)
            .with_dmarc_result(&dmarc)
            .to_header();
        if dkim.is_empty() {
            // RFC 8601 2.7.1: no signature is "none", said rather than left out.
            insert_before_crlf(&mut field, ";\r\n\tdkim=none (no signature)");
        }
        outcome.field = field;
        outcome
    }
}

/// The message's one `From:` address when its domain is authenticated: DMARC passes, or,
/// where the domain publishes no DMARC policy, a verified DKIM signature's domain or the
/// SPF-passing MAIL FROM domain (`spf_domain`) is the author's domain or a parent of it (the
/// relaxed alignment of RFC 7489 3.1, without a public-suffix list: a parent must have two
/// labels). `None` for a forged, failing or unverifiable `From:`, or several authors.
fn authenticated_author(
    parsed: &AuthenticatedMessage<'_>,
    dmarc: &mail_auth::DmarcOutput,
    dkim_pass: &[String],
    spf_domain: Option<&str>,
) -> Option<String> {
    let [author] = parsed.froms() else {
        return None;
    };
    let (_, domain) = author.rsplit_once('@').filter(|(_, d)| d.contains('.'))?;
    let aligned = match dmarc.result() {
        DmarcResult::Pass => true,
        DmarcResult::Fail(_) => false,
        _ => (dkim_pass.iter().map(String::as_str))
            .chain(spf_domain)
            .any(|d| within(domain, &d.to_ascii_lowercase())),
    };
    aligned.then(|| author.clone())
}

fn spf_hit(spf: &SpfOutput) -> Option<Hit> {
    match spf.result() {
        SpfResult::Fail => Some(verdict::check("SPF_FAIL")),
        SpfResult::SoftFail => Some(verdict::check("SPF_SOFTFAIL")),
        _ => None,
    }
}

/// Adds `text` at the end of a field's value, before its final CRLF.
fn insert_before_crlf(field: &mut String, text: &str) {
    let at = field.strip_suffix("\r\n").map_or(field.len(), str::len);
    field.insert_str(at, text);
}
