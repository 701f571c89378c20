//! The outbound queue: what a submission queues, claims with leases (two processes on one
//! store never hold one entry at once; a dead one's claims run out), results recorded only
//! by the holder, per-recipient outcomes, and reports (bounces, delay notices) committed
//! together with what they report on.

use super::*;
use hermod_store::{
    Outbound, OutboundRecipient, QueueUpdate, RecipientOutcome, RecipientState, Report,
};

/// Far in the future of any entry's creation: everything queued now is due.
const NOW: i64 = 4_000_000_000;

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
        held: None,
    }
}

/// A report (bounce or delay notice) to `a@example.test`, sent out.
async fn report_to_sender(store: &dyn Store, text: &str) -> Report {
    Report {
        blob: seal(store, text.as_bytes()).await.unwrap(),
        targets: Vec::new(),
        outbound: Some(outbound(None, &["a@example.test"])),
    }
}

async fn enqueue(store: &dyn Store, to: &[&str]) -> i64 {
    let blob = seal(store, b"Subject: out\r\n\r\nx\r\n").await.unwrap();
    let outbound = outbound(Some("a@example.test"), to);
    let submitted = store.submit(blob, &[], Some(&outbound)).await.unwrap();
    assert!(submitted.delivered.is_empty());
    submitted.queue_id.unwrap()
}

fn delivered(reply: &str) -> QueueUpdate {
    QueueUpdate::Delivered {
        reply: reply.into(),
    }
}

fn outcome(recipient: &str, state: RecipientState, reply: Option<&str>) -> RecipientOutcome {
    RecipientOutcome {
        recipient: recipient.into(),
        state,
        last_reply: reply.map(str::to_owned),
    }
}

/// A submission is filed and queued in one commit: a local copy and a queue entry of the
/// same body, with the envelope as given; or, when the local part fails, neither.
pub async fn a_submission_is_filed_and_queued_together(b: &dyn Backend) {
    let s = b.store();
    let alice = user(b, "alice", Some(1000)).await;
    let text = b"Subject: both\r\n\r\nhere and there\r\n";
    let mut out = outbound(Some("alice@example.test"), &["x@far.test", "Y@Other.test"]);
    out.envid = Some("env-1".into());
    out.ret = Some("HDRS".into());
    out.smtputf8 = true;
    out.recipients[0].notify = Some("FAILURE,DELAY".into());
    out.recipients[0].orcpt = Some("rfc822;x@far.test".into());
    let blob = seal(&*s, text).await.unwrap();
    let sent = [target(alice, "Sent", flags(Flags::SEEN, &[]))];
    let submitted = s.submit(blob, &sent, Some(&out)).await.unwrap();
    let id = submitted.queue_id.expect("queued");
    assert_eq!(submitted.delivered.len(), 1);
    assert_eq!(submitted.delivered[0].user, alice);
    let filed = s.messages(submitted.delivered[0].mailbox).await.unwrap();
    let queued = s.queued(id).await.unwrap().unwrap();
    assert_eq!(queued.blob, filed[0].blob, "one body for both");
    assert_eq!(read_body(&*s, &queued.blob).await, text);
    assert_eq!(queued.size, text.len() as u64);
    assert_eq!(queued.sender.as_deref(), Some("alice@example.test"));
    assert_eq!(queued.envid.as_deref(), Some("env-1"));
    assert_eq!(queued.ret.as_deref(), Some("HDRS"));
    assert!(queued.smtputf8 && !queued.delay_notified);
    let rcpts: Vec<_> = queued
        .recipients
        .iter()
        .map(|r| (r.address.as_str(), r.domain.as_str(), r.attempts))
        .collect();
    assert_eq!(
        rcpts,
        [
            ("Y@Other.test", "other.test", 0),
            ("x@far.test", "far.test", 0)
        ]
    );
    let x = &queued.recipients[1];
    assert_eq!(x.notify.as_deref(), Some("FAILURE,DELAY"));
    assert_eq!(x.orcpt.as_deref(), Some("rfc822;x@far.test"));
    assert_eq!(x.last_error, None);
    let listed = s.queue().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].id, &listed[0].sender),
        (id, &"alice@example.test".into())
    );
    assert_eq!(listed[0].recipients.len(), 2);

    // Over quota locally: nothing is filed and nothing queued.
    let blob = seal(&*s, &[b'o'; 2000]).await.unwrap();
    let refused = s.submit(blob, &sent, Some(&out)).await;
    assert!(
        matches!(refused, Err(StoreError::OverQuota(_))),
        "{refused:?}"
    );
    assert_eq!(s.queue().await.unwrap().len(), 1, "no second entry");
    let sent_box = mailbox(b, alice, "Sent").await.id;
    assert_eq!(s.messages(sent_box).await.unwrap().len(), 1);

    // No remote recipients: nothing to queue.
    let blob = seal(&*s, b"x\r\n").await.unwrap();
    let empty = outbound(Some("alice@example.test"), &[]);
    let local = s.submit(blob, &sent, Some(&empty)).await.unwrap();
    assert_eq!((local.delivered.len(), local.queue_id), (1, None));
}

/// Several bodies with remote recipients (a delivery whose Sieve scripts edited some local
/// copies): the first body is queued, the others filed, in one commit or not at all.
pub async fn several_bodies_are_filed_and_the_first_queued_together(b: &dyn Backend) {
    let s = b.store();
    let alice = user(b, "alice", Some(1000)).await;
    let out = outbound(Some("a@example.test"), &["x@far.test"]);
    let bodies = |first: &'static [u8], second: &'static [u8]| {
        let s = s.clone();
        async move {
            vec![
                (seal(&*s, first).await.unwrap(), Vec::new()),
                (
                    seal(&*s, second).await.unwrap(),
                    vec![target(alice, "INBOX", Flags::default())],
                ),
            ]
        }
    };
    let submitted = s
        .submit_all(
            bodies(b"arrived\r\n", b"X-Edited: 1\r\narrived\r\n").await,
            Some(&out),
        )
        .await
        .unwrap();
    let id = submitted.queue_id.expect("queued");
    let queued = s.queued(id).await.unwrap().unwrap();
    assert_eq!(read_body(&*s, &queued.blob).await, b"arrived\r\n");
    let filed = s.messages(submitted.delivered[0].mailbox).await.unwrap();
    assert_eq!(
        read_body(&*s, &filed[0].blob).await,
        b"X-Edited: 1\r\narrived\r\n"
    );
    // The edited copy over quota: nothing filed, nothing queued.
    let refused = s
        .submit_all(bodies(b"again\r\n", &[b'o'; 2000]).await, Some(&out))
        .await;
    assert!(
        matches!(refused, Err(StoreError::OverQuota(_))),
        "{refused:?}"
    );
    assert_eq!(s.queue().await.unwrap().len(), 1, "no second entry");
}

/// A claimed entry is nobody else's until its lease runs out; renewing extends it; once it
/// is over another process takes the entry, and the first one's late result is refused.
pub async fn a_claimed_entry_is_nobody_elses_until_its_lease_runs_out(b: &dyn Backend) {
    let first = b.store();
    // A second process on the same data.
    let second = b.second().await.store();
    let id = enqueue(&*first, &["x@far.test"]).await;
    let claimed = first.queue_claim("node-a", NOW, 120, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].id, id);
    assert_eq!(claimed[0].recipients[0].address, "x@far.test");
    assert!(
        second
            .queue_claim("node-b", NOW + 10, 120, 10)
            .await
            .unwrap()
            .is_empty(),
        "held by node-a"
    );
    assert!(
        first
            .queue_claim("node-a", NOW + 10, 120, 10)
            .await
            .unwrap()
            .is_empty(),
        "a held entry is not handed out twice, not even to its holder"
    );
    // node-a keeps delivering: its lease grows.
    let renewed = first.queue_renew("node-a", &[id], NOW + 200).await.unwrap();
    assert_eq!(renewed, vec![id]);
    assert!(
        second
            .queue_claim("node-b", NOW + 150, 120, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // Only the holder renews or releases.
    assert!(
        second
            .queue_renew("node-b", &[id], NOW + 900)
            .await
            .unwrap()
            .is_empty()
    );
    second.queue_release("node-b", id).await.unwrap();
    assert!(
        second
            .queue_claim("node-b", NOW + 150, 120, 10)
            .await
            .unwrap()
            .is_empty(),
        "another's release left the claim alone"
    );
    // node-a dies: once its lease is over, node-b takes the entry.
    let taken = second
        .queue_claim("node-b", NOW + 201, 120, 10)
        .await
        .unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].id, id);
    // node-a's late result is not recorded, nor can it renew.
    let late = [("x@far.test".to_owned(), delivered("250 late"))];
    assert!(!first.queue_record("node-a", id, &late).await.unwrap());
    assert_eq!(
        first.queue_outcomes(id).await.unwrap(),
        [outcome("x@far.test", RecipientState::Pending, None)],
        "the loser changed nothing"
    );
    assert!(
        first
            .queue_renew("node-a", &[id], NOW + 400)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(second.queue_record("node-b", id, &late).await.unwrap());
    assert_eq!(
        first.queue_outcomes(id).await.unwrap(),
        [outcome(
            "x@far.test",
            RecipientState::Delivered,
            Some("250 late")
        )]
    );
    // Nothing left to deliver: nobody claims it again.
    assert!(
        first
            .queue_claim("node-a", NOW + 1000, 120, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// A released entry is free again at once; renewing reports only the ids still held.
pub async fn a_released_entry_is_free_again(b: &dyn Backend) {
    let s = b.store();
    let one = enqueue(&*s, &["x@far.test"]).await;
    let two = enqueue(&*s, &["y@far.test"]).await;
    let claimed = s.queue_claim("one", NOW, 600, 10).await.unwrap();
    let ids: Vec<i64> = claimed.iter().map(|m| m.id).collect();
    assert_eq!(ids, [one, two], "oldest first");
    s.queue_release("one", one).await.unwrap();
    let held = s.queue_renew("one", &[one, two], NOW + 900).await.unwrap();
    assert_eq!(held, [two]);
    let taken = s.queue_claim("two", NOW, 600, 10).await.unwrap();
    assert_eq!(taken.iter().map(|m| m.id).collect::<Vec<_>>(), [one]);
}

/// A claim takes at most `limit` entries, oldest first; the rest stay for the next claim.
pub async fn claims_take_at_most_their_limit(b: &dyn Backend) {
    let s = b.store();
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(enqueue(&*s, &[&format!("r{n}@far.test")]).await);
    }
    let first = s.queue_claim("a", NOW, 600, 2).await.unwrap();
    assert_eq!(first.iter().map(|m| m.id).collect::<Vec<_>>(), ids[..2]);
    let rest = s.queue_claim("b", NOW, 600, 10).await.unwrap();
    assert_eq!(rest.iter().map(|m| m.id).collect::<Vec<_>>(), ids[2..]);
    assert!(s.queue_claim("c", NOW, 600, 10).await.unwrap().is_empty());
}

/// Each recipient keeps its own state: delivered and failed ones are done, a deferred one
/// comes back (alone) when due; `queue_retry_now` makes waiting recipients due at once, for
/// one entry or all.
pub async fn recipients_keep_their_own_state(b: &dyn Backend) {
    let s = b.store();
    let id = enqueue(&*s, &["x@far.test", "y@far.test", "z@other.test"]).await;
    let other = enqueue(&*s, &["w@far.test"]).await;
    let pending = [
        outcome("x@far.test", RecipientState::Pending, None),
        outcome("y@far.test", RecipientState::Pending, None),
        outcome("z@other.test", RecipientState::Pending, None),
    ];
    assert_eq!(s.queue_outcomes(id).await.unwrap(), pending);
    let claimed = s.queue_claim("me", NOW, 60, 10).await.unwrap();
    assert_eq!(claimed.len(), 2);
    let later = NOW + 3600;
    let results = [
        ("x@far.test".to_owned(), delivered("250 ok")),
        (
            "y@far.test".to_owned(),
            QueueUpdate::Failed {
                error: "550 no such user".into(),
            },
        ),
        (
            "z@other.test".to_owned(),
            QueueUpdate::Deferred {
                next_attempt: later,
                error: "451 try later".into(),
            },
        ),
    ];
    assert!(s.queue_record("me", id, &results).await.unwrap());
    let deferred = [("w@far.test".to_owned(), results[2].1.clone())];
    assert!(s.queue_record("me", other, &deferred).await.unwrap());
    assert_eq!(
        s.queue_outcomes(id).await.unwrap(),
        [
            outcome("x@far.test", RecipientState::Delivered, Some("250 ok")),
            outcome(
                "y@far.test",
                RecipientState::Failed,
                Some("550 no such user")
            ),
            outcome(
                "z@other.test",
                RecipientState::Deferred,
                Some("451 try later")
            ),
        ]
    );
    assert!(RecipientState::Delivered.is_final() && !RecipientState::Deferred.is_final());
    let left = s.queued(id).await.unwrap().unwrap();
    assert_eq!(left.recipients.len(), 1, "only the unfinished one");
    assert_eq!(left.recipients[0].address, "z@other.test");
    assert_eq!(left.recipients[0].attempts, 1);
    assert_eq!(
        left.recipients[0].last_error.as_deref(),
        Some("451 try later")
    );
    s.queue_release("me", id).await.unwrap();
    s.queue_release("me", other).await.unwrap();
    assert!(
        s.queue_claim("me", later - 1, 60, 10)
            .await
            .unwrap()
            .is_empty(),
        "deferred until its next attempt"
    );
    let due = s.queue_claim("me", later, 60, 10).await.unwrap();
    assert_eq!(due.len(), 2);
    assert_eq!(due[0].recipients.len(), 1);
    for entry in &due {
        s.queue_release("me", entry.id).await.unwrap();
    }

    // Retry now: one entry...
    assert_eq!(s.queue_retry_now(Some(id), NOW + 10).await.unwrap(), 1);
    let due = s.queue_claim("me", NOW + 10, 60, 10).await.unwrap();
    assert_eq!(due.iter().map(|m| m.id).collect::<Vec<_>>(), [id]);
    assert_eq!(due[0].recipients[0].attempts, 1);
    s.queue_release("me", id).await.unwrap();
    // ... or all of them; done recipients stay done.
    assert_eq!(s.queue_retry_now(None, NOW + 20).await.unwrap(), 2);
    let due = s.queue_claim("me", NOW + 20, 60, 10).await.unwrap();
    assert_eq!(due.iter().map(|m| m.id).collect::<Vec<_>>(), [id, other]);
    assert_eq!(
        s.queue_outcomes(id).await.unwrap()[0].state,
        RecipientState::Delivered
    );
    assert!(s.queue_remove(id).await.unwrap());
    assert!(!s.queue_remove(id).await.unwrap(), "gone already");
    assert!(s.queued(id).await.unwrap().is_none());
    assert!(s.queue_outcomes(id).await.unwrap().is_empty());
    assert_eq!(s.queue().await.unwrap().len(), 1);
}

/// The bounce and the removal are one commit: after it the entry is gone and exactly one
/// report is queued, from the null sender. Without a report, finishing only removes.
pub async fn a_bounce_replaces_its_entry_in_one_commit(b: &dyn Backend) {
    let s = b.store();
    let id = enqueue(&*s, &["x@far.test"]).await;
    let keep = enqueue(&*s, &["k@far.test"]).await;
    let report = report_to_sender(&*s, "Subject: Undelivered Mail\r\n\r\nsorry\r\n").await;
    s.queue_finish(id, Some(report)).await.unwrap();
    let queue = s.queue().await.unwrap();
    assert_eq!(queue.len(), 2, "{queue:?}");
    assert_eq!(queue[0].id, keep);
    let bounce = &queue[1];
    assert!(bounce.id != id && bounce.id != keep);
    assert_eq!(bounce.sender, "", "a bounce has the null sender");
    assert_eq!(bounce.recipients.len(), 1);
    assert_eq!(bounce.recipients[0].0, "a@example.test");
    assert!(s.queued(id).await.unwrap().is_none());
    let queued = s.queued(bounce.id).await.unwrap().unwrap();
    assert_eq!(queued.sender, None);
    let text = read_body(&*s, &queued.blob).await;
    assert!(text.starts_with(b"Subject: Undelivered Mail"));

    // A second finisher (a process whose claim ran out) queues no second report.
    let late = report_to_sender(&*s, "Subject: Undelivered Mail\r\n\r\nagain\r\n").await;
    assert!(matches!(
        s.queue_finish(id, Some(late)).await,
        Err(hermod_store::StoreError::QueueEntryGone(gone)) if gone == id
    ));
    assert_eq!(s.queue().await.unwrap().len(), 2, "no second bounce");

    s.queue_finish(keep, None).await.unwrap();
    let queue = s.queue().await.unwrap();
    assert_eq!(queue.len(), 1);
    assert_eq!(queue[0].id, bounce.id);
}

/// A report for a local sender files into the mailbox (and queues nothing), in the same
/// commit that removes the entry.
pub async fn a_bounce_to_a_local_sender_is_filed(b: &dyn Backend) {
    let s = b.store();
    let alice = user(b, "alice", None).await;
    let id = enqueue(&*s, &["x@far.test"]).await;
    let text = "Subject: Undelivered Mail\r\n\r\nsorry\r\n";
    let report = Report {
        blob: seal(&*s, text.as_bytes()).await.unwrap(),
        targets: vec![target(alice, "INBOX", Flags::default())],
        outbound: None,
    };
    let watch = Watch::new(&*s, alice).await;
    s.queue_finish(id, Some(report)).await.unwrap();
    assert!(
        s.queue().await.unwrap().is_empty(),
        "entry gone, nothing queued"
    );
    let inbox = mailbox(b, alice, "INBOX").await;
    let filed = s.messages(inbox.id).await.unwrap();
    assert_eq!(filed.len(), 1);
    assert_eq!(read_body(&*s, &filed[0].blob).await, text.as_bytes());
    assert_eq!(inbox.uid_next, 2);
    assert!(
        watch.woken(Duration::from_secs(10)).await,
        "a filed report wakes the mailbox's sessions"
    );
    assert_eq!(used(b, "alice").await, text.len() as u64);
}

/// A delay notice is queued and its entry marked as told, in one commit; the entry stays,
/// claimable as before.
pub async fn a_delay_notice_marks_its_entry(b: &dyn Backend) {
    let s = b.store();
    let id = enqueue(&*s, &["y@far.test"]).await;
    assert!(!s.queued(id).await.unwrap().unwrap().delay_notified);
    let notice = report_to_sender(&*s, "Subject: Delayed Mail\r\n\r\nwaiting\r\n").await;
    s.queue_delay_notice(id, notice).await.unwrap();
    let entry = s.queued(id).await.unwrap().unwrap();
    assert!(entry.delay_notified);
    assert_eq!(entry.recipients.len(), 1, "the entry stays as it was");
    let queue = s.queue().await.unwrap();
    assert_eq!(queue.len(), 2);
    assert_eq!((queue[0].id, queue[1].sender.as_str()), (id, ""));
    let claimed = s.queue_claim("me", NOW, 60, 10).await.unwrap();
    assert_eq!(claimed.len(), 2, "the entry and its notice");
    let mine = claimed.iter().find(|m| m.id == id).unwrap();
    assert!(mine.delay_notified);
    // One notice per entry, however many times it is asked for.
    let again = report_to_sender(&*s, "Subject: Delayed Mail\r\n\r\nstill\r\n").await;
    assert!(s.queue_delay_notice(id, again).await.is_err());
    assert_eq!(s.queue().await.unwrap().len(), 2);
}

/// A held entry is listed with its reason but claimed by nobody, and `queue_retry_now`
/// leaves it held; released, it is due at once and claimed like any other; releasing what
/// is not held does nothing.
pub async fn held_entries_wait_for_release(b: &dyn Backend) {
    let s = b.store();
    user(b, "a", None).await;
    let blob = seal(&*s, b"Subject: held\r\n\r\nx\r\n").await.unwrap();
    let mut out = outbound(Some("a@example.test"), &["x@far.test"]);
    out.held = Some("bulk: 51 recipients".into());
    let id = s
        .submit(blob, &[], Some(&out))
        .await
        .unwrap()
        .queue_id
        .unwrap();
    let free = enqueue(&*s, &["y@far.test"]).await;
    let listed = s.queue().await.unwrap();
    let held: Vec<_> = listed.iter().map(|e| (e.id, e.held.clone())).collect();
    assert_eq!(
        held,
        [(id, Some("bulk: 51 recipients".into())), (free, None)]
    );
    s.queue_retry_now(None, NOW).await.unwrap();
    let claimed = s.queue_claim("relay", NOW, 120, 10).await.unwrap();
    assert_eq!(claimed.iter().map(|m| m.id).collect::<Vec<_>>(), [free]);
    assert!(!s.queue_release_held(free, NOW).await.unwrap(), "not held");
    assert!(s.queue_release_held(id, NOW).await.unwrap());
    assert!(
        !s.queue_release_held(id, NOW).await.unwrap(),
        "released already"
    );
    let claimed = s.queue_claim("relay", NOW, 120, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].id, id);
    assert_eq!(
        claimed[0].created, NOW,
        "its queue time starts at the release"
    );
    assert!(s.queue().await.unwrap().iter().all(|e| e.held.is_none()));
}
