//! hermod's storage: accounts, domains, aliases, IMAP-shaped mailboxes and message bodies.
//!
//! The rest of the server talks to the [`Store`] trait only; nothing outside this crate knows
//! that the embedded backend is SQLite holding small bodies plus one file per large body. The trait assumes
//! nothing about being the only process using the data: the CLI runs management commands
//! against the same store while the server runs, and a shared-database backend can follow.
//! IMAP's mail model (change log, CONDSTORE/QRESYNC, hierarchy, change notifications) is the
//! [`MailStore`] trait beside it.

mod backup;
mod blob;
mod bulk;
mod coordination;
mod embedded;
mod error;
mod list_model;
mod mail;
mod mail_model;
mod model;
mod notify;
mod postgres;
pub mod roles;
mod secrets;
mod sqlite;

pub use backup::{BackupReport, Contents, RestoreReport, backup, check as check_backup, restore};
pub use blob::{BlobWriter, INLINE_MAX, SealedBlob};
pub use coordination::{COUNTER_BUCKETS, MemoryCoordination, bucket_of};
pub use embedded::EmbeddedStore;
pub use error::StoreError;
pub use list_model::{
    Confirmed, ListMember, ListMode, ListPost, ListRecord, ListSettings, MemberState, TokenAction,
};
pub use mail::MailStore;
pub use mail_model::{
    Changes, CopyOutcome, Expunged, FlagChange, FlagOp, FlagsOutcome, MailboxStatus, MessageState,
    UidSet, is_valid_keyword,
};
pub use model::{
    AddressLookup, AliasKey, AppPassword, BayesCounts, BlobId, BulkCount, BulkScope, BulkSighting,
    CORRESPONDENT_REFRESH_SECS, DEFAULT_MAILBOXES, Delivered, DeliveryTarget, DkimKeyRecord, Flags,
    GreylistState, LearnedMessage, MAX_CORRESPONDENTS, MailboxId, MailboxInfo, MessageMeta,
    Outbound, OutboundRecipient, QueueEntry, QueueUpdate, QueuedMessage, QueuedRecipient,
    RecipientOutcome, RecipientState, Report, SieveScriptInfo, SpecialUse, Submitted, UserId,
    UserRecord,
};
pub use notify::{ChangeSubscription, ChangeWatch};
pub use postgres::{
    INCOMPLETE as POSTGRES_INCOMPLETE, MigrationReport, PostgresOptions, PostgresStore,
    migrate_embedded,
};
pub use roles::{
    Accounts, BodyStream, Coordination, Directory, Lists, Mail, Queue, Scripts, SpamData, Store,
};
pub use sqlite::SqliteStore;

use hermod_types::{Address, Domain, MailboxName, Uid};
use std::io::Read;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The embedded backend's blocking interface: what management commands and the backend's
/// own tests use, and what the async roles (see [`roles`]) run on blocking threads. Methods
/// block (they do disk I/O). Every method is safe to call concurrently from many threads and while
/// other processes use the same store.
pub trait BlockingStore: Send + Sync + 'static {
    fn add_domain(&self, domain: &Domain) -> Result<()>;
    /// Refuses while users or aliases of the domain exist, so no mail is orphaned by accident.
    fn remove_domain(&self, domain: &Domain) -> Result<()>;
    fn domains(&self) -> Result<Vec<String>>;
    fn is_local_domain(&self, domain: &Domain) -> Result<bool>;

    /// Creates the user and its default mailboxes (INBOX, Sent, Drafts, Trash, Junk).
    fn add_user(
        &self,
        address: &Address,
        password_hash: &str,
        quota: Option<u64>,
    ) -> Result<UserId>;
    fn set_password(&self, address: &Address, password_hash: &str) -> Result<()>;
    /// Removes the user with all its mailboxes and messages.
    fn remove_user(&self, address: &Address) -> Result<()>;
    fn users(&self) -> Result<Vec<UserRecord>>;
    fn user(&self, address: &Address) -> Result<Option<UserRecord>>;
    /// The oldest account of a domain: where `postmaster@` goes when nothing else says.
    fn first_user(&self, domain: Option<&Domain>) -> Result<Option<UserRecord>>;

    fn add_alias(&self, alias: &AliasKey, targets: &[Address]) -> Result<()>;
    fn remove_alias(&self, alias: &AliasKey) -> Result<()>;
    /// Every alias with its targets, sorted by alias.
    fn aliases(&self) -> Result<Vec<(String, Vec<String>)>>;
    fn alias_targets(&self, alias: &AliasKey) -> Result<Vec<Address>>;
    /// Everything routing needs to know of one address, in one read.
    fn lookup_address(&self, address: &Address) -> Result<AddressLookup>;

    /// A writer for a new message body; [`BlobWriter::seal`] makes it durable. Unlike the
    /// other methods this does no I/O (a body starts in memory), so async code may call it.
    fn blob_writer(&self) -> Result<BlobWriter>;
    /// Files one sealed body into every target mailbox, atomically: all targets get it or none
    /// does. Returns only after the body and the index are on stable storage. Concurrent calls
    /// share one index commit (group commit).
    fn deliver(&self, blob: SealedBlob, targets: &[DeliveryTarget]) -> Result<Vec<Delivered>> {
        Ok(self.submit(blob, targets, None)?.delivered)
    }
    /// Like [`Store::deliver`], and in the same transaction hands the body to the outbound
    /// queue for `outbound`'s recipients: the message is kept for every recipient or none.
    fn submit(
        &self,
        blob: SealedBlob,
        targets: &[DeliveryTarget],
        outbound: Option<&Outbound>,
    ) -> Result<Submitted>;
    /// The outbound queue, oldest first.
    fn queue(&self) -> Result<Vec<QueueEntry>>;
    /// Claims due entries for `owner` until `now + lease` (see [`Queue::queue_claim`]).
    fn queue_claim(
        &self,
        owner: &str,
        now: i64,
        lease: i64,
        limit: usize,
    ) -> Result<Vec<QueuedMessage>>;
    /// Extends `owner`'s claims on `ids` to `until`; returns the ids still held.
    fn queue_renew(&self, owner: &str, ids: &[i64], until: i64) -> Result<Vec<i64>>;
    fn queue_release(&self, owner: &str, id: i64) -> Result<()>;
    /// One queue entry with all its unfinished recipients.
    fn queued(&self, id: i64) -> Result<Option<QueuedMessage>>;
    /// Records delivery attempts for recipients of entry `id` while `owner` holds it.
    fn queue_record(&self, owner: &str, id: i64, results: &[(String, QueueUpdate)])
    -> Result<bool>;
    /// Every recipient of entry `id` with its state and last reply.
    fn queue_outcomes(&self, id: i64) -> Result<Vec<RecipientOutcome>>;
    /// Removes entry `id` (its body goes when nothing else references it).
    fn queue_remove(&self, id: i64) -> Result<bool>;
    /// Removes entry `id` and queues `bounce` in the same commit.
    fn queue_finish(&self, id: i64, bounce: Option<Report>) -> Result<()>;
    /// Queues `notice` and marks entry `id`'s delay as told, in one commit.
    fn queue_delay_notice(&self, id: i64, notice: Report) -> Result<()>;
    /// Makes waiting recipients due at `now` (of entry `id`, or all).
    fn queue_retry_now(&self, id: Option<i64>, now: i64) -> Result<usize>;
    /// Lets held entry `id` go to the relay, due at `now`; false when it is not held.
    fn queue_release_held(&self, id: i64, now: i64) -> Result<bool>;
    /// Lets an account send bulk (`true`) or puts it under the bulk guard.
    fn set_bulk_allowed(&self, address: &Address, allowed: bool) -> Result<()>;
    /// Freezes an account's submission with a reason, or unfreezes it (`None`); true when
    /// its state changed.
    fn set_frozen(&self, address: &Address, reason: Option<&str>) -> Result<bool>;
    /// Sets the user's own Junk threshold (`None`: the server's).
    fn set_junk_threshold(&self, address: &Address, threshold: Option<f64>) -> Result<()>;
    /// Adds (or replaces) a DKIM key of a local domain.
    fn set_dkim_key(&self, domain: &Domain, key: &DkimKeyRecord) -> Result<()>;
    /// Adds `keys` all or none; false (nothing written) when a selector is taken.
    fn add_dkim_keys(&self, domain: &Domain, keys: &[DkimKeyRecord]) -> Result<bool>;
    /// The DKIM keys of a domain, by selector.
    fn dkim_keys(&self, domain: &Domain) -> Result<Vec<DkimKeyRecord>>;
    /// Replaces the extra sender addresses a user may submit as.
    fn set_send_as(&self, address: &Address, patterns: &[String]) -> Result<()>;

    fn mailboxes(&self, user: UserId) -> Result<Vec<MailboxInfo>>;
    fn mailbox(&self, user: UserId, name: &MailboxName) -> Result<Option<MailboxInfo>>;
    fn create_mailbox(&self, user: UserId, name: &MailboxName) -> Result<MailboxInfo>;
    /// Messages of a mailbox in UID order.
    fn messages(&self, mailbox: MailboxId) -> Result<Vec<MessageMeta>>;
    fn open_blob(&self, blob: &BlobId) -> Result<Box<dyn Read + Send>>;
    /// Replaces the flags of the given messages; those that change take a new MODSEQ (see
    /// [`MailStore::store_flags`], which this is).
    fn set_flags(&self, mailbox: MailboxId, uids: &[Uid], flags: Flags) -> Result<()>;
    /// Removes the given messages at once; bodies no longer referenced are deleted. The UIDs
    /// stay in the change log as expunged (QRESYNC `VANISHED`).
    fn expunge(&self, mailbox: MailboxId, uids: &[Uid]) -> Result<()>;

    /// The Bayesian counts of `owner`'s model (`None`: the server-wide one).
    fn bayes_load(&self, owner: Option<UserId>) -> Result<BayesCounts>;
    /// Adds learned counts to a model in one transaction; negative numbers unlearn. `seen`
    /// records which messages the update learned (replacing what was recorded for them).
    fn bayes_learn(
        &self,
        owner: Option<UserId>,
        update: &BayesCounts,
        seen: &[LearnedMessage],
    ) -> Result<()>;
    /// For each digest, whether `owner`'s model learned that message as spam (`Some(true)`),
    /// as ham (`Some(false)`), or not at all.
    fn bayes_seen(&self, owner: Option<UserId>, digests: &[Vec<u8>]) -> Result<Vec<Option<bool>>>;
    /// A number that changes whenever any model does: a cheap test for reloading.
    fn bayes_generation(&self) -> Result<i64>;
    /// The server-wide model's calibration (see [`SpamData::bayes_calibration`]).
    fn bayes_calibration(&self) -> Result<Option<String>>;
    /// Replaces it (see [`SpamData::bayes_set_calibration`]).
    fn bayes_set_calibration(&self, params: &str) -> Result<()>;
    /// Records a delivery attempt of a greylisting triplet `key` at `now`; it passes once
    /// `delay` seconds have gone by since its first attempt.
    fn greylist(&self, key: &str, now: i64, delay: i64) -> Result<GreylistState>;
    /// Records a message's content fingerprint and counts what earlier copies reached (see
    /// [`SpamData::bulk_observe`]).
    fn bulk_observe(&self, sighting: &BulkSighting) -> Result<BulkCount>;
    /// Records whom `user` sent mail to (see [`SpamData::correspondents_note`]).
    fn correspondents_note(&self, user: UserId, addresses: &[String], now: i64) -> Result<()>;
    /// Which of `users` wrote to `address` (see [`SpamData::correspondents_of`]).
    fn correspondents_of(&self, address: &str, users: &[UserId]) -> Result<Vec<UserId>>;
    /// Some of `user`'s correspondents (see [`SpamData::correspondents_list`]).
    fn correspondents_list(&self, user: UserId, limit: usize) -> Result<(u64, Vec<(String, i64)>)>;
    /// Forgets some of `user`'s correspondents (see [`SpamData::correspondents_forget`]).
    fn correspondents_forget(&self, user: UserId, addresses: &[String]) -> Result<()>;
}
