//! The `Mail` role on PostgreSQL.
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
impl Mail for PostgresStore {
    fn blob_writer(&self) -> Result<BlobWriter> {
        Err(not_yet("blob_writer"))
    }

    async fn submit(
        &self,
        _blob: SealedBlob,
        _targets: &[DeliveryTarget],
        _outbound: Option<&Outbound>,
    ) -> Result<Submitted> {
        Err(not_yet("submit"))
    }

    async fn submit_all(
        &self,
        _messages: Vec<(SealedBlob, Vec<DeliveryTarget>)>,
        _outbound: Option<&Outbound>,
    ) -> Result<Submitted> {
        Err(not_yet("submit_all"))
    }

    async fn read_blob(&self, _blob: &BlobId, _limit: Option<u64>) -> Result<Vec<u8>> {
        Err(not_yet("read_blob"))
    }

    async fn read_blobs(&self, _wanted: &[(BlobId, u64)]) -> Result<Vec<Vec<u8>>> {
        Err(not_yet("read_blobs"))
    }

    async fn open_blob(&self, _blob: &BlobId) -> Result<Box<dyn BodyStream>> {
        Err(not_yet("open_blob"))
    }

    async fn mailboxes(&self, _user: UserId) -> Result<Vec<MailboxInfo>> {
        Err(not_yet("mailboxes"))
    }

    async fn mailbox(&self, _user: UserId, _name: &MailboxName) -> Result<Option<MailboxInfo>> {
        Err(not_yet("mailbox"))
    }

    async fn mailbox_by_special_use(
        &self,
        _user: UserId,
        _use_: SpecialUse,
    ) -> Result<Option<MailboxInfo>> {
        Err(not_yet("mailbox_by_special_use"))
    }

    async fn create_mailbox(
        &self,
        _user: UserId,
        _name: &MailboxName,
        _special_use: Option<SpecialUse>,
    ) -> Result<MailboxInfo> {
        Err(not_yet("create_mailbox"))
    }

    async fn rename_mailbox(
        &self,
        _user: UserId,
        _from: &MailboxName,
        _to: &MailboxName,
    ) -> Result<()> {
        Err(not_yet("rename_mailbox"))
    }

    async fn delete_mailbox(&self, _user: UserId, _name: &MailboxName) -> Result<()> {
        Err(not_yet("delete_mailbox"))
    }

    async fn mailbox_status(
        &self,
        _user: UserId,
        _name: &MailboxName,
    ) -> Result<Option<MailboxStatus>> {
        Err(not_yet("mailbox_status"))
    }

    async fn subscribe(&self, _user: UserId, _name: &MailboxName) -> Result<()> {
        Err(not_yet("subscribe"))
    }

    async fn unsubscribe(&self, _user: UserId, _name: &MailboxName) -> Result<()> {
        Err(not_yet("unsubscribe"))
    }

    async fn subscriptions(&self, _user: UserId) -> Result<Vec<MailboxName>> {
        Err(not_yet("subscriptions"))
    }

    async fn messages(&self, _mailbox: MailboxId) -> Result<Vec<MessageMeta>> {
        Err(not_yet("messages"))
    }

    async fn messages_in(&self, _mailbox: MailboxId, _uids: &UidSet) -> Result<Vec<MessageMeta>> {
        Err(not_yet("messages_in"))
    }

    async fn messages_with_cache(
        &self,
        _mailbox: MailboxId,
    ) -> Result<Vec<(MessageMeta, Option<Vec<u8>>)>> {
        Err(not_yet("messages_with_cache"))
    }

    async fn cache_bodies(&self, _entries: &[(BlobId, Vec<u8>)]) -> Result<()> {
        Err(not_yet("cache_bodies"))
    }

    async fn store_flags(
        &self,
        _mailbox: MailboxId,
        _uids: &UidSet,
        _change: &FlagChange,
    ) -> Result<FlagsOutcome> {
        Err(not_yet("store_flags"))
    }

    async fn add_flags(&self, _mailbox: MailboxId, _uids: &[Uid], _flags: Flags) -> Result<()> {
        Err(not_yet("add_flags"))
    }

    async fn copy_messages(
        &self,
        _from: MailboxId,
        _uids: &UidSet,
        _to: MailboxId,
    ) -> Result<CopyOutcome> {
        Err(not_yet("copy_messages"))
    }

    async fn move_messages(
        &self,
        _from: MailboxId,
        _uids: &UidSet,
        _to: MailboxId,
    ) -> Result<CopyOutcome> {
        Err(not_yet("move_messages"))
    }

    async fn expunge(&self, _mailbox: MailboxId, _uids: &[Uid]) -> Result<()> {
        Err(not_yet("expunge"))
    }

    async fn expunge_deleted(
        &self,
        _mailbox: MailboxId,
        _uids: Option<&UidSet>,
    ) -> Result<Expunged> {
        Err(not_yet("expunge_deleted"))
    }

    async fn changes_since(
        &self,
        _mailbox: MailboxId,
        _since: u64,
        _uids: Option<&UidSet>,
    ) -> Result<Changes> {
        Err(not_yet("changes_since"))
    }

    async fn on_change(
        &self,
        _user: UserId,
        _callback: Box<dyn Fn() + Send + Sync>,
    ) -> Result<ChangeSubscription> {
        Err(not_yet("on_change"))
    }
}

/// Files `blob` into `targets` and queues it for `outbound`, inside the caller's
/// transaction (what `submit` does in its own; the queue's reports use it too). Notifies
/// the users whose mail changed when the transaction commits.
pub(super) async fn submit_in(
    _tx: &tokio_postgres::Transaction<'_>,
    _blob: SealedBlob,
    _targets: &[DeliveryTarget],
    _outbound: Option<&Outbound>,
) -> Result<Submitted> {
    Err(not_yet("submit_in"))
}
