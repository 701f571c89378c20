//! The `Queue` role on PostgreSQL: the outbound queue shared by every node.
//!
//! A claim is one statement that locks due, unclaimed entries with `FOR UPDATE SKIP LOCKED`
//! and writes the lease into them, so two nodes claiming at once split the due entries
//! between them and never both get one (a node skips the rows another is claiming instead
//! of waiting for them). Everything that must be the lease holder's (recording results) or
//! must happen once (a bounce, a delay notice) locks the entry's row in the transaction that
//! acts, so it sees the latest claim and the latest state. Writers lock an entry's row before
//! its recipients' rows (and several entries in id order), so they never deadlock.

use super::PostgresStore;
use super::directory::now;
use crate::roles::Queue;
use crate::{
    BlobId, Outbound, QueueEntry, QueueUpdate, QueuedMessage, QueuedRecipient, RecipientOutcome,
    RecipientState, Report, Result, StoreError,
};
use async_trait::async_trait;
use std::collections::HashMap;

/// Recipients not finished yet, as SQL: the states a claim and `queued` look at.
const UNFINISHED: &str = "status IN ('pending', 'deferred')";

fn blob_id(id: i64, text: &str) -> Result<BlobId> {
    BlobId::parse(text).ok_or_else(|| StoreError::Corrupt(format!("queue entry {id}: blob id")))
}

/// Adds a queue entry for the stored body `blob` (already written in this transaction)
/// with `outbound`'s recipients due now; its id.
pub(super) async fn insert_entry(
    tx: &tokio_postgres::Transaction<'_>,
    blob: &BlobId,
    outbound: &Outbound,
) -> Result<i64> {
    let created = now();
    let row = tx
        .query_one(
            "INSERT INTO queue (blob_id, sender, created, envid, ret, smtputf8, held)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            &[
                &blob.as_str(),
                &outbound.sender.as_deref().unwrap_or(""),
                &created,
                &outbound.envid,
                &outbound.ret,
                &outbound.smtputf8,
                &outbound.held,
            ],
        )
        .await?;
    let id: i64 = row.get(0);
    let recipients = &outbound.recipients;
    let addresses: Vec<&str> = recipients.iter().map(|r| r.address.as_str()).collect();
    let domains: Vec<String> = recipients
        .iter()
        .map(|r| {
            let domain = r.address.rsplit_once('@').map_or("", |(_, d)| d);
            domain.to_ascii_lowercase()
        })
        .collect();
    let notify: Vec<Option<&str>> = recipients.iter().map(|r| r.notify.as_deref()).collect();
    let orcpt: Vec<Option<&str>> = recipients.iter().map(|r| r.orcpt.as_deref()).collect();
    // A recipient given twice is one recipient (the first spelling of its options wins).
    tx.execute(
        "INSERT INTO queue_recipients (queue_id, recipient, domain, next_attempt, notify, orcpt)
         SELECT $1, r.address, r.domain, $2, r.notify, r.orcpt
         FROM unnest($3::text[], $4::text[], $5::text[], $6::text[])
              WITH ORDINALITY AS r(address, domain, notify, orcpt, n)
         ORDER BY r.n
         ON CONFLICT (queue_id, recipient) DO NOTHING",
        &[&id, &created, &addresses, &domains, &notify, &orcpt],
    )
    .await?;
    Ok(id)
}

#[async_trait]
impl Queue for PostgresStore {
    async fn queue(&self) -> Result<Vec<QueueEntry>> {
        let mut client = self.client().await?;
        let client = snapshot(&mut client).await?;
        let heads = client
            .query(
                "SELECT id, blob_id, sender, created, held FROM queue ORDER BY id",
                &[],
            )
            .await?;
        let rows = client
            .query(
                "SELECT queue_id, recipient, status, attempts, last_error FROM queue_recipients
                 ORDER BY queue_id, recipient",
                &[],
            )
            .await?;
        let mut recipients: HashMap<i64, Vec<(String, String, u32, Option<String>)>> =
            HashMap::new();
        for r in &rows {
            let attempts = u32::try_from(r.get::<_, i64>(3)).unwrap_or(u32::MAX);
            recipients
                .entry(r.get(0))
                .or_default()
                .push((r.get(1), r.get(2), attempts, r.get(4)));
        }
        heads
            .iter()
            .map(|h| {
                let id: i64 = h.get(0);
                Ok(QueueEntry {
                    id,
                    blob: blob_id(id, h.get(1))?,
                    sender: h.get(2),
                    created: h.get(3),
                    recipients: recipients.remove(&id).unwrap_or_default(),
                    held: h.get(4),
                })
            })
            .collect()
    }

    async fn queue_claim(
        &self,
        owner: &str,
        now: i64,
        lease: i64,
        limit: usize,
    ) -> Result<Vec<QueuedMessage>> {
        let mut client = self.client().await?;
        let until = now.saturating_add(lease);
        let ids = claim_due(&client, owner, now, until, limit).await?;
        let entries = {
            let snapshot = snapshot(&mut client).await?;
            load_entries(&snapshot, &ids, Some(now)).await?
        };
        // An entry whose last recipients its previous holder recorded as done just before
        // this claim (still due in the claim's snapshot) has nothing to deliver: it goes
        // back at once instead of reaching the relay empty.
        let (due, done): (Vec<_>, Vec<_>) =
            entries.into_iter().partition(|m| !m.recipients.is_empty());
        if !done.is_empty() {
            let done: Vec<i64> = done.iter().map(|m| m.id).collect();
            client
                .execute(
                    "UPDATE queue SET claimed_by = NULL, claimed_until = 0
                     WHERE id = ANY($1) AND claimed_by = $2",
                    &[&done, &owner],
                )
                .await?;
        }
        Ok(due)
    }

    async fn queue_renew(&self, owner: &str, ids: &[i64], until: i64) -> Result<Vec<i64>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "UPDATE queue SET claimed_until = $1 WHERE id = ANY($2) AND claimed_by = $3
                 RETURNING id",
                &[&until, &ids, &owner],
            )
            .await?;
        let mut held: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
        held.sort_unstable();
        Ok(held)
    }

    async fn queue_release(&self, owner: &str, id: i64) -> Result<()> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE queue SET claimed_by = NULL, claimed_until = 0
                 WHERE id = $1 AND claimed_by = $2",
                &[&id, &owner],
            )
            .await?;
        Ok(())
    }

    async fn queued(&self, id: i64) -> Result<Option<QueuedMessage>> {
        let mut client = self.client().await?;
        let snapshot = snapshot(&mut client).await?;
        Ok(load_entries(&snapshot, &[id], None).await?.pop())
    }

    async fn queue_record(
        &self,
        owner: &str,
        id: i64,
        results: &[(String, QueueUpdate)],
    ) -> Result<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // The entry's row, locked against a claim: if another node took the entry over (or
        // is taking it now), this sees its claim and records nothing.
        let holds = tx
            .query_opt(
                "SELECT 1 FROM queue WHERE id = $1 AND claimed_by = $2 FOR SHARE",
                &[&id, &owner],
            )
            .await?
            .is_some();
        if !holds {
            return Ok(false);
        }
        record(&tx, id, results).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn queue_outcomes(&self, id: i64) -> Result<Vec<RecipientOutcome>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT recipient, status, last_error FROM queue_recipients
                 WHERE queue_id = $1 ORDER BY recipient",
                &[&id],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let status: &str = r.get(1);
                let state = RecipientState::parse(status).ok_or_else(|| {
                    StoreError::Corrupt(format!("queue entry {id}: status {status}"))
                })?;
                Ok(RecipientOutcome {
                    recipient: r.get(0),
                    state,
                    last_reply: r.get(2),
                })
            })
            .collect()
    }

    async fn queue_finish(&self, id: i64, bounce: Option<Report>) -> Result<()> {
        let Some(report) = bounce else {
            self.queue_remove(id).await?;
            return Ok(());
        };
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // The report first, then the entry: the mail role's lock order (users, mailboxes,
        // bodies; the entry's body is released last). Of two finishers, the second waits
        // for the entry's row, finds it gone, and its report rolls back with it.
        file_report(&tx, report).await?;
        if !remove_entry(&tx, id).await? {
            return Err(StoreError::QueueEntryGone(id));
        }
        tx.commit().await?;
        Ok(())
    }

    async fn queue_remove(&self, id: i64) -> Result<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let removed = remove_entry(&tx, id).await?;
        tx.commit().await?;
        Ok(removed)
    }

    async fn queue_delay_notice(&self, id: i64, notice: Report) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // As for a bounce: the notice, then the mark, which waits for any other marker and
        // then sees its mark (one notice per entry, whoever asks and however often).
        file_report(&tx, notice).await?;
        let marked = tx
            .execute(
                "UPDATE queue SET delay_notified = true WHERE id = $1 AND NOT delay_notified",
                &[&id],
            )
            .await?;
        if marked == 0 {
            return Err(StoreError::QueueEntryGone(id));
        }
        tx.commit().await?;
        Ok(())
    }

    async fn queue_retry_now(&self, id: Option<i64>, now: i64) -> Result<usize> {
        let client = self.client().await?;
        // Entries' rows first (in id order), then their recipients': the order of every
        // other writer here (a record, a bounce, a release), so none waits in a circle.
        let changed = client
            .execute(
                &format!(
                    "WITH entries AS MATERIALIZED (
                         SELECT id FROM queue WHERE $2::bigint IS NULL OR id = $2
                         ORDER BY id FOR NO KEY UPDATE
                     )
                     UPDATE queue_recipients SET next_attempt = $1
                     WHERE {UNFINISHED} AND queue_id IN (SELECT id FROM entries)"
                ),
                &[&now, &id],
            )
            .await?;
        Ok(usize::try_from(changed).unwrap_or(usize::MAX))
    }

    async fn queue_release_held(&self, id: i64, now: i64) -> Result<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // Its time in the queue counts from the release, so a long hold does not make it
        // expire at once.
        let released = tx
            .execute(
                "UPDATE queue SET held = NULL, created = $2 WHERE id = $1 AND held IS NOT NULL",
                &[&id, &now],
            )
            .await?;
        if released == 0 {
            return Ok(false);
        }
        tx.execute(
            &format!(
                "UPDATE queue_recipients SET next_attempt = $2 WHERE queue_id = $1 AND {UNFINISHED}"
            ),
            &[&id, &now],
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}

/// Claims for `owner`, until `until`, up to `limit` entries with recipients due at `now`
/// that are not held and not under a live claim; their ids, oldest first.
async fn claim_due(
    client: &tokio_postgres::Client,
    owner: &str,
    now: i64,
    until: i64,
    limit: usize,
) -> Result<Vec<i64>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    // Rows another node is claiming right now are skipped, not waited for; a row whose
    // claim committed after this statement's snapshot is checked again on its latest
    // version (READ COMMITTED), so a live lease is never taken over.
    let claimed = client
        .query(
            &format!(
                "WITH due AS (
                     SELECT q.id FROM queue q
                     WHERE q.held IS NULL
                       AND (q.claimed_by IS NULL OR q.claimed_until <= $2)
                       AND EXISTS (SELECT 1 FROM queue_recipients r
                                   WHERE r.queue_id = q.id AND r.{UNFINISHED}
                                     AND r.next_attempt <= $2)
                     ORDER BY q.id
                     LIMIT $4
                     FOR UPDATE OF q SKIP LOCKED
                 )
                 UPDATE queue q SET claimed_by = $1, claimed_until = $3
                 FROM due WHERE q.id = due.id
                 RETURNING q.id"
            ),
            &[&owner, &now, &until, &limit],
        )
        .await?;
    let mut ids: Vec<i64> = claimed.iter().map(|r| r.get(0)).collect();
    ids.sort_unstable();
    Ok(ids)
}

/// A read-only transaction on one snapshot, for reads (an entry, then its recipients) that
/// must agree with each other. Ended by dropping it (a rollback: nothing was written).
async fn snapshot(
    client: &mut deadpool_postgres::Object,
) -> Result<deadpool_postgres::Transaction<'_>> {
    Ok(client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?)
}

/// Files and queues a report (bounce, delay notice) in the caller's transaction.
async fn file_report(tx: &tokio_postgres::Transaction<'_>, report: Report) -> Result<()> {
    let Report {
        blob,
        targets,
        outbound,
    } = report;
    super::mail::submit_in(tx, blob, &targets, outbound.as_ref()).await?;
    Ok(())
}

/// Removes entry `id` (its recipients with it) and its body when nothing else holds the
/// body; false when it was gone already.
async fn remove_entry(tx: &tokio_postgres::Transaction<'_>, id: i64) -> Result<bool> {
    let Some(row) = tx
        .query_opt("DELETE FROM queue WHERE id = $1 RETURNING blob_id", &[&id])
        .await?
    else {
        return Ok(false);
    };
    let blob: &str = row.get(0);
    // The delete trigger took the entry's reference off the body; a body nobody references
    // any more (no message, no other entry) goes. Its row is locked by that trigger's
    // update, so a concurrent reference waits and then sees it gone.
    tx.execute("DELETE FROM blobs WHERE id = $1 AND refs <= 0", &[&blob])
        .await?;
    Ok(true)
}

/// Stores the outcome of delivery attempts for recipients of entry `id`, in one statement.
async fn record(
    tx: &tokio_postgres::Transaction<'_>,
    id: i64,
    results: &[(String, QueueUpdate)],
) -> Result<()> {
    let mut recipients = Vec::with_capacity(results.len());
    let mut statuses = Vec::with_capacity(results.len());
    let mut next_attempts = Vec::with_capacity(results.len());
    let mut errors = Vec::with_capacity(results.len());
    for (recipient, update) in results {
        let (status, next, error) = match update {
            QueueUpdate::Delivered { reply } => (RecipientState::Delivered, 0, reply),
            QueueUpdate::Deferred {
                next_attempt,
                error,
            } => (RecipientState::Deferred, *next_attempt, error),
            QueueUpdate::Failed { error } => (RecipientState::Failed, 0, error),
        };
        recipients.push(recipient.as_str());
        statuses.push(status.as_str());
        next_attempts.push(next);
        errors.push(error.as_str());
    }
    tx.execute(
        "UPDATE queue_recipients r
         SET status = u.status, attempts = r.attempts + 1, next_attempt = u.next_attempt,
             last_error = u.error
         FROM unnest($2::text[], $3::text[], $4::bigint[], $5::text[])
              AS u(recipient, status, next_attempt, error)
         WHERE r.queue_id = $1 AND r.recipient = u.recipient",
        &[&id, &recipients, &statuses, &next_attempts, &errors],
    )
    .await?;
    Ok(())
}

/// The entries `ids` (in that order; gone ones left out) with their unfinished recipients,
/// only those due by `due_by` when given.
async fn load_entries(
    client: &tokio_postgres::Transaction<'_>,
    ids: &[i64],
    due_by: Option<i64>,
) -> Result<Vec<QueuedMessage>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let heads = client
        .query(
            "SELECT q.id, q.blob_id, q.sender, q.created, q.envid, q.ret, b.size, q.smtputf8,
                    q.delay_notified
             FROM queue q JOIN blobs b ON b.id = q.blob_id WHERE q.id = ANY($1)",
            &[&ids],
        )
        .await?;
    let rows = client
        .query(
            &format!(
                "SELECT queue_id, recipient, domain, attempts, notify, orcpt, last_error
                 FROM queue_recipients
                 WHERE queue_id = ANY($1) AND {UNFINISHED}
                   AND ($2::bigint IS NULL OR next_attempt <= $2)
                 ORDER BY queue_id, recipient"
            ),
            &[&ids, &due_by],
        )
        .await?;
    let mut recipients: HashMap<i64, Vec<QueuedRecipient>> = HashMap::new();
    for r in &rows {
        recipients
            .entry(r.get(0))
            .or_default()
            .push(QueuedRecipient {
                address: r.get(1),
                domain: r.get(2),
                attempts: u32::try_from(r.get::<_, i64>(3)).unwrap_or(u32::MAX),
                notify: r.get(4),
                orcpt: r.get(5),
                last_error: r.get(6),
            });
    }
    let mut by_id: HashMap<i64, QueuedMessage> = HashMap::new();
    for h in &heads {
        let id: i64 = h.get(0);
        let sender: String = h.get(2);
        by_id.insert(
            id,
            QueuedMessage {
                id,
                blob: blob_id(id, h.get(1))?,
                size: u64::try_from(h.get::<_, i64>(6)).unwrap_or(0),
                sender: Some(sender).filter(|s| !s.is_empty()),
                created: h.get(3),
                envid: h.get(4),
                ret: h.get(5),
                smtputf8: h.get(7),
                delay_notified: h.get(8),
                recipients: recipients.remove(&id).unwrap_or_default(),
            },
        );
    }
    Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
}
