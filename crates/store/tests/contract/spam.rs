//! The spam filter's data: Bayesian counts per model and greylisting.

use super::*;
use hermod_store::{BayesCounts, GreylistState, LearnedMessage};

/// A lesson about `digest` as `spam`, worked out when the model had learned it as `before`.
fn learned(digest: &[u8], spam: bool, before: Option<bool>) -> LearnedMessage {
    LearnedMessage {
        digest: digest.to_vec(),
        spam,
        before,
    }
}

fn sorted(mut counts: BayesCounts) -> BayesCounts {
    counts.tokens.sort();
    counts
}

/// Learning adds up (per model), unlearning subtracts but never below zero and drops
/// tokens that reach nothing; `seen` remembers how each message was learned; every change
/// moves the generation.
pub async fn bayes_counts_add_up_per_model(b: &dyn Backend) {
    let s = b.store();
    let alice = user(b, "alice", None).await;
    assert_eq!(s.bayes_load(None).await.unwrap(), BayesCounts::default());
    let start = s.bayes_generation().await.unwrap();
    let learn = BayesCounts {
        spam_messages: 2,
        ham_messages: 1,
        tokens: vec![(u64::MAX, 2, 0), (7, 1, 1)],
    };
    s.bayes_learn(None, &learn, &[learned(b"one", true, None)])
        .await
        .unwrap();
    let once = s.bayes_generation().await.unwrap();
    assert!(once > start);
    s.bayes_learn(None, &learn, &[]).await.unwrap();
    assert!(s.bayes_generation().await.unwrap() > once);
    let model = sorted(s.bayes_load(None).await.unwrap());
    assert_eq!((model.spam_messages, model.ham_messages), (4, 2));
    assert_eq!(
        model.tokens,
        [(7, 2, 2), (u64::MAX, 4, 0)],
        "all 64 bits kept"
    );

    let digests = [b"one".to_vec(), b"two".to_vec()];
    assert_eq!(
        s.bayes_seen(None, &digests).await.unwrap(),
        [Some(true), None]
    );
    let unlearn = BayesCounts {
        spam_messages: -1,
        ham_messages: 0,
        tokens: vec![(u64::MAX, -10, 0), (7, -1, 0)],
    };
    let before = s.bayes_generation().await.unwrap();
    s.bayes_learn(
        None,
        &unlearn,
        &[
            learned(b"one", false, Some(true)),
            learned(b"two", true, None),
        ],
    )
    .await
    .unwrap();
    assert!(s.bayes_generation().await.unwrap() > before);
    assert_eq!(
        s.bayes_seen(None, &digests).await.unwrap(),
        [Some(false), Some(true)],
        "learning again moves a message"
    );
    let model = s.bayes_load(None).await.unwrap();
    assert_eq!(model.tokens, [(7, 1, 2)], "a token at nothing is gone");
    assert_eq!((model.spam_messages, model.ham_messages), (3, 2));

    // A user's model is its own.
    assert_eq!(
        s.bayes_load(Some(alice)).await.unwrap(),
        BayesCounts::default()
    );
    assert_eq!(
        s.bayes_seen(Some(alice), &digests).await.unwrap(),
        [None, None]
    );
    let mine = BayesCounts {
        spam_messages: 0,
        ham_messages: 1,
        tokens: vec![(42, 0, 1)],
    };
    s.bayes_learn(Some(alice), &mine, &[learned(b"two", false, None)])
        .await
        .unwrap();
    assert_eq!(s.bayes_load(Some(alice)).await.unwrap(), mine);
    assert_eq!(
        s.bayes_seen(Some(alice), &digests).await.unwrap(),
        [None, Some(false)]
    );
    assert_eq!(
        s.bayes_seen(None, &digests).await.unwrap(),
        [Some(false), Some(true)],
        "the server-wide model is untouched"
    );
    assert_eq!(s.bayes_load(None).await.unwrap().tokens, [(7, 1, 2)]);
    assert!(s.bayes_seen(None, &[]).await.unwrap().is_empty());
}

/// The verdict's calibration: none at first, then the last one stored (kept as given: the
/// store does not read it), and storing one moves the generation so that servers reload.
pub async fn bayes_calibration_is_replaced_and_moves_the_generation(b: &dyn Backend) {
    let s = b.store();
    assert_eq!(s.bayes_calibration().await.unwrap(), None);
    let start = s.bayes_generation().await.unwrap();
    s.bayes_set_calibration("junk_cut=0.53 ham=2075")
        .await
        .unwrap();
    let once = s.bayes_generation().await.unwrap();
    assert!(once > start);
    assert_eq!(
        s.bayes_calibration().await.unwrap().as_deref(),
        Some("junk_cut=0.53 ham=2075")
    );
    s.bayes_set_calibration("junk_cut=0.61").await.unwrap();
    assert!(s.bayes_generation().await.unwrap() > once);
    assert_eq!(
        s.bayes_calibration().await.unwrap().as_deref(),
        Some("junk_cut=0.61")
    );
    // Learning leaves it alone.
    let learn = BayesCounts {
        spam_messages: 1,
        ham_messages: 0,
        tokens: vec![(1, 1, 0)],
    };
    s.bayes_learn(None, &learn, &[]).await.unwrap();
    assert_eq!(
        s.bayes_calibration().await.unwrap().as_deref(),
        Some("junk_cut=0.61")
    );
}

/// Greylisting: a new triplet waits, the wait shrinks with time, the first attempt after
/// the delay passes and later ones are known; triplets are independent; one not seen for a
/// long time is forgotten.
pub async fn greylisting_waits_then_passes_then_knows(b: &dyn Backend) {
    let s = b.store();
    let key = "192.0.2.0/24 a@b.example c@d.example";
    assert_eq!(
        s.greylist(key, 1000, 300).await.unwrap(),
        GreylistState::Wait(300)
    );
    assert_eq!(
        s.greylist(key, 1100, 300).await.unwrap(),
        GreylistState::Wait(200)
    );
    assert_eq!(
        s.greylist("other", 1100, 300).await.unwrap(),
        GreylistState::Wait(300),
        "triplets are independent"
    );
    assert_eq!(
        s.greylist(key, 1300, 300).await.unwrap(),
        GreylistState::Passed
    );
    assert_eq!(
        s.greylist(key, 1301, 300).await.unwrap(),
        GreylistState::Known
    );
    assert_eq!(
        s.greylist(key, 90_000, 300).await.unwrap(),
        GreylistState::Known
    );
    assert_eq!(
        s.greylist("other", 1399, 300).await.unwrap(),
        GreylistState::Wait(1)
    );
    // Forgotten after long silence: a new triplet elsewhere sweeps it.
    let later = 90_000 + 36 * 86_400;
    s.greylist("third", later, 300).await.unwrap();
    assert_eq!(
        s.greylist(key, later, 300).await.unwrap(),
        GreylistState::Wait(300)
    );
}

/// Two learners that read what the model knew, then both teach the same message: the second
/// lesson was worked out from what the first changed, so the store refuses it whole (no
/// message counted twice) until it is worked out again.
pub async fn a_lesson_raced_by_another_is_refused_whole(b: &dyn Backend) {
    let s = b.store();
    let digests = [b"raced".to_vec()];
    assert_eq!(s.bayes_seen(None, &digests).await.unwrap(), [None]);
    let one = BayesCounts {
        spam_messages: 1,
        ham_messages: 0,
        tokens: vec![(5, 1, 0)],
    };
    // Both read "not learned"; the first writes.
    s.bayes_learn(None, &one, &[learned(b"raced", true, None)])
        .await
        .unwrap();
    let generation = s.bayes_generation().await.unwrap();
    let second = s
        .bayes_learn(None, &one, &[learned(b"raced", true, None)])
        .await;
    assert!(
        matches!(second, Err(hermod_store::StoreError::LessonRaced)),
        "{second:?}"
    );
    assert_eq!(
        sorted(s.bayes_load(None).await.unwrap()),
        one,
        "counted once"
    );
    assert_eq!(s.bayes_generation().await.unwrap(), generation);
    // Worked out again from what the model knows now: nothing to learn, or a move.
    let moved = BayesCounts {
        spam_messages: -1,
        ham_messages: 1,
        tokens: vec![(5, -1, 1)],
    };
    s.bayes_learn(None, &moved, &[learned(b"raced", false, Some(true))])
        .await
        .unwrap();
    assert_eq!(s.bayes_seen(None, &digests).await.unwrap(), [Some(false)]);
}

/// Whom an account wrote to is kept per account; a known one's time moves once a day at
/// most; past the cap the longest unused go; deleting the account deletes them.
pub async fn correspondents_are_kept_per_account_and_capped(b: &dyn Backend) {
    let s = b.store();
    let (alice, bob) = (user(b, "alice", None).await, user(b, "bob", None).await);
    let friend = "friend@elsewhere.example".to_owned();
    assert_eq!(
        s.correspondents_of(&friend, &[alice, bob]).await.unwrap(),
        []
    );
    let twice = [friend.clone(), friend.clone()];
    s.correspondents_note(alice, &twice, 1_000).await.unwrap();
    assert_eq!(
        s.correspondents_of(&friend, &[alice, bob]).await.unwrap(),
        [alice]
    );
    assert_eq!(s.correspondents_of(&friend, &[bob]).await.unwrap(), []);
    assert_eq!(
        s.correspondents_of("other@elsewhere.example", &[alice])
            .await
            .unwrap(),
        []
    );
    // Past the cap the longest unused is forgotten; `friend` was written to again lately.
    let cap = hermod_store::MAX_CORRESPONDENTS as usize;
    let many: Vec<String> = (0..cap).map(|i| format!("n{i}@list.example")).collect();
    s.correspondents_note(alice, &many[..1], 2_000)
        .await
        .unwrap();
    let refreshed = 1_000 + hermod_store::CORRESPONDENT_REFRESH_SECS + 1;
    s.correspondents_note(alice, std::slice::from_ref(&friend), refreshed)
        .await
        .unwrap();
    s.correspondents_note(alice, &many[1..], refreshed + 1)
        .await
        .unwrap();
    assert_eq!(
        s.correspondents_of(&friend, &[alice]).await.unwrap(),
        [alice]
    );
    assert_eq!(
        s.correspondents_of(&many[0], &[alice]).await.unwrap(),
        [],
        "the oldest went"
    );
    assert_eq!(
        s.correspondents_of(&many[cap - 1], &[alice]).await.unwrap(),
        [alice]
    );
    let (total, latest) = s.correspondents_list(alice, 2).await.unwrap();
    assert_eq!(total, cap as u64);
    assert_eq!(latest.len(), 2);
    // Newest first (the last batch shares one time; by address within it).
    assert_eq!(latest[0], ("n1000@list.example".to_owned(), refreshed + 1));
    assert_eq!(latest[1].1, refreshed + 1);
    assert_eq!(s.correspondents_list(bob, 10).await.unwrap(), (0, vec![]));
    let forgotten = [friend.clone(), "never@elsewhere.example".to_owned()];
    s.correspondents_forget(alice, &forgotten).await.unwrap();
    assert_eq!(s.correspondents_of(&friend, &[alice]).await.unwrap(), []);
    s.remove_user(&addr("alice@example.test")).await.unwrap();
    s.correspondents_note(bob, std::slice::from_ref(&friend), 3_000)
        .await
        .unwrap();
    assert_eq!(
        s.correspondents_of(&friend, &[alice, bob]).await.unwrap(),
        [bob]
    );
}
