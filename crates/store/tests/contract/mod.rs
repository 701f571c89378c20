//! The store's contract, written once over the async roles (`Directory`, `Mail`, `Queue`,
//! `SpamData`: a [`Store`]) so that every backend runs the same functions: a backend's test
//! file implements [`Backend`] and calls each `pub async fn` here from a `#[tokio::test]`
//! (multi-threaded: the concurrency contracts race real tasks).

// A backend's test file may not use every helper.
#![allow(dead_code)]

mod cache;
mod directory;
mod folders;
mod lists;
mod messages;
mod queue;
mod scripts;
mod spam;
mod watching;

pub use cache::*;
pub use directory::*;
pub use folders::*;
pub use lists::*;
pub use messages::*;
pub use queue::*;
pub use scripts::*;
pub use spam::*;
pub use watching::*;

use hermod_store::{
    BlobId, ChangeSubscription, Delivered, DeliveryTarget, Flags, MailboxInfo, SealedBlob, Store,
    StoreError, UserId,
};
use hermod_types::{Address, Domain, MailboxName, Uid};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::Notify;

/// A store under test, and a way to open its data again as another process would.
#[async_trait::async_trait]
pub trait Backend: Send + Sync {
    /// The store (cheap: the same handle every time).
    fn store(&self) -> Arc<dyn Store>;
    /// A second, independent handle on the same data (another process, e.g. the CLI).
    async fn second(&self) -> Box<dyn Backend>;
}

pub fn name(s: &str) -> MailboxName {
    MailboxName::parse(s).unwrap()
}

pub fn uid(n: u32) -> Uid {
    Uid::new(n).unwrap()
}

pub fn addr(s: &str) -> Address {
    Address::parse(s).unwrap()
}

pub fn domain(s: &str) -> Domain {
    Domain::parse(s).unwrap()
}

pub fn flags(bits: u8, keywords: &[&str]) -> Flags {
    Flags {
        bits,
        keywords: keywords.iter().map(|k| k.to_string()).collect(),
    }
}

/// A user of `example.test` (the domain is added when missing).
pub async fn user(b: &dyn Backend, local: &str, quota: Option<u64>) -> UserId {
    let store = b.store();
    match store.add_domain(&domain("example.test")).await {
        Ok(()) | Err(StoreError::DomainExists(_)) => {}
        Err(e) => panic!("add_domain: {e}"),
    }
    let address = addr(&format!("{local}@example.test"));
    store.add_user(&address, "hash", quota).await.unwrap()
}

/// A sealed body, written the way async callers write one.
pub async fn seal(store: &dyn Store, body: &[u8]) -> Result<SealedBlob, StoreError> {
    let (writer, _) = store.blob_writer()?.append(body.to_vec()).await?;
    writer.seal_async().await
}

pub fn target(user: UserId, mailbox: &str, flags: Flags) -> DeliveryTarget {
    DeliveryTarget {
        user,
        mailbox: name(mailbox),
        flags,
        internal_date: 1_700_000_000,
    }
}

pub async fn deliver_to(
    store: &dyn Store,
    user: UserId,
    mailbox: &str,
    body: &[u8],
    flags: Flags,
) -> Result<Delivered, StoreError> {
    let blob = seal(store, body).await?;
    let targets = [target(user, mailbox, flags)];
    let mut submitted = store.submit(blob, &targets, None).await?;
    assert_eq!(submitted.queue_id, None, "nothing to queue");
    Ok(submitted.delivered.remove(0))
}

/// Delivers `n` small messages to the INBOX; returns their UIDs.
pub async fn fill(b: &dyn Backend, user: UserId, n: u32) -> Vec<Uid> {
    let store = b.store();
    let mut uids = Vec::new();
    for i in 0..n {
        let body = format!("Subject: {i}\r\n\r\nbody {i}\r\n");
        let delivered = deliver_to(&*store, user, "INBOX", body.as_bytes(), Flags::default())
            .await
            .unwrap();
        uids.push(delivered.uid);
    }
    uids
}

pub async fn mailbox(b: &dyn Backend, user: UserId, s: &str) -> MailboxInfo {
    b.store()
        .mailbox(user, &name(s))
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("mailbox {s} exists"))
}

pub async fn names(b: &dyn Backend, user: UserId) -> Vec<String> {
    b.store()
        .mailboxes(user)
        .await
        .unwrap()
        .iter()
        .map(|m| m.name.to_string())
        .collect()
}

pub async fn read_body(store: &dyn Store, blob: &BlobId) -> Vec<u8> {
    store.read_blob(blob, None).await.unwrap()
}

pub async fn used(b: &dyn Backend, local: &str) -> u64 {
    let address = addr(&format!("{local}@example.test"));
    b.store().user(&address).await.unwrap().unwrap().used
}

/// Change notifications as an async session takes them: the callback wakes a [`Notify`]
/// (and counts), the session awaits it with a timeout.
pub struct Watch {
    woken: Arc<Notify>,
    calls: Arc<AtomicUsize>,
    subscription: ChangeSubscription,
}

impl Watch {
    pub async fn new(store: &dyn Store, user: UserId) -> Watch {
        let woken = Arc::new(Notify::new());
        let calls = Arc::new(AtomicUsize::new(0));
        let (notify, counter) = (woken.clone(), calls.clone());
        let callback = Box::new(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            notify.notify_one();
        });
        let subscription = store.on_change(user, callback).await.unwrap();
        assert_eq!(subscription.user(), user);
        Watch {
            woken,
            calls,
            subscription,
        }
    }

    /// Whether a wake-up not yet taken comes within `within` (at once if one is pending).
    pub async fn woken(&self, within: Duration) -> bool {
        tokio::time::timeout(within, self.woken.notified())
            .await
            .is_ok()
    }

    /// How often the callback ran so far.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// Drops the subscription; the returned counter shows any later calls.
    pub fn stop(self) -> Arc<AtomicUsize> {
        drop(self.subscription);
        self.calls
    }
}
