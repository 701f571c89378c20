//! The `Lists` role on PostgreSQL.
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
impl Lists for PostgresStore {
    async fn list_create(&self, _address: &Address, _settings: &ListSettings) -> Result<i64> {
        Err(not_yet("list_create"))
    }

    async fn list_delete(&self, _address: &str) -> Result<()> {
        Err(not_yet("list_delete"))
    }

    async fn list(&self, _address: &str) -> Result<Option<ListRecord>> {
        Err(not_yet("list"))
    }

    async fn list_by_id(&self, _id: i64) -> Result<Option<ListRecord>> {
        Err(not_yet("list_by_id"))
    }

    async fn lists(&self) -> Result<Vec<ListRecord>> {
        Err(not_yet("lists"))
    }

    async fn list_members(&self, _list: i64) -> Result<Vec<ListMember>> {
        Err(not_yet("list_members"))
    }

    async fn list_member(&self, _list: i64, _address: &str) -> Result<Option<ListMember>> {
        Err(not_yet("list_member"))
    }

    async fn list_set_member(&self, _list: i64, _address: &str, _state: MemberState) -> Result<()> {
        Err(not_yet("list_set_member"))
    }

    async fn list_remove_member(&self, _list: i64, _address: &str) -> Result<bool> {
        Err(not_yet("list_remove_member"))
    }

    async fn list_bounce(
        &self,
        _list: i64,
        _address: &str,
        _suspend_after: u32,
    ) -> Result<Option<ListMember>> {
        Err(not_yet("list_bounce"))
    }

    async fn list_remove_suspended(&self, _list: i64, _before: i64) -> Result<Vec<String>> {
        Err(not_yet("list_remove_suspended"))
    }

    async fn list_moderators(&self, _list: i64) -> Result<Vec<String>> {
        Err(not_yet("list_moderators"))
    }

    async fn list_set_moderators(
        &self,
        _list: i64,
        _addresses: &[String],
        _remove: bool,
    ) -> Result<()> {
        Err(not_yet("list_set_moderators"))
    }

    async fn list_hold(
        &self,
        _list: i64,
        _sender: Option<&str>,
        _subject: &str,
        _content: &[u8],
    ) -> Result<i64> {
        Err(not_yet("list_hold"))
    }

    async fn list_held(&self, _list: i64, _with_content: bool) -> Result<Vec<ListPost>> {
        Err(not_yet("list_held"))
    }

    async fn list_take_held(&self, _list: i64, _id: i64) -> Result<Option<ListPost>> {
        Err(not_yet("list_take_held"))
    }

    async fn list_archive_post(
        &self,
        _list: i64,
        _sender: Option<&str>,
        _subject: &str,
        _content: &[u8],
    ) -> Result<i64> {
        Err(not_yet("list_archive_post"))
    }

    async fn list_posts(&self, _list: i64) -> Result<Vec<ListPost>> {
        Err(not_yet("list_posts"))
    }

    async fn list_new_token(
        &self,
        _list: i64,
        _address: &str,
        _action: TokenAction,
        _expires: i64,
    ) -> Result<String> {
        Err(not_yet("list_new_token"))
    }

    async fn list_take_token(&self, _token: &str, _at: i64) -> Result<Option<Confirmed>> {
        Err(not_yet("list_take_token"))
    }
}

/// Whether `address` (normalized) is a list's address or its `-request` address: users and
/// aliases may not take it. (Until lists are written on PostgreSQL there are none.)
pub(super) async fn is_list_address(
    _tx: &tokio_postgres::Transaction<'_>,
    _address: &str,
) -> Result<bool> {
    Ok(false)
}
