//! Change notifications: whoever commits a change to a user's mail, the user's subscribers
//! wake; other users' changes do not wake them. A subscriber here is what an IDLE session
//! is: an `on_change` callback waking a `tokio::sync::Notify`, awaited with a timeout.

use super::*;
use hermod_store::{FlagChange, FlagOp, UidSet};

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
pub async fn subscribers_wake_on_local_changes(b: &dyn Backend) {
    let s = b.store();
    let alice = user(b, "alice", None).await;
    let bob = user(b, "bob", None).await;
    fill(b, alice, 1).await;
    let watch = Watch::new(&*s, alice).await;
    assert!(
        !watch.woken(Duration::ZERO).await,
        "nothing changed since subscribing"
    );
    fill(b, alice, 1).await;
    assert!(watch.woken(WAKE).await, "woken by a delivery");
    let inbox = mailbox(b, alice, "INBOX").await.id;
    s.store_flags(inbox, &UidSet::range(1, 1), &seen(FlagOp::Add))
        .await
        .unwrap();
    assert!(watch.woken(WAKE).await, "woken by a flag change");
    s.add_flags(inbox, &[uid(2)], flags(Flags::SEEN, &[]))
        .await
        .unwrap();
    assert!(watch.woken(WAKE).await, "woken by add_flags (POP3 path)");
    s.expunge(inbox, &[uid(2)]).await.unwrap();
    assert!(watch.woken(WAKE).await, "woken by an expunge (POP3 path)");
    s.create_mailbox(alice, &name("New"), None).await.unwrap();
    assert!(watch.woken(WAKE).await, "woken by a new mailbox");
    fill(b, bob, 2).await;
    assert!(!watch.woken(QUIET).await, "bob's mail is not alice's");
}

/// Callbacks: called for the user's changes, not after the subscription is dropped.
pub async fn callbacks_stop_when_the_subscription_is_dropped(b: &dyn Backend) {
    let alice = user(b, "alice", None).await;
    let watch = Watch::new(&*b.store(), alice).await;
    fill(b, alice, 1).await;
    assert!(watch.woken(WAKE).await);
    assert!(watch.calls() >= 1);
    let calls = watch.stop();
    let after = calls.load(std::sync::atomic::Ordering::SeqCst);
    fill(b, alice, 1).await;
    tokio::time::sleep(QUIET).await;
    assert_eq!(
        calls.load(std::sync::atomic::Ordering::SeqCst),
        after,
        "dropped means unsubscribed"
    );
}

/// Two subscribers of one user both wake; dropping one leaves the other subscribed.
pub async fn every_subscriber_of_a_user_wakes(b: &dyn Backend) {
    let s = b.store();
    let alice = user(b, "alice", None).await;
    let first = Watch::new(&*s, alice).await;
    let second = Watch::new(&*s, alice).await;
    fill(b, alice, 1).await;
    assert!(first.woken(WAKE).await, "first subscriber");
    assert!(second.woken(WAKE).await, "second subscriber");
    first.stop();
    fill(b, alice, 1).await;
    assert!(second.woken(WAKE).await, "still subscribed");
}

/// Writes through a second handle on the same data (what the CLI, another process, does):
/// a delivery, a flag change and a mailbox change each wake the first handle's subscriber.
pub async fn subscribers_wake_on_changes_from_another_handle(b: &dyn Backend) {
    let alice = user(b, "alice", None).await;
    fill(b, alice, 1).await;
    let other = b.second().await.store();
    let watch = Watch::new(&*b.store(), alice).await;
    assert!(!watch.woken(QUIET).await);
    deliver_to(&*other, alice, "INBOX", b"elsewhere\r\n", Flags::default())
        .await
        .unwrap();
    assert!(
        watch.woken(WAKE).await,
        "woken by another process's delivery"
    );
    let inbox = mailbox(b, alice, "INBOX").await.id;
    other
        .store_flags(inbox, &UidSet::all(), &seen(FlagOp::Add))
        .await
        .unwrap();
    assert!(
        watch.woken(WAKE).await,
        "woken by another process's flag change"
    );
    other
        .rename_mailbox(alice, &name("Junk"), &name("Spam"))
        .await
        .unwrap();
    assert!(watch.woken(WAKE).await, "woken by another process's rename");
    assert!(!watch.woken(QUIET).await, "one change, one wake-up");
}
