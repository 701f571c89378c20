//! TLS for every listener: the configured certificate, or a self-signed one made once.

use hermod_config::Config;
use rustls::ServerConfig;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use rustls_pki_types::{ServerName, UnixTime};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("TLS certificate {path}: {message}")]
    Pem { path: PathBuf, message: String },
    #[error("TLS setup: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("generating a self-signed certificate: {0}")]
    Generate(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The ALPN protocol of TLS-ALPN-01 (RFC 8737): a CA validating a name asks for it, and only
/// it, and must be shown the challenge certificate for that name.
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

/// The certificate every TLS listener presents. Listeners ask it at each handshake, so
/// [`CertificateHolder::replace`] (a renewed certificate) takes effect for the next
/// connection on every listener without a restart. While an ACME order is pending it also
/// holds the answers to the CA's challenges.
#[derive(Debug)]
pub struct CertificateHolder {
    current: RwLock<Arc<CertifiedKey>>,
    /// TLS-ALPN-01 certificates by server name.
    alpn_challenges: RwLock<HashMap<String, Arc<CertifiedKey>>>,
    /// HTTP-01 key authorizations by token.
    http_challenges: RwLock<HashMap<String, String>>,
}

impl CertificateHolder {
    pub fn new(key: CertifiedKey) -> CertificateHolder {
        CertificateHolder {
            current: RwLock::new(Arc::new(key)),
            alpn_challenges: RwLock::default(),
            http_challenges: RwLock::default(),
        }
    }

    pub fn replace(&self, key: CertifiedKey) {
        *write(&self.current) = Arc::new(key);
    }

    /// The certificate chain presented now (leaf first).
    pub fn chain(&self) -> Vec<CertificateDer<'static>> {
        self.current().cert.clone()
    }

    fn current(&self) -> Arc<CertifiedKey> {
        read(&self.current).clone()
    }

    /// Answers TLS-ALPN-01 handshakes for `name` with `key` until withdrawn.
    pub fn set_alpn_challenge(&self, name: &str, key: Option<CertifiedKey>) {
        let mut map = write(&self.alpn_challenges);
        match key {
            Some(key) => map.insert(name.to_ascii_lowercase(), Arc::new(key)),
            None => map.remove(&name.to_ascii_lowercase()),
        };
    }

    /// Serves `key_authorization` at `/.well-known/acme-challenge/TOKEN` until withdrawn.
    pub fn set_http_challenge(&self, token: &str, key_authorization: Option<String>) {
        let mut map = write(&self.http_challenges);
        match key_authorization {
            Some(answer) => map.insert(token.to_owned(), answer),
            None => map.remove(token),
        };
    }

    /// The key authorization for an HTTP-01 token, while its challenge is pending.
    pub fn http_challenge(&self, token: &str) -> Option<String> {
        read(&self.http_challenges).get(token).cloned()
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}

impl ResolvesServerCert for CertificateHolder {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let acme = hello
            .alpn()
            .is_some_and(|mut protocols| protocols.any(|p| p == ACME_TLS_ALPN));
        if !acme {
            return Some(self.current());
        }
        // A validation: only the challenge certificate for that name will do (RFC 8737 3);
        // none pending means failing the handshake.
        let name = hello.server_name()?.to_ascii_lowercase();
        read(&self.alpn_challenges).get(&name).cloned()
    }
}

/// The rustls configuration shared by every TLS listener (SMTP, submission, POP3, IMAP,
/// HTTPS), and the holder of its certificate.
pub fn server_config(
    config: &Config,
) -> Result<(Arc<ServerConfig>, Arc<CertificateHolder>), TlsError> {
    let (cert_path, key_path) = match (&config.tls.cert, &config.tls.key) {
        (Some(cert), Some(key)) => (cert.clone(), key.clone()),
        _ => self_signed(&config.data_dir, &config.hostname)?,
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key = load_certified_key(&cert_path, &key_path, &provider)?;
    let holder = Arc::new(CertificateHolder::new(key));
    let tls = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(holder.clone());
    Ok((Arc::new(tls), holder))
}

/// A certificate chain and its private key from PEM files, checked to belong together.
pub fn load_certified_key(
    cert_path: &Path,
    key_path: &Path,
    provider: &rustls::crypto::CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let pem_err = |path: &Path| {
        let path = path.to_owned();
        move |e: rustls_pki_types::pem::Error| TlsError::Pem {
            path,
            message: e.to_string(),
        }
    };
    let certs = CertificateDer::pem_file_iter(cert_path)
        .map_err(pem_err(cert_path))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem_err(cert_path))?;
    if certs.is_empty() {
        return Err(TlsError::Pem {
            path: cert_path.to_owned(),
            message: "no certificate in file".into(),
        });
    }
    let key = PrivateKeyDer::from_pem_file(key_path).map_err(pem_err(key_path))?;
    Ok(CertifiedKey::from_der(certs, key, provider)?)
}

/// `data_dir/tls/{cert,key}.pem`, generated for `hostname` on first use and kept, so clients
/// that pinned it keep working across restarts.
fn self_signed(data_dir: &Path, hostname: &str) -> Result<(PathBuf, PathBuf), TlsError> {
    let dir = data_dir.join("tls");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    if cert.exists() && key.exists() {
        return Ok((cert, key));
    }
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| TlsError::Io { path, source }
    };
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let names = vec![hostname.to_owned(), "localhost".to_owned()];
    let made =
        rcgen::generate_simple_self_signed(names).map_err(|e| TlsError::Generate(e.to_string()))?;
    write_private(&key, made.signing_key.serialize_pem().as_bytes()).map_err(io(&key))?;
    std::fs::write(&cert, made.cert.pem()).map_err(io(&cert))?;
    tracing::info!(cert = %cert.display(), "generated a self-signed TLS certificate for {hostname}");
    Ok((cert, key))
}

pub(crate) fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(data)?;
    file.sync_all()
}

/// The client side of opportunistic TLS (RFC 3207 for relaying, and test clients): any
/// certificate is accepted, since refusing it would only push the mail to plaintext or stop
/// it. Policies that demand verified TLS (MTA-STS, DANE) need their own configuration.
pub fn opportunistic_client_config() -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate))
        .with_no_client_auth();
    Arc::new(config)
}

#[derive(Debug)]
struct AnyCertificate;

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A renewed certificate replaces the old one for every listener sharing the config.
    #[test]
    fn the_certificate_can_be_replaced_while_serving() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::defaults(dir.path().join("h.toml"), dir.path().into());
        let (_, holder) = server_config(&config).unwrap();
        let before = holder.chain();
        let made = rcgen::generate_simple_self_signed(vec!["renewed.example.test".into()]).unwrap();
        let (cert, key) = (dir.path().join("new.pem"), dir.path().join("new.key"));
        std::fs::write(&cert, made.cert.pem()).unwrap();
        std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
        let provider = rustls::crypto::ring::default_provider();
        holder.replace(load_certified_key(&cert, &key, &provider).unwrap());
        assert_ne!(holder.chain(), before);
        assert_eq!(holder.chain()[0].as_ref(), made.cert.der().as_ref());
        // A key that does not belong to the certificate is refused, not installed.
        let other = rcgen::generate_simple_self_signed(vec!["x.test".into()]).unwrap();
        std::fs::write(&key, other.signing_key.serialize_pem()).unwrap();
        assert!(load_certified_key(&cert, &key, &provider).is_err());
    }
}
