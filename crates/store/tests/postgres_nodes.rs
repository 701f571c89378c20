//! Several hermod nodes on one PostgreSQL database: two `PostgresStore` handles (two pools,
//! two listeners) are two nodes. What must hold across them: UIDs unique and visible in
//! order, quotas, and change notifications surviving a lost listening connection.

#[path = "support/postgres.rs"]
mod support;

use hermod_store::{
    DeliveryTarget, Directory, Flags, Mail, PostgresOptions, PostgresStore, StoreError, UidSet,
    UserId,
};
use hermod_types::{Address, Domain, MailboxName};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

async fn node(url: &str) -> PostgresStore {
    PostgresStore::connect(&PostgresOptions::new(url))
        .await
        .unwrap()
}

async fn account(store: &PostgresStore, quota: Option<u64>) -> UserId {
    store
        .add_domain(&Domain::parse("example.test").unwrap())
        .await
        .unwrap();
    let address = Address::parse("alice@example.test").unwrap();
    store.add_user(&address, "hash", quota).await.unwrap()
}

async fn deliver(store: &PostgresStore, user: UserId, body: &[u8]) -> Result<(), StoreError> {
    let (writer, _) = store.blob_writer()?.append(body.to_vec()).await?;
    let blob = writer.seal_async().await?;
    let target = DeliveryTarget {
        user,
        mailbox: MailboxName::inbox(),
        flags: Flags::default(),
        internal_date: 1_700_000_000,
    };
    store.submit(blob, &[target], None).await.map(drop)
}

/// Two nodes deliver into one mailbox at once, past its owner's quota. Every message gets
/// its own UID; a reader polling meanwhile only ever sees UIDs 1..=n (a UID never becomes
/// visible before a smaller one: commit order); MODSEQs ascend with UIDs; the quota is
/// filled exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_deliver_into_one_mailbox_in_commit_order_within_the_quota() {
    let url = support::fresh_database().await;
    let (first, second) = (node(&url).await, node(&url).await);
    const SIZE: usize = 1000;
    const FITS: usize = 60;
    let alice = account(&first, Some((SIZE * FITS) as u64)).await;
    let inbox = first
        .mailbox(alice, &MailboxName::inbox())
        .await
        .unwrap()
        .unwrap()
        .id;
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (store, done) = (first.clone(), done.clone());
        tokio::spawn(async move {
            let mut looks = 0;
            while !done.load(Ordering::SeqCst) {
                let seen = store.messages_in(inbox, &UidSet::all()).await.unwrap();
                let uids: Vec<u32> = seen.iter().map(|m| m.uid.get()).collect();
                let prefix: Vec<u32> = (1..=uids.len() as u32).collect();
                assert_eq!(uids, prefix, "a UID visible before a smaller one");
                looks += 1;
            }
            looks
        })
    };
    let mut writers = Vec::new();
    for (n, store) in [first.clone(), second.clone()].into_iter().enumerate() {
        for task in 0..4 {
            let store = store.clone();
            writers.push(tokio::spawn(async move {
                let mut refused = 0;
                for i in 0..10 {
                    let mut body = format!("node {n} task {task} message {i}\r\n").into_bytes();
                    body.resize(SIZE, b'.');
                    match deliver(&store, alice, &body).await {
                        Ok(()) => {}
                        Err(StoreError::OverQuota(_)) => refused += 1,
                        Err(e) => panic!("{e}"),
                    }
                }
                refused
            }));
        }
    }
    let mut refused = 0;
    for writer in writers {
        refused += writer.await.unwrap();
    }
    done.store(true, Ordering::SeqCst);
    assert!(reader.await.unwrap() > 0, "the reader looked");
    let stored = second.messages(inbox).await.unwrap();
    assert_eq!(stored.len(), FITS, "filled to the quota, not beyond");
    assert_eq!(refused, 80 - FITS);
    let uids: Vec<u32> = stored.iter().map(|m| m.uid.get()).collect();
    assert_eq!(uids, (1..=FITS as u32).collect::<Vec<_>>());
    assert!(stored.windows(2).all(|w| w[0].modseq < w[1].modseq));
    let address = Address::parse("alice@example.test").unwrap();
    let record = first.user(&address).await.unwrap().unwrap();
    assert_eq!(record.used, (SIZE * FITS) as u64);
    let mailbox = second
        .mailbox(alice, &MailboxName::inbox())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        mailbox.uid_next,
        FITS as u32 + 1,
        "refused copies take no UID"
    );
}

/// The listening connection is killed: its subscribers are woken (they may have missed
/// something), the listener connects again, and changes made by another node afterwards
/// wake them as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_listening_connection_wakes_subscribers_and_comes_back() {
    let url = support::fresh_database().await;
    let (first, second) = (node(&url).await, node(&url).await);
    let alice = account(&first, None).await;
    let woken = Arc::new(tokio::sync::Notify::new());
    let signal = woken.clone();
    let _subscription = first
        .on_change(alice, Box::new(move || signal.notify_one()))
        .await
        .unwrap();
    let wait = |what: &'static str| {
        let woken = woken.clone();
        async move {
            let got = tokio::time::timeout(Duration::from_secs(10), woken.notified()).await;
            assert!(got.is_ok(), "{what}");
        }
    };
    deliver(&second, alice, b"before\r\n").await.unwrap();
    wait("woken by the other node's delivery").await;

    let (admin, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let killed = admin
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = current_database() AND query LIKE 'LISTEN%'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(killed.len(), 1, "one listening connection");
    wait("woken when the connection was lost").await;

    // Listening again within the listener's first pauses; then the other node's changes
    // arrive as before (a delivery made while it was away also wakes, by the catch-up).
    let mut listening = false;
    for _ in 0..100 {
        let rows = admin
            .query(
                "SELECT 1 FROM pg_stat_activity
                 WHERE datname = current_database() AND query LIKE 'LISTEN%'",
                &[],
            )
            .await
            .unwrap();
        if !rows.is_empty() {
            listening = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(listening, "the listener connected again");
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Take any wake-up of the reconnection itself.
    let _ = tokio::time::timeout(Duration::from_millis(300), woken.notified()).await;
    deliver(&second, alice, b"after\r\n").await.unwrap();
    wait("woken by the other node's delivery after the reconnection").await;
}
