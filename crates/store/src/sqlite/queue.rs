//! The outbound queue's rows: one entry per message, one row per remote recipient with its
//! own state, so a retry or a bounce concerns exactly the recipients it should.

use crate::{BlobId, Outbound, QueueEntry, Result, StoreError};
use rusqlite::{Connection, params};

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Adds a queue entry for `blob_id` within the caller's transaction; due at once.
pub(crate) fn enqueue(conn: &Connection, blob_id: &str, outbound: &Outbound) -> Result<i64> {
    let created = now();
    conn.execute(
        "INSERT INTO queue (blob_id, sender, created, envid, ret) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            blob_id,
            outbound.sender.as_deref().unwrap_or(""),
            created,
            outbound.envid,
            outbound.ret
        ],
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
        conn.prepare_cached("SELECT id, blob_id, sender, created FROM queue ORDER BY id")?;
    let mut rcpts = conn.prepare_cached(
        "SELECT recipient, status, attempts, last_error FROM queue_recipients WHERE queue_id = ?1 ORDER BY recipient",
    )?;
    let rows = entries.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, i64>(3)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, blob, sender, created) = row?;
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
        });
    }
    Ok(out)
}
