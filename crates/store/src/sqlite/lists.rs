//! Mailing lists: lists, members, moderators, held posts, confirmation tokens (schema
//! version 11). Addresses are stored normalized (as `Address::normalized` spells them).

use crate::list_model::{
    Confirmed, ListMember, ListMode, ListPost, ListRecord, ListSettings, MemberState, TokenAction,
};
use crate::{Result, StoreError};
use hermod_types::Address;
use rusqlite::{Connection, OptionalExtension, params};

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// `team-request@d` for `team@d`: the list's command address, which no account or alias may
/// take either.
pub(crate) fn request_address(list: &str) -> String {
    match list.rsplit_once('@') {
        Some((local, domain)) => format!("{local}-request@{domain}"),
        None => list.to_owned(),
    }
}

/// Whether `key` (a normalized address) is a list's address or its `-request` address.
pub(crate) fn is_list_address(conn: &Connection, key: &str) -> Result<bool> {
    let base = key
        .rsplit_once('@')
        .and_then(|(local, domain)| Some(format!("{}@{domain}", local.strip_suffix("-request")?)));
    let mut stmt = conn.prepare_cached("SELECT 1 FROM lists WHERE address = ?1 OR address = ?2")?;
    Ok(stmt.exists(params![key, base.unwrap_or_default()])?)
}

fn taken_by_account_or_alias(conn: &Connection, key: &str) -> Result<bool> {
    let mut stmt = conn.prepare_cached(
        "SELECT 1 FROM users WHERE address = ?1 UNION ALL SELECT 1 FROM aliases WHERE alias = ?1",
    )?;
    Ok(stmt.exists([key])?)
}

pub(crate) fn create(conn: &Connection, address: &Address, settings: &ListSettings) -> Result<i64> {
    if !super::directory::has_domain(conn, address.domain())? {
        return Err(StoreError::UnknownDomain(address.domain().to_string()));
    }
    let key = address.normalized();
    if get(conn, &key)?.is_some() {
        return Err(StoreError::ListExists(key));
    }
    for taken in [key.clone(), request_address(&key)] {
        if taken_by_account_or_alias(conn, &taken)? || is_list_address(conn, &taken)? {
            return Err(StoreError::AddressTaken(taken));
        }
    }
    conn.execute(
        "INSERT INTO lists
             (address, domain, owner, mode, moderated, refuse_non_members, archive, created)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            key,
            address.domain().as_str(),
            settings.owner,
            settings.mode.as_str(),
            settings.moderated,
            settings.refuse_non_members,
            settings.archive,
            now()
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

pub(crate) fn delete(conn: &Connection, address: &str) -> Result<()> {
    if conn.execute("DELETE FROM lists WHERE address = ?1", [address])? == 0 {
        return Err(StoreError::UnknownList(address.to_owned()));
    }
    Ok(())
}

fn record(r: &rusqlite::Row<'_>) -> rusqlite::Result<ListRecord> {
    let mode: String = r.get(3)?;
    Ok(ListRecord {
        id: r.get(0)?,
        address: r.get(1)?,
        settings: ListSettings {
            owner: r.get(2)?,
            mode: ListMode::parse(&mode).unwrap_or(ListMode::Discussion),
            moderated: r.get(4)?,
            refuse_non_members: r.get(5)?,
            archive: r.get(6)?,
        },
    })
}

const LIST_COLUMNS: &str = "id, address, owner, mode, moderated, refuse_non_members, archive";

pub(crate) fn get(conn: &Connection, address: &str) -> Result<Option<ListRecord>> {
    let sql = format!("SELECT {LIST_COLUMNS} FROM lists WHERE address = ?1");
    let mut stmt = conn.prepare_cached(&sql)?;
    Ok(stmt.query_row([address], record).optional()?)
}

pub(crate) fn by_id(conn: &Connection, id: i64) -> Result<Option<ListRecord>> {
    let sql = format!("SELECT {LIST_COLUMNS} FROM lists WHERE id = ?1");
    let mut stmt = conn.prepare_cached(&sql)?;
    Ok(stmt.query_row([id], record).optional()?)
}

pub(crate) fn all(conn: &Connection) -> Result<Vec<ListRecord>> {
    let sql = format!("SELECT {LIST_COLUMNS} FROM lists ORDER BY address");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([], record)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn require(conn: &Connection, list: i64) -> Result<()> {
    match by_id(conn, list)? {
        Some(_) => Ok(()),
        None => Err(StoreError::UnknownList(format!("#{list}"))),
    }
}

pub(crate) fn members(conn: &Connection, list: i64) -> Result<Vec<ListMember>> {
    let mut stmt = conn.prepare_cached(
        "SELECT address, state, bounces FROM list_members WHERE list_id = ?1 ORDER BY address",
    )?;
    let rows = stmt.query_map([list], member)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn member(r: &rusqlite::Row<'_>) -> rusqlite::Result<ListMember> {
    let state: String = r.get(1)?;
    Ok(ListMember {
        address: r.get(0)?,
        state: MemberState::parse(&state),
        bounces: r.get::<_, i64>(2)? as u32,
    })
}

pub(crate) fn get_member(
    conn: &Connection,
    list: i64,
    address: &str,
) -> Result<Option<ListMember>> {
    let mut stmt = conn.prepare_cached(
        "SELECT address, state, bounces FROM list_members WHERE list_id = ?1 AND address = ?2",
    )?;
    Ok(stmt.query_row(params![list, address], member).optional()?)
}

/// Adds the member or changes its state; a member made active again starts with no bounces.
/// A pending request never demotes an active member.
pub(crate) fn set_member(
    conn: &Connection,
    list: i64,
    address: &str,
    state: MemberState,
) -> Result<()> {
    require(conn, list)?;
    let current = get_member(conn, list, address)?;
    if state == MemberState::Pending && current.is_some_and(|m| m.state == MemberState::Active) {
        return Ok(());
    }
    conn.execute(
        "INSERT INTO list_members (list_id, address, state, bounces, since)
         VALUES (?1, ?2, ?3, 0, ?4)
         ON CONFLICT (list_id, address) DO UPDATE SET state = ?3, bounces = 0, since = ?4",
        params![list, address, state.as_str(), now()],
    )?;
    Ok(())
}

pub(crate) fn remove_member(conn: &Connection, list: i64, address: &str) -> Result<bool> {
    Ok(conn.execute(
        "DELETE FROM list_members WHERE list_id = ?1 AND address = ?2",
        params![list, address],
    )? > 0)
}

/// Counts a bounce of an active member; at `suspend_after` bounces it is suspended. Returns
/// the member as it is now (`None`: not a member).
pub(crate) fn bounce(
    conn: &Connection,
    list: i64,
    address: &str,
    suspend_after: u32,
) -> Result<Option<ListMember>> {
    // `since` becomes the time of the suspension: how long it lasted decides removal.
    conn.execute(
        "UPDATE list_members SET bounces = bounces + 1,
             state = CASE WHEN bounces + 1 >= ?3 THEN 'suspended' ELSE state END,
             since = CASE WHEN bounces + 1 >= ?3 THEN ?4 ELSE since END
         WHERE list_id = ?1 AND address = ?2 AND state = 'active'",
        params![list, address, suspend_after.max(1), now()],
    )?;
    get_member(conn, list, address)
}

/// Removes the members suspended before `before`; their addresses.
pub(crate) fn remove_suspended(conn: &Connection, list: i64, before: i64) -> Result<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "DELETE FROM list_members WHERE list_id = ?1 AND state = 'suspended' AND since < ?2
         RETURNING address",
    )?;
    let rows = stmt.query_map(params![list, before], |r| r.get(0))?;
    let mut removed: Vec<String> = rows.collect::<rusqlite::Result<_>>()?;
    removed.sort();
    Ok(removed)
}

pub(crate) fn moderators(conn: &Connection, list: i64) -> Result<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT address FROM list_moderators WHERE list_id = ?1 ORDER BY address",
    )?;
    let rows = stmt.query_map([list], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(crate) fn set_moderators(
    conn: &Connection,
    list: i64,
    addresses: &[String],
    remove: bool,
) -> Result<()> {
    require(conn, list)?;
    let sql = if remove {
        "DELETE FROM list_moderators WHERE list_id = ?1 AND address = ?2"
    } else {
        "INSERT OR IGNORE INTO list_moderators (list_id, address) VALUES (?1, ?2)"
    };
    let mut stmt = conn.prepare_cached(sql)?;
    for address in addresses {
        stmt.execute(params![list, address])?;
    }
    Ok(())
}

pub(crate) fn hold(
    conn: &Connection,
    list: i64,
    sender: Option<&str>,
    subject: &str,
    content: &[u8],
) -> Result<i64> {
    require(conn, list)?;
    conn.execute(
        "INSERT INTO list_held (list_id, sender, subject, received, content)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![list, sender, subject, now(), content],
    )?;
    Ok(conn.last_insert_rowid())
}

fn held_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ListPost> {
    Ok(ListPost {
        id: r.get(0)?,
        sender: r.get(1)?,
        subject: r.get(2)?,
        received: r.get(3)?,
        content: r.get(4)?,
    })
}

/// The held posts, oldest first; `with_content` false leaves each `content` empty.
pub(crate) fn held(conn: &Connection, list: i64, with_content: bool) -> Result<Vec<ListPost>> {
    let content = if with_content { "content" } else { "x''" };
    let sql = format!(
        "SELECT id, sender, subject, received, {content} FROM list_held
         WHERE list_id = ?1 ORDER BY id"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([list], held_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Removes a held post and returns it (whoever takes it decides it, once).
pub(crate) fn take_held(conn: &Connection, list: i64, id: i64) -> Result<Option<ListPost>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, sender, subject, received, content FROM list_held
         WHERE list_id = ?1 AND id = ?2",
    )?;
    let post = stmt.query_row(params![list, id], held_row).optional()?;
    if post.is_some() {
        conn.execute("DELETE FROM list_held WHERE id = ?1", [id])?;
    }
    Ok(post)
}

/// Keeps a distributed post for the archive.
pub(crate) fn archive_post(
    conn: &Connection,
    list: i64,
    sender: Option<&str>,
    subject: &str,
    content: &[u8],
) -> Result<i64> {
    require(conn, list)?;
    conn.execute(
        "INSERT INTO list_posts (list_id, sender, subject, received, content)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![list, sender, subject, now(), content],
    )?;
    Ok(conn.last_insert_rowid())
}

/// The archived posts, oldest first.
pub(crate) fn posts(conn: &Connection, list: i64) -> Result<Vec<ListPost>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, sender, subject, received, content FROM list_posts
         WHERE list_id = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([list], held_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// A new token: 128 random bits, hex. Expired tokens are forgotten on the way.
pub(crate) fn new_token(
    conn: &Connection,
    list: i64,
    address: &str,
    action: TokenAction,
    expires: i64,
) -> Result<String> {
    require(conn, list)?;
    let mut random = [0u8; 16];
    getrandom::fill(&mut random).map_err(|e| StoreError::Corrupt(format!("no randomness: {e}")))?;
    let token: String = random.iter().map(|b| format!("{b:02x}")).collect();
    conn.execute("DELETE FROM list_tokens WHERE expires < ?1", [now()])?;
    conn.execute(
        "INSERT INTO list_tokens (token, list_id, address, action, expires)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![token, list, address, action.as_str(), expires],
    )?;
    Ok(token)
}

/// Uses up a token: what it confirms, if it exists and has not expired at `at`.
pub(crate) fn take_token(conn: &Connection, token: &str, at: i64) -> Result<Option<Confirmed>> {
    let found: Option<(i64, String, String, i64)> = conn
        .query_row(
            "SELECT list_id, address, action, expires FROM list_tokens WHERE token = ?1",
            [token],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    let Some((list, address, action, expires)) = found else {
        return Ok(None);
    };
    conn.execute("DELETE FROM list_tokens WHERE token = ?1", [token])?;
    if expires < at {
        return Ok(None);
    }
    let Some(action) = TokenAction::parse(&action) else {
        return Err(StoreError::Corrupt(format!("list token action {action:?}")));
    };
    Ok(Some(Confirmed {
        list,
        address,
        action,
    }))
}
