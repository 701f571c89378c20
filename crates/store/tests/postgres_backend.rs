//! The PostgreSQL backend beyond the store's contract: several hermod nodes on one database
//! (two `PostgresStore` handles, two pools and two listeners, are two nodes), where UIDs must
//! be unique and visible in order, quotas must hold, and change notifications must survive a
//! lost listening connection; and large bodies, stored and read a piece at a time.

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

/// Bodies larger than a stored piece (256 KiB), one of exactly two pieces among them: each
/// is kept in pieces of at most 256 KiB and reads back whole, cut at a limit across pieces,
/// streamed, and several at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_bodies_are_stored_and_read_in_pieces() {
    const PIECE: usize = 256 * 1024;
    let url = support::fresh_database().await;
    let store = node(&url).await;
    let alice = account(&store, None).await;
    let sizes = [2 * PIECE, 2 * PIECE + 7, 5 * PIECE / 2];
    let bodies: Vec<Vec<u8>> = sizes
        .iter()
        .enumerate()
        .map(|(n, &size)| (0..size).map(|i| (i * 7 + n) as u8).collect())
        .collect();
    for body in &bodies {
        deliver(&store, alice, body).await.unwrap();
    }
    let inbox = store
        .mailbox(alice, &MailboxName::inbox())
        .await
        .unwrap()
        .unwrap()
        .id;
    let listed = store.messages(inbox).await.unwrap();
    let (admin, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    for (meta, body) in listed.iter().zip(&bodies) {
        let pieces = admin
            .query(
                "SELECT length(data) FROM blob_chunks WHERE blob_id = $1 ORDER BY seq",
                &[&meta.blob.as_str()],
            )
            .await
            .unwrap();
        let lengths: Vec<i32> = pieces.iter().map(|r| r.get(0)).collect();
        assert_eq!(lengths.len(), body.len().div_ceil(PIECE), "{lengths:?}");
        assert!(lengths.iter().all(|&n| n as usize <= PIECE));
        assert_eq!(&store.read_blob(&meta.blob, None).await.unwrap(), body);
        let cut = PIECE + 10;
        let head = store.read_blob(&meta.blob, Some(cut as u64)).await.unwrap();
        assert_eq!(head, body[..cut]);
        let mut stream = store.open_blob(&meta.blob).await.unwrap();
        let mut streamed = Vec::new();
        loop {
            let chunk = stream.read_chunk(100_000).await.unwrap();
            if chunk.is_empty() {
                break;
            }
            assert!(chunk.len() <= 100_000);
            streamed.extend(chunk);
        }
        assert_eq!(&streamed, body);
    }
    let wanted: Vec<_> = listed.iter().map(|m| (m.blob.clone(), m.size)).collect();
    assert_eq!(store.read_blobs(&wanted).await.unwrap(), bodies);
    // Expunged everywhere, a body's pieces go with it; a reader that was in the middle of
    // one gets an error, never a short body.
    let mut reading = store.open_blob(&listed[2].blob).await.unwrap();
    assert_eq!(reading.read_chunk(1000).await.unwrap().len(), 1000);
    let uids: Vec<_> = listed.iter().map(|m| m.uid).collect();
    store.expunge(inbox, &uids).await.unwrap();
    let mut got = 1000;
    let cut_short = loop {
        match reading.read_chunk(100_000).await {
            Ok(chunk) if chunk.is_empty() => break false,
            Ok(chunk) => got += chunk.len(),
            Err(e) => break e.kind() == std::io::ErrorKind::UnexpectedEof,
        }
    };
    assert!(
        cut_short && got < bodies[2].len(),
        "read {got} octets, then no error"
    );
    let left = admin
        .query_one("SELECT count(*) FROM blob_chunks", &[])
        .await
        .unwrap();
    assert_eq!(left.get::<_, i64>(0), 0);
    assert!(store.read_blob(&listed[0].blob, None).await.is_err());
    assert!(store.open_blob(&listed[0].blob).await.is_err());
}
