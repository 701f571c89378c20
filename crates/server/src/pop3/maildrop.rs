//! The POP3 view of a mailbox: INBOX as it was at login, with marks for deletion.

use super::read_ahead::ReadAhead;
use hermod_store::{Flags, Mail, MailboxInfo, MessageMeta, StoreError, UserId, UserRecord};
use hermod_types::MailboxName;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

/// Which maildrops have a session. RFC 1939 8: one session per maildrop at a time.
#[derive(Default)]
pub(crate) struct MaildropLocks(Arc<Mutex<HashSet<UserId>>>);

/// Holds a maildrop; dropping it (at QUIT, or when the connection dies) frees it.
pub(crate) struct MaildropLock {
    locks: Arc<Mutex<HashSet<UserId>>>,
    user: UserId,
}

impl MaildropLocks {
    pub fn try_lock(&self, user: UserId) -> Option<MaildropLock> {
        let mut held = self.0.lock().unwrap_or_else(|e| e.into_inner());
        held.insert(user).then(|| MaildropLock {
            locks: self.0.clone(),
            user,
        })
    }
}

impl Drop for MaildropLock {
    fn drop(&mut self) {
        self.locks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.user);
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
    _lock: MaildropLock,
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
            _lock: lock,
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
