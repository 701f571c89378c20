//! The bulk guard's memory on SQLite: clusters of one content per scope (an account, or
//! inbound mail), found again through their MinHash band keys, with their most recent
//! recipients (see `crate::bulk` for the model). Runs on the counters connection, one
//! transaction per sighting.

use crate::bulk::{self, CANDIDATES_PER_BAND, COMPARED, Candidate, FORGET_BATCH, Known};
use crate::{BulkCount, BulkSighting, Result};
use rusqlite::{Connection, OptionalExtension, params};

/// Runs `work` in one immediate transaction whose BEGIN and COMMIT are prepared once
/// (rusqlite's `transaction` parses them on every call, a visible share of a sighting);
/// rolled back unless it succeeds, a panic included.
pub(crate) fn in_transaction<T>(
    conn: &Connection,
    work: impl FnOnce(&Connection) -> Result<T>,
) -> Result<T> {
    struct Open<'c>(&'c Connection, bool);
    impl Drop for Open<'_> {
        fn drop(&mut self) {
            if !self.1 {
                let _ = self
                    .0
                    .prepare_cached("ROLLBACK")
                    .and_then(|mut s| s.execute([]));
            }
        }
    }
    conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
    let mut open = Open(conn, false);
    let value = work(conn)?;
    conn.prepare_cached("COMMIT")?.execute([])?;
    open.1 = true;
    Ok(value)
}

/// Records `sighting` in its content's cluster (joining the closest cluster of its scope
/// still in the window, or starting one) and counts what the cluster's copies reached.
pub(crate) fn observe(conn: &Connection, sighting: &BulkSighting) -> Result<BulkCount> {
    forget_expired(conn, sighting.at)?;
    match bulk::closest(candidates(conn, sighting)?, sighting) {
        Some(found) => join(conn, found, sighting),
        None => start(conn, sighting),
    }
}

/// Counts the sighting in a cluster that had copies before.
fn join(conn: &Connection, cluster: Candidate, sighting: &BulkSighting) -> Result<BulkCount> {
    let in_window: i64 = conn
        .prepare_cached(
            "SELECT count(*) FROM bulk_recipients WHERE cluster_id = ?1 AND last_seen >= ?2",
        )?
        .query_row(params![cluster.id, sighting.since], |r| r.get(0))?;
    let recipients = bulk::distinct_recipients(sighting);
    let mut known = Vec::with_capacity(recipients.len());
    let mut last_seen = conn.prepare_cached(
        "SELECT last_seen FROM bulk_recipients WHERE cluster_id = ?1 AND recipient = ?2",
    )?;
    let mut upsert = conn.prepare_cached(
        "INSERT INTO bulk_recipients (cluster_id, recipient, last_seen) VALUES (?1, ?2, ?3)
         ON CONFLICT (cluster_id, recipient) DO UPDATE
         SET last_seen = max(last_seen, excluded.last_seen)",
    )?;
    for recipient in &recipients {
        let seen = last_seen
            .query_row(params![cluster.id, recipient], |r| r.get(0))
            .optional()?;
        known.push(Known::of(seen, sighting.since));
        upsert.execute(params![cluster.id, recipient, sighting.at])?;
    }
    let tally = bulk::tally(cluster.kept, in_window as u64, &known, sighting.cap);
    if tally.evict > 0 {
        evict_oldest(conn, cluster.id, tally.evict)?;
    }
    conn.prepare_cached(
        "UPDATE bulk_clusters SET sightings = sightings + 1, last_at = max(last_at, ?2),
             expires = max(expires, ?3), kept = ?4
         WHERE id = ?1",
    )?
    .execute(params![
        cluster.id,
        sighting.at,
        sighting.at.saturating_add(bulk::memory(sighting)),
        tally.kept
    ])?;
    Ok(BulkCount {
        copies: cluster.sightings as u64,
        before: tally.before,
        after: tally.after,
    })
}

/// Deletes a cluster's `evict` least recently sent recipients.
fn evict_oldest(conn: &Connection, cluster: i64, evict: i64) -> Result<()> {
    conn.prepare_cached(
        "DELETE FROM bulk_recipients WHERE cluster_id = ?1 AND recipient IN
             (SELECT recipient FROM bulk_recipients WHERE cluster_id = ?1
              ORDER BY last_seen LIMIT ?2)",
    )?
    .execute(params![cluster, evict])?;
    Ok(())
}

/// Deletes every cluster of a scope (an account being removed), its bands and recipients
/// by cascade.
pub(crate) fn forget_scope(conn: &Connection, scope: i64) -> Result<()> {
    conn.prepare_cached("DELETE FROM bulk_clusters WHERE scope = ?1")?
        .execute([scope])?;
    Ok(())
}

/// Deletes a few clusters whose memory ran out (of any scope: an account that stopped
/// sending is never probed again), their bands and recipients by cascade.
fn forget_expired(conn: &Connection, now: i64) -> Result<()> {
    conn.prepare_cached(
        "DELETE FROM bulk_clusters WHERE id IN
             (SELECT id FROM bulk_clusters WHERE expires < ?1 ORDER BY expires LIMIT ?2)",
    )?
    .execute(params![now, FORGET_BATCH])?;
    Ok(())
}

/// The few clusters of the sighting's scope its band keys point at most (each key's newest
/// few; see `bulk::COMPARED`), with their signatures, of those that had a copy in the
/// window. Ranked here rather than in SQL: a statement ranking twenty keys' lists made a
/// temporary table per key, dearer than the reads it saved.
fn candidates(conn: &Connection, sighting: &BulkSighting) -> Result<Vec<Candidate>> {
    let scope = sighting.scope.key();
    let mut probe = conn.prepare_cached(
        "SELECT cluster_id FROM bulk_bands WHERE scope = ?1 AND band = ?2
         ORDER BY cluster_id DESC LIMIT ?3",
    )?;
    let mut pointed = bulk::Pointers::default();
    for band in &sighting.bands {
        let ids: Vec<i64> = probe
            .query_map(params![scope, band, CANDIDATES_PER_BAND], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        pointed.add_key(&ids);
    }
    let mut read = conn.prepare_cached(
        "SELECT signature, sightings, kept FROM bulk_clusters WHERE id = ?1 AND last_at >= ?2",
    )?;
    let mut found = Vec::with_capacity(COMPARED as usize);
    for id in pointed.most(COMPARED as usize) {
        let row = read
            .query_row(params![id, sighting.since], |r| {
                Ok(Candidate {
                    id,
                    signature: r.get(0)?,
                    sightings: r.get(1)?,
                    kept: r.get(2)?,
                })
            })
            .optional()?;
        found.extend(row);
    }
    Ok(found)
}

/// Band rows written by one statement: a fingerprint's 20 at once (a statement per row
/// cost a step, a reset and its bindings each).
const BANDS_PER_INSERT: usize = 32;

/// The statement inserting `rows` band keys (`?3` on) of scope `?1` for cluster `?2`.
fn band_insert(rows: usize) -> String {
    let mut sql =
        String::from("INSERT OR IGNORE INTO bulk_bands (scope, band, cluster_id) VALUES ");
    for row in 0..rows {
        let separator = if row == 0 { "" } else { ", " };
        sql.push_str(&format!("{separator}(?1, ?{}, ?2)", row + 3));
    }
    sql
}

/// A new cluster holding the sighting's signature, bands and recipients (at most the cap
/// of them: all were sent a copy now, so which are kept makes no difference), counting it.
fn start(conn: &Connection, sighting: &BulkSighting) -> Result<BulkCount> {
    let scope = sighting.scope.key();
    let recipients = bulk::distinct_recipients(sighting);
    let tally = bulk::tally(0, 0, &vec![Known::No; recipients.len()], sighting.cap);
    conn.prepare_cached(
        "INSERT INTO bulk_clusters (scope, signature, sightings, last_at, expires, kept)
         VALUES (?1, ?2, 1, ?3, ?4, ?5)",
    )?
    .execute(params![
        scope,
        sighting.signature,
        sighting.at,
        sighting.at.saturating_add(bulk::memory(sighting)),
        tally.kept
    ])?;
    let id = conn.last_insert_rowid();
    for keys in sighting.bands.chunks(BANDS_PER_INSERT) {
        conn.prepare_cached(&band_insert(keys.len()))?
            .execute(rusqlite::params_from_iter([scope, id].iter().chain(keys)))?;
    }
    let mut recipient = conn.prepare_cached(
        "INSERT INTO bulk_recipients (cluster_id, recipient, last_seen) VALUES (?1, ?2, ?3)",
    )?;
    for to in recipients.iter().take(tally.kept as usize) {
        recipient.execute(params![id, to, sighting.at])?;
    }
    Ok(BulkCount {
        copies: 0,
        before: tally.before,
        after: tally.after,
    })
}

#[cfg(test)]
mod tests {
    use crate::sqlite::{counters, schema};

    /// An index of version 14 (the per-message rows the guard kept then) or 17 (clusters)
    /// upgrades: its bulk tables are dropped, and counting starts afresh in `bulk.db`.
    #[test]
    fn an_older_store_upgrades() {
        for (version, rows) in [
            (
                14,
                "INSERT INTO bulk_messages (id, scope, at, signature) VALUES (1, 0, 5, x'00');
                 INSERT INTO bulk_bands (scope, band, message_id) VALUES (0, 9, 1);
                 INSERT INTO bulk_recipients (message_id, recipient) VALUES (1, 'a@x.test');",
            ),
            (
                17,
                "INSERT INTO bulk_clusters VALUES (1, 0, x'00', 1, 5, 9, 1);
                 INSERT INTO bulk_bands (scope, band, cluster_id) VALUES (0, 9, 1);
                 INSERT INTO bulk_recipients VALUES (1, 'a@x.test', 5);",
            ),
        ] {
            let mut conn = rusqlite::Connection::open_in_memory().unwrap();
            conn.pragma_update(None, "foreign_keys", "ON").unwrap();
            schema::migrate_partially(&conn, version).unwrap();
            conn.execute_batch(rows).unwrap();
            schema::migrate(&mut conn).unwrap();
            let left: i64 = conn
                .query_row(
                    "SELECT count(*) FROM sqlite_schema WHERE name LIKE 'bulk%'",
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(left, 0, "version {version}");
        }
    }

    /// The statements on the hot path use their indexes, never a scan of a bulk table.
    #[test]
    fn every_probe_is_an_index_search() {
        let dir = tempfile::tempdir().unwrap();
        let conn = counters::open(dir.path()).unwrap();
        let statements = [
            "DELETE FROM bulk_clusters WHERE id IN
                 (SELECT id FROM bulk_clusters WHERE expires < 1 ORDER BY expires LIMIT 4)",
            "SELECT count(*) FROM bulk_recipients WHERE cluster_id = 1 AND last_seen >= 2",
            "SELECT last_seen FROM bulk_recipients WHERE cluster_id = 1 AND recipient = 'a'",
            "DELETE FROM bulk_recipients WHERE cluster_id = 1 AND recipient IN
                 (SELECT recipient FROM bulk_recipients WHERE cluster_id = 1
                  ORDER BY last_seen LIMIT 1)",
            "SELECT cluster_id FROM bulk_bands WHERE scope = 1 AND band = 2
             ORDER BY cluster_id DESC LIMIT 8",
            "SELECT signature FROM bulk_clusters WHERE id = 1 AND last_at >= 2",
            "DELETE FROM bulk_bands WHERE cluster_id = 1",
            "DELETE FROM bulk_clusters WHERE scope = 1",
        ];
        for sql in statements {
            let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let plan: Vec<String> = stmt
                .query_map([], |r| r.get::<_, String>(3))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap();
            assert!(
                plan.iter()
                    .all(|step| !step.starts_with("SCAN") && !step.contains("TEMP B-TREE")),
                "{sql}: {plan:?}"
            );
        }
    }
}
