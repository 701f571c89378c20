//! Several nodes on one PostgreSQL database racing in the queue, the spam data, the scripts
//! and the lists: two `PostgresStore` handles (two pools, as two hermod processes have)
//! after the same queue entries, counters, keys and addresses.

#[path = "support/postgres.rs"]
mod support;

use hermod_store::{
    BulkCount, BulkScope, BulkSighting, Directory, ListMode, ListSettings, Lists, Outbound,
    OutboundRecipient, PostgresOptions, PostgresStore, Queue, QueueUpdate, RecipientState, Report,
    Scripts, SpamData, Store, StoreError,
};
use hermod_types::{Address, Domain};
use std::collections::BTreeSet;

/// Far in the future of any entry's creation: everything queued now is due.
const NOW: i64 = 4_000_000_000;

/// Two nodes on one fresh database.
async fn two_nodes() -> (PostgresStore, PostgresStore) {
    let url = support::fresh_database().await;
    let options = PostgresOptions::new(url);
    let a = PostgresStore::connect(&options).await.unwrap();
    let b = PostgresStore::connect(&options).await.unwrap();
    (a, b)
}

async fn enqueue(store: &dyn Store, to: &str) -> i64 {
    let (writer, _) = store
        .blob_writer()
        .unwrap()
        .append(b"Subject: out\r\n\r\nx\r\n".to_vec())
        .await
        .unwrap();
    let blob = writer.seal_async().await.unwrap();
    let outbound = Outbound {
        sender: Some("a@example.test".into()),
        recipients: vec![OutboundRecipient {
            address: to.into(),
            notify: None,
            orcpt: None,
        }],
        ..Outbound::default()
    };
    let submitted = store.submit(blob, &[], Some(&outbound)).await.unwrap();
    submitted.queue_id.unwrap()
}

/// Claims for `owner`, a few entries at a time, until nothing is left; every id claimed.
async fn claim_until_empty(store: PostgresStore, owner: String) -> Vec<i64> {
    let mut mine = Vec::new();
    loop {
        let claimed = store.queue_claim(&owner, NOW, 120, 3).await.unwrap();
        if claimed.is_empty() {
            return mine;
        }
        mine.extend(claimed.iter().map(|m| m.id));
        tokio::task::yield_now().await;
    }
}

/// Two nodes claiming the same due entries at once split them: every entry is claimed, and
/// none by both.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_never_claim_one_entry() {
    let (a, b) = two_nodes().await;
    for round in 0..5 {
        let mut queued = BTreeSet::new();
        for n in 0..40 {
            queued.insert(enqueue(&a, &format!("r{round}-{n}@far.test")).await);
        }
        // Each node on a task of its own, as two processes run.
        let node_a = tokio::spawn(claim_until_empty(a.clone(), format!("node-a-{round}")));
        let node_b = tokio::spawn(claim_until_empty(b.clone(), format!("node-b-{round}")));
        let (by_a, by_b) = (node_a.await.unwrap(), node_b.await.unwrap());
        let set_a: BTreeSet<i64> = by_a.iter().copied().collect();
        let set_b: BTreeSet<i64> = by_b.iter().copied().collect();
        assert_eq!(set_a.len(), by_a.len(), "node a got an entry twice");
        assert_eq!(set_b.len(), by_b.len(), "node b got an entry twice");
        assert!(set_a.is_disjoint(&set_b), "round {round}: both claimed one");
        let all: BTreeSet<i64> = set_a.union(&set_b).copied().collect();
        assert_eq!(all, queued, "round {round}: every entry claimed");
        for id in all {
            assert!(a.queue_remove(id).await.unwrap());
        }
    }
}

/// A lease that runs out is taken over by the other node; the old owner can then neither
/// record results nor renew, and the new owner's results stand.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lapsed_lease_is_taken_over_and_the_old_owner_refused() {
    let (a, b) = two_nodes().await;
    let id = enqueue(&a, "x@far.test").await;
    assert_eq!(a.queue_claim("node-a", NOW, 60, 10).await.unwrap().len(), 1);
    assert!(
        b.queue_claim("node-b", NOW + 59, 60, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let taken = b.queue_claim("node-b", NOW + 60, 60, 10).await.unwrap();
    assert_eq!(taken.iter().map(|m| m.id).collect::<Vec<_>>(), [id]);

    let late = [(
        "x@far.test".to_owned(),
        QueueUpdate::Failed {
            error: "550 from the old owner".into(),
        },
    )];
    assert!(!a.queue_record("node-a", id, &late).await.unwrap());
    assert!(
        a.queue_renew("node-a", &[id], NOW + 500)
            .await
            .unwrap()
            .is_empty()
    );
    a.queue_release("node-a", id).await.unwrap();
    let pending = b.queue_outcomes(id).await.unwrap();
    assert_eq!(
        pending[0].state,
        RecipientState::Pending,
        "the loser changed nothing"
    );

    let done = [(
        "x@far.test".to_owned(),
        QueueUpdate::Delivered {
            reply: "250 ok".into(),
        },
    )];
    assert!(b.queue_record("node-b", id, &done).await.unwrap());
    let outcome = &a.queue_outcomes(id).await.unwrap()[0];
    assert_eq!(outcome.state, RecipientState::Delivered);
    assert_eq!(outcome.last_reply.as_deref(), Some("250 ok"));
}

/// Two copies of one content observed at once on two nodes both count: whichever commits
/// second sees the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn copies_observed_at_once_on_two_nodes_both_count() {
    let (a, b) = two_nodes().await;
    let at = 1_700_000_000;
    for round in 0..20u32 {
        // Each round its own content (numbers and band), all in one window: earlier rounds
        // are no copies, and nothing falls out of the window.
        let signature: Vec<u8> = (0..60u32)
            .flat_map(|i| (round * 1000 + i).to_le_bytes())
            .collect();
        let sighting = |to: &str| BulkSighting {
            scope: BulkScope::Inbound,
            at,
            since: at - 3600,
            signature: signature.clone(),
            bands: vec![i64::from(round)],
            min_equal: 30,
            recipients: vec![to.to_owned()],
            cap: 100,
        };
        let (one, two) = (sighting("one@x.test"), sighting("two@x.test"));
        let (node_a, node_b) = (a.clone(), b.clone());
        let one = tokio::spawn(async move { node_a.bulk_observe(&one).await });
        let two = tokio::spawn(async move { node_b.bulk_observe(&two).await });
        let (one, two) = (one.await.unwrap(), two.await.unwrap());
        let mut counts = [one.unwrap(), two.unwrap()];
        counts.sort_by_key(|c| c.copies);
        let first = BulkCount {
            copies: 0,
            before: 0,
            after: 1,
        };
        let second = BulkCount {
            copies: 1,
            before: 1,
            after: 2,
        };
        assert_eq!(counts, [first, second], "round {round}");
    }
}

fn addr(s: &str) -> Address {
    Address::parse(s).unwrap()
}

/// A list and an account created at once on two nodes for one address: exactly one gets it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_list_and_an_account_race_for_one_address() {
    let (a, b) = two_nodes().await;
    a.add_domain(&Domain::parse("example.test").unwrap())
        .await
        .unwrap();
    let settings = ListSettings {
        owner: "owner@example.test".into(),
        mode: ListMode::Discussion,
        moderated: false,
        refuse_non_members: false,
        archive: false,
    };
    for round in 0..10 {
        let list = addr(&format!("team{round}@example.test"));
        // Odd rounds race for the list's -request address instead of its own.
        let account = if round % 2 == 0 {
            list.clone()
        } else {
            addr(&format!("team{round}-request@example.test"))
        };
        let (made_list, made_user) = tokio::join!(
            a.list_create(&list, &settings),
            b.add_user(&account, "hash", None),
        );
        match (made_list, made_user) {
            (Ok(_), Err(StoreError::AddressTaken(_)))
            | (Err(StoreError::AddressTaken(_)), Ok(_)) => {}
            other => panic!("round {round}: {other:?}"),
        }
    }
}

/// The `duplicate` test on two nodes at once for one new key: one sees it new, one a
/// duplicate.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_key_seen_at_once_on_two_nodes_is_new_once() {
    let (a, b) = two_nodes().await;
    a.add_domain(&Domain::parse("example.test").unwrap())
        .await
        .unwrap();
    let user = a
        .add_user(&addr("alice@example.test"), "hash", None)
        .await
        .unwrap();
    for round in 0..20 {
        let key = format!("message-{round}");
        let (one, two) = tokio::join!(
            a.sieve_seen(user, &key, 1000, 100, false),
            b.sieve_seen(user, &key, 1000, 100, false),
        );
        let mut seen = [one.unwrap(), two.unwrap()];
        seen.sort();
        assert_eq!(seen, [false, true], "round {round}");
        // Expired later: again exactly one of two finds it new.
        let (one, two) = tokio::join!(
            a.sieve_seen(user, &key, 2000, 100, false),
            b.sieve_seen(user, &key, 2000, 100, false),
        );
        let mut seen = [one.unwrap(), two.unwrap()];
        seen.sort();
        assert_eq!(seen, [false, true], "round {round}, expired");
    }
}

async fn report(store: &dyn Store, text: &str) -> Report {
    let (writer, _) = store
        .blob_writer()
        .unwrap()
        .append(text.as_bytes().to_vec())
        .await
        .unwrap();
    Report {
        blob: writer.seal_async().await.unwrap(),
        targets: Vec::new(),
        outbound: Some(Outbound {
            sender: None,
            recipients: vec![OutboundRecipient {
                address: "a@example.test".into(),
                notify: None,
                orcpt: None,
            }],
            ..Outbound::default()
        }),
    }
}

/// Two nodes telling one entry's sender at once (a delay notice, then the bounce): one
/// notice and one bounce are queued, the other node is told the entry was done.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_reporting_at_once_queue_one_report() {
    let (a, b) = two_nodes().await;
    for round in 0..10 {
        let id = enqueue(&a, &format!("x{round}@far.test")).await;
        let (one, two) = (report(&a, "delayed").await, report(&b, "delayed").await);
        let (one, two) = tokio::join!(a.queue_delay_notice(id, one), b.queue_delay_notice(id, two));
        assert!(
            one.is_ok() != two.is_ok(),
            "round {round}: exactly one notice: {one:?} {two:?}"
        );
        let (one, two) = (report(&a, "bounced").await, report(&b, "bounced").await);
        let (one, two) = tokio::join!(a.queue_finish(id, Some(one)), b.queue_finish(id, Some(two)));
        let lost = [one, two]
            .into_iter()
            .filter_map(Result::err)
            .collect::<Vec<_>>();
        assert!(
            matches!(&lost[..], [StoreError::QueueEntryGone(gone)] if *gone == id),
            "round {round}: {lost:?}"
        );
        let queue = a.queue().await.unwrap();
        assert_eq!(
            queue.len(),
            2,
            "round {round}: one notice, one bounce: {queue:?}"
        );
        for entry in queue {
            assert_eq!(entry.sender, "");
            a.queue_remove(entry.id).await.unwrap();
        }
    }
}
