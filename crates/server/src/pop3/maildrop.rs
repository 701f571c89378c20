//! The POP3 view of a mailbox: INBOX as it was at login, with marks for deletion.

use super::read_ahead::ReadAhead;
use hermod_message::unix_now;
use hermod_store::{
    Coordination, Flags, Mail, MailboxInfo, MessageMeta, StoreError, UserId, UserRecord,
};
use hermod_types::MailboxName;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How long a maildrop lock outlives its node: a session renews it well before, so only a
/// node that died leaves a maildrop locked, for at most this long.
const LEASE: i64 = 120;
const RENEW_EVERY: Duration = Duration::from_secs(40);

/// Which maildrops have a session. RFC 1939 8: one session per maildrop at a time, on every
/// node of the store: the lock is a lease in the store's `Coordination` role, renewed while
/// the session lasts.
pub(crate) struct MaildropLocks {
    /// This process, in lease owners' names.
    node: String,
    sessions: AtomicU64,
}

impl Default for MaildropLocks {
    fn default() -> MaildropLocks {
        let mut random = [0u8; 6];
        let _ = getrandom::fill(&mut random);
        let tag: String = random.iter().map(|b| format!("{b:02x}")).collect();
        MaildropLocks {
            node: format!("{}/{tag}", std::process::id()),
            sessions: AtomicU64::new(0),
        }
    }
}

/// Holds a maildrop; [`MaildropLock::release`] frees it at QUIT, and dropping it (the
/// connection died) frees it soon after.
pub(crate) struct MaildropLock {
    store: Arc<dyn Coordination>,
    name: String,
    owner: String,
    renewer: tokio::task::JoinHandle<()>,
    released: bool,
}

impl MaildropLocks {
    /// The maildrop's lock, or `None` while another session (on any node) has it.
    pub async fn try_lock(
        &self,
        store: Arc<dyn Coordination>,
        user: UserId,
    ) -> Result<Option<MaildropLock>, StoreError> {
        let name = format!("pop3-maildrop:{}", user.0);
        let owner = format!(
            "{}/{}",
            self.node,
            self.sessions.fetch_add(1, Ordering::Relaxed)
        );
        let now = unix_now();
        if !store.lease_take(&name, &owner, now, now + LEASE).await? {
            return Ok(None);
        }
        let renewer = tokio::spawn(renew(store.clone(), name.clone(), owner.clone()));
        Ok(Some(MaildropLock {
            store,
            name,
            owner,
            renewer,
            released: false,
        }))
    }
}

/// Extends the lease while the session lasts (the task is aborted when it ends).
async fn renew(store: Arc<dyn Coordination>, name: String, owner: String) {
    loop {
        tokio::time::sleep(RENEW_EVERY).await;
        let now = unix_now();
        match store.lease_take(&name, &owner, now, now + LEASE).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(lock = name, "a POP3 maildrop lock was taken over");
                return;
            }
            Err(e) => tracing::warn!(lock = name, error = %e, "cannot renew a POP3 maildrop lock"),
        }
    }
}

impl MaildropLock {
    /// Frees the maildrop before the session answers QUIT, so a client that logs in again
    /// at once finds it free.
    pub async fn release(&mut self) {
        self.renewer.abort();
        self.released = true;
        if let Err(e) = self.store.lease_release(&self.name, &self.owner).await {
            tracing::warn!(lock = self.name, error = %e, "cannot free a POP3 maildrop lock");
        }
    }
}

impl Drop for MaildropLock {
    fn drop(&mut self) {
        self.renewer.abort();
        if self.released {
            return;
        }
        let (store, name, owner) = (self.store.clone(), self.name.clone(), self.owner.clone());
        tokio::spawn(async move {
            let _ = store.lease_release(&name, &owner).await;
        });
    }
}

pub(crate) struct Maildrop {
    pub user: UserRecord,
    pub mailbox: MailboxInfo,
    /// Fixed for the session: mail arriving later shows up at the next login (RFC 1939).
    pub messages: Vec<MessageMeta>,
    pub deleted: Vec<bool>,
    pub retrieved: Vec<bool>,
    pub ahead: ReadAhead,
    pub lock: MaildropLock,
}

impl Maildrop {
    pub async fn open(
        mail: &dyn Mail,
        user: UserRecord,
        lock: MaildropLock,
    ) -> Result<Maildrop, StoreError> {
        let inbox = MailboxName::inbox();
        let mailbox = mail
            .mailbox(user.id, &inbox)
            .await?
            .ok_or_else(|| StoreError::UnknownMailbox(inbox.to_string()))?;
        let messages = mail.messages(mailbox.id).await?;
        let n = messages.len();
        Ok(Maildrop {
            user,
            mailbox,
            messages,
            deleted: vec![false; n],
            retrieved: vec![false; n],
            ahead: ReadAhead::default(),
            lock,
        })
    }

    /// The message numbered `n` (1-based) unless it is marked deleted.
    pub fn get(&self, n: u32) -> Option<&MessageMeta> {
        let i = (n as usize).checked_sub(1)?;
        if *self.deleted.get(i)? {
            return None;
        }
        self.messages.get(i)
    }

    /// (number, message) for every message not marked deleted.
    pub fn live(&self) -> impl Iterator<Item = (u32, &MessageMeta)> {
        let deleted = &self.deleted;
        self.messages
            .iter()
            .enumerate()
            .filter(move |(i, _)| !deleted[*i])
            .map(|(i, m)| (i as u32 + 1, m))
    }

    /// (number, message) for every message after `n` not marked deleted.
    pub fn live_after(&self, n: u32) -> impl Iterator<Item = (u32, &MessageMeta)> {
        let start = (n as usize).min(self.messages.len());
        self.messages[start..]
            .iter()
            .zip(&self.deleted[start..])
            .zip(n + 1..)
            .filter(|((_, deleted), _)| !**deleted)
            .map(|((m, _), number)| (number, m))
    }

    pub fn stat(&self) -> (usize, u64) {
        self.live()
            .fold((0, 0), |(n, size), (_, m)| (n + 1, size + m.size))
    }

    /// Stable forever for a message: the mailbox's UIDVALIDITY and the message's UID.
    pub fn uidl(&self, message: &MessageMeta) -> String {
        format!("{}.{}", self.mailbox.uid_validity.get(), message.uid.get())
    }

    /// The UPDATE state: marked messages are expunged at once, and retrieved ones get \Seen
    /// so an IMAP client sees them as read. \Seen is added, not set: flags another session
    /// changed meanwhile stay as they are.
    pub async fn commit(&self, mail: &dyn Mail) -> Result<usize, StoreError> {
        let (mut doomed, mut seen) = (Vec::new(), Vec::new());
        for (i, message) in self.messages.iter().enumerate() {
            if self.deleted[i] {
                doomed.push(message.uid);
            } else if self.retrieved[i] && !message.flags.has(Flags::SEEN) {
                seen.push(message.uid);
            }
        }
        // One transaction for all the flags, downloading a full maildrop once marks
        // thousands of messages seen.
        if !seen.is_empty() {
            let flags = Flags {
                bits: Flags::SEEN,
                keywords: Vec::new(),
            };
            mail.add_flags(self.mailbox.id, &seen, flags).await?;
        }
        if !doomed.is_empty() {
            mail.expunge(self.mailbox.id, &doomed).await?;
        }
        Ok(doomed.len())
    }
}
