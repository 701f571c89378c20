//! `[store]`: where hermod keeps its data. The embedded store (SQLite and files in
//! `data_dir`) by default; PostgreSQL for several nodes sharing one database.

use crate::walker::Section;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub struct Store {
    pub backend: StoreBackend,
    /// The database (`postgres://user:password@host1,host2/db?...`, or libpq's
    /// `key=value` form); required with [`StoreBackend::Postgres`].
    pub url: Option<String>,
    /// Database connections per node.
    pub pool_size: usize,
    /// How long to wait for a database connection before failing.
    pub connect_timeout: Duration,
    /// PEM certificate authorities the database's certificate must chain to; `None`: the
    /// system's.
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreBackend {
    /// SQLite with bodies in `data_dir`: one node.
    Sqlite,
    /// PostgreSQL: any number of nodes on one database.
    Postgres,
}

impl Default for Store {
    fn default() -> Store {
        Store {
            backend: StoreBackend::Sqlite,
            url: None,
            pool_size: 16,
            connect_timeout: Duration::from_secs(10),
            ca_file: None,
        }
    }
}

pub(crate) fn read_store(root: &mut Section<'_>, store: &mut Store, base: &Path) {
    let Some(mut s) = root.section("store") else {
        return;
    };
    if let Some(backend) = s.string("backend") {
        match backend.as_str() {
            "sqlite" => store.backend = StoreBackend::Sqlite,
            "postgres" => store.backend = StoreBackend::Postgres,
            _ => s.error(
                "backend",
                format!("expected \"sqlite\" or \"postgres\", got {backend:?}"),
            ),
        }
    }
    // Absent or "": none given (a value of the wrong kind has its own error already).
    let mut missing = !s.has("url");
    if let Some(url) = s.string("url") {
        if url.is_empty() {
            missing = true;
        } else {
            match check_url(&url) {
                Ok(()) => store.url = Some(url),
                Err(message) => s.error("url", message),
            }
        }
    }
    if store.backend == StoreBackend::Postgres && missing {
        let example = "postgres://hermod@db.example.org/hermod";
        s.error(
            "url",
            format!("required with backend = \"postgres\" (such as \"{example}\")"),
        );
    }
    if let Some(n) = s.integer("pool_size", 1) {
        store.pool_size = usize::try_from(n).unwrap_or(usize::MAX);
    }
    if let Some(timeout) = s.duration("connect_timeout") {
        store.connect_timeout = timeout;
    }
    store.ca_file = s.path("ca_file", base);
    root.absorb(s);
}

/// Whether PostgreSQL's client accepts the URL, without repeating it (it may hold a
/// password) in the message.
fn check_url(url: &str) -> Result<(), String> {
    let parsed: Result<tokio_postgres::Config, _> = url.parse();
    match parsed {
        Ok(config) if config.get_hosts().is_empty() => {
            Err("names no host (postgres://USER@HOST/DATABASE)".into())
        }
        Ok(_) => Ok(()),
        Err(e) => Err(format!("not a PostgreSQL connection URL: {e}")),
    }
}
