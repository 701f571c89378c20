//! Accounts for a benchmark, made through the store's roles as `hermod user add` makes them,
//! but with one argon2 hash for all: every account has the same password, so each login
//! still costs a real argon2 check while creating thousands of accounts does not take
//! thousands of hashes (about 50 ms each). In an embedded store (the server not running)
//! or a PostgreSQL one.

use anyhow::{Context, Result};
use hermod_store::{Directory, EmbeddedStore, PostgresOptions, PostgresStore};
use hermod_types::{Address, Domain};
use std::path::PathBuf;

/// Where the accounts go.
pub enum Target {
    /// The embedded store in this data directory.
    Embedded(PathBuf),
    /// A PostgreSQL store at this URL.
    Postgres(String),
}

/// The store a command works on: `--url` or `--data-dir`, one of them.
#[derive(clap::Args)]
pub struct StoreArgs {
    /// A PostgreSQL store.
    #[arg(
        long,
        required_unless_present = "data_dir",
        conflicts_with = "data_dir"
    )]
    url: Option<String>,
    /// An embedded store's data directory (the server not running).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

impl StoreArgs {
    pub fn target(self) -> Result<Target> {
        match (self.url, self.data_dir) {
            (Some(url), _) => Ok(Target::Postgres(url)),
            (None, Some(dir)) => Ok(Target::Embedded(dir)),
            (None, None) => anyhow::bail!("--url or --data-dir"),
        }
    }
}

pub async fn create(target: Target, users: usize, domain: &str, password: &str) -> Result<()> {
    let domain = Domain::parse(domain)?;
    match target {
        Target::Embedded(dir) => {
            let store = tokio::task::spawn_blocking(move || EmbeddedStore::open(&dir))
                .await?
                .context("opening the embedded store")?;
            add(&store, users, &domain, password).await?;
        }
        Target::Postgres(url) => {
            let spill = std::env::temp_dir().join(format!("loadgen-pg-{}", std::process::id()));
            let mut options = PostgresOptions::new(&url);
            options.tmp_dir = spill.clone();
            let store = PostgresStore::connect(&options)
                .await
                .context("connecting to the database")?;
            add(&store, users, &domain, password).await?;
            let _ = std::fs::remove_dir_all(spill);
        }
    }
    println!("workload=users users={users}");
    Ok(())
}

/// The domain (unless the store has it: `hermod domain add` also makes its DKIM keys) and
/// user1..userN in it.
async fn add(store: &dyn Directory, users: usize, domain: &Domain, password: &str) -> Result<()> {
    if !store.is_local_domain(domain).await? {
        store.add_domain(domain).await?;
    }
    let hash = hermod_core::auth::hash_password(password)?;
    for u in 1..=users {
        let address = Address::parse(&format!("user{u}@{domain}"))?;
        store.add_user(&address, &hash, None).await?;
    }
    Ok(())
}
