//! The `Scripts` role on PostgreSQL: each user's Sieve scripts and what vacation and
//! `duplicate` remember.
//!
//! A script row is never changed in place: putting a script again makes a new row, so an id
//! (never reused: an identity column) names one text forever. `users.sieve_script` names the
//! active one. Every change to a user's scripts locks the user's row first, so two nodes
//! changing one user's scripts take turns (a delete cannot slip between an activation's
//! check and its write).

use super::PostgresStore;
use crate::roles::Scripts;
use crate::{Result, SieveScriptInfo, StoreError, UserId};
use async_trait::async_trait;
use tokio_postgres::Transaction;

/// Expired keys removed per `sieve_seen` call: enough to outpace new keys, small enough to
/// cost nothing noticeable.
const SWEEP_BATCH: i64 = 16;

#[async_trait]
impl Scripts for PostgresStore {
    async fn sieve_list(&self, user: UserId) -> Result<Vec<SieveScriptInfo>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT s.name, octet_length(s.content), s.id = u.sieve_script
                 FROM sieve_scripts s JOIN users u ON u.id = s.user_id
                 WHERE s.user_id = $1 ORDER BY s.name",
                &[&user.0],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| SieveScriptInfo {
                name: r.get(0),
                size: u64::try_from(r.get::<_, i32>(1)).unwrap_or(0),
                active: r.get::<_, Option<bool>>(2).unwrap_or(false),
            })
            .collect())
    }

    async fn sieve_get(&self, user: UserId, name: &str) -> Result<Option<Vec<u8>>> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT content FROM sieve_scripts WHERE user_id = $1 AND name = $2",
                &[&user.0, &name],
            )
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn sieve_put(&self, user: UserId, name: &str, content: &[u8]) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let active = lock_user(&tx, user).await?;
        let old = tx
            .query_opt(
                "DELETE FROM sieve_scripts WHERE user_id = $1 AND name = $2 RETURNING id",
                &[&user.0, &name],
            )
            .await?
            .map(|r| r.get::<_, i64>(0));
        let row = tx
            .query_one(
                "INSERT INTO sieve_scripts (user_id, name, content) VALUES ($1, $2, $3)
                 RETURNING id",
                &[&user.0, &name, &content],
            )
            .await?;
        let new: i64 = row.get(0);
        // An active script stays active with its new text.
        if old.is_some() && old == active {
            set_active(&tx, user, Some(new)).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn sieve_rename(&self, user: UserId, from: &str, to: &str) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        lock_user(&tx, user).await?;
        if id_of(&tx, user, from).await?.is_none() {
            return Err(StoreError::UnknownScript(from.to_owned()));
        }
        if from != to && id_of(&tx, user, to).await?.is_some() {
            return Err(StoreError::ScriptExists(to.to_owned()));
        }
        // The id stays: the same text under another name (the active one stays active).
        tx.execute(
            "UPDATE sieve_scripts SET name = $3 WHERE user_id = $1 AND name = $2",
            &[&user.0, &from, &to],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn sieve_delete(&self, user: UserId, name: &str) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let active = lock_user(&tx, user).await?;
        let Some(id) = id_of(&tx, user, name).await? else {
            return Err(StoreError::UnknownScript(name.to_owned()));
        };
        // RFC 5804 2.10: the active script cannot be deleted.
        if active == Some(id) {
            return Err(StoreError::ScriptActive(name.to_owned()));
        }
        tx.execute("DELETE FROM sieve_scripts WHERE id = $1", &[&id])
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn sieve_activate(&self, user: UserId, name: Option<&str>) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        lock_user(&tx, user).await?;
        let id = match name {
            None => None,
            Some(name) => match id_of(&tx, user, name).await? {
                Some(id) => Some(id),
                None => return Err(StoreError::UnknownScript(name.to_owned())),
            },
        };
        set_active(&tx, user, id).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn sieve_script(&self, id: i64) -> Result<Option<Vec<u8>>> {
        let client = self.client().await?;
        let row = client
            .query_opt("SELECT content FROM sieve_scripts WHERE id = $1", &[&id])
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn sieve_seen(
        &self,
        user: UserId,
        key: &str,
        now: i64,
        expiry: i64,
        last: bool,
    ) -> Result<bool> {
        let expires = now.saturating_add(expiry);
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // A key never seen: recorded, and not a duplicate. Of two nodes recording it at
        // once, the second waits for the first's row and goes on below.
        let recorded = tx
            .execute(
                "INSERT INTO sieve_seen (user_id, key, expires) VALUES ($1, $2, $3)
                 ON CONFLICT (user_id, key) DO NOTHING",
                &[&user.0, &key, &expires],
            )
            .await?;
        let duplicate = if recorded > 0 {
            false
        } else {
            // Known: the row is locked while it is judged, so of two nodes finding it
            // expired only the first records it anew.
            let row = tx
                .query_one(
                    "SELECT expires FROM sieve_seen WHERE user_id = $1 AND key = $2 FOR UPDATE",
                    &[&user.0, &key],
                )
                .await?;
            let duplicate = row.get::<_, i64>(0) > now;
            if !duplicate || last {
                tx.execute(
                    "UPDATE sieve_seen SET expires = $3 WHERE user_id = $1 AND key = $2",
                    &[&user.0, &key, &expires],
                )
                .await?;
            }
            duplicate
        };
        // Forget what ran out, a few rows at a time, so the table stays small; rows another
        // node is judging are left for later.
        tx.execute(
            "DELETE FROM sieve_seen WHERE (user_id, key) IN
                 (SELECT user_id, key FROM sieve_seen WHERE expires < $1
                  LIMIT $2 FOR UPDATE SKIP LOCKED)",
            &[&now, &SWEEP_BATCH],
        )
        .await?;
        tx.commit().await?;
        Ok(duplicate)
    }
}

/// Locks `user`'s row for a change to its scripts; its active script's id.
async fn lock_user(tx: &Transaction<'_>, user: UserId) -> Result<Option<i64>> {
    let row = tx
        .query_opt(
            "SELECT sieve_script FROM users WHERE id = $1 FOR NO KEY UPDATE",
            &[&user.0],
        )
        .await?;
    match row {
        Some(row) => Ok(row.get(0)),
        None => Err(StoreError::UnknownUser(format!("#{}", user.0))),
    }
}

async fn id_of(tx: &Transaction<'_>, user: UserId, name: &str) -> Result<Option<i64>> {
    let row = tx
        .query_opt(
            "SELECT id FROM sieve_scripts WHERE user_id = $1 AND name = $2",
            &[&user.0, &name],
        )
        .await?;
    Ok(row.map(|r| r.get(0)))
}

async fn set_active(tx: &Transaction<'_>, user: UserId, id: Option<i64>) -> Result<()> {
    tx.execute(
        "UPDATE users SET sieve_script = $1 WHERE id = $2",
        &[&id, &user.0],
    )
    .await?;
    Ok(())
}
