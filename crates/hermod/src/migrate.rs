//! `hermod store migrate --to URL`: the embedded store into an empty PostgreSQL database.

use crate::store::{Holder, block_on, lock_data_dir};
use anyhow::{Context, Result, bail};
use clap::Subcommand;
use hermod_config::{Config, StoreBackend};
use hermod_store::{PostgresOptions, PostgresStore};

#[derive(Subcommand)]
pub enum StoreAction {
    /// Copy the embedded store (with the server stopped) into an empty PostgreSQL
    /// database, verify the copy, and say what was copied.
    Migrate {
        /// The database, as `[store] url` takes it.
        #[arg(long)]
        to: String,
    },
}

pub fn store(config: &Config, action: StoreAction) -> Result<()> {
    match action {
        StoreAction::Migrate { to } => migrate(config, &to),
    }
}

fn migrate(config: &Config, url: &str) -> Result<()> {
    if config.store.backend == StoreBackend::Postgres {
        bail!("this configuration's store is PostgreSQL already: migrate from an embedded one");
    }
    let data_dir = &config.data_dir;
    if !data_dir.join("hermod.db").is_file() {
        bail!("no embedded store in {} (no hermod.db)", data_dir.display());
    }
    let _lock = lock_data_dir(data_dir, Holder::Migration)?;
    let options = PostgresOptions {
        url: url.to_owned(),
        pool_size: 2,
        connect_timeout: config.store.connect_timeout,
        ca_file: config.store.ca_file.clone(),
        tmp_dir: data_dir.join("tmp"),
    };
    let report = block_on(async {
        let target = PostgresStore::connect(&options)
            .await
            .context("cannot open the PostgreSQL database (--to)")?;
        hermod_store::migrate_embedded(data_dir, &target)
            .await
            .context("migration failed; the database was left as it was")
    })?;
    for (table, rows) in &report.tables {
        println!("{table}: {rows} rows");
    }
    println!(
        "bodies: {} ({} bytes), each read back and compared (SHA-256)",
        report.bodies, report.body_bytes
    );
    println!("secrets: {}", report.secrets.join(", "));
    println!(
        "verified: every table's row count and a digest of its rows. Next: set [store] \
         backend = \"postgres\" and url in {}, then start hermod",
        config.path.display()
    );
    Ok(())
}
