//! The `Accounts` role on PostgreSQL.
//!
//! PLACEHOLDER: every method answers "not on PostgreSQL yet" until this file is written.
//! `[store] backend = "postgres"` is refused while any placeholder is left.

use super::{PostgresStore, not_yet};
#[allow(unused_imports)]
use crate::roles::*;
#[allow(unused_imports)]
use crate::*;
use async_trait::async_trait;
#[allow(unused_imports)]
use hermod_types::{Address, Domain, MailboxName, Uid};

#[async_trait]
impl Accounts for PostgresStore {
    async fn set_admin(&self, _address: &Address, _admin: bool) -> Result<()> {
        Err(not_yet("set_admin"))
    }

    async fn is_admin(&self, _address: &Address) -> Result<bool> {
        Err(not_yet("is_admin"))
    }

    async fn admins(&self) -> Result<Vec<String>> {
        Err(not_yet("admins"))
    }

    async fn add_app_password(
        &self,
        _user: UserId,
        _name: &str,
        _hash: &str,
        _created: i64,
    ) -> Result<i64> {
        Err(not_yet("add_app_password"))
    }

    async fn app_passwords(&self, _user: UserId) -> Result<Vec<AppPassword>> {
        Err(not_yet("app_passwords"))
    }

    async fn revoke_app_password(&self, _user: UserId, _id: i64) -> Result<bool> {
        Err(not_yet("revoke_app_password"))
    }

    async fn app_password_hashes(&self, _user: UserId) -> Result<Vec<String>> {
        Err(not_yet("app_password_hashes"))
    }

    async fn set_quota(&self, _address: &Address, _quota: Option<u64>) -> Result<()> {
        Err(not_yet("set_quota"))
    }
}
