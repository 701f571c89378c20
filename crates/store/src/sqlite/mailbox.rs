//! Mailbox and message rows: filing, listing, flags, expunge.

use crate::{
    BlobId, Delivered, DeliveryTarget, Flags, MailboxId, MailboxInfo, MessageMeta, Result,
    SpecialUse, StoreError, UserId,
};
use hermod_types::{MailboxName, Uid, UidValidity};
use rusqlite::{Connection, OptionalExtension, Row, params};

pub(crate) const MAILBOX_COLUMNS: &str =
    "id, name, uidvalidity, uidnext, highestmodseq, special_use";

pub(crate) fn mailbox_from_row(
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

pub(crate) fn to_info(raw: (i64, String, u32, u32, i64, Option<String>)) -> Result<MailboxInfo> {
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

/// The stored form of a name: `INBOX` is case-insensitive, and so is the `INBOX/` level of
/// its children (`MailboxName` only folds the case of a bare `INBOX`).
pub(crate) fn canonical(name: &MailboxName) -> MailboxName {
    match name.as_str().get(..6) {
        Some(prefix) if prefix.eq_ignore_ascii_case("inbox/") && prefix != "INBOX/" => {
            let fixed = format!("INBOX/{}", &name.as_str()[6..]);
            MailboxName::parse(&fixed).unwrap_or_else(|_| name.clone())
        }
        _ => name.clone(),
    }
}

pub(crate) fn find_mailbox(
    conn: &Connection,
    user: UserId,
    name: &MailboxName,
) -> Result<Option<MailboxInfo>> {
    let sql = format!("SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE user_id = ?1 AND name = ?2");
    let raw = conn
        .prepare_cached(&sql)?
        .query_row(params![user.0, canonical(name).as_str()], mailbox_from_row)
        .optional()?;
    raw.map(to_info).transpose()
}

/// One mailbox by id, with its owner.
pub(crate) fn mailbox_by_id(
    conn: &Connection,
    mailbox: MailboxId,
) -> Result<(UserId, MailboxInfo)> {
    let sql = format!("SELECT {MAILBOX_COLUMNS}, user_id FROM mailboxes WHERE id = ?1");
    let (raw, user) = conn
        .prepare_cached(&sql)?
        .query_row(params![mailbox.0], |r| {
            Ok((mailbox_from_row(r)?, r.get::<_, i64>(6)?))
        })
        .optional()?
        .ok_or_else(|| StoreError::UnknownMailbox(format!("id {}", mailbox.0)))?;
    Ok((UserId(user), to_info(raw)?))
}

/// Mailboxes of `user` matching `filter` (SQL on the `mailboxes` columns, parameters from
/// ?2 on), INBOX first, then by name: parents come before their children.
pub(crate) fn select_mailboxes(
    conn: &Connection,
    user: UserId,
    filter: &str,
    args: &[&dyn rusqlite::ToSql],
) -> Result<Vec<MailboxInfo>> {
    let sql = format!(
        "SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE user_id = ?1 AND ({filter})
         ORDER BY name != 'INBOX', name, id"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut params: Vec<&dyn rusqlite::ToSql> = vec![&user.0];
    params.extend_from_slice(args);
    let rows = stmt.query_map(params.as_slice(), mailbox_from_row)?;
    rows.map(|r| to_info(r?)).collect()
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
    let name = &canonical(name);
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
/// transaction, with its change-log row. Fails with `OverQuota` when the copy would take the
/// user over the quota. Returns the user's mail generation after the change (for change
/// notifications): read with the quota, one more for the insert trigger, no extra query.
pub(crate) fn file_message(
    conn: &Connection,
    blob_id: &str,
    size: u64,
    target: &DeliveryTarget,
) -> Result<(Delivered, i64)> {
    let (address, quota, used, generation): (String, Option<i64>, i64, i64) = conn
        .prepare_cached("SELECT address, quota, used, mail_generation FROM users WHERE id = ?1")?
        .query_row(params![target.user.0], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .optional()?
        .ok_or_else(|| StoreError::UnknownUser(format!("id {}", target.user.0)))?;
    if quota.is_some_and(|q| used as u64 + size > q as u64) {
        return Err(StoreError::OverQuota(address));
    }
    let mailbox = match find_mailbox(conn, target.user, &target.mailbox)? {
        Some(m) => m,
        // Rare (a filing rule naming a new folder): made with its parents, like CREATE.
        None => super::mail::create_mailbox(conn, target.user, &target.mailbox, None)?,
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
    conn.prepare_cached(
        // kind 0: appended (`mail::log::Kind`).
        "INSERT INTO changelog (mailbox_id, modseq, uid, kind) VALUES (?1, ?2, ?3, 0)",
    )?
    .execute(params![mailbox.id.0, modseq, uid])?;
    let uid = Uid::new(uid).ok_or_else(|| StoreError::Corrupt("uid 0".into()))?;
    let delivered = Delivered {
        user: target.user,
        mailbox: mailbox.id,
        uid,
    };
    Ok((delivered, generation + 1))
}

pub(crate) fn list_messages(conn: &Connection, mailbox: MailboxId) -> Result<Vec<MessageMeta>> {
    let mut out = Vec::new();
    list_message_range(conn, mailbox, (1, u32::MAX), &mut out)?;
    Ok(out)
}

/// Appends the messages with UIDs in `first..=last` to `out`, in UID order: a range read on
/// the primary key.
pub(crate) fn list_message_range(
    conn: &Connection,
    mailbox: MailboxId,
    (first, last): (u32, u32),
    out: &mut Vec<MessageMeta>,
) -> Result<()> {
    let mut stmt = conn.prepare_cached(
        "SELECT uid, blob_id, size, internal_date, flags, keywords, modseq
         FROM messages WHERE mailbox_id = ?1 AND uid BETWEEN ?2 AND ?3 ORDER BY uid",
    )?;
    let rows = stmt.query_map(params![mailbox.0, first, last], |r| {
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
    for row in rows {
        let (uid, blob, size, internal_date, bits, keywords, modseq) = row?;
        let corrupt = || StoreError::Corrupt(format!("message {uid} in mailbox {}", mailbox.0));
        out.push(MessageMeta {
            uid: Uid::new(uid).ok_or_else(corrupt)?,
            blob: BlobId::parse(&blob).ok_or_else(corrupt)?,
            size: size as u64,
            internal_date,
            flags: parse_flags(bits, &keywords),
            modseq: modseq as u64,
        });
    }
    Ok(())
}

/// Flags as stored: a bitmask and space-separated keywords.
pub(crate) fn parse_flags(bits: u8, keywords: &str) -> Flags {
    Flags {
        bits,
        keywords: keywords.split_whitespace().map(str::to_owned).collect(),
    }
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
