//! `\Recent` (RFC 3501 2.3.2) for IMAP4rev1 sessions: a message is recent in the first
//! read-write session told about it, and in no later one. IMAP4rev2 dropped the flag
//! (RFC 9051 appendix E), so a session that enabled it neither sees nor claims any.
//!
//! Each mailbox has a floor: the first UID no read-write session has claimed. A session
//! that selects the mailbox, or is told of new messages, claims every UID below the
//! highest it now knows; what it took from the floor up is recent there. A read-only
//! session (EXAMINE) looks without claiming. The floors live in this process's memory:
//! after a restart, or on another node of a PostgreSQL store, the first session sees the
//! messages no one here has claimed as recent, which the RFC asks for when it "is not
//! possible to determine whether or not this session is the first session to be
//! notified about a message". A floor is kept by mailbox id and UIDVALIDITY: a mailbox
//! deleted and created again may get its old id back, never its old UIDVALIDITY.

use hermod_store::{MailboxId, MailboxInfo, UidSet};
use hermod_types::Uid;
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Default)]
pub(crate) struct RecentFloors {
    floors: Mutex<HashMap<(MailboxId, u32), u32>>,
}

fn key(mailbox: &MailboxInfo) -> (MailboxId, u32) {
    (mailbox.id, mailbox.uid_validity.get())
}

impl RecentFloors {
    /// Claims the UIDs of `mailbox` up to `last` for a read-write session; returns the
    /// first UID it claimed (the ones from there to `last` are recent in that session).
    pub fn claim(&self, mailbox: &MailboxInfo, last: u32) -> u32 {
        let mut floors = self.floors.lock().unwrap_or_else(|e| e.into_inner());
        let floor = floors.entry(key(mailbox)).or_insert(1);
        let first = *floor;
        *floor = first.max(last.saturating_add(1));
        first
    }

    /// The first UID of `mailbox` no read-write session has claimed.
    pub fn floor(&self, mailbox: &MailboxInfo) -> u32 {
        let floors = self.floors.lock().unwrap_or_else(|e| e.into_inner());
        floors.get(&key(mailbox)).copied().unwrap_or(1)
    }
}

/// The UIDs of `uids` (ascending) a session gains as recent: claimed by a read-write
/// session, only looked at by a read-only one.
pub(super) fn gained(
    floors: &RecentFloors,
    mailbox: &MailboxInfo,
    uids: &[Uid],
    read_only: bool,
) -> UidSet {
    let Some(last) = uids.last() else {
        return UidSet::new();
    };
    let first = match read_only {
        true => floors.floor(mailbox),
        false => floors.claim(mailbox, last.get()),
    };
    let from = uids.partition_point(|u| u.get() < first);
    uids[from..].iter().copied().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uids(list: &[u32]) -> Vec<Uid> {
        list.iter().map(|&u| Uid::new(u).unwrap()).collect()
    }

    fn mailbox(id: i64, uid_validity: u32) -> MailboxInfo {
        MailboxInfo {
            id: MailboxId(id),
            name: hermod_types::MailboxName::inbox(),
            uid_validity: hermod_types::UidValidity::new(uid_validity).unwrap(),
            uid_next: 1,
            highest_modseq: 1,
            special_use: None,
        }
    }

    #[test]
    fn each_message_is_recent_in_one_read_write_session() {
        let floors = RecentFloors::default();
        let inbox = mailbox(1, 7);
        let looked = gained(&floors, &inbox, &uids(&[1, 2, 3]), true);
        assert_eq!(
            looked.to_string(),
            "1:3",
            "EXAMINE sees them without taking them"
        );
        let first = gained(&floors, &inbox, &uids(&[1, 2, 3]), false);
        assert_eq!(first.to_string(), "1:3");
        assert!(gained(&floors, &inbox, &uids(&[1, 2, 3]), false).is_empty());
        assert!(gained(&floors, &inbox, &uids(&[1, 2, 3]), true).is_empty());
        let later = gained(&floors, &inbox, &uids(&[5, 7]), false);
        assert_eq!(later.to_string(), "5,7");
        assert_eq!(floors.floor(&inbox), 8);
        assert_eq!(
            floors.floor(&mailbox(2, 7)),
            1,
            "other mailboxes are untouched"
        );
        assert_eq!(
            floors.floor(&mailbox(1, 8)),
            1,
            "a new mailbox with an old id too"
        );
    }
}
