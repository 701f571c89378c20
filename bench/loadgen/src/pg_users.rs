//! Accounts for a benchmark on PostgreSQL, made through the store's roles as `hermod user
//! add` makes them on the embedded store (that command works on the embedded store only).

use anyhow::{Context, Result};
use hermod_store::{Directory, PostgresOptions, PostgresStore};
use hermod_types::{Address, Domain};

pub async fn create(url: &str, users: usize, domain: &str, password: &str) -> Result<()> {
    let spill = std::env::temp_dir().join(format!("loadgen-pg-{}", std::process::id()));
    let mut options = PostgresOptions::new(url);
    options.tmp_dir = spill.clone();
    let store = PostgresStore::connect(&options)
        .await
        .context("connecting to the database")?;
    let domain = Domain::parse(domain)?;
    store.add_domain(&domain).await?;
    // One hash for all: argon2 is slow on purpose, and every account has the same password.
    let hash = hermod_core::auth::hash_password(password)?;
    for u in 1..=users {
        let address = Address::parse(&format!("user{u}@{domain}"))?;
        store.add_user(&address, &hash, None).await?;
    }
    let _ = std::fs::remove_dir_all(spill);
    println!("workload=pg-users users={users}");
    Ok(())
}
