//! Messages: UIDs, MODSEQ, flags, expunge, resynchronization, copy and move, quota, STATUS,
//! reading bodies.

use super::*;
use hermod_store::{FlagChange, FlagOp, MailboxId, MessageMeta, UidSet};

fn store_op(op: FlagOp, flags: Flags, guard: Option<u64>) -> FlagChange {
    FlagChange {
        op,
        flags,
        unchanged_since: guard,
    }
}

async fn uids_of(b: &dyn Backend, mailbox: MailboxId) -> Vec<u32> {
    b.store()
        .messages_in(mailbox, &UidSet::all())
        .await
        .unwrap()
        .iter()
        .map(|m| m.uid.get())
        .collect()
}

/// Tasks delivering at once: every message gets its own UID, ascending with its MODSEQ,
/// none lost, and UIDNEXT/HIGHESTMODSEQ agree.
pub async fn uids_are_unique_and_ordered_under_concurrent_appends(b: &dyn Backend) {
    let alice = user(b, "alice", None).await;
    let writers: Vec<_> = (0..8)
        .map(|t| {
            let store = b.store();
            tokio::spawn(async move {
                for n in 0..25 {
                    let body = format!("m {t} {n}\r\n");
                    deliver_to(&*store, alice, "INBOX", body.as_bytes(), Flags::default())
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    let inbox = mailbox(b, alice, "INBOX").await;
    let messages = b
        .store()
        .messages_in(inbox.id, &UidSet::all())
        .await
        .unwrap();
    let uids: Vec<u32> = messages.iter().map(|m| m.uid.get()).collect();
    assert_eq!(uids, (1..=200).collect::<Vec<_>>());
    assert!(
        messages.windows(2).all(|w| w[0].modseq < w[1].modseq),
        "a later UID has a later MODSEQ"
    );
    assert_eq!(inbox.uid_next, 201);
    assert_eq!(inbox.highest_modseq, messages.last().unwrap().modseq);
    assert_eq!(b.store().messages(inbox.id).await.unwrap(), messages);
}

/// Every kind of change (append, flags, copy, expunge; by IMAP or by the POP3/SMTP paths)
/// takes a new, greater HIGHESTMODSEQ, and a STORE that changes nothing takes none.
pub async fn every_change_bumps_modseq_and_nothing_bypasses_the_log(b: &dyn Backend) {
    let s = b.store();
    let alice = user(b, "alice", None).await;
    let highest = async || mailbox(b, alice, "INBOX").await.highest_modseq;
    let mut last = highest().await;
    let mut step = |now: u64, what: &str, expect_change: bool| {
        if expect_change {
            assert!(now > last, "{what}: {now} > {last}");
        } else {
            assert_eq!(now, last, "{what} changed nothing");
        }
        last = now;
    };
    let uids = fill(b, alice, 3).await;
    step(highest().await, "deliver", true);
    let inbox = mailbox(b, alice, "INBOX").await.id;
    let seen = store_op(FlagOp::Add, flags(Flags::SEEN, &[]), None);
    s.store_flags(inbox, &UidSet::range(1, 1), &seen)
        .await
        .unwrap();
    step(highest().await, "+FLAGS", true);
    s.store_flags(inbox, &UidSet::range(1, 1), &seen)
        .await
        .unwrap();
    step(highest().await, "+FLAGS again", false);
    s.add_flags(inbox, &[uids[1]], flags(Flags::FLAGGED, &[]))
        .await
        .unwrap();
    step(highest().await, "Mail::add_flags", true);
    s.add_flags(inbox, &[uids[1]], flags(Flags::FLAGGED, &[]))
        .await
        .unwrap();
    step(highest().await, "Mail::add_flags again", false);
    let trash = mailbox(b, alice, "Trash").await.id;
    s.copy_messages(inbox, &UidSet::range(1, 3), trash)
        .await
        .unwrap();
    step(highest().await, "copy out (source unchanged)", false);
    s.expunge(inbox, &[uids[2]]).await.unwrap();
    step(highest().await, "Mail::expunge", true);
    let changes = s.changes_since(inbox, 0, None).await.unwrap();
    let changed: Vec<u32> = changes.changed.iter().map(|m| m.uid.get()).collect();
    assert_eq!(changed, [1, 2]);
    assert_eq!(changes.vanished.to_string(), "3");
    assert!(changes.changed[1].flags.has(Flags::FLAGGED));
    assert_eq!(changes.highest_modseq, last);
}

/// +FLAGS, -FLAGS and FLAGS on a UID set, with keywords; the new state comes back per
/// message and matches what a listing shows.
pub async fn flags_and_keywords_change_atomically(b: &dyn Backend) {
    let s = b.store();
    let alice = user(b, "alice", None).await;
    fill(b, alice, 4).await;
    let inbox = mailbox(b, alice, "INBOX").await.id;
    let mut set = UidSet::range(1, 2);
    set.insert(uid(4));
    let add = store_op(FlagOp::Add, flags(Flags::SEEN, &["$Work", "Later"]), None);
    let outcome = s.store_flags(inbox, &set, &add).await.unwrap();
    let touched: Vec<u32> = outcome.updated.iter().map(|m| m.uid.get()).collect();
    assert_eq!(touched, [1, 2, 4]);
    assert!(
        outcome
            .updated
            .iter()
            .all(|m| m.modseq == outcome.highest_modseq)
    );
    let remove = store_op(FlagOp::Remove, flags(0, &["later"]), None);
    let outcome = s.store_flags(inbox, &set, &remove).await.unwrap();
    assert_eq!(outcome.updated[0].flags, flags(Flags::SEEN, &["$Work"]));
    let replace = store_op(FlagOp::Replace, flags(Flags::DRAFT, &[]), None);
    s.store_flags(inbox, &UidSet::range(4, 4), &replace)
        .await
        .unwrap();
    let listed = s.messages_in(inbox, &UidSet::all()).await.unwrap();
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
    let before = mailbox(b, alice, "INBOX").await.highest_modseq;
    let bad = store_op(FlagOp::Add, flags(Flags::SEEN, &["two words"]), None);
    assert!(matches!(
        s.store_flags(inbox, &UidSet::all(), &bad).await,
        Err(StoreError::BadKeyword(_))
    ));
    assert_eq!(mailbox(b, alice, "INBOX").await.highest_modseq, before);
    let third = s.messages_in(inbox, &UidSet::range(3, 3)).await.unwrap();
    assert!(!third[0].flags.has(Flags::SEEN));
}

/// POP3's QUIT: `add_flags` adds to what is set (flags and keywords stay), on exactly the
/// given messages.
pub async fn add_flags_keeps_what_is_set(b: &dyn Backend) {
    let s = b.store();
    let alice = user(b, "alice", None).await;
    let body = b"Subject: k\r\n\r\nk\r\n";
    let kept = flags(Flags::FLAGGED | Flags::ANSWERED, &["$Label1"]);
    deliver_to(&*s, alice, "INBOX", body, kept.clone())
        .await
        .unwrap();
    fill(b, alice, 2).await;
    let inbox = mailbox(b, alice, "INBOX").await.id;
    s.add_flags(inbox, &[uid(1), uid(3)], flags(Flags::SEEN, &[]))
        .await
        .unwrap();
    let listed = s.messages(inbox).await.unwrap();
    let mut expected = kept;
    expected.bits |= Flags::SEEN;
    assert_eq!(listed[0].flags, expected, "flags and keywords stay");
    assert_eq!(listed[1].flags, Flags::default(), "not asked for");
    assert_eq!(listed[2].flags, flags(Flags::SEEN, &[]));
}

/// RFC 7162 3.1.3: two sessions store with the same UNCHANGEDSINCE; exactly one wins, the
/// other is told the message was modified and changes nothing. Once within one handle, once
/// across two handles (two processes).
pub async fn unchanged_since_lets_exactly_one_writer_win(b: &dyn Backend) {
    let alice = user(b, "alice", None).await;
    fill(b, alice, 1).await;
    let inbox = mailbox(b, alice, "INBOX").await.id;
    let second = b.second().await;
    for round in 0..6 {
        let guard = b.store().messages(inbox).await.unwrap()[0].modseq;
        let barrier = Arc::new(tokio::sync::Barrier::new(2));
        let other = if round % 2 == 0 {
            b.store()
        } else {
            second.store()
        };
        // Fresh keywords each round: a STORE that changes nothing would not conflict.
        let writers = [
            (b.store(), format!("$A{round}")),
            (other, format!("$B{round}")),
        ];
        let writers = writers.map(|(store, keyword)| {
            let barrier = barrier.clone();
            tokio::spawn(async move {
                let change = store_op(FlagOp::Replace, flags(0, &[&keyword]), Some(guard));
                barrier.wait().await;
                let outcome = store.store_flags(inbox, &UidSet::all(), &change).await;
                (keyword, outcome.unwrap())
            })
        });
        let mut outcomes = Vec::new();
        for writer in writers {
            outcomes.push(writer.await.unwrap());
        }
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
        let now = b.store().messages(inbox).await.unwrap().remove(0);
        assert_eq!(
            now.flags,
            flags(0, &[&winners[0].0]),
            "the winner's flags stay"
        );
        assert!(now.modseq > guard);
    }
}

/// EXPUNGE removes only `\Deleted` messages (within the UID set for UID EXPUNGE), and the
/// removed UIDs stay answerable as VANISHED for a client resynchronizing from before.
pub async fn expunged_uids_are_reported_as_vanished(b: &dyn Backend) {
    let s = b.store();
    let alice = user(b, "alice", None).await;
    fill(b, alice, 6).await;
    let inbox = mailbox(b, alice, "INBOX").await.id;
    let mark = mailbox(b, alice, "INBOX").await.highest_modseq;
    let deleted = store_op(FlagOp::Add, flags(Flags::DELETED, &[]), None);
    let mut doomed = UidSet::range(2, 4);
    doomed.insert(uid(6));
    s.store_flags(inbox, &doomed, &deleted).await.unwrap();
    let seen = store_op(FlagOp::Add, flags(Flags::SEEN, &[]), None);
    s.store_flags(inbox, &UidSet::range(5, 5), &seen)
        .await
        .unwrap();
    let partial = s
        .expunge_deleted(inbox, Some(&UidSet::range(1, 3)))
        .await
        .unwrap();
    assert_eq!(
        partial.uids,
        [uid(2), uid(3)],
        "UID EXPUNGE stays in its set"
    );
    let rest = s.expunge_deleted(inbox, None).await.unwrap();
    assert_eq!(rest.uids, [uid(4), uid(6)]);
    assert!(rest.highest_modseq > partial.highest_modseq);
    assert_eq!(uids_of(b, inbox).await, [1, 5]);

    let changes = s.changes_since(inbox, mark, None).await.unwrap();
    assert_eq!(changes.vanished.to_string(), "2:4,6");
    let changed: Vec<u32> = changes.changed.iter().map(|m| m.uid.get()).collect();
    assert_eq!(changed, [5], "uid 1 did not change since");
    let known = UidSet::range(3, 5);
    let within = s.changes_since(inbox, mark, Some(&known)).await.unwrap();
    assert_eq!(within.vanished.to_string(), "3:4");
    let later = s
        .changes_since(inbox, rest.highest_modseq, None)
        .await
        .unwrap();
    assert!(later.vanished.is_empty() && later.changed.is_empty());
    let nothing = s.expunge_deleted(inbox, None).await.unwrap();
    assert!(nothing.uids.is_empty());
    assert_eq!(
        nothing.highest_modseq, rest.highest_modseq,
        "no change, no MODSEQ"
    );
}

/// COPY and MOVE keep one stored body: the copies name the same body, which stays readable
/// from the destination after every original is expunged.
pub async fn copy_and_move_share_one_body(b: &dyn Backend) {
    let s = b.store();
    let alice = user(b, "alice", None).await;
    let big = vec![b'x'; hermod_store::INLINE_MAX + 100];
    let small = b"Subject: small\r\n\r\nhi\r\n".to_vec();
    for body in [&big, &small] {
        deliver_to(&*s, alice, "INBOX", body, flags(Flags::SEEN, &["$K"]))
            .await
            .unwrap();
    }
    let total = (big.len() + small.len()) as u64;
    let inbox = mailbox(b, alice, "INBOX").await.id;
    let trash = mailbox(b, alice, "Trash").await;
    let copied = s
        .copy_messages(inbox, &UidSet::all(), trash.id)
        .await
        .unwrap();
    assert_eq!(copied.uid_validity, trash.uid_validity);
    assert_eq!(copied.mapping, [(uid(1), uid(1)), (uid(2), uid(2))]);
    assert_eq!(
        used(b, "alice").await,
        2 * total,
        "copies count against the quota"
    );
    let originals = s.messages_in(inbox, &UidSet::all()).await.unwrap();
    let copies = s.messages_in(trash.id, &UidSet::all()).await.unwrap();
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
    let sent = mailbox(b, alice, "Sent").await;
    let moved = s
        .move_messages(trash.id, &UidSet::range(2, 2), sent.id)
        .await
        .unwrap();
    assert_eq!(moved.mapping, [(uid(2), uid(1))]);
    assert_eq!(moved.uid_validity, sent.uid_validity);
    assert_eq!(uids_of(b, trash.id).await, [1]);
    let vanished = s.changes_since(trash.id, 0, None).await.unwrap().vanished;
    assert_eq!(vanished.to_string(), "2", "a move expunges the source");
    assert_eq!(
        used(b, "alice").await,
        2 * total,
        "a move does not grow usage"
    );

    s.expunge(inbox, &[uid(1), uid(2)]).await.unwrap();
    assert_eq!(read_body(&*s, &copies[0].blob).await, big);
    let moved_meta = s.messages_in(sent.id, &UidSet::all()).await.unwrap();
    assert_eq!(read_body(&*s, &moved_meta[0].blob).await, small);
    assert_eq!(used(b, "alice").await, total);
}

/// Copies respect the quota (all or nothing); a move near the limit still works; another
/// user's mailbox is not a destination.
pub async fn copies_count_against_the_quota(b: &dyn Backend) {
    let s = b.store();
    let body = vec![b'q'; 100];
    let alice = user(b, "alice", Some(250)).await;
    let bob = user(b, "bob", None).await;
    for _ in 0..2 {
        deliver_to(&*s, alice, "INBOX", &body, Flags::default())
            .await
            .unwrap();
    }
    let inbox = mailbox(b, alice, "INBOX").await.id;
    let trash = mailbox(b, alice, "Trash").await.id;
    let err = s
        .copy_messages(inbox, &UidSet::all(), trash)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::OverQuota(_)), "{err}");
    assert!(uids_of(b, trash).await.is_empty(), "nothing copied");
    assert_eq!(used(b, "alice").await, 200);
    s.move_messages(inbox, &UidSet::all(), trash).await.unwrap();
    assert_eq!(
        (uids_of(b, trash).await.len(), used(b, "alice").await),
        (2, 200)
    );
    let theirs = mailbox(b, bob, "INBOX").await.id;
    assert!(matches!(
        s.copy_messages(trash, &UidSet::all(), theirs).await,
        Err(StoreError::UnknownMailbox(_))
    ));
    assert!(uids_of(b, theirs).await.is_empty());
}

/// Several bodies in one submission (MULTIAPPEND): filed in order, or none of them when
/// one cannot be (over quota, no such user), large bodies as well as small ones.
pub async fn several_bodies_are_filed_all_or_none(b: &dyn Backend) {
    let s = b.store();
    let alice = user(b, "alice", Some(100_000)).await;
    let small = vec![b's'; 100];
    let large = vec![b'L'; 70_000];
    let batch = vec![
        (
            seal(&*s, &small).await.unwrap(),
            vec![target(alice, "INBOX", Flags::default())],
        ),
        (
            seal(&*s, &small).await.unwrap(),
            vec![target(alice, "Drafts", Flags::default())],
        ),
        (
            seal(&*s, &small).await.unwrap(),
            vec![target(alice, "INBOX", Flags::default())],
        ),
    ];
    let submitted = s.submit_all(batch, None).await.unwrap();
    let filed: Vec<u32> = submitted.delivered.iter().map(|d| d.uid.get()).collect();
    assert_eq!(filed, [1, 1, 2], "in the order given");
    assert_eq!(used(b, "alice").await, 300);
    let inbox = mailbox(b, alice, "INBOX").await.id;

    let over = vec![
        (
            seal(&*s, &large).await.unwrap(),
            vec![target(alice, "INBOX", Flags::default())],
        ),
        (
            seal(&*s, &large).await.unwrap(),
            vec![target(alice, "INBOX", Flags::default())],
        ),
    ];
    let err = s.submit_all(over, None).await.unwrap_err();
    assert!(matches!(err, StoreError::OverQuota(_)), "{err}");
    let nobody = hermod_store::UserId(987_654);
    let missing = vec![
        (
            seal(&*s, &small).await.unwrap(),
            vec![target(alice, "INBOX", Flags::default())],
        ),
        (
            seal(&*s, &small).await.unwrap(),
            vec![target(nobody, "INBOX", Flags::default())],
        ),
    ];
    let err = s.submit_all(missing, None).await.unwrap_err();
    assert!(matches!(err, StoreError::UnknownUser(_)), "{err}");
    assert_eq!(uids_of(b, inbox).await, [1, 2], "nothing of either kept");
    assert_eq!(used(b, "alice").await, 300);
    let empty = s.submit_all(Vec::new(), None).await.unwrap();
    assert!(empty.delivered.is_empty());
}

/// Deliveries and copies racing for the last bytes of a quota never exceed it.
pub async fn quota_holds_under_concurrent_delivery(b: &dyn Backend) {
    let body = vec![b'z'; 1000];
    let alice = user(b, "alice", Some(20_500)).await;
    deliver_to(&*b.store(), alice, "INBOX", &body, Flags::default())
        .await
        .unwrap();
    let inbox = mailbox(b, alice, "INBOX").await.id;
    let trash = mailbox(b, alice, "Trash").await.id;
    let mut racers = Vec::new();
    for _ in 0..6 {
        let (store, body) = (b.store(), body.clone());
        racers.push(tokio::spawn(async move {
            for _ in 0..6 {
                match deliver_to(&*store, alice, "INBOX", &body, Flags::default()).await {
                    Ok(_) | Err(StoreError::OverQuota(_)) => {}
                    Err(e) => panic!("{e}"),
                }
            }
        }));
    }
    let store = b.store();
    racers.push(tokio::spawn(async move {
        for _ in 0..10 {
            match store
                .copy_messages(inbox, &UidSet::range(1, 1), trash)
                .await
            {
                Ok(_) | Err(StoreError::OverQuota(_)) => {}
                Err(e) => panic!("{e}"),
            }
        }
    }));
    for racer in racers {
        racer.await.unwrap();
    }
    let stored = (uids_of(b, inbox).await.len() + uids_of(b, trash).await.len()) as u64;
    assert_eq!(stored, 20, "filled to the quota, not beyond");
    assert_eq!(used(b, "alice").await, stored * 1000);
}

/// STATUS counts agree with a full listing.
pub async fn status_matches_a_full_listing(b: &dyn Backend) {
    let s = b.store();
    let alice = user(b, "alice", None).await;
    let cases = [
        (Flags::SEEN, 10usize),
        (0, 20),
        (Flags::DELETED, 30),
        (Flags::SEEN | Flags::DELETED, 40),
        (Flags::FLAGGED, 50),
    ];
    for (bits, size) in cases {
        let body = vec![b's'; size];
        deliver_to(&*s, alice, "Drafts", &body, flags(bits, &[]))
            .await
            .unwrap();
    }
    let drafts = mailbox(b, alice, "Drafts").await;
    s.expunge(drafts.id, &[uid(5)]).await.unwrap();
    let status = s
        .mailbox_status(alice, &name("Drafts"))
        .await
        .unwrap()
        .unwrap();
    let listed = s.messages_in(drafts.id, &UidSet::all()).await.unwrap();
    let count = |f: &dyn Fn(&MessageMeta) -> bool| listed.iter().filter(|m| f(m)).count() as u32;
    assert_eq!(status.messages, listed.len() as u32);
    assert_eq!(status.messages, 4);
    assert_eq!(status.unseen, count(&|m| !m.flags.has(Flags::SEEN)));
    assert_eq!(status.unseen, 2);
    assert_eq!(status.deleted, 2);
    assert_eq!(status.size, listed.iter().map(|m| m.size).sum::<u64>());
    assert_eq!(status.size, 100);
    assert_eq!(status.mailbox, mailbox(b, alice, "Drafts").await);
    assert_eq!(status.mailbox.uid_next, 6);
    let empty = s
        .mailbox_status(alice, &name("Junk"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((empty.messages, empty.unseen, empty.size), (0, 0, 0));
    let missing = s.mailbox_status(alice, &name("Nope")).await.unwrap();
    assert!(missing.is_none());
}

/// A UID range lists only that range.
pub async fn messages_in_lists_a_uid_range(b: &dyn Backend) {
    let s = b.store();
    let alice = user(b, "alice", None).await;
    fill(b, alice, 10).await;
    let inbox = mailbox(b, alice, "INBOX").await.id;
    let mut set = UidSet::range(3, 5);
    set.insert_range(9, u32::MAX);
    let got: Vec<u32> = s
        .messages_in(inbox, &set)
        .await
        .unwrap()
        .iter()
        .map(|m| m.uid.get())
        .collect();
    assert_eq!(got, [3, 4, 5, 9, 10]);
    assert!(
        s.messages_in(inbox, &UidSet::new())
            .await
            .unwrap()
            .is_empty()
    );
}

/// A stored body reads back whole, cut at a limit, several at once (stopping before the
/// first whose size is not what the caller knows) and streamed in pieces; small and large
/// bodies alike.
pub async fn bodies_read_whole_in_part_and_streamed(b: &dyn Backend) {
    let s = b.store();
    let alice = user(b, "alice", None).await;
    let small = b"Subject: small\r\n\r\nshort\r\n".to_vec();
    let large: Vec<u8> = (0..hermod_store::INLINE_MAX * 3 + 7)
        .map(|i| b'a' + (i % 26) as u8)
        .collect();
    for body in [&small, &large, &small] {
        deliver_to(&*s, alice, "INBOX", body, Flags::default())
            .await
            .unwrap();
    }
    let listed = s
        .messages(mailbox(b, alice, "INBOX").await.id)
        .await
        .unwrap();
    let sizes: Vec<u64> = listed.iter().map(|m| m.size).collect();
    assert_eq!(
        sizes,
        [small.len(), large.len(), small.len()].map(|n| n as u64)
    );
    assert_ne!(listed[0].blob, listed[2].blob, "a delivery is its own body");
    for (meta, body) in listed.iter().zip([&small, &large]) {
        assert_eq!(&read_body(&*s, &meta.blob).await, body);
        let head = s.read_blob(&meta.blob, Some(10)).await.unwrap();
        assert_eq!(head, body[..10]);
        let mut stream = s.open_blob(&meta.blob).await.unwrap();
        let mut streamed = Vec::new();
        loop {
            let chunk = stream.read_chunk(4096).await.unwrap();
            if chunk.is_empty() {
                break;
            }
            assert!(chunk.len() <= 4096);
            streamed.extend(chunk);
        }
        assert_eq!(&streamed, body);
    }
    let wanted: Vec<_> = listed.iter().map(|m| (m.blob.clone(), m.size)).collect();
    let bodies = s.read_blobs(&wanted).await.unwrap();
    assert_eq!(bodies, [small.clone(), large, small.clone()]);
    let mut wrong = wanted.clone();
    wrong[1].1 -= 1;
    let bodies = s.read_blobs(&wrong).await.unwrap();
    assert_eq!(bodies.len(), 1, "stops before a body of another size");
    assert_eq!(bodies[0], small);
    assert!(s.read_blobs(&[]).await.unwrap().is_empty());
}
