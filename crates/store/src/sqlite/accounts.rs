//! What the web interface adds to an account (schema version 14): the admin flag and app
//! passwords.

use crate::{AppPassword, Result, StoreError, UserId};
use hermod_types::Address;
use rusqlite::{Connection, params};

pub(crate) fn set_admin(conn: &Connection, address: &Address, admin: bool) -> Result<()> {
    let key = address.normalized();
    let changed = conn.execute(
        "UPDATE users SET admin = ?1 WHERE address = ?2",
        params![admin, key],
    )?;
    if changed == 0 {
        return Err(StoreError::UnknownUser(key));
    }
    Ok(())
}

pub(crate) fn set_quota(conn: &Connection, address: &Address, quota: Option<u64>) -> Result<()> {
    let key = address.normalized();
    let changed = conn.execute(
        "UPDATE users SET quota = ?1 WHERE address = ?2",
        params![quota.map(|q| q as i64), key],
    )?;
    if changed == 0 {
        return Err(StoreError::UnknownUser(key));
    }
    Ok(())
}

/// False for an unknown address as for an account without the flag: either way, no admin.
pub(crate) fn is_admin(conn: &Connection, address: &Address) -> Result<bool> {
    let mut stmt = conn.prepare_cached("SELECT 1 FROM users WHERE address = ?1 AND admin = 1")?;
    Ok(stmt.exists([address.normalized()])?)
}

pub(crate) fn admins(conn: &Connection) -> Result<Vec<String>> {
    let mut stmt =
        conn.prepare_cached("SELECT address FROM users WHERE admin = 1 ORDER BY address")?;
    let rows = stmt.query_map([], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn require_user(conn: &Connection, user: UserId) -> Result<()> {
    let mut stmt = conn.prepare_cached("SELECT 1 FROM users WHERE id = ?1")?;
    if stmt.exists([user.0])? {
        Ok(())
    } else {
        Err(StoreError::UnknownUser(format!("#{}", user.0)))
    }
}

pub(crate) fn add_app_password(
    conn: &Connection,
    user: UserId,
    name: &str,
    hash: &str,
    created: i64,
) -> Result<i64> {
    require_user(conn, user)?;
    let mut stmt =
        conn.prepare_cached("SELECT 1 FROM app_passwords WHERE user_id = ?1 AND name = ?2")?;
    if stmt.exists(params![user.0, name])? {
        return Err(StoreError::AppPasswordExists(name.to_owned()));
    }
    conn.execute(
        "INSERT INTO app_passwords (user_id, name, hash, created) VALUES (?1, ?2, ?3, ?4)",
        params![user.0, name, hash, created],
    )?;
    Ok(conn.last_insert_rowid())
}

pub(crate) fn app_passwords(conn: &Connection, user: UserId) -> Result<Vec<AppPassword>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, name, created FROM app_passwords WHERE user_id = ?1 ORDER BY name",
    )?;
    let rows = stmt.query_map([user.0], |r| {
        Ok(AppPassword {
            id: r.get(0)?,
            name: r.get(1)?,
            created: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Only the owner's own password goes: `id` of another account is "not found".
pub(crate) fn revoke_app_password(conn: &Connection, user: UserId, id: i64) -> Result<bool> {
    let changed = conn.execute(
        "DELETE FROM app_passwords WHERE id = ?1 AND user_id = ?2",
        params![id, user.0],
    )?;
    Ok(changed > 0)
}

pub(crate) fn app_password_hashes(conn: &Connection, user: UserId) -> Result<Vec<String>> {
    let mut stmt =
        conn.prepare_cached("SELECT hash FROM app_passwords WHERE user_id = ?1 ORDER BY id")?;
    let rows = stmt.query_map([user.0], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The [`crate::Accounts`] role, blocking (the CLI's and the embedded backend's).
impl super::SqliteStore {
    pub fn set_admin(&self, address: &Address, admin: bool) -> Result<()> {
        self.write(|c| Ok((set_admin(c, address, admin)?, vec![])))
    }

    pub fn is_admin(&self, address: &Address) -> Result<bool> {
        is_admin(&self.read(), address)
    }

    pub fn admins(&self) -> Result<Vec<String>> {
        admins(&self.read())
    }

    pub fn add_app_password(
        &self,
        user: UserId,
        name: &str,
        hash: &str,
        created: i64,
    ) -> Result<i64> {
        self.write(|c| Ok((add_app_password(c, user, name, hash, created)?, vec![])))
    }

    pub fn app_passwords(&self, user: UserId) -> Result<Vec<AppPassword>> {
        app_passwords(&self.read(), user)
    }

    pub fn revoke_app_password(&self, user: UserId, id: i64) -> Result<bool> {
        self.write(|c| Ok((revoke_app_password(c, user, id)?, vec![])))
    }

    pub fn app_password_hashes(&self, user: UserId) -> Result<Vec<String>> {
        app_password_hashes(&self.read(), user)
    }

    pub fn set_quota(&self, address: &Address, quota: Option<u64>) -> Result<()> {
        self.write(|c| Ok((set_quota(c, address, quota)?, vec![])))
    }
}
