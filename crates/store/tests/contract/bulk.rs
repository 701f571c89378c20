//! The bulk guard's memory (`SpamData::bulk_observe`): copies of one content counted per
//! scope within a sliding window, up to a cap, at a cost that does not grow with a campaign.

use super::*;
use hermod_store::{BulkCount, BulkScope, BulkSighting};

/// A signature of 60 four-byte numbers: the first `same` shared by every signature made
/// here, the rest unique to `seed`.
fn signature(same: usize, seed: u32) -> Vec<u8> {
    (0..60u32)
        .map(|i| {
            if (i as usize) < same {
                i
            } else {
                1000 + seed * 100 + i
            }
        })
        .flat_map(u32::to_le_bytes)
        .collect()
}

/// A sighting with a window of an hour, copies at 30 equal numbers, a cap above any count
/// here unless a test sets one.
fn sighting(scope: BulkScope, at: i64, sig: Vec<u8>, bands: &[i64], to: &[&str]) -> BulkSighting {
    BulkSighting {
        scope,
        at,
        since: at - 3600,
        signature: sig,
        bands: bands.to_vec(),
        min_equal: 30,
        recipients: to.iter().map(|s| s.to_string()).collect(),
        cap: 1000,
    }
}

fn count(copies: u64, before: u64, after: u64) -> BulkCount {
    BulkCount {
        copies,
        before,
        after,
    }
}

/// Copies of one content (a shared band, enough equal numbers) add up their distinct
/// recipients per scope within the window; a shared band with a different signature is no
/// copy; another scope, and what fell out of the window, count nothing.
pub async fn bulk_copies_count_distinct_recipients_per_scope(b: &dyn Backend) {
    let s = b.store();
    let alice = BulkScope::Account(user(b, "alice", None).await);
    let t = 1_700_000_000;
    let to = ["a@x.test", "b@x.test"];
    let first = sighting(alice, t, signature(60, 0), &[1, 2], &to);
    assert_eq!(s.bulk_observe(&first).await.unwrap(), count(0, 0, 2));
    let to = ["b@x.test", "c@x.test"];
    let copy = sighting(alice, t + 10, signature(40, 1), &[2, 3], &to);
    assert_eq!(s.bulk_observe(&copy).await.unwrap(), count(1, 2, 3));
    let unlike = sighting(alice, t + 20, signature(10, 2), &[1], &["d@x.test"]);
    assert_eq!(
        s.bulk_observe(&unlike).await.unwrap(),
        count(0, 0, 1),
        "a shared band but few equal numbers: no copy"
    );
    let inbound = sighting(BulkScope::Inbound, t + 30, signature(60, 0), &[1], &["e@x"]);
    assert_eq!(s.bulk_observe(&inbound).await.unwrap(), count(0, 0, 1));
    let again = sighting(alice, t + 40, signature(60, 0), &[1, 2], &["a@x.test"]);
    assert_eq!(
        s.bulk_observe(&again).await.unwrap(),
        count(2, 3, 3),
        "a recipient already counted adds nothing"
    );
    let later = sighting(alice, t + 3615, signature(60, 0), &[1, 2], &["z@x.test"]);
    assert_eq!(
        s.bulk_observe(&later).await.unwrap(),
        count(3, 1, 2),
        "only a@ (sent a copy at t+40) is still in the window; the copies are counted since \
         the content was first seen, as no whole window passed without one"
    );
    s.remove_user(&addr("alice@example.test")).await.unwrap();
    let after_removal = sighting(alice, t + 3620, signature(60, 0), &[1, 2], &["y@x.test"]);
    assert_eq!(
        s.bulk_observe(&after_removal).await.unwrap(),
        count(0, 0, 1),
        "the account's memory went with it"
    );
}

/// A campaign of 5,000 near-identical copies, each to a new recipient, is counted exactly
/// up to the cap, and the store keeps one cluster with the first copy's bands and no more
/// recipients than the cap: what a copy costs does not grow with the campaign.
pub async fn bulk_campaign_keeps_one_cluster(b: &dyn Backend) {
    const COPIES: u32 = 5_000;
    const CAP: u64 = 51;
    let s = b.store();
    let t = 1_700_000_000;
    for i in 0..COPIES {
        // 18 bands shared by the whole campaign, 2 of each copy's own.
        let bands: Vec<i64> = (0..18)
            .chain([1000 + 2 * i64::from(i), 1001 + 2 * i64::from(i)])
            .collect();
        let to = format!("r{i}@x.test");
        let copy = BulkSighting {
            cap: CAP,
            ..sighting(
                BulkScope::Inbound,
                t + i64::from(i / 10),
                signature(50, i + 1),
                &bands,
                &[to.as_str()],
            )
        };
        let n = u64::from(i);
        assert_eq!(
            s.bulk_observe(&copy).await.unwrap(),
            count(n, n.min(CAP), (n + 1).min(CAP)),
            "copy {i}"
        );
    }
    assert_eq!(b.rows("bulk_clusters").await, 1);
    assert_eq!(
        b.rows("bulk_bands").await,
        20,
        "the first copy's bands only"
    );
    assert_eq!(b.rows("bulk_recipients").await, CAP);
}

/// With a cap of 5 and a window of 100 s: counts are exact below the cap however the window
/// slides (the cap keeps the latest recipients, not the first), a recipient whose copy left
/// the window counts again, and a content silent for a whole window starts afresh while its
/// old memory is forgotten.
pub async fn bulk_window_slides_under_the_cap(b: &dyn Backend) {
    let s = b.store();
    let alice = BulkScope::Account(user(b, "alice", None).await);
    let t = 1_700_000_000;
    let observe = |at: i64, to: &[&str]| BulkSighting {
        since: at - 100,
        cap: 5,
        ..sighting(alice, at, signature(60, 0), &[7], to)
    };
    let seen = s.bulk_observe(&observe(t, &["r0", "r1", "r2"])).await;
    assert_eq!(seen.unwrap(), count(0, 0, 3));
    let seen = s.bulk_observe(&observe(t + 50, &["r3"])).await;
    assert_eq!(seen.unwrap(), count(1, 3, 4));
    let seen = s.bulk_observe(&observe(t + 60, &["r4", "r5"])).await;
    assert_eq!(seen.unwrap(), count(2, 4, 5), "six recipients: the cap");
    assert_eq!(
        b.rows("bulk_recipients").await,
        5,
        "no more kept than the cap"
    );
    let seen = s.bulk_observe(&observe(t + 70, &["r0"])).await;
    assert_eq!(seen.unwrap(), count(3, 5, 5));
    // The window now starts at t+30: r3, r4, r5 and r0 (again at t+70) are in it.
    let seen = s.bulk_observe(&observe(t + 130, &["r6"])).await;
    assert_eq!(seen.unwrap(), count(4, 4, 5), "exact again below the cap");
    // From t+100: only r6; r3's copy of t+50 left the window, so r3 counts again.
    let seen = s.bulk_observe(&observe(t + 200, &["r3"])).await;
    assert_eq!(seen.unwrap(), count(5, 1, 2));
    // From t+300: nothing since t+200; the old cluster's memory ran out at t+300.
    let seen = s.bulk_observe(&observe(t + 400, &["r9"])).await;
    assert_eq!(seen.unwrap(), count(0, 0, 1));
    assert_eq!(
        b.rows("bulk_clusters").await,
        1,
        "the silent content forgotten"
    );
    assert_eq!(b.rows("bulk_recipients").await, 1);
}

/// Forty different contents that share one band key stay forty clusters, each counting
/// alone; a copy of the oldest is still found through its own band, however crowded the
/// shared one is.
pub async fn bulk_distinct_contents_stay_apart(b: &dyn Backend) {
    let s = b.store();
    let alice = BulkScope::Account(user(b, "alice", None).await);
    let t = 1_700_000_000;
    for i in 0..40u32 {
        let to = format!("r{i}@x.test");
        let band = 100 + i64::from(i);
        let content = sighting(
            alice,
            t + i64::from(i),
            signature(0, i),
            &[99, band],
            &[to.as_str()],
        );
        assert_eq!(
            s.bulk_observe(&content).await.unwrap(),
            count(0, 0, 1),
            "content {i}"
        );
    }
    assert_eq!(b.rows("bulk_clusters").await, 40);
    assert_eq!(b.rows("bulk_bands").await, 80);
    let oldest = sighting(alice, t + 50, signature(0, 0), &[99, 100], &["s@x.test"]);
    assert_eq!(s.bulk_observe(&oldest).await.unwrap(), count(1, 1, 2));
    let newest = sighting(alice, t + 51, signature(0, 39), &[99], &["s@x.test"]);
    assert_eq!(s.bulk_observe(&newest).await.unwrap(), count(1, 1, 2));
    assert_eq!(b.rows("bulk_clusters").await, 40, "copies start no cluster");
}

/// A copy sharing ten band keys with its cluster is found though sixty other contents
/// crowd those keys (each sharing one of them with it, like the chance collisions of
/// texts from one vocabulary): the candidates compared are the ones the keys point at
/// most, not the newest; and a content like none of them starts its own cluster.
pub async fn bulk_copy_found_among_chance_collisions(b: &dyn Backend) {
    let s = b.store();
    let t = 1_700_000_000;
    let shared: Vec<i64> = (10..20).collect();
    let first = sighting(
        BulkScope::Inbound,
        t,
        signature(0, 0),
        &shared,
        &["a@x.test"],
    );
    assert_eq!(s.bulk_observe(&first).await.unwrap(), count(0, 0, 1));
    for i in 1..=60u32 {
        let bands = [10 + i64::from(i % 10), 1000 + i64::from(i)];
        let to = format!("r{i}@x.test");
        let unlike = sighting(
            BulkScope::Inbound,
            t + i64::from(i),
            signature(0, i),
            &bands,
            &[to.as_str()],
        );
        assert_eq!(
            s.bulk_observe(&unlike).await.unwrap(),
            count(0, 0, 1),
            "content {i}"
        );
    }
    let copy = sighting(
        BulkScope::Inbound,
        t + 70,
        signature(0, 0),
        &shared,
        &["b@x"],
    );
    assert_eq!(s.bulk_observe(&copy).await.unwrap(), count(1, 1, 2));
    let new = sighting(
        BulkScope::Inbound,
        t + 71,
        signature(0, 99),
        &shared,
        &["c@x"],
    );
    assert_eq!(s.bulk_observe(&new).await.unwrap(), count(0, 0, 1));
    assert_eq!(b.rows("bulk_clusters").await, 62, "the copy started none");
}
