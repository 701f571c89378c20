//! The embedded backend: an SQLite index (WAL, synchronous=FULL) holding small bodies, beside
//! a folder of larger ones.

mod accounts;
mod bulk;
pub(crate) mod commit;
mod correspondents;
mod counters;
mod directory;
mod lists;
mod mail;
mod mailbox;
mod queue;
mod schema;
mod sieve;
mod spam;

use crate::blob::BlobDir;
use crate::notify::Notifier;
use crate::{
    BlobId, BlobWriter, DeliveryTarget, Flags, MailboxId, MailboxInfo, MessageMeta, Outbound,
    QueueEntry, Result, SealedBlob, StoreError, Submitted, UserId,
};
use commit::{Committer, Job};
use hermod_types::{MailboxName, Uid};
use rusqlite::{Connection, OptionalExtension};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// Read connections per store.
const READERS: usize = 4;

/// How old a leftover file must be before the start-up sweep removes it: far longer than any
/// delivery in flight in another process takes.
const SWEEP_MIN_AGE: std::time::Duration = std::time::Duration::from_secs(3600);

pub struct SqliteStore {
    /// Management writes. Deliveries go through the committer's own connection.
    conn: Mutex<Connection>,
    /// The bulk guard's counters, in a file of their own without an fsync per commit
    /// (`counters.rs`). A power cut can forget the last seconds of counting, which lets a
    /// few more copies pass; it can never lose or corrupt mail.
    counters: Mutex<Connection>,
    /// Reads: WAL lets them run beside the writers, so many sessions look up recipients and
    /// mailboxes at once instead of queueing on one connection.
    readers: Vec<Mutex<Connection>>,
    next_reader: std::sync::atomic::AtomicUsize,
    committer: Committer,
    blobs: BlobDir,
    data_dir: PathBuf,
    /// Change subscriptions (see `notify.rs`), fed by every write path and the poller.
    notifier: Arc<Notifier>,
    /// Whether the poller for other processes' commits runs (from the first subscription).
    watching: Mutex<bool>,
}

impl SqliteStore {
    /// Opens (creating if needed) the store in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<SqliteStore> {
        crate::blob::private_dir(data_dir)?;
        let blobs = BlobDir::open(data_dir)?;
        let db = data_dir.join("hermod.db");
        let mut conn = schema::open_connection(&db)?;
        // Password hashes live here; SQLite gives its -wal and -shm files the same mode.
        use std::os::unix::fs::PermissionsExt;
        let private = std::fs::Permissions::from_mode(0o600);
        std::fs::set_permissions(&db, private).map_err(StoreError::io(&db))?;
        schema::migrate(&mut conn)?;
        // Its writes (POP3 deletions, management) leave checkpoints to the checkpoint
        // thread instead of copying up to 16 MiB of WAL inline.
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        let counters = counters::open(data_dir)?;
        let notifier = Arc::new(Notifier::default());
        let committer = Committer::start(
            schema::open_connection(&db)?,
            vec![
                schema::open_connection(&db)?,
                counters::open_checkpoints(data_dir)?,
            ],
            notifier.clone(),
        )?;
        let readers = (0..READERS)
            .map(|_| schema::open_connection(&db).map(Mutex::new))
            .collect::<Result<_>>()?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
            counters: Mutex::new(counters),
            readers,
            next_reader: Default::default(),
            committer,
            blobs,
            data_dir: data_dir.into(),
            notifier,
            watching: Mutex::new(false),
        })
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Removes what a crash left behind (partial bodies, bodies whose commit never happened).
    /// Returns how many files went.
    pub fn sweep(&self) -> Result<usize> {
        let conn = self.lock();
        let mut stmt = conn.prepare("SELECT 1 FROM blobs WHERE id = ?1")?;
        let mut referenced = |id: &BlobId| -> Result<bool> { Ok(stmt.exists([id.as_str()])?) };
        self.blobs.sweep(SWEEP_MIN_AGE, &mut referenced)
    }

    /// A read connection: a free one if any, else the next in turn.
    pub(crate) fn read(&self) -> MutexGuard<'_, Connection> {
        for reader in &self.readers {
            if let Ok(guard) = reader.try_lock() {
                return guard;
            }
        }
        let n = self
            .next_reader
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.readers[n % self.readers.len()]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// The bulk guard's connection (to `bulk.db`, where its tables are).
    fn counters(&self) -> MutexGuard<'_, Connection> {
        self.counters.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A connection that reads `table`, whichever file holds it (copying a store).
    pub(crate) fn reader_of(&self, table: &str) -> MutexGuard<'_, Connection> {
        if counters::TABLES.contains(&table) {
            self.counters()
        } else {
            self.read()
        }
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves the connection usable: SQLite rolls back
        // an unfinished transaction when the next one begins.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` in one write transaction on the shared connection, then unlinks the bodies it
    /// released.
    fn write<T>(&self, f: impl FnOnce(&Connection) -> Result<(T, Vec<BlobId>)>) -> Result<T> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let (value, garbage) = f(&tx)?;
        tx.commit()?;
        drop(conn);
        for id in garbage {
            if std::fs::remove_file(self.blobs.path(&id)).is_err() {
                let _ = std::fs::remove_file(self.blobs.old_path(&id));
            }
        }
        self.committer.checkpoint_soon();
        Ok(value)
    }
}

/// Mailing lists (see [`crate::Lists`], whose methods these are, blocking).
impl SqliteStore {
    pub fn list_create(
        &self,
        address: &hermod_types::Address,
        settings: &crate::ListSettings,
    ) -> Result<i64> {
        self.write(|c| Ok((lists::create(c, address, settings)?, vec![])))
    }

    pub fn list_delete(&self, address: &str) -> Result<()> {
        self.write(|c| Ok((lists::delete(c, address)?, vec![])))
    }

    pub fn list(&self, address: &str) -> Result<Option<crate::ListRecord>> {
        lists::get(&self.read(), address)
    }

    pub fn list_by_id(&self, id: i64) -> Result<Option<crate::ListRecord>> {
        lists::by_id(&self.read(), id)
    }

    pub fn lists(&self) -> Result<Vec<crate::ListRecord>> {
        lists::all(&self.read())
    }

    pub fn list_members(&self, list: i64) -> Result<Vec<crate::ListMember>> {
        lists::members(&self.read(), list)
    }

    pub fn list_member(&self, list: i64, address: &str) -> Result<Option<crate::ListMember>> {
        lists::get_member(&self.read(), list, address)
    }

    pub fn list_set_member(
        &self,
        list: i64,
        address: &str,
        state: crate::MemberState,
    ) -> Result<()> {
        self.write(|c| Ok((lists::set_member(c, list, address, state)?, vec![])))
    }

    pub fn list_remove_member(&self, list: i64, address: &str) -> Result<bool> {
        self.write(|c| Ok((lists::remove_member(c, list, address)?, vec![])))
    }

    pub fn list_bounce(
        &self,
        list: i64,
        address: &str,
        suspend_after: u32,
    ) -> Result<Option<crate::ListMember>> {
        self.write(|c| Ok((lists::bounce(c, list, address, suspend_after)?, vec![])))
    }

    pub fn list_remove_suspended(&self, list: i64, before: i64) -> Result<Vec<String>> {
        self.write(|c| Ok((lists::remove_suspended(c, list, before)?, vec![])))
    }

    pub fn list_moderators(&self, list: i64) -> Result<Vec<String>> {
        lists::moderators(&self.read(), list)
    }

    pub fn list_set_moderators(&self, list: i64, addresses: &[String], remove: bool) -> Result<()> {
        self.write(|c| Ok((lists::set_moderators(c, list, addresses, remove)?, vec![])))
    }

    pub fn list_hold(
        &self,
        list: i64,
        sender: Option<&str>,
        subject: &str,
        content: &[u8],
    ) -> Result<i64> {
        self.write(|c| Ok((lists::hold(c, list, sender, subject, content)?, vec![])))
    }

    pub fn list_held(&self, list: i64, with_content: bool) -> Result<Vec<crate::ListPost>> {
        lists::held(&self.read(), list, with_content)
    }

    pub fn list_take_held(&self, list: i64, id: i64) -> Result<Option<crate::ListPost>> {
        self.write(|c| Ok((lists::take_held(c, list, id)?, vec![])))
    }

    pub fn list_archive_post(
        &self,
        list: i64,
        sender: Option<&str>,
        subject: &str,
        content: &[u8],
    ) -> Result<i64> {
        self.write(|c| {
            Ok((
                lists::archive_post(c, list, sender, subject, content)?,
                vec![],
            ))
        })
    }

    pub fn list_posts(&self, list: i64) -> Result<Vec<crate::ListPost>> {
        lists::posts(&self.read(), list)
    }

    pub fn list_new_token(
        &self,
        list: i64,
        address: &str,
        action: crate::TokenAction,
        expires: i64,
    ) -> Result<String> {
        self.write(|c| Ok((lists::new_token(c, list, address, action, expires)?, vec![])))
    }

    pub fn list_take_token(&self, token: &str, at: i64) -> Result<Option<crate::Confirmed>> {
        self.write(|c| Ok((lists::take_token(c, token, at)?, vec![])))
    }
}

/// Sieve scripts (see [`crate::Scripts`], whose methods these are, blocking).
impl SqliteStore {
    pub fn sieve_list(&self, user: UserId) -> Result<Vec<crate::SieveScriptInfo>> {
        sieve::list(&self.read(), user)
    }

    pub fn sieve_get(&self, user: UserId, name: &str) -> Result<Option<Vec<u8>>> {
        sieve::get(&self.read(), user, name)
    }

    pub fn sieve_put(&self, user: UserId, name: &str, content: &[u8]) -> Result<()> {
        self.write(|c| Ok((sieve::put(c, user, name, content)?, vec![])))
    }

    pub fn sieve_rename(&self, user: UserId, from: &str, to: &str) -> Result<()> {
        self.write(|c| Ok((sieve::rename(c, user, from, to)?, vec![])))
    }

    pub fn sieve_delete(&self, user: UserId, name: &str) -> Result<()> {
        self.write(|c| Ok((sieve::delete(c, user, name)?, vec![])))
    }

    pub fn sieve_activate(&self, user: UserId, name: Option<&str>) -> Result<()> {
        self.write(|c| Ok((sieve::activate(c, user, name)?, vec![])))
    }

    pub fn sieve_script(&self, id: i64) -> Result<Option<Vec<u8>>> {
        sieve::by_id(&self.read(), id)
    }

    pub fn sieve_seen(
        &self,
        user: UserId,
        key: &str,
        now: i64,
        expiry: i64,
        last: bool,
    ) -> Result<bool> {
        self.write(|c| Ok((sieve::seen(c, user, key, now, expiry, last)?, vec![])))
    }
}

/// The bodies handed to the commit thread with a job, until the job's answer comes.
pub(crate) struct Installed {
    /// The bodies' files (inline bodies have none).
    paths: Vec<PathBuf>,
}

pub(crate) type Answer = tokio::sync::oneshot::Receiver<Result<Submitted>>;

impl Installed {
    /// The job's outcome from its answer. A delivery refused on its own (quota, unknown
    /// user) committed nothing: its file can go. After a failed commit or fsync the
    /// transaction may still surface after a crash, so the file stays; the start-up sweep
    /// removes it if nothing names it.
    pub(crate) fn finish(
        self,
        answer: Result<Result<Submitted>, tokio::sync::oneshot::error::RecvError>,
    ) -> Result<Submitted> {
        let outcome = answer.map_err(|_| StoreError::CommitterGone)?;
        if let Err(StoreError::OverQuota(_) | StoreError::UnknownUser(_)) = &outcome {
            for path in &self.paths {
                let _ = std::fs::remove_file(path);
            }
        }
        outcome
    }
}

impl SqliteStore {
    /// Links a file body into place (an inline one travels in the job) and hands the job
    /// to the commit thread.
    pub(crate) fn send_job(
        &self,
        blob: SealedBlob,
        targets: &[DeliveryTarget],
        outbound: Option<Outbound>,
        then: Option<commit::QueueAfter>,
    ) -> Result<(Answer, Installed)> {
        let mut paths = Vec::new();
        let part = self.install_part(blob, targets.to_vec(), &mut paths)?;
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.committer.send(Job {
            blob_id: part.blob_id,
            size: part.size,
            data: part.data,
            dir: part.dir,
            targets: part.targets,
            more: Vec::new(),
            outbound,
            then,
            reply,
        })?;
        Ok((answer, Installed { paths }))
    }

    /// Several bodies, each with its targets, as one job: one savepoint files all or none,
    /// and queues the first body for `outbound`.
    pub(crate) fn send_jobs(
        &self,
        messages: Vec<(SealedBlob, Vec<DeliveryTarget>)>,
        outbound: Option<Outbound>,
    ) -> Result<(Answer, Installed)> {
        let mut paths = Vec::new();
        let mut parts = Vec::with_capacity(messages.len());
        for (blob, targets) in messages {
            parts.push(self.install_part(blob, targets, &mut paths)?);
        }
        if parts.is_empty() {
            return Err(StoreError::Corrupt("a job without a body".into()));
        }
        let first = parts.remove(0);
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.committer.send(Job {
            blob_id: first.blob_id,
            size: first.size,
            data: first.data,
            dir: first.dir,
            targets: first.targets,
            more: parts,
            outbound,
            then: None,
            reply,
        })?;
        Ok((answer, Installed { paths }))
    }

    /// Links a file body into place, noting its path in `paths`; an inline body's octets
    /// travel in the part.
    fn install_part(
        &self,
        mut blob: SealedBlob,
        targets: Vec<DeliveryTarget>,
        paths: &mut Vec<PathBuf>,
    ) -> Result<commit::Part> {
        let path = self.blobs.install(&mut blob)?;
        let data = match &mut blob.body {
            crate::blob::Body::Inline(bytes) => Some(std::mem::take(bytes)),
            crate::blob::Body::File { .. } => None,
        };
        let dir = path.as_ref().map(|_| self.blobs.shard_dir(blob.id()));
        paths.extend(path);
        Ok(commit::Part {
            blob_id: blob.id().as_str().to_owned(),
            size: blob.size(),
            data,
            dir,
            targets,
        })
    }

    /// Deletes bodies nothing references any more.
    pub(crate) fn collect_garbage(&self) -> Result<()> {
        self.write(|c| Ok(((), mailbox::collect_garbage(c)?)))
    }

    /// Whether sealing `blob` into place does file I/O (a file body is linked and synced).
    pub(crate) fn install_does_io(blob: &SealedBlob) -> bool {
        matches!(blob.body, crate::blob::Body::File { .. })
    }
}

impl crate::BlockingStore for SqliteStore {
    fn add_domain(&self, domain: &hermod_types::Domain) -> Result<()> {
        self.write(|c| Ok((directory::add_domain(c, domain)?, vec![])))
    }

    fn remove_domain(&self, domain: &hermod_types::Domain) -> Result<()> {
        self.write(|c| Ok((directory::remove_domain(c, domain)?, vec![])))
    }

    fn domains(&self) -> Result<Vec<String>> {
        directory::domains(&self.read())
    }

    fn is_local_domain(&self, domain: &hermod_types::Domain) -> Result<bool> {
        directory::has_domain(&self.read(), domain)
    }

    fn add_user(
        &self,
        address: &hermod_types::Address,
        password_hash: &str,
        quota: Option<u64>,
    ) -> Result<UserId> {
        self.write(|c| {
            Ok((
                directory::add_user(c, address, password_hash, quota)?,
                vec![],
            ))
        })
    }

    fn set_password(&self, address: &hermod_types::Address, password_hash: &str) -> Result<()> {
        self.write(|c| Ok((directory::set_password(c, address, password_hash)?, vec![])))
    }

    fn remove_user(&self, address: &hermod_types::Address) -> Result<()> {
        // The bulk guard's memory of the account goes first (a later account may get its
        // id): a failure after it leaves the account with its counting started afresh.
        let id: Option<i64> = self
            .read()
            .prepare_cached("SELECT id FROM users WHERE address = ?1")?
            .query_row([address.normalized()], |r| r.get(0))
            .optional()?;
        if let Some(id) = id {
            bulk::forget_scope(&self.counters(), id)?;
        }
        self.write(|c| {
            directory::remove_user(c, address)?;
            Ok(((), mailbox::collect_garbage(c)?))
        })
    }

    fn users(&self) -> Result<Vec<crate::UserRecord>> {
        directory::users(&self.read(), None)
    }

    fn user(&self, address: &hermod_types::Address) -> Result<Option<crate::UserRecord>> {
        directory::user(&self.read(), &address.normalized())
    }

    fn first_user(
        &self,
        domain: Option<&hermod_types::Domain>,
    ) -> Result<Option<crate::UserRecord>> {
        Ok(directory::users(&self.read(), domain)?.into_iter().next())
    }

    fn add_alias(&self, alias: &crate::AliasKey, targets: &[hermod_types::Address]) -> Result<()> {
        self.write(|c| Ok((directory::add_alias(c, alias, targets)?, vec![])))
    }

    fn remove_alias(&self, alias: &crate::AliasKey) -> Result<()> {
        self.write(|c| Ok((directory::remove_alias(c, alias)?, vec![])))
    }

    fn aliases(&self) -> Result<Vec<(String, Vec<String>)>> {
        directory::aliases(&self.read())
    }

    fn alias_targets(&self, alias: &crate::AliasKey) -> Result<Vec<hermod_types::Address>> {
        directory::alias_targets(&self.read(), alias)
    }

    fn lookup_address(&self, address: &hermod_types::Address) -> Result<crate::AddressLookup> {
        directory::lookup_address(&self.read(), address)
    }

    fn blob_writer(&self) -> Result<BlobWriter> {
        self.blobs.writer()
    }

    fn submit(
        &self,
        blob: SealedBlob,
        targets: &[DeliveryTarget],
        outbound: Option<&Outbound>,
    ) -> Result<Submitted> {
        let (answer, installed) = self.send_job(blob, targets, outbound.cloned(), None)?;
        installed.finish(answer.blocking_recv())
    }

    fn queue(&self) -> Result<Vec<QueueEntry>> {
        queue::list(&self.read())
    }

    fn queue_claim(
        &self,
        owner: &str,
        now: i64,
        lease: i64,
        limit: usize,
    ) -> Result<Vec<crate::QueuedMessage>> {
        self.write(|c| Ok((queue::claim(c, owner, now, now + lease, limit)?, vec![])))
    }

    fn queue_renew(&self, owner: &str, ids: &[i64], until: i64) -> Result<Vec<i64>> {
        self.write(|c| Ok((queue::renew(c, owner, ids, until)?, vec![])))
    }

    fn queue_release(&self, owner: &str, id: i64) -> Result<()> {
        self.write(|c| Ok((queue::release(c, owner, id)?, vec![])))
    }

    fn queued(&self, id: i64) -> Result<Option<crate::QueuedMessage>> {
        queue::queued(&self.read(), id, None)
    }

    fn queue_record(
        &self,
        owner: &str,
        id: i64,
        results: &[(String, crate::QueueUpdate)],
    ) -> Result<bool> {
        self.write(|c| {
            if !queue::holds(c, owner, id)? {
                return Ok((false, vec![]));
            }
            queue::record(c, id, results)?;
            Ok((true, vec![]))
        })
    }

    fn queue_outcomes(&self, id: i64) -> Result<Vec<crate::RecipientOutcome>> {
        queue::outcomes(&self.read(), id)
    }

    fn queue_remove(&self, id: i64) -> Result<bool> {
        self.write(|c| {
            let removed = queue::remove(c, id)?;
            Ok((removed, mailbox::collect_garbage(c)?))
        })
    }

    fn queue_finish(&self, id: i64, bounce: Option<crate::Report>) -> Result<()> {
        let Some(report) = bounce else {
            return self.queue_remove(id).map(drop);
        };
        let then = Some(commit::QueueAfter::Remove(id));
        let (answer, installed) =
            self.send_job(report.blob, &report.targets, report.outbound, then)?;
        installed.finish(answer.blocking_recv())?;
        // The entry's body, if nothing else holds it, goes with this collection.
        self.collect_garbage()
    }

    fn queue_delay_notice(&self, id: i64, notice: crate::Report) -> Result<()> {
        let then = Some(commit::QueueAfter::DelayNotified(id));
        let (answer, installed) =
            self.send_job(notice.blob, &notice.targets, notice.outbound, then)?;
        installed.finish(answer.blocking_recv()).map(drop)
    }

    fn queue_retry_now(&self, id: Option<i64>, now: i64) -> Result<usize> {
        self.write(|c| Ok((queue::retry_now(c, id, now)?, vec![])))
    }

    fn set_dkim_key(
        &self,
        domain: &hermod_types::Domain,
        key: &crate::DkimKeyRecord,
    ) -> Result<()> {
        self.write(|c| Ok((directory::set_dkim_key(c, domain, key)?, vec![])))
    }

    fn add_dkim_keys(
        &self,
        domain: &hermod_types::Domain,
        keys: &[crate::DkimKeyRecord],
    ) -> Result<bool> {
        self.write(|c| Ok((directory::add_dkim_keys(c, domain, keys)?, vec![])))
    }

    fn dkim_keys(&self, domain: &hermod_types::Domain) -> Result<Vec<crate::DkimKeyRecord>> {
        directory::dkim_keys(&self.read(), domain)
    }

    fn set_send_as(&self, address: &hermod_types::Address, patterns: &[String]) -> Result<()> {
        self.write(|c| Ok((directory::set_send_as(c, address, patterns)?, vec![])))
    }

    fn mailboxes(&self, user: UserId) -> Result<Vec<MailboxInfo>> {
        mailbox::list_mailboxes(&self.read(), user)
    }

    fn mailbox(&self, user: UserId, name: &MailboxName) -> Result<Option<MailboxInfo>> {
        mailbox::find_mailbox(&self.read(), user, name)
    }

    fn create_mailbox(&self, user: UserId, name: &MailboxName) -> Result<MailboxInfo> {
        crate::MailStore::mailbox_create(self, user, name, None)
    }

    fn messages(&self, mailbox: MailboxId) -> Result<Vec<MessageMeta>> {
        mailbox::list_messages(&self.read(), mailbox)
    }

    fn open_blob(&self, blob: &BlobId) -> Result<Box<dyn Read + Send>> {
        let inline: Option<Vec<u8>> = self
            .read()
            .prepare_cached("SELECT data FROM blob_data WHERE id = ?1")?
            .query_row([blob.as_str()], |r| r.get(0))
            .optional()?;
        if let Some(data) = inline {
            return Ok(Box::new(std::io::Cursor::new(data)));
        }
        let path = self.blobs.path(blob);
        let file = match std::fs::File::open(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // Written by an older hermod and not yet moved by the start-up sweep.
                std::fs::File::open(self.blobs.old_path(blob)).map_err(|_| e)
            }
            opened => opened,
        };
        Ok(Box::new(file.map_err(StoreError::io(&path))?))
    }

    fn set_flags(&self, mailbox: MailboxId, uids: &[Uid], flags: Flags) -> Result<()> {
        let change = crate::FlagChange {
            op: crate::FlagOp::Replace,
            flags,
            unchanged_since: None,
        };
        let uids = uids.iter().copied().collect();
        crate::MailStore::store_flags(self, mailbox, &uids, &change).map(drop)
    }

    fn expunge(&self, mailbox: MailboxId, uids: &[Uid]) -> Result<()> {
        let uids = uids.iter().copied().collect();
        self.write_mail(|c, fx| {
            let (expunged, garbage) = mail::expunge(c, mailbox, Some(&uids), false)?;
            fx.garbage = garbage;
            if !expunged.uids.is_empty() {
                fx.touched.push(mail::log::touch_owner(c, mailbox)?);
            }
            Ok(())
        })
    }

    fn bayes_load(&self, owner: Option<UserId>) -> Result<crate::BayesCounts> {
        spam::load(&self.read(), owner.map_or(0, |u| u.0))
    }

    fn bayes_learn(
        &self,
        owner: Option<UserId>,
        update: &crate::BayesCounts,
        seen: &[crate::LearnedMessage],
    ) -> Result<()> {
        let owner = owner.map_or(0, |u| u.0);
        self.write(|c| {
            spam::check_unchanged(c, owner, seen)?;
            spam::learn(c, owner, update)?;
            Ok((spam::record_seen(c, owner, seen)?, vec![]))
        })
    }

    fn bayes_seen(&self, owner: Option<UserId>, digests: &[Vec<u8>]) -> Result<Vec<Option<bool>>> {
        spam::seen(&self.read(), owner.map_or(0, |u| u.0), digests)
    }

    fn bayes_generation(&self) -> Result<i64> {
        spam::generation(&self.read())
    }

    fn bayes_calibration(&self) -> Result<Option<String>> {
        spam::calibration(&self.read())
    }

    fn bayes_set_calibration(&self, params: &str) -> Result<()> {
        self.write(|c| Ok((spam::set_calibration(c, params)?, vec![])))
    }

    fn greylist(&self, key: &str, now: i64, delay: i64) -> Result<crate::GreylistState> {
        self.write(|c| Ok((spam::greylist(c, key, now, delay)?, vec![])))
    }

    fn bulk_observe(&self, sighting: &crate::BulkSighting) -> Result<crate::BulkCount> {
        let count = bulk::in_transaction(&self.counters(), |c| bulk::observe(c, sighting))?;
        self.committer.checkpoint_soon();
        Ok(count)
    }

    fn correspondents_note(&self, user: UserId, addresses: &[String], now: i64) -> Result<()> {
        let due = correspondents::due(&self.read(), user, addresses, now)?;
        if due.is_empty() {
            return Ok(());
        }
        self.write(|c| Ok((correspondents::note(c, user, &due, now)?, vec![])))
    }

    fn correspondents_of(&self, address: &str, users: &[UserId]) -> Result<Vec<UserId>> {
        correspondents::of(&self.read(), address, users)
    }

    fn correspondents_list(&self, user: UserId, limit: usize) -> Result<(u64, Vec<(String, i64)>)> {
        correspondents::list(&self.read(), user, limit)
    }

    fn correspondents_forget(&self, user: UserId, addresses: &[String]) -> Result<()> {
        self.write(|c| Ok((correspondents::forget(c, user, addresses)?, vec![])))
    }

    fn set_bulk_allowed(&self, address: &hermod_types::Address, allowed: bool) -> Result<()> {
        self.write(|c| Ok((directory::set_bulk_allowed(c, address, allowed)?, vec![])))
    }

    fn set_junk_threshold(
        &self,
        address: &hermod_types::Address,
        threshold: Option<f64>,
    ) -> Result<()> {
        self.write(|c| {
            Ok((
                directory::set_junk_threshold(c, address, threshold)?,
                vec![],
            ))
        })
    }

    fn set_frozen(&self, address: &hermod_types::Address, reason: Option<&str>) -> Result<bool> {
        self.write(|c| Ok((directory::set_frozen(c, address, reason)?, vec![])))
    }

    fn queue_release_held(&self, id: i64, now: i64) -> Result<bool> {
        self.write(|c| Ok((queue::release_held(c, id, now)?, vec![])))
    }
}
