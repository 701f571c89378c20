//! Messages: UIDs, MODSEQ, flags, expunge, resynchronization, copy and move, quota, STATUS.

use super::*;
use hermod_store::{FlagChange, FlagOp, UidSet};
use std::sync::Barrier;

fn store_op(op: FlagOp, flags: Flags, guard: Option<u64>) -> FlagChange {
    FlagChange {
        op,
        flags,
        unchanged_since: guard,
    }
}

fn uids_of(b: &dyn Backend, mailbox: hermod_store::MailboxId) -> Vec<u32> {
    b.mail()
        .messages_in(mailbox, &UidSet::all())
        .unwrap()
        .iter()
        .map(|m| m.uid.get())
        .collect()
}

/// Threads delivering at once: every message gets its own UID, ascending with its MODSEQ,
/// none lost, and UIDNEXT/HIGHESTMODSEQ agree.
pub fn uids_are_unique_and_ordered_under_concurrent_appends(b: &dyn Backend) {
    let alice = user(b, "alice", None);
    std::thread::scope(|s| {
        for t in 0..8 {
            s.spawn(move || {
                for n in 0..25 {
                    let body = format!("m {t} {n}\r\n");
                    deliver_to(b.store(), alice, "INBOX", body.as_bytes(), Flags::default())
                        .unwrap();
                }
            });
        }
    });
    let inbox = mailbox(b, alice, "INBOX");
    let messages = b.mail().messages_in(inbox.id, &UidSet::all()).unwrap();
    let uids: Vec<u32> = messages.iter().map(|m| m.uid.get()).collect();
    assert_eq!(uids, (1..=200).collect::<Vec<_>>());
    assert!(
        messages.windows(2).all(|w| w[0].modseq < w[1].modseq),
        "a later UID has a later MODSEQ"
    );
    assert_eq!(inbox.uid_next, 201);
    assert_eq!(inbox.highest_modseq, messages.last().unwrap().modseq);
}

/// Every kind of change (append, flags, copy, expunge; by IMAP or by the POP3/SMTP paths)
/// takes a new, greater HIGHESTMODSEQ, and a STORE that changes nothing takes none.
pub fn every_change_bumps_modseq_and_nothing_bypasses_the_log(b: &dyn Backend) {
    let alice = user(b, "alice", None);
    let mut last = mailbox(b, alice, "INBOX").highest_modseq;
    let mut step = |what: &str, expect_change: bool| {
        let now = mailbox(b, alice, "INBOX").highest_modseq;
        if expect_change {
            assert!(now > last, "{what}: {now} > {last}");
        } else {
            assert_eq!(now, last, "{what} changed nothing");
        }
        last = now;
    };
    let uids = fill(b, alice, 3);
    step("deliver", true);
    let inbox = mailbox(b, alice, "INBOX").id;
    let seen = store_op(FlagOp::Add, flags(Flags::SEEN, &[]), None);
    b.mail()
        .store_flags(inbox, &UidSet::range(1, 1), &seen)
        .unwrap();
    step("+FLAGS", true);
    b.mail()
        .store_flags(inbox, &UidSet::range(1, 1), &seen)
        .unwrap();
    step("+FLAGS again", false);
    b.store()
        .set_flags(inbox, &[uids[1]], flags(Flags::FLAGGED, &[]))
        .unwrap();
    step("Store::set_flags", true);
    let trash = mailbox(b, alice, "Trash").id;
    b.mail()
        .copy_messages(inbox, &UidSet::range(1, 3), trash)
        .unwrap();
    step("copy out (source unchanged)", false);
    b.store().expunge(inbox, &[uids[2]]).unwrap();
    step("Store::expunge", true);
    let changes = b.mail().changes_since(inbox, 0, None).unwrap();
    let changed: Vec<u32> = changes.changed.iter().map(|m| m.uid.get()).collect();
    assert_eq!(changed, [1, 2]);
    assert_eq!(changes.vanished.to_string(), "3");
    assert!(changes.changed[1].flags.has(Flags::FLAGGED));
    assert_eq!(changes.highest_modseq, last);
}

/// +FLAGS, -FLAGS and FLAGS on a UID set, with keywords; the new state comes back per
/// message and matches what a listing shows.
pub fn flags_and_keywords_change_atomically(b: &dyn Backend) {
    let alice = user(b, "alice", None);
    fill(b, alice, 4);
    let inbox = mailbox(b, alice, "INBOX").id;
    let mut set = UidSet::range(1, 2);
    set.insert(uid(4));
    let add = store_op(FlagOp::Add, flags(Flags::SEEN, &["$Work", "Later"]), None);
    let outcome = b.mail().store_flags(inbox, &set, &add).unwrap();
    let touched: Vec<u32> = outcome.updated.iter().map(|m| m.uid.get()).collect();
    assert_eq!(touched, [1, 2, 4]);
    assert!(
        outcome
            .updated
            .iter()
            .all(|m| m.modseq == outcome.highest_modseq)
    );
    let remove = store_op(FlagOp::Remove, flags(0, &["later"]), None);
    let outcome = b.mail().store_flags(inbox, &set, &remove).unwrap();
    assert_eq!(outcome.updated[0].flags, flags(Flags::SEEN, &["$Work"]));
    let replace = store_op(FlagOp::Replace, flags(Flags::DRAFT, &[]), None);
    b.mail()
        .store_flags(inbox, &UidSet::range(4, 4), &replace)
        .unwrap();
    let listed = b.mail().messages_in(inbox, &UidSet::all()).unwrap();
    let state: Vec<(u32, Flags)> = listed
        .iter()
        .map(|m| (m.uid.get(), m.flags.clone()))
        .collect();
    assert_eq!(
        state,
        [
            (1, flags(Flags::SEEN, &["$Work"])),
            (2, flags(Flags::SEEN, &["$Work"])),
            (3, Flags::default()),
            (4, flags(Flags::DRAFT, &[])),
        ]
    );
    let before = mailbox(b, alice, "INBOX").highest_modseq;
    let bad = store_op(FlagOp::Add, flags(Flags::SEEN, &["two words"]), None);
    assert!(matches!(
        b.mail().store_flags(inbox, &UidSet::all(), &bad),
        Err(StoreError::BadKeyword(_))
    ));
    assert_eq!(mailbox(b, alice, "INBOX").highest_modseq, before);
    assert!(
        !b.mail().messages_in(inbox, &UidSet::range(3, 3)).unwrap()[0]
            .flags
            .has(Flags::SEEN)
    );
}

/// RFC 7162 3.1.3: two sessions store with the same UNCHANGEDSINCE; exactly one wins, the
/// other is told the message was modified and changes nothing. Once within one handle, once
/// across two handles (two processes).
pub fn unchanged_since_lets_exactly_one_writer_win(b: &dyn Backend) {
    let alice = user(b, "alice", None);
    fill(b, alice, 1);
    let inbox = mailbox(b, alice, "INBOX").id;
    let second = b.second();
    for round in 0..6 {
        let guard = b.mail().messages_in(inbox, &UidSet::all()).unwrap()[0].modseq;
        let barrier = Barrier::new(2);
        let other: &dyn MailStore = if round % 2 == 0 {
            b.mail()
        } else {
            second.mail()
        };
        // Fresh keywords each round: a STORE that changes nothing would not conflict.
        let keywords = [format!("$A{round}"), format!("$B{round}")];
        let outcomes: Vec<_> = std::thread::scope(|s| {
            let writers = [(b.mail(), &keywords[0]), (other, &keywords[1])];
            let writers = writers.map(|(mail, keyword)| {
                let barrier = &barrier;
                s.spawn(move || {
                    let change = store_op(FlagOp::Replace, flags(0, &[keyword]), Some(guard));
                    barrier.wait();
                    let outcome = mail.store_flags(inbox, &UidSet::all(), &change).unwrap();
                    (keyword.as_str(), outcome)
                })
            });
            writers.map(|w| w.join().unwrap()).to_vec()
        });
        let winners: Vec<_> = outcomes
            .iter()
            .filter(|(_, o)| o.modified.is_empty())
            .collect();
        let losers: Vec<_> = outcomes
            .iter()
            .filter(|(_, o)| !o.modified.is_empty())
            .collect();
        assert_eq!((winners.len(), losers.len()), (1, 1), "round {round}");
        assert_eq!(losers[0].1.modified.to_string(), "1");
        assert!(losers[0].1.updated.is_empty());
        let now = b
            .mail()
            .messages_in(inbox, &UidSet::all())
            .unwrap()
            .remove(0);
        assert_eq!(
            now.flags,
            flags(0, &[winners[0].0]),
            "the winner's flags stay"
        );
        assert!(now.modseq > guard);
    }
}

/// EXPUNGE removes only `\Deleted` messages (within the UID set for UID EXPUNGE), and the
/// removed UIDs stay answerable as VANISHED for a client resynchronizing from before.
pub fn expunged_uids_are_reported_as_vanished(b: &dyn Backend) {
    let alice = user(b, "alice", None);
    fill(b, alice, 6);
    let inbox = mailbox(b, alice, "INBOX").id;
    let mark = mailbox(b, alice, "INBOX").highest_modseq;
    let deleted = store_op(FlagOp::Add, flags(Flags::DELETED, &[]), None);
    let mut doomed = UidSet::range(2, 4);
    doomed.insert(uid(6));
    b.mail().store_flags(inbox, &doomed, &deleted).unwrap();
    let seen = store_op(FlagOp::Add, flags(Flags::SEEN, &[]), None);
    b.mail()
        .store_flags(inbox, &UidSet::range(5, 5), &seen)
        .unwrap();
    let partial = b
        .mail()
        .expunge_deleted(inbox, Some(&UidSet::range(1, 3)))
        .unwrap();
    assert_eq!(
        partial.uids,
        [uid(2), uid(3)],
        "UID EXPUNGE stays in its set"
    );
    let rest = b.mail().expunge_deleted(inbox, None).unwrap();
    assert_eq!(rest.uids, [uid(4), uid(6)]);
    assert!(rest.highest_modseq > partial.highest_modseq);
    assert_eq!(uids_of(b, inbox), [1, 5]);

    let changes = b.mail().changes_since(inbox, mark, None).unwrap();
    assert_eq!(changes.vanished.to_string(), "2:4,6");
    let changed: Vec<u32> = changes.changed.iter().map(|m| m.uid.get()).collect();
    assert_eq!(changed, [5], "uid 1 did not change since");
    let known = UidSet::range(3, 5);
    let within = b.mail().changes_since(inbox, mark, Some(&known)).unwrap();
    assert_eq!(within.vanished.to_string(), "3:4");
    let later = b
        .mail()
        .changes_since(inbox, rest.highest_modseq, None)
        .unwrap();
    assert!(later.vanished.is_empty() && later.changed.is_empty());
    let nothing = b.mail().expunge_deleted(inbox, None).unwrap();
    assert!(nothing.uids.is_empty());
    assert_eq!(
        nothing.highest_modseq, rest.highest_modseq,
        "no change, no MODSEQ"
    );
}

/// COPY and MOVE keep one stored body: the copies name the same body, which stays readable
/// from the destination after every original is expunged.
pub fn copy_and_move_share_one_body(b: &dyn Backend) {
    let alice = user(b, "alice", None);
    let big = vec![b'x'; hermod_store::INLINE_MAX + 100];
    let small = b"Subject: small\r\n\r\nhi\r\n".to_vec();
    for body in [&big, &small] {
        deliver_to(b.store(), alice, "INBOX", body, flags(Flags::SEEN, &["$K"])).unwrap();
    }
    let total = (big.len() + small.len()) as u64;
    let (inbox, trash) = (mailbox(b, alice, "INBOX").id, mailbox(b, alice, "Trash"));
    let copied = b
        .mail()
        .copy_messages(inbox, &UidSet::all(), trash.id)
        .unwrap();
    assert_eq!(copied.uid_validity, trash.uid_validity);
    assert_eq!(copied.mapping, [(uid(1), uid(1)), (uid(2), uid(2))]);
    assert_eq!(
        used(b, "alice"),
        2 * total,
        "copies count against the quota"
    );
    let originals = b.mail().messages_in(inbox, &UidSet::all()).unwrap();
    let copies = b.mail().messages_in(trash.id, &UidSet::all()).unwrap();
    for (original, copy) in originals.iter().zip(&copies) {
        assert_eq!(copy.blob, original.blob, "one stored body");
        assert_eq!(
            (copy.flags.clone(), copy.internal_date, copy.size),
            (
                original.flags.clone(),
                original.internal_date,
                original.size
            )
        );
    }
    let sent = mailbox(b, alice, "Sent");
    let moved = b
        .mail()
        .move_messages(trash.id, &UidSet::range(2, 2), sent.id)
        .unwrap();
    assert_eq!(moved.mapping, [(uid(2), uid(1))]);
    assert_eq!(moved.uid_validity, sent.uid_validity);
    assert_eq!(uids_of(b, trash.id), [1]);
    let vanished = b.mail().changes_since(trash.id, 0, None).unwrap().vanished;
    assert_eq!(vanished.to_string(), "2", "a move expunges the source");
    assert_eq!(used(b, "alice"), 2 * total, "a move does not grow usage");

    b.store().expunge(inbox, &[uid(1), uid(2)]).unwrap();
    assert_eq!(read_body(b.store(), &copies[0].blob), big);
    let moved_meta = b.mail().messages_in(sent.id, &UidSet::all()).unwrap();
    assert_eq!(read_body(b.store(), &moved_meta[0].blob), small);
    assert_eq!(used(b, "alice"), total);
}

/// Copies respect the quota (all or nothing); a move near the limit still works; another
/// user's mailbox is not a destination.
pub fn copies_count_against_the_quota(b: &dyn Backend) {
    let body = vec![b'q'; 100];
    let alice = user(b, "alice", Some(250));
    let bob = user(b, "bob", None);
    for _ in 0..2 {
        deliver_to(b.store(), alice, "INBOX", &body, Flags::default()).unwrap();
    }
    let (inbox, trash) = (mailbox(b, alice, "INBOX").id, mailbox(b, alice, "Trash").id);
    let err = b
        .mail()
        .copy_messages(inbox, &UidSet::all(), trash)
        .unwrap_err();
    assert!(matches!(err, StoreError::OverQuota(_)), "{err}");
    assert!(uids_of(b, trash).is_empty(), "nothing copied");
    assert_eq!(used(b, "alice"), 200);
    b.mail()
        .move_messages(inbox, &UidSet::all(), trash)
        .unwrap();
    assert_eq!((uids_of(b, trash).len(), used(b, "alice")), (2, 200));
    let theirs = mailbox(b, bob, "INBOX").id;
    assert!(matches!(
        b.mail().copy_messages(trash, &UidSet::all(), theirs),
        Err(StoreError::UnknownMailbox(_))
    ));
    assert!(uids_of(b, theirs).is_empty());
}

/// Deliveries and copies racing for the last bytes of a quota never exceed it.
pub fn quota_holds_under_concurrent_delivery(b: &dyn Backend) {
    let body = vec![b'z'; 1000];
    let alice = user(b, "alice", Some(20_500));
    deliver_to(b.store(), alice, "INBOX", &body, Flags::default()).unwrap();
    let (inbox, trash) = (mailbox(b, alice, "INBOX").id, mailbox(b, alice, "Trash").id);
    std::thread::scope(|s| {
        for _ in 0..6 {
            s.spawn(|| {
                for _ in 0..6 {
                    match deliver_to(b.store(), alice, "INBOX", &body, Flags::default()) {
                        Ok(_) | Err(StoreError::OverQuota(_)) => {}
                        Err(e) => panic!("{e}"),
                    }
                }
            });
        }
        s.spawn(|| {
            for _ in 0..10 {
                match b.mail().copy_messages(inbox, &UidSet::range(1, 1), trash) {
                    Ok(_) | Err(StoreError::OverQuota(_)) => {}
                    Err(e) => panic!("{e}"),
                }
            }
        });
    });
    let stored = (uids_of(b, inbox).len() + uids_of(b, trash).len()) as u64;
    assert_eq!(stored, 20, "filled to the quota, not beyond");
    assert_eq!(used(b, "alice"), stored * 1000);
}

/// STATUS counts agree with a full listing.
pub fn status_matches_a_full_listing(b: &dyn Backend) {
    let alice = user(b, "alice", None);
    let cases = [
        (Flags::SEEN, 10usize),
        (0, 20),
        (Flags::DELETED, 30),
        (Flags::SEEN | Flags::DELETED, 40),
        (Flags::FLAGGED, 50),
    ];
    for (bits, size) in cases {
        let body = vec![b's'; size];
        deliver_to(b.store(), alice, "Drafts", &body, flags(bits, &[])).unwrap();
    }
    let drafts = mailbox(b, alice, "Drafts");
    b.store().expunge(drafts.id, &[uid(5)]).unwrap();
    let status = b
        .mail()
        .mailbox_status(alice, &name("Drafts"))
        .unwrap()
        .unwrap();
    let listed = b.mail().messages_in(drafts.id, &UidSet::all()).unwrap();
    let count = |f: &dyn Fn(&hermod_store::MessageMeta) -> bool| {
        listed.iter().filter(|m| f(m)).count() as u32
    };
    assert_eq!(status.messages, listed.len() as u32);
    assert_eq!(status.messages, 4);
    assert_eq!(status.unseen, count(&|m| !m.flags.has(Flags::SEEN)));
    assert_eq!(status.unseen, 2);
    assert_eq!(status.deleted, 2);
    assert_eq!(status.size, listed.iter().map(|m| m.size).sum::<u64>());
    assert_eq!(status.size, 100);
    assert_eq!(status.mailbox, mailbox(b, alice, "Drafts"));
    assert_eq!(status.mailbox.uid_next, 6);
    let empty = b
        .mail()
        .mailbox_status(alice, &name("Junk"))
        .unwrap()
        .unwrap();
    assert_eq!((empty.messages, empty.unseen, empty.size), (0, 0, 0));
    assert!(
        b.mail()
            .mailbox_status(alice, &name("Nope"))
            .unwrap()
            .is_none()
    );
}

/// A UID range lists only that range.
pub fn messages_in_lists_a_uid_range(b: &dyn Backend) {
    let alice = user(b, "alice", None);
    fill(b, alice, 10);
    let inbox = mailbox(b, alice, "INBOX").id;
    let mut set = UidSet::range(3, 5);
    set.insert_range(9, u32::MAX);
    let got: Vec<u32> = b
        .mail()
        .messages_in(inbox, &set)
        .unwrap()
        .iter()
        .map(|m| m.uid.get())
        .collect();
    assert_eq!(got, [3, 4, 5, 9, 10]);
    assert!(
        b.mail()
            .messages_in(inbox, &UidSet::new())
            .unwrap()
            .is_empty()
    );
}
