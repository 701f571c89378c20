//! The bulk guard's memory on PostgreSQL: clusters of one content per scope, shared by every
//! node (see `crate::bulk` for the model; the embedded store keeps the same tables).
//!
//! Sightings of one scope take turns under a transaction-scoped advisory lock, so that of two
//! copies observed at once on two nodes the second counts the first. Forgetting crosses
//! scopes (an account that stopped sending is never probed again), so it takes only clusters
//! no one holds (`SKIP LOCKED`), and a sighting locks the cluster it joins before it writes
//! below it: a cluster swept away meanwhile is simply not joined.

use super::PostgresStore;
use crate::bulk::{self, CANDIDATES_PER_BAND, COMPARED, Candidate, FORGET_BATCH, Known};
use crate::{BulkCount, BulkSighting, Result};
use deadpool_postgres::Transaction;
use std::collections::BTreeMap;

/// First key of the advisory lock (the second is the scope's); two-key locks never meet the
/// one-key migration lock.
const BULK_LOCK: i32 = 0x6862_6c6b; // "hblk"

pub(super) async fn observe(store: &PostgresStore, sighting: &BulkSighting) -> Result<BulkCount> {
    let mut client = store.client().await?;
    let tx = client.transaction().await?;
    take_turn_and_forget(&tx, sighting).await?;
    let count = match join_closest(&tx, sighting).await? {
        Some(cluster) => count_in(&tx, cluster, sighting).await?,
        None => start(&tx, sighting).await?,
    };
    tx.commit().await?;
    Ok(count)
}

/// Counts the sighting's recipients in the cluster it joined.
async fn count_in(
    tx: &Transaction<'_>,
    cluster: Candidate,
    sighting: &BulkSighting,
) -> Result<BulkCount> {
    let (in_window, known) = recipients_known(tx, cluster.id, sighting).await?;
    let tally = bulk::tally(cluster.kept, in_window, &known, sighting.cap);
    record_recipients(tx, cluster.id, sighting, tally.evict).await?;
    if tally.kept != cluster.kept {
        let keep = tx
            .prepare_cached("UPDATE bulk_clusters SET kept = $2 WHERE id = $1")
            .await?;
        tx.execute(&keep, &[&cluster.id, &tally.kept]).await?;
    }
    Ok(BulkCount {
        copies: cluster.sightings as u64,
        before: tally.before,
        after: tally.after,
    })
}

/// Waits for the scope's turn (a transaction-scoped advisory lock) and deletes a few
/// clusters of any scope whose memory ran out (bands and recipients by cascade), passing
/// over any a sighting holds: one round trip. The deletion needs no turn (it crosses
/// scopes, and takes only clusters no one has locked), so it need not wait for it.
async fn take_turn_and_forget(tx: &Transaction<'_>, sighting: &BulkSighting) -> Result<()> {
    let statement = tx
        .prepare_cached(
            "WITH forgotten AS (
                 DELETE FROM bulk_clusters WHERE id IN
                     (SELECT id FROM bulk_clusters WHERE expires < $1
                      ORDER BY expires LIMIT $2 FOR UPDATE SKIP LOCKED)
                 RETURNING 1)
             SELECT pg_advisory_xact_lock($3, $4), (SELECT count(*) FROM forgotten)",
        )
        .await?;
    let scope = super::spam::lock_key(sighting.scope.key());
    tx.execute(
        &statement,
        &[&sighting.at, &FORGET_BATCH, &BULK_LOCK, &scope],
    )
    .await?;
    Ok(())
}

/// Finds the closest cluster of the sighting's scope in the window among those its band
/// keys point at most (each key's newest few, ranked as `bulk::COMPARED` says) and counts
/// the sighting in it, locking its row; `None` when there is none (or it was forgotten
/// meanwhile). The candidate's `sightings` is the count before this one.
async fn join_closest(tx: &Transaction<'_>, sighting: &BulkSighting) -> Result<Option<Candidate>> {
    let probe = tx
        .prepare_cached(
            "SELECT c.id, c.signature
             FROM (SELECT cluster_id, sum($6 / crowd) AS weight
                   FROM (SELECT b.cluster_id, count(*) OVER (PARTITION BY k.band) AS crowd
                         FROM unnest($2::bigint[]) AS k(band),
                         LATERAL (SELECT cluster_id FROM bulk_bands
                                  WHERE scope = $1 AND band = k.band
                                  ORDER BY cluster_id DESC LIMIT $4) AS b) AS hits
                   GROUP BY cluster_id ORDER BY weight DESC, cluster_id DESC LIMIT $5) AS r
             JOIN bulk_clusters c ON c.id = r.cluster_id
             WHERE c.last_at >= $3",
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
                &COMPARED,
                &bulk::WEIGHT,
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

/// A new cluster holding the sighting's signature, bands and recipients (at most the cap
/// of them: all were sent a copy now, so which are kept makes no difference), counting it:
/// one statement.
async fn start(tx: &Transaction<'_>, sighting: &BulkSighting) -> Result<BulkCount> {
    let recipients = bulk::distinct_recipients(sighting);
    let tally = bulk::tally(0, 0, &vec![Known::No; recipients.len()], sighting.cap);
    let kept = &recipients[..tally.kept as usize];
    let insert = tx
        .prepare_cached(
            "WITH cluster AS (
                 INSERT INTO bulk_clusters (scope, signature, sightings, last_at, expires, kept)
                 VALUES ($1, $2, 1, $3, $4, $5) RETURNING id),
             bands AS (
                 INSERT INTO bulk_bands (scope, band, cluster_id)
                 SELECT DISTINCT $1::bigint, band, id FROM unnest($6::bigint[]) AS band, cluster)
             INSERT INTO bulk_recipients (cluster_id, recipient, last_seen)
             SELECT id, r, $3 FROM unnest($7::text[]) AS r, cluster",
        )
        .await?;
    let expires = sighting.at.saturating_add(bulk::memory(sighting));
    tx.execute(
        &insert,
        &[
            &sighting.scope.key(),
            &sighting.signature,
            &sighting.at,
            &expires,
            &tally.kept,
            &sighting.bands,
            &kept,
        ],
    )
    .await?;
    Ok(BulkCount {
        copies: 0,
        before: tally.before,
        after: tally.after,
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
