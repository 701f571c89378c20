//! The `Accounts` role on PostgreSQL: the admin flag and app passwords (schema 008).

use super::PostgresStore;
use super::directory::update_user;
use crate::roles::Accounts;
use crate::{AppPassword, Result, StoreError, UserId};
use async_trait::async_trait;
use hermod_types::Address;

#[async_trait]
impl Accounts for PostgresStore {
    async fn set_admin(&self, address: &Address, admin: bool) -> Result<()> {
        update_user(self, address, "admin = $2", &admin).await
    }

    async fn is_admin(&self, address: &Address) -> Result<bool> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT 1 FROM users WHERE address = $1 AND admin",
                &[&address.normalized()],
            )
            .await?;
        Ok(row.is_some())
    }

    async fn admins(&self) -> Result<Vec<String>> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT address FROM users WHERE admin ORDER BY address COLLATE \"C\"",
                &[],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn add_app_password(
        &self,
        user: UserId,
        name: &str,
        hash: &str,
        created: i64,
    ) -> Result<i64> {
        let client = self.client().await?;
        let exists = client
            .query_opt("SELECT 1 FROM users WHERE id = $1", &[&user.0])
            .await?;
        if exists.is_none() {
            return Err(StoreError::UnknownUser(format!("#{}", user.0)));
        }
        // The unique (user, name) decides between two adding the same name at once.
        let row = client
            .query_opt(
                "INSERT INTO app_passwords (user_id, name, hash, created) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (user_id, name) DO NOTHING RETURNING id",
                &[&user.0, &name, &hash, &created],
            )
            .await?;
        match row {
            Some(row) => Ok(row.get(0)),
            None => Err(StoreError::AppPasswordExists(name.to_owned())),
        }
    }

    async fn app_passwords(&self, user: UserId) -> Result<Vec<AppPassword>> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT id, name, created FROM app_passwords WHERE user_id = $1 ORDER BY name",
                &[&user.0],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| AppPassword {
                id: r.get(0),
                name: r.get(1),
                created: r.get(2),
            })
            .collect())
    }

    async fn revoke_app_password(&self, user: UserId, id: i64) -> Result<bool> {
        let removed = self
            .client()
            .await?
            .execute(
                "DELETE FROM app_passwords WHERE id = $1 AND user_id = $2",
                &[&id, &user.0],
            )
            .await?;
        Ok(removed > 0)
    }

    async fn app_password_hashes(&self, user: UserId) -> Result<Vec<String>> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT hash FROM app_passwords WHERE user_id = $1 ORDER BY id",
                &[&user.0],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn set_quota(&self, address: &Address, quota: Option<u64>) -> Result<()> {
        let quota = quota.map(|q| i64::try_from(q).unwrap_or(i64::MAX));
        update_user(self, address, "quota = $2", &quota).await
    }
}
