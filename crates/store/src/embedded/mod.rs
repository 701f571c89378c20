//! The embedded backend behind the async roles: [`SqliteStore`]'s blocking calls run on
//! tokio's blocking threads, except deliveries with their body in memory (nearly all mail),
//! which go straight to the group-commit thread and are awaited without holding any thread.

use crate::roles::{BodyStream, Directory, Mail, Queue};
use crate::sqlite::commit::QueueAfter;
use crate::{
    AddressLookup, AliasKey, BlobId, BlobWriter, BlockingStore, ChangeSubscription, Changes,
    CopyOutcome, DeliveryTarget, DkimKeyRecord, Expunged, FlagChange, FlagOp, Flags, FlagsOutcome,
    MailStore, MailboxId, MailboxInfo, MailboxStatus, MessageMeta, Outbound, QueueEntry,
    QueueUpdate, QueuedMessage, RecipientOutcome, Report, Result, SealedBlob, SpecialUse,
    SqliteStore, StoreError, Submitted, UidSet, UserId, UserRecord,
};
use async_trait::async_trait;
use hermod_types::{Address, Domain, MailboxName, Uid};
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

mod services;

/// The embedded store (SQLite index, small bodies inline, large ones as files) as the
/// server uses it. Cheap to clone.
#[derive(Clone)]
pub struct EmbeddedStore {
    pub(crate) inner: Arc<SqliteStore>,
    /// Leases and counters: in memory, since one process owns an embedded store.
    pub(crate) coordination: Arc<crate::MemoryCoordination>,
}

impl EmbeddedStore {
    /// Opens (creating if needed) the store in `data_dir`. Blocks: call it before serving or
    /// from a blocking context.
    pub fn open(data_dir: &Path) -> Result<EmbeddedStore> {
        Ok(EmbeddedStore::new(Arc::new(SqliteStore::open(data_dir)?)))
    }

    pub fn new(inner: Arc<SqliteStore>) -> EmbeddedStore {
        EmbeddedStore {
            inner,
            coordination: Arc::default(),
        }
    }

    /// The blocking interface, for management commands and tests.
    pub fn blocking(&self) -> &Arc<SqliteStore> {
        &self.inner
    }

    /// Runs `work` on a blocking thread.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&SqliteStore) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || work(&inner))
            .await
            .map_err(|e| StoreError::TaskFailed(e.to_string()))?
    }

    /// A job for the commit thread, awaited. Only a file body needs a blocking thread (it is
    /// linked into place first).
    async fn commit(
        &self,
        blob: SealedBlob,
        targets: &[DeliveryTarget],
        outbound: Option<Outbound>,
        then: Option<QueueAfter>,
    ) -> Result<Submitted> {
        let (answer, installed) = if SqliteStore::install_does_io(&blob) {
            let targets = targets.to_vec();
            self.run(move |s| s.send_job(blob, &targets, outbound, then))
                .await?
        } else {
            self.inner.send_job(blob, targets, outbound, then)?
        };
        installed.finish(answer.await)
    }
}

/// Whole bodies of the given sizes, in order, up to the first that is not.
fn read_whole_bodies(store: &SqliteStore, wanted: &[(BlobId, u64)]) -> Vec<Vec<u8>> {
    let mut bodies = Vec::with_capacity(wanted.len());
    for (blob, size) in wanted {
        let mut body = Vec::with_capacity(*size as usize);
        let read = match store.open_blob(blob) {
            Ok(reader) => reader.take(size + 1).read_to_end(&mut body).ok(),
            Err(_) => None,
        };
        if read != Some(*size as usize) {
            break;
        }
        bodies.push(body);
    }
    bodies
}

/// A body read on blocking threads, a piece per trip.
struct FileStream {
    /// Away on a blocking thread during a read.
    reader: Option<Box<dyn Read + Send>>,
}

#[async_trait]
impl BodyStream for FileStream {
    async fn read_chunk(&mut self, max: usize) -> std::io::Result<Vec<u8>> {
        let Some(mut reader) = self.reader.take() else {
            return Err(std::io::Error::other("an earlier read failed"));
        };
        let (reader, read) = tokio::task::spawn_blocking(move || {
            let mut buf = vec![0u8; max];
            let read = reader.read(&mut buf).map(|n| {
                buf.truncate(n);
                buf
            });
            (reader, read)
        })
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))?;
        self.reader = Some(reader);
        read
    }
}

#[async_trait]
impl Directory for EmbeddedStore {
    async fn add_domain(&self, domain: &Domain) -> Result<()> {
        let domain = domain.clone();
        self.run(move |s| s.add_domain(&domain)).await
    }

    async fn remove_domain(&self, domain: &Domain) -> Result<()> {
        let domain = domain.clone();
        self.run(move |s| s.remove_domain(&domain)).await
    }

    async fn domains(&self) -> Result<Vec<String>> {
        self.run(|s| s.domains()).await
    }

    async fn is_local_domain(&self, domain: &Domain) -> Result<bool> {
        let domain = domain.clone();
        self.run(move |s| s.is_local_domain(&domain)).await
    }

    async fn add_user(
        &self,
        address: &Address,
        password_hash: &str,
        quota: Option<u64>,
    ) -> Result<UserId> {
        let (address, hash) = (address.clone(), password_hash.to_owned());
        self.run(move |s| s.add_user(&address, &hash, quota)).await
    }

    async fn set_password(&self, address: &Address, password_hash: &str) -> Result<()> {
        let (address, hash) = (address.clone(), password_hash.to_owned());
        self.run(move |s| s.set_password(&address, &hash)).await
    }

    async fn remove_user(&self, address: &Address) -> Result<()> {
        let address = address.clone();
        self.run(move |s| s.remove_user(&address)).await
    }

    async fn users(&self) -> Result<Vec<UserRecord>> {
        self.run(|s| s.users()).await
    }

    async fn user(&self, address: &Address) -> Result<Option<UserRecord>> {
        let address = address.clone();
        self.run(move |s| s.user(&address)).await
    }

    async fn first_user(&self, domain: Option<&Domain>) -> Result<Option<UserRecord>> {
        let domain = domain.cloned();
        self.run(move |s| s.first_user(domain.as_ref())).await
    }

    async fn set_send_as(&self, address: &Address, patterns: &[String]) -> Result<()> {
        let (address, patterns) = (address.clone(), patterns.to_vec());
        self.run(move |s| s.set_send_as(&address, &patterns)).await
    }

    async fn set_bulk_allowed(&self, address: &Address, allowed: bool) -> Result<()> {
        let address = address.clone();
        self.run(move |s| s.set_bulk_allowed(&address, allowed))
            .await
    }

    async fn set_junk_threshold(&self, address: &Address, threshold: Option<f64>) -> Result<()> {
        let address = address.clone();
        self.run(move |s| s.set_junk_threshold(&address, threshold))
            .await
    }

    async fn set_frozen(&self, address: &Address, reason: Option<&str>) -> Result<bool> {
        let (address, reason) = (address.clone(), reason.map(str::to_owned));
        self.run(move |s| s.set_frozen(&address, reason.as_deref()))
            .await
    }

    async fn add_alias(&self, alias: &AliasKey, targets: &[Address]) -> Result<()> {
        let (alias, targets) = (alias.clone(), targets.to_vec());
        self.run(move |s| s.add_alias(&alias, &targets)).await
    }

    async fn remove_alias(&self, alias: &AliasKey) -> Result<()> {
        let alias = alias.clone();
        self.run(move |s| s.remove_alias(&alias)).await
    }

    async fn aliases(&self) -> Result<Vec<(String, Vec<String>)>> {
        self.run(|s| s.aliases()).await
    }

    async fn alias_targets(&self, alias: &AliasKey) -> Result<Vec<Address>> {
        let alias = alias.clone();
        self.run(move |s| s.alias_targets(&alias)).await
    }

    async fn lookup_address(&self, address: &Address) -> Result<AddressLookup> {
        let address = address.clone();
        self.run(move |s| s.lookup_address(&address)).await
    }

    async fn set_dkim_key(&self, domain: &Domain, key: &DkimKeyRecord) -> Result<()> {
        let (domain, key) = (domain.clone(), key.clone());
        self.run(move |s| s.set_dkim_key(&domain, &key)).await
    }

    async fn add_dkim_keys(&self, domain: &Domain, keys: &[DkimKeyRecord]) -> Result<bool> {
        let (domain, keys) = (domain.clone(), keys.to_vec());
        self.run(move |s| s.add_dkim_keys(&domain, &keys)).await
    }

    async fn dkim_keys(&self, domain: &Domain) -> Result<Vec<DkimKeyRecord>> {
        let domain = domain.clone();
        self.run(move |s| s.dkim_keys(&domain)).await
    }
}

#[async_trait]
impl Mail for EmbeddedStore {
    fn blob_writer(&self) -> Result<BlobWriter> {
        self.inner.blob_writer()
    }

    async fn submit(
        &self,
        blob: SealedBlob,
        targets: &[DeliveryTarget],
        outbound: Option<&Outbound>,
    ) -> Result<Submitted> {
        self.commit(blob, targets, outbound.cloned(), None).await
    }

    async fn submit_all(
        &self,
        messages: Vec<(SealedBlob, Vec<DeliveryTarget>)>,
        outbound: Option<&Outbound>,
    ) -> Result<Submitted> {
        if messages.is_empty() {
            return Ok(Submitted {
                delivered: Vec::new(),
                queue_id: None,
            });
        }
        // As in `commit`: only file bodies need a blocking thread to be linked into place.
        let (answer, installed) = if messages
            .iter()
            .any(|(blob, _)| SqliteStore::install_does_io(blob))
        {
            let outbound = outbound.cloned();
            self.run(move |s| s.send_jobs(messages, outbound)).await?
        } else {
            self.inner.send_jobs(messages, outbound.cloned())?
        };
        installed.finish(answer.await)
    }

    async fn read_blob(&self, blob: &BlobId, limit: Option<u64>) -> Result<Vec<u8>> {
        let blob = blob.clone();
        self.run(move |s| {
            let reader = s.open_blob(&blob)?;
            let mut out = Vec::new();
            let io = |e| StoreError::Io {
                path: blob.to_string().into(),
                source: e,
            };
            reader
                .take(limit.unwrap_or(u64::MAX))
                .read_to_end(&mut out)
                .map_err(io)?;
            Ok(out)
        })
        .await
    }

    async fn read_blobs(&self, wanted: &[(BlobId, u64)]) -> Result<Vec<Vec<u8>>> {
        let wanted = wanted.to_vec();
        self.run(move |s| Ok(read_whole_bodies(s, &wanted))).await
    }

    async fn open_blob(&self, blob: &BlobId) -> Result<Box<dyn BodyStream>> {
        let blob = blob.clone();
        let reader = self.run(move |s| s.open_blob(&blob)).await?;
        Ok(Box::new(FileStream {
            reader: Some(reader),
        }))
    }

    async fn mailboxes(&self, user: UserId) -> Result<Vec<MailboxInfo>> {
        self.run(move |s| s.mailbox_list(user)).await
    }

    async fn mailbox(&self, user: UserId, name: &MailboxName) -> Result<Option<MailboxInfo>> {
        let name = name.clone();
        self.run(move |s| s.mailbox_get(user, &name)).await
    }

    async fn mailbox_by_special_use(
        &self,
        user: UserId,
        use_: SpecialUse,
    ) -> Result<Option<MailboxInfo>> {
        self.run(move |s| s.mailbox_by_special_use(user, use_))
            .await
    }

    async fn create_mailbox(
        &self,
        user: UserId,
        name: &MailboxName,
        special_use: Option<SpecialUse>,
    ) -> Result<MailboxInfo> {
        let name = name.clone();
        self.run(move |s| s.mailbox_create(user, &name, special_use))
            .await
    }

    async fn rename_mailbox(
        &self,
        user: UserId,
        from: &MailboxName,
        to: &MailboxName,
    ) -> Result<()> {
        let (from, to) = (from.clone(), to.clone());
        self.run(move |s| s.mailbox_rename(user, &from, &to)).await
    }

    async fn delete_mailbox(&self, user: UserId, name: &MailboxName) -> Result<()> {
        let name = name.clone();
        self.run(move |s| s.mailbox_delete(user, &name)).await
    }

    async fn mailbox_status(
        &self,
        user: UserId,
        name: &MailboxName,
    ) -> Result<Option<MailboxStatus>> {
        let name = name.clone();
        self.run(move |s| s.mailbox_status(user, &name)).await
    }

    async fn subscribe(&self, user: UserId, name: &MailboxName) -> Result<()> {
        let name = name.clone();
        self.run(move |s| s.subscribe_mailbox(user, &name)).await
    }

    async fn unsubscribe(&self, user: UserId, name: &MailboxName) -> Result<()> {
        let name = name.clone();
        self.run(move |s| s.unsubscribe_mailbox(user, &name)).await
    }

    async fn subscriptions(&self, user: UserId) -> Result<Vec<MailboxName>> {
        self.run(move |s| s.subscriptions(user)).await
    }

    async fn messages(&self, mailbox: MailboxId) -> Result<Vec<MessageMeta>> {
        self.run(move |s| s.messages(mailbox)).await
    }

    async fn messages_in(&self, mailbox: MailboxId, uids: &UidSet) -> Result<Vec<MessageMeta>> {
        let uids = uids.clone();
        self.run(move |s| s.messages_in(mailbox, &uids)).await
    }

    async fn messages_with_cache(
        &self,
        mailbox: MailboxId,
    ) -> Result<Vec<(MessageMeta, Option<Vec<u8>>)>> {
        self.run(move |s| s.messages_with_cache(mailbox)).await
    }

    async fn cache_bodies(&self, entries: &[(BlobId, Vec<u8>)]) -> Result<()> {
        let entries = entries.to_vec();
        self.run(move |s| s.cache_bodies(&entries)).await
    }

    async fn store_flags(
        &self,
        mailbox: MailboxId,
        uids: &UidSet,
        change: &FlagChange,
    ) -> Result<FlagsOutcome> {
        let (uids, change) = (uids.clone(), change.clone());
        self.run(move |s| s.store_flags(mailbox, &uids, &change))
            .await
    }

    async fn add_flags(&self, mailbox: MailboxId, uids: &[Uid], flags: Flags) -> Result<()> {
        let mut set = UidSet::new();
        uids.iter().for_each(|uid| set.insert(*uid));
        let change = FlagChange {
            op: FlagOp::Add,
            flags,
            unchanged_since: None,
        };
        self.store_flags(mailbox, &set, &change).await.map(drop)
    }

    async fn copy_messages(
        &self,
        from: MailboxId,
        uids: &UidSet,
        to: MailboxId,
    ) -> Result<CopyOutcome> {
        let uids = uids.clone();
        self.run(move |s| s.copy_messages(from, &uids, to)).await
    }

    async fn move_messages(
        &self,
        from: MailboxId,
        uids: &UidSet,
        to: MailboxId,
    ) -> Result<CopyOutcome> {
        let uids = uids.clone();
        self.run(move |s| s.move_messages(from, &uids, to)).await
    }

    async fn expunge(&self, mailbox: MailboxId, uids: &[Uid]) -> Result<()> {
        let uids = uids.to_vec();
        self.run(move |s| s.expunge(mailbox, &uids)).await
    }

    async fn expunge_deleted(&self, mailbox: MailboxId, uids: Option<&UidSet>) -> Result<Expunged> {
        let uids = uids.cloned();
        self.run(move |s| s.expunge_deleted(mailbox, uids.as_ref()))
            .await
    }

    async fn changes_since(
        &self,
        mailbox: MailboxId,
        since: u64,
        uids: Option<&UidSet>,
    ) -> Result<Changes> {
        let uids = uids.cloned();
        self.run(move |s| s.changes_since(mailbox, since, uids.as_ref()))
            .await
    }

    async fn on_change(
        &self,
        user: UserId,
        callback: Box<dyn Fn() + Send + Sync>,
    ) -> Result<ChangeSubscription> {
        self.run(move |s| s.on_change(user, callback)).await
    }
}

#[async_trait]
impl Queue for EmbeddedStore {
    async fn queue(&self) -> Result<Vec<QueueEntry>> {
        self.run(|s| s.queue()).await
    }

    async fn queue_claim(
        &self,
        owner: &str,
        now: i64,
        lease: i64,
        limit: usize,
    ) -> Result<Vec<QueuedMessage>> {
        let owner = owner.to_owned();
        self.run(move |s| s.queue_claim(&owner, now, lease, limit))
            .await
    }

    async fn queue_renew(&self, owner: &str, ids: &[i64], until: i64) -> Result<Vec<i64>> {
        let (owner, ids) = (owner.to_owned(), ids.to_vec());
        self.run(move |s| s.queue_renew(&owner, &ids, until)).await
    }

    async fn queue_release(&self, owner: &str, id: i64) -> Result<()> {
        let owner = owner.to_owned();
        self.run(move |s| s.queue_release(&owner, id)).await
    }

    async fn queued(&self, id: i64) -> Result<Option<QueuedMessage>> {
        self.run(move |s| s.queued(id)).await
    }

    async fn queue_record(
        &self,
        owner: &str,
        id: i64,
        results: &[(String, QueueUpdate)],
    ) -> Result<bool> {
        let (owner, results) = (owner.to_owned(), results.to_vec());
        self.run(move |s| s.queue_record(&owner, id, &results))
            .await
    }

    async fn queue_outcomes(&self, id: i64) -> Result<Vec<RecipientOutcome>> {
        self.run(move |s| s.queue_outcomes(id)).await
    }

    async fn queue_finish(&self, id: i64, bounce: Option<Report>) -> Result<()> {
        let Some(report) = bounce else {
            return self.queue_remove(id).await.map(drop);
        };
        let then = Some(QueueAfter::Remove(id));
        self.commit(report.blob, &report.targets, report.outbound, then)
            .await?;
        // The entry's body, if nothing else holds it, goes with this collection.
        self.run(move |s| s.collect_garbage()).await
    }

    async fn queue_remove(&self, id: i64) -> Result<bool> {
        self.run(move |s| s.queue_remove(id)).await
    }

    async fn queue_delay_notice(&self, id: i64, notice: Report) -> Result<()> {
        let then = Some(QueueAfter::DelayNotified(id));
        self.commit(notice.blob, &notice.targets, notice.outbound, then)
            .await
            .map(drop)
    }

    async fn queue_retry_now(&self, id: Option<i64>, now: i64) -> Result<usize> {
        self.run(move |s| s.queue_retry_now(id, now)).await
    }

    async fn queue_release_held(&self, id: i64, now: i64) -> Result<bool> {
        self.run(move |s| s.queue_release_held(id, now)).await
    }
}
