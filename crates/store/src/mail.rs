//! The IMAP mail model (RFC 9051, with RFC 7162 CONDSTORE/QRESYNC and RFC 4315 UIDPLUS):
//! what an IMAP session needs from the store beyond the [`crate::Store`] basics.
//!
//! Per mailbox the store keeps UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ and a change log ordered by
//! MODSEQ in which appends, flag changes and expunges are rows. Every change to a mailbox
//! takes a new MODSEQ (per mailbox, strictly increasing; all messages changed by one call
//! share it), whoever makes it: IMAP, POP3, a delivery, the CLI in another process.
//! Expunged UIDs stay answerable, for `VANISHED (EARLIER)`.
//!
//! Mailbox names are hierarchical with `/` as separator; `INBOX` (and the `INBOX/` prefix of
//! its children) is case-insensitive. Parents are real, selectable mailboxes: creating
//! `a/b/c` creates `a` and `a/b` when missing, so there are no `\Noselect` placeholders.
//! Hence deleting a mailbox that has children is refused
//! ([`crate::StoreError::MailboxHasChildren`], IMAP's `[HASCHILDREN]`) instead of turning it
//! into a `\Noselect` shell: RFC 9051 6.3.5 lets a server refuse, and a mailbox that silently
//! loses its messages but stays listed surprises users more than "delete the children first".
//!
//! Message operations take a [`MailboxId`] the caller got from its own user's lookups; the
//! store checks ownership only where two mailboxes meet (COPY/MOVE stay within one user).
//! IMAP APPEND goes through [`crate::Store::deliver`] (its `Delivered` has the UID; the
//! mailbox's UIDVALIDITY comes from [`MailStore::mailbox_get`]); note that a delivery makes
//! a missing mailbox, so APPEND checks existence first (`[TRYCREATE]`).
//!
//! Methods block (disk I/O); async callers run them on a blocking thread. The trait is
//! dyn-compatible so a session can hold `Arc<dyn MailStore>`.

use crate::{
    BlobId, ChangeSubscription, ChangeWatch, Changes, CopyOutcome, Expunged, FlagChange,
    FlagsOutcome, MailboxId, MailboxInfo, MailboxStatus, MessageMeta, Result, SpecialUse, UidSet,
    UserId,
};
use hermod_types::MailboxName;

pub trait MailStore: Send + Sync {
    /// Every mailbox of `user`, sorted by name (parents before their children).
    fn mailbox_list(&self, user: UserId) -> Result<Vec<MailboxInfo>>;
    /// One mailbox by name (`INBOX` in any case).
    fn mailbox_get(&self, user: UserId, name: &MailboxName) -> Result<Option<MailboxInfo>>;
    /// Creates a mailbox with a fresh UIDVALIDITY, and its missing parents (plain ones).
    /// `special_use` is RFC 6154 CREATE-SPECIAL-USE. Fails with `MailboxExists`.
    fn mailbox_create(
        &self,
        user: UserId,
        name: &MailboxName,
        special_use: Option<SpecialUse>,
    ) -> Result<MailboxInfo>;
    /// Renames a mailbox with its children (and their subscriptions), creating missing
    /// parents of the new name; UIDVALIDITY and messages stay. Renaming `INBOX` moves its
    /// messages into a new mailbox of the new name and leaves an empty `INBOX` (RFC 9051
    /// 6.3.6); INBOX's children stay where they are.
    fn mailbox_rename(&self, user: UserId, from: &MailboxName, to: &MailboxName) -> Result<()>;
    /// Deletes a mailbox and its messages. Refuses `INBOX` and mailboxes with children.
    /// Subscriptions to the name stay (RFC 9051 6.3.7).
    fn mailbox_delete(&self, user: UserId, name: &MailboxName) -> Result<()>;
    /// STATUS in one query: counts, size, UIDNEXT, UIDVALIDITY, HIGHESTMODSEQ.
    fn mailbox_status(&self, user: UserId, name: &MailboxName) -> Result<Option<MailboxStatus>>;
    /// The user's mailbox with this special use (the oldest if several have it).
    fn mailbox_by_special_use(&self, user: UserId, use_: SpecialUse)
    -> Result<Option<MailboxInfo>>;
    /// Sets or clears a mailbox's special-use attribute (one per mailbox).
    fn set_special_use(
        &self,
        user: UserId,
        name: &MailboxName,
        use_: Option<SpecialUse>,
    ) -> Result<()>;

    /// Adds a name to the user's subscriptions; it need not exist (RFC 9051 6.3.7).
    fn subscribe_mailbox(&self, user: UserId, name: &MailboxName) -> Result<()>;
    /// Removes a name from the subscriptions; removing one not there is not an error.
    fn unsubscribe_mailbox(&self, user: UserId, name: &MailboxName) -> Result<()>;
    /// The subscribed names, sorted.
    fn subscriptions(&self, user: UserId) -> Result<Vec<MailboxName>>;

    /// The messages of a mailbox whose UIDs are in `uids`, in UID order (a range read, not
    /// the whole mailbox).
    fn messages_in(&self, mailbox: MailboxId, uids: &UidSet) -> Result<Vec<MessageMeta>>;
    /// The messages of a mailbox in UID order, each with what [`MailStore::cache_bodies`]
    /// keeps for its body (the IMAP server's sort and thread keys), if anything.
    fn messages_with_cache(
        &self,
        mailbox: MailboxId,
    ) -> Result<Vec<(MessageMeta, Option<Vec<u8>>)>>;
    /// Keeps data the server derived from stored bodies, one entry per body (replacing an
    /// older one), until the body is removed. Bodies already gone are skipped.
    fn cache_bodies(&self, entries: &[(BlobId, Vec<u8>)]) -> Result<()>;
    /// STORE: changes flags and keywords of the messages in `uids`, atomically, with the
    /// optional UNCHANGEDSINCE guard. Fails with `BadKeyword` for a keyword that is not an
    /// atom, changing nothing.
    fn store_flags(
        &self,
        mailbox: MailboxId,
        uids: &UidSet,
        change: &FlagChange,
    ) -> Result<FlagsOutcome>;
    /// COPY into another mailbox of the same user, keeping flags, internal date and the one
    /// stored body. Counts against the quota (all or nothing: `OverQuota`).
    fn copy_messages(&self, from: MailboxId, uids: &UidSet, to: MailboxId) -> Result<CopyOutcome>;
    /// MOVE: copy and expunge in one transaction (no quota check: usage does not grow).
    fn move_messages(&self, from: MailboxId, uids: &UidSet, to: MailboxId) -> Result<CopyOutcome>;
    /// EXPUNGE (`uids: None`) or UID EXPUNGE: removes the messages flagged `\Deleted`, in one
    /// transaction, so a flag cleared meanwhile by another session is respected.
    fn expunge_deleted(&self, mailbox: MailboxId, uids: Option<&UidSet>) -> Result<Expunged>;
    /// What changed since MODSEQ `since`: messages with a greater MODSEQ and the UIDs
    /// expunged since, optionally only within `uids`. One consistent snapshot.
    fn changes_since(
        &self,
        mailbox: MailboxId,
        since: u64,
        uids: Option<&UidSet>,
    ) -> Result<Changes>;

    /// Calls `callback` whenever a mailbox of `user` changes (messages, flags, mailboxes),
    /// whoever commits the change: this process or another one on the same data. Spurious
    /// calls are possible, lost ones are not: a change committed after this returns leads to
    /// a call. The callback runs on a store thread and must return quickly (e.g. wake a
    /// `tokio::sync::Notify`). Dropping the subscription unregisters it.
    fn on_change(
        &self,
        user: UserId,
        callback: Box<dyn Fn() + Send + Sync>,
    ) -> Result<ChangeSubscription>;
    /// A blocking wait for changes of `user`'s mail, for threads.
    fn watch(&self, user: UserId) -> Result<ChangeWatch> {
        ChangeWatch::new(|callback| self.on_change(user, callback))
    }
}
