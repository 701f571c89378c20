//! The bulk guard's memory on PostgreSQL: clusters of one content per scope, shared by every
//! node (see `crate::bulk` for the model; the embedded store keeps the same tables).
//!
//! Sightings of one scope take turns under a transaction-scoped advisory lock, so that of two
//! copies observed at once on two nodes the second counts the first. Forgetting crosses
//! scopes (an account that stopped sending is never probed again), so it takes only clusters
//! no one holds (`SKIP LOCKED`), and a sighting locks the cluster it joins before it writes
//! below it: a cluster swept away meanwhile is simply not joined.

use super::PostgresStore;
use crate::bulk::{self, CANDIDATES_PER_BAND, Candidate, FORGET_BATCH, Known};
use crate::{BulkCount, BulkSighting, Result};
use deadpool_postgres::Transaction;
use std::collections::BTreeMap;

/// First key of the advisory lock (the second is the scope's); two-key locks never meet the
/// one-key migration lock.
const BULK_LOCK: i32 = 0x6862_6c6b; // "hblk"

pub(super) async fn observe(store: &PostgresStore, sighting: &BulkSighting) -> Result<BulkCount> {
    let mut client = store.client().await?;
    let tx = client.transaction().await?;
    let lock = tx
        .prepare_cached("SELECT pg_advisory_xact_lock($1, $2)")
        .await?;
    tx.execute(
        &lock,
        &[&BULK_LOCK, &super::spam::lock_key(sighting.scope.key())],
    )
    .await?;
    forget_expired(&tx, sighting.at).await?;
    let cluster = match join_closest(&tx, sighting).await? {
        Some(joined) => joined,
        None => start(&tx, sighting).await?,
    };
    let (in_window, known) = recipients_known(&tx, cluster.id, sighting).await?;
    let tally = bulk::tally(cluster.kept, in_window, &known, sighting.cap);
    record_recipients(&tx, cluster.id, sighting, tally.evict).await?;
    if tally.kept != cluster.kept {
        let keep = tx
            .prepare_cached("UPDATE bulk_clusters SET kept = $2 WHERE id = $1")
            .await?;
        tx.execute(&keep, &[&cluster.id, &tally.kept]).await?;
    }
    tx.commit().await?;
    Ok(BulkCount {
        copies: cluster.sightings as u64,
        before: tally.before,
        after: tally.after,
    })
}

/// Deletes a few clusters of any scope whose memory ran out (bands and recipients by
/// cascade), passing over any a sighting holds.
async fn forget_expired(tx: &Transaction<'_>, now: i64) -> Result<()> {
    let forget = tx
        .prepare_cached(
            "DELETE FROM bulk_clusters WHERE id IN
                 (SELECT id FROM bulk_clusters WHERE expires < $1
                  ORDER BY expires LIMIT $2 FOR UPDATE SKIP LOCKED)",
        )
        .await?;
    tx.execute(&forget, &[&now, &FORGET_BATCH]).await?;
    Ok(())
}

/// Finds the closest cluster of the sighting's scope in the window (the newest few per band
/// key) and counts the sighting in it, locking its row; `None` when there is none (or it was
/// forgotten meanwhile). The candidate's `sightings` is the count before this one.
async fn join_closest(tx: &Transaction<'_>, sighting: &BulkSighting) -> Result<Option<Candidate>> {
    let probe = tx
        .prepare_cached(
            "SELECT c.id, c.signature FROM bulk_clusters c
             WHERE c.id IN (SELECT b.cluster_id FROM unnest($2::bigint[]) AS k(band),
                            LATERAL (SELECT cluster_id FROM bulk_bands
                                     WHERE scope = $1 AND band = k.band
                                     ORDER BY cluster_id DESC LIMIT $4) AS b)
               AND c.last_at >= $3",
        )
        .await?;
    let rows = tx
        .query(
            &probe,
            &[
                &sighting.scope.key(),
                &sighting.bands,
                &sighting.since,
                &CANDIDATES_PER_BAND,
            ],
        )
        .await?;
    let candidates = rows
        .iter()
        .map(|r| Candidate {
            id: r.get(0),
            signature: r.get(1),
            sightings: 0,
            kept: 0,
        })
        .collect();
    let Some(closest) = bulk::closest(candidates, sighting) else {
        return Ok(None);
    };
    let join = tx
        .prepare_cached(
            "UPDATE bulk_clusters SET sightings = sightings + 1,
                 last_at = greatest(last_at, $2), expires = greatest(expires, $3)
             WHERE id = $1
             RETURNING sightings - 1, kept",
        )
        .await?;
    let expires = sighting.at.saturating_add(bulk::memory(sighting));
    let row = tx
        .query_opt(&join, &[&closest.id, &sighting.at, &expires])
        .await?;
    Ok(row.map(|r| Candidate {
        sightings: r.get(0),
        kept: r.get(1),
        ..closest
    }))
}

/// A new cluster holding the sighting's signature and bands, counting it.
async fn start(tx: &Transaction<'_>, sighting: &BulkSighting) -> Result<Candidate> {
    let scope = sighting.scope.key();
    let insert = tx
        .prepare_cached(
            "INSERT INTO bulk_clusters (scope, signature, sightings, last_at, expires, kept)
             VALUES ($1, $2, 1, $3, $4, 0) RETURNING id",
        )
        .await?;
    let expires = sighting.at.saturating_add(bulk::memory(sighting));
    let row = tx
        .query_one(
            &insert,
            &[&scope, &sighting.signature, &sighting.at, &expires],
        )
        .await?;
    let id: i64 = row.get(0);
    let bands = tx
        .prepare_cached(
            "INSERT INTO bulk_bands (scope, band, cluster_id)
             SELECT $1, band, $3 FROM unnest($2::bigint[]) AS band
             ON CONFLICT DO NOTHING",
        )
        .await?;
    tx.execute(&bands, &[&scope, &sighting.bands, &id]).await?;
    Ok(Candidate {
        id,
        signature: Vec::new(),
        sightings: 0,
        kept: 0,
    })
}

/// How many of the cluster's kept recipients had a copy within the window, and where each
/// of the sighting's distinct recipients stood (one read of at most `kept` rows).
async fn recipients_known(
    tx: &Transaction<'_>,
    cluster: i64,
    sighting: &BulkSighting,
) -> Result<(u64, Vec<Known>)> {
    let recipients = bulk::distinct_recipients(sighting);
    let read = tx
        .prepare_cached(
            "SELECT count(*) FILTER (WHERE last_seen >= $2),
                    coalesce(array_agg(recipient) FILTER (WHERE recipient = ANY($3)), '{}'),
                    coalesce(array_agg(last_seen) FILTER (WHERE recipient = ANY($3)), '{}')
             FROM bulk_recipients WHERE cluster_id = $1",
        )
        .await?;
    let row = tx
        .query_one(&read, &[&cluster, &sighting.since, &recipients])
        .await?;
    let in_window: i64 = row.get(0);
    let names: Vec<String> = row.get(1);
    let times: Vec<i64> = row.get(2);
    let last_seen: BTreeMap<String, i64> = names.into_iter().zip(times).collect();
    let known = recipients
        .iter()
        .map(|r| Known::of(last_seen.get(*r).copied(), sighting.since))
        .collect();
    Ok((in_window.max(0) as u64, known))
}

/// Marks the sighting's recipients sent a copy now, then deletes the `evict` oldest rows.
async fn record_recipients(
    tx: &Transaction<'_>,
    cluster: i64,
    sighting: &BulkSighting,
    evict: i64,
) -> Result<()> {
    let upsert = tx
        .prepare_cached(
            "INSERT INTO bulk_recipients (cluster_id, recipient, last_seen)
             SELECT $1, r, $3 FROM unnest($2::text[]) AS r
             ON CONFLICT (cluster_id, recipient) DO UPDATE
             SET last_seen = greatest(bulk_recipients.last_seen, EXCLUDED.last_seen)",
        )
        .await?;
    let recipients = bulk::distinct_recipients(sighting);
    tx.execute(&upsert, &[&cluster, &recipients, &sighting.at])
        .await?;
    if evict > 0 {
        let oldest = tx
            .prepare_cached(
                "DELETE FROM bulk_recipients WHERE cluster_id = $1 AND recipient IN
                     (SELECT recipient FROM bulk_recipients WHERE cluster_id = $1
                      ORDER BY last_seen LIMIT $2)",
            )
            .await?;
        tx.execute(&oldest, &[&cluster, &evict]).await?;
    }
    Ok(())
}
