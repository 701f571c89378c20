//! Sieve scripts per user and what vacation and `duplicate` remember (schema version 10).

use crate::{Result, SieveScriptInfo, StoreError, UserId};
use rusqlite::{Connection, OptionalExtension, params};

pub(crate) fn list(conn: &Connection, user: UserId) -> Result<Vec<SieveScriptInfo>> {
    let mut stmt = conn.prepare_cached(
        "SELECT s.name, length(s.content), s.id = u.sieve_script
         FROM sieve_scripts s JOIN users u ON u.id = s.user_id
         WHERE s.user_id = ?1 ORDER BY s.name",
    )?;
    let rows = stmt.query_map([user.0], |r| {
        Ok(SieveScriptInfo {
            name: r.get(0)?,
            size: r.get::<_, i64>(1)? as u64,
            active: r.get::<_, Option<bool>>(2)?.unwrap_or(false),
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(crate) fn get(conn: &Connection, user: UserId, name: &str) -> Result<Option<Vec<u8>>> {
    let mut stmt =
        conn.prepare_cached("SELECT content FROM sieve_scripts WHERE user_id = ?1 AND name = ?2")?;
    Ok(stmt
        .query_row(params![user.0, name], |r| r.get(0))
        .optional()?)
}

pub(crate) fn by_id(conn: &Connection, id: i64) -> Result<Option<Vec<u8>>> {
    let mut stmt = conn.prepare_cached("SELECT content FROM sieve_scripts WHERE id = ?1")?;
    Ok(stmt.query_row([id], |r| r.get(0)).optional()?)
}

fn id_of(conn: &Connection, user: UserId, name: &str) -> Result<Option<i64>> {
    Ok(conn
        .query_row(
            "SELECT id FROM sieve_scripts WHERE user_id = ?1 AND name = ?2",
            params![user.0, name],
            |r| r.get(0),
        )
        .optional()?)
}

fn require_user(conn: &Connection, user: UserId) -> Result<()> {
    let found: Option<i64> = conn
        .query_row("SELECT id FROM users WHERE id = ?1", [user.0], |r| r.get(0))
        .optional()?;
    match found {
        Some(_) => Ok(()),
        None => Err(StoreError::UnknownUser(format!("#{}", user.0))),
    }
}

/// Creates or replaces: a new row either way, and the user's active script follows it.
pub(crate) fn put(conn: &Connection, user: UserId, name: &str, content: &[u8]) -> Result<()> {
    require_user(conn, user)?;
    let old = id_of(conn, user, name)?;
    if let Some(old) = old {
        conn.execute("DELETE FROM sieve_scripts WHERE id = ?1", [old])?;
    }
    conn.execute(
        "INSERT INTO sieve_scripts (user_id, name, content) VALUES (?1, ?2, ?3)",
        params![user.0, name, content],
    )?;
    let new = conn.last_insert_rowid();
    if let Some(old) = old {
        conn.execute(
            "UPDATE users SET sieve_script = ?1 WHERE id = ?2 AND sieve_script = ?3",
            params![new, user.0, old],
        )?;
    }
    Ok(())
}

pub(crate) fn rename(conn: &Connection, user: UserId, from: &str, to: &str) -> Result<()> {
    if id_of(conn, user, from)?.is_none() {
        return Err(StoreError::UnknownScript(from.to_owned()));
    }
    if from != to && id_of(conn, user, to)?.is_some() {
        return Err(StoreError::ScriptExists(to.to_owned()));
    }
    conn.execute(
        "UPDATE sieve_scripts SET name = ?3 WHERE user_id = ?1 AND name = ?2",
        params![user.0, from, to],
    )?;
    Ok(())
}

/// RFC 5804 2.10: the active script cannot be deleted.
pub(crate) fn delete(conn: &Connection, user: UserId, name: &str) -> Result<()> {
    let Some(id) = id_of(conn, user, name)? else {
        return Err(StoreError::UnknownScript(name.to_owned()));
    };
    let active: Option<i64> = conn.query_row(
        "SELECT sieve_script FROM users WHERE id = ?1",
        [user.0],
        |r| r.get(0),
    )?;
    if active == Some(id) {
        return Err(StoreError::ScriptActive(name.to_owned()));
    }
    conn.execute("DELETE FROM sieve_scripts WHERE id = ?1", [id])?;
    Ok(())
}

/// Makes `name` the active script (`None`: none is).
pub(crate) fn activate(conn: &Connection, user: UserId, name: Option<&str>) -> Result<()> {
    require_user(conn, user)?;
    let id = match name {
        None => None,
        Some(name) => match id_of(conn, user, name)? {
            Some(id) => Some(id),
            None => return Err(StoreError::UnknownScript(name.to_owned())),
        },
    };
    conn.execute(
        "UPDATE users SET sieve_script = ?1 WHERE id = ?2",
        params![id, user.0],
    )?;
    Ok(())
}

/// Whether `key` was seen for `user` and has not expired; records it (until `now + expiry`)
/// when not, and pushes the expiry out when `last` (RFC 7352 `:last`).
pub(crate) fn seen(
    conn: &Connection,
    user: UserId,
    key: &str,
    now: i64,
    expiry: i64,
    last: bool,
) -> Result<bool> {
    let expires: Option<i64> = conn
        .query_row(
            "SELECT expires FROM sieve_seen WHERE user_id = ?1 AND key = ?2",
            params![user.0, key],
            |r| r.get(0),
        )
        .optional()?;
    let duplicate = expires.is_some_and(|e| e > now);
    if !duplicate || last {
        conn.execute(
            "INSERT INTO sieve_seen (user_id, key, expires) VALUES (?1, ?2, ?3)
             ON CONFLICT (user_id, key) DO UPDATE SET expires = ?3",
            params![user.0, key, now.saturating_add(expiry)],
        )?;
    }
    // Forget what ran out long ago, a few rows at a time, so the table stays small.
    conn.execute(
        "DELETE FROM sieve_seen WHERE (user_id, key) IN
             (SELECT user_id, key FROM sieve_seen WHERE expires < ?1 LIMIT 16)",
        [now],
    )?;
    Ok(duplicate)
}
