//! Mailboxes: hierarchy, rename, delete, subscriptions, special use, INBOX's case.

use super::*;
use hermod_store::{SpecialUse, UidSet};

/// CREATE makes missing parents (so does a delivery into a new folder); every mailbox gets
/// a fresh UIDVALIDITY; a name taken is refused.
pub fn create_makes_parents_and_fresh_uid_validity(b: &dyn Backend) {
    let alice = user(b, "alice", None);
    let before: Vec<u32> = b
        .mail()
        .mailbox_list(alice)
        .unwrap()
        .iter()
        .map(|m| m.uid_validity.get())
        .collect();
    let leaf = b
        .mail()
        .mailbox_create(alice, &name("Work/2024/Q1"), None)
        .unwrap();
    assert_eq!(leaf.name.as_str(), "Work/2024/Q1");
    assert_eq!((leaf.uid_next, leaf.special_use), (1, None));
    assert_eq!(
        names(b, alice),
        [
            "INBOX",
            "Drafts",
            "Junk",
            "Sent",
            "Trash",
            "Work",
            "Work/2024",
            "Work/2024/Q1"
        ]
    );
    let max_before = before.into_iter().max().unwrap();
    for m in ["Work", "Work/2024", "Work/2024/Q1"] {
        assert!(mailbox(b, alice, m).uid_validity.get() > max_before, "{m}");
    }
    assert!(matches!(
        b.mail().mailbox_create(alice, &name("Work/2024"), None),
        Err(StoreError::MailboxExists(_))
    ));
    // A delivery into a new folder (a filing rule) makes it like CREATE does.
    deliver_to(b.store(), alice, "Lists/rust", b"x\r\n", Flags::default()).unwrap();
    assert!(
        b.mail()
            .mailbox_get(alice, &name("Lists"))
            .unwrap()
            .is_some()
    );
}

/// INBOX, and the INBOX level of its children's names, is case-insensitive; other names
/// keep their case.
pub fn inbox_is_case_insensitive(b: &dyn Backend) {
    let alice = user(b, "alice", None);
    b.mail().mailbox_create(alice, &name("Work"), None).unwrap();
    assert!(matches!(
        b.mail().mailbox_create(alice, &name("inbox"), None),
        Err(StoreError::MailboxExists(_))
    ));
    b.mail()
        .mailbox_create(alice, &name("inbox/Sub"), None)
        .unwrap();
    assert_eq!(mailbox(b, alice, "INBOX/Sub").name.as_str(), "INBOX/Sub");
    assert_eq!(
        mailbox(b, alice, "Inbox/Sub"),
        mailbox(b, alice, "INBOX/Sub")
    );
    assert_eq!(mailbox(b, alice, "iNbOx"), mailbox(b, alice, "INBOX"));
    // Names other than INBOX keep their case and are distinct.
    assert!(
        b.mail()
            .mailbox_get(alice, &name("work"))
            .unwrap()
            .is_none()
    );
}

/// RENAME moves the children along, keeps UIDVALIDITY and messages, creates missing parents
/// of the new name, and carries subscriptions over.
pub fn rename_moves_the_hierarchy(b: &dyn Backend) {
    let alice = user(b, "alice", None);
    b.mail()
        .mailbox_create(alice, &name("a/b/c"), None)
        .unwrap();
    b.mail().mailbox_create(alice, &name("ab"), None).unwrap();
    deliver_to(b.store(), alice, "a/b", b"kept\r\n", Flags::default()).unwrap();
    b.mail().subscribe_mailbox(alice, &name("a/b")).unwrap();
    let (old_b, old_c) = (mailbox(b, alice, "a/b"), mailbox(b, alice, "a/b/c"));
    b.mail()
        .mailbox_rename(alice, &name("a"), &name("x/y"))
        .unwrap();
    let listed = names(b, alice);
    let custom: Vec<&str> = listed
        .iter()
        .map(String::as_str)
        .filter(|n| !["INBOX", "Drafts", "Junk", "Sent", "Trash"].contains(n))
        .collect();
    assert_eq!(
        custom,
        ["ab", "x", "x/y", "x/y/b", "x/y/b/c"],
        "ab is not a child"
    );
    let (new_b, new_c) = (mailbox(b, alice, "x/y/b"), mailbox(b, alice, "x/y/b/c"));
    assert_eq!(
        (new_b.id, new_b.uid_validity),
        (old_b.id, old_b.uid_validity)
    );
    assert_eq!(
        (new_c.id, new_c.uid_validity),
        (old_c.id, old_c.uid_validity)
    );
    assert_eq!(
        b.mail()
            .messages_in(new_b.id, &UidSet::all())
            .unwrap()
            .len(),
        1
    );
    assert_eq!(b.mail().subscriptions(alice).unwrap(), [name("x/y/b")]);

    let refused = b.mail().mailbox_rename(alice, &name("x"), &name("x/y/z"));
    assert!(
        matches!(refused, Err(StoreError::MailboxRefused { .. })),
        "{refused:?}"
    );
    let taken = b.mail().mailbox_rename(alice, &name("ab"), &name("x/y"));
    assert!(
        matches!(taken, Err(StoreError::MailboxExists(_))),
        "{taken:?}"
    );
    let missing = b.mail().mailbox_rename(alice, &name("nope"), &name("q"));
    assert!(
        matches!(missing, Err(StoreError::UnknownMailbox(_))),
        "{missing:?}"
    );
}

/// RFC 9051 6.3.6: renaming INBOX moves its messages to a new mailbox and leaves INBOX
/// empty, where new mail keeps arriving; INBOX's children stay.
pub fn rename_of_inbox_moves_its_messages(b: &dyn Backend) {
    let alice = user(b, "alice", None);
    fill(b, alice, 3);
    b.mail()
        .mailbox_create(alice, &name("INBOX/child"), None)
        .unwrap();
    let inbox = mailbox(b, alice, "INBOX");
    let seen = hermod_store::FlagChange {
        op: hermod_store::FlagOp::Add,
        flags: flags(Flags::SEEN, &["$Old"]),
        unchanged_since: None,
    };
    b.mail()
        .store_flags(inbox.id, &UidSet::range(2, 2), &seen)
        .unwrap();
    b.mail()
        .mailbox_rename(alice, &name("inbox"), &name("Old Mail"))
        .unwrap();
    let old = mailbox(b, alice, "Old Mail");
    assert_ne!(old.uid_validity, inbox.uid_validity);
    let moved = b.mail().messages_in(old.id, &UidSet::all()).unwrap();
    assert_eq!(moved.len(), 3);
    assert_eq!(
        moved[1].flags,
        flags(Flags::SEEN, &["$Old"]),
        "flags move along"
    );
    let now = mailbox(b, alice, "INBOX");
    assert_eq!((now.id, now.uid_validity), (inbox.id, inbox.uid_validity));
    assert!(
        b.mail()
            .messages_in(now.id, &UidSet::all())
            .unwrap()
            .is_empty()
    );
    let gone = b
        .mail()
        .changes_since(now.id, inbox.highest_modseq, None)
        .unwrap();
    assert_eq!(
        gone.vanished.to_string(),
        "1:3",
        "sessions on INBOX see them go"
    );
    assert!(
        b.mail()
            .mailbox_get(alice, &name("INBOX/child"))
            .unwrap()
            .is_some()
    );
    let next = deliver_to(b.store(), alice, "INBOX", b"new\r\n", Flags::default()).unwrap();
    assert_eq!((next.mailbox, next.uid), (inbox.id, uid(4)));
}

/// DELETE refuses INBOX and mailboxes with children, removes a leaf with its messages (and
/// their quota), leaves its subscription; a new mailbox of the same name starts over with a
/// new UIDVALIDITY.
pub fn delete_rules(b: &dyn Backend) {
    let alice = user(b, "alice", None);
    b.mail().mailbox_create(alice, &name("p/q"), None).unwrap();
    deliver_to(b.store(), alice, "p/q", &[b'd'; 64], Flags::default()).unwrap();
    b.mail().subscribe_mailbox(alice, &name("p/q")).unwrap();
    let q = mailbox(b, alice, "p/q");
    assert!(matches!(
        b.mail().mailbox_delete(alice, &name("INBOX")),
        Err(StoreError::MailboxRefused { .. })
    ));
    assert!(matches!(
        b.mail().mailbox_delete(alice, &name("p")),
        Err(StoreError::MailboxHasChildren(_))
    ));
    assert!(matches!(
        b.mail().mailbox_delete(alice, &name("nope")),
        Err(StoreError::UnknownMailbox(_))
    ));
    assert_eq!(used(b, "alice"), 64);
    b.mail().mailbox_delete(alice, &name("p/q")).unwrap();
    assert_eq!(used(b, "alice"), 0, "its messages went");
    assert!(b.mail().mailbox_get(alice, &name("p/q")).unwrap().is_none());
    assert_eq!(b.mail().subscriptions(alice).unwrap(), [name("p/q")]);
    b.mail().mailbox_delete(alice, &name("p")).unwrap();
    let again = b.mail().mailbox_create(alice, &name("p/q"), None).unwrap();
    assert!(again.uid_validity.get() > q.uid_validity.get());
    assert_eq!(again.uid_next, 1);
    assert!(
        b.mail()
            .messages_in(again.id, &UidSet::all())
            .unwrap()
            .is_empty()
    );
}

/// Subscriptions are names: they may name nothing, are sorted, idempotent, per user.
pub fn subscriptions_are_names(b: &dyn Backend) {
    let alice = user(b, "alice", None);
    let bob = user(b, "bob", None);
    for n in ["Zeta", "inbox", "Not/There", "Zeta"] {
        b.mail().subscribe_mailbox(alice, &name(n)).unwrap();
    }
    assert_eq!(
        b.mail().subscriptions(alice).unwrap(),
        [name("INBOX"), name("Not/There"), name("Zeta")]
    );
    b.mail().unsubscribe_mailbox(alice, &name("Zeta")).unwrap();
    b.mail().unsubscribe_mailbox(alice, &name("Zeta")).unwrap();
    assert_eq!(
        b.mail().subscriptions(alice).unwrap(),
        [name("INBOX"), name("Not/There")]
    );
    assert!(b.mail().subscriptions(bob).unwrap().is_empty());
}

/// Special-use attributes are data: set at create, findable by attribute, changeable.
pub fn special_use_lookup(b: &dyn Backend) {
    let alice = user(b, "alice", None);
    let find = |u| b.mail().mailbox_by_special_use(alice, u).unwrap();
    for (use_, expected) in [
        (SpecialUse::Sent, "Sent"),
        (SpecialUse::Drafts, "Drafts"),
        (SpecialUse::Trash, "Trash"),
        (SpecialUse::Junk, "Junk"),
    ] {
        assert_eq!(find(use_).unwrap().name.as_str(), expected);
    }
    assert!(find(SpecialUse::Archive).is_none());
    let archive = b
        .mail()
        .mailbox_create(alice, &name("Archives/All"), Some(SpecialUse::Archive))
        .unwrap();
    assert_eq!(archive.special_use, Some(SpecialUse::Archive));
    assert_eq!(find(SpecialUse::Archive).unwrap().id, archive.id);
    assert_eq!(
        mailbox(b, alice, "Archives").special_use,
        None,
        "parents are plain"
    );
    b.mail()
        .set_special_use(alice, &name("Junk"), None)
        .unwrap();
    b.mail()
        .set_special_use(alice, &name("Archives"), Some(SpecialUse::Junk))
        .unwrap();
    assert_eq!(find(SpecialUse::Junk).unwrap().name.as_str(), "Archives");
    assert!(matches!(
        b.mail().set_special_use(alice, &name("nope"), None),
        Err(StoreError::UnknownMailbox(_))
    ));
    let bob = user(b, "bob", None);
    let theirs = b
        .mail()
        .mailbox_by_special_use(bob, SpecialUse::Archive)
        .unwrap();
    assert!(theirs.is_none(), "per user");
}
