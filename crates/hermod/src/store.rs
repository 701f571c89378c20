//! Opening the store `[store] backend` names: one way for `hermod serve` and for every
//! management command, so a command never works on an SQLite file while the server runs
//! on PostgreSQL.

use anyhow::{Context, Result, bail};
use hermod_config::{Config, StoreBackend};
use hermod_store::{PostgresOptions, PostgresStore, Store};
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

/// Who opens the store: the server cleans up after an interrupted delivery, a command must
/// not (the running server's deliveries in flight would look interrupted to it).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Opener {
    Server,
    Command,
}

/// The store of `config`, as its `[store]` section says.
pub async fn open(config: &Config, opener: Opener) -> Result<Arc<dyn Store>> {
    match config.store.backend {
        StoreBackend::Sqlite => open_embedded(config.data_dir.clone(), opener).await,
        StoreBackend::Postgres => open_postgres(config, opener).await,
    }
}

/// Runs a management command's async work on a small runtime of its own.
pub fn block_on<T>(work: impl Future<Output = Result<T>>) -> Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(work)
}

/// Refuses `command` unless the store is the embedded one: for commands that copy the
/// embedded store's files (`instead`: what to use on PostgreSQL).
pub fn embedded_only(config: &Config, command: &str, instead: &str) -> Result<()> {
    if config.store.backend == StoreBackend::Postgres {
        bail!(
            "`hermod {command}` copies the embedded store's files, and this server's store is \
             PostgreSQL ([store] backend = \"postgres\"): {instead}"
        );
    }
    Ok(())
}

async fn open_embedded(data_dir: PathBuf, opener: Opener) -> Result<Arc<dyn Store>> {
    let store = tokio::task::spawn_blocking(move || -> Result<_> {
        let store = hermod_store::SqliteStore::open(&data_dir)
            .with_context(|| format!("cannot open the store in {}", data_dir.display()))?;
        if opener == Opener::Server {
            let swept = store.sweep()?;
            if swept > 0 {
                tracing::info!(
                    files = swept,
                    "removed files left behind by an interrupted delivery"
                );
            }
        }
        Ok(store)
    })
    .await??;
    Ok(Arc::new(hermod_store::EmbeddedStore::new(Arc::new(store))))
}

async fn open_postgres(config: &Config, opener: Opener) -> Result<Arc<dyn Store>> {
    // While a role of the PostgreSQL backend is still a placeholder, a node on it would
    // fail mail it accepted: refused here, the one place.
    anyhow::ensure!(
        !hermod_store::POSTGRES_INCOMPLETE,
        "[store] backend = \"postgres\" is not finished in this version of hermod (some of \
         its parts are still being written); use backend = \"sqlite\""
    );
    let settings = &config.store;
    let url = settings
        .url
        .clone()
        .context("[store] url is required with backend = \"postgres\"")?;
    let options = PostgresOptions {
        url,
        // A command makes a few queries one after another: one connection is plenty.
        pool_size: match opener {
            Opener::Server => settings.pool_size,
            Opener::Command => 2,
        },
        connect_timeout: settings.connect_timeout,
        ca_file: settings.ca_file.clone(),
        // Large bodies being received wait here, on this node, until they are stored.
        tmp_dir: config.data_dir.join("tmp"),
    };
    let store = PostgresStore::connect(&options)
        .await
        .context("cannot open the PostgreSQL store ([store] url)")?;
    if opener == Opener::Server {
        tracing::info!("using the PostgreSQL store");
    }
    Ok(Arc::new(store))
}

/// The data directory's lock file: `hermod serve` holds it shared while it runs, `hermod
/// store migrate` exclusively, so a migration never copies a store a server is changing
/// (and a server does not start on a store being migrated). flock(2) locks go with the
/// process, so a killed server leaves nothing to clean up.
const LOCK_FILE: &str = "hermod.lock";

/// Who holds the data directory.
pub enum Holder {
    Server,
    Migration,
}

/// Locks the data directory for `holder`, or says who is in the way. Keep the file open as
/// long as the lock is needed.
pub fn lock_data_dir(data_dir: &std::path::Path, holder: Holder) -> Result<std::fs::File> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create {}", data_dir.display()))?;
    let path = data_dir.join(LOCK_FILE);
    // Read-only once it exists: the server may run as another user than who made it.
    let file = match std::fs::File::open(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path),
        opened => opened,
    }
    .with_context(|| format!("cannot open {}", path.display()))?;
    let locked = match holder {
        Holder::Server => file.try_lock_shared(),
        Holder::Migration => file.try_lock(),
    };
    match (locked, holder) {
        (Ok(()), _) => Ok(file),
        (Err(std::fs::TryLockError::WouldBlock), Holder::Server) => bail!(
            "{} is being migrated (`hermod store migrate`): start the server once it is done",
            data_dir.display()
        ),
        (Err(std::fs::TryLockError::WouldBlock), Holder::Migration) => bail!(
            "{} is in use by a running hermod server: stop it before migrating",
            data_dir.display()
        ),
        (Err(std::fs::TryLockError::Error(e)), _) => {
            Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}
