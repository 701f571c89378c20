//! `hermod sieve`: each user's Sieve scripts (the filters run at delivery), managed from
//! the shell with the same checks as ManageSieve.

use crate::admin::parse_address;
use anyhow::{Context, Result, bail};
use clap::Subcommand;
use hermod_config::Config;
use hermod_core::sieve::{SieveEngine, put_script};
use hermod_store::{Store, UserRecord};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum SieveAction {
    /// Store FILE as the user's script NAME (replacing one of that name); it must compile.
    Put {
        address: String,
        name: String,
        file: PathBuf,
    },
    /// Print the user's script NAME.
    Get { address: String, name: String },
    /// The user's scripts, the active one marked with "active".
    List { address: String },
    /// Make NAME the script that runs at delivery (`--none`: no script runs).
    Activate {
        address: String,
        #[arg(required_unless_present = "none")]
        name: Option<String>,
        #[arg(long, conflicts_with = "name")]
        none: bool,
    },
    /// Delete the user's script NAME (not the active one).
    Delete { address: String, name: String },
    /// Compile FILE without storing it: errors with line and column, exit status 1.
    Check { file: PathBuf },
}

pub async fn sieve(config: &Config, store: &dyn Store, action: SieveAction) -> Result<()> {
    let engine = hermod_server::sieve_engine(config).map_err(anyhow::Error::msg)?;
    if let SieveAction::Check { file } = &action {
        let text = read(file)?;
        engine
            .check(&text)
            .with_context(|| format!("{}", file.display()))?;
        println!("{}: ok", file.display());
        return Ok(());
    }
    match action {
        SieveAction::Put {
            address,
            name,
            file,
        } => put(store, &engine, &address, &name, &file).await,
        SieveAction::Get { address, name } => {
            let user = user(store, &address).await?;
            let Some(text) = store.sieve_get(user.id, &name).await? else {
                bail!("{} has no script named {name:?}", user.address);
            };
            std::io::stdout().write_all(&text)?;
            Ok(())
        }
        SieveAction::List { address } => {
            let user = user(store, &address).await?;
            for script in store.sieve_list(user.id).await? {
                let active = if script.active { " active" } else { "" };
                println!("{} {}{active}", script.name, script.size);
            }
            Ok(())
        }
        SieveAction::Activate { address, name, .. } => {
            let user = user(store, &address).await?;
            store.sieve_activate(user.id, name.as_deref()).await?;
            Ok(())
        }
        SieveAction::Delete { address, name } => {
            let user = user(store, &address).await?;
            Ok(store.sieve_delete(user.id, &name).await?)
        }
        SieveAction::Check { .. } => unreachable!("handled above"),
    }
}

async fn put(
    store: &dyn Store,
    engine: &SieveEngine,
    address: &str,
    name: &str,
    file: &Path,
) -> Result<()> {
    let user = user(store, address).await?;
    let text = read(file)?;
    put_script(store, engine, user.id, &user.address, name, &text)
        .await
        .with_context(|| format!("{}", file.display()))?;
    Ok(())
}

fn read(file: &Path) -> Result<Vec<u8>> {
    std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))
}

async fn user(store: &dyn Store, address: &str) -> Result<UserRecord> {
    let address = parse_address(address)?;
    store
        .user(&address)
        .await?
        .with_context(|| format!("no such user: {address}"))
}
