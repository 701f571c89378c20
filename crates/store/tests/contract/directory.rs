//! The directory: domains, users, aliases and catch-alls, routing's lookup, who may send as
//! whom, DKIM keys.

use super::*;
use hermod_store::{AddressLookup, AliasKey, DkimKeyRecord};

fn alias(s: &str) -> AliasKey {
    AliasKey::parse(s).unwrap()
}

fn dkim(selector: &str, algorithm: &str, seed: u8) -> DkimKeyRecord {
    DkimKeyRecord {
        selector: selector.into(),
        algorithm: algorithm.into(),
        private_key: vec![seed; 48],
        public_key: vec![seed.wrapping_add(1); 32],
    }
}

/// Domains: added once, listed sorted, known as local; removal is refused while users or
/// aliases of the domain exist, and works once they are gone.
pub async fn domains_are_removed_only_when_empty(b: &dyn Backend) {
    let s = b.store();
    assert!(s.domains().await.unwrap().is_empty());
    for d in ["example.test", "Another.TEST", "b.example.test"] {
        s.add_domain(&domain(d)).await.unwrap();
    }
    assert!(matches!(
        s.add_domain(&domain("EXAMPLE.test")).await,
        Err(StoreError::DomainExists(_))
    ));
    assert_eq!(
        s.domains().await.unwrap(),
        ["another.test", "b.example.test", "example.test"]
    );
    assert!(s.is_local_domain(&domain("Example.Test")).await.unwrap());
    assert!(!s.is_local_domain(&domain("far.test")).await.unwrap());
    assert!(!s.is_local_domain(&domain("test")).await.unwrap());

    let example = domain("example.test");
    s.add_user(&addr("alice@example.test"), "h", None)
        .await
        .unwrap();
    s.add_alias(&alias("team@example.test"), &[addr("alice@example.test")])
        .await
        .unwrap();
    s.add_alias(&alias("@example.test"), &[addr("alice@example.test")])
        .await
        .unwrap();
    let refused = s.remove_domain(&example).await;
    assert!(
        matches!(
            refused,
            Err(StoreError::DomainInUse {
                users: 1,
                aliases: 2,
                ..
            })
        ),
        "{refused:?}"
    );
    s.remove_alias(&alias("team@example.test")).await.unwrap();
    s.remove_alias(&alias("@example.test")).await.unwrap();
    let refused = s.remove_domain(&example).await;
    assert!(
        matches!(
            refused,
            Err(StoreError::DomainInUse {
                users: 1,
                aliases: 0,
                ..
            })
        ),
        "{refused:?}"
    );
    assert!(s.is_local_domain(&example).await.unwrap(), "still there");
    s.remove_user(&addr("alice@example.test")).await.unwrap();
    s.remove_domain(&example).await.unwrap();
    assert!(!s.is_local_domain(&example).await.unwrap());
    assert_eq!(
        s.domains().await.unwrap(),
        ["another.test", "b.example.test"]
    );
    assert!(matches!(
        s.remove_domain(&example).await,
        Err(StoreError::UnknownDomain(_))
    ));
}

/// Users: addresses are normalized (case of the local part), taken once, only in local
/// domains; each starts with the default mailboxes, each with its own UIDVALIDITY; the
/// password and quota are kept; removal takes the mailboxes along.
pub async fn users_have_their_mailboxes_and_passwords(b: &dyn Backend) {
    let s = b.store();
    s.add_domain(&domain("example.test")).await.unwrap();
    s.add_domain(&domain("other.test")).await.unwrap();
    assert!(s.first_user(None).await.unwrap().is_none());
    let alice = s
        .add_user(&addr("Alice@Example.test"), "hash-a", Some(5000))
        .await
        .unwrap();
    let bob = s
        .add_user(&addr("bob@other.test"), "hash-b", None)
        .await
        .unwrap();
    let carol = s
        .add_user(&addr("carol@example.test"), "hash-c", None)
        .await
        .unwrap();
    assert!(alice != bob && bob != carol && alice != carol);
    let record = s.user(&addr("ALICE@example.test")).await.unwrap().unwrap();
    assert_eq!(record.id, alice);
    assert_eq!(record.address, "alice@example.test");
    assert_eq!(record.password_hash, "hash-a");
    assert_eq!((record.quota, record.used), (Some(5000), 0));
    assert!(record.send_as.is_empty());
    assert!(matches!(
        s.add_user(&addr("alice@example.test"), "h", None).await,
        Err(StoreError::UserExists(_))
    ));
    assert!(matches!(
        s.add_user(&addr("x@far.test"), "h", None).await,
        Err(StoreError::UnknownDomain(_))
    ));
    assert!(
        s.user(&addr("nobody@example.test"))
            .await
            .unwrap()
            .is_none()
    );

    let listed: Vec<_> = s.users().await.unwrap().into_iter().map(|u| u.id).collect();
    assert_eq!(listed, [alice, bob, carol], "in creation order");
    let first = |d: &str| {
        let s = s.clone();
        let d = domain(d);
        async move { s.first_user(Some(&d)).await.unwrap().map(|u| u.id) }
    };
    assert_eq!(first("example.test").await, Some(alice));
    assert_eq!(first("other.test").await, Some(bob));
    assert_eq!(first("far.test").await, None);
    assert_eq!(s.first_user(None).await.unwrap().unwrap().id, alice);

    let mailboxes = s.mailboxes(alice).await.unwrap();
    let mut defaults: Vec<_> = mailboxes.iter().map(|m| m.name.to_string()).collect();
    defaults.sort();
    assert_eq!(defaults, ["Drafts", "INBOX", "Junk", "Sent", "Trash"]);
    let mut validity: Vec<u32> = mailboxes.iter().map(|m| m.uid_validity.get()).collect();
    validity.sort();
    validity.dedup();
    assert_eq!(validity.len(), 5, "UIDVALIDITY never repeats");
    assert!(mailboxes.iter().all(|m| m.uid_next == 1));

    s.set_password(&addr("alice@EXAMPLE.test"), "hash-new")
        .await
        .unwrap();
    let record = s.user(&addr("alice@example.test")).await.unwrap().unwrap();
    assert_eq!(record.password_hash, "hash-new");
    assert!(matches!(
        s.set_password(&addr("nobody@example.test"), "h").await,
        Err(StoreError::UnknownUser(_))
    ));

    deliver_to(&*s, alice, "INBOX", b"bye\r\n", Flags::default())
        .await
        .unwrap();
    s.remove_user(&addr("alice@example.test")).await.unwrap();
    assert!(s.user(&addr("alice@example.test")).await.unwrap().is_none());
    assert!(s.mailboxes(alice).await.unwrap().is_empty());
    assert!(s.mailbox(alice, &name("INBOX")).await.unwrap().is_none());
    assert!(matches!(
        s.remove_user(&addr("alice@example.test")).await,
        Err(StoreError::UnknownUser(_))
    ));
    assert_eq!(first("example.test").await, Some(carol));
    assert_eq!(s.users().await.unwrap().len(), 2);
    // The address is free again, for a new account with new mailboxes.
    let again = s
        .add_user(&addr("alice@example.test"), "h", None)
        .await
        .unwrap();
    assert_ne!(again, alice);
    let inbox = mailbox(b, again, "INBOX").await;
    assert!(s.messages(inbox.id).await.unwrap().is_empty());
}

/// Aliases and catch-alls: targets kept per alias (added to, listed sorted), an alias and
/// a user never share an address, removal of an unknown alias is an error.
pub async fn aliases_and_catch_alls(b: &dyn Backend) {
    let s = b.store();
    s.add_domain(&domain("example.test")).await.unwrap();
    s.add_user(&addr("alice@example.test"), "h", None)
        .await
        .unwrap();
    let team = alias("Team@example.test");
    s.add_alias(&team, &[addr("bob@far.test"), addr("alice@example.test")])
        .await
        .unwrap();
    s.add_alias(&team, &[addr("carol@far.test"), addr("bob@far.test")])
        .await
        .unwrap();
    s.add_alias(&alias("@example.test"), &[addr("alice@example.test")])
        .await
        .unwrap();
    assert_eq!(
        s.alias_targets(&alias("team@example.test")).await.unwrap(),
        [
            addr("alice@example.test"),
            addr("bob@far.test"),
            addr("carol@far.test")
        ],
        "targets add up, once each, sorted"
    );
    assert_eq!(
        s.aliases().await.unwrap(),
        [
            (
                "@example.test".to_owned(),
                vec!["alice@example.test".to_owned()]
            ),
            (
                "team@example.test".to_owned(),
                vec![
                    "alice@example.test".to_owned(),
                    "bob@far.test".to_owned(),
                    "carol@far.test".to_owned()
                ]
            ),
        ]
    );
    assert!(matches!(
        s.add_user(&addr("team@example.test"), "h", None).await,
        Err(StoreError::AddressIsAlias(_))
    ));
    assert!(matches!(
        s.add_alias(&alias("ALICE@example.test"), &[addr("x@far.test")])
            .await,
        Err(StoreError::AliasShadowsUser(_))
    ));
    assert!(matches!(
        s.add_alias(&alias("x@far.test"), &[addr("alice@example.test")])
            .await,
        Err(StoreError::UnknownDomain(_))
    ));
    assert!(
        s.alias_targets(&alias("nobody@example.test"))
            .await
            .unwrap()
            .is_empty()
    );
    s.remove_alias(&team).await.unwrap();
    assert!(matches!(
        s.remove_alias(&team).await,
        Err(StoreError::UnknownAlias(_))
    ));
    assert_eq!(s.aliases().await.unwrap().len(), 1);
    assert!(s.alias_targets(&team).await.unwrap().is_empty());
}

/// Routing's one lookup: the local-domain flag, the account, the alias of exactly that
/// address and the domain's catch-all; an address of a domain not ours gives the default.
pub async fn lookup_address_gives_everything_routing_needs(b: &dyn Backend) {
    let s = b.store();
    s.add_domain(&domain("example.test")).await.unwrap();
    s.add_domain(&domain("bare.test")).await.unwrap();
    let alice = s
        .add_user(&addr("alice@example.test"), "h", None)
        .await
        .unwrap();
    s.add_alias(&alias("sales@example.test"), &[addr("bob@far.test")])
        .await
        .unwrap();
    s.add_alias(&alias("@example.test"), &[addr("alice@example.test")])
        .await
        .unwrap();

    let found = s.lookup_address(&addr("Alice@example.test")).await.unwrap();
    assert!(found.local_domain);
    assert_eq!(found.user.as_ref().map(|u| u.id), Some(alice));
    assert_eq!(
        found.user,
        s.user(&addr("alice@example.test")).await.unwrap()
    );
    // An account answers routing alone; a backend may leave the alias answers out then.
    assert!(found.alias_targets.is_empty());

    let sales = s.lookup_address(&addr("sales@example.test")).await.unwrap();
    assert_eq!(
        sales,
        AddressLookup {
            local_domain: true,
            user: None,
            alias_targets: vec![addr("bob@far.test")],
            catch_all: vec![addr("alice@example.test")],
        }
    );
    let unknown = s.lookup_address(&addr("who@example.test")).await.unwrap();
    assert!(unknown.local_domain && unknown.user.is_none());
    assert!(unknown.alias_targets.is_empty());
    assert_eq!(unknown.catch_all, [addr("alice@example.test")]);

    let bare = s.lookup_address(&addr("who@bare.test")).await.unwrap();
    assert_eq!(
        bare,
        AddressLookup {
            local_domain: true,
            ..Default::default()
        },
        "a local domain without a catch-all"
    );
    let far = s.lookup_address(&addr("alice@far.test")).await.unwrap();
    assert_eq!(
        far,
        AddressLookup::default(),
        "not ours: nothing else is looked up"
    );
}

/// Send-as patterns are replaced as a whole, kept in order, and belong to existing users.
pub async fn send_as_patterns_are_replaced(b: &dyn Backend) {
    let s = b.store();
    s.add_domain(&domain("example.test")).await.unwrap();
    let alice = addr("alice@example.test");
    s.add_user(&alice, "h", None).await.unwrap();
    let patterns = [
        "boss@example.test".to_owned(),
        "@lists.example.test".to_owned(),
    ];
    s.set_send_as(&addr("ALICE@example.test"), &patterns)
        .await
        .unwrap();
    assert_eq!(s.user(&alice).await.unwrap().unwrap().send_as, patterns);
    let found = s.lookup_address(&alice).await.unwrap();
    assert_eq!(found.user.unwrap().send_as, patterns);
    s.set_send_as(&alice, &["other@example.test".to_owned()])
        .await
        .unwrap();
    assert_eq!(
        s.user(&alice).await.unwrap().unwrap().send_as,
        ["other@example.test"]
    );
    s.set_send_as(&alice, &[]).await.unwrap();
    assert!(s.user(&alice).await.unwrap().unwrap().send_as.is_empty());
    assert!(matches!(
        s.set_send_as(&addr("nobody@example.test"), &patterns).await,
        Err(StoreError::UnknownUser(_))
    ));
}

/// DKIM keys: per local domain, by selector (sorted), replaced when the selector is reused,
/// kept byte for byte.
pub async fn dkim_keys_per_domain_and_selector(b: &dyn Backend) {
    let s = b.store();
    let example = domain("example.test");
    let other = domain("other.test");
    s.add_domain(&example).await.unwrap();
    s.add_domain(&other).await.unwrap();
    assert!(s.dkim_keys(&example).await.unwrap().is_empty());
    let ed = dkim("s2026", "ed25519", 1);
    let rsa = dkim("a2025", "rsa", 7);
    s.set_dkim_key(&example, &ed).await.unwrap();
    s.set_dkim_key(&example, &rsa).await.unwrap();
    assert_eq!(s.dkim_keys(&example).await.unwrap(), [rsa.clone(), ed]);
    let rotated = dkim("s2026", "ed25519", 9);
    s.set_dkim_key(&example, &rotated).await.unwrap();
    assert_eq!(
        s.dkim_keys(&example).await.unwrap(),
        [rsa.clone(), rotated],
        "same selector: replaced"
    );
    assert!(s.dkim_keys(&other).await.unwrap().is_empty(), "per domain");
    assert!(matches!(
        s.set_dkim_key(&domain("far.test"), &rsa).await,
        Err(StoreError::UnknownDomain(_))
    ));
    assert!(s.dkim_keys(&domain("far.test")).await.unwrap().is_empty());
}

/// Accounts start guarded and unfrozen; bulk permission and freezing are kept, a freeze
/// reports whether it changed anything (and keeps the first reason), unknown users are
/// errors.
pub async fn bulk_permission_and_freezing(b: &dyn Backend) {
    let s = b.store();
    user(b, "alice", None).await;
    let alice = addr("alice@example.test");
    let record = s.user(&alice).await.unwrap().unwrap();
    assert!(!record.bulk_allowed && record.frozen.is_none());
    s.set_bulk_allowed(&alice, true).await.unwrap();
    assert!(s.set_frozen(&alice, Some("bulk mail")).await.unwrap());
    assert!(!s.set_frozen(&alice, Some("again")).await.unwrap());
    let record = s.user(&alice).await.unwrap().unwrap();
    assert!(record.bulk_allowed);
    assert_eq!(record.frozen.as_deref(), Some("bulk mail"));
    assert!(s.set_frozen(&alice, None).await.unwrap());
    assert!(!s.set_frozen(&alice, None).await.unwrap());
    s.set_bulk_allowed(&alice, false).await.unwrap();
    let record = s.user(&alice).await.unwrap().unwrap();
    assert!(!record.bulk_allowed && record.frozen.is_none());
    let nobody = addr("nobody@example.test");
    assert!(matches!(
        s.set_frozen(&nobody, Some("x")).await,
        Err(StoreError::UnknownUser(_))
    ));
    assert!(matches!(
        s.set_bulk_allowed(&nobody, true).await,
        Err(StoreError::UnknownUser(_))
    ));
}

/// Rotations add their keys all or none: of several at once naming the same selectors,
/// exactly one is stored, whole; a set with one taken selector writes nothing.
pub async fn dkim_rotations_add_all_or_none_and_one_wins(b: &dyn Backend) {
    let s = b.store();
    let example = domain("example.test");
    s.add_domain(&example).await.unwrap();
    let mut tasks = Vec::new();
    for seed in 0..6u8 {
        let (s, example) = (b.store(), example.clone());
        let keys = vec![
            dkim("hermod-ed25519-2", "ed25519", seed * 10),
            dkim("hermod-rsa-2", "rsa", seed * 10 + 1),
        ];
        tasks.push(tokio::spawn(async move {
            let won = s.add_dkim_keys(&example, &keys).await.unwrap();
            (won, keys)
        }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        let (won, keys) = task.await.unwrap();
        if won {
            winners.push(keys);
        }
    }
    assert_eq!(winners.len(), 1, "one rotation takes the generation");
    let mut stored = s.dkim_keys(&example).await.unwrap();
    stored.sort_by(|a, b| a.selector.cmp(&b.selector));
    assert_eq!(stored, winners[0], "the winner's pair, not a mix");

    let partly_taken = [
        dkim("hermod-ed25519-3", "ed25519", 99),
        dkim("hermod-rsa-2", "rsa", 98),
    ];
    assert!(!s.add_dkim_keys(&example, &partly_taken).await.unwrap());
    assert_eq!(
        s.dkim_keys(&example).await.unwrap().len(),
        2,
        "nothing written"
    );
    assert!(matches!(
        s.add_dkim_keys(&domain("far.test"), &partly_taken).await,
        Err(StoreError::UnknownDomain(_))
    ));
}

/// An account's own Junk threshold: none at first, kept as set, cleared back to none.
pub async fn own_junk_threshold_is_kept(b: &dyn Backend) {
    let s = b.store();
    user(b, "alice", None).await;
    let alice = addr("alice@example.test");
    assert_eq!(s.user(&alice).await.unwrap().unwrap().junk_threshold, None);
    s.set_junk_threshold(&alice, Some(3.5)).await.unwrap();
    assert_eq!(
        s.user(&alice).await.unwrap().unwrap().junk_threshold,
        Some(3.5)
    );
    let lookup = s.lookup_address(&alice).await.unwrap();
    assert_eq!(
        lookup.user.unwrap().junk_threshold,
        Some(3.5),
        "routing sees it"
    );
    s.set_junk_threshold(&alice, Some(-1.0)).await.unwrap();
    let listed = s.users().await.unwrap();
    assert_eq!(listed[0].junk_threshold, Some(-1.0));
    s.set_junk_threshold(&alice, None).await.unwrap();
    assert_eq!(s.user(&alice).await.unwrap().unwrap().junk_threshold, None);
    assert!(matches!(
        s.set_junk_threshold(&addr("nobody@example.test"), Some(1.0))
            .await,
        Err(StoreError::UnknownUser(_))
    ));
}
