//! From `[store] url` to a pool of connections: libpq-style URLs (several hosts,
//! `target_session_attrs=read-write`, `sslmode`), TLS with rustls on ring.

use crate::{Result, StoreError};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres_rustls::MakeRustlsConnect;

/// How to reach the database.
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// `postgres://user:password@host1,host2/db?target_session_attrs=read-write&sslmode=...`
    pub url: String,
    /// Connections per node.
    pub pool_size: usize,
    /// How long to wait for a connection (from the pool, or a new one) before failing.
    pub connect_timeout: Duration,
    /// PEM file of the certificate authorities the database's certificate must chain to;
    /// `None`: the system's (`/etc/ssl/certs/ca-certificates.crt`).
    pub ca_file: Option<PathBuf>,
    /// This node's folder for bodies being received: a body larger than
    /// [`crate::INLINE_MAX`] spills to a file here until it is stored in the database.
    /// `hermod serve` uses `data_dir/tmp`.
    pub tmp_dir: PathBuf,
}

impl PostgresOptions {
    pub fn new(url: impl Into<String>) -> PostgresOptions {
        PostgresOptions {
            url: url.into(),
            pool_size: 16,
            connect_timeout: Duration::from_secs(10),
            ca_file: None,
            tmp_dir: std::env::temp_dir().join("hermod"),
        }
    }
}

const SYSTEM_CA_FILE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Where the database is and how to talk to it: what the pool and the change listener's
/// own connection both connect with.
#[derive(Clone)]
pub(super) struct Target {
    pub config: tokio_postgres::Config,
    pub tls: MakeRustlsConnect,
}

impl Target {
    pub(super) fn new(options: &PostgresOptions) -> Result<Target> {
        let mut config: tokio_postgres::Config = options
            .url
            .parse()
            .map_err(|e| StoreError::Unavailable(format!("invalid [store] url: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(options.connect_timeout);
        }
        let tls = MakeRustlsConnect::new(client_tls(options)?);
        Ok(Target { config, tls })
    }
}

pub(super) fn pool(target: &Target, options: &PostgresOptions) -> Result<Pool> {
    let manager = Manager::from_config(
        target.config.clone(),
        target.tls.clone(),
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(options.pool_size)
        .wait_timeout(Some(options.connect_timeout))
        .create_timeout(Some(options.connect_timeout))
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .build()
        .map_err(|e| StoreError::Unavailable(format!("cannot build the connection pool: {e}")))
}

/// TLS to the database (used when `sslmode` asks for it or the server offers it).
fn client_tls(options: &PostgresOptions) -> Result<rustls::ClientConfig> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let path = options
        .ca_file
        .clone()
        .unwrap_or_else(|| PathBuf::from(SYSTEM_CA_FILE));
    let mut roots = rustls::RootCertStore::empty();
    match CertificateDer::pem_file_iter(&path) {
        Ok(certs) => {
            for cert in certs.flatten() {
                // A system bundle may hold a certificate rustls cannot use: skip it.
                let _ = roots.add(cert);
            }
        }
        // No bundle: only plaintext connections (sslmode=disable/prefer) will work, and a
        // TLS handshake fails with a clear error at connect.
        Err(e) if options.ca_file.is_none() => {
            tracing::debug!(path = %path.display(), error = %e, "no system CA bundle");
        }
        Err(e) => {
            return Err(StoreError::Unavailable(format!(
                "[store] ca_file {}: {e}",
                path.display()
            )));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Unavailable(format!("TLS setup: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}
