//! Certificates from an ACME CA (RFC 8555): a background task that orders one for the
//! configured names, answers the CA's challenges through the HTTP listener (HTTP-01) or the
//! certificate resolver (TLS-ALPN-01, RFC 8737), keeps the result in `data_dir/acme/` and
//! hands it to [`CertificateHolder`], so every TLS listener serves it from its next handshake.

use crate::Context;
use crate::net::shutdown::Shutdown;
use crate::net::tls::{self, CertificateHolder, TlsError};
use hermod_config::{AcmeChallenge, Config};
use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, Identifier, NewAccount,
    NewOrder, Order, OrderStatus, RetryPolicy,
};
use rustls::sign::CertifiedKey;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The first retry after a failure; each further failure doubles it, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(60);
const MAX_BACKOFF: Duration = Duration::from_secs(6 * 3600);
/// The certificate's expiry is looked at again at least this often (a clock jump, or a file
/// replaced by hand, is noticed within the day).
const RECHECK: Duration = Duration::from_secs(12 * 3600);

#[derive(Debug, thiserror::Error)]
pub enum AcmeError {
    /// instant-acme's errors carry the CA's problem document (type, detail, subproblems).
    #[error("ACME: {0}")]
    Protocol(#[from] instant_acme::Error),
    #[error("{0}")]
    Tls(#[from] TlsError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The CA could not validate these names; the text has its problem documents.
    #[error("{1}")]
    Unvalidated(Vec<String>, String),
    #[error("{0}")]
    Other(String),
}

/// Asks the running ACME task for a new certificate now.
#[derive(Debug, Clone, Default)]
pub struct Renewal(Arc<tokio::sync::Notify>);

impl Renewal {
    pub fn now(&self) {
        self.0.notify_one();
    }
}

/// Where the account, certificate and key live.
fn state_dir(config: &Config) -> PathBuf {
    config.data_dir.join("acme")
}

/// The stored certificate and key, if any (a restart serves it at once).
pub(crate) fn stored(config: &Config) -> Option<CertifiedKey> {
    let dir = state_dir(config);
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    if !cert.exists() {
        return None;
    }
    let provider = rustls::crypto::ring::default_provider();
    match tls::load_certified_key(&cert, &key, &provider) {
        Ok(key) => Some(key),
        Err(e) => {
            tracing::warn!(error = %e, "ignoring the stored ACME certificate");
            None
        }
    }
}

/// Keeps the certificate issued and renewed until shutdown; `Context::acme_renew` forces an
/// order now.
pub(crate) async fn run(ctx: Arc<Context>, mut shutdown: Shutdown) {
    let mut failures = 0u32;
    // After a failure, when the next order may go out (the backoff).
    let mut retry_at: Option<Instant> = None;
    let mut left_out = LeftOut::default();
    loop {
        let wait = match retry_at {
            Some(at) => at.saturating_duration_since(Instant::now()),
            None => until_renewal(&ctx.config),
        };
        let forced = tokio::select! {
            _ = tokio::time::sleep(wait.min(RECHECK).min(ctx.config.acme.names_check)) => false,
            _ = ctx.acme_renew.0.notified() => true,
            _ = shutdown.wait() => return,
        };
        let names = match names(&ctx).await {
            Ok(names) => left_out.filter(names),
            Err(e) => {
                failures += 1;
                retry_at = Some(Instant::now() + backoff(failures));
                tracing::error!(error = %e, "ACME: cannot list the names to certify");
                continue;
            }
        };
        if !forced && !order_due(&ctx.config, retry_at, &names) {
            continue;
        }
        match issue(&ctx.config, &ctx.certificate, &names).await {
            Ok(()) => {
                (failures, retry_at) = (0, None);
                left_out.certified(&names);
                tracing::info!(names = ?names, "ACME: certificate issued and in use");
            }
            Err(AcmeError::Unvalidated(bad, problems)) if LeftOut::can_leave(&bad, &names) => {
                left_out.add(&bad);
                tracing::warn!(
                    names = ?bad, %problems,
                    "ACME: left out of the certificate for now, the CA could not validate them \
                     (does their DNS point here?); ordering for the other names"
                );
                retry_at = Some(Instant::now());
            }
            Err(e) => {
                failures += 1;
                let retry = backoff(failures);
                retry_at = Some(Instant::now() + retry);
                tracing::error!(error = %e, ?retry, "ACME: certificate order failed");
            }
        }
    }
}

/// Names the CA could not validate, left out of orders for a while, so that one domain
/// whose DNS does not point here cannot keep every other name (the hostname's too) from a
/// certificate, nor let it expire. Each is tried again after an hour, then two, doubling up
/// to a day.
#[derive(Default)]
struct LeftOut(HashMap<String, (Instant, u32)>);

const LEFT_OUT_FIRST: Duration = Duration::from_secs(3600);
const LEFT_OUT_MAX: Duration = Duration::from_secs(86_400);

impl LeftOut {
    /// Whether an order whose `bad` names failed can go on without them: never without the
    /// first name (the hostname, or the first configured), nor with nothing left.
    fn can_leave(bad: &[String], names: &[String]) -> bool {
        !bad.is_empty() && bad.len() < names.len() && !bad.contains(&names[0])
    }

    /// `names` less those whose time to be tried again has not come.
    fn filter(&self, names: Vec<String>) -> Vec<String> {
        let now = Instant::now();
        let waiting = |name: &String| self.0.get(name).is_some_and(|(at, _)| now < *at);
        names.into_iter().filter(|n| !waiting(n)).collect()
    }

    fn add(&mut self, bad: &[String]) {
        let now = Instant::now();
        for name in bad {
            let (at, times) = self.0.entry(name.clone()).or_insert((now, 0));
            *times += 1;
            *at = now + (LEFT_OUT_FIRST.saturating_mul(1 << (*times - 1).min(8))).min(LEFT_OUT_MAX);
        }
    }

    fn certified(&mut self, names: &[String]) {
        for name in names {
            self.0.remove(name);
        }
    }
}

/// Whether to order now, unasked: after a failure, once its backoff is over; else when the
/// certificate is missing or due for renewal, or does not cover a name it should (a domain
/// was added since it was ordered).
fn order_due(config: &Config, retry_at: Option<Instant>, names: &[String]) -> bool {
    if let Some(at) = retry_at {
        return Instant::now() >= at;
    }
    if until_renewal(config).is_zero() {
        return true;
    }
    let uncovered = uncovered(config, names);
    if !uncovered.is_empty() {
        tracing::info!(names = ?uncovered, "ACME: names not yet certified (a domain was added): ordering");
    }
    !uncovered.is_empty()
}

fn backoff(failures: u32) -> Duration {
    FIRST_BACKOFF
        .saturating_mul(1 << failures.saturating_sub(1).min(16))
        .min(MAX_BACKOFF)
}

/// Time until the stored certificate is due for renewal; zero when it is due or missing.
fn until_renewal(config: &Config) -> Duration {
    let path = state_dir(config).join("cert.pem");
    let Some(not_after) = leaf_not_after(&path) else {
        return Duration::ZERO;
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let renew_at = not_after - config.acme.renew_before.as_secs() as i64;
    Duration::from_secs(renew_at.saturating_sub(now).max(0) as u64)
}

fn leaf_not_after(path: &Path) -> Option<i64> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let leaf = CertificateDer::pem_file_iter(path).ok()?.next()?.ok()?;
    crate::net::x509::parse_tbs(&leaf).map(|(not_after, _)| not_after)
}

/// The configured names, or the hostname and `mta-sts.`, `autoconfig.` and `autodiscover.`
/// (Outlook asks there over HTTPS) of each local domain
/// (read again every `[acme] names_check`, so a domain added since is certified then).
async fn names(ctx: &Context) -> Result<Vec<String>, AcmeError> {
    let config = &ctx.config;
    if !config.acme.names.is_empty() {
        return Ok(config.acme.names.clone());
    }
    let mut names = vec![config.hostname.to_ascii_lowercase()];
    let domains = ctx
        .store
        .domains()
        .await
        .map_err(|e| AcmeError::Other(format!("listing domains: {e}")))?;
    for domain in domains {
        for prefix in ["mta-sts.", "autoconfig.", "autodiscover."] {
            let name = format!("{prefix}{domain}");
            // A CA refuses an order naming one identifier twice (the hostname may be one).
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    Ok(names)
}

/// Where the names of the stored certificate are listed, one a line: what it was ordered
/// for (reading them back out of the certificate would take an X.509 extension parser).
fn names_file(config: &Config) -> PathBuf {
    state_dir(config).join("names")
}

/// Of `names`, those the stored certificate was not ordered for. Nothing when no list was
/// kept (a certificate from before the list, or put there by hand): its renewal writes one.
fn uncovered(config: &Config, names: &[String]) -> Vec<String> {
    let Ok(kept) = std::fs::read_to_string(names_file(config)) else {
        return Vec::new();
    };
    let kept: Vec<&str> = kept.lines().collect();
    (names.iter())
        .filter(|name| !kept.contains(&name.as_str()))
        .cloned()
        .collect()
}

/// One order from account to installed certificate.
pub async fn issue(
    config: &Config,
    holder: &CertificateHolder,
    names: &[String],
) -> Result<(), AcmeError> {
    let account = account(config).await?;
    let identifiers: Vec<Identifier> = names.iter().cloned().map(Identifier::Dns).collect();
    let mut order = account.new_order(&NewOrder::new(&identifiers)).await?;
    let mut tokens = Vec::new();
    let answered = authorize(&mut order, config.acme.challenge, holder, &mut tokens).await;
    // Challenge answers are withdrawn whatever happened: a stale one serves nobody.
    for name in names {
        holder.set_alpn_challenge(name, None);
    }
    for token in tokens {
        holder.set_http_challenge(&token, None);
    }
    answered?;
    let key_pem = order.finalize().await?;
    let chain_pem = order.poll_certificate(&retry_policy()).await?;
    install(config, holder, &key_pem, &chain_pem)?;
    save(&names_file(config), (names.join("\n") + "\n").as_bytes())
}

fn retry_policy() -> RetryPolicy {
    RetryPolicy::new()
        .initial_delay(Duration::from_millis(250))
        .timeout(Duration::from_secs(120))
}

/// Answers every pending authorization's challenge, then waits for the CA's verdict. The
/// HTTP-01 tokens published go to `tokens` (for the caller to withdraw, error or not).
async fn authorize(
    order: &mut Order,
    kind: AcmeChallenge,
    holder: &CertificateHolder,
    tokens: &mut Vec<String>,
) -> Result<(), AcmeError> {
    let wanted = match kind {
        AcmeChallenge::Http01 => ChallengeType::Http01,
        AcmeChallenge::TlsAlpn01 => ChallengeType::TlsAlpn01,
    };
    let mut authorizations = order.authorizations();
    while let Some(authz) = authorizations.next().await {
        let mut authz = authz?;
        if authz.status == AuthorizationStatus::Valid {
            continue; // Proved recently; the CA remembers.
        }
        let name = authz.identifier().to_string();
        let mut challenge = authz.challenge(wanted.clone()).ok_or_else(|| {
            AcmeError::Other(format!(
                "the CA offers no {} challenge for {name}",
                kind.as_str()
            ))
        })?;
        let key_authorization = challenge.key_authorization();
        match kind {
            AcmeChallenge::Http01 => {
                let answer = key_authorization.as_str().to_owned();
                holder.set_http_challenge(&challenge.token, Some(answer));
                tokens.push(challenge.token.clone());
            }
            AcmeChallenge::TlsAlpn01 => {
                let key = alpn_certificate(&name, key_authorization.digest().as_ref())?;
                holder.set_alpn_challenge(&name, Some(key));
            }
        }
        challenge.set_ready().await?;
    }
    let status = match order.poll_ready(&retry_policy()).await {
        Ok(status) => status,
        // An order that turned invalid comes back as the CA's problem document: which of
        // its names failed is in the authorizations.
        Err(e) => {
            let (names, _) = authorization_problems(order).await;
            return Err(match names.is_empty() {
                true => e.into(),
                false => AcmeError::Unvalidated(names, format!("ACME: {e}")),
            });
        }
    };
    if status != OrderStatus::Ready {
        let (names, problems) = authorization_problems(order).await;
        return Err(AcmeError::Unvalidated(
            names,
            format!("order {status:?}, not ready: {problems}"),
        ));
    }
    Ok(())
}

/// Why the CA refused: the names it could not validate, and each failed challenge's
/// problem document.
async fn authorization_problems(order: &mut Order) -> (Vec<String>, String) {
    let (mut names, mut out) = (Vec::new(), Vec::new());
    let mut authorizations = order.authorizations();
    while let Some(Ok(authz)) = authorizations.next().await {
        if authz.status == AuthorizationStatus::Invalid {
            names.push(authz.identifier().to_string());
        }
        for challenge in &authz.challenges {
            if let Some(problem) = &challenge.error {
                out.push(format!("{}: {problem}", authz.identifier()));
            }
        }
    }
    let problems = match out.is_empty() {
        true => "no problem document".into(),
        false => out.join("; "),
    };
    (names, problems)
}

/// The self-signed certificate of RFC 8737 3: the name, and the SHA-256 digest of the key
/// authorization in the critical acmeIdentifier extension.
fn alpn_certificate(name: &str, digest: &[u8]) -> Result<CertifiedKey, AcmeError> {
    let generate = |e: rcgen::Error| AcmeError::Other(format!("TLS-ALPN-01 certificate: {e}"));
    let mut params = rcgen::CertificateParams::new(vec![name.to_owned()]).map_err(generate)?;
    params
        .custom_extensions
        .push(rcgen::CustomExtension::new_acme_identifier(digest));
    let key = rcgen::KeyPair::generate().map_err(generate)?;
    let cert = params.self_signed(&key).map_err(generate)?;
    let der = rustls_pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
    let signer = rustls::crypto::ring::sign::any_supported_type(&der)
        .map_err(|e| AcmeError::Other(format!("TLS-ALPN-01 key: {e}")))?;
    Ok(CertifiedKey::new(vec![cert.der().clone()], signer))
}

/// The account in `account.json`, or a new one registered and saved there.
async fn account(config: &Config) -> Result<Account, AcmeError> {
    let acme = &config.acme;
    let directory = acme
        .directory
        .clone()
        .ok_or_else(|| AcmeError::Other("no [acme] directory".into()))?;
    let builder = || match &acme.directory_ca {
        Some(ca) => Account::builder_with_root(ca),
        None => Account::builder(),
    };
    let path = state_dir(config).join("account.json");
    if let Ok(text) = std::fs::read(&path) {
        let credentials: AccountCredentials = serde_json::from_slice(&text)
            .map_err(|e| AcmeError::Other(format!("{}: {e}", path.display())))?;
        return Ok(builder()?.from_credentials(credentials).await?);
    }
    let contact: Vec<&str> = acme.contact.iter().map(String::as_str).collect();
    let new = NewAccount {
        contact: &contact,
        terms_of_service_agreed: true,
        only_return_existing: false,
    };
    let (account, credentials) = builder()?.create(&new, directory, None).await?;
    let json = serde_json::to_vec(&credentials).map_err(|e| AcmeError::Other(e.to_string()))?;
    save(&path, &json)?;
    tracing::info!(id = account.id(), "ACME: account registered");
    Ok(account)
}

/// Checks the pair, stores it (key first; each file replaced atomically), and serves it.
fn install(
    config: &Config,
    holder: &CertificateHolder,
    key_pem: &str,
    chain_pem: &str,
) -> Result<(), AcmeError> {
    let dir = state_dir(config);
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let (new_cert, new_key) = (dir.join("cert.pem.new"), dir.join("key.pem.new"));
    save(&new_key, key_pem.as_bytes())?;
    save(&new_cert, chain_pem.as_bytes())?;
    let provider = rustls::crypto::ring::default_provider();
    let certified = tls::load_certified_key(&new_cert, &new_key, &provider)?;
    for (from, to) in [(&new_key, &key), (&new_cert, &cert)] {
        std::fs::rename(from, to).map_err(|source| AcmeError::Io {
            path: to.clone(),
            source,
        })?;
    }
    holder.replace(certified);
    Ok(())
}

/// Writes a file readable by its owner only (mode 0600), creating the state folder.
fn save(path: &Path, data: &[u8]) -> Result<(), AcmeError> {
    let io = |source| AcmeError::Io {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    tls::write_private(path, data).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_ceiling() {
        assert_eq!(backoff(1), Duration::from_secs(60));
        assert_eq!(backoff(2), Duration::from_secs(120));
        assert_eq!(backoff(40), MAX_BACKOFF);
    }
}
