//! The `Scripts` role on PostgreSQL.
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
impl Scripts for PostgresStore {
    async fn sieve_list(&self, _user: UserId) -> Result<Vec<SieveScriptInfo>> {
        Err(not_yet("sieve_list"))
    }

    async fn sieve_get(&self, _user: UserId, _name: &str) -> Result<Option<Vec<u8>>> {
        Err(not_yet("sieve_get"))
    }

    async fn sieve_put(&self, _user: UserId, _name: &str, _content: &[u8]) -> Result<()> {
        Err(not_yet("sieve_put"))
    }

    async fn sieve_rename(&self, _user: UserId, _from: &str, _to: &str) -> Result<()> {
        Err(not_yet("sieve_rename"))
    }

    async fn sieve_delete(&self, _user: UserId, _name: &str) -> Result<()> {
        Err(not_yet("sieve_delete"))
    }

    async fn sieve_activate(&self, _user: UserId, _name: Option<&str>) -> Result<()> {
        Err(not_yet("sieve_activate"))
    }

    async fn sieve_script(&self, _id: i64) -> Result<Option<Vec<u8>>> {
        Err(not_yet("sieve_script"))
    }

    async fn sieve_seen(
        &self,
        _user: UserId,
        _key: &str,
        _now: i64,
        _expiry: i64,
        _last: bool,
    ) -> Result<bool> {
        Err(not_yet("sieve_seen"))
    }
}
