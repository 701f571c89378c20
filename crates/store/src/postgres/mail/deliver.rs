//! Filing bodies: `submit`, `submit_all` and the queue's reports all end here, inside one
//! transaction. Every user a delivery files into is locked first, in id order (one lock
//! order for every writer, so deliveries to several users never deadlock): the quota check
//! and the insert it allows then see one state, whichever node delivers.

use super::{Bodies, Changed};
use crate::postgres::prepared::Prepared;
use crate::{
    Delivered, DeliveryTarget, MailboxId, Outbound, Result, SealedBlob, StoreError, Submitted,
    UserId,
};
use hermod_types::Uid;
use std::collections::HashMap;
use tokio_postgres::Transaction;
use tokio_postgres::types::Type;

/// What a delivery must know of a locked account.
struct Account {
    address: String,
    quota: Option<i64>,
    used: i64,
}

/// Locks `users` (id order) and reads their quota state; fails with `UnknownUser`.
async fn lock_accounts(tx: Prepared<'_>, users: &[UserId]) -> Result<HashMap<UserId, Account>> {
    let mut ids: Vec<i64> = users.iter().map(|u| u.0).collect();
    ids.sort_unstable();
    ids.dedup();
    let (filter, param) = super::one_or_many(&ids);
    let sql = format!(
        "SELECT id, address, quota, used FROM users WHERE {filter} ORDER BY id FOR NO KEY UPDATE"
    );
    let rows = tx.query(&sql, &[param]).await?;
    let accounts: HashMap<UserId, Account> = rows
        .iter()
        .map(|r| {
            let account = Account {
                address: r.get(1),
                quota: r.get(2),
                used: r.get(3),
            };
            (UserId(r.get(0)), account)
        })
        .collect();
    match ids.iter().find(|id| !accounts.contains_key(&UserId(**id))) {
        Some(missing) => Err(StoreError::UnknownUser(format!("id {missing}"))),
        None => Ok(accounts),
    }
}

/// Fails with `OverQuota` when `extra` octets would take the (locked) user over its quota.
pub(super) async fn check_quota(tx: &Transaction<'_>, user: UserId, extra: u64) -> Result<()> {
    let accounts = lock_accounts(Prepared::uncached(tx), &[user]).await?;
    let account = &accounts[&user];
    fits(account, extra)
}

fn fits(account: &Account, extra: u64) -> Result<()> {
    let over = account
        .quota
        .is_some_and(|q| account.used.max(0) as u64 + extra > q.max(0) as u64);
    match over {
        true => Err(StoreError::OverQuota(account.address.clone())),
        false => Ok(()),
    }
}

/// Adds one copy of a stored body to the target's mailbox (made on demand, like CREATE).
async fn file_one(
    tx: Prepared<'_>,
    plain: &Transaction<'_>,
    body: (&str, u64),
    target: &DeliveryTarget,
    account: &mut Account,
) -> Result<Delivered> {
    fits(account, body.1)?;
    let name = super::folders::canonical(&target.mailbox);
    let filed = match insert_message(tx, body, target, name.as_str()).await? {
        Some(filed) => filed,
        None => {
            // Rare (a filing rule naming a new folder): made with its parents, then filed.
            super::folders::create(plain, target.user, &name, None).await?;
            insert_message(tx, body, target, name.as_str())
                .await?
                .ok_or_else(|| StoreError::UnknownMailbox(name.to_string()))?
        }
    };
    let (mailbox, uid): (i64, i64) = filed;
    let uid = u32::try_from(uid)
        .ok()
        .and_then(Uid::new)
        .ok_or_else(|| StoreError::Corrupt(format!("mailbox {mailbox} has no UIDs left")))?;
    account.used += body.1 as i64;
    Ok(Delivered {
        user: target.user,
        mailbox: MailboxId(mailbox),
        uid,
    })
}

/// One statement: the UID and MODSEQ from the mailbox row (which stays locked until
/// commit), the message, its change-log row. `None` when the user has no such mailbox.
async fn insert_message(
    tx: Prepared<'_>,
    (blob_id, size): (&str, u64),
    target: &DeliveryTarget,
    mailbox: &str,
) -> Result<Option<(i64, i64)>> {
    let row = tx
        .query_opt(
            "WITH m AS (
                 UPDATE mailboxes SET uidnext = uidnext + 1, highestmodseq = highestmodseq + 1
                 WHERE user_id = $1 AND name = $2
                 RETURNING id, uidnext - 1 AS uid, highestmodseq AS modseq),
             added AS (
                 INSERT INTO messages
                     (mailbox_id, uid, blob_id, size, internal_date, flags, keywords, modseq)
                 SELECT id, uid, $3, $4, $5, $6, $7, modseq FROM m),
             logged AS (
                 INSERT INTO changelog (mailbox_id, uid, modseq, kind)
                 SELECT id, uid, modseq, 0 FROM m)
             SELECT id, uid FROM m",
            &[
                (&target.user.0, Type::INT8),
                (&mailbox, Type::TEXT),
                (&blob_id, Type::TEXT),
                (&(size as i64), Type::INT8),
                (&target.internal_date, Type::INT8),
                (&i16::from(target.flags.bits), Type::INT2),
                (&target.flags.keywords.join(" "), Type::TEXT),
            ],
        )
        .await?;
    Ok(row.map(|r| (r.get(0), r.get(1))))
}

/// Stores each body and files it into its targets, and queues the first body for
/// `outbound`'s recipients: all in the caller's transaction, kept for every recipient or
/// none. The users whose mail changed are added to `changed`. The statements every
/// delivery runs go through `tx` (prepared once per pooled connection); the rare ones
/// (a new folder, a queue entry) through `plain`, the same transaction.
pub(super) async fn file_and_queue(
    (tx, plain): (Prepared<'_>, &Transaction<'_>),
    bodies: &dyn Bodies,
    messages: Vec<(SealedBlob, Vec<DeliveryTarget>)>,
    outbound: Option<&Outbound>,
    changed: &mut Changed,
) -> Result<Submitted> {
    let users: Vec<UserId> = messages
        .iter()
        .flat_map(|(_, targets)| targets.iter().map(|t| t.user))
        .collect();
    let mut accounts = lock_accounts(tx, &users).await?;
    let queued = outbound.filter(|o| !o.recipients.is_empty());
    let mut submitted = Submitted::default();
    for (n, (blob, targets)) in messages.iter().enumerate() {
        if targets.is_empty() && !(n == 0 && queued.is_some()) {
            continue; // Nothing would reference it.
        }
        tx.execute(
            "INSERT INTO blobs (id, size) VALUES ($1, $2)",
            &[
                (&blob.id().as_str(), Type::TEXT),
                (&(blob.size() as i64), Type::INT8),
            ],
        )
        .await?;
        bodies.put(tx, blob).await?;
        for target in targets {
            let account = accounts
                .get_mut(&target.user)
                .ok_or_else(|| StoreError::UnknownUser(format!("id {}", target.user.0)))?;
            let body = (blob.id().as_str(), blob.size());
            submitted
                .delivered
                .push(file_one(tx, plain, body, target, account).await?);
            changed.user(target.user);
        }
    }
    if let (Some(outbound), Some((blob, _))) = (queued, messages.first()) {
        let id = super::super::queue::insert_entry(plain, blob.id(), outbound).await?;
        submitted.queue_id = Some(id);
    }
    Ok(submitted)
}
