//! Mailboxes as a hierarchy (`/`), special-use attributes, subscriptions and STATUS. Writes
//! run inside the caller's transaction, after it locked the user (see `mod.rs`), so a
//! multi-step change (parents, children, INBOX's messages) is all or nothing and two nodes
//! changing one user's mailboxes take turns.

use super::{Changed, messages};
use crate::{
    MailboxId, MailboxInfo, MailboxStatus, Result, SpecialUse, StoreError, UidSet, UserId,
};
use hermod_types::{MailboxName, UidValidity};
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{GenericClient, Row, Transaction};

const INBOX: &str = "INBOX";

pub(super) const MAILBOX_COLUMNS: &str =
    "id, name, uidvalidity, uidnext, highestmodseq, special_use";

pub(super) fn mailbox_from_row(row: &Row) -> Result<MailboxInfo> {
    let id: i64 = row.get(0);
    let corrupt = |what: &str| StoreError::Corrupt(format!("mailbox {id}: bad {what}"));
    let name: String = row.get(1);
    let validity = u32::try_from(row.get::<_, i64>(2)).ok();
    Ok(MailboxInfo {
        id: MailboxId(id),
        name: MailboxName::parse(&name).map_err(|_| corrupt("name"))?,
        uid_validity: validity
            .and_then(UidValidity::new)
            .ok_or_else(|| corrupt("uidvalidity"))?,
        uid_next: u32::try_from(row.get::<_, i64>(3)).map_err(|_| corrupt("uidnext"))?,
        highest_modseq: row.get::<_, i64>(4) as u64,
        special_use: row.get::<_, Option<&str>>(5).and_then(SpecialUse::parse),
    })
}

/// The stored form of a name: `INBOX` is case-insensitive, and so is the `INBOX/` level of
/// its children (`MailboxName` only folds the case of a bare `INBOX`).
pub(super) fn canonical(name: &MailboxName) -> MailboxName {
    match name.as_str().get(..6) {
        Some(prefix) if prefix.eq_ignore_ascii_case("inbox/") && prefix != "INBOX/" => {
            let fixed = format!("INBOX/{}", &name.as_str()[6..]);
            MailboxName::parse(&fixed).unwrap_or_else(|_| name.clone())
        }
        _ => name.clone(),
    }
}

fn parse(name: &str) -> Result<MailboxName> {
    MailboxName::parse(name).map_err(|e| StoreError::Corrupt(format!("mailbox {name}: {e}")))
}

/// The names above `name`, outermost first: `a/b/c` has `a` and `a/b`.
fn parents(name: &MailboxName) -> impl Iterator<Item = &str> {
    let s = name.as_str();
    s.match_indices('/').map(move |(at, _)| &s[..at])
}

/// `name` or anything below it (`name/...`), with `$2` the name.
const SELF_OR_BELOW: &str = "(name = $2 OR starts_with(name, $2 || '/'))";

pub(super) async fn find(
    c: &(impl GenericClient + Sync),
    user: UserId,
    name: &MailboxName,
) -> Result<Option<MailboxInfo>> {
    let sql = format!("SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE user_id = $1 AND name = $2");
    let name = canonical(name);
    let params: [(&(dyn ToSql + Sync), Type); 2] =
        [(&user.0, Type::INT8), (&name.as_str(), Type::TEXT)];
    let row = c.query_typed_opt(&sql, &params).await?;
    row.as_ref().map(mailbox_from_row).transpose()
}

/// Every mailbox of `user`, INBOX first, then by name (byte order): parents before children.
pub(super) async fn list(
    c: &(impl GenericClient + Sync),
    user: UserId,
) -> Result<Vec<MailboxInfo>> {
    let sql = format!(
        "SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE user_id = $1
         ORDER BY name <> 'INBOX', name, id"
    );
    let rows = c.query(&sql, &[&user.0]).await?;
    rows.iter().map(mailbox_from_row).collect()
}

pub(super) async fn by_special_use(
    c: &(impl GenericClient + Sync),
    user: UserId,
    use_: SpecialUse,
) -> Result<Option<MailboxInfo>> {
    let sql = format!(
        "SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE user_id = $1 AND special_use = $2
         ORDER BY id LIMIT 1"
    );
    let row = c.query_opt(&sql, &[&user.0, &use_.as_str()]).await?;
    row.as_ref().map(mailbox_from_row).transpose()
}

/// UIDVALIDITY must never repeat for a mailbox name, even when a mailbox is deleted and made
/// again within the same second: the clock, but always more than the last one given (one
/// row for the whole database, so nodes never hand out the same value).
async fn next_uid_validity(tx: &Transaction<'_>) -> Result<i64> {
    let now = super::super::directory::now();
    let row = tx
        .query_one(
            "UPDATE meta SET value = greatest(value + 1, $1 % 4294967295 + 1)
             WHERE key = 'last_uidvalidity' RETURNING value",
            &[&now],
        )
        .await?;
    Ok(row.get(0))
}

/// Adds one mailbox row (no parents), refusing a name taken.
pub(crate) async fn insert_mailbox(
    tx: &Transaction<'_>,
    user: UserId,
    name: &MailboxName,
    special: Option<SpecialUse>,
) -> Result<MailboxInfo> {
    let name = canonical(name);
    let validity = next_uid_validity(tx).await?;
    let sql = format!(
        "INSERT INTO mailboxes (user_id, name, uidvalidity, special_use) VALUES ($1, $2, $3, $4)
         ON CONFLICT (user_id, name) DO NOTHING RETURNING {MAILBOX_COLUMNS}"
    );
    let special = special.map(SpecialUse::as_str);
    let row = tx
        .query_opt(&sql, &[&user.0, &name.as_str(), &validity, &special])
        .await?;
    match row {
        Some(row) => mailbox_from_row(&row),
        None => Err(StoreError::MailboxExists(name.to_string())),
    }
}

/// Creates the parents of `name` that do not exist yet, as plain mailboxes.
async fn create_parents(tx: &Transaction<'_>, user: UserId, name: &MailboxName) -> Result<()> {
    for parent in parents(name) {
        let parent = parse(parent)?;
        if find(tx, user, &parent).await?.is_none() {
            insert_mailbox(tx, user, &parent, None).await?;
        }
    }
    Ok(())
}

pub(super) async fn create(
    tx: &Transaction<'_>,
    user: UserId,
    name: &MailboxName,
    special_use: Option<SpecialUse>,
) -> Result<MailboxInfo> {
    let name = canonical(name);
    if find(tx, user, &name).await?.is_some() {
        return Err(StoreError::MailboxExists(name.to_string()));
    }
    create_parents(tx, user, &name).await?;
    insert_mailbox(tx, user, &name, special_use).await
}

/// Renames `from` and everything below it; INBOX's messages move instead (RFC 9051 6.3.6).
pub(super) async fn rename(
    tx: &Transaction<'_>,
    user: UserId,
    (from, to): (&MailboxName, &MailboxName),
    changed: &mut Changed,
) -> Result<()> {
    let (from, to) = (canonical(from), canonical(to));
    let source = find(tx, user, &from)
        .await?
        .ok_or_else(|| StoreError::UnknownMailbox(from.to_string()))?;
    // INBOX is the exception: its messages leave, it stays, so `INBOX/old` is fine.
    if from.as_str() != INBOX && to.as_str().starts_with(&format!("{from}/")) {
        return Err(StoreError::MailboxRefused {
            mailbox: to.to_string(),
            reason: "a mailbox cannot be moved below itself",
        });
    }
    let taken = tx
        .query_opt(
            &format!("SELECT 1 FROM mailboxes WHERE user_id = $1 AND {SELF_OR_BELOW} LIMIT 1"),
            &[&user.0, &to.as_str()],
        )
        .await?;
    if taken.is_some() {
        return Err(StoreError::MailboxExists(to.to_string()));
    }
    if from.as_str() == INBOX {
        let target = create(tx, user, &to, None).await?;
        messages::move_messages(tx, (source.id, target.id), &UidSet::all(), changed).await?;
        return Ok(());
    }
    create_parents(tx, user, &to).await?;
    // The same rows, renamed: ids, UIDVALIDITY and messages stay, so a session that has one
    // of them selected keeps working.
    let renamed = format!(
        "UPDATE mailboxes SET name = $3 || substr(name, length($2) + 1)
         WHERE user_id = $1 AND {SELF_OR_BELOW}"
    );
    tx.execute(&renamed, &[&user.0, &from.as_str(), &to.as_str()])
        .await?;
    // Subscriptions follow a renamed hierarchy, as a user expects of "my folder, renamed".
    let subscriptions = format!(
        "WITH moved AS (DELETE FROM subscriptions WHERE user_id = $1 AND {SELF_OR_BELOW}
                        RETURNING name)
         INSERT INTO subscriptions (user_id, name)
         SELECT $1, $3 || substr(name, length($2) + 1) FROM moved ON CONFLICT DO NOTHING"
    );
    tx.execute(&subscriptions, &[&user.0, &from.as_str(), &to.as_str()])
        .await?;
    changed.user(user);
    Ok(())
}

/// Deletes a childless mailbox other than INBOX with its messages.
pub(super) async fn delete(
    tx: &Transaction<'_>,
    user: UserId,
    name: &MailboxName,
    changed: &mut Changed,
) -> Result<()> {
    let name = canonical(name);
    if name.as_str() == INBOX {
        return Err(StoreError::MailboxRefused {
            mailbox: name.to_string(),
            reason: "INBOX cannot be deleted",
        });
    }
    let mailbox = find(tx, user, &name)
        .await?
        .ok_or_else(|| StoreError::UnknownMailbox(name.to_string()))?;
    let children = tx
        .query_opt(
            "SELECT 1 FROM mailboxes WHERE user_id = $1 AND starts_with(name, $2 || '/') LIMIT 1",
            &[&user.0, &name.as_str()],
        )
        .await?;
    if children.is_some() {
        return Err(StoreError::MailboxHasChildren(name.to_string()));
    }
    // Messages first, while the mailbox row still names the user the quota trigger credits;
    // the change log goes with the mailbox (ON DELETE CASCADE).
    messages::expunge(tx, mailbox.id, None, false, changed).await?;
    tx.execute("DELETE FROM mailboxes WHERE id = $1", &[&mailbox.id.0])
        .await?;
    changed.user(user);
    Ok(())
}

pub(super) async fn subscribe(
    tx: &Transaction<'_>,
    user: UserId,
    name: &MailboxName,
) -> Result<()> {
    tx.execute(
        "INSERT INTO subscriptions (user_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        &[&user.0, &canonical(name).as_str()],
    )
    .await?;
    Ok(())
}

pub(super) async fn unsubscribe(
    tx: &Transaction<'_>,
    user: UserId,
    name: &MailboxName,
) -> Result<()> {
    tx.execute(
        "DELETE FROM subscriptions WHERE user_id = $1 AND name = $2",
        &[&user.0, &canonical(name).as_str()],
    )
    .await?;
    Ok(())
}

pub(super) async fn subscriptions(
    c: &(impl GenericClient + Sync),
    user: UserId,
) -> Result<Vec<MailboxName>> {
    let rows = c
        .query(
            "SELECT name FROM subscriptions WHERE user_id = $1 ORDER BY name",
            &[&user.0],
        )
        .await?;
    rows.iter().map(|r| parse(r.get(0))).collect()
}

/// STATUS in one statement: the mailbox row with aggregates over its messages.
pub(super) async fn status(
    c: &(impl GenericClient + Sync),
    user: UserId,
    name: &MailboxName,
) -> Result<Option<MailboxStatus>> {
    let sql = format!(
        "SELECT b.*, s.messages, s.unseen, s.deleted, s.size
         FROM (SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE user_id = $1 AND name = $2) b,
         LATERAL (SELECT count(*) AS messages,
                         count(*) FILTER (WHERE flags & 1 = 0) AS unseen,
                         count(*) FILTER (WHERE flags & 8 <> 0) AS deleted,
                         coalesce(sum(size), 0)::bigint AS size
                  FROM messages WHERE mailbox_id = b.id) s"
    );
    let Some(row) = c
        .query_opt(&sql, &[&user.0, &canonical(name).as_str()])
        .await?
    else {
        return Ok(None);
    };
    let count = |i: usize| u32::try_from(row.get::<_, i64>(i)).unwrap_or(u32::MAX);
    Ok(Some(MailboxStatus {
        mailbox: mailbox_from_row(&row)?,
        messages: count(6),
        unseen: count(7),
        deleted: count(8),
        size: row.get::<_, i64>(9).max(0) as u64,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_outermost_first_and_inbox_children_canonical() {
        let name = MailboxName::parse("a/b/c").unwrap();
        assert_eq!(parents(&name).collect::<Vec<_>>(), ["a", "a/b"]);
        let child = MailboxName::parse("inbox/Sub").unwrap();
        assert_eq!(canonical(&child).as_str(), "INBOX/Sub");
    }
}
