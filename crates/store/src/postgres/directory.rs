//! The `Directory` role on PostgreSQL.
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
impl Directory for PostgresStore {
    async fn add_domain(&self, _domain: &Domain) -> Result<()> {
        Err(not_yet("add_domain"))
    }

    async fn remove_domain(&self, _domain: &Domain) -> Result<()> {
        Err(not_yet("remove_domain"))
    }

    async fn domains(&self) -> Result<Vec<String>> {
        Err(not_yet("domains"))
    }

    async fn is_local_domain(&self, _domain: &Domain) -> Result<bool> {
        Err(not_yet("is_local_domain"))
    }

    async fn add_user(
        &self,
        _address: &Address,
        _password_hash: &str,
        _quota: Option<u64>,
    ) -> Result<UserId> {
        Err(not_yet("add_user"))
    }

    async fn set_password(&self, _address: &Address, _password_hash: &str) -> Result<()> {
        Err(not_yet("set_password"))
    }

    async fn remove_user(&self, _address: &Address) -> Result<()> {
        Err(not_yet("remove_user"))
    }

    async fn users(&self) -> Result<Vec<UserRecord>> {
        Err(not_yet("users"))
    }

    async fn user(&self, _address: &Address) -> Result<Option<UserRecord>> {
        Err(not_yet("user"))
    }

    async fn first_user(&self, _domain: Option<&Domain>) -> Result<Option<UserRecord>> {
        Err(not_yet("first_user"))
    }

    async fn set_send_as(&self, _address: &Address, _patterns: &[String]) -> Result<()> {
        Err(not_yet("set_send_as"))
    }

    async fn set_bulk_allowed(&self, _address: &Address, _allowed: bool) -> Result<()> {
        Err(not_yet("set_bulk_allowed"))
    }

    async fn set_frozen(&self, _address: &Address, _reason: Option<&str>) -> Result<bool> {
        Err(not_yet("set_frozen"))
    }

    async fn add_alias(&self, _alias: &AliasKey, _targets: &[Address]) -> Result<()> {
        Err(not_yet("add_alias"))
    }

    async fn remove_alias(&self, _alias: &AliasKey) -> Result<()> {
        Err(not_yet("remove_alias"))
    }

    async fn aliases(&self) -> Result<Vec<(String, Vec<String>)>> {
        Err(not_yet("aliases"))
    }

    async fn alias_targets(&self, _alias: &AliasKey) -> Result<Vec<Address>> {
        Err(not_yet("alias_targets"))
    }

    async fn lookup_address(&self, _address: &Address) -> Result<AddressLookup> {
        Err(not_yet("lookup_address"))
    }

    async fn set_dkim_key(&self, _domain: &Domain, _key: &DkimKeyRecord) -> Result<()> {
        Err(not_yet("set_dkim_key"))
    }

    async fn dkim_keys(&self, _domain: &Domain) -> Result<Vec<DkimKeyRecord>> {
        Err(not_yet("dkim_keys"))
    }
}
