//! Mailboxes: hierarchy, rename, delete, subscriptions, special use, INBOX's case.

use super::*;
use hermod_store::{FlagChange, FlagOp, SpecialUse, UidSet};

/// CREATE makes missing parents (so does a delivery into a new folder); every mailbox gets
/// a fresh UIDVALIDITY; a name taken is refused. The listing is sorted by name, INBOX first
/// (parents before their children).
pub async fn create_makes_parents_and_fresh_uid_validity(b: &dyn Backend) {
    let s = b.store();
    let alice = user(b, "alice", None).await;
    let before: Vec<u32> = s
        .mailboxes(alice)
        .await
        .unwrap()
        .iter()
        .map(|m| m.uid_validity.get())
        .collect();
    let leaf = s
        .create_mailbox(alice, &name("Work/2024/Q1"), None)
        .await
        .unwrap();
    assert_eq!(leaf.name.as_str(), "Work/2024/Q1");
    assert_eq!((leaf.uid_next, leaf.special_use), (1, None));
    assert_eq!(
        names(b, alice).await,
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
        let validity = mailbox(b, alice, m).await.uid_validity.get();
        assert!(validity > max_before, "{m}");
    }
    assert!(matches!(
        s.create_mailbox(alice, &name("Work/2024"), None).await,
        Err(StoreError::MailboxExists(_))
    ));
    // A delivery into a new folder (a filing rule) makes it like CREATE does.
    deliver_to(&*s, alice, "Lists/rust", b"x\r\n", Flags::default())
        .await
        .unwrap();
    assert!(s.mailbox(alice, &name("Lists")).await.unwrap().is_some());
}

/// INBOX, and the INBOX level of its children's names, is case-insensitive; other names
/// keep their case.
pub async fn inbox_is_case_insensitive(b: &dyn Backend) {
    let s = b.store();
    let alice = user(b, "alice", None).await;
    s.create_mailbox(alice, &name("Work"), None).await.unwrap();
    assert!(matches!(
        s.create_mailbox(alice, &name("inbox"), None).await,
        Err(StoreError::MailboxExists(_))
    ));
    s.create_mailbox(alice, &name("inbox/Sub"), None)
        .await
        .unwrap();
    let sub = mailbox(b, alice, "INBOX/Sub").await;
    assert_eq!(sub.name.as_str(), "INBOX/Sub");
    assert_eq!(mailbox(b, alice, "Inbox/Sub").await, sub);
    assert_eq!(
        mailbox(b, alice, "iNbOx").await,
        mailbox(b, alice, "INBOX").await
    );
    // Names other than INBOX keep their case and are distinct.
    assert!(s.mailbox(alice, &name("work")).await.unwrap().is_none());
}

/// RENAME moves the children along, keeps UIDVALIDITY and messages, creates missing parents
/// of the new name, and carries subscriptions over.
pub async fn rename_moves_the_hierarchy(b: &dyn Backend) {
    let s = b.store();
    let alice = user(b, "alice", None).await;
    s.create_mailbox(alice, &name("a/b/c"), None).await.unwrap();
    s.create_mailbox(alice, &name("ab"), None).await.unwrap();
    deliver_to(&*s, alice, "a/b", b"kept\r\n", Flags::default())
        .await
        .unwrap();
    s.subscribe(alice, &name("a/b")).await.unwrap();
    let old_b = mailbox(b, alice, "a/b").await;
    let old_c = mailbox(b, alice, "a/b/c").await;
    s.rename_mailbox(alice, &name("a"), &name("x/y"))
        .await
        .unwrap();
    let listed = names(b, alice).await;
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
    let new_b = mailbox(b, alice, "x/y/b").await;
    let new_c = mailbox(b, alice, "x/y/b/c").await;
    assert_eq!(
        (new_b.id, new_b.uid_validity),
        (old_b.id, old_b.uid_validity)
    );
    assert_eq!(
        (new_c.id, new_c.uid_validity),
        (old_c.id, old_c.uid_validity)
    );
    let kept = s.messages_in(new_b.id, &UidSet::all()).await.unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(custom_subscriptions(b, alice).await, ["x/y/b"]);

    let refused = s.rename_mailbox(alice, &name("x"), &name("x/y/z")).await;
    assert!(
        matches!(refused, Err(StoreError::MailboxRefused { .. })),
        "{refused:?}"
    );
    let taken = s.rename_mailbox(alice, &name("ab"), &name("x/y")).await;
    assert!(
        matches!(taken, Err(StoreError::MailboxExists(_))),
        "{taken:?}"
    );
    let missing = s.rename_mailbox(alice, &name("nope"), &name("q")).await;
    assert!(
        matches!(missing, Err(StoreError::UnknownMailbox(_))),
        "{missing:?}"
    );
}

/// RFC 9051 6.3.6: renaming INBOX moves its messages to a new mailbox and leaves INBOX
/// empty, where new mail keeps arriving; INBOX's children stay.
pub async fn rename_of_inbox_moves_its_messages(b: &dyn Backend) {
    let s = b.store();
    let alice = user(b, "alice", None).await;
    fill(b, alice, 3).await;
    s.create_mailbox(alice, &name("INBOX/child"), None)
        .await
        .unwrap();
    let inbox = mailbox(b, alice, "INBOX").await;
    let seen = FlagChange {
        op: FlagOp::Add,
        flags: flags(Flags::SEEN, &["$Old"]),
        unchanged_since: None,
    };
    s.store_flags(inbox.id, &UidSet::range(2, 2), &seen)
        .await
        .unwrap();
    s.rename_mailbox(alice, &name("inbox"), &name("Old Mail"))
        .await
        .unwrap();
    let old = mailbox(b, alice, "Old Mail").await;
    assert_ne!(old.uid_validity, inbox.uid_validity);
    let moved = s.messages_in(old.id, &UidSet::all()).await.unwrap();
    assert_eq!(moved.len(), 3);
    assert_eq!(
        moved[1].flags,
        flags(Flags::SEEN, &["$Old"]),
        "flags move along"
    );
    let now = mailbox(b, alice, "INBOX").await;
    assert_eq!((now.id, now.uid_validity), (inbox.id, inbox.uid_validity));
    assert!(
        s.messages_in(now.id, &UidSet::all())
            .await
            .unwrap()
            .is_empty()
    );
    let gone = s
        .changes_since(now.id, inbox.highest_modseq, None)
        .await
        .unwrap();
    assert_eq!(
        gone.vanished.to_string(),
        "1:3",
        "sessions on INBOX see them go"
    );
    assert!(
        s.mailbox(alice, &name("INBOX/child"))
            .await
            .unwrap()
            .is_some()
    );
    let next = deliver_to(&*s, alice, "INBOX", b"new\r\n", Flags::default())
        .await
        .unwrap();
    assert_eq!((next.mailbox, next.uid), (inbox.id, uid(4)));
}

/// DELETE refuses INBOX and mailboxes with children, removes a leaf with its messages (and
/// their quota), leaves its subscription; a new mailbox of the same name starts over with a
/// new UIDVALIDITY.
pub async fn delete_rules(b: &dyn Backend) {
    let s = b.store();
    let alice = user(b, "alice", None).await;
    s.create_mailbox(alice, &name("p/q"), None).await.unwrap();
    deliver_to(&*s, alice, "p/q", &[b'd'; 64], Flags::default())
        .await
        .unwrap();
    s.subscribe(alice, &name("p/q")).await.unwrap();
    let q = mailbox(b, alice, "p/q").await;
    assert!(matches!(
        s.delete_mailbox(alice, &name("INBOX")).await,
        Err(StoreError::MailboxRefused { .. })
    ));
    assert!(matches!(
        s.delete_mailbox(alice, &name("p")).await,
        Err(StoreError::MailboxHasChildren(_))
    ));
    assert!(matches!(
        s.delete_mailbox(alice, &name("nope")).await,
        Err(StoreError::UnknownMailbox(_))
    ));
    assert_eq!(used(b, "alice").await, 64);
    s.delete_mailbox(alice, &name("p/q")).await.unwrap();
    assert_eq!(used(b, "alice").await, 0, "its messages went");
    assert!(s.mailbox(alice, &name("p/q")).await.unwrap().is_none());
    assert_eq!(custom_subscriptions(b, alice).await, ["p/q"]);
    s.delete_mailbox(alice, &name("p")).await.unwrap();
    let again = s.create_mailbox(alice, &name("p/q"), None).await.unwrap();
    assert!(again.uid_validity.get() > q.uid_validity.get());
    assert_eq!(again.uid_next, 1);
    assert!(
        s.messages_in(again.id, &UidSet::all())
            .await
            .unwrap()
            .is_empty()
    );
}

/// The user's subscriptions other than the default mailboxes'.
async fn custom_subscriptions(b: &dyn Backend, user: hermod_store::UserId) -> Vec<String> {
    let defaults: Vec<&str> = hermod_store::DEFAULT_MAILBOXES
        .iter()
        .map(|(n, _)| *n)
        .collect();
    let all = b.store().subscriptions(user).await.unwrap();
    all.iter()
        .map(|n| n.as_str().to_owned())
        .filter(|n| !defaults.contains(&n.as_str()))
        .collect()
}

/// A new user is subscribed to the default mailboxes. Subscriptions are names: they may
/// name nothing, are sorted, idempotent, per user.
pub async fn subscriptions_are_names(b: &dyn Backend) {
    let s = b.store();
    let alice = user(b, "alice", None).await;
    let bob = user(b, "bob", None).await;
    let defaults = ["Drafts", "INBOX", "Junk", "Sent", "Trash"].map(name);
    assert_eq!(s.subscriptions(alice).await.unwrap(), defaults);
    for n in ["Zeta", "inbox", "Not/There", "Zeta", "Trash"] {
        s.subscribe(alice, &name(n)).await.unwrap();
    }
    s.unsubscribe(alice, &name("Junk")).await.unwrap();
    let listed = ["Drafts", "INBOX", "Not/There", "Sent", "Trash", "Zeta"].map(name);
    assert_eq!(s.subscriptions(alice).await.unwrap(), listed);
    s.unsubscribe(alice, &name("Zeta")).await.unwrap();
    s.unsubscribe(alice, &name("Zeta")).await.unwrap();
    assert_eq!(custom_subscriptions(b, alice).await, ["Not/There"]);
    assert_eq!(s.subscriptions(bob).await.unwrap(), defaults, "bob's own");
    s.unsubscribe(bob, &name("INBOX")).await.unwrap();
    assert!(
        s.subscriptions(alice)
            .await
            .unwrap()
            .contains(&name("INBOX"))
    );
}

/// Special-use attributes are data: the defaults have theirs, one can be given at create
/// (not to the parents made along), they are found by attribute, per user.
pub async fn special_use_lookup(b: &dyn Backend) {
    let s = b.store();
    let alice = user(b, "alice", None).await;
    for (use_, expected) in [
        (SpecialUse::Sent, "Sent"),
        (SpecialUse::Drafts, "Drafts"),
        (SpecialUse::Trash, "Trash"),
        (SpecialUse::Junk, "Junk"),
    ] {
        let found = s.mailbox_by_special_use(alice, use_).await.unwrap();
        assert_eq!(found.unwrap().name.as_str(), expected);
    }
    let none = s.mailbox_by_special_use(alice, SpecialUse::Archive).await;
    assert!(none.unwrap().is_none());
    let archive = s
        .create_mailbox(alice, &name("Archives/All"), Some(SpecialUse::Archive))
        .await
        .unwrap();
    assert_eq!(archive.special_use, Some(SpecialUse::Archive));
    let found = s.mailbox_by_special_use(alice, SpecialUse::Archive).await;
    assert_eq!(found.unwrap().unwrap().id, archive.id);
    assert_eq!(
        mailbox(b, alice, "Archives").await.special_use,
        None,
        "parents are plain"
    );
    let listed = s.mailboxes(alice).await.unwrap();
    let all = listed.iter().find(|m| m.name.as_str() == "Archives/All");
    assert_eq!(all.unwrap().special_use, Some(SpecialUse::Archive));
    let bob = user(b, "bob", None).await;
    let theirs = s.mailbox_by_special_use(bob, SpecialUse::Archive).await;
    assert!(theirs.unwrap().is_none(), "per user");
}
