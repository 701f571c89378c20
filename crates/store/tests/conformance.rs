//! The store's contract (tests/contract) run against the embedded SQLite store on a
//! temporary directory, plus what only SQLite can show (reference counts, the log's size,
//! when local writers announce).

#[macro_use]
mod contract;

use contract::Backend;
use hermod_store::{EmbeddedStore, Store};
use std::path::PathBuf;
use std::sync::Arc;

struct Sqlite {
    dir: Arc<tempfile::TempDir>,
    store: EmbeddedStore,
}

/// Opening blocks (it creates and migrates the database): off the runtime's threads.
async fn open(dir: PathBuf) -> EmbeddedStore {
    tokio::task::spawn_blocking(move || EmbeddedStore::open(&dir))
        .await
        .unwrap()
        .unwrap()
}

impl Sqlite {
    async fn new() -> Sqlite {
        let dir = Arc::new(tempfile::tempdir().unwrap());
        let store = open(dir.path().into()).await;
        Sqlite { dir, store }
    }

    /// The index, with the bulk guard's own file attached (its tables live there).
    fn db(&self) -> rusqlite::Connection {
        let db = rusqlite::Connection::open(self.dir.path().join("hermod.db")).unwrap();
        let counters = self.dir.path().join("bulk.db");
        db.execute(
            "ATTACH DATABASE ?1 AS counters",
            [counters.to_str().unwrap()],
        )
        .unwrap();
        db
    }
}

#[async_trait::async_trait]
impl Backend for Sqlite {
    fn store(&self) -> Arc<dyn Store> {
        Arc::new(self.store.clone())
    }

    /// Another `EmbeddedStore::open` of the same directory: what the CLI or a second
    /// server process has.
    async fn second(&self) -> Box<dyn Backend> {
        Box::new(Sqlite {
            dir: self.dir.clone(),
            store: open(self.dir.path().into()).await,
        })
    }

    async fn rows(&self, table: &str) -> u64 {
        let n: i64 = self
            .db()
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap();
        n as u64
    }
}

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                contract::$name(&Sqlite::new().await).await;
            }
        )*
    };
}

every_contract!(contract);

/// SQLite only: what the embedded backend keeps on disk and how it announces, checked
/// through its database file and its blocking interface.
mod sqlite_only {
    use super::{Sqlite, contract};
    use hermod_store::{FlagChange, FlagOp, Flags, Mail, MailStore, Queue, SpecialUse, UidSet};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    impl Sqlite {
        fn column(&self, sql: &str) -> Vec<i64> {
            let db = self.db();
            let mut stmt = db.prepare(sql).unwrap();
            stmt.query_map([], |r| r.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect()
        }
    }

    /// A copy adds a reference to the one stored body; expunging references removes the
    /// body only with the last one.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn copies_are_body_references() {
        let b = Sqlite::new().await;
        let alice = contract::user(&b, "alice", None).await;
        let body = vec![b'r'; hermod_store::INLINE_MAX + 1];
        contract::deliver_to(&b.store, alice, "INBOX", &body, Default::default())
            .await
            .unwrap();
        let inbox = contract::mailbox(&b, alice, "INBOX").await.id;
        let trash = contract::mailbox(&b, alice, "Trash").await.id;
        let refs = || b.column("SELECT refs FROM blobs");
        b.store
            .copy_messages(inbox, &UidSet::all(), trash)
            .await
            .unwrap();
        assert_eq!(refs(), [2], "one body, two references");
        b.store.expunge(inbox, &[contract::uid(1)]).await.unwrap();
        assert_eq!(refs(), [1]);
        b.store.expunge(trash, &[contract::uid(1)]).await.unwrap();
        assert!(refs().is_empty(), "the last reference took the body");
    }

    /// A cache entry goes with its body, whether the last reference was expunged or the
    /// entry was written after.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn body_cache_rows_go_with_their_bodies() {
        let b = Sqlite::new().await;
        contract::body_cache_follows_its_body(&b).await;
        assert!(b.column("SELECT length(data) FROM body_cache").is_empty());
    }

    /// The change log keeps one row per UID however often flags change: its size follows
    /// the mailbox, not its history.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_change_log_keeps_one_row_per_uid() {
        let b = Sqlite::new().await;
        let alice = contract::user(&b, "alice", None).await;
        contract::fill(&b, alice, 5).await;
        let inbox = contract::mailbox(&b, alice, "INBOX").await.id;
        for op in [FlagOp::Add, FlagOp::Remove].into_iter().cycle().take(20) {
            let change = FlagChange {
                op,
                flags: contract::flags(Flags::SEEN, &[]),
                unchanged_since: None,
            };
            b.store
                .store_flags(inbox, &UidSet::all(), &change)
                .await
                .unwrap();
        }
        b.store.expunge(inbox, &[contract::uid(2)]).await.unwrap();
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

    /// Writers in this process announce their own commits, without waiting for the poller
    /// that watches other processes: the callback has run by the time the write returns.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn local_writes_wake_subscribers_before_returning() {
        let b = Sqlite::new().await;
        let alice = contract::user(&b, "alice", None).await;
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = calls.clone();
        let callback = Box::new(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        let _subscription = b.store.on_change(alice, callback).await.unwrap();
        contract::fill(&b, alice, 1).await;
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "the delivery's commit announced it"
        );
        let inbox = contract::mailbox(&b, alice, "INBOX").await.id;
        let replace = |flags| FlagChange {
            op: FlagOp::Replace,
            flags,
            unchanged_since: None,
        };
        let one = UidSet::range(1, 1);
        b.store
            .store_flags(inbox, &one, &replace(Flags::default()))
            .await
            .unwrap();
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "flags unchanged: nothing to announce"
        );
        let seen = contract::flags(Flags::SEEN, &[]);
        b.store
            .store_flags(inbox, &one, &replace(seen))
            .await
            .unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        b.store
            .delete_mailbox(alice, &contract::name("Junk"))
            .await
            .unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    /// Special use can be changed through the blocking interface (the roles only set it at
    /// create); the change is what the roles then find.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn special_use_can_be_changed() {
        let b = Sqlite::new().await;
        let alice = contract::user(&b, "alice", None).await;
        b.store
            .create_mailbox(alice, &contract::name("Archives"), None)
            .await
            .unwrap();
        let blocking = b.store.blocking().clone();
        tokio::task::spawn_blocking(move || {
            let set =
                |name: &str, use_| blocking.set_special_use(alice, &contract::name(name), use_);
            set("Junk", None).unwrap();
            set("Archives", Some(SpecialUse::Junk)).unwrap();
            assert!(matches!(
                set("nope", None),
                Err(hermod_store::StoreError::UnknownMailbox(_))
            ));
        })
        .await
        .unwrap();
        let junk = b
            .store
            .mailbox_by_special_use(alice, SpecialUse::Junk)
            .await
            .unwrap();
        assert_eq!(junk.unwrap().name.as_str(), "Archives");
    }

    /// Finishing an entry takes its body along when nothing else holds it, also when the
    /// finish is a bounce; a body still filed in a mailbox stays.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn finished_entries_leave_no_body_behind() {
        use hermod_store::{Outbound, OutboundRecipient, Report};
        let b = Sqlite::new().await;
        let alice = contract::user(&b, "alice", None).await;
        let out = Outbound {
            sender: Some("alice@example.test".into()),
            recipients: vec![OutboundRecipient {
                address: "x@far.test".into(),
                notify: None,
                orcpt: None,
            }],
            ..Default::default()
        };
        let bodies = || b.column("SELECT refs FROM blobs ORDER BY id");
        let queue = |body: &'static [u8], filed: bool| {
            let (store, out) = (b.store.clone(), out.clone());
            let targets = if filed {
                vec![contract::target(alice, "Sent", Flags::default())]
            } else {
                vec![]
            };
            async move {
                let blob = contract::seal(&store, body).await.unwrap();
                let submitted = store.submit(blob, &targets, Some(&out)).await.unwrap();
                submitted.queue_id.unwrap()
            }
        };
        let plain = queue(b"plain\r\n", false).await;
        b.store.queue_finish(plain, None).await.unwrap();
        assert!(bodies().is_empty(), "removed with its entry");

        let bounced = queue(b"bounced\r\n", false).await;
        let report = Report {
            blob: contract::seal(&b.store, b"sorry\r\n").await.unwrap(),
            targets: vec![contract::target(alice, "INBOX", Flags::default())],
            outbound: None,
        };
        b.store.queue_finish(bounced, Some(report)).await.unwrap();
        assert_eq!(bodies(), [1], "only the report's body is left");

        let kept = queue(b"kept\r\n", true).await;
        assert_eq!(bodies(), [1, 2], "filed and queued: one body");
        assert!(b.store.queue_remove(kept).await.unwrap());
        assert_eq!(bodies(), [1, 1], "the filed copy keeps it");
    }
}
