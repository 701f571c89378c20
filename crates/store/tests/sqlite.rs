//! The embedded store: directory rules, atomic multi-recipient delivery, group commit,
//! quotas, expunge and garbage collection, crash leftovers.

use hermod_store::{
    AliasKey, BlockingStore, DeliveryTarget, Flags, SqliteStore, StoreError, UserId,
};
use hermod_types::{Address, Domain, MailboxName};
use std::io::{Read, Write};
use std::sync::Arc;

fn addr(s: &str) -> Address {
    Address::parse(s).unwrap()
}

fn store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    store
        .add_domain(&Domain::parse("example.test").unwrap())
        .unwrap();
    (dir, store)
}

fn inbox() -> MailboxName {
    MailboxName::parse("INBOX").unwrap()
}

fn target(user: UserId) -> DeliveryTarget {
    DeliveryTarget {
        user,
        mailbox: inbox(),
        flags: Flags::default(),
        internal_date: 1_700_000_000,
    }
}

fn put(store: &dyn BlockingStore, body: &[u8], users: &[UserId]) -> Result<(), StoreError> {
    let mut w = store.blob_writer()?;
    w.write_all(body).unwrap();
    let targets: Vec<_> = users.iter().map(|u| target(*u)).collect();
    store.deliver(w.seal()?, &targets).map(|_| ())
}

fn count(store: &dyn BlockingStore, user: UserId) -> usize {
    let mailbox = store.mailbox(user, &inbox()).unwrap().unwrap();
    store.messages(mailbox.id).unwrap().len()
}

#[test]
fn directory_rules() {
    let (_dir, store) = store();
    let example = Domain::parse("example.test").unwrap();
    assert!(matches!(
        store.add_domain(&example),
        Err(StoreError::DomainExists(_))
    ));
    let alice = store
        .add_user(&addr("Alice@Example.test"), "hash", None)
        .unwrap();
    assert_eq!(
        store.user(&addr("alice@example.test")).unwrap().unwrap().id,
        alice
    );
    assert!(matches!(
        store.add_user(&addr("alice@example.test"), "h", None),
        Err(StoreError::UserExists(_))
    ));
    assert!(matches!(
        store.add_user(&addr("x@other.test"), "h", None),
        Err(StoreError::UnknownDomain(_))
    ));
    let names: Vec<String> = store
        .mailboxes(alice)
        .unwrap()
        .iter()
        .map(|m| m.name.to_string())
        .collect();
    assert_eq!(names, ["INBOX", "Sent", "Drafts", "Trash", "Junk"]);
    let validity: Vec<u32> = store
        .mailboxes(alice)
        .unwrap()
        .iter()
        .map(|m| m.uid_validity.get())
        .collect();
    assert!(
        validity.windows(2).all(|w| w[0] < w[1]),
        "UIDVALIDITY never repeats: {validity:?}"
    );

    let team = AliasKey::parse("team@example.test").unwrap();
    store
        .add_alias(&team, &[addr("alice@example.test")])
        .unwrap();
    assert!(matches!(
        store.add_user(&addr("team@example.test"), "h", None),
        Err(StoreError::AddressIsAlias(_))
    ));
    let shadow = AliasKey::parse("alice@example.test").unwrap();
    assert!(matches!(
        store.add_alias(&shadow, &[addr("x@example.test")]),
        Err(StoreError::AliasShadowsUser(_))
    ));
    assert!(matches!(
        store.remove_domain(&example),
        Err(StoreError::DomainInUse {
            users: 1,
            aliases: 1,
            ..
        })
    ));
    store.remove_alias(&team).unwrap();
    store.remove_user(&addr("alice@example.test")).unwrap();
    store.remove_domain(&example).unwrap();
    assert!(store.domains().unwrap().is_empty());
}

/// Bodies stored: files under `blobs/` plus bodies kept inside the index.
fn stored_bodies(dir: &std::path::Path) -> (usize, usize) {
    let db = rusqlite::Connection::open(dir.join("hermod.db")).unwrap();
    let inline: i64 = db
        .query_row("SELECT count(*) FROM blob_data", [], |r| r.get(0))
        .unwrap();
    (walk(&dir.join("blobs")), inline as usize)
}

#[test]
fn small_bodies_live_in_the_index_and_large_ones_in_files() {
    let (dir, store) = store();
    let a = store.add_user(&addr("a@example.test"), "h", None).unwrap();
    let mut at_limit = b"Subject: x\r\n\r\n".to_vec();
    at_limit.resize(hermod_store::INLINE_MAX, b'x');
    put(&store, &at_limit, &[a]).unwrap();
    assert_eq!(stored_bodies(dir.path()), (0, 1));
    at_limit.push(b'y');
    put(&store, &at_limit, &[a]).unwrap();
    assert_eq!(stored_bodies(dir.path()), (1, 1));
    assert_eq!(walk(&dir.path().join("tmp")), 0);
    let mailbox = store.mailbox(a, &inbox()).unwrap().unwrap();
    for (n, message) in store.messages(mailbox.id).unwrap().iter().enumerate() {
        let mut body = Vec::new();
        store
            .open_blob(&message.blob)
            .unwrap()
            .read_to_end(&mut body)
            .unwrap();
        assert_eq!(body.len(), hermod_store::INLINE_MAX + n);
        assert_eq!(message.size as usize, body.len());
    }
}

#[test]
fn one_inline_body_for_many_recipients_and_garbage_collection() {
    many_recipients_and_garbage_collection(b"Subject: x\r\n\r\nbody\r\n".to_vec(), (0, 1));
}

#[test]
fn one_file_body_for_many_recipients_and_garbage_collection() {
    let mut body = b"Subject: x\r\n\r\nbody\r\n".to_vec();
    body.resize(hermod_store::INLINE_MAX * 2, b'z');
    many_recipients_and_garbage_collection(body, (1, 0));
}

fn many_recipients_and_garbage_collection(content: Vec<u8>, one_copy: (usize, usize)) {
    let (dir, store) = store();
    let a = store.add_user(&addr("a@example.test"), "h", None).unwrap();
    let b = store.add_user(&addr("b@example.test"), "h", None).unwrap();
    put(&store, &content, &[a, b]).unwrap();
    let blobs = || stored_bodies(dir.path());
    assert_eq!(blobs(), one_copy, "one stored copy");
    let len = content.len() as u64;
    let used = |u: &str| store.user(&addr(u)).unwrap().unwrap().used;
    assert_eq!((used("a@example.test"), used("b@example.test")), (len, len));

    let box_a = store.mailbox(a, &inbox()).unwrap().unwrap();
    let msg = store.messages(box_a.id).unwrap().remove(0);
    let mut body = Vec::new();
    store
        .open_blob(&msg.blob)
        .unwrap()
        .read_to_end(&mut body)
        .unwrap();
    assert_eq!(body, content);
    assert_eq!((msg.uid.get(), msg.size), (1, len));

    store
        .set_flags(
            box_a.id,
            &[msg.uid],
            Flags {
                bits: Flags::SEEN,
                keywords: vec!["$Label".into()],
            },
        )
        .unwrap();
    let flagged = store.messages(box_a.id).unwrap().remove(0);
    assert!(flagged.flags.has(Flags::SEEN) && flagged.modseq > msg.modseq);

    store.expunge(box_a.id, &[msg.uid]).unwrap();
    assert_eq!((count(&store, a), used("a@example.test")), (0, 0));
    assert_eq!(blobs(), one_copy, "b still references the body");
    store.remove_user(&addr("b@example.test")).unwrap();
    assert_eq!(blobs(), (0, 0), "the last reference removed the body");
    // UIDs are never reused.
    put(&store, b"again\r\n", &[a]).unwrap();
    assert_eq!(store.messages(box_a.id).unwrap()[0].uid.get(), 2);
}

fn walk(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| if p.is_dir() { walk(&p) } else { 1 })
        .sum()
}

#[test]
fn quota_failure_is_all_or_nothing() {
    let (_dir, store) = store();
    let roomy = store
        .add_user(&addr("roomy@example.test"), "h", None)
        .unwrap();
    let tight = store
        .add_user(&addr("tight@example.test"), "h", Some(30))
        .unwrap();
    put(&store, &[b'x'; 20], &[roomy, tight]).unwrap();
    let err = put(&store, &[b'y'; 20], &[roomy, tight]).unwrap_err();
    assert!(
        matches!(err, StoreError::OverQuota(ref who) if who == "tight@example.test"),
        "{err}"
    );
    assert_eq!(
        (count(&store, roomy), count(&store, tight)),
        (1, 1),
        "nobody got the second copy"
    );
}

#[test]
fn concurrent_deliveries_share_commits_and_all_land() {
    let (_dir, store) = store();
    let store = Arc::new(store);
    let user = store.add_user(&addr("a@example.test"), "h", None).unwrap();
    let threads: Vec<_> = (0..32)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for n in 0..20 {
                    put(store.as_ref(), format!("m {t} {n}\r\n").as_bytes(), &[user]).unwrap();
                }
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    let mailbox = store.mailbox(user, &inbox()).unwrap().unwrap();
    let uids: Vec<u32> = store
        .messages(mailbox.id)
        .unwrap()
        .iter()
        .map(|m| m.uid.get())
        .collect();
    assert_eq!(
        uids,
        (1..=640).collect::<Vec<_>>(),
        "every delivery has its own UID, none lost"
    );
}

#[test]
fn unsealed_and_undelivered_bodies_leave_nothing_behind() {
    let (dir, store) = store();
    for size in [7, hermod_store::INLINE_MAX + 1] {
        let mut w = store.blob_writer().unwrap();
        w.write_all(&vec![b'p'; size]).unwrap();
        drop(w);
        let mut w = store.blob_writer().unwrap();
        w.write_all(&vec![b's'; size]).unwrap();
        drop(w.seal().unwrap());
    }
    assert_eq!(walk(&dir.path().join("tmp")), 0);
    assert_eq!(stored_bodies(dir.path()), (0, 0));
    // A crash leftover older than the sweep age is removed; a fresh one is left alone.
    std::fs::write(dir.path().join("tmp/deadbeef.tmp"), b"x").unwrap();
    assert_eq!(store.sweep().unwrap(), 0);
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    std::fs::File::options()
        .write(true)
        .open(dir.path().join("tmp/deadbeef.tmp"))
        .unwrap()
        .set_modified(old)
        .unwrap();
    assert_eq!(store.sweep().unwrap(), 1);
}

#[test]
fn reopening_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let (validity, user) = {
        let store = SqliteStore::open(dir.path()).unwrap();
        store
            .add_domain(&Domain::parse("example.test").unwrap())
            .unwrap();
        let user = store.add_user(&addr("a@example.test"), "h", None).unwrap();
        put(&store, b"kept\r\n", &[user]).unwrap();
        (
            store.mailbox(user, &inbox()).unwrap().unwrap().uid_validity,
            user,
        )
    };
    let store = SqliteStore::open(dir.path()).unwrap();
    let mailbox = store.mailbox(user, &inbox()).unwrap().unwrap();
    assert_eq!(mailbox.uid_validity, validity);
    assert_eq!(store.messages(mailbox.id).unwrap().len(), 1);
}

#[test]
fn mail_and_passwords_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let (dir, _store) = store();
    let mode = |p: &str| {
        std::fs::metadata(dir.path().join(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("hermod.db"), 0o600);
    assert_eq!(
        mode("bulk.db"),
        0o600,
        "the bulk guard's file names recipients"
    );
    assert_eq!(mode("blobs"), 0o700);
    assert_eq!(mode("blobs/00"), 0o700);
    assert_eq!(mode("tmp"), 0o700);
}

#[test]
fn the_outbound_queue_keeps_per_recipient_state() {
    use hermod_store::{Outbound, OutboundRecipient, QueueUpdate};
    let (dir, store) = store();
    let rcpt = |a: &str| OutboundRecipient {
        address: a.into(),
        notify: None,
        orcpt: None,
    };
    let outbound = Outbound {
        sender: Some("alice@example.test".into()),
        recipients: vec![rcpt("x@far.test"), rcpt("y@far.test"), rcpt("z@other.test")],
        envid: None,
        ret: None,
        smtputf8: false,
        held: None,
    };
    let mut w = store.blob_writer().unwrap();
    w.write_all(b"Subject: out\r\n\r\nx\r\n").unwrap();
    let submitted = store
        .submit(w.seal().unwrap(), &[], Some(&outbound))
        .unwrap();
    let id = submitted.queue_id.unwrap();
    let due = store.queue_claim("me", 3_000_000_000, 60, 10).unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(
        due[0]
            .recipients
            .iter()
            .map(|r| r.domain.as_str())
            .collect::<Vec<_>>(),
        ["far.test", "far.test", "other.test"]
    );

    let later = 4_000_000_000;
    let recorded = store
        .queue_record(
            "me",
            id,
            &[
                (
                    "x@far.test".into(),
                    QueueUpdate::Delivered {
                        reply: "250 ok".into(),
                    },
                ),
                (
                    "y@far.test".into(),
                    QueueUpdate::Failed {
                        error: "550 no such user".into(),
                    },
                ),
                (
                    "z@other.test".into(),
                    QueueUpdate::Deferred {
                        next_attempt: later,
                        error: "451 try later".into(),
                    },
                ),
            ],
        )
        .unwrap();
    assert!(recorded);
    assert!(
        store
            .queue_claim("me", later - 1, 60, 10)
            .unwrap()
            .is_empty(),
        "deferred until its next attempt"
    );
    assert_eq!(
        store.queue_claim("me", later, 60, 10).unwrap()[0]
            .recipients
            .len(),
        1
    );
    assert_eq!(store.queue_retry_now(Some(id), 5).unwrap(), 1);
    store.queue_release("me", id).unwrap();
    assert_eq!(
        store.queue_claim("me", 5, 60, 10).unwrap()[0].recipients[0].attempts,
        1
    );
    let outcomes = store.queue_outcomes(id).unwrap();
    assert_eq!(
        outcomes[1],
        hermod_store::RecipientOutcome {
            recipient: "y@far.test".into(),
            state: hermod_store::RecipientState::Failed,
            last_reply: Some("550 no such user".into())
        }
    );
    assert!(store.queue_remove(id).unwrap());
    assert!(store.queue().unwrap().is_empty());
    assert_eq!(
        stored_bodies(dir.path()),
        (0, 0),
        "the body went with the last reference"
    );
}

/// Stores from before time-ordered ids kept file bodies under the id's first two digits:
/// such a body is still read from there, and the start-up sweep moves it.
#[test]
fn file_bodies_in_the_old_layout_are_read_and_moved_by_the_sweep() {
    let (dir, store) = store();
    let user = store.add_user(&addr("a@example.test"), "h", None).unwrap();
    let body = vec![b'x'; hermod_store::INLINE_MAX + 10];
    let mailbox = store.mailbox(user, &inbox()).unwrap().unwrap();
    let blobs = dir.path().join("blobs");
    // Ids begin with the time and shard by their (random) end: find one whose old place
    // differs from the new (255 in 256 do).
    let (blob, new, old) = loop {
        put(&store, &body, &[user]).unwrap();
        let blob = store.messages(mailbox.id).unwrap().pop().unwrap().blob;
        let id = blob.to_string();
        let (new, old) = (
            blobs.join(&id[30..]).join(&id),
            blobs.join(&id[..2]).join(&id),
        );
        if new != old {
            break (blob, new, old);
        }
    };
    std::fs::rename(&new, &old).unwrap();
    let read = || {
        let mut read = Vec::new();
        store
            .open_blob(&blob)
            .unwrap()
            .read_to_end(&mut read)
            .unwrap();
        read
    };
    assert_eq!(read(), body, "read from the old place");
    assert_eq!(store.sweep().unwrap(), 0, "moved, not removed");
    assert!(new.exists() && !old.exists());
    assert_eq!(read(), body);
    // Ids sort by time.
    put(&store, &body, &[user]).unwrap();
    let ids: Vec<_> = store
        .messages(mailbox.id)
        .unwrap()
        .iter()
        .map(|m| m.blob.to_string())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    // Expunging a body still in the old place removes it there.
    std::fs::rename(&new, &old).unwrap();
    let uids: Vec<_> = store
        .messages(mailbox.id)
        .unwrap()
        .iter()
        .map(|m| m.uid)
        .collect();
    store.expunge(mailbox.id, &uids).unwrap();
    assert_eq!(stored_bodies(dir.path()), (0, 0));
}
