//! STORE: flag and keyword changes with the CONDSTORE guard.

use super::log::{self, Kind};
use crate::mail_model::same_flags;
use crate::sqlite::mailbox::parse_flags;
use crate::{
    FlagChange, FlagsOutcome, MailboxId, MessageState, Result, StoreError, UidSet, is_valid_keyword,
};
use hermod_types::Uid;
use rusqlite::{Connection, params};

/// Applies `change` to the messages of `uids`, within the caller's write transaction. The
/// guard and the change see the same rows: the transaction holds the write lock, so a
/// concurrent STORE either committed before (and its MODSEQ fails our guard) or waits.
/// Also says whether any message changed (and the mailbox took a new MODSEQ).
pub(crate) fn store_flags(
    conn: &Connection,
    mailbox: MailboxId,
    uids: &UidSet,
    change: &FlagChange,
) -> Result<(FlagsOutcome, bool)> {
    if let Some(bad) = change.flags.keywords.iter().find(|k| !is_valid_keyword(k)) {
        return Err(StoreError::BadKeyword(bad.clone()));
    }
    let mut outcome = FlagsOutcome {
        highest_modseq: log::highest_modseq(conn, mailbox)?,
        ..FlagsOutcome::default()
    };
    let mut modseq = None;
    for state in states(conn, mailbox, uids)? {
        if change
            .unchanged_since
            .is_some_and(|guard| state.modseq > guard)
        {
            outcome.modified.insert(state.uid);
            continue;
        }
        let flags = change.op.apply(&state.flags, &change.flags);
        if same_flags(&flags, &state.flags) {
            outcome.updated.push(state);
            continue;
        }
        let new = match modseq {
            Some(m) => m,
            None => *modseq.insert(log::next_modseq(conn, mailbox)?),
        };
        write_flags(conn, mailbox, state.uid, &flags, new)?;
        log::changed(
            conn,
            mailbox,
            state.uid.get(),
            (state.modseq, new),
            Kind::FlagsChanged,
        )?;
        outcome.updated.push(MessageState {
            uid: state.uid,
            flags,
            modseq: new,
        });
    }
    if let Some(m) = modseq {
        outcome.highest_modseq = m;
    }
    Ok((outcome, modseq.is_some()))
}

fn write_flags(
    conn: &Connection,
    mailbox: MailboxId,
    uid: Uid,
    flags: &crate::Flags,
    modseq: u64,
) -> Result<()> {
    conn.prepare_cached(
        "UPDATE messages SET flags = ?1, keywords = ?2, modseq = ?3
         WHERE mailbox_id = ?4 AND uid = ?5",
    )?
    .execute(params![
        flags.bits,
        flags.keywords.join(" "),
        modseq as i64,
        mailbox.0,
        uid.get()
    ])?;
    Ok(())
}

/// Flags and MODSEQ of the existing messages of `uids`, in UID order.
pub(crate) fn states(
    conn: &Connection,
    mailbox: MailboxId,
    uids: &UidSet,
) -> Result<Vec<MessageState>> {
    let mut stmt = conn.prepare_cached(
        "SELECT uid, flags, keywords, modseq FROM messages
         WHERE mailbox_id = ?1 AND uid BETWEEN ?2 AND ?3 ORDER BY uid",
    )?;
    let mut out = Vec::new();
    for &(first, last) in uids.ranges() {
        let rows = stmt.query_map(params![mailbox.0, first, last], |r| {
            Ok((
                r.get::<_, u32>(0)?,
                r.get::<_, u8>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })?;
        for row in rows {
            let (uid, bits, keywords, modseq) = row?;
            out.push(MessageState {
                uid: Uid::new(uid).ok_or_else(|| StoreError::Corrupt("uid 0".into()))?,
                flags: parse_flags(bits, &keywords),
                modseq: modseq as u64,
            });
        }
    }
    Ok(out)
}
