//! Coordination: leases and windowed counters (the POP3 maildrop lock, the login throttle).

use super::Backend;

/// A lease is one owner's until it runs out or is released; its owner may extend it.
pub async fn a_lease_has_one_owner_until_it_runs_out(b: &dyn Backend) {
    let s = b.store();
    assert!(s.lease_take("pop3:1", "node-a", 100, 160).await.unwrap());
    assert!(!s.lease_take("pop3:1", "node-b", 120, 180).await.unwrap());
    assert_eq!(s.lease_until("pop3:1", 120).await.unwrap(), Some(160));
    assert!(
        s.lease_take("pop3:1", "node-a", 150, 210).await.unwrap(),
        "its owner extends it"
    );
    assert!(!s.lease_take("pop3:1", "node-b", 200, 260).await.unwrap());
    assert!(
        s.lease_take("pop3:1", "node-b", 210, 270).await.unwrap(),
        "ran out: anyone's"
    );
    s.lease_release("pop3:1", "node-a").await.unwrap();
    assert_eq!(
        s.lease_until("pop3:1", 220).await.unwrap(),
        Some(270),
        "only the owner releases"
    );
    s.lease_release("pop3:1", "node-b").await.unwrap();
    assert_eq!(s.lease_until("pop3:1", 220).await.unwrap(), None);
    assert!(s.lease_take("pop3:1", "node-a", 220, 280).await.unwrap());
    assert!(
        s.lease_take("pop3:2", "node-b", 220, 280).await.unwrap(),
        "names are separate"
    );
}

/// Two takers at once: exactly one gets the lease.
pub async fn a_contended_lease_goes_to_one(b: &dyn Backend) {
    let mut tasks = Vec::new();
    for n in 0..8 {
        let s = b.store();
        tasks.push(tokio::spawn(async move {
            s.lease_take("contended", &format!("owner-{n}"), 1000, 1060)
                .await
                .unwrap()
        }));
    }
    let mut won = 0;
    for task in tasks {
        won += usize::from(task.await.unwrap());
    }
    assert_eq!(won, 1);
}

/// A counter sums what was added within its window, forgets older amounts, and resets.
pub async fn counters_sum_their_window(b: &dyn Backend) {
    let s = b.store();
    let window = 160; // buckets of 10 s
    assert_eq!(s.counter_add("fail:x", 1, 1000, window).await.unwrap(), 1);
    assert_eq!(s.counter_add("fail:x", 2, 1005, window).await.unwrap(), 3);
    assert_eq!(s.counter_add("fail:x", 1, 1100, window).await.unwrap(), 4);
    assert_eq!(
        s.counter_add("fail:y", 1, 1100, window).await.unwrap(),
        1,
        "keys are separate"
    );
    assert_eq!(
        s.counter_add("fail:x", 0, 1100, window).await.unwrap(),
        4,
        "0 reads"
    );
    // 1000's bucket leaves the window once it starts more than 160 s ago.
    assert_eq!(s.counter_add("fail:x", 0, 1161, window).await.unwrap(), 1);
    s.counter_reset("fail:x").await.unwrap();
    assert_eq!(s.counter_add("fail:x", 0, 1161, window).await.unwrap(), 0);
    // Concurrent additions all count.
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let s = b.store();
        tasks.push(tokio::spawn(async move {
            s.counter_add("busy", 1, 2000, window).await.unwrap()
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(s.counter_add("busy", 0, 2001, window).await.unwrap(), 20);
}

/// A shared secret is made once, by whichever handle asks first, and every handle (another
/// node, a process started later) gets the same bytes.
pub async fn every_handle_shares_one_secret(b: &dyn Backend) {
    let other = b.second().await;
    let (mine, theirs) = (b.store(), other.store());
    let (a, b_) = tokio::join!(
        mine.shared_secret("srs.key"),
        theirs.shared_secret("srs.key")
    );
    let (a, b_) = (a.unwrap(), b_.unwrap());
    assert_eq!(a, b_, "asked at once, one secret");
    assert_eq!(a.len(), 32);
    assert_eq!(mine.shared_secret("srs.key").await.unwrap(), a, "kept");
    let web = theirs.shared_secret("web.key").await.unwrap();
    assert_ne!(web, a, "each name its own secret");
    assert_eq!(mine.shared_secret("web.key").await.unwrap(), web);
}
