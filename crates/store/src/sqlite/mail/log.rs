//! The change log and the counters every mail write moves: a mailbox's HIGHESTMODSEQ, the
//! `changelog` rows (one per UID, at the MODSEQ of its latest change; see schema version 8)
//! and the owner's mail generation (for change notifications).

use crate::{MailboxId, Result, StoreError, UserId};
use rusqlite::{Connection, OptionalExtension, params};

/// What a `changelog` row says about its UID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Appended = 0,
    FlagsChanged = 1,
    Expunged = 2,
}

/// Takes the mailbox's next MODSEQ. One per write call: every message it changes shares it.
pub(crate) fn next_modseq(conn: &Connection, mailbox: MailboxId) -> Result<u64> {
    let modseq: Option<i64> = conn
        .prepare_cached(
            "UPDATE mailboxes SET highestmodseq = highestmodseq + 1 WHERE id = ?1
             RETURNING highestmodseq",
        )?
        .query_row(params![mailbox.0], |r| r.get(0))
        .optional()?;
    modseq
        .map(|m| m as u64)
        .ok_or_else(|| StoreError::UnknownMailbox(format!("id {}", mailbox.0)))
}

/// The mailbox's HIGHESTMODSEQ now.
pub(crate) fn highest_modseq(conn: &Connection, mailbox: MailboxId) -> Result<u64> {
    let modseq: Option<i64> = conn
        .prepare_cached("SELECT highestmodseq FROM mailboxes WHERE id = ?1")?
        .query_row(params![mailbox.0], |r| r.get(0))
        .optional()?;
    modseq
        .map(|m| m as u64)
        .ok_or_else(|| StoreError::UnknownMailbox(format!("id {}", mailbox.0)))
}

/// Records a new UID (an append or a copy).
pub(crate) fn appended(conn: &Connection, mailbox: MailboxId, uid: u32, modseq: u64) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO changelog (mailbox_id, modseq, uid, kind) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![
        mailbox.0,
        modseq as i64,
        uid,
        Kind::Appended as i64
    ])?;
    Ok(())
}

/// Moves a UID's row from its previous MODSEQ (the message's, before the change) to its new
/// one, so the log keeps one row per UID.
pub(crate) fn changed(
    conn: &Connection,
    mailbox: MailboxId,
    uid: u32,
    (old, new): (u64, u64),
    kind: Kind,
) -> Result<()> {
    let moved = conn
        .prepare_cached(
            "UPDATE changelog SET modseq = ?4, kind = ?5
             WHERE mailbox_id = ?1 AND modseq = ?2 AND uid = ?3",
        )?
        .execute(params![mailbox.0, old as i64, uid, new as i64, kind as i64])?;
    if moved == 0 {
        // No row where the message said (written before the log kept this invariant):
        // record the change anyway; a stale row left behind only repeats a UID.
        conn.prepare_cached(
            "INSERT OR REPLACE INTO changelog (mailbox_id, modseq, uid, kind)
             VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![mailbox.0, new as i64, uid, kind as i64])?;
    }
    Ok(())
}

/// Bumps the mail generation of `user`; returns it for announcing after the commit.
pub(crate) fn touch_user(conn: &Connection, user: UserId) -> Result<(UserId, i64)> {
    let generation: Option<i64> = conn
        .prepare_cached(
            "UPDATE users SET mail_generation = mail_generation + 1 WHERE id = ?1
             RETURNING mail_generation",
        )?
        .query_row(params![user.0], |r| r.get(0))
        .optional()?;
    let generation = generation.ok_or_else(|| StoreError::UnknownUser(format!("id {}", user.0)))?;
    Ok((user, generation))
}

/// Bumps the mail generation of the owner of `mailbox`.
pub(crate) fn touch_owner(conn: &Connection, mailbox: MailboxId) -> Result<(UserId, i64)> {
    let touched: Option<(i64, i64)> = conn
        .prepare_cached(
            "UPDATE users SET mail_generation = mail_generation + 1
             WHERE id = (SELECT user_id FROM mailboxes WHERE id = ?1)
             RETURNING id, mail_generation",
        )?
        .query_row(params![mailbox.0], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let (user, generation) =
        touched.ok_or_else(|| StoreError::UnknownMailbox(format!("id {}", mailbox.0)))?;
    Ok((UserId(user), generation))
}
