//! COPY, MOVE and EXPUNGE. A copy is a new message row naming the same body: the insert
//! trigger counts the reference and the quota, so one body serves every copy and goes when
//! the last row referencing it does.

use super::log::{self, Kind};
use crate::sqlite::mailbox::{collect_garbage, list_message_range, mailbox_by_id};
use crate::{BlobId, CopyOutcome, Expunged, MailboxId, Result, StoreError, UidSet, UserId};
use hermod_types::Uid;
use rusqlite::{Connection, OptionalExtension, params};

/// Copies the messages of `uids` from one mailbox of a user into another of the same user.
/// With `quota` the copies must fit the user's quota (all or nothing). Returns the owner too.
pub(crate) fn copy(
    conn: &Connection,
    (from, to): (MailboxId, MailboxId),
    uids: &UidSet,
    quota: bool,
) -> Result<(CopyOutcome, UserId)> {
    let (owner, _) = mailbox_by_id(conn, from)?;
    let (dest_owner, dest) = mailbox_by_id(conn, to)?;
    if owner != dest_owner {
        // Another user's mailbox is as good as absent to this one.
        return Err(StoreError::UnknownMailbox(dest.name.to_string()));
    }
    let mut messages = Vec::new();
    for &range in uids.ranges() {
        list_message_range(conn, from, range, &mut messages)?;
    }
    let mut outcome = CopyOutcome {
        uid_validity: dest.uid_validity,
        mapping: Vec::with_capacity(messages.len()),
    };
    if messages.is_empty() {
        return Ok((outcome, owner));
    }
    if quota {
        check_quota(conn, owner, messages.iter().map(|m| m.size).sum())?;
    }
    let first = take_uids(conn, to, messages.len())?;
    let modseq = log::next_modseq(conn, to)?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO messages
         (mailbox_id, uid, blob_id, size, internal_date, flags, keywords, modseq)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    for (n, message) in messages.iter().enumerate() {
        let uid = first + n as u32;
        insert.execute(params![
            to.0,
            uid,
            message.blob.as_str(),
            message.size as i64,
            message.internal_date,
            message.flags.bits,
            message.flags.keywords.join(" "),
            modseq as i64
        ])?;
        log::appended(conn, to, uid, modseq)?;
        let uid = Uid::new(uid).ok_or_else(|| StoreError::Corrupt("uid 0".into()))?;
        outcome.mapping.push((message.uid, uid));
    }
    Ok((outcome, owner))
}

/// MOVE: the copy and the expunge of the originals commit together.
pub(crate) fn move_messages(
    conn: &Connection,
    (from, to): (MailboxId, MailboxId),
    uids: &UidSet,
) -> Result<(CopyOutcome, UserId, Vec<BlobId>)> {
    // Usage does not grow: the quota check would only refuse moves near the limit.
    let (outcome, owner) = copy(conn, (from, to), uids, false)?;
    let moved: UidSet = outcome.mapping.iter().map(|(source, _)| *source).collect();
    let (_, garbage) = expunge(conn, from, Some(&moved), false)?;
    Ok((outcome, owner, garbage))
}

fn check_quota(conn: &Connection, user: UserId, extra: u64) -> Result<()> {
    let (address, quota, used): (String, Option<i64>, i64) = conn
        .prepare_cached("SELECT address, quota, used FROM users WHERE id = ?1")?
        .query_row(params![user.0], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?
        .ok_or_else(|| StoreError::UnknownUser(format!("id {}", user.0)))?;
    if quota.is_some_and(|q| used as u64 + extra > q as u64) {
        return Err(StoreError::OverQuota(address));
    }
    Ok(())
}

/// Reserves `count` consecutive UIDs of `mailbox`; returns the first.
fn take_uids(conn: &Connection, mailbox: MailboxId, count: usize) -> Result<u32> {
    let first: i64 = conn
        .prepare_cached(
            "UPDATE mailboxes SET uidnext = uidnext + ?2 WHERE id = ?1 RETURNING uidnext - ?2",
        )?
        .query_row(params![mailbox.0, count as i64], |r| r.get(0))?;
    // UIDs are 32 bits; a mailbox that ran out would need a new UIDVALIDITY.
    match u32::try_from(first + count as i64) {
        Ok(_) => Ok(first as u32),
        Err(_) => Err(StoreError::Corrupt(format!(
            "mailbox {} has no UIDs left",
            mailbox.0
        ))),
    }
}

/// Removes the messages of `uids` (all of the mailbox with `None`), only those flagged
/// `\Deleted` when `only_deleted`, leaving tombstones in the change log. Returns what went and
/// the bodies no longer referenced (to unlink after the commit).
pub(crate) fn expunge(
    conn: &Connection,
    mailbox: MailboxId,
    uids: Option<&UidSet>,
    only_deleted: bool,
) -> Result<(Expunged, Vec<BlobId>)> {
    let mut candidates: Vec<(u32, u64)> = Vec::new();
    let mut select = conn.prepare_cached(
        "SELECT uid, modseq FROM messages WHERE mailbox_id = ?1 AND uid BETWEEN ?2 AND ?3
         AND (NOT ?4 OR (flags & 8) != 0) ORDER BY uid",
    )?;
    let all = [(1, u32::MAX)];
    for &(first, last) in uids.map_or(&all[..], |set| set.ranges()) {
        let rows = select.query_map(params![mailbox.0, first, last, only_deleted], |r| {
            Ok((r.get::<_, u32>(0)?, r.get::<_, i64>(1)? as u64))
        })?;
        for row in rows {
            candidates.push(row?);
        }
    }
    if candidates.is_empty() {
        let highest_modseq = log::highest_modseq(conn, mailbox)?;
        let nothing = Expunged {
            uids: Vec::new(),
            highest_modseq,
        };
        return Ok((nothing, Vec::new()));
    }
    let modseq = log::next_modseq(conn, mailbox)?;
    let mut delete =
        conn.prepare_cached("DELETE FROM messages WHERE mailbox_id = ?1 AND uid = ?2")?;
    let mut expunged = Expunged {
        uids: Vec::with_capacity(candidates.len()),
        highest_modseq: modseq,
    };
    for (uid, old) in candidates {
        delete.execute(params![mailbox.0, uid])?;
        log::changed(conn, mailbox, uid, (old, modseq), Kind::Expunged)?;
        expunged
            .uids
            .push(Uid::new(uid).ok_or_else(|| StoreError::Corrupt("uid 0".into()))?);
    }
    Ok((expunged, collect_garbage(conn)?))
}
