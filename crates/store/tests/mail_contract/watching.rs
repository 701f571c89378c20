//! Change notifications: whoever commits a change to a user's mail, the user's subscribers
//! wake; other users' changes do not wake them.

use super::*;
use hermod_store::{FlagChange, FlagOp, UidSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Long enough for any backend's poller; a passing test does not wait for it.
const WAKE: Duration = Duration::from_secs(10);
/// How long "nothing happens" is watched for.
const QUIET: Duration = Duration::from_millis(600);

fn seen(change: FlagOp) -> FlagChange {
    FlagChange {
        op: change,
        flags: flags(Flags::SEEN, &[]),
        unchanged_since: None,
    }
}

/// Writes in the same process: a delivery, a flag change, an expunge, a new mailbox.
pub fn subscribers_wake_on_local_changes(b: &dyn Backend) {
    let alice = user(b, "alice", None);
    let bob = user(b, "bob", None);
    fill(b, alice, 1);
    let mut watch = b.mail().watch(alice).unwrap();
    assert!(!watch.changed(), "nothing changed since subscribing");
    fill(b, alice, 1);
    assert!(watch.wait_timeout(WAKE), "woken by a delivery");
    let inbox = mailbox(b, alice, "INBOX").id;
    b.mail()
        .store_flags(inbox, &UidSet::range(1, 1), &seen(FlagOp::Add))
        .unwrap();
    assert!(watch.wait_timeout(WAKE), "woken by a flag change");
    b.store().expunge(inbox, &[uid(2)]).unwrap();
    assert!(watch.wait_timeout(WAKE), "woken by an expunge (POP3 path)");
    b.mail().mailbox_create(alice, &name("New"), None).unwrap();
    assert!(watch.wait_timeout(WAKE), "woken by a new mailbox");
    fill(b, bob, 2);
    assert!(!watch.wait_timeout(QUIET), "bob's mail is not alice's");
}

/// Callbacks: called for the user's changes, not after the subscription is dropped.
pub fn callbacks_stop_when_the_subscription_is_dropped(b: &dyn Backend) {
    let alice = user(b, "alice", None);
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let subscription = b
        .mail()
        .on_change(
            alice,
            Box::new(move || {
                counter.fetch_add(1, Ordering::SeqCst);
            }),
        )
        .unwrap();
    fill(b, alice, 1);
    let deadline = std::time::Instant::now() + WAKE;
    while calls.load(Ordering::SeqCst) == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(calls.load(Ordering::SeqCst) >= 1);
    drop(subscription);
    let after = calls.load(Ordering::SeqCst);
    fill(b, alice, 1);
    std::thread::sleep(QUIET);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        after,
        "dropped means unsubscribed"
    );
}

/// Writes through a second handle on the same data (what the CLI, another process, does):
/// a delivery, a flag change and a mailbox change each wake the first handle's subscriber.
pub fn subscribers_wake_on_changes_from_another_handle(b: &dyn Backend) {
    let alice = user(b, "alice", None);
    fill(b, alice, 1);
    let other = b.second();
    let mut watch = b.mail().watch(alice).unwrap();
    assert!(!watch.wait_timeout(QUIET));
    deliver_to(
        other.store(),
        alice,
        "INBOX",
        b"elsewhere\r\n",
        Flags::default(),
    )
    .unwrap();
    assert!(
        watch.wait_timeout(WAKE),
        "woken by another process's delivery"
    );
    let inbox = mailbox(b, alice, "INBOX").id;
    other
        .mail()
        .store_flags(inbox, &UidSet::all(), &seen(FlagOp::Add))
        .unwrap();
    assert!(
        watch.wait_timeout(WAKE),
        "woken by another process's flag change"
    );
    other
        .mail()
        .mailbox_rename(alice, &name("Junk"), &name("Spam"))
        .unwrap();
    assert!(
        watch.wait_timeout(WAKE),
        "woken by another process's rename"
    );
    assert!(!watch.wait_timeout(QUIET), "one change, one wake-up");
}
