//! `hermod serve`: bind, drop privileges, open the store, serve until a signal.

use anyhow::{Context, Result};
use hermod_config::{Config, StoreBackend};
use hermod_server::{Listeners, Server};
use hermod_store::{PostgresOptions, PostgresStore, Store};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::signal::unix::{SignalKind, signal};

pub fn serve(config: Config) -> Result<()> {
    init_logging();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(config))
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}

async fn run(config: Config) -> Result<()> {
    let listeners = Listeners::bind(&config).await?;
    drop_privileges(config.run_as.as_deref())?;
    let store = open_store(&config).await?;
    let server = Server::new(config, listeners, store)?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tracing::info!("hermod {} started", env!("CARGO_PKG_VERSION"));
    server
        .run(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        })
        .await;
    tracing::info!("hermod stopped");
    Ok(())
}

/// The store `[store] backend` names, opened as the user hermod runs as.
async fn open_store(config: &Config) -> Result<Arc<dyn Store>> {
    match config.store.backend {
        StoreBackend::Sqlite => open_embedded(config.data_dir.clone()).await,
        StoreBackend::Postgres => open_postgres(config).await,
    }
}

async fn open_embedded(data_dir: PathBuf) -> Result<Arc<dyn Store>> {
    let store = tokio::task::spawn_blocking(move || -> Result<_> {
        let store = hermod_store::SqliteStore::open(&data_dir)
            .with_context(|| format!("cannot open the store in {}", data_dir.display()))?;
        let swept = store.sweep()?;
        if swept > 0 {
            tracing::info!(
                files = swept,
                "removed files left behind by an interrupted delivery"
            );
        }
        Ok(store)
    })
    .await??;
    Ok(Arc::new(hermod_store::EmbeddedStore::new(Arc::new(store))))
}

async fn open_postgres(config: &Config) -> Result<Arc<dyn Store>> {
    // While a role of the PostgreSQL backend is still a placeholder, a node on it would
    // fail mail it accepted: refused here, the one place (the last role's merge drops it).
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
        pool_size: settings.pool_size,
        connect_timeout: settings.connect_timeout,
        ca_file: settings.ca_file.clone(),
        // Large bodies being received wait here, on this node, until they are stored.
        tmp_dir: config.data_dir.join("tmp"),
    };
    let store = PostgresStore::connect(&options)
        .await
        .context("cannot open the PostgreSQL store ([store] url)")?;
    tracing::info!("using the PostgreSQL store");
    Ok(Arc::new(store))
}

/// After the sockets are bound, run as `run_as` (ports below 1024 need root; mail does not).
fn drop_privileges(run_as: Option<&str>) -> Result<()> {
    use nix::unistd::{Uid, User, setgid, setgroups, setuid};
    let Some(name) = run_as else {
        if Uid::effective().is_root() {
            tracing::warn!("running as root: set run_as in the configuration to drop privileges");
        }
        return Ok(());
    };
    if !Uid::effective().is_root() {
        tracing::warn!(
            run_as = name,
            "not root, so run_as cannot switch users; keeping the current user"
        );
        return Ok(());
    }
    let user = User::from_name(name)?.with_context(|| format!("run_as: no such user {name:?}"))?;
    setgroups(&[user.gid]).context("run_as: setgroups")?;
    setgid(user.gid).context("run_as: setgid")?;
    setuid(user.uid).context("run_as: setuid")?;
    tracing::info!(user = name, "dropped privileges");
    Ok(())
}
