//! Domains, users and aliases.

use super::mailbox::insert_mailbox;
use crate::{AddressLookup, AliasKey, DEFAULT_MAILBOXES, Result, StoreError, UserId, UserRecord};
use hermod_types::{Address, Domain, MailboxName};
use rusqlite::{Connection, OptionalExtension, params};

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

pub(crate) fn has_domain(conn: &Connection, domain: &Domain) -> Result<bool> {
    let mut stmt = conn.prepare_cached("SELECT 1 FROM domains WHERE name = ?1")?;
    Ok(stmt.exists([domain.as_str()])?)
}

pub(crate) fn add_domain(conn: &Connection, domain: &Domain) -> Result<()> {
    if has_domain(conn, domain)? {
        return Err(StoreError::DomainExists(domain.to_string()));
    }
    conn.execute(
        "INSERT INTO domains (name, created) VALUES (?1, ?2)",
        params![domain.as_str(), now()],
    )?;
    Ok(())
}

fn require_domain(conn: &Connection, domain: &Domain) -> Result<()> {
    if has_domain(conn, domain)? {
        Ok(())
    } else {
        Err(StoreError::UnknownDomain(domain.to_string()))
    }
}

pub(crate) fn remove_domain(conn: &Connection, domain: &Domain) -> Result<()> {
    require_domain(conn, domain)?;
    let count = |table: &str| -> Result<u64> {
        let sql = format!("SELECT count(*) FROM {table} WHERE domain = ?1");
        Ok(conn.query_row(&sql, [domain.as_str()], |r| r.get::<_, i64>(0))? as u64)
    };
    let (users, aliases) = (count("users")?, count("aliases")?);
    if users > 0 || aliases > 0 {
        return Err(StoreError::DomainInUse {
            domain: domain.to_string(),
            users,
            aliases,
        });
    }
    conn.execute("DELETE FROM domains WHERE name = ?1", [domain.as_str()])?;
    Ok(())
}

pub(crate) fn domains(conn: &Connection) -> Result<Vec<String>> {
    let mut stmt = conn.prepare_cached("SELECT name FROM domains ORDER BY name")?;
    let rows = stmt.query_map([], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn alias_exists(conn: &Connection, key: &str) -> Result<bool> {
    let mut stmt = conn.prepare_cached("SELECT 1 FROM aliases WHERE alias = ?1")?;
    Ok(stmt.exists([key])?)
}

pub(crate) fn add_user(
    conn: &Connection,
    address: &Address,
    hash: &str,
    quota: Option<u64>,
) -> Result<UserId> {
    require_domain(conn, address.domain())?;
    let key = address.normalized();
    if user(conn, &key)?.is_some() {
        return Err(StoreError::UserExists(key));
    }
    if alias_exists(conn, &key)? {
        return Err(StoreError::AddressIsAlias(key));
    }
    if super::lists::is_list_address(conn, &key)? {
        return Err(StoreError::AddressTaken(key));
    }
    conn.execute(
        "INSERT INTO users (address, domain, password, quota) VALUES (?1, ?2, ?3, ?4)",
        params![
            key,
            address.domain().as_str(),
            hash,
            quota.map(|q| q as i64)
        ],
    )?;
    let id = UserId(conn.last_insert_rowid());
    for (name, special) in DEFAULT_MAILBOXES {
        let name = MailboxName::parse(name).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        insert_mailbox(conn, id, &name, special)?;
        conn.prepare_cached("INSERT OR IGNORE INTO subscriptions (user_id, name) VALUES (?1, ?2)")?
            .execute(params![id.0, name.as_str()])?;
    }
    Ok(id)
}

pub(crate) fn set_password(conn: &Connection, address: &Address, hash: &str) -> Result<()> {
    let key = address.normalized();
    let changed = conn.execute(
        "UPDATE users SET password = ?1 WHERE address = ?2",
        params![hash, key],
    )?;
    if changed == 0 {
        return Err(StoreError::UnknownUser(key));
    }
    Ok(())
}

pub(crate) fn remove_user(conn: &Connection, address: &Address) -> Result<()> {
    let key = address.normalized();
    let changed = conn.execute("DELETE FROM users WHERE address = ?1", [&key])?;
    if changed == 0 {
        return Err(StoreError::UnknownUser(key));
    }
    Ok(())
}

fn user_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<UserRecord> {
    Ok(UserRecord {
        id: UserId(r.get(0)?),
        address: r.get(1)?,
        password_hash: r.get(2)?,
        quota: r.get::<_, Option<i64>>(3)?.map(|q| q as u64),
        used: r.get::<_, i64>(4)?.max(0) as u64,
        send_as: r
            .get::<_, String>(5)?
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
        sieve_script: r.get(6)?,
        bulk_allowed: r.get(7)?,
        frozen: r.get(8)?,
        junk_threshold: r.get(9)?,
    })
}

const USER_COLUMNS: &str = "id, address, password, quota, used, send_as, sieve_script, bulk_allowed, frozen, junk_threshold";

pub(crate) fn set_junk_threshold(
    conn: &Connection,
    address: &Address,
    threshold: Option<f64>,
) -> Result<()> {
    let key = address.normalized();
    let changed = conn.execute(
        "UPDATE users SET junk_threshold = ?1 WHERE address = ?2",
        params![threshold, key],
    )?;
    if changed == 0 {
        return Err(StoreError::UnknownUser(key));
    }
    Ok(())
}

pub(crate) fn set_bulk_allowed(conn: &Connection, address: &Address, allowed: bool) -> Result<()> {
    let key = address.normalized();
    let changed = conn.execute(
        "UPDATE users SET bulk_allowed = ?1 WHERE address = ?2",
        params![allowed, key],
    )?;
    if changed == 0 {
        return Err(StoreError::UnknownUser(key));
    }
    Ok(())
}

/// Freezes (with a reason) or unfreezes an account; true when that changed its state (a
/// second freeze keeps the first reason).
pub(crate) fn set_frozen(
    conn: &Connection,
    address: &Address,
    reason: Option<&str>,
) -> Result<bool> {
    let key = address.normalized();
    let was: Option<Option<String>> = conn
        .query_row("SELECT frozen FROM users WHERE address = ?1", [&key], |r| {
            r.get(0)
        })
        .optional()?;
    let Some(was) = was else {
        return Err(StoreError::UnknownUser(key));
    };
    if was.is_some() == reason.is_some() {
        return Ok(false);
    }
    conn.execute(
        "UPDATE users SET frozen = ?1 WHERE address = ?2",
        params![reason, key],
    )?;
    Ok(true)
}

pub(crate) fn set_send_as(conn: &Connection, address: &Address, patterns: &[String]) -> Result<()> {
    let key = address.normalized();
    let joined = patterns.join(" ");
    let changed = conn.execute(
        "UPDATE users SET send_as = ?1 WHERE address = ?2",
        params![joined, key],
    )?;
    if changed == 0 {
        return Err(StoreError::UnknownUser(key));
    }
    Ok(())
}

pub(crate) fn user(conn: &Connection, normalized: &str) -> Result<Option<UserRecord>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE address = ?1");
    let mut stmt = conn.prepare_cached(&sql)?;
    Ok(stmt.query_row([normalized], user_from_row).optional()?)
}

/// Users in creation order, optionally of one domain only.
pub(crate) fn users(conn: &Connection, domain: Option<&Domain>) -> Result<Vec<UserRecord>> {
    let sql =
        format!("SELECT {USER_COLUMNS} FROM users WHERE ?1 IS NULL OR domain = ?1 ORDER BY id");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([domain.map(Domain::as_str)], user_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(crate) fn add_alias(conn: &Connection, alias: &AliasKey, targets: &[Address]) -> Result<()> {
    require_domain(conn, alias.domain())?;
    let key = alias.key();
    if user(conn, &key)?.is_some() {
        return Err(StoreError::AliasShadowsUser(key));
    }
    if super::lists::is_list_address(conn, &key)? {
        return Err(StoreError::AddressTaken(key));
    }
    let mut stmt = conn.prepare_cached(
        "INSERT OR IGNORE INTO aliases (alias, target, domain) VALUES (?1, ?2, ?3)",
    )?;
    for target in targets {
        stmt.execute(params![key, target.to_string(), alias.domain().as_str()])?;
    }
    Ok(())
}

pub(crate) fn remove_alias(conn: &Connection, alias: &AliasKey) -> Result<()> {
    let key = alias.key();
    if conn.execute("DELETE FROM aliases WHERE alias = ?1", [&key])? == 0 {
        return Err(StoreError::UnknownAlias(key));
    }
    Ok(())
}

pub(crate) fn aliases(conn: &Connection) -> Result<Vec<(String, Vec<String>)>> {
    let mut stmt =
        conn.prepare_cached("SELECT alias, target FROM aliases ORDER BY alias, target")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for row in rows {
        let (alias, target) = row?;
        match out.last_mut() {
            Some((last, targets)) if *last == alias => targets.push(target),
            _ => out.push((alias, vec![target])),
        }
    }
    Ok(out)
}

pub(crate) fn alias_targets(conn: &Connection, alias: &AliasKey) -> Result<Vec<Address>> {
    let mut stmt =
        conn.prepare_cached("SELECT target FROM aliases WHERE alias = ?1 ORDER BY target")?;
    let rows = stmt.query_map([alias.key()], |r| r.get::<_, String>(0))?;
    let mut out = Vec::new();
    for target in rows {
        let target = target?;
        let parsed = Address::parse(&target)
            .map_err(|e| StoreError::Corrupt(format!("alias target {target}: {e}")))?;
        out.push(parsed);
    }
    Ok(out)
}

pub(crate) fn set_dkim_key(
    conn: &Connection,
    domain: &Domain,
    key: &crate::DkimKeyRecord,
) -> Result<()> {
    require_domain(conn, domain)?;
    conn.execute(
        "INSERT OR REPLACE INTO dkim_keys (domain, selector, algorithm, private_key, public_key, created)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![domain.as_str(), key.selector, key.algorithm, key.private_key, key.public_key, now()],
    )?;
    Ok(())
}

/// Adds `keys` all or none. The caller's transaction is IMMEDIATE (it holds the write lock
/// from its start), so no other writer comes between the check and the inserts.
pub(crate) fn add_dkim_keys(
    conn: &Connection,
    domain: &Domain,
    keys: &[crate::DkimKeyRecord],
) -> Result<bool> {
    require_domain(conn, domain)?;
    let mut taken =
        conn.prepare_cached("SELECT 1 FROM dkim_keys WHERE domain = ?1 AND selector = ?2")?;
    for key in keys {
        if taken.exists(params![domain.as_str(), key.selector])? {
            return Ok(false);
        }
    }
    for key in keys {
        conn.execute(
            "INSERT INTO dkim_keys (domain, selector, algorithm, private_key, public_key, created)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                domain.as_str(),
                key.selector,
                key.algorithm,
                key.private_key,
                key.public_key,
                now()
            ],
        )?;
    }
    Ok(true)
}

pub(crate) fn dkim_keys(conn: &Connection, domain: &Domain) -> Result<Vec<crate::DkimKeyRecord>> {
    let mut stmt = conn.prepare_cached(
        "SELECT selector, algorithm, private_key, public_key FROM dkim_keys WHERE domain = ?1 ORDER BY selector",
    )?;
    let rows = stmt.query_map([domain.as_str()], |r| {
        Ok(crate::DkimKeyRecord {
            selector: r.get(0)?,
            algorithm: r.get(1)?,
            private_key: r.get(2)?,
            public_key: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Everything routing needs of one address, from one connection. An account is routing's
/// answer when there is one, so aliases and the catch-all are read only when there is not:
/// the common recipient costs two queries (each query also takes SQLite's allocator lock,
/// which every thread of the store shares).
pub(crate) fn lookup_address(conn: &Connection, address: &Address) -> Result<AddressLookup> {
    if !has_domain(conn, address.domain())? {
        return Ok(AddressLookup::default());
    }
    let user = user(conn, &address.normalized())?;
    if user.is_some() {
        return Ok(AddressLookup {
            local_domain: true,
            user,
            ..AddressLookup::default()
        });
    }
    Ok(AddressLookup {
        local_domain: true,
        user,
        alias_targets: alias_targets(conn, &AliasKey::Address(address.clone()))?,
        catch_all: alias_targets(conn, &AliasKey::CatchAll(address.domain().clone()))?,
    })
}
