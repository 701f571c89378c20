//! The `MailStore` contract (tests/mail_contract) run against the embedded SQLite store on a
//! temporary directory, plus what only SQLite can show (reference counts, the log's size).

mod mail_contract;

use hermod_store::{BlockingStore, MailStore, SqliteStore, UidSet};
use mail_contract::Backend;
use std::sync::Arc;

struct Sqlite {
    dir: Arc<tempfile::TempDir>,
    store: SqliteStore,
}

impl Sqlite {
    fn new() -> Sqlite {
        let dir = Arc::new(tempfile::tempdir().unwrap());
        let store = SqliteStore::open(dir.path()).unwrap();
        Sqlite { dir, store }
    }

    fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.dir.path().join("hermod.db")).unwrap()
    }
}

impl Backend for Sqlite {
    fn store(&self) -> &dyn BlockingStore {
        &self.store
    }

    fn mail(&self) -> &dyn MailStore {
        &self.store
    }

    fn second(&self) -> Box<dyn Backend> {
        Box::new(Sqlite {
            dir: self.dir.clone(),
            store: SqliteStore::open(self.dir.path()).unwrap(),
        })
    }
}

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                mail_contract::$name(&Sqlite::new());
            }
        )*
    };
}

contract!(
    uids_are_unique_and_ordered_under_concurrent_appends,
    every_change_bumps_modseq_and_nothing_bypasses_the_log,
    flags_and_keywords_change_atomically,
    unchanged_since_lets_exactly_one_writer_win,
    expunged_uids_are_reported_as_vanished,
    copy_and_move_share_one_body,
    copies_count_against_the_quota,
    quota_holds_under_concurrent_delivery,
    status_matches_a_full_listing,
    messages_in_lists_a_uid_range,
    create_makes_parents_and_fresh_uid_validity,
    inbox_is_case_insensitive,
    rename_moves_the_hierarchy,
    rename_of_inbox_moves_its_messages,
    delete_rules,
    subscriptions_are_names,
    special_use_lookup,
    subscribers_wake_on_local_changes,
    callbacks_stop_when_the_subscription_is_dropped,
    subscribers_wake_on_changes_from_another_handle,
);

/// A copy adds a reference to the one stored body; expunging references removes the body
/// only with the last one.
#[test]
fn copies_are_body_references() {
    let b = Sqlite::new();
    let alice = mail_contract::user(&b, "alice", None);
    let body = vec![b'r'; hermod_store::INLINE_MAX + 1];
    mail_contract::deliver_to(&b.store, alice, "INBOX", &body, Default::default()).unwrap();
    let inbox = mail_contract::mailbox(&b, alice, "INBOX").id;
    let trash = mail_contract::mailbox(&b, alice, "Trash").id;
    let refs = || -> Vec<i64> {
        let db = b.db();
        let mut stmt = db.prepare("SELECT refs FROM blobs").unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    b.store.copy_messages(inbox, &UidSet::all(), trash).unwrap();
    assert_eq!(refs(), [2], "one body, two references");
    b.store.expunge(inbox, &[mail_contract::uid(1)]).unwrap();
    assert_eq!(refs(), [1]);
    b.store.expunge(trash, &[mail_contract::uid(1)]).unwrap();
    assert!(refs().is_empty(), "the last reference took the body");
}

/// The change log keeps one row per UID however often flags change: its size follows the
/// mailbox, not its history.
#[test]
fn the_change_log_keeps_one_row_per_uid() {
    use hermod_store::{FlagChange, FlagOp, Flags};
    let b = Sqlite::new();
    let alice = mail_contract::user(&b, "alice", None);
    mail_contract::fill(&b, alice, 5);
    let inbox = mail_contract::mailbox(&b, alice, "INBOX").id;
    for op in [FlagOp::Add, FlagOp::Remove].into_iter().cycle().take(20) {
        let change = FlagChange {
            op,
            flags: mail_contract::flags(Flags::SEEN, &[]),
            unchanged_since: None,
        };
        b.store.store_flags(inbox, &UidSet::all(), &change).unwrap();
    }
    b.store.expunge(inbox, &[mail_contract::uid(2)]).unwrap();
    let rows: Vec<(u32, i64)> = {
        let db = b.db();
        let mut stmt = db
            .prepare("SELECT uid, kind FROM changelog WHERE mailbox_id = ?1 ORDER BY uid")
            .unwrap();
        stmt.query_map([inbox.0], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert_eq!(rows, [(1, 1), (2, 2), (3, 1), (4, 1), (5, 1)]);
}

/// Writers in this process announce their own commits, without waiting for the poller that
/// watches other processes: the callback has run by the time the write returns.
#[test]
fn local_writes_wake_subscribers_before_returning() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let b = Sqlite::new();
    let alice = mail_contract::user(&b, "alice", None);
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let _subscription = b
        .store
        .on_change(
            alice,
            Box::new(move || {
                counter.fetch_add(1, Ordering::SeqCst);
            }),
        )
        .unwrap();
    mail_contract::fill(&b, alice, 1);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "the delivery's commit announced it"
    );
    let inbox = mail_contract::mailbox(&b, alice, "INBOX").id;
    b.store
        .set_flags(inbox, &[mail_contract::uid(1)], Default::default())
        .unwrap();
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "flags unchanged: nothing to announce"
    );
    let seen = mail_contract::flags(hermod_store::Flags::SEEN, &[]);
    b.store
        .set_flags(inbox, &[mail_contract::uid(1)], seen)
        .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    b.store
        .mailbox_delete(alice, &mail_contract::name("Junk"))
        .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}
