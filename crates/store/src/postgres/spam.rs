//! The `SpamData` role on PostgreSQL: Bayesian counts, greylisting and the bulk guard's
//! fingerprints, shared by every node (the embedded store keeps the same tables; here the
//! counters hold across nodes because every change is one transaction that adds to the
//! rows, never a value computed on a node and written back).

use super::PostgresStore;
use crate::roles::SpamData;
use crate::{
    BayesCounts, BulkCount, BulkSighting, CORRESPONDENT_REFRESH_SECS, GreylistState,
    LearnedMessage, MAX_CORRESPONDENTS, Result, UserId,
};
use async_trait::async_trait;
use std::collections::BTreeMap;
use tokio_postgres::Transaction;

/// Greylist records not seen for this long are forgotten.
const GREYLIST_KEEP_SECS: i64 = 35 * 86_400;

/// First key of the transaction-scoped advisory lock taken here (the second key is the
/// model's owner; `bulk.rs` has its own). Two-key locks never meet the one-key migration lock.
const BAYES_LOCK: i32 = 0x6862_6179; // "hbay"

/// The stored owner of a model: 0 for the server-wide one, else the user's id.
fn owner_key(owner: Option<UserId>) -> i64 {
    owner.map_or(0, |u| u.0)
}

/// The second key of an advisory lock on `n` (ids that differ in their high bits may share
/// a lock: they only wait for each other).
pub(super) fn lock_key(n: i64) -> i32 {
    (n ^ (n >> 32)) as i32
}

#[async_trait]
impl SpamData for PostgresStore {
    async fn bayes_load(&self, owner: Option<UserId>) -> Result<BayesCounts> {
        let client = self.client().await?;
        let owner = owner_key(owner);
        let totals = client
            .query_opt(
                "SELECT spam, ham FROM bayes_totals WHERE owner = $1",
                &[&owner],
            )
            .await?;
        let (spam_messages, ham_messages) = totals.map_or((0, 0), |r| (r.get(0), r.get(1)));
        let rows = client
            .query(
                "SELECT token, spam, ham FROM bayes_tokens WHERE owner = $1",
                &[&owner],
            )
            .await?;
        let tokens = rows
            .iter()
            // Tokens are 64-bit hashes kept in a signed column: the bits round-trip.
            .map(|r| (r.get::<_, i64>(0) as u64, r.get(1), r.get(2)))
            .collect();
        Ok(BayesCounts {
            spam_messages,
            ham_messages,
            tokens,
        })
    }

    async fn bayes_learn(
        &self,
        owner: Option<UserId>,
        update: &BayesCounts,
        seen: &[LearnedMessage],
    ) -> Result<()> {
        let owner = owner_key(owner);
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // Learners of one model take turns (learning is rare; lessons of one model touch
        // overlapping rows in any order, which would otherwise risk deadlocks).
        tx.execute(
            "SELECT pg_advisory_xact_lock($1, $2)",
            &[&BAYES_LOCK, &lock_key(owner)],
        )
        .await?;
        check_unchanged(&tx, owner, seen).await?;
        add_token_counts(&tx, owner, &update.tokens).await?;
        tx.execute(
            "INSERT INTO bayes_totals (owner, spam, ham) VALUES ($1, greatest($2::bigint, 0), greatest($3::bigint, 0))
             ON CONFLICT (owner) DO UPDATE SET
                 spam = greatest(bayes_totals.spam + $2, 0),
                 ham = greatest(bayes_totals.ham + $3, 0)",
            &[&owner, &update.spam_messages, &update.ham_messages],
        )
        .await?;
        record_seen(&tx, owner, seen).await?;
        tx.execute("UPDATE bayes_generation SET n = n + 1", &[])
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn bayes_seen(
        &self,
        owner: Option<UserId>,
        digests: &[Vec<u8>],
    ) -> Result<Vec<Option<bool>>> {
        if digests.is_empty() {
            return Ok(Vec::new());
        }
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT digest, spam FROM bayes_seen WHERE owner = $1 AND digest = ANY($2)",
                &[&owner_key(owner), &digests],
            )
            .await?;
        let learned: BTreeMap<Vec<u8>, bool> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        Ok(digests.iter().map(|d| learned.get(d).copied()).collect())
    }

    async fn bayes_generation(&self) -> Result<i64> {
        let client = self.client().await?;
        let row = client
            .query_one("SELECT n FROM bayes_generation", &[])
            .await?;
        Ok(row.get(0))
    }

    async fn bayes_calibration(&self) -> Result<Option<String>> {
        let client = self.client().await?;
        let row = client
            .query_opt("SELECT params FROM bayes_calibration WHERE owner = 0", &[])
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn bayes_set_calibration(&self, params: &str) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute(
            "INSERT INTO bayes_calibration (owner, params) VALUES (0, $1)
             ON CONFLICT (owner) DO UPDATE SET params = $1",
            &[&params],
        )
        .await?;
        tx.execute("UPDATE bayes_generation SET n = n + 1", &[])
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn greylist(&self, key: &str, now: i64, delay: i64) -> Result<GreylistState> {
        let client = self.client().await?;
        // One statement records the attempt, new triplet or not: two nodes seeing a new
        // triplet at once make one row, and both tell the client to wait.
        let row = client
            .query_one(
                "INSERT INTO greylist (key, first_seen, last_seen) VALUES ($1, $2, $2)
                 ON CONFLICT (key) DO UPDATE SET last_seen = greatest(greylist.last_seen, $2)
                 RETURNING first_seen, passed, xmax = 0",
                &[&key, &now],
            )
            .await?;
        let (first_seen, passed, inserted): (i64, Option<i64>, bool) =
            (row.get(0), row.get(1), row.get(2));
        if inserted {
            client
                .execute(
                    "DELETE FROM greylist WHERE last_seen < $1",
                    &[&now.saturating_sub(GREYLIST_KEEP_SECS)],
                )
                .await?;
            return Ok(GreylistState::Wait(delay));
        }
        if passed.is_some() {
            return Ok(GreylistState::Known);
        }
        let waited = now - first_seen;
        if waited < delay {
            return Ok(GreylistState::Wait(delay - waited));
        }
        // Of two attempts passing at once, one is the first to pass; the other is known.
        let first_to_pass = client
            .execute(
                "UPDATE greylist SET passed = $2 WHERE key = $1 AND passed IS NULL",
                &[&key, &now],
            )
            .await?;
        Ok(if first_to_pass > 0 {
            GreylistState::Passed
        } else {
            GreylistState::Known
        })
    }

    async fn bulk_observe(&self, sighting: &BulkSighting) -> Result<BulkCount> {
        super::bulk::observe(self, sighting).await
    }

    async fn correspondents_note(
        &self,
        user: UserId,
        addresses: &[String],
        now: i64,
    ) -> Result<()> {
        let client = self.client().await?;
        // As the embedded store: a known one's time is rewritten once a day at most, and
        // only a change can push the longest unused past the cap.
        let changed = client
            .execute(
                "INSERT INTO correspondents (address, user_id, last_sent)
                 SELECT DISTINCT a, $2::bigint, $3::bigint FROM unnest($1::text[]) AS a
                 ON CONFLICT (address, user_id) DO UPDATE SET last_sent = excluded.last_sent
                 WHERE correspondents.last_sent < excluded.last_sent - $4",
                &[&addresses, &user.0, &now, &CORRESPONDENT_REFRESH_SECS],
            )
            .await?;
        if changed > 0 {
            client
                .execute(
                    "DELETE FROM correspondents WHERE user_id = $1 AND last_sent <= (
                         SELECT last_sent FROM correspondents WHERE user_id = $1
                         ORDER BY last_sent DESC LIMIT 1 OFFSET $2)",
                    &[&user.0, &MAX_CORRESPONDENTS],
                )
                .await?;
        }
        Ok(())
    }

    async fn correspondents_of(&self, address: &str, users: &[UserId]) -> Result<Vec<UserId>> {
        let ids: Vec<i64> = users.iter().map(|u| u.0).collect();
        let rows = self
            .client()
            .await?
            .query(
                "SELECT user_id FROM correspondents WHERE address = $1 AND user_id = ANY($2)",
                &[&address, &ids],
            )
            .await?;
        Ok(rows.iter().map(|r| UserId(r.get(0))).collect())
    }

    async fn correspondents_list(
        &self,
        user: UserId,
        limit: usize,
    ) -> Result<(u64, Vec<(String, i64)>)> {
        let client = self.client().await?;
        let total: i64 = client
            .query_one(
                "SELECT count(*) FROM correspondents WHERE user_id = $1",
                &[&user.0],
            )
            .await?
            .get(0);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = client
            .query(
                "SELECT address, last_sent FROM correspondents WHERE user_id = $1
                 ORDER BY last_sent DESC, address LIMIT $2",
                &[&user.0, &limit],
            )
            .await?;
        let listed = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        Ok((u64::try_from(total).unwrap_or(0), listed))
    }

    async fn correspondents_forget(&self, user: UserId, addresses: &[String]) -> Result<()> {
        self.client()
            .await?
            .execute(
                "DELETE FROM correspondents WHERE user_id = $1 AND address = ANY($2)",
                &[&user.0, &addresses],
            )
            .await?;
        Ok(())
    }
}

/// Adds token counts (negative ones unlearn, never below zero); tokens left at nothing go.
async fn add_token_counts(
    tx: &Transaction<'_>,
    owner: i64,
    tokens: &[(u64, i64, i64)],
) -> Result<()> {
    if tokens.is_empty() {
        return Ok(());
    }
    // One change per token (a token given twice adds up), as three arrays.
    let mut sums: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
    for &(token, spam, ham) in tokens {
        let sum = sums.entry(token as i64).or_default();
        *sum = (sum.0.saturating_add(spam), sum.1.saturating_add(ham));
    }
    let ids: Vec<i64> = sums.keys().copied().collect();
    let spam: Vec<i64> = sums.values().map(|s| s.0).collect();
    let ham: Vec<i64> = sums.values().map(|s| s.1).collect();
    // Rows exist first (at zero), then every row takes its change in one update: the same
    // arithmetic whether a token is new or known.
    tx.execute(
        "INSERT INTO bayes_tokens (owner, token, spam, ham)
         SELECT $1, t, 0, 0 FROM unnest($2::bigint[]) AS t
         ON CONFLICT (owner, token) DO NOTHING",
        &[&owner, &ids],
    )
    .await?;
    tx.execute(
        "UPDATE bayes_tokens b
         SET spam = greatest(b.spam + u.spam, 0), ham = greatest(b.ham + u.ham, 0)
         FROM unnest($2::bigint[], $3::bigint[], $4::bigint[]) AS u(token, spam, ham)
         WHERE b.owner = $1 AND b.token = u.token",
        &[&owner, &ids, &spam, &ham],
    )
    .await?;
    tx.execute(
        "DELETE FROM bayes_tokens
         WHERE owner = $1 AND token = ANY($2) AND spam = 0 AND ham = 0",
        &[&owner, &ids],
    )
    .await?;
    Ok(())
}

/// Remembers how each message was learned (learning one again replaces its class).
/// Refuses a lesson worked out from what another lesson has since changed (see
/// `SpamData::bayes_learn`). Learners of one model hold its advisory lock, so nothing
/// comes between this and the writes.
async fn check_unchanged(tx: &Transaction<'_>, owner: i64, seen: &[LearnedMessage]) -> Result<()> {
    if seen.is_empty() {
        return Ok(());
    }
    let digests: Vec<&[u8]> = seen.iter().map(|m| m.digest.as_slice()).collect();
    let rows = tx
        .query(
            "SELECT digest, spam FROM bayes_seen WHERE owner = $1 AND digest = ANY($2)",
            &[&owner, &digests],
        )
        .await?;
    let now: BTreeMap<Vec<u8>, bool> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    if seen.iter().any(|m| m.before != now.get(&m.digest).copied()) {
        return Err(crate::StoreError::LessonRaced);
    }
    Ok(())
}

async fn record_seen(tx: &Transaction<'_>, owner: i64, seen: &[LearnedMessage]) -> Result<()> {
    if seen.is_empty() {
        return Ok(());
    }
    // The last lesson about a message wins, as if they were recorded one by one.
    let latest: BTreeMap<&[u8], bool> =
        seen.iter().map(|m| (m.digest.as_slice(), m.spam)).collect();
    let digests: Vec<&[u8]> = latest.keys().copied().collect();
    let classes: Vec<bool> = latest.values().copied().collect();
    tx.execute(
        "INSERT INTO bayes_seen (owner, digest, spam)
         SELECT $1, d, s FROM unnest($2::bytea[], $3::boolean[]) AS u(d, s)
         ON CONFLICT (owner, digest) DO UPDATE SET spam = EXCLUDED.spam",
        &[&owner, &digests, &classes],
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_keys_fold_the_high_bits() {
        assert_eq!(lock_key(0), 0);
        assert_eq!(lock_key(7), 7);
        assert_ne!(lock_key(1 << 32), 0, "high bits still tell owners apart");
    }
}
