//! Whom each account has sent mail to (see [`crate::roles::SpamData::correspondents_note`]).

use crate::{CORRESPONDENT_REFRESH_SECS, MAX_CORRESPONDENTS, Result, UserId};
use rusqlite::{Connection, params};

/// Records `addresses` as `user`'s correspondents at `now`. A known one's time is rewritten
/// only once it is a day old: most mail goes to people written to before, and an unchanged
/// row costs the commit nothing. New ones may push the longest unused past the cap.
pub(crate) fn note(conn: &Connection, user: UserId, addresses: &[String], now: i64) -> Result<()> {
    let mut upsert = conn.prepare_cached(
        "INSERT INTO correspondents (address, user_id, last_sent) VALUES (?1, ?2, ?3)
         ON CONFLICT (address, user_id) DO UPDATE SET last_sent = excluded.last_sent
         WHERE last_sent < excluded.last_sent - ?4
         RETURNING last_sent = ?3",
    )?;
    let mut changed = false;
    for address in addresses {
        let mut rows = upsert.query(params![address, user.0, now, CORRESPONDENT_REFRESH_SECS])?;
        changed |= rows.next()?.is_some();
    }
    if changed {
        conn.execute(
            "DELETE FROM correspondents WHERE user_id = ?1 AND last_sent <= (
                 SELECT last_sent FROM correspondents WHERE user_id = ?1
                 ORDER BY last_sent DESC LIMIT 1 OFFSET ?2)",
            params![user.0, MAX_CORRESPONDENTS],
        )?;
    }
    Ok(())
}

/// Which of `addresses` [`note`] would write: those `user` never wrote to, or last wrote to
/// more than a day before `now`. Read first, so that mail to the usual people takes no
/// write lock at all.
pub(crate) fn due(
    conn: &Connection,
    user: UserId,
    addresses: &[String],
    now: i64,
) -> Result<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT 1 FROM correspondents WHERE address = ?1 AND user_id = ?2 AND last_sent >= ?3",
    )?;
    let mut due = Vec::new();
    for address in addresses {
        if !stmt.exists(params![address, user.0, now - CORRESPONDENT_REFRESH_SECS])? {
            due.push(address.clone());
        }
    }
    Ok(due)
}

/// Which of `users` have written to `address`.
pub(crate) fn of(conn: &Connection, address: &str, users: &[UserId]) -> Result<Vec<UserId>> {
    let mut stmt =
        conn.prepare_cached("SELECT 1 FROM correspondents WHERE address = ?1 AND user_id = ?2")?;
    let mut known = Vec::new();
    for user in users {
        if stmt.exists(params![address, user.0])? {
            known.push(*user);
        }
    }
    Ok(known)
}

/// Forgets `addresses` as `user`'s correspondents.
pub(crate) fn forget(conn: &Connection, user: UserId, addresses: &[String]) -> Result<()> {
    let mut stmt =
        conn.prepare_cached("DELETE FROM correspondents WHERE address = ?1 AND user_id = ?2")?;
    for address in addresses {
        stmt.execute(params![address, user.0])?;
    }
    Ok(())
}

/// How many correspondents `user` has, and the `limit` most recent, newest first.
pub(crate) fn list(
    conn: &Connection,
    user: UserId,
    limit: usize,
) -> Result<(u64, Vec<(String, i64)>)> {
    let total: i64 = conn.query_row(
        "SELECT count(*) FROM correspondents WHERE user_id = ?1",
        [user.0],
        |r| r.get(0),
    )?;
    let mut stmt = conn.prepare_cached(
        "SELECT address, last_sent FROM correspondents WHERE user_id = ?1
         ORDER BY last_sent DESC, address LIMIT ?2",
    )?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = stmt
        .query_map(params![user.0, limit], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok((u64::try_from(total).unwrap_or(0), rows))
}
