//! Versioned schema migrations, applied at start under an advisory lock so that of several
//! nodes starting at once one migrates and the others find the work done.
//!
//! Each migration is one SQL file in `schema/`, applied in its own transaction with the
//! version it brings recorded in `schema_version`. Append new files; never edit one that
//! has shipped.

use crate::{Result, StoreError};
use deadpool_postgres::Pool;

/// (version, SQL), in order. Versions are this backend's own (not the embedded store's).
const MIGRATIONS: &[(i32, &str)] = &[
    (1, include_str!("schema/001_directory.sql")),
    (2, include_str!("schema/002_mail.sql")),
    (3, include_str!("schema/003_queue.sql")),
    (4, include_str!("schema/004_spam.sql")),
    (5, include_str!("schema/005_scripts.sql")),
    (6, include_str!("schema/006_lists.sql")),
    (7, include_str!("schema/007_coordination.sql")),
    (8, include_str!("schema/008_accounts.sql")),
    (9, include_str!("schema/009_secrets.sql")),
    (10, include_str!("schema/010_spam_settings.sql")),
    (11, include_str!("schema/011_bulk_clusters.sql")),
    (12, include_str!("schema/012_spam_calibration.sql")),
    (13, include_str!("schema/013_correspondents.sql")),
];

/// Any number that no other program on the database would pick: "hermod" in ASCII.
const MIGRATION_LOCK: i64 = 0x6865_726d_6f64;

pub(super) async fn migrate(pool: &Pool) -> Result<()> {
    let mut client = pool.get().await?;
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    let outcome = apply(&mut client).await;
    // Unlocked even when a migration failed (the session may live on in the pool).
    let unlocked = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await;
    outcome?;
    unlocked?;
    Ok(())
}

async fn apply(client: &mut deadpool_postgres::Object) -> Result<()> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_version (
                 version integer PRIMARY KEY,
                 applied_at timestamptz NOT NULL DEFAULT now()
             )",
        )
        .await?;
    let row = client
        .query_one("SELECT coalesce(max(version), 0) FROM schema_version", &[])
        .await?;
    let current: i32 = row.get(0);
    let newest = MIGRATIONS.last().map_or(0, |m| m.0);
    if current > newest {
        return Err(StoreError::Corrupt(format!(
            "the database's schema is version {current}, newer than this hermod knows \
             ({newest}): upgrade hermod on this node"
        )));
    }
    for (version, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        let tx = client.transaction().await?;
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES ($1)",
            &[version],
        )
        .await?;
        tx.commit().await?;
        tracing::info!(version, "applied a PostgreSQL schema migration");
    }
    Ok(())
}
