//! The bulk guard's own database file, `bulk.db` beside the index: its clusters, band keys
//! and recipients (see `crate::bulk`), written for every submission and every scanned
//! inbound message.
//!
//! Why a file of its own: a new cluster writes about 25 pages (its 20 band keys land in 20
//! random leaves of the band index), and in the index's WAL every one of them rode on the
//! next delivery's FULL fsync and was copied again by its checkpoint, several times the
//! delivery's own pages. Here they are committed with `synchronous=NORMAL` (no fsync per
//! commit; a power cut can forget the last seconds of counting, which lets a few more
//! copies pass and can never lose or corrupt mail), in 1 KiB pages (a band row is about 20
//! bytes, so a dirty leaf costs a quarter of the WAL a 4 KiB page did), and checkpointed by
//! the store's checkpoint thread. A backup leaves the file out: the guard's memory is one
//! window, and a restored store starts counting afresh.

use super::schema;
use crate::{Result, StoreError};
use rusqlite::Connection;
use std::path::{Path, PathBuf};

/// The file's name in the data directory.
pub(crate) const FILE: &str = "bulk.db";

/// The tables the file holds (the index has none of them since its version 18).
pub(crate) const TABLES: [&str; 3] = ["bulk_clusters", "bulk_bands", "bulk_recipients"];

/// Page size of a new file (an existing one keeps its own).
const PAGE_SIZE: i64 = 1024;

/// WAL pages after which the counters' own commit checkpoints what the checkpoint thread left,
/// so that the WAL starts over under steady load (as the commit thread does for the index).
const CHECKPOINT_AT: i64 = 8192;

/// Every step from an empty file to the current schema, in order (the file's own
/// `user_version`, apart from the index's).
const MIGRATIONS: [&str; 1] = [SCHEMA];

/// The tables the index held from its version 16 to 17.
const SCHEMA: &str = r#"
CREATE TABLE bulk_clusters (
    id INTEGER PRIMARY KEY,
    scope INTEGER NOT NULL,
    signature BLOB NOT NULL,
    sightings INTEGER NOT NULL,
    last_at INTEGER NOT NULL,
    expires INTEGER NOT NULL,
    kept INTEGER NOT NULL
);
CREATE INDEX bulk_clusters_by_scope ON bulk_clusters (scope);
CREATE INDEX bulk_clusters_by_expiry ON bulk_clusters (expires);
CREATE TABLE bulk_bands (
    scope INTEGER NOT NULL,
    band INTEGER NOT NULL,
    cluster_id INTEGER NOT NULL REFERENCES bulk_clusters(id) ON DELETE CASCADE,
    PRIMARY KEY (scope, band, cluster_id)
) WITHOUT ROWID;
CREATE INDEX bulk_bands_by_cluster ON bulk_bands (cluster_id);
CREATE TABLE bulk_recipients (
    cluster_id INTEGER NOT NULL REFERENCES bulk_clusters(id) ON DELETE CASCADE,
    recipient TEXT NOT NULL,
    last_seen INTEGER NOT NULL,
    PRIMARY KEY (cluster_id, recipient)
) WITHOUT ROWID;
CREATE INDEX bulk_recipients_by_time ON bulk_recipients (cluster_id, last_seen);
"#;

/// The file in `data_dir`.
pub(crate) fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE)
}

/// A connection to the file (created and brought up to date if needed) for counting.
pub(crate) fn open(data_dir: &Path) -> Result<Connection> {
    let path = path(data_dir);
    let mut conn = open_file(&path)?;
    // It names recipients, as the index does.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
        .map_err(StoreError::io(&path))?;
    migrate(&mut conn)?;
    conn.pragma_update(None, "wal_autocheckpoint", CHECKPOINT_AT)?;
    // SQLite's default cache (2 MiB) is kept on purpose: a commit that grew the file walks
    // the cache's whole hash table (`pcache1TruncateUnsafe`), and with a 16 MiB cache that
    // walk was 6% of the server's CPU under W5, more than the page reads it saved.
    // Plans made once: without this SQLite prepares a statement again after every new
    // binding of a parameter its plan looked at (a `LIMIT ?`, or the inbound scope's key 0
    // in `scope = ?`), a fifth of a sighting's work.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    Ok(conn)
}

/// A connection for the checkpoint thread (the file exists: [`open`] ran first).
pub(crate) fn open_checkpoints(data_dir: &Path) -> Result<Connection> {
    open_file(&path(data_dir))
}

fn open_file(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path)?;
    // Before anything is written: a page size is fixed once the file has its first page.
    conn.pragma_update(None, "page_size", PAGE_SIZE)?;
    schema::configure(&conn, "NORMAL")?;
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let mut version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
    while let Some(step) = usize::try_from(version)
        .ok()
        .and_then(|v| MIGRATIONS.get(v))
    {
        tx.execute_batch(step)?;
        version += 1;
    }
    if version != MIGRATIONS.len() as i64 {
        return Err(StoreError::Corrupt(format!(
            "{FILE} schema version {version} is not supported by this hermod (expects {})",
            MIGRATIONS.len()
        )));
    }
    tx.pragma_update(None, "user_version", version)?;
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_file_has_small_pages_and_its_tables() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open(dir.path()).unwrap();
        let size: i64 = conn
            .pragma_query_value(None, "page_size", |r| r.get(0))
            .unwrap();
        assert_eq!(size, PAGE_SIZE);
        let mode: String = conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        conn.execute_batch("SELECT count(*) FROM bulk_bands")
            .unwrap();
        drop(conn);
        // Opened again: nothing to migrate, the same file.
        let again = open(dir.path()).unwrap();
        let version: i64 = again
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
    }

    #[test]
    fn a_newer_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        open(dir.path())
            .unwrap()
            .pragma_update(None, "user_version", 99)
            .unwrap();
        let refused = open(dir.path()).unwrap_err();
        assert!(refused.to_string().contains("99"), "{refused}");
    }
}
