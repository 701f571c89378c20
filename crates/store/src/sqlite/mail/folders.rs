//! Mailboxes as a hierarchy (`/`), special-use attributes and subscriptions. Every function
//! runs inside the caller's write transaction, so a multi-step change (parents, children,
//! INBOX's messages) is all or nothing.

use super::transfer;
use crate::sqlite::mailbox::{canonical, find_mailbox, insert_mailbox, select_mailboxes};
use crate::{BlobId, MailboxInfo, Result, SpecialUse, StoreError, UidSet, UserId};
use hermod_types::MailboxName;
use rusqlite::{Connection, params};

const INBOX: &str = "INBOX";

/// The names above `name`, outermost first: `a/b/c` has `a` and `a/b`.
fn parents(name: &MailboxName) -> impl Iterator<Item = &str> {
    let s = name.as_str();
    s.match_indices('/').map(move |(at, _)| &s[..at])
}

fn parse(name: &str) -> Result<MailboxName> {
    MailboxName::parse(name).map_err(|e| StoreError::Corrupt(format!("mailbox {name}: {e}")))
}

/// Creates the parents of `name` that do not exist yet, as plain mailboxes.
fn create_parents(conn: &Connection, user: UserId, name: &MailboxName) -> Result<()> {
    for parent in parents(name) {
        let parent = parse(parent)?;
        if find_mailbox(conn, user, &parent)?.is_none() {
            insert_mailbox(conn, user, &parent, None)?;
        }
    }
    Ok(())
}

pub(crate) fn create(
    conn: &Connection,
    user: UserId,
    name: &MailboxName,
    special_use: Option<SpecialUse>,
) -> Result<MailboxInfo> {
    let name = canonical(name);
    if find_mailbox(conn, user, &name)?.is_some() {
        return Err(StoreError::MailboxExists(name.to_string()));
    }
    create_parents(conn, user, &name)?;
    insert_mailbox(conn, user, &name, special_use)
}

/// Whether `user` has a mailbox called `name` or one below it.
fn name_taken(conn: &Connection, user: UserId, name: &MailboxName) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT 1 FROM mailboxes WHERE user_id = ?1
             AND (name = ?2 OR substr(name, 1, length(?2) + 1) = ?2 || '/')",
        )?
        .exists(params![user.0, name.as_str()])?)
}

fn has_children(conn: &Connection, user: UserId, name: &MailboxName) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT 1 FROM mailboxes WHERE user_id = ?1
             AND substr(name, 1, length(?2) + 1) = ?2 || '/'",
        )?
        .exists(params![user.0, name.as_str()])?)
}

/// Renames `from` and everything below it. Returns bodies released (only an INBOX rename
/// moves messages, and moving releases none, but the caller need not know).
pub(crate) fn rename(
    conn: &Connection,
    user: UserId,
    from: &MailboxName,
    to: &MailboxName,
) -> Result<Vec<BlobId>> {
    let (from, to) = (canonical(from), canonical(to));
    let source = find_mailbox(conn, user, &from)?
        .ok_or_else(|| StoreError::UnknownMailbox(from.to_string()))?;
    // INBOX is the exception: its messages leave, it stays, so `INBOX/old` is fine.
    if from.as_str() != INBOX && to.as_str().starts_with(&format!("{from}/")) {
        return Err(StoreError::MailboxRefused {
            mailbox: to.to_string(),
            reason: "a mailbox cannot be moved below itself",
        });
    }
    if name_taken(conn, user, &to)? {
        return Err(StoreError::MailboxExists(to.to_string()));
    }
    if from.as_str() == INBOX {
        // RFC 9051 6.3.6: the messages move to a new mailbox; INBOX stays, empty, and its
        // children stay too. The new mailbox has its own UIDVALIDITY, so new UIDs are fine.
        let target = create(conn, user, &to, None)?;
        let (_, _, garbage) =
            transfer::move_messages(conn, (source.id, target.id), &UidSet::all())?;
        return Ok(garbage);
    }
    create_parents(conn, user, &to)?;
    // The same rows, renamed: ids, UIDVALIDITY and messages stay, so a session that has one
    // of them selected keeps working.
    conn.prepare_cached(
        "UPDATE mailboxes SET name = ?3 || substr(name, length(?2) + 1)
         WHERE user_id = ?1 AND (name = ?2 OR substr(name, 1, length(?2) + 1) = ?2 || '/')",
    )?
    .execute(params![user.0, from.as_str(), to.as_str()])?;
    rename_subscriptions(conn, user, &from, &to)?;
    Ok(Vec::new())
}

/// Subscriptions follow a renamed hierarchy, as a user expects of "my folder, renamed".
fn rename_subscriptions(
    conn: &Connection,
    user: UserId,
    from: &MailboxName,
    to: &MailboxName,
) -> Result<()> {
    let below = "user_id = ?1 AND (name = ?2 OR substr(name, 1, length(?2) + 1) = ?2 || '/')";
    conn.prepare_cached(&format!(
        "INSERT OR IGNORE INTO subscriptions (user_id, name)
         SELECT user_id, ?3 || substr(name, length(?2) + 1) FROM subscriptions WHERE {below}"
    ))?
    .execute(params![user.0, from.as_str(), to.as_str()])?;
    conn.prepare_cached(&format!("DELETE FROM subscriptions WHERE {below}"))?
        .execute(params![user.0, from.as_str()])?;
    Ok(())
}

/// Deletes a childless mailbox other than INBOX with its messages; returns the bodies
/// released.
pub(crate) fn delete(conn: &Connection, user: UserId, name: &MailboxName) -> Result<Vec<BlobId>> {
    let name = canonical(name);
    if name.as_str() == INBOX {
        return Err(StoreError::MailboxRefused {
            mailbox: name.to_string(),
            reason: "INBOX cannot be deleted",
        });
    }
    let mailbox = find_mailbox(conn, user, &name)?
        .ok_or_else(|| StoreError::UnknownMailbox(name.to_string()))?;
    if has_children(conn, user, &name)? {
        return Err(StoreError::MailboxHasChildren(name.to_string()));
    }
    // Messages first, while the mailbox row still names the user the quota trigger credits;
    // the change log goes with the mailbox (ON DELETE CASCADE).
    conn.prepare_cached("DELETE FROM messages WHERE mailbox_id = ?1")?
        .execute(params![mailbox.id.0])?;
    conn.prepare_cached("DELETE FROM mailboxes WHERE id = ?1")?
        .execute(params![mailbox.id.0])?;
    crate::sqlite::mailbox::collect_garbage(conn)
}

pub(crate) fn by_special_use(
    conn: &Connection,
    user: UserId,
    use_: SpecialUse,
) -> Result<Option<MailboxInfo>> {
    let found = select_mailboxes(conn, user, "special_use = ?2", &[&use_.as_str()])?;
    Ok(found.into_iter().min_by_key(|m| m.id))
}

pub(crate) fn set_special_use(
    conn: &Connection,
    user: UserId,
    name: &MailboxName,
    use_: Option<SpecialUse>,
) -> Result<()> {
    let name = canonical(name);
    let changed = conn
        .prepare_cached("UPDATE mailboxes SET special_use = ?3 WHERE user_id = ?1 AND name = ?2")?
        .execute(params![user.0, name.as_str(), use_.map(SpecialUse::as_str)])?;
    if changed == 0 {
        return Err(StoreError::UnknownMailbox(name.to_string()));
    }
    Ok(())
}

pub(crate) fn subscribe(conn: &Connection, user: UserId, name: &MailboxName) -> Result<()> {
    conn.prepare_cached("INSERT OR IGNORE INTO subscriptions (user_id, name) VALUES (?1, ?2)")?
        .execute(params![user.0, canonical(name).as_str()])?;
    Ok(())
}

pub(crate) fn unsubscribe(conn: &Connection, user: UserId, name: &MailboxName) -> Result<()> {
    conn.prepare_cached("DELETE FROM subscriptions WHERE user_id = ?1 AND name = ?2")?
        .execute(params![user.0, canonical(name).as_str()])?;
    Ok(())
}

pub(crate) fn subscriptions(conn: &Connection, user: UserId) -> Result<Vec<MailboxName>> {
    let mut stmt =
        conn.prepare_cached("SELECT name FROM subscriptions WHERE user_id = ?1 ORDER BY name")?;
    let names = stmt.query_map(params![user.0], |r| r.get::<_, String>(0))?;
    names.map(|n| parse(&n?)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_outermost_first() {
        let name = MailboxName::parse("a/b/c").unwrap();
        assert_eq!(parents(&name).collect::<Vec<_>>(), ["a", "a/b"]);
        assert_eq!(parents(&MailboxName::inbox()).count(), 0);
    }
}
