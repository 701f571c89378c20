//! `hermod serve`: bind, drop privileges, open the store, serve until a signal.

use anyhow::{Context, Result};
use hermod_config::Config;
use hermod_server::{Listeners, Server};
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
        .fmt_fields(crate::logfields::PlainFields)
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}

async fn run(config: Config) -> Result<()> {
    let listeners = Listeners::bind(&config).await?;
    drop_privileges(config.run_as.as_deref())?;
    // Held until the server stops: `hermod store migrate` waits for no server.
    let _lock = crate::store::lock_data_dir(&config.data_dir, crate::store::Holder::Server)?;
    let store = crate::store::open(&config, crate::store::Opener::Server).await?;
    let server = Server::new(config, listeners, store).await?;
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
