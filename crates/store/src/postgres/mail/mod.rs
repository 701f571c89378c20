//! The `Mail` role on PostgreSQL: bodies (`bodies.rs`), filing (`deliver.rs`), mailboxes
//! (`folders.rs`), messages and the IMAP model (`messages.rs`), change notifications
//! (`watch.rs`).
//!
//! One lock order for every mail write, on every node: the user rows first (in id order),
//! then mailbox rows, then body rows. A write to a user's mail therefore waits for the
//! previous one to commit; a mailbox's UIDs and MODSEQs, taken from its row inside the
//! transaction, ascend in commit order; quota checks see what the previous writer left.
//! Each write ends with [`watch::changed`] (new generations, one `pg_notify`), and the
//! writing handle announces the generations to its own subscribers once it has committed.

mod bodies;
mod deliver;
mod folders;
mod messages;
mod watch;

pub(crate) use bodies::{Bodies, InDatabase};
pub(crate) use folders::insert_mailbox;
pub(crate) use watch::Listener;

use super::PostgresStore;
use super::prepared::Prepared;
use crate::blob::BlobDir;
use crate::roles::{BodyStream, Mail};
use crate::{
    BlobId, BlobWriter, ChangeSubscription, Changes, CopyOutcome, DeliveryTarget, Expunged,
    FlagChange, FlagOp, Flags, FlagsOutcome, MailboxId, MailboxInfo, MailboxStatus, MessageMeta,
    Outbound, Result, SealedBlob, SpecialUse, StoreError, Submitted, UidSet, UserId,
};
use async_trait::async_trait;
use hermod_types::{MailboxName, Uid};
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{IsolationLevel, Transaction};

/// The users whose mail a write changed.
#[derive(Default)]
pub(super) struct Changed {
    users: Vec<UserId>,
}

impl Changed {
    pub(super) fn user(&mut self, user: UserId) {
        if !self.users.contains(&user) {
            self.users.push(user);
        }
    }
}

/// A filter on `users.id` for `ids` (sorted, not empty) and its parameter `$1`. One id (every
/// single-recipient delivery) gets `id = $1`: with a one-element array PostgreSQL finds its
/// custom plan for `id = ANY($1)` cheaper than the generic one and so plans a prepared
/// statement again on every call, which `id = $1` does not.
#[allow(clippy::ptr_arg)] // The Vec itself is the array parameter (a slice is not `ToSql`).
pub(super) fn one_or_many(ids: &Vec<i64>) -> (&'static str, (&(dyn ToSql + Sync), Type)) {
    match ids.as_slice() {
        [one] => ("id = $1", (one, Type::INT8)),
        _ => ("id = ANY($1)", (ids, Type::INT8_ARRAY)),
    }
}

/// Locks the owner of `mailbox` (a write to a user's mail starts here); its id.
pub(super) async fn lock_owner(tx: &Transaction<'_>, mailbox: MailboxId) -> Result<UserId> {
    let row = tx
        .query_typed_opt(
            "SELECT u.id FROM mailboxes m JOIN users u ON u.id = m.user_id WHERE m.id = $1
             FOR NO KEY UPDATE OF u",
            &[(&mailbox.0, Type::INT8)],
        )
        .await?
        .ok_or_else(|| StoreError::UnknownMailbox(format!("id {}", mailbox.0)))?;
    Ok(UserId(row.get(0)))
}

async fn lock_user(tx: &Transaction<'_>, user: UserId) -> Result<()> {
    let row = tx
        .query_opt(
            "SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE",
            &[&user.0],
        )
        .await?;
    row.map(drop)
        .ok_or_else(|| StoreError::UnknownUser(format!("id {}", user.0)))
}

/// Removes the bodies among `ids` that nothing references any more (their octets and cache
/// entries go with them).
pub(crate) async fn release_bodies(tx: &Transaction<'_>, ids: &[&str]) -> Result<()> {
    if !ids.is_empty() {
        tx.execute(
            "DELETE FROM blobs WHERE id = ANY($1) AND refs <= 0",
            &[&ids],
        )
        .await?;
    }
    Ok(())
}

/// The bodies a user's messages name, locked in id order (the user is being removed: its
/// messages go by cascade, then [`release_bodies`]).
pub(crate) async fn bodies_of_user(tx: &Transaction<'_>, user: UserId) -> Result<Vec<String>> {
    let rows = tx
        .query(
            "SELECT id FROM blobs WHERE id IN (SELECT m.blob_id FROM messages m
                 JOIN mailboxes b ON b.id = m.mailbox_id WHERE b.user_id = $1)
             ORDER BY id FOR NO KEY UPDATE",
            &[&user.0],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Files `blob` into `targets` and queues it for `outbound`, inside the caller's
/// transaction (what `submit` does in its own; the queue's reports use it too). Notifies
/// the users whose mail changed when the transaction commits.
pub(super) async fn submit_in(
    tx: &Transaction<'_>,
    blob: SealedBlob,
    targets: &[DeliveryTarget],
    outbound: Option<&Outbound>,
) -> Result<Submitted> {
    let mut changed = Changed::default();
    let messages = vec![(blob, targets.to_vec())];
    let prepared = Prepared::uncached(tx);
    let submitted = deliver::file_and_queue(
        (prepared, tx),
        &InDatabase,
        messages,
        outbound,
        &mut changed,
    )
    .await?;
    watch::changed(prepared, &changed.users).await?;
    Ok(submitted)
}

impl PostgresStore {
    /// Ends a mail write: marks the changed users (notifying other nodes at commit),
    /// commits, and wakes this handle's own subscribers.
    async fn commit_mail(
        &self,
        tx: deadpool_postgres::Transaction<'_>,
        changed: Changed,
    ) -> Result<()> {
        let generations = watch::changed(Prepared::tx(&tx), &changed.users).await?;
        tx.commit().await?;
        for (user, generation) in generations {
            self.notifier.announce(user, generation);
        }
        Ok(())
    }

    async fn read_whole(&self, blob: &BlobId) -> Result<Vec<u8>> {
        let client = self.client().await?;
        let mut found = self
            .bodies
            .read_many(&client, std::slice::from_ref(blob))
            .await?;
        found.pop().flatten().ok_or_else(|| bodies::missing(blob))
    }
}

#[async_trait]
impl Mail for PostgresStore {
    fn blob_writer(&self) -> Result<BlobWriter> {
        BlobDir::spool(&self.tmp_dir).writer()
    }

    async fn submit(
        &self,
        blob: SealedBlob,
        targets: &[DeliveryTarget],
        outbound: Option<&Outbound>,
    ) -> Result<Submitted> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let mut changed = Changed::default();
        let messages = vec![(blob, targets.to_vec())];
        let submitted = deliver::file_and_queue(
            (Prepared::tx(&tx), &tx),
            &*self.bodies,
            messages,
            outbound,
            &mut changed,
        )
        .await?;
        self.commit_mail(tx, changed).await?;
        Ok(submitted)
    }

    async fn submit_all(
        &self,
        messages: Vec<(SealedBlob, Vec<DeliveryTarget>)>,
        outbound: Option<&Outbound>,
    ) -> Result<Submitted> {
        if messages.is_empty() {
            return Ok(Submitted::default());
        }
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let mut changed = Changed::default();
        let submitted = deliver::file_and_queue(
            (Prepared::tx(&tx), &tx),
            &*self.bodies,
            messages,
            outbound,
            &mut changed,
        )
        .await?;
        self.commit_mail(tx, changed).await?;
        Ok(submitted)
    }

    async fn read_blob(&self, blob: &BlobId, limit: Option<u64>) -> Result<Vec<u8>> {
        let Some(limit) = limit else {
            return self.read_whole(blob).await;
        };
        let mut stream = self.open_blob(blob).await?;
        let mut out = Vec::new();
        while (out.len() as u64) < limit {
            let want = (limit - out.len() as u64).min(bodies::CHUNK as u64) as usize;
            let chunk = stream.read_chunk(want).await.map_err(|e| StoreError::Io {
                path: format!("body {blob}").into(),
                source: e,
            })?;
            if chunk.is_empty() {
                break;
            }
            out.extend(chunk);
        }
        Ok(out)
    }

    async fn read_blobs(&self, wanted: &[(BlobId, u64)]) -> Result<Vec<Vec<u8>>> {
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<BlobId> = wanted.iter().map(|(id, _)| id.clone()).collect();
        let client = self.client().await?;
        let found = self.bodies.read_many(&client, &ids).await?;
        Ok(found
            .into_iter()
            .zip(wanted)
            .map_while(|(body, (_, size))| body.filter(|b| b.len() as u64 == *size))
            .collect())
    }

    async fn open_blob(&self, blob: &BlobId) -> Result<Box<dyn BodyStream>> {
        // The size and the first piece now: a body that is not there is an error here.
        let client = self.client().await?;
        let size = client
            .query_opt("SELECT size FROM blobs WHERE id = $1", &[&blob.as_str()])
            .await?
            .ok_or_else(|| bodies::missing(blob))?
            .get::<_, i64>(0);
        let first = self.bodies.piece(&client, blob, 0).await?;
        let first = first.ok_or_else(|| bodies::missing(blob))?;
        Ok(Box::new(bodies::PieceStream {
            pool: self.pool.clone(),
            bodies: self.bodies.clone(),
            id: blob.clone(),
            size: size.max(0) as u64,
            read: 0,
            next: 1,
            piece: first,
            at: 0,
        }))
    }

    async fn mailboxes(&self, user: UserId) -> Result<Vec<MailboxInfo>> {
        folders::list(&**self.client().await?, user).await
    }

    async fn mailbox(&self, user: UserId, name: &MailboxName) -> Result<Option<MailboxInfo>> {
        folders::find(&**self.client().await?, user, name).await
    }

    async fn mailbox_by_special_use(
        &self,
        user: UserId,
        use_: SpecialUse,
    ) -> Result<Option<MailboxInfo>> {
        folders::by_special_use(&**self.client().await?, user, use_).await
    }

    async fn create_mailbox(
        &self,
        user: UserId,
        name: &MailboxName,
        special_use: Option<SpecialUse>,
    ) -> Result<MailboxInfo> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        lock_user(&tx, user).await?;
        let created = folders::create(&tx, user, name, special_use).await?;
        let mut changed = Changed::default();
        changed.user(user);
        self.commit_mail(tx, changed).await?;
        Ok(created)
    }

    async fn rename_mailbox(
        &self,
        user: UserId,
        from: &MailboxName,
        to: &MailboxName,
    ) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        lock_user(&tx, user).await?;
        let mut changed = Changed::default();
        folders::rename(&tx, user, (from, to), &mut changed).await?;
        // The mailbox list changed, even when no message moved (an empty INBOX renamed).
        changed.user(user);
        self.commit_mail(tx, changed).await
    }

    async fn delete_mailbox(&self, user: UserId, name: &MailboxName) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        lock_user(&tx, user).await?;
        let mut changed = Changed::default();
        folders::delete(&tx, user, name, &mut changed).await?;
        self.commit_mail(tx, changed).await
    }

    async fn mailbox_status(
        &self,
        user: UserId,
        name: &MailboxName,
    ) -> Result<Option<MailboxStatus>> {
        folders::status(&**self.client().await?, user, name).await
    }

    async fn subscribe(&self, user: UserId, name: &MailboxName) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        lock_user(&tx, user).await?;
        folders::subscribe(&tx, user, name).await?;
        let mut changed = Changed::default();
        changed.user(user);
        self.commit_mail(tx, changed).await
    }

    async fn unsubscribe(&self, user: UserId, name: &MailboxName) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        lock_user(&tx, user).await?;
        folders::unsubscribe(&tx, user, name).await?;
        let mut changed = Changed::default();
        changed.user(user);
        self.commit_mail(tx, changed).await
    }

    async fn subscriptions(&self, user: UserId) -> Result<Vec<MailboxName>> {
        folders::subscriptions(&**self.client().await?, user).await
    }

    async fn messages(&self, mailbox: MailboxId) -> Result<Vec<MessageMeta>> {
        messages::list(&**self.client().await?, mailbox, &UidSet::all()).await
    }

    async fn messages_in(&self, mailbox: MailboxId, uids: &UidSet) -> Result<Vec<MessageMeta>> {
        if uids.is_empty() {
            return Ok(Vec::new());
        }
        messages::list(&**self.client().await?, mailbox, uids).await
    }

    async fn messages_with_cache(
        &self,
        mailbox: MailboxId,
    ) -> Result<Vec<(MessageMeta, Option<Vec<u8>>)>> {
        messages::with_cache(&**self.client().await?, mailbox).await
    }

    async fn cache_bodies(&self, entries: &[(BlobId, Vec<u8>)]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        // No mail changed: no change log, no notification.
        messages::cache_bodies(&**self.client().await?, entries).await
    }

    async fn store_flags(
        &self,
        mailbox: MailboxId,
        uids: &UidSet,
        change: &FlagChange,
    ) -> Result<FlagsOutcome> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let mut changed = Changed::default();
        let outcome = messages::store_flags(&tx, mailbox, uids, change, &mut changed).await?;
        self.commit_mail(tx, changed).await?;
        Ok(outcome)
    }

    async fn add_flags(&self, mailbox: MailboxId, uids: &[Uid], flags: Flags) -> Result<()> {
        let uids: UidSet = uids.iter().copied().collect();
        let change = FlagChange {
            op: FlagOp::Add,
            flags,
            unchanged_since: None,
        };
        self.store_flags(mailbox, &uids, &change).await.map(drop)
    }

    async fn copy_messages(
        &self,
        from: MailboxId,
        uids: &UidSet,
        to: MailboxId,
    ) -> Result<CopyOutcome> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let mut changed = Changed::default();
        let outcome = messages::copy(&tx, (from, to), uids, true, &mut changed).await?;
        self.commit_mail(tx, changed).await?;
        Ok(outcome)
    }

    async fn move_messages(
        &self,
        from: MailboxId,
        uids: &UidSet,
        to: MailboxId,
    ) -> Result<CopyOutcome> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let mut changed = Changed::default();
        let outcome = messages::move_messages(&tx, (from, to), uids, &mut changed).await?;
        self.commit_mail(tx, changed).await?;
        Ok(outcome)
    }

    async fn expunge(&self, mailbox: MailboxId, uids: &[Uid]) -> Result<()> {
        let uids: UidSet = uids.iter().copied().collect();
        self.expunge_where(mailbox, Some(&uids), false)
            .await
            .map(drop)
    }

    async fn expunge_deleted(&self, mailbox: MailboxId, uids: Option<&UidSet>) -> Result<Expunged> {
        self.expunge_where(mailbox, uids, true).await
    }

    async fn changes_since(
        &self,
        mailbox: MailboxId,
        since: u64,
        uids: Option<&UidSet>,
    ) -> Result<Changes> {
        let mut client = self.client().await?;
        // Two reads (the mailbox, its log) from one snapshot.
        let tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        let changes = messages::changes_since(&tx, mailbox, since, uids).await?;
        tx.commit().await?;
        Ok(changes)
    }

    async fn on_change(
        &self,
        user: UserId,
        callback: Box<dyn Fn() + Send + Sync>,
    ) -> Result<ChangeSubscription> {
        // Listening first: a change committed after the generation is read below is
        // announced by its notification.
        self.listener.ensure_started().await?;
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT mail_generation FROM users WHERE id = $1",
                &[&user.0],
            )
            .await?
            .ok_or_else(|| StoreError::UnknownUser(format!("id {}", user.0)))?;
        Ok(self.notifier.subscribe(user, row.get(0), callback))
    }
}

impl PostgresStore {
    async fn expunge_where(
        &self,
        mailbox: MailboxId,
        uids: Option<&UidSet>,
        only_deleted: bool,
    ) -> Result<Expunged> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let mut changed = Changed::default();
        let expunged = messages::expunge(&tx, mailbox, uids, only_deleted, &mut changed).await?;
        self.commit_mail(tx, changed).await?;
        Ok(expunged)
    }
}
