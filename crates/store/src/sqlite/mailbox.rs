//! Mailbox and message rows: filing, listing, flags, expunge.

use crate::{
    BlobId, Delivered, DeliveryTarget, Flags, MailboxId, MailboxInfo, MessageMeta, Result,
    SpecialUse, StoreError, UserId,
};
use hermod_types::{MailboxName, Uid, UidValidity};
use rusqlite::{Connection, OptionalExtension, Row, params};

const MAILBOX_COLUMNS: &str = "id, name, uidvalidity, uidnext, highestmodseq, special_use";

fn mailbox_from_row(
    row: &Row<'_>,
) -> rusqlite::Result<(i64, String, u32, u32, i64, Option<String>)> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
    ))
}

fn to_info(raw: (i64, String, u32, u32, i64, Option<String>)) -> Result<MailboxInfo> {
    let (id, name, validity, uid_next, modseq, special) = raw;
    let corrupt = |what: &str| StoreError::Corrupt(format!("mailbox {id}: bad {what}"));
    Ok(MailboxInfo {
        id: MailboxId(id),
        name: MailboxName::parse(&name).map_err(|_| corrupt("name"))?,
        uid_validity: UidValidity::new(validity).ok_or_else(|| corrupt("uidvalidity"))?,
        uid_next,
        highest_modseq: modseq as u64,
        special_use: special.as_deref().and_then(SpecialUse::parse),
    })
}

pub(crate) fn find_mailbox(
    conn: &Connection,
    user: UserId,
    name: &MailboxName,
) -> Result<Option<MailboxInfo>> {
    let sql = format!("SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE user_id = ?1 AND name = ?2");
    let raw = conn
        .prepare_cached(&sql)?
        .query_row(params![user.0, name.as_str()], mailbox_from_row)
        .optional()?;
    raw.map(to_info).transpose()
}

pub(crate) fn list_mailboxes(conn: &Connection, user: UserId) -> Result<Vec<MailboxInfo>> {
    let sql = format!("SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE user_id = ?1 ORDER BY id");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![user.0], mailbox_from_row)?;
    rows.map(|r| to_info(r?)).collect()
}

/// UIDVALIDITY must never repeat for a mailbox name, even when a mailbox is deleted and made
/// again within the same second: take the clock, but always more than the last one given.
fn next_uid_validity(conn: &Connection) -> Result<u32> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_secs() as i64);
    let value: i64 = conn.query_row(
        "UPDATE meta SET value = max(value + 1, ?1 % 4294967295 + 1)
         WHERE key = 'last_uidvalidity' RETURNING value",
        params![now],
        |r| r.get(0),
    )?;
    u32::try_from(value).map_err(|_| StoreError::Corrupt("uidvalidity overflow".into()))
}

pub(crate) fn insert_mailbox(
    conn: &Connection,
    user: UserId,
    name: &MailboxName,
    special: Option<SpecialUse>,
) -> Result<MailboxInfo> {
    if find_mailbox(conn, user, name)?.is_some() {
        return Err(StoreError::MailboxExists(name.to_string()));
    }
    let validity = next_uid_validity(conn)?;
    conn.execute(
        "INSERT INTO mailboxes (user_id, name, uidvalidity, special_use) VALUES (?1, ?2, ?3, ?4)",
        params![
            user.0,
            name.as_str(),
            validity,
            special.map(SpecialUse::as_str)
        ],
    )?;
    find_mailbox(conn, user, name)?.ok_or_else(|| StoreError::UnknownMailbox(name.to_string()))
}

/// Adds one copy of a stored body to a mailbox (made on demand), within the caller's
/// transaction. Fails with `OverQuota` when the copy would take the user over the quota.
pub(crate) fn file_message(
    conn: &Connection,
    blob_id: &str,
    size: u64,
    target: &DeliveryTarget,
) -> Result<Delivered> {
    let (address, quota, used): (String, Option<i64>, i64) = conn
        .prepare_cached("SELECT address, quota, used FROM users WHERE id = ?1")?
        .query_row(params![target.user.0], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?
        .ok_or_else(|| StoreError::UnknownUser(format!("id {}", target.user.0)))?;
    if quota.is_some_and(|q| used as u64 + size > q as u64) {
        return Err(StoreError::OverQuota(address));
    }
    let mailbox = match find_mailbox(conn, target.user, &target.mailbox)? {
        Some(m) => m,
        None => insert_mailbox(conn, target.user, &target.mailbox, None)?,
    };
    let (uid, modseq): (u32, i64) = conn
        .prepare_cached(
            "UPDATE mailboxes SET uidnext = uidnext + 1, highestmodseq = highestmodseq + 1
             WHERE id = ?1 RETURNING uidnext - 1, highestmodseq",
        )?
        .query_row(params![mailbox.id.0], |r| Ok((r.get(0)?, r.get(1)?)))?;
    conn.prepare_cached(
        "INSERT INTO messages (mailbox_id, uid, blob_id, size, internal_date, flags, keywords, modseq)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        mailbox.id.0,
        uid,
        blob_id,
        size as i64,
        target.internal_date,
        target.flags.bits,
        target.flags.keywords.join(" "),
        modseq
    ])?;
    let uid = Uid::new(uid).ok_or_else(|| StoreError::Corrupt("uid 0".into()))?;
    Ok(Delivered {
        user: target.user,
        mailbox: mailbox.id,
        uid,
    })
}

pub(crate) fn list_messages(conn: &Connection, mailbox: MailboxId) -> Result<Vec<MessageMeta>> {
    let mut stmt = conn.prepare_cached(
        "SELECT uid, blob_id, size, internal_date, flags, keywords, modseq
         FROM messages WHERE mailbox_id = ?1 ORDER BY uid",
    )?;
    let rows = stmt.query_map(params![mailbox.0], |r| {
        Ok((
            r.get::<_, u32>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, u8>(4)?,
            r.get::<_, String>(5)?,
            r.get::<_, i64>(6)?,
        ))
    })?;
    rows.map(|row| {
        let (uid, blob, size, internal_date, bits, keywords, modseq) = row?;
        let corrupt = || StoreError::Corrupt(format!("message {uid} in mailbox {}", mailbox.0));
        Ok(MessageMeta {
            uid: Uid::new(uid).ok_or_else(corrupt)?,
            blob: BlobId::parse(&blob).ok_or_else(corrupt)?,
            size: size as u64,
            internal_date,
            flags: Flags {
                bits,
                keywords: keywords.split_whitespace().map(str::to_owned).collect(),
            },
            modseq: modseq as u64,
        })
    })
    .collect()
}

pub(crate) fn set_flags(
    conn: &Connection,
    mailbox: MailboxId,
    uids: &[Uid],
    flags: &Flags,
) -> Result<()> {
    let modseq: i64 = conn.query_row(
        "UPDATE mailboxes SET highestmodseq = highestmodseq + 1 WHERE id = ?1
         RETURNING highestmodseq",
        params![mailbox.0],
        |r| r.get(0),
    )?;
    let mut stmt = conn.prepare_cached(
        "UPDATE messages SET flags = ?1, keywords = ?2, modseq = ?3
         WHERE mailbox_id = ?4 AND uid = ?5",
    )?;
    let keywords = flags.keywords.join(" ");
    for uid in uids {
        stmt.execute(params![flags.bits, keywords, modseq, mailbox.0, uid.get()])?;
    }
    Ok(())
}

/// Deletes message rows and returns the bodies no row references any more.
pub(crate) fn delete_messages(
    conn: &Connection,
    mailbox: MailboxId,
    uids: &[Uid],
) -> Result<Vec<BlobId>> {
    let mut stmt =
        conn.prepare_cached("DELETE FROM messages WHERE mailbox_id = ?1 AND uid = ?2")?;
    for uid in uids {
        stmt.execute(params![mailbox.0, uid.get()])?;
    }
    conn.execute(
        "UPDATE mailboxes SET highestmodseq = highestmodseq + 1 WHERE id = ?1",
        params![mailbox.0],
    )?;
    collect_garbage(conn)
}

/// Removes body rows nothing references (inline bodies go with them) and returns the ids of
/// file bodies; the caller unlinks those files after its transaction commits.
pub(crate) fn collect_garbage(conn: &Connection) -> Result<Vec<BlobId>> {
    let mut stmt = conn.prepare_cached("DELETE FROM blobs WHERE refs <= 0 RETURNING id, inline")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, bool>(1)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (id, inline) = row?;
        if !inline {
            out.extend(BlobId::parse(&id));
        }
    }
    Ok(out)
}
