//! The body cache (schema version 10): what the server derived from a stored body, kept
//! beside it. The store neither reads nor checks the data; it only keeps it with its body.

use crate::sqlite::mailbox::parse_flags;
use crate::{BlobId, MailboxId, MessageMeta, Result, StoreError};
use hermod_types::Uid;
use rusqlite::{Connection, params};

/// The mailbox's messages in UID order, each with its body's cache entry if there is one:
/// one range read of the messages joined with the cache on the body's key.
pub(crate) fn messages_with_cache(
    conn: &Connection,
    mailbox: MailboxId,
) -> Result<Vec<(MessageMeta, Option<Vec<u8>>)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT m.uid, m.blob_id, m.size, m.internal_date, m.flags, m.keywords, m.modseq, c.data
         FROM messages m LEFT JOIN body_cache c ON c.id = m.blob_id
         WHERE m.mailbox_id = ?1 ORDER BY m.uid",
    )?;
    let rows = stmt.query_map(params![mailbox.0], |r| {
        Ok((
            (
                r.get::<_, u32>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
            ),
            (
                r.get::<_, u8>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, i64>(6)?,
            ),
            r.get::<_, Option<Vec<u8>>>(7)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let ((uid, blob, size, internal_date), (bits, keywords, modseq), data) = row?;
        let corrupt = || StoreError::Corrupt(format!("message {uid} in mailbox {}", mailbox.0));
        let meta = MessageMeta {
            uid: Uid::new(uid).ok_or_else(corrupt)?,
            blob: BlobId::parse(&blob).ok_or_else(corrupt)?,
            size: size as u64,
            internal_date,
            flags: parse_flags(bits, &keywords),
            modseq: modseq as u64,
        };
        out.push((meta, data));
    }
    Ok(out)
}

/// Keeps `data` for each body, replacing an older entry. A body removed meanwhile gets none:
/// nothing would remove the entry later.
pub(crate) fn cache_bodies(conn: &Connection, entries: &[(BlobId, Vec<u8>)]) -> Result<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT OR REPLACE INTO body_cache (id, data)
         SELECT ?1, ?2 WHERE EXISTS (SELECT 1 FROM blobs WHERE id = ?1)",
    )?;
    for (blob, data) in entries {
        stmt.execute(params![blob.as_str(), data])?;
    }
    Ok(())
}
