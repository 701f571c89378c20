//! The store as the server sees it: a few roles, each small enough to read at a glance, all
//! `async`. A backend hides its own blocking behind them: the embedded one runs SQLite and
//! file I/O on blocking threads (and hands deliveries straight to its group-commit thread), a
//! database backend awaits its client. Callers never spawn blocking work for the store.
//!
//! [`Store`] is every role at once, for code that holds the whole store (`Arc<dyn Store>`);
//! a function that needs one role takes that role (`&dyn Directory`), and a `&dyn Store`
//! turns into any of them.

use crate::{
    AddressLookup, AliasKey, AppPassword, BayesCounts, BlobId, BlobWriter, BulkCount, BulkSighting,
    ChangeSubscription, Changes, CopyOutcome, DeliveryTarget, DkimKeyRecord, Expunged, FlagChange,
    Flags, FlagsOutcome, GreylistState, LearnedMessage, MailboxId, MailboxInfo, MailboxStatus,
    MessageMeta, Outbound, QueueEntry, QueueUpdate, QueuedMessage, RecipientOutcome, Report,
    Result, SealedBlob, SieveScriptInfo, SpecialUse, Submitted, UidSet, UserId, UserRecord,
};
use crate::{Confirmed, ListMember, ListPost, ListRecord, ListSettings, MemberState, TokenAction};
use async_trait::async_trait;
use hermod_types::{Address, Domain, MailboxName, Uid};

/// Domains, accounts, aliases, who may send as whom, DKIM keys.
#[async_trait]
pub trait Directory: Send + Sync {
    async fn add_domain(&self, domain: &Domain) -> Result<()>;
    /// Refuses while users or aliases of the domain exist, so no mail is orphaned by accident.
    async fn remove_domain(&self, domain: &Domain) -> Result<()>;
    async fn domains(&self) -> Result<Vec<String>>;
    async fn is_local_domain(&self, domain: &Domain) -> Result<bool>;

    /// Creates the user and its default mailboxes (INBOX, Sent, Drafts, Trash, Junk).
    async fn add_user(
        &self,
        address: &Address,
        password_hash: &str,
        quota: Option<u64>,
    ) -> Result<UserId>;
    async fn set_password(&self, address: &Address, password_hash: &str) -> Result<()>;
    /// Removes the user with all its mailboxes and messages.
    async fn remove_user(&self, address: &Address) -> Result<()>;
    async fn users(&self) -> Result<Vec<UserRecord>>;
    async fn user(&self, address: &Address) -> Result<Option<UserRecord>>;
    /// The oldest account of a domain (or of all): where `postmaster@` goes by default.
    async fn first_user(&self, domain: Option<&Domain>) -> Result<Option<UserRecord>>;
    /// Replaces the extra sender addresses a user may submit as.
    async fn set_send_as(&self, address: &Address, patterns: &[String]) -> Result<()>;
    /// Lets an account send bulk (`true`: a newsletter sender) or puts it under the bulk
    /// guard (the default).
    async fn set_bulk_allowed(&self, address: &Address, allowed: bool) -> Result<()>;
    /// Freezes an account's submission with a reason, or unfreezes it (`None`). True when
    /// that changed its state: of two sessions freezing at once, one learns it was first.
    async fn set_frozen(&self, address: &Address, reason: Option<&str>) -> Result<bool>;
    /// Sets the user's own Junk threshold (`None`: the server's).
    async fn set_junk_threshold(&self, address: &Address, threshold: Option<f64>) -> Result<()>;

    async fn add_alias(&self, alias: &AliasKey, targets: &[Address]) -> Result<()>;
    async fn remove_alias(&self, alias: &AliasKey) -> Result<()>;
    /// Every alias with its targets, sorted by alias.
    async fn aliases(&self) -> Result<Vec<(String, Vec<String>)>>;
    async fn alias_targets(&self, alias: &AliasKey) -> Result<Vec<Address>>;
    /// Everything routing needs to know of one address (is its domain ours, the account, an
    /// alias, the domain's catch-all), in one trip. When an account has the address, the
    /// alias and catch-all targets may be left empty (routing never looks past the account).
    async fn lookup_address(&self, address: &Address) -> Result<AddressLookup>;

    /// Adds (or replaces) a DKIM key of a local domain.
    async fn set_dkim_key(&self, domain: &Domain, key: &DkimKeyRecord) -> Result<()>;
    /// Adds `keys` to a local domain in one commit, all or none: false, and nothing written,
    /// when one of their selectors is taken already (another rotation got there first).
    async fn add_dkim_keys(&self, domain: &Domain, keys: &[DkimKeyRecord]) -> Result<bool>;
    async fn dkim_keys(&self, domain: &Domain) -> Result<Vec<DkimKeyRecord>>;
}

/// Message bodies, mailboxes and messages: delivery, POP3's view and IMAP's model
/// (RFC 9051, RFC 7162).
#[async_trait]
pub trait Mail: Send + Sync {
    /// A writer for a new message body; sealing it makes it durable. No I/O happens here
    /// (a body starts in memory).
    fn blob_writer(&self) -> Result<BlobWriter>;
    /// Files one sealed body into every target mailbox and, in the same commit, hands it to
    /// the outbound queue for `outbound`'s recipients: kept for every recipient or none.
    /// Returns once body and index are on stable storage; concurrent calls share a commit.
    async fn submit(
        &self,
        blob: SealedBlob,
        targets: &[DeliveryTarget],
        outbound: Option<&Outbound>,
    ) -> Result<Submitted>;
    /// Files several sealed bodies, each into its own targets, in one commit: every one is
    /// kept or none is (IMAP's MULTIAPPEND; a delivery whose Sieve scripts edited some
    /// copies). `outbound`'s recipients are queued with the first body in the same commit.
    /// `delivered` follows the order given.
    async fn submit_all(
        &self,
        messages: Vec<(SealedBlob, Vec<DeliveryTarget>)>,
        outbound: Option<&Outbound>,
    ) -> Result<Submitted>;
    /// The whole stored body (or its first `limit` bytes).
    async fn read_blob(&self, blob: &BlobId, limit: Option<u64>) -> Result<Vec<u8>>;
    /// Several whole bodies of known sizes in one trip (POP3's read-ahead), in order; stops
    /// before the first that cannot be read whole at its size.
    async fn read_blobs(&self, wanted: &[(BlobId, u64)]) -> Result<Vec<Vec<u8>>>;
    /// A stored body to stream in pieces (a large message never sits in memory whole).
    async fn open_blob(&self, blob: &BlobId) -> Result<Box<dyn BodyStream>>;

    /// Every mailbox of `user`, sorted by name, INBOX first (parents before their children:
    /// what LIST shows).
    async fn mailboxes(&self, user: UserId) -> Result<Vec<MailboxInfo>>;
    async fn mailbox(&self, user: UserId, name: &MailboxName) -> Result<Option<MailboxInfo>>;
    async fn mailbox_by_special_use(
        &self,
        user: UserId,
        use_: SpecialUse,
    ) -> Result<Option<MailboxInfo>>;
    /// Creates the mailbox (and missing parents) with a fresh UIDVALIDITY.
    async fn create_mailbox(
        &self,
        user: UserId,
        name: &MailboxName,
        special_use: Option<SpecialUse>,
    ) -> Result<MailboxInfo>;
    /// Renames a mailbox with its children (INBOX: its messages move, INBOX stays).
    async fn rename_mailbox(
        &self,
        user: UserId,
        from: &MailboxName,
        to: &MailboxName,
    ) -> Result<()>;
    /// Refuses INBOX and mailboxes with children.
    async fn delete_mailbox(&self, user: UserId, name: &MailboxName) -> Result<()>;
    /// Counts without loading the mailbox (STATUS).
    async fn mailbox_status(
        &self,
        user: UserId,
        name: &MailboxName,
    ) -> Result<Option<MailboxStatus>>;
    async fn subscribe(&self, user: UserId, name: &MailboxName) -> Result<()>;
    async fn unsubscribe(&self, user: UserId, name: &MailboxName) -> Result<()>;
    async fn subscriptions(&self, user: UserId) -> Result<Vec<MailboxName>>;

    /// Messages of a mailbox in UID order.
    async fn messages(&self, mailbox: MailboxId) -> Result<Vec<MessageMeta>>;
    async fn messages_in(&self, mailbox: MailboxId, uids: &UidSet) -> Result<Vec<MessageMeta>>;
    /// Messages of a mailbox in UID order, each with what the server cached for its body
    /// ([`Mail::cache_bodies`]), in one trip: SORT and THREAD read their keys from here.
    async fn messages_with_cache(
        &self,
        mailbox: MailboxId,
    ) -> Result<Vec<(MessageMeta, Option<Vec<u8>>)>>;
    /// Keeps what the server derived from stored bodies (opaque to the store), one entry
    /// per body, replacing an older one, until the body goes. Bodies already gone are skipped.
    async fn cache_bodies(&self, entries: &[(BlobId, Vec<u8>)]) -> Result<()>;
    /// Adds, removes or replaces flags and keywords, with an optional UNCHANGEDSINCE guard.
    async fn store_flags(
        &self,
        mailbox: MailboxId,
        uids: &UidSet,
        change: &FlagChange,
    ) -> Result<FlagsOutcome>;
    /// Sets `flags` on the given messages (POP3's QUIT marks retrieved mail seen).
    async fn add_flags(&self, mailbox: MailboxId, uids: &[Uid], flags: Flags) -> Result<()>;
    /// Copies keep one stored body; the mapping is for UIDPLUS.
    async fn copy_messages(
        &self,
        from: MailboxId,
        uids: &UidSet,
        to: MailboxId,
    ) -> Result<CopyOutcome>;
    async fn move_messages(
        &self,
        from: MailboxId,
        uids: &UidSet,
        to: MailboxId,
    ) -> Result<CopyOutcome>;
    /// Removes the given messages at once, whatever their flags (POP3's DELE at QUIT).
    async fn expunge(&self, mailbox: MailboxId, uids: &[Uid]) -> Result<()>;
    /// EXPUNGE / UID EXPUNGE: removes the `\Deleted` messages (of `uids`, if given).
    async fn expunge_deleted(&self, mailbox: MailboxId, uids: Option<&UidSet>) -> Result<Expunged>;
    /// What changed after MODSEQ `since`, expunges included (CONDSTORE/QRESYNC).
    async fn changes_since(
        &self,
        mailbox: MailboxId,
        since: u64,
        uids: Option<&UidSet>,
    ) -> Result<Changes>;
    /// Calls `callback` after any writer (this process or another) changes `user`'s mail.
    /// The callback runs on a store thread and must return at once (e.g. wake a task).
    async fn on_change(
        &self,
        user: UserId,
        callback: Box<dyn Fn() + Send + Sync>,
    ) -> Result<ChangeSubscription>;
}

/// A stored body read piece by piece.
#[async_trait]
pub trait BodyStream: Send {
    /// Up to `max` more bytes; empty at the end.
    async fn read_chunk(&mut self, max: usize) -> std::io::Result<Vec<u8>>;
}

/// The outbound queue. Entries are claimed with a lease, so two processes on one store
/// never deliver one entry at once, and a dead process's claims run out.
#[async_trait]
pub trait Queue: Send + Sync {
    /// The whole queue, oldest first.
    async fn queue(&self) -> Result<Vec<QueueEntry>>;
    /// Claims for `owner`, until `now + lease` seconds, up to `limit` entries that have
    /// recipients due at `now` and no live claim by anyone else.
    async fn queue_claim(
        &self,
        owner: &str,
        now: i64,
        lease: i64,
        limit: usize,
    ) -> Result<Vec<QueuedMessage>>;
    /// Extends `owner`'s claims on `ids` to `until` while it still delivers them; returns
    /// the ids it still held.
    async fn queue_renew(&self, owner: &str, ids: &[i64], until: i64) -> Result<Vec<i64>>;
    /// Gives up `owner`'s claim on entry `id` (done with it for now, or shutting down).
    async fn queue_release(&self, owner: &str, id: i64) -> Result<()>;
    /// One queue entry with its unfinished recipients.
    async fn queued(&self, id: i64) -> Result<Option<QueuedMessage>>;
    /// Records attempts for recipients of entry `id`, only while `owner` holds its claim
    /// (false: the claim was lost, nothing was recorded).
    async fn queue_record(
        &self,
        owner: &str,
        id: i64,
        results: &[(String, QueueUpdate)],
    ) -> Result<bool>;
    /// Every recipient of entry `id` with its state and last reply.
    async fn queue_outcomes(&self, id: i64) -> Result<Vec<RecipientOutcome>>;
    /// Removes entry `id` and, in the same commit, queues `bounce` (a report to its sender)
    /// if given: a crash can neither lose the report nor send it twice.
    async fn queue_finish(&self, id: i64, bounce: Option<Report>) -> Result<()>;
    /// Removes entry `id` (its body goes when nothing else references it).
    async fn queue_remove(&self, id: i64) -> Result<bool>;
    /// Queues `notice` (a delay report) and remembers, in the same commit, that entry `id`'s
    /// sender was told.
    async fn queue_delay_notice(&self, id: i64, notice: Report) -> Result<()>;
    /// Makes waiting recipients due at `now` (of entry `id`, or all). Held entries stay
    /// held.
    async fn queue_retry_now(&self, id: Option<i64>, now: i64) -> Result<usize>;
    /// Lets held entry `id` go to the relay, due at `now` (its queue time starts over);
    /// false when there is no such held entry.
    async fn queue_release_held(&self, id: i64, now: i64) -> Result<bool>;
}

/// What the spam defences keep: Bayesian counts, greylisting, and the content fingerprints
/// of recent mail (the outbound bulk guard and the inbound `BULK_DUPLICATE` rule).
#[async_trait]
pub trait SpamData: Send + Sync {
    /// The counts of `owner`'s model (`None`: the server-wide one).
    async fn bayes_load(&self, owner: Option<UserId>) -> Result<BayesCounts>;
    /// Adds learned counts in one transaction (negative numbers unlearn); `seen` records
    /// which messages the update learned. The counts were worked out from what the model
    /// had learned each message as (`LearnedMessage::before`); if that changed meanwhile
    /// (another process or node taught the same message), nothing is written and the answer
    /// is `StoreError::LessonRaced`: read again ([`SpamData::bayes_seen`]) and retry, so
    /// no message is ever counted twice.
    async fn bayes_learn(
        &self,
        owner: Option<UserId>,
        update: &BayesCounts,
        seen: &[LearnedMessage],
    ) -> Result<()>;
    /// Per digest: learned as spam, as ham, or not at all.
    async fn bayes_seen(
        &self,
        owner: Option<UserId>,
        digests: &[Vec<u8>],
    ) -> Result<Vec<Option<bool>>>;
    /// Changes whenever any model does: a cheap test for reloading.
    async fn bayes_generation(&self) -> Result<i64>;
    /// The verdict's parameters fitted for the server-wide model by `hermod spam train`
    /// (opaque here: `hermod_spam::Calibration`'s text form); `None` before any.
    async fn bayes_calibration(&self) -> Result<Option<String>>;
    /// Replaces them, and moves the generation so that servers load them.
    async fn bayes_set_calibration(&self, params: &str) -> Result<()>;
    /// Records an attempt of greylisting triplet `key` at `now`; it passes once `delay`
    /// seconds have gone by since its first attempt.
    async fn greylist(&self, key: &str, now: i64, delay: i64) -> Result<GreylistState>;
    /// Records a message's content fingerprint and recipients in its scope, and counts the
    /// earlier copies of that content in the window (messages since `sighting.since` whose
    /// signatures agree in `min_equal` numbers) and the distinct recipients they reached,
    /// without and with this one. One transaction: two copies submitted at once both count.
    /// Messages of the scope older than the window are forgotten.
    async fn bulk_observe(&self, sighting: &BulkSighting) -> Result<BulkCount>;
    /// Remembers `addresses` (lowercase) as `user`'s known senders at `now`: people it sent
    /// mail to, or whose authenticated mail it took out of Junk. Mail whose authenticated
    /// author is one of them counts as from a known sender for that user. At most [`crate::MAX_CORRESPONDENTS`] per user, the longest unused forgotten.
    async fn correspondents_note(&self, user: UserId, addresses: &[String], now: i64)
    -> Result<()>;
    /// Which of `users` have sent mail to `address` (lowercase).
    async fn correspondents_of(&self, address: &str, users: &[UserId]) -> Result<Vec<UserId>>;
    /// How many known senders `user` has, and the `limit` most recently used with when
    /// (Unix seconds), newest first: for the account's spam page.
    async fn correspondents_list(
        &self,
        user: UserId,
        limit: usize,
    ) -> Result<(u64, Vec<(String, i64)>)>;
    /// Forgets `addresses` as `user`'s correspondents (the user filed their mail as spam).
    async fn correspondents_forget(&self, user: UserId, addresses: &[String]) -> Result<()>;
}

/// Each user's Sieve scripts (RFC 5228; managed over ManageSieve, RFC 5804, and the CLI),
/// and what vacation replies and the `duplicate` test remember.
#[async_trait]
pub trait Scripts: Send + Sync {
    /// The user's scripts, sorted by name, the active one marked.
    async fn sieve_list(&self, user: UserId) -> Result<Vec<SieveScriptInfo>>;
    async fn sieve_get(&self, user: UserId, name: &str) -> Result<Option<Vec<u8>>>;
    /// Creates or replaces a script; an active script stays active with its new text.
    async fn sieve_put(&self, user: UserId, name: &str, content: &[u8]) -> Result<()>;
    async fn sieve_rename(&self, user: UserId, from: &str, to: &str) -> Result<()>;
    /// Refuses the active script (`ScriptActive`).
    async fn sieve_delete(&self, user: UserId, name: &str) -> Result<()>;
    /// Makes `name` the active script; `None` deactivates.
    async fn sieve_activate(&self, user: UserId, name: Option<&str>) -> Result<()>;
    /// A script's text by the id in [`UserRecord::sieve_script`] (gone: replaced meanwhile).
    async fn sieve_script(&self, id: i64) -> Result<Option<Vec<u8>>>;
    /// Whether `key` was recorded for `user` less than its expiry ago; records it for
    /// `expiry` seconds from `now` when not (and anew when `last`, RFC 7352 `:last`).
    async fn sieve_seen(
        &self,
        user: UserId,
        key: &str,
        now: i64,
        expiry: i64,
        last: bool,
    ) -> Result<bool>;
}

/// Mailing lists: the lists, their members (pending, active, suspended, with a bounce count),
/// moderators, posts held for moderation, and the tokens that confirm by mail. Addresses are
/// normalized (`Address::normalized`). A list's address and its `-request` address are never
/// a user's or an alias's (each side refuses the other with `AddressTaken`).
#[async_trait]
pub trait Lists: Send + Sync {
    async fn list_create(&self, address: &Address, settings: &ListSettings) -> Result<i64>;
    /// Removes the list with its members, moderators, held posts and tokens.
    async fn list_delete(&self, address: &str) -> Result<()>;
    async fn list(&self, address: &str) -> Result<Option<ListRecord>>;
    async fn list_by_id(&self, id: i64) -> Result<Option<ListRecord>>;
    /// Every list, sorted by address.
    async fn lists(&self) -> Result<Vec<ListRecord>>;
    /// Every member in every state, sorted by address.
    async fn list_members(&self, list: i64) -> Result<Vec<ListMember>>;
    async fn list_member(&self, list: i64, address: &str) -> Result<Option<ListMember>>;
    /// Adds the member or sets its state (its bounce count starts again); `Pending` never
    /// demotes an active member.
    async fn list_set_member(&self, list: i64, address: &str, state: MemberState) -> Result<()>;
    /// False: it was not a member.
    async fn list_remove_member(&self, list: i64, address: &str) -> Result<bool>;
    /// Counts a bounce of an active member and suspends it at `suspend_after` (noting when);
    /// the member as it is afterwards.
    async fn list_bounce(
        &self,
        list: i64,
        address: &str,
        suspend_after: u32,
    ) -> Result<Option<ListMember>>;
    /// Removes the members suspended (by `list_bounce`) before `before` (Unix seconds); their
    /// addresses, sorted.
    async fn list_remove_suspended(&self, list: i64, before: i64) -> Result<Vec<String>>;
    async fn list_moderators(&self, list: i64) -> Result<Vec<String>>;
    /// Adds the addresses as moderators (or removes them).
    async fn list_set_moderators(
        &self,
        list: i64,
        addresses: &[String],
        remove: bool,
    ) -> Result<()>;
    /// Keeps a post for the moderators; its id.
    async fn list_hold(
        &self,
        list: i64,
        sender: Option<&str>,
        subject: &str,
        content: &[u8],
    ) -> Result<i64>;
    /// The held posts, oldest first (`with_content` false: each `content` left empty).
    async fn list_held(&self, list: i64, with_content: bool) -> Result<Vec<ListPost>>;
    /// Removes a held post and returns it: only one decision takes it.
    async fn list_take_held(&self, list: i64, id: i64) -> Result<Option<ListPost>>;
    /// Keeps a distributed post (lists that archive); its id.
    async fn list_archive_post(
        &self,
        list: i64,
        sender: Option<&str>,
        subject: &str,
        content: &[u8],
    ) -> Result<i64>;
    /// The archived posts, oldest first.
    async fn list_posts(&self, list: i64) -> Result<Vec<ListPost>>;
    /// A new random confirmation token for `address`, valid until `expires`.
    async fn list_new_token(
        &self,
        list: i64,
        address: &str,
        action: TokenAction,
        expires: i64,
    ) -> Result<String>;
    /// Uses a token up: what it confirms, when it exists and had not expired at `at`.
    async fn list_take_token(&self, token: &str, at: i64) -> Result<Option<Confirmed>>;
}

/// What the nodes of one store agree on besides mail: short leases (the POP3 maildrop lock)
/// and counters over a sliding window (the login throttle). The embedded store keeps them in
/// memory, since one process owns it ([`crate::MemoryCoordination`]); PostgreSQL keeps them
/// in tables, so every node sees the same. Times are Unix seconds.
#[async_trait]
pub trait Coordination: Send + Sync {
    /// Takes lease `name` for `owner` until `until` when it is free, ran out before `now`,
    /// or is `owner`'s already (then it is extended); false when someone else holds it.
    async fn lease_take(&self, name: &str, owner: &str, now: i64, until: i64) -> Result<bool>;
    /// Gives lease `name` up if `owner` holds it.
    async fn lease_release(&self, name: &str, owner: &str) -> Result<()>;
    /// Until when lease `name` is held (by anyone), if it is at `now`.
    async fn lease_until(&self, name: &str, now: i64) -> Result<Option<i64>>;
    /// Adds `amount` to counter `key` at `now` and returns its total over the last `window`
    /// seconds (this addition included). Amounts older than the window are forgotten; they
    /// are kept in buckets of `window / 16` seconds, so the window's start is that coarse.
    async fn counter_add(&self, key: &str, amount: i64, now: i64, window: i64) -> Result<i64>;
    /// Forgets counter `key`.
    async fn counter_reset(&self, key: &str) -> Result<()>;
    /// Secret `name` (such as `srs.key`): the same bytes for every node of this store, made
    /// at random by whichever asks first (two asking at once get the same one). The embedded
    /// store keeps it as file `name` in its data directory.
    async fn shared_secret(&self, name: &str) -> Result<Vec<u8>>;
}

/// What the web interface adds to accounts: who is an administrator, and app passwords
/// (extra passwords for email programs, each named and revocable; the store keeps their
/// argon2 hashes only).
#[async_trait]
pub trait Accounts: Send + Sync {
    async fn set_admin(&self, address: &Address, admin: bool) -> Result<()>;
    /// False for an unknown address.
    async fn is_admin(&self, address: &Address) -> Result<bool>;
    /// The administrators' addresses, sorted.
    async fn admins(&self) -> Result<Vec<String>>;
    /// Adds an app password (`hash`: a PHC string) made at `created`; refuses a name the
    /// account already uses (`AppPasswordExists`).
    async fn add_app_password(
        &self,
        user: UserId,
        name: &str,
        hash: &str,
        created: i64,
    ) -> Result<i64>;
    /// The account's app passwords, sorted by name, without their hashes.
    async fn app_passwords(&self, user: UserId) -> Result<Vec<AppPassword>>;
    /// Removes app password `id` of `user` (never another account's); false when it has none
    /// such.
    async fn revoke_app_password(&self, user: UserId, id: i64) -> Result<bool>;
    /// The hashes a mail login checks besides the account's own password.
    async fn app_password_hashes(&self, user: UserId) -> Result<Vec<String>>;
    /// Changes an account's quota in bytes (`None`: unlimited); mail already stored stays.
    async fn set_quota(&self, address: &Address, quota: Option<u64>) -> Result<()>;
}

/// Every role: the whole store.
pub trait Store:
    Directory + Mail + Queue + SpamData + Scripts + Lists + Coordination + Accounts
{
}

impl<T: Directory + Mail + Queue + SpamData + Scripts + Lists + Coordination + Accounts> Store
    for T
{
}
