//! MTA-STS (RFC 8461) for the relay: each recipient domain's policy, found by its `_mta-sts`
//! TXT record and fetched over verified HTTPS, cached for its `max_age` and fetched again
//! when the record's id changes; and the certificate check of an MX under a policy.

use hermod_core::mtasts::{StsMode, StsPolicy, parse_policy, sts_record_id};
use hermod_core::outbound::Resolver;
use mail_auth::MessageAuthenticator;
use mail_auth::hickory_resolver::proto::rr::RData;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// RFC 8461 3.3 suggests bounding the fetch; a policy is a few lines.
const POLICY_MAX: usize = 64 * 1024;
const FETCH_TIMEOUT: Duration = Duration::from_secs(20);
const DNS_TIMEOUT: Duration = Duration::from_secs(10);

/// What the relay knows of a domain's policy for one delivery.
#[derive(Debug, Clone)]
pub(crate) enum Lookup {
    /// No policy (or `mode: none`): opportunistic TLS as always.
    None,
    Policy(StsPolicy),
    /// The record names a policy that could not be fetched or parsed, and none is cached:
    /// delivered as without one (RFC 8461 5), and reported.
    Failed(&'static str, String),
}

struct Cached {
    id: String,
    policy: StsPolicy,
    expires: i64,
}

/// Policies by domain, the DNS they are found by, and the roots certificates are checked
/// against.
pub(crate) struct Sts {
    auth: MessageAuthenticator,
    roots: Arc<RootCertStore>,
    policy_port: u16,
    cache: Mutex<HashMap<String, Cached>>,
}

impl Sts {
    pub fn new(config: &hermod_config::Config) -> Result<Sts, String> {
        Ok(Sts {
            auth: crate::spam::authenticator(&config.dns.nameservers)?,
            roots: Arc::new(trust_roots(config.outbound_tls.ca_file.as_deref())?),
            policy_port: config.outbound_tls.policy_port,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The TXT strings at `name` (empty when there are none or DNS fails).
    pub async fn txt(&self, name: &str) -> Vec<String> {
        self.txt_answer(name).await.unwrap_or_default()
    }

    /// The TXT strings at `name`: empty when DNS says there are none, `None` when it gave
    /// no answer (a timeout, a server failure), which says nothing about the record.
    pub async fn txt_answer(&self, name: &str) -> Option<Vec<String>> {
        let lookup = self.auth.resolver().txt_lookup(format!("{name}."));
        let answer = match tokio::time::timeout(DNS_TIMEOUT, lookup).await.ok()? {
            Ok(answer) => answer,
            Err(e) if e.is_no_records_found() || e.is_nx_domain() => return Some(Vec::new()),
            Err(_) => return None,
        };
        let texts = answer
            .answers()
            .iter()
            .filter_map(|record| match &record.data {
                RData::TXT(txt) => {
                    let bytes: Vec<u8> = txt.txt_data.iter().flat_map(|c| c.to_vec()).collect();
                    Some(String::from_utf8_lossy(&bytes).into_owned())
                }
                _ => None,
            })
            .collect();
        Some(texts)
    }

    /// The policy that applies to mail for `domain` now.
    pub async fn policy(&self, resolver: &dyn Resolver, domain: &str) -> Lookup {
        let now = hermod_message::unix_now();
        let id = sts_record_id(&self.txt(&format!("_mta-sts.{domain}")).await);
        let cached = self.cached(domain, now);
        let id = match (id, cached) {
            // No record (or DNS trouble): a cached policy still holds (RFC 8461 5.1).
            (None, Some((_, policy))) => return applies(policy),
            (None, None) => return Lookup::None,
            (Some(id), Some((cached_id, policy))) if cached_id == id => return applies(policy),
            (Some(id), _) => id,
        };
        let fetched = match self.fetch(resolver, domain).await {
            Ok(text) => parse_policy(&text).map_err(|e| ("sts-policy-invalid", e)),
            Err(e) => Err(("sts-policy-fetch-error", e)),
        };
        match fetched {
            Ok(policy) => {
                let expires = now + i64::try_from(policy.max_age).unwrap_or(i64::MAX / 2);
                let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
                let entry = Cached {
                    id,
                    policy: policy.clone(),
                    expires,
                };
                cache.insert(domain.to_owned(), entry);
                applies(policy)
            }
            Err((kind, error)) => {
                tracing::info!(domain, error, "MTA-STS policy not fetched");
                match self.cached(domain, now) {
                    Some((_, policy)) => applies(policy),
                    None => Lookup::Failed(kind, error),
                }
            }
        }
    }

    fn cached(&self, domain: &str, now: i64) -> Option<(String, StsPolicy)> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let entry = cache.get(domain).filter(|c| c.expires > now)?;
        Some((entry.id.clone(), entry.policy.clone()))
    }

    /// `GET https://mta-sts.DOMAIN/.well-known/mta-sts.txt`: a verified certificate for that
    /// name, status 200, `text/plain`, no redirects followed (RFC 8461 3.3).
    async fn fetch(&self, resolver: &dyn Resolver, domain: &str) -> Result<String, String> {
        let host = format!("mta-sts.{domain}");
        let ips = resolver.ips(&host).await?;
        let mut last = format!("{host} has no address");
        for ip in ips {
            let addr = SocketAddr::new(ip, self.policy_port);
            match tokio::time::timeout(FETCH_TIMEOUT, self.get(addr, &host)).await {
                Ok(Ok(body)) => return Ok(body),
                Ok(Err(e)) => last = format!("{addr}: {e}"),
                Err(_) => last = format!("{addr}: timed out"),
            }
        }
        Err(last)
    }

    async fn get(&self, addr: SocketAddr, host: &str) -> Result<String, String> {
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| e.to_string())?;
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(self.roots.clone())
        .with_no_client_auth();
        let name = ServerName::try_from(host.to_owned()).map_err(|e| e.to_string())?;
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let mut tls = connector
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS: {e}"))?;
        let request = format!(
            "GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: {host}\r\n\
             User-Agent: hermod\r\nConnection: close\r\n\r\n"
        );
        tls.write_all(request.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut raw = Vec::new();
        let limit = (POLICY_MAX + 8192) as u64;
        let mut reader = (&mut tls).take(limit);
        // A server that closes without TLS close_notify still sent what it sent.
        let _ = reader.read_to_end(&mut raw).await;
        parse_response(&raw)
    }

    /// A certificate check of MX `host` under a policy (`enforce`: a bad certificate stops
    /// the handshake; `testing`: it is only noted).
    pub fn check(&self, host: &str, enforce: bool) -> Result<StsCheck, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let inner =
            WebPkiServerVerifier::builder_with_provider(self.roots.clone(), provider.clone())
                .build()
                .map_err(|e| e.to_string())?;
        let verdict: Arc<Mutex<Option<&'static str>>> = Arc::default();
        let verifier = Arc::new(PolicyVerifier {
            inner,
            enforce,
            failure: verdict.clone(),
        });
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(StsCheck {
            host: host.to_owned(),
            enforce,
            config: Arc::new(config),
            failure: verdict,
            tls: Arc::default(),
            local: Arc::default(),
        })
    }
}

fn applies(policy: StsPolicy) -> Lookup {
    match policy.mode {
        StsMode::None => Lookup::None,
        _ => Lookup::Policy(policy),
    }
}

/// The system's roots and `ca_file`'s certificates.
fn trust_roots(extra: Option<&std::path::Path>) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    if let Some(path) = extra {
        let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let certs = rustls_pki_types::pem::PemObject::pem_slice_iter(&pem)
            .collect::<Result<Vec<CertificateDer<'static>>, _>>()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let (added, _) = roots.add_parsable_certificates(certs);
        if added == 0 {
            return Err(format!("{}: no CA certificate in it", path.display()));
        }
    }
    Ok(roots)
}

/// The body of an HTTP/1.1 response that must be `200` and `text/plain`.
fn parse_response(raw: &[u8]) -> Result<String, String> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no complete HTTP response")?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut lines = head.lines();
    let status = lines.next().unwrap_or_default();
    if status.split_whitespace().nth(1) != Some("200") {
        return Err(format!("HTTP {status}"));
    }
    let header = |name: &str| {
        head.lines().skip(1).find_map(|l| {
            let (key, value) = l.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_ascii_lowercase())
        })
    };
    if !header("content-type").is_some_and(|t| t.starts_with("text/plain")) {
        return Err("the policy is not text/plain".into());
    }
    let mut body = raw[split + 4..].to_vec();
    if header("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
        body = dechunk(&body).ok_or("bad chunked encoding")?;
    }
    if body.len() > POLICY_MAX {
        return Err("the policy is too large".into());
    }
    String::from_utf8(body).map_err(|_| "the policy is not UTF-8".into())
}

fn dechunk(mut body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n")?;
        let size = std::str::from_utf8(&body[..line_end]).ok()?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(body.get(..size)?);
        body = body.get(size + 2..)?;
    }
}

/// One connection's certificate check under a policy, and what it found.
pub(crate) struct StsCheck {
    /// The MX name the certificate must be valid for.
    pub host: String,
    pub enforce: bool,
    pub config: Arc<rustls::ClientConfig>,
    /// The TLS-RPT result type of a failed check.
    failure: Arc<Mutex<Option<&'static str>>>,
    /// Whether TLS was negotiated at all.
    tls: Arc<Mutex<bool>>,
    /// Our end of the connection (the report's `sending-mta-ip`).
    local: Arc<Mutex<Option<std::net::IpAddr>>>,
}

impl StsCheck {
    pub fn note_failure(&self, result_type: &'static str) {
        *self.failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(result_type);
    }

    pub fn note_local(&self, ip: std::net::IpAddr) {
        *self.local.lock().unwrap_or_else(|e| e.into_inner()) = Some(ip);
    }

    pub fn local(&self) -> Option<std::net::IpAddr> {
        *self.local.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn note_tls(&self) {
        *self.tls.lock().unwrap_or_else(|e| e.into_inner()) = true;
    }

    pub fn failure(&self) -> Option<&'static str> {
        *self.failure.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `None`: the session never got as far as TLS (nothing to report); else its result.
    pub fn outcome(&self) -> Option<Result<(), &'static str>> {
        match self.failure() {
            Some(failure) => Some(Err(failure)),
            None if *self.tls.lock().unwrap_or_else(|e| e.into_inner()) => Some(Ok(())),
            None => None,
        }
    }
}

#[derive(Debug)]
struct PolicyVerifier {
    inner: Arc<WebPkiServerVerifier>,
    enforce: bool,
    failure: Arc<Mutex<Option<&'static str>>>,
}

/// RFC 8460 4.3's result type for a certificate rustls refused.
fn result_type(error: &rustls::Error) -> &'static str {
    match error {
        rustls::Error::InvalidCertificate(e) => match e {
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                "certificate-host-mismatch"
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "certificate-expired"
            }
            CertificateError::UnknownIssuer => "certificate-not-trusted",
            _ => "validation-failure",
        },
        _ => "validation-failure",
    }
}

impl ServerCertVerifier for PolicyVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Ok(verified) => Ok(verified),
            Err(e) => {
                *self.failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(result_type(&e));
                if self.enforce {
                    Err(e)
                } else {
                    Ok(ServerCertVerified::assertion())
                }
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_must_be_200_plain_text() {
        let ok =
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nversion: STSv1\r\n";
        assert_eq!(parse_response(ok).unwrap(), "version: STSv1\r\n");
        let chunked = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nvers\r\n3\r\nion\r\n0\r\n\r\n";
        assert_eq!(parse_response(chunked).unwrap(), "version");
        let moved =
            b"HTTP/1.1 301 Moved\r\nLocation: https://x/\r\nContent-Type: text/plain\r\n\r\n";
        assert!(parse_response(moved).unwrap_err().contains("301"));
        let html = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\nversion: STSv1\r\n";
        assert!(parse_response(html).is_err());
    }
}
