//! The queue's coordination contract: claims with leases (two processes on one store never
//! hold one entry at once; a dead one's claims run out), results recorded only by the
//! holder, and a bounce committed together with the removal of what it reports on.

use hermod_store::{
    BlockingStore, Outbound, OutboundRecipient, QueueUpdate, Report, SealedBlob, SqliteStore,
};
use std::io::Write;

fn body(store: &SqliteStore, text: &str) -> SealedBlob {
    let mut w = store.blob_writer().unwrap();
    w.write_all(text.as_bytes()).unwrap();
    w.seal().unwrap()
}

fn outbound(sender: Option<&str>, to: &[&str]) -> Outbound {
    Outbound {
        sender: sender.map(str::to_owned),
        recipients: to
            .iter()
            .map(|a| OutboundRecipient {
                address: (*a).into(),
                notify: None,
                orcpt: None,
            })
            .collect(),
        envid: None,
        ret: None,
        smtputf8: false,
    }
}

fn report_to_sender(blob: SealedBlob) -> Report {
    Report {
        blob,
        targets: Vec::new(),
        outbound: Some(outbound(None, &["a@example.test"])),
    }
}

fn enqueue(store: &SqliteStore, to: &[&str]) -> i64 {
    let blob = body(store, "Subject: out\r\n\r\nx\r\n");
    let outbound = outbound(Some("a@example.test"), to);
    store
        .submit(blob, &[], Some(&outbound))
        .unwrap()
        .queue_id
        .unwrap()
}

#[test]
fn a_claimed_entry_is_nobody_elses_until_its_lease_runs_out() {
    let dir = tempfile::tempdir().unwrap();
    let a = SqliteStore::open(dir.path()).unwrap();
    // A second process on the same data.
    let b = SqliteStore::open(dir.path()).unwrap();
    let id = enqueue(&a, &["x@far.test"]);
    let now = 4_000_000_000;
    assert_eq!(a.queue_claim("node-a", now, 120, 10).unwrap().len(), 1);
    assert!(
        b.queue_claim("node-b", now + 10, 120, 10)
            .unwrap()
            .is_empty(),
        "held by node-a"
    );
    // node-a keeps delivering: its lease grows.
    assert_eq!(a.queue_renew("node-a", &[id], now + 200).unwrap(), vec![id]);
    assert!(
        b.queue_claim("node-b", now + 150, 120, 10)
            .unwrap()
            .is_empty()
    );
    // node-a dies: once its lease is over, node-b takes the entry.
    let taken = b.queue_claim("node-b", now + 201, 120, 10).unwrap();
    assert_eq!(taken.len(), 1);
    // node-a's late result is not recorded, nor can it renew.
    let late = [(
        "x@far.test".to_owned(),
        QueueUpdate::Delivered {
            reply: "250 late".into(),
        },
    )];
    assert!(!a.queue_record("node-a", id, &late).unwrap());
    assert!(
        a.queue_renew("node-a", &[id], now + 400)
            .unwrap()
            .is_empty()
    );
    assert!(b.queue_record("node-b", id, &late).unwrap());
    let outcomes = b.queue_outcomes(id).unwrap();
    assert_eq!(outcomes[0].last_reply.as_deref(), Some("250 late"));
}

#[test]
fn a_released_entry_is_free_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let id = enqueue(&store, &["x@far.test"]);
    let now = 4_000_000_000;
    assert_eq!(store.queue_claim("one", now, 600, 10).unwrap().len(), 1);
    store.queue_release("one", id).unwrap();
    assert_eq!(store.queue_claim("two", now, 600, 10).unwrap().len(), 1);
}

/// The bounce and the removal are one commit: after it the entry is gone and exactly one
/// report is queued (a crash before it leaves the entry and no report).
#[test]
fn a_bounce_replaces_its_entry_in_one_commit() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let id = enqueue(&store, &["x@far.test"]);
    let report = body(&store, "Subject: Undelivered Mail\r\n\r\nsorry\r\n");
    store
        .queue_finish(id, Some(report_to_sender(report)))
        .unwrap();
    let queue = store.queue().unwrap();
    assert_eq!(queue.len(), 1, "{queue:?}");
    assert_ne!(queue[0].id, id);
    assert_eq!(queue[0].sender, "", "a bounce has the null sender");
    assert!(store.queued(id).unwrap().is_none());

    // A delay notice marks its entry in the same commit.
    let id = enqueue(&store, &["y@far.test"]);
    let notice = body(&store, "Subject: Delayed Mail\r\n\r\nwaiting\r\n");
    store
        .queue_delay_notice(id, report_to_sender(notice))
        .unwrap();
    assert!(store.queued(id).unwrap().unwrap().delay_notified);
    assert_eq!(store.queue().unwrap().len(), 3);
}
