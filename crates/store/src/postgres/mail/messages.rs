//! Messages: listing, STORE, COPY/MOVE, EXPUNGE, what changed since a MODSEQ, the body
//! cache. Writes run in the caller's transaction after it locked the mailbox's owner, so the
//! guard of a STORE and its change see the same rows, and a mailbox's next UID and MODSEQ
//! come from its row, locked until commit: they ascend in commit order across nodes.

use super::Changed;
use crate::mail_model::same_flags;
use crate::{
    BlobId, Changes, CopyOutcome, Expunged, FlagChange, Flags, FlagsOutcome, MailboxId,
    MessageMeta, MessageState, Result, StoreError, UidSet, UserId, is_valid_keyword,
};
use hermod_types::{Uid, UidValidity};
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{GenericClient, Row, Transaction};

/// What a `changelog` row says about its UID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Appended = 0,
    FlagsChanged = 1,
    Expunged = 2,
}

const MESSAGE_COLUMNS: &str = "uid, blob_id, size, internal_date, flags, keywords, modseq";

/// The UID ranges of a set as two arrays, for `unnest($n::bigint[], $m::bigint[])`.
fn bounds(uids: &UidSet) -> (Vec<i64>, Vec<i64>) {
    uids.ranges()
        .iter()
        .map(|&(lo, hi)| (i64::from(lo), i64::from(hi)))
        .unzip()
}

fn uid(n: i64) -> Result<Uid> {
    u32::try_from(n)
        .ok()
        .and_then(Uid::new)
        .ok_or_else(|| StoreError::Corrupt(format!("uid {n}")))
}

pub(super) fn flags_of(bits: i16, keywords: &str) -> Flags {
    Flags {
        bits: bits as u8,
        keywords: keywords.split_whitespace().map(str::to_owned).collect(),
    }
}

/// A message from a row whose first columns are [`MESSAGE_COLUMNS`].
pub(super) fn message_from_row(r: &Row) -> Result<MessageMeta> {
    let blob: String = r.get(1);
    Ok(MessageMeta {
        uid: uid(r.get(0))?,
        blob: BlobId::parse(&blob).ok_or_else(|| StoreError::Corrupt(format!("body {blob}")))?,
        size: r.get::<_, i64>(2).max(0) as u64,
        internal_date: r.get(3),
        flags: flags_of(r.get(4), r.get(5)),
        modseq: r.get::<_, i64>(6) as u64,
    })
}

/// The messages of `uids` in UID order: one range scan per range, one trip.
pub(super) async fn list(
    c: &(impl GenericClient + Sync),
    mailbox: MailboxId,
    uids: &UidSet,
) -> Result<Vec<MessageMeta>> {
    let (lo, hi) = bounds(uids);
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages m
         JOIN unnest($2::bigint[], $3::bigint[]) AS r(lo, hi) ON m.uid BETWEEN r.lo AND r.hi
         WHERE m.mailbox_id = $1 ORDER BY m.uid"
    );
    let params: [(&(dyn ToSql + Sync), Type); 3] = [
        (&mailbox.0, Type::INT8),
        (&lo, Type::INT8_ARRAY),
        (&hi, Type::INT8_ARRAY),
    ];
    let rows = c.query_typed(&sql, &params).await?;
    rows.iter().map(message_from_row).collect()
}

/// Messages with what the server cached for their bodies, in UID order.
pub(super) async fn with_cache(
    c: &(impl GenericClient + Sync),
    mailbox: MailboxId,
) -> Result<Vec<(MessageMeta, Option<Vec<u8>>)>> {
    let rows = c
        .query(
            "SELECT m.uid, m.blob_id, m.size, m.internal_date, m.flags, m.keywords, m.modseq,
                    c.data
             FROM messages m LEFT JOIN body_cache c ON c.id = m.blob_id
             WHERE m.mailbox_id = $1 ORDER BY m.uid",
            &[&mailbox.0],
        )
        .await?;
    rows.iter()
        .map(|r| Ok((message_from_row(r)?, r.get(7))))
        .collect()
}

/// Keeps `data` per body, replacing older entries; bodies already gone get none.
pub(super) async fn cache_bodies(
    c: &(impl GenericClient + Sync),
    entries: &[(BlobId, Vec<u8>)],
) -> Result<()> {
    let ids: Vec<&str> = entries.iter().map(|(id, _)| id.as_str()).collect();
    let data: Vec<&[u8]> = entries.iter().map(|(_, d)| d.as_slice()).collect();
    let stored = c
        .execute(
            "INSERT INTO body_cache (id, data)
             SELECT e.id, e.data FROM unnest($1::text[], $2::bytea[]) AS e(id, data)
             WHERE EXISTS (SELECT 1 FROM blobs WHERE blobs.id = e.id)
             ON CONFLICT (id) DO UPDATE SET data = excluded.data",
            &[&ids, &data],
        )
        .await;
    match stored {
        Ok(_) => Ok(()),
        // A body removed between the check and the insert: the entries are only hints.
        Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::FOREIGN_KEY_VIOLATION) => {
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// Takes the mailbox's next MODSEQ. One per write call: every message it changes shares it.
pub(super) async fn next_modseq(tx: &Transaction<'_>, mailbox: MailboxId) -> Result<u64> {
    let row = tx
        .query_opt(
            "UPDATE mailboxes SET highestmodseq = highestmodseq + 1 WHERE id = $1
             RETURNING highestmodseq",
            &[&mailbox.0],
        )
        .await?
        .ok_or_else(|| StoreError::UnknownMailbox(format!("id {}", mailbox.0)))?;
    Ok(row.get::<_, i64>(0) as u64)
}

async fn highest_modseq(c: &(impl GenericClient + Sync), mailbox: MailboxId) -> Result<u64> {
    let row = c
        .query_opt(
            "SELECT highestmodseq FROM mailboxes WHERE id = $1",
            &[&mailbox.0],
        )
        .await?
        .ok_or_else(|| StoreError::UnknownMailbox(format!("id {}", mailbox.0)))?;
    Ok(row.get::<_, i64>(0) as u64)
}

/// Records that `uids` changed (`kind`) at `modseq`: one log row per UID, moved forward.
async fn log(
    tx: &Transaction<'_>,
    mailbox: MailboxId,
    uids: &[i64],
    modseq: u64,
    kind: Kind,
) -> Result<()> {
    tx.execute(
        "INSERT INTO changelog (mailbox_id, uid, modseq, kind)
         SELECT $1, u, $3, $4 FROM unnest($2::bigint[]) AS u
         ON CONFLICT (mailbox_id, uid) DO UPDATE SET modseq = excluded.modseq,
             kind = excluded.kind",
        &[&mailbox.0, &uids, &(modseq as i64), &(kind as i16)],
    )
    .await?;
    Ok(())
}

/// STORE: applies `change` to the messages of `uids`.
pub(super) async fn store_flags(
    tx: &Transaction<'_>,
    mailbox: MailboxId,
    uids: &UidSet,
    change: &FlagChange,
    changed: &mut Changed,
) -> Result<FlagsOutcome> {
    if let Some(bad) = change.flags.keywords.iter().find(|k| !is_valid_keyword(k)) {
        return Err(StoreError::BadKeyword(bad.clone()));
    }
    let owner = super::lock_owner(tx, mailbox).await?;
    let mut outcome = FlagsOutcome::default();
    let mut writes: Vec<(Uid, Flags)> = Vec::new();
    for message in list(tx, mailbox, uids).await? {
        if change.unchanged_since.is_some_and(|g| message.modseq > g) {
            outcome.modified.insert(message.uid);
            continue;
        }
        let flags = change.op.apply(&message.flags, &change.flags);
        // A message the request does not change keeps its flags as written, and its MODSEQ.
        let flags = match same_flags(&flags, &message.flags) {
            true => message.flags,
            false => {
                writes.push((message.uid, flags.clone()));
                flags
            }
        };
        outcome.updated.push(MessageState {
            uid: message.uid,
            flags,
            modseq: message.modseq,
        });
    }
    if writes.is_empty() {
        outcome.highest_modseq = highest_modseq(tx, mailbox).await?;
        return Ok(outcome);
    }
    let modseq = next_modseq(tx, mailbox).await?;
    let ids: Vec<i64> = writes.iter().map(|(u, _)| i64::from(u.get())).collect();
    let bits: Vec<i16> = writes.iter().map(|(_, f)| i16::from(f.bits)).collect();
    let keywords: Vec<String> = writes.iter().map(|(_, f)| f.keywords.join(" ")).collect();
    tx.execute(
        "UPDATE messages m SET flags = w.flags, keywords = w.keywords, modseq = $5
         FROM unnest($2::bigint[], $3::smallint[], $4::text[]) AS w(uid, flags, keywords)
         WHERE m.mailbox_id = $1 AND m.uid = w.uid",
        &[&mailbox.0, &ids, &bits, &keywords, &(modseq as i64)],
    )
    .await?;
    log(tx, mailbox, &ids, modseq, Kind::FlagsChanged).await?;
    for state in &mut outcome.updated {
        if ids.contains(&i64::from(state.uid.get())) {
            state.modseq = modseq;
        }
    }
    outcome.highest_modseq = modseq;
    changed.user(owner);
    Ok(outcome)
}

/// The owner and UIDVALIDITY of a mailbox.
async fn owner_of(tx: &Transaction<'_>, mailbox: MailboxId) -> Result<(UserId, UidValidity)> {
    let row = tx
        .query_opt(
            "SELECT user_id, uidvalidity FROM mailboxes WHERE id = $1",
            &[&mailbox.0],
        )
        .await?
        .ok_or_else(|| StoreError::UnknownMailbox(format!("id {}", mailbox.0)))?;
    let validity = u32::try_from(row.get::<_, i64>(1))
        .ok()
        .and_then(UidValidity::new)
        .ok_or_else(|| StoreError::Corrupt(format!("mailbox {}: uidvalidity", mailbox.0)))?;
    Ok((UserId(row.get(0)), validity))
}

/// Locks body rows in one order (by id) before their reference counts move, so two
/// transactions sharing bodies never wait on each other in a circle.
async fn lock_bodies(tx: &Transaction<'_>, ids: &[&str]) -> Result<()> {
    tx.execute(
        "SELECT 1 FROM blobs WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE",
        &[&ids],
    )
    .await?;
    Ok(())
}

/// COPY into another mailbox of the same user, keeping flags, internal date and the one
/// stored body; with `quota` the copies must fit (all or nothing).
pub(super) async fn copy(
    tx: &Transaction<'_>,
    (from, to): (MailboxId, MailboxId),
    uids: &UidSet,
    quota: bool,
    changed: &mut Changed,
) -> Result<CopyOutcome> {
    let owner = super::lock_owner(tx, from).await?;
    let (dest_owner, validity) = owner_of(tx, to).await?;
    if owner != dest_owner {
        // Another user's mailbox is as good as absent to this one.
        return Err(StoreError::UnknownMailbox(format!("id {}", to.0)));
    }
    let messages = list(tx, from, uids).await?;
    let mut outcome = CopyOutcome {
        uid_validity: validity,
        mapping: Vec::with_capacity(messages.len()),
    };
    if messages.is_empty() {
        return Ok(outcome);
    }
    if quota {
        let extra: u64 = messages.iter().map(|m| m.size).sum();
        super::deliver::check_quota(tx, owner, extra).await?;
    }
    let (new_uids, modseq) = insert_copies(tx, to, &messages).await?;
    log(tx, to, &new_uids, modseq as u64, Kind::Appended).await?;
    for (message, new) in messages.iter().zip(&new_uids) {
        outcome.mapping.push((message.uid, uid(*new)?));
    }
    changed.user(owner);
    Ok(outcome)
}

/// Adds `messages` to mailbox `to` under new UIDs (taken from its row) and one new MODSEQ.
async fn insert_copies(
    tx: &Transaction<'_>,
    to: MailboxId,
    messages: &[MessageMeta],
) -> Result<(Vec<i64>, i64)> {
    let count = messages.len() as i64;
    let row = tx
        .query_one(
            "UPDATE mailboxes SET uidnext = uidnext + $2, highestmodseq = highestmodseq + 1
             WHERE id = $1 RETURNING uidnext - $2, highestmodseq",
            &[&to.0, &count],
        )
        .await?;
    let (first, modseq): (i64, i64) = (row.get(0), row.get(1));
    if first + count > i64::from(u32::MAX) {
        return Err(StoreError::Corrupt(format!(
            "mailbox {} has no UIDs left",
            to.0
        )));
    }
    let new_uids: Vec<i64> = (first..first + count).collect();
    let blobs: Vec<&str> = messages.iter().map(|m| m.blob.as_str()).collect();
    let mut sorted = blobs.clone();
    sorted.sort_unstable();
    sorted.dedup();
    lock_bodies(tx, &sorted).await?;
    let sizes: Vec<i64> = messages.iter().map(|m| m.size as i64).collect();
    let dates: Vec<i64> = messages.iter().map(|m| m.internal_date).collect();
    let bits: Vec<i16> = messages.iter().map(|m| i16::from(m.flags.bits)).collect();
    let keywords: Vec<String> = messages
        .iter()
        .map(|m| m.flags.keywords.join(" "))
        .collect();
    tx.execute(
        "INSERT INTO messages
             (mailbox_id, uid, blob_id, size, internal_date, flags, keywords, modseq)
         SELECT $1, x.uid, x.blob_id, x.size, x.internal_date, x.flags, x.keywords, $8
         FROM unnest($2::bigint[], $3::text[], $4::bigint[], $5::bigint[], $6::smallint[],
                     $7::text[]) AS x(uid, blob_id, size, internal_date, flags, keywords)",
        &[
            &to.0, &new_uids, &blobs, &sizes, &dates, &bits, &keywords, &modseq,
        ],
    )
    .await?;
    Ok((new_uids, modseq))
}

/// MOVE: the copy and the expunge of the originals commit together (no quota check: usage
/// does not grow).
pub(super) async fn move_messages(
    tx: &Transaction<'_>,
    (from, to): (MailboxId, MailboxId),
    uids: &UidSet,
    changed: &mut Changed,
) -> Result<CopyOutcome> {
    let outcome = copy(tx, (from, to), uids, false, changed).await?;
    let moved: UidSet = outcome.mapping.iter().map(|(source, _)| *source).collect();
    if !moved.is_empty() {
        expunge(tx, from, Some(&moved), false, changed).await?;
    }
    Ok(outcome)
}

/// Removes the messages of `uids` (all with `None`), only those flagged `\Deleted` when
/// `only_deleted`, leaving tombstones in the change log; bodies left unreferenced go.
pub(super) async fn expunge(
    tx: &Transaction<'_>,
    mailbox: MailboxId,
    uids: Option<&UidSet>,
    only_deleted: bool,
    changed: &mut Changed,
) -> Result<Expunged> {
    let owner = super::lock_owner(tx, mailbox).await?;
    let all = UidSet::all();
    let mut doomed = list(tx, mailbox, uids.unwrap_or(&all)).await?;
    if only_deleted {
        doomed.retain(|m| m.flags.has(Flags::DELETED));
    }
    if doomed.is_empty() {
        let highest_modseq = highest_modseq(tx, mailbox).await?;
        return Ok(Expunged {
            uids: Vec::new(),
            highest_modseq,
        });
    }
    let modseq = next_modseq(tx, mailbox).await?;
    let ids: Vec<i64> = doomed.iter().map(|m| i64::from(m.uid.get())).collect();
    let mut bodies: Vec<&str> = doomed.iter().map(|m| m.blob.as_str()).collect();
    bodies.sort_unstable();
    bodies.dedup();
    lock_bodies(tx, &bodies).await?;
    tx.execute(
        "DELETE FROM messages WHERE mailbox_id = $1 AND uid = ANY($2)",
        &[&mailbox.0, &ids],
    )
    .await?;
    log(tx, mailbox, &ids, modseq, Kind::Expunged).await?;
    super::release_bodies(tx, &bodies).await?;
    changed.user(owner);
    Ok(Expunged {
        uids: doomed.iter().map(|m| m.uid).collect(),
        highest_modseq: modseq,
    })
}

/// Messages appended or changed after `since` and UIDs expunged after it, optionally only
/// within `uids`. The caller reads in one snapshot (a repeatable-read transaction). The log
/// starts with the mailbox here, so it always knows every expunge exactly.
pub(super) async fn changes_since(
    tx: &Transaction<'_>,
    mailbox: MailboxId,
    since: u64,
    uids: Option<&UidSet>,
) -> Result<Changes> {
    let mut changes = Changes {
        highest_modseq: highest_modseq(tx, mailbox).await?,
        ..Changes::default()
    };
    let rows = tx
        .query(
            "SELECT c.uid, c.kind, m.flags, m.keywords, m.modseq FROM changelog c
             LEFT JOIN messages m ON m.mailbox_id = c.mailbox_id AND m.uid = c.uid
             WHERE c.mailbox_id = $1 AND c.modseq > $2 ORDER BY c.uid",
            &[&mailbox.0, &(since.min(i64::MAX as u64) as i64)],
        )
        .await?;
    for row in rows {
        let uid = uid(row.get(0))?;
        if uids.is_some_and(|set| !set.contains(uid)) {
            continue;
        }
        let kind: i16 = row.get(1);
        let state: (Option<i16>, Option<&str>, Option<i64>) = (row.get(2), row.get(3), row.get(4));
        match state {
            (Some(bits), Some(keywords), Some(modseq)) if kind != Kind::Expunged as i16 => {
                changes.changed.push(MessageState {
                    uid,
                    flags: flags_of(bits, keywords),
                    modseq: modseq as u64,
                })
            }
            _ => changes.vanished.insert(uid),
        }
    }
    Ok(changes)
}
