//! The bulk guard's memory: content fingerprints of recent messages per scope (an account,
//! or inbound mail), found again through their MinHash band keys, with their recipients.

use crate::{BulkCount, BulkSighting, Result};
use rusqlite::{Connection, params};
use std::collections::BTreeSet;

/// Records `sighting` and counts what earlier copies of its content (messages of the same
/// scope since `sighting.since` whose signatures agree in `min_equal` numbers) reached.
/// Messages of the scope from before the window are forgotten on the way.
pub(crate) fn observe(conn: &Connection, sighting: &BulkSighting) -> Result<BulkCount> {
    let scope = sighting.scope.key();
    conn.prepare_cached("DELETE FROM bulk_messages WHERE scope = ?1 AND at < ?2")?
        .execute(params![scope, sighting.since])?;
    let copies = earlier_copies(conn, sighting)?;
    let mut recipients: BTreeSet<String> = BTreeSet::new();
    let mut stmt =
        conn.prepare_cached("SELECT recipient FROM bulk_recipients WHERE message_id = ?1")?;
    for id in &copies {
        for recipient in stmt.query_map([id], |r| r.get::<_, String>(0))? {
            recipients.insert(recipient?);
        }
    }
    let before = recipients.len() as u64;
    recipients.extend(sighting.recipients.iter().cloned());
    record(conn, sighting)?;
    Ok(BulkCount {
        copies: copies.len() as u64,
        before,
        after: recipients.len() as u64,
    })
}

/// The ids of earlier messages in the window that are copies of the sighting's content.
fn earlier_copies(conn: &Connection, sighting: &BulkSighting) -> Result<Vec<i64>> {
    let scope = sighting.scope.key();
    let mut candidates: BTreeSet<i64> = BTreeSet::new();
    let mut probe = conn.prepare_cached(
        "SELECT b.message_id FROM bulk_bands b JOIN bulk_messages m ON m.id = b.message_id
         WHERE b.scope = ?1 AND b.band = ?2 AND m.at >= ?3",
    )?;
    for band in &sighting.bands {
        for id in probe.query_map(params![scope, band, sighting.since], |r| r.get(0))? {
            candidates.insert(id?);
        }
    }
    let mut signature = conn.prepare_cached("SELECT signature FROM bulk_messages WHERE id = ?1")?;
    let mut copies = Vec::new();
    for id in candidates {
        let theirs: Vec<u8> = signature.query_row([id], |r| r.get(0))?;
        if equal_numbers(&theirs, &sighting.signature) >= sighting.min_equal {
            copies.push(id);
        }
    }
    Ok(copies)
}

/// How many four-byte numbers of two signatures agree, position by position.
fn equal_numbers(a: &[u8], b: &[u8]) -> usize {
    a.chunks_exact(4)
        .zip(b.chunks_exact(4))
        .filter(|(x, y)| x == y)
        .count()
}

fn record(conn: &Connection, sighting: &BulkSighting) -> Result<()> {
    let scope = sighting.scope.key();
    conn.prepare_cached("INSERT INTO bulk_messages (scope, at, signature) VALUES (?1, ?2, ?3)")?
        .execute(params![scope, sighting.at, sighting.signature])?;
    let id = conn.last_insert_rowid();
    let mut band = conn.prepare_cached(
        "INSERT OR IGNORE INTO bulk_bands (scope, band, message_id) VALUES (?1, ?2, ?3)",
    )?;
    for key in &sighting.bands {
        band.execute(params![scope, key, id])?;
    }
    let mut rcpt = conn.prepare_cached(
        "INSERT OR IGNORE INTO bulk_recipients (message_id, recipient) VALUES (?1, ?2)",
    )?;
    for recipient in &sighting.recipients {
        rcpt.execute(params![id, recipient])?;
    }
    Ok(())
}
