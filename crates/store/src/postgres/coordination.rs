//! The `Coordination` role on PostgreSQL: leases and windowed counters in two small tables,
//! each operation one statement, so every node sees the same locks and counts.

use super::PostgresStore;
use crate::roles::Coordination;
use crate::{Result, bucket_of};
use async_trait::async_trait;
use std::sync::atomic::{AtomicU32, Ordering};

/// One counter update in this many also sweeps what nobody will read again.
const SWEEP_EVERY: u32 = 256;
/// Counter buckets and leases older than this are swept (windows are far shorter).
const KEEP: i64 = 7 * 86_400;

static UPDATES: AtomicU32 = AtomicU32::new(0);

#[async_trait]
impl Coordination for PostgresStore {
    async fn lease_take(&self, name: &str, owner: &str, now: i64, until: i64) -> Result<bool> {
        // The upsert's WHERE decides atomically: a conflicting row is taken over only when
        // it is ours or ran out; otherwise nothing is returned.
        let row = self
            .client()
            .await?
            .query_opt(
                "INSERT INTO coordination_leases (name, owner, until) VALUES ($1, $2, $4)
                 ON CONFLICT (name) DO UPDATE SET owner = EXCLUDED.owner, until = EXCLUDED.until
                 WHERE coordination_leases.owner = EXCLUDED.owner
                    OR coordination_leases.until <= $3
                 RETURNING 1",
                &[&name, &owner, &now, &until],
            )
            .await?;
        Ok(row.is_some())
    }

    async fn lease_release(&self, name: &str, owner: &str) -> Result<()> {
        self.client()
            .await?
            .execute(
                "DELETE FROM coordination_leases WHERE name = $1 AND owner = $2",
                &[&name, &owner],
            )
            .await?;
        Ok(())
    }

    async fn lease_until(&self, name: &str, now: i64) -> Result<Option<i64>> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT until FROM coordination_leases WHERE name = $1 AND until > $2",
                &[&name, &now],
            )
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn counter_add(&self, key: &str, amount: i64, now: i64, window: i64) -> Result<i64> {
        let (bucket, _) = bucket_of(now, window);
        let since = now - window;
        let client = self.client().await?;
        // The outer SELECT reads the snapshot from before the upsert: the other buckets
        // from there, this one from what the upsert returns.
        let row = client
            .query_one(
                "WITH added AS (
                     INSERT INTO coordination_counters (key, bucket, amount) VALUES ($1, $2, $3)
                     ON CONFLICT (key, bucket)
                     DO UPDATE SET amount = coordination_counters.amount + EXCLUDED.amount
                     RETURNING amount
                 ), forgotten AS (
                     DELETE FROM coordination_counters WHERE key = $1 AND bucket <= $4
                 )
                 SELECT (SELECT amount FROM added) + coalesce((
                     SELECT sum(amount) FROM coordination_counters
                     WHERE key = $1 AND bucket > $4 AND bucket <> $2), 0)::bigint",
                &[&key, &bucket, &amount, &since],
            )
            .await?;
        if UPDATES
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(SWEEP_EVERY)
        {
            client
                .batch_execute(&format!(
                    "DELETE FROM coordination_counters WHERE bucket < {old};
                     DELETE FROM coordination_leases WHERE until < {old};",
                    old = now - KEEP
                ))
                .await?;
        }
        Ok(row.get(0))
    }

    async fn counter_reset(&self, key: &str) -> Result<()> {
        self.client()
            .await?
            .execute("DELETE FROM coordination_counters WHERE key = $1", &[&key])
            .await?;
        Ok(())
    }

    async fn shared_secret(&self, name: &str) -> Result<Vec<u8>> {
        let client = self.client().await?;
        // Two statements, not one: a row another node inserted concurrently is visible to
        // the SELECT only after the INSERT waited for that node's commit (READ COMMITTED
        // takes a new snapshot per statement), so both nodes read the first one's secret.
        let candidate = crate::secrets::new_secret()?;
        client
            .execute(
                "INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                &[&name, &candidate],
            )
            .await?;
        let row = client
            .query_one("SELECT value FROM secrets WHERE name = $1", &[&name])
            .await?;
        Ok(row.get(0))
    }
}
