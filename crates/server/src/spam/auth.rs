//! Sender authentication for inbound mail (mail-auth): SPF for the HELO and MAIL FROM
//! identities (RFC 7208), DKIM signatures (RFC 6376), DMARC alignment and policy (RFC 7489),
//! and the reverse DNS result, all written into one `Authentication-Results:` field
//! (RFC 8601) in the name of our hostname.

use super::SpamFilter;
use hermod_spam::{Hit, verdict};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dmarc::Policy;
use mail_auth::dmarc::verify::DmarcParameters;
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{
    AuthenticatedMessage, AuthenticationResults, DkimResult, DmarcResult, SpfOutput, SpfResult,
};
use std::net::IpAddr;

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
}

/// How long SPF, DKIM and DMARC lookups may take together before the message is accepted
/// without their results (a broken resolver must not hold mail up).
const AUTH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

impl SpamFilter {
    /// [`authenticate`](Self::authenticate), giving up after [`AUTH_TIMEOUT`] with
    /// `temperror` results.
    pub async fn authenticate_in_time(
        &self,
        env: &Envelope<'_>,
        message: Option<&[u8]>,
    ) -> AuthOutcome {
        match tokio::time::timeout(AUTH_TIMEOUT, self.authenticate(env, message)).await {
            Ok(outcome) => outcome,
            Err(_) => {
                tracing::warn!(ip = %env.ip, "sender authentication timed out (DNS); results left out");
                AuthOutcome {
                    field: format!(
                        "Authentication-Results: {};\r\n\tspf=temperror (DNS timed out);\r\n\tdkim=temperror (DNS timed out)\r\n",
                        env.hostname
                    ),
                    hits: Vec::new(),
                    dmarc_reject: None,
                }
            }
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
