//! `hermod sieve`: each user's Sieve scripts (the filters run at delivery), managed from
//! the shell with the same checks as ManageSieve.

use crate::admin::{open_store, parse_address};
use anyhow::{Context, Result, bail};
use clap::Subcommand;
use hermod_config::Config;
use hermod_core::sieve::{SieveEngine, put_script};
use hermod_store::{BlockingStore, EmbeddedStore, Scripts, SqliteStore, UserRecord};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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

pub fn sieve(config: &Config, action: SieveAction) -> Result<()> {
    let engine = hermod_server::sieve_engine(config).map_err(anyhow::Error::msg)?;
    if let SieveAction::Check { file } = &action {
        let text = read(file)?;
        engine
            .check(&text)
            .with_context(|| format!("{}", file.display()))?;
        println!("{}: ok", file.display());
        return Ok(());
    }
    let store = open_store(config)?;
    match action {
        SieveAction::Put {
            address,
            name,
            file,
        } => put(store, &engine, &address, &name, &file),
        SieveAction::Get { address, name } => {
            let user = user(&store, &address)?;
            let Some(text) = store.sieve_get(user.id, &name)? else {
                bail!("{} has no script named {name:?}", user.address);
            };
            std::io::stdout().write_all(&text)?;
            Ok(())
        }
        SieveAction::List { address } => {
            let user = user(&store, &address)?;
            for script in store.sieve_list(user.id)? {
                let active = if script.active { " active" } else { "" };
                println!("{} {}{active}", script.name, script.size);
            }
            Ok(())
        }
        SieveAction::Activate { address, name, .. } => {
            let user = user(&store, &address)?;
            store.sieve_activate(user.id, name.as_deref())?;
            Ok(())
        }
        SieveAction::Delete { address, name } => {
            let user = user(&store, &address)?;
            Ok(store.sieve_delete(user.id, &name)?)
        }
        SieveAction::Check { .. } => unreachable!("handled above"),
    }
}

fn put(
    store: SqliteStore,
    engine: &SieveEngine,
    address: &str,
    name: &str,
    file: &Path,
) -> Result<()> {
    let user = user(&store, address)?;
    let text = read(file)?;
    let store = EmbeddedStore::new(Arc::new(store));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let scripts: &dyn Scripts = &store;
    runtime
        .block_on(put_script(
            scripts,
            engine,
            user.id,
            &user.address,
            name,
            &text,
        ))
        .with_context(|| format!("{}", file.display()))?;
    Ok(())
}

fn read(file: &Path) -> Result<Vec<u8>> {
    std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))
}

fn user(store: &SqliteStore, address: &str) -> Result<UserRecord> {
    let address = parse_address(address)?;
    store
        .user(&address)?
        .with_context(|| format!("no such user: {address}"))
}
