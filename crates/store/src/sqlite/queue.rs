//! The outbound queue's rows: one entry per message, one row per remote recipient with its
//! own state, so a retry or a bounce concerns exactly the recipients it should.

use crate::{
    BlobId, Outbound, QueueEntry, QueueUpdate, QueuedMessage, QueuedRecipient, RecipientOutcome,
    RecipientState, Result, StoreError,
};
use rusqlite::{Connection, OptionalExtension, params};

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Adds a queue entry for `blob_id` within the caller's transaction; due at once.
pub(crate) fn enqueue(conn: &Connection, blob_id: &str, outbound: &Outbound) -> Result<i64> {
    let created = now();
    conn.execute(
        "INSERT INTO queue (blob_id, sender, created, envid, ret, smtputf8, held) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            blob_id,
            outbound.sender.as_deref().unwrap_or(""),
            created,
            outbound.envid, outbound.ret, outbound.smtputf8, outbound.held],
    )?;
    let id = conn.last_insert_rowid();
    let mut stmt = conn.prepare_cached(
        "INSERT OR IGNORE INTO queue_recipients (queue_id, recipient, domain, next_attempt, notify, orcpt)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for rcpt in &outbound.recipients {
        let domain = rcpt
            .address
            .rsplit_once('@')
            .map_or("", |(_, d)| d)
            .to_ascii_lowercase();
        stmt.execute(params![
            id,
            rcpt.address,
            domain,
            created,
            rcpt.notify,
            rcpt.orcpt
        ])?;
    }
    Ok(id)
}

pub(crate) fn list(conn: &Connection) -> Result<Vec<QueueEntry>> {
    let mut entries =
        conn.prepare_cached("SELECT id, blob_id, sender, created, held FROM queue ORDER BY id")?;
    let mut rcpts = conn.prepare_cached(
        "SELECT recipient, status, attempts, last_error FROM queue_recipients WHERE queue_id = ?1 ORDER BY recipient",
    )?;
    let rows = entries.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, Option<String>>(4)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, blob, sender, created, held) = row?;
        let blob =
            BlobId::parse(&blob).ok_or_else(|| StoreError::Corrupt(format!("queue entry {id}")))?;
        let recipients = rcpts
            .query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
            .collect::<rusqlite::Result<_>>()?;
        out.push(QueueEntry {
            id,
            blob,
            sender,
            created,
            recipients,
            held,
        });
    }
    Ok(out)
}

/// Claims for `owner` up to `limit` entries with recipients due by `now` that nobody else
/// holds a live claim on (a claim whose time ran out is anyone's), until `until`. Held
/// entries are nobody's: they wait for an admin.
pub(crate) fn claim(
    conn: &Connection,
    owner: &str,
    now: i64,
    until: i64,
    limit: usize,
) -> Result<Vec<QueuedMessage>> {
    let mut ids = conn.prepare_cached(
        "SELECT DISTINCT r.queue_id FROM queue_recipients r JOIN queue q ON q.id = r.queue_id
         WHERE r.status IN ('pending', 'deferred') AND r.next_attempt <= ?1
           AND (q.claimed_until <= ?1 OR q.claimed_by IS NULL) AND q.held IS NULL
         ORDER BY r.queue_id LIMIT ?2",
    )?;
    let ids: Vec<i64> = ids
        .query_map(params![now, limit as i64], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut take =
        conn.prepare_cached("UPDATE queue SET claimed_by = ?1, claimed_until = ?2 WHERE id = ?3")?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        take.execute(params![owner, until, id])?;
        out.extend(queued(conn, id, Some(now))?);
    }
    Ok(out)
}

/// Extends `owner`'s claims on `ids` to `until`; returns the ids it still held.
pub(crate) fn renew(conn: &Connection, owner: &str, ids: &[i64], until: i64) -> Result<Vec<i64>> {
    let mut stmt = conn
        .prepare_cached("UPDATE queue SET claimed_until = ?1 WHERE id = ?2 AND claimed_by = ?3")?;
    let mut held = Vec::new();
    for &id in ids {
        if stmt.execute(params![until, id, owner])? > 0 {
            held.push(id);
        }
    }
    Ok(held)
}

pub(crate) fn release(conn: &Connection, owner: &str, id: i64) -> Result<()> {
    conn.prepare_cached(
        "UPDATE queue SET claimed_by = NULL, claimed_until = 0 WHERE id = ?1 AND claimed_by = ?2",
    )?
    .execute(params![id, owner])?;
    Ok(())
}

/// Whether `owner` holds the claim on entry `id`.
pub(crate) fn holds(conn: &Connection, owner: &str, id: i64) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM queue WHERE id = ?1 AND claimed_by = ?2")?
        .exists(params![id, owner])?)
}

/// One queue entry with its unfinished recipients (all of them when `due_by` is `None`).
pub(crate) fn queued(
    conn: &Connection,
    id: i64,
    due_by: Option<i64>,
) -> Result<Option<QueuedMessage>> {
    let head = conn
        .query_row(
            "SELECT q.blob_id, q.sender, q.created, q.envid, q.ret, b.size, q.smtputf8, q.delay_notified
             FROM queue q JOIN blobs b ON b.id = q.blob_id WHERE q.id = ?1",
            [id],
            |r| {
                let blob: String = r.get(0)?;
                let sender: String = r.get(1)?;
                let size: i64 = r.get(5)?;
                let flags: (bool, bool) = (r.get(6)?, r.get(7)?);
                Ok((blob, sender, r.get(2)?, r.get(3)?, r.get(4)?, size, flags))
            },
        )
        .optional()?;
    let Some((blob, sender, created, envid, ret, size, (smtputf8, delay_notified))) = head else {
        return Ok(None);
    };
    let blob =
        BlobId::parse(&blob).ok_or_else(|| StoreError::Corrupt(format!("queue entry {id}")))?;
    let mut stmt = conn.prepare_cached(
        "SELECT recipient, domain, attempts, notify, orcpt, last_error FROM queue_recipients
         WHERE queue_id = ?1 AND status IN ('pending', 'deferred') AND (?2 IS NULL OR next_attempt <= ?2)
         ORDER BY recipient",
    )?;
    let recipients = stmt
        .query_map(params![id, due_by], |r| {
            Ok(QueuedRecipient {
                address: r.get(0)?,
                domain: r.get(1)?,
                attempts: r.get(2)?,
                notify: r.get(3)?,
                orcpt: r.get(4)?,
                last_error: r.get(5)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let sender = Some(sender).filter(|s| !s.is_empty());
    let size = size.max(0) as u64;
    Ok(Some(QueuedMessage {
        id,
        blob,
        size,
        sender,
        created,
        envid,
        ret,
        smtputf8,
        delay_notified,
        recipients,
    }))
}

/// Stores the outcome of delivery attempts for recipients of entry `id`.
pub(crate) fn record(conn: &Connection, id: i64, results: &[(String, QueueUpdate)]) -> Result<()> {
    let mut stmt = conn.prepare_cached(
        "UPDATE queue_recipients SET status = ?1, attempts = attempts + 1, next_attempt = ?2, last_error = ?3
         WHERE queue_id = ?4 AND recipient = ?5",
    )?;
    for (rcpt, update) in results {
        let (status, next, error) = match update {
            QueueUpdate::Delivered { reply } => ("delivered", 0, Some(reply.as_str())),
            QueueUpdate::Deferred {
                next_attempt,
                error,
            } => ("deferred", *next_attempt, Some(error.as_str())),
            QueueUpdate::Failed { error } => ("failed", 0, Some(error.as_str())),
        };
        stmt.execute(params![status, next, error, id, rcpt])?;
    }
    Ok(())
}

/// Every recipient of entry `id` with its state and last reply.
pub(crate) fn outcomes(conn: &Connection, id: i64) -> Result<Vec<RecipientOutcome>> {
    let mut stmt = conn.prepare_cached(
        "SELECT recipient, status, last_error FROM queue_recipients WHERE queue_id = ?1 ORDER BY recipient",
    )?;
    let rows = stmt.query_map([id], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get(2)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (recipient, status, last_reply) = row?;
        let state = RecipientState::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("queue entry {id}: status {status}")))?;
        out.push(RecipientOutcome {
            recipient,
            state,
            last_reply,
        });
    }
    Ok(out)
}

pub(crate) fn remove(conn: &Connection, id: i64) -> Result<bool> {
    Ok(conn.execute("DELETE FROM queue WHERE id = ?1", [id])? > 0)
}

/// Makes deferred recipients due now (all entries, or one).
pub(crate) fn retry_now(conn: &Connection, id: Option<i64>, now: i64) -> Result<usize> {
    Ok(conn.execute(
        "UPDATE queue_recipients SET next_attempt = ?1
         WHERE status IN ('pending', 'deferred') AND (?2 IS NULL OR queue_id = ?2)",
        params![now, id],
    )?)
}

/// Marks entry `id`'s delay as told; false when it is gone or was told already.
pub(crate) fn mark_delay_notified(conn: &Connection, id: i64) -> Result<bool> {
    let changed = conn.execute(
        "UPDATE queue SET delay_notified = 1 WHERE id = ?1 AND delay_notified = 0",
        [id],
    )?;
    Ok(changed > 0)
}

/// Lets a held entry go: due at `now`, its time in the queue counted from now (so a long
/// hold does not make it expire at once). False when it is gone or was not held.
pub(crate) fn release_held(conn: &Connection, id: i64, now: i64) -> Result<bool> {
    let changed = conn.execute(
        "UPDATE queue SET held = NULL, created = ?2 WHERE id = ?1 AND held IS NOT NULL",
        params![id, now],
    )?;
    if changed == 0 {
        return Ok(false);
    }
    conn.execute(
        "UPDATE queue_recipients SET next_attempt = ?2 WHERE queue_id = ?1 AND status IN ('pending', 'deferred')",
        params![id, now],
    )?;
    Ok(true)
}
