//! `migrate_embedded`: an embedded store with every kind of item, copied into PostgreSQL,
//! then checked item by item through the roles (what IMAP, POP3, the queue and the spam
//! filter see), including that the copy goes on working (new UIDs, new ids, a queue claim).

#[path = "support/postgres.rs"]
mod support;

use hermod_store::{
    BayesCounts, BulkScope, BulkSighting, DeliveryTarget, Directory, DkimKeyRecord, EmbeddedStore,
    FlagChange, FlagOp, Flags, GreylistState, LearnedMessage, ListMode, ListSettings, Mail,
    MemberState, Outbound, OutboundRecipient, PostgresOptions, PostgresStore, Queue, SpamData,
    Store, UidSet, UserId, migrate_embedded,
};
use hermod_types::{Address, Domain, MailboxName, Uid};

fn addr(s: &str) -> Address {
    Address::parse(s).unwrap()
}

fn name(s: &str) -> MailboxName {
    MailboxName::parse(s).unwrap()
}

async fn deliver(store: &dyn Store, user: UserId, body: &[u8], flags: Flags) -> Uid {
    let (writer, _) = store
        .blob_writer()
        .unwrap()
        .append(body.to_vec())
        .await
        .unwrap();
    let blob = writer.seal_async().await.unwrap();
    let target = DeliveryTarget {
        user,
        mailbox: name("INBOX"),
        flags,
        internal_date: 1_700_000_123,
    };
    let submitted = store.submit(blob, &[target], None).await.unwrap();
    submitted.delivered[0].uid
}

/// Every kind of item the migration must carry.
/// A copy of one inbound text at `at` for `to`.
fn bulk_copy(at: i64, to: &str) -> BulkSighting {
    BulkSighting {
        scope: BulkScope::Inbound,
        at,
        since: at - 3600,
        signature: (0..240).map(|i| i as u8).collect(),
        bands: vec![5, 6],
        min_equal: 30,
        recipients: vec![to.into()],
        cap: 10,
    }
}

async fn populate(store: &dyn Store) -> UserId {
    let domain = Domain::parse("example.test").unwrap();
    store.add_domain(&domain).await.unwrap();
    let alice = addr("alice@example.test");
    let id = store
        .add_user(&alice, "hash-a", Some(10_000_000))
        .await
        .unwrap();
    store
        .add_user(&addr("bob@example.test"), "hash-b", None)
        .await
        .unwrap();
    store
        .set_send_as(&alice, &["@example.test".into()])
        .await
        .unwrap();
    store.set_bulk_allowed(&alice, true).await.unwrap();
    store
        .set_frozen(&addr("bob@example.test"), Some("spam run"))
        .await
        .unwrap();
    store.set_admin(&alice, true).await.unwrap();
    store
        .add_app_password(id, "phone", "app-hash", 123)
        .await
        .unwrap();
    let info = hermod_store::AliasKey::parse("info@example.test").unwrap();
    store
        .add_alias(&info, std::slice::from_ref(&alice))
        .await
        .unwrap();
    let key = DkimKeyRecord {
        selector: "s1".into(),
        algorithm: "ed25519".into(),
        private_key: vec![1, 2, 3],
        public_key: vec![4, 5],
    };
    store.set_dkim_key(&domain, &key).await.unwrap();
    store
        .create_mailbox(id, &name("Archive"), None)
        .await
        .unwrap();
    store.subscribe(id, &name("Archive")).await.unwrap();
    for i in 0..3 {
        let body = format!("Subject: {i}\r\n\r\nbody {i}\r\n");
        deliver(store, id, body.as_bytes(), Flags::default()).await;
    }
    let large = vec![b'x'; 300 * 1024];
    deliver(
        store,
        id,
        &large,
        Flags {
            bits: 1,
            keywords: vec!["$Work".into()],
        },
    )
    .await;
    let inbox = store.mailbox(id, &name("INBOX")).await.unwrap().unwrap().id;
    let change = FlagChange {
        op: FlagOp::Add,
        flags: Flags {
            bits: 1,
            keywords: vec!["$Later".into()],
        },
        unchanged_since: None,
    };
    store
        .store_flags(inbox, &UidSet::range(2, 2), &change)
        .await
        .unwrap();
    store.expunge(inbox, &[Uid::new(1).unwrap()]).await.unwrap();
    queue_one(store).await;
    let counts = BayesCounts {
        spam_messages: 1,
        ham_messages: 0,
        tokens: vec![(42, 1, 0)],
    };
    let seen = [LearnedMessage {
        digest: vec![9; 16],
        spam: true,
        before: None,
    }];
    store.bayes_learn(None, &counts, &seen).await.unwrap();
    store
        .bayes_set_calibration("junk_cut=0.53 ham=2075")
        .await
        .unwrap();
    store.greylist("1.2.3.4|a@b|c@d", 100, 60).await.unwrap();
    let friend = ["friend@other.test".to_owned()];
    store.correspondents_note(id, &friend, 100).await.unwrap();
    store
        .bulk_observe(&bulk_copy(1_000, "r1@other.test"))
        .await
        .unwrap();
    store.sieve_put(id, "main", b"keep;").await.unwrap();
    store.sieve_put(id, "spare", b"discard;").await.unwrap();
    store.sieve_activate(id, Some("main")).await.unwrap();
    let settings = ListSettings {
        owner: "alice@example.test".into(),
        mode: ListMode::Discussion,
        moderated: true,
        refuse_non_members: false,
        archive: true,
    };
    let list = store
        .list_create(&addr("team@example.test"), &settings)
        .await
        .unwrap();
    store
        .list_set_member(list, "x@other.test", MemberState::Active)
        .await
        .unwrap();
    store
        .list_hold(list, Some("y@other.test"), "hi", b"held post")
        .await
        .unwrap();
    store.shared_secret("srs.key").await.unwrap();
    id
}

async fn queue_one(store: &dyn Store) {
    let (writer, _) = store
        .blob_writer()
        .unwrap()
        .append(b"Subject: out\r\n\r\nx\r\n".to_vec())
        .await
        .unwrap();
    let outbound = Outbound {
        sender: Some("alice@example.test".into()),
        recipients: vec![OutboundRecipient {
            address: "far@remote.test".into(),
            notify: None,
            orcpt: None,
        }],
        envid: None,
        ret: None,
        smtputf8: false,
        held: None,
    };
    let blob = writer.seal_async().await.unwrap();
    store.submit(blob, &[], Some(&outbound)).await.unwrap();
}

/// What the roles show of the store, as text to compare.
async fn view(store: &dyn Store, user: UserId) -> Vec<String> {
    let mut out = vec![
        format!("{:?}", store.domains().await.unwrap()),
        format!("{:?}", store.users().await.unwrap()),
        format!("{:?}", store.aliases().await.unwrap()),
        format!("{:?}", store.admins().await.unwrap()),
        format!("{:?}", store.app_passwords(user).await.unwrap()),
        format!("{:?}", store.app_password_hashes(user).await.unwrap()),
        format!(
            "{:?}",
            store
                .dkim_keys(&Domain::parse("example.test").unwrap())
                .await
                .unwrap()
        ),
        format!("{:?}", store.subscriptions(user).await.unwrap()),
        format!("{:?}", store.queue().await.unwrap()),
        format!("{:?}", store.bayes_load(None).await.unwrap()),
        format!("{:?}", store.bayes_calibration().await.unwrap()),
        format!(
            "{:?}",
            store
                .bayes_seen(None, &[vec![9; 16], vec![8; 16]])
                .await
                .unwrap()
        ),
        format!("{:?}", store.sieve_list(user).await.unwrap()),
        format!("{:?}", store.lists().await.unwrap()),
        format!("{:?}", store.shared_secret("srs.key").await.unwrap()),
    ];
    for list in store.lists().await.unwrap() {
        out.push(format!("{:?}", store.list_members(list.id).await.unwrap()));
        out.push(format!(
            "{:?}",
            store.list_held(list.id, true).await.unwrap()
        ));
    }
    for mailbox in store.mailboxes(user).await.unwrap() {
        out.push(format!("{mailbox:?}"));
        for message in store.messages(mailbox.id).await.unwrap() {
            let body = store.read_blob(&message.blob, None).await.unwrap();
            out.push(format!("{message:?} {}", body.len()));
            out.push(format!("{:?}", body_fingerprint(&body)));
        }
        out.push(format!(
            "{:?}",
            store.changes_since(mailbox.id, 1, None).await.unwrap()
        ));
    }
    out
}

/// A cheap body fingerprint (the migration itself compares SHA-256).
fn body_fingerprint(body: &[u8]) -> (usize, u64) {
    let sum = body.iter().enumerate().fold(0u64, |acc, (i, b)| {
        acc.wrapping_mul(31).wrapping_add(u64::from(*b) ^ i as u64)
    });
    (body.len(), sum)
}

#[tokio::test]
async fn an_embedded_store_moves_to_postgres_whole() {
    let dir = tempfile::tempdir().unwrap();
    let embedded = EmbeddedStore::open(dir.path()).unwrap();
    let user = populate(&embedded).await;
    let before = view(&embedded, user).await;
    drop(embedded);

    let url = support::fresh_database().await;
    let target = PostgresStore::connect(&PostgresOptions::new(url.clone()))
        .await
        .unwrap();
    let report = migrate_embedded(dir.path(), &target).await.unwrap();
    let rows = |t: &str| report.tables.iter().find(|(n, _)| n == t).unwrap().1;
    assert_eq!((rows("users"), rows("messages"), rows("queue")), (2, 3, 1));
    assert_eq!(report.bodies, 4, "three messages and the queued one");
    assert_eq!(report.secrets, ["srs.key"]);

    let after = view(&target, user).await;
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(b, a);
    }
    assert_eq!(before.len(), after.len());

    // The copy goes on: the next UID, a new MODSEQ, new ids past the copied ones.
    let inbox = target.mailbox(user, &name("INBOX")).await.unwrap().unwrap();
    let uid = deliver(&target, user, b"Subject: new\r\n\r\n", Flags::default()).await;
    assert_eq!(uid.get(), 5);
    let after_new = target.mailbox(user, &name("INBOX")).await.unwrap().unwrap();
    assert!(after_new.highest_modseq > inbox.highest_modseq);
    let carol = target
        .add_user(&addr("carol@example.test"), "h", None)
        .await
        .unwrap();
    assert!(carol.0 > user.0 + 1, "a new id past the copied ones");
    let greylisted = target.greylist("1.2.3.4|a@b|c@d", 200, 60).await.unwrap();
    assert_eq!(
        greylisted,
        GreylistState::Passed,
        "its first attempt was copied"
    );
    let known = target.correspondents_of("friend@other.test", &[user]).await;
    assert_eq!(known.unwrap(), [user], "correspondents were copied");
    let claimed = target
        .queue_claim("node-b", 4_000_000_000, 60, 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1, "the copied queue entry is claimed");
    assert_eq!(rows("bulk_clusters"), 1);
    let copy = target
        .bulk_observe(&bulk_copy(1_010, "r2@other.test"))
        .await;
    let copy = copy.unwrap();
    assert_eq!(
        (copy.copies, copy.before, copy.after),
        (1, 1, 2),
        "the bulk guard's memory was copied"
    );

    let again = migrate_embedded(dir.path(), &target).await.unwrap_err();
    assert!(again.to_string().contains("not empty"), "{again}");
}
