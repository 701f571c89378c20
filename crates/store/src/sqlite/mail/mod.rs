//! [`MailStore`] for SQLite: the IMAP mail model on the shared write connection (flags,
//! copies, mailboxes) beside the group-commit thread (deliveries). Both write change-log rows
//! and bump the owner's mail generation in the transaction that makes the change, and
//! announce it to change subscribers once it commits.

mod cache;
mod changes;
mod flags;
mod folders;
pub(crate) mod log;
mod transfer;
mod watch;

use super::SqliteStore;
use super::mailbox::{self, list_message_range};
use crate::{
    BlobId, ChangeSubscription, Changes, CopyOutcome, Expunged, FlagChange, FlagsOutcome,
    MailStore, MailboxId, MailboxInfo, MailboxStatus, MessageMeta, Result, SpecialUse, StoreError,
    UidSet, UserId,
};
use hermod_types::MailboxName;
use rusqlite::Connection;

pub(crate) use folders::create as create_mailbox;
pub(crate) use transfer::expunge;

/// What a mail write leaves to do once it has committed.
#[derive(Default)]
pub(crate) struct Effects {
    /// File bodies no longer referenced, to unlink.
    pub garbage: Vec<BlobId>,
    /// Users whose mail changed, with the generation the write left them at.
    pub touched: Vec<(UserId, i64)>,
}

impl SqliteStore {
    /// Runs `f` in one write transaction; after the commit, unlinks released bodies and wakes
    /// the change subscribers of the users `f` touched.
    pub(crate) fn write_mail<T>(
        &self,
        f: impl FnOnce(&Connection, &mut Effects) -> Result<T>,
    ) -> Result<T> {
        let mut effects = Effects::default();
        let value = self.write(|conn| {
            let value = f(conn, &mut effects)?;
            Ok((value, std::mem::take(&mut effects.garbage)))
        })?;
        // The newest generation per user, once.
        effects.touched.sort_unstable();
        effects.touched.reverse();
        effects.touched.dedup_by_key(|(user, _)| *user);
        for (user, generation) in effects.touched {
            self.notifier.announce(user, generation);
        }
        Ok(value)
    }

    /// Starts the poller that notices other processes' commits, once.
    fn ensure_watching(&self) -> Result<()> {
        let mut started = self.watching.lock().unwrap_or_else(|e| e.into_inner());
        if !*started {
            let conn = super::schema::open_connection(&self.data_dir.join("hermod.db"))?;
            watch::start(conn, std::sync::Arc::downgrade(&self.notifier))?;
            *started = true;
        }
        Ok(())
    }
}

/// Adds `user`'s generation bump to a write.
fn touch(conn: &Connection, effects: &mut Effects, user: UserId) -> Result<()> {
    effects.touched.push(log::touch_user(conn, user)?);
    Ok(())
}

impl MailStore for SqliteStore {
    fn mailbox_list(&self, user: UserId) -> Result<Vec<MailboxInfo>> {
        mailbox::select_mailboxes(&self.read(), user, "1", &[])
    }

    fn mailbox_get(&self, user: UserId, name: &MailboxName) -> Result<Option<MailboxInfo>> {
        mailbox::find_mailbox(&self.read(), user, name)
    }

    fn mailbox_create(
        &self,
        user: UserId,
        name: &MailboxName,
        special_use: Option<SpecialUse>,
    ) -> Result<MailboxInfo> {
        self.write_mail(|c, fx| {
            let created = folders::create(c, user, name, special_use)?;
            touch(c, fx, user)?;
            Ok(created)
        })
    }

    fn mailbox_rename(&self, user: UserId, from: &MailboxName, to: &MailboxName) -> Result<()> {
        self.write_mail(|c, fx| {
            fx.garbage = folders::rename(c, user, from, to)?;
            touch(c, fx, user)
        })
    }

    fn mailbox_delete(&self, user: UserId, name: &MailboxName) -> Result<()> {
        self.write_mail(|c, fx| {
            fx.garbage = folders::delete(c, user, name)?;
            touch(c, fx, user)
        })
    }

    fn mailbox_status(&self, user: UserId, name: &MailboxName) -> Result<Option<MailboxStatus>> {
        changes::status(&self.read(), user, name)
    }

    fn mailbox_by_special_use(
        &self,
        user: UserId,
        use_: SpecialUse,
    ) -> Result<Option<MailboxInfo>> {
        folders::by_special_use(&self.read(), user, use_)
    }

    fn set_special_use(
        &self,
        user: UserId,
        name: &MailboxName,
        use_: Option<SpecialUse>,
    ) -> Result<()> {
        self.write_mail(|c, fx| {
            folders::set_special_use(c, user, name, use_)?;
            touch(c, fx, user)
        })
    }

    fn subscribe_mailbox(&self, user: UserId, name: &MailboxName) -> Result<()> {
        self.write_mail(|c, fx| {
            folders::subscribe(c, user, name)?;
            touch(c, fx, user)
        })
    }

    fn unsubscribe_mailbox(&self, user: UserId, name: &MailboxName) -> Result<()> {
        self.write_mail(|c, fx| {
            folders::unsubscribe(c, user, name)?;
            touch(c, fx, user)
        })
    }

    fn subscriptions(&self, user: UserId) -> Result<Vec<MailboxName>> {
        folders::subscriptions(&self.read(), user)
    }

    fn messages_in(&self, mailbox: MailboxId, uids: &UidSet) -> Result<Vec<MessageMeta>> {
        let conn = self.read();
        let tx = conn.unchecked_transaction()?;
        let mut out = Vec::new();
        for &range in uids.ranges() {
            list_message_range(&tx, mailbox, range, &mut out)?;
        }
        Ok(out)
    }

    fn messages_with_cache(
        &self,
        mailbox: MailboxId,
    ) -> Result<Vec<(MessageMeta, Option<Vec<u8>>)>> {
        cache::messages_with_cache(&self.read(), mailbox)
    }

    fn cache_bodies(&self, entries: &[(BlobId, Vec<u8>)]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        // No mail changed: no change log, no notification.
        self.write(|conn| cache::cache_bodies(conn, entries).map(|()| ((), Vec::new())))
    }

    fn store_flags(
        &self,
        mailbox: MailboxId,
        uids: &UidSet,
        change: &FlagChange,
    ) -> Result<FlagsOutcome> {
        self.write_mail(|c, fx| {
            let (outcome, changed) = flags::store_flags(c, mailbox, uids, change)?;
            if changed {
                fx.touched.push(log::touch_owner(c, mailbox)?);
            }
            Ok(outcome)
        })
    }

    fn copy_messages(&self, from: MailboxId, uids: &UidSet, to: MailboxId) -> Result<CopyOutcome> {
        self.write_mail(|c, fx| {
            let (outcome, owner) = transfer::copy(c, (from, to), uids, true)?;
            if !outcome.mapping.is_empty() {
                touch(c, fx, owner)?;
            }
            Ok(outcome)
        })
    }

    fn move_messages(&self, from: MailboxId, uids: &UidSet, to: MailboxId) -> Result<CopyOutcome> {
        self.write_mail(|c, fx| {
            let (outcome, owner, garbage) = transfer::move_messages(c, (from, to), uids)?;
            fx.garbage = garbage;
            if !outcome.mapping.is_empty() {
                touch(c, fx, owner)?;
            }
            Ok(outcome)
        })
    }

    fn expunge_deleted(&self, mailbox: MailboxId, uids: Option<&UidSet>) -> Result<Expunged> {
        self.write_mail(|c, fx| {
            let (expunged, garbage) = transfer::expunge(c, mailbox, uids, true)?;
            fx.garbage = garbage;
            if !expunged.uids.is_empty() {
                fx.touched.push(log::touch_owner(c, mailbox)?);
            }
            Ok(expunged)
        })
    }

    fn changes_since(
        &self,
        mailbox: MailboxId,
        since: u64,
        uids: Option<&UidSet>,
    ) -> Result<Changes> {
        let conn = self.read();
        // Two reads (the log, and the mailbox's UIDs in the fallback) from one snapshot.
        let tx = conn.unchecked_transaction()?;
        changes::changes_since(&tx, mailbox, since, uids)
    }

    fn on_change(
        &self,
        user: UserId,
        callback: Box<dyn Fn() + Send + Sync>,
    ) -> Result<ChangeSubscription> {
        self.ensure_watching()?;
        // The generation now: changes committed after this read are announced later.
        let current = watch::generation(&self.read(), user)?
            .ok_or_else(|| StoreError::UnknownUser(format!("id {}", user.0)))?;
        Ok(self.notifier.subscribe(user, current, callback))
    }
}
