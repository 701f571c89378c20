//! Mailing lists: a list's addresses are nobody else's, members move between states and
//! count bounces, held posts are taken once, tokens are single-use and expire.

use super::*;
use hermod_store::{ListMode, ListSettings, MemberState, TokenAction};

fn settings() -> ListSettings {
    ListSettings {
        owner: "alice@example.test".into(),
        mode: ListMode::Discussion,
        moderated: false,
        refuse_non_members: false,
        archive: false,
    }
}

/// A list may not take a user's or an alias's address (or its `-request` one), and the
/// other way round; deleting it frees the name.
pub async fn list_addresses_are_nobody_elses(b: &dyn Backend) {
    let s = b.store();
    user(b, "alice", None).await;
    let id = s
        .list_create(&addr("Team@example.test"), &settings())
        .await
        .unwrap();
    let list = s.list("team@example.test").await.unwrap().unwrap();
    assert_eq!(
        (list.id, list.local(), list.domain()),
        (id, "team", "example.test")
    );
    assert_eq!(list.settings, settings());
    assert!(matches!(
        s.list_create(&addr("team@example.test"), &settings()).await,
        Err(StoreError::ListExists(_))
    ));
    assert!(matches!(
        s.list_create(&addr("alice@example.test"), &settings())
            .await,
        Err(StoreError::AddressTaken(_))
    ));
    assert!(matches!(
        s.list_create(&addr("x@nowhere.test"), &settings()).await,
        Err(StoreError::UnknownDomain(_))
    ));
    for taken in ["team@example.test", "team-request@example.test"] {
        assert!(matches!(
            s.add_user(&addr(taken), "h", None).await,
            Err(StoreError::AddressTaken(_))
        ));
        let alias = hermod_store::AliasKey::Address(addr(taken));
        assert!(matches!(
            s.add_alias(&alias, &[addr("alice@example.test")]).await,
            Err(StoreError::AddressTaken(_))
        ));
    }
    let alias = hermod_store::AliasKey::Address(addr("crew-request@example.test"));
    s.add_alias(&alias, &[addr("alice@example.test")])
        .await
        .unwrap();
    assert!(matches!(
        s.list_create(&addr("crew@example.test"), &settings()).await,
        Err(StoreError::AddressTaken(_))
    ));
    assert_eq!(s.lists().await.unwrap().len(), 1);
    s.list_delete("team@example.test").await.unwrap();
    assert!(matches!(
        s.list_delete("team@example.test").await,
        Err(StoreError::UnknownList(_))
    ));
    s.add_user(&addr("team@example.test"), "h", None)
        .await
        .unwrap();
}

/// Members: pending never demotes an active member, bounces suspend at the threshold and
/// joining again starts the count over; moderators are a set; deleting the list takes all.
pub async fn list_members_bounce_and_suspend(b: &dyn Backend) {
    let s = b.store();
    user(b, "alice", None).await;
    let list = s
        .list_create(&addr("team@example.test"), &settings())
        .await
        .unwrap();
    s.list_set_member(list, "bob@remote.test", MemberState::Pending)
        .await
        .unwrap();
    s.list_set_member(list, "carol@remote.test", MemberState::Active)
        .await
        .unwrap();
    s.list_set_member(list, "carol@remote.test", MemberState::Pending)
        .await
        .unwrap();
    let states: Vec<_> = s
        .list_members(list)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.state)
        .collect();
    assert_eq!(states, [MemberState::Pending, MemberState::Active]);
    let first = s
        .list_bounce(list, "carol@remote.test", 2)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((first.bounces, first.state), (1, MemberState::Active));
    let second = s
        .list_bounce(list, "carol@remote.test", 2)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((second.bounces, second.state), (2, MemberState::Suspended));
    let after = s
        .list_bounce(list, "carol@remote.test", 2)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.bounces, 2, "a suspended member counts no more");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let kept = s.list_remove_suspended(list, now - 3600).await.unwrap();
    assert!(kept.is_empty(), "suspended just now: {kept:?}");
    let removed = s.list_remove_suspended(list, now + 10).await.unwrap();
    assert_eq!(
        removed,
        ["carol@remote.test"],
        "only the suspended one goes"
    );
    assert!(
        s.list_member(list, "bob@remote.test")
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        s.list_bounce(list, "nobody@remote.test", 2).await.unwrap(),
        None
    );
    s.list_set_member(list, "carol@remote.test", MemberState::Active)
        .await
        .unwrap();
    let back = s
        .list_member(list, "carol@remote.test")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((back.bounces, back.state), (0, MemberState::Active));
    assert!(s.list_remove_member(list, "bob@remote.test").await.unwrap());
    assert!(!s.list_remove_member(list, "bob@remote.test").await.unwrap());

    let mods = ["m1@example.test".to_owned(), "m2@example.test".to_owned()];
    s.list_set_moderators(list, &mods, false).await.unwrap();
    s.list_set_moderators(list, &mods[..1], false)
        .await
        .unwrap();
    s.list_set_moderators(list, &mods[1..], true).await.unwrap();
    assert_eq!(s.list_moderators(list).await.unwrap(), ["m1@example.test"]);
    assert!(matches!(
        s.list_set_member(list + 100, "x@y.test", MemberState::Active)
            .await,
        Err(StoreError::UnknownList(_))
    ));
    s.list_delete("team@example.test").await.unwrap();
    assert!(s.list_members(list).await.unwrap().is_empty());
}

/// A held post is listed without its content, and taken (with it) exactly once; archived
/// posts are kept apart, in order.
pub async fn held_posts_are_taken_once(b: &dyn Backend) {
    let s = b.store();
    user(b, "alice", None).await;
    let list = s
        .list_create(&addr("team@example.test"), &settings())
        .await
        .unwrap();
    let content = b"Subject: hi\r\n\r\nbody\r\n";
    let id = s
        .list_hold(list, Some("x@remote.test"), "hi", content)
        .await
        .unwrap();
    s.list_hold(list, None, "second", b"x").await.unwrap();
    let held = s.list_held(list, false).await.unwrap();
    assert_eq!(held.len(), 2);
    assert_eq!((held[0].id, held[0].subject.as_str()), (id, "hi"));
    assert!(held[0].content.is_empty());
    assert_eq!(s.list_held(list, true).await.unwrap()[0].content, content);
    assert_eq!(
        s.list_take_held(list + 1, id).await.unwrap(),
        None,
        "another list's"
    );
    let taken = s.list_take_held(list, id).await.unwrap().unwrap();
    assert_eq!(taken.sender.as_deref(), Some("x@remote.test"));
    assert_eq!(taken.content, content);
    assert_eq!(s.list_take_held(list, id).await.unwrap(), None);

    assert!(s.list_posts(list).await.unwrap().is_empty());
    s.list_archive_post(list, Some("a@x.test"), "one", b"1")
        .await
        .unwrap();
    s.list_archive_post(list, None, "two", b"2").await.unwrap();
    let posts = s.list_posts(list).await.unwrap();
    let kept: Vec<(&str, &[u8])> = posts
        .iter()
        .map(|p| (p.subject.as_str(), &p.content[..]))
        .collect();
    assert_eq!(kept, [("one", &b"1"[..]), ("two", &b"2"[..])]);
    assert_eq!(
        s.list_held(list, false).await.unwrap().len(),
        1,
        "apart from held posts"
    );
}

/// Tokens are unguessable (distinct, 128 bits), single-use, and expire.
pub async fn tokens_are_single_use_and_expire(b: &dyn Backend) {
    let s = b.store();
    user(b, "alice", None).await;
    let list = s
        .list_create(&addr("team@example.test"), &settings())
        .await
        .unwrap();
    let now = 2_000_000_000;
    let a = s
        .list_new_token(list, "bob@remote.test", TokenAction::Subscribe, now + 60)
        .await
        .unwrap();
    let b2 = s
        .list_new_token(list, "bob@remote.test", TokenAction::Unsubscribe, now + 60)
        .await
        .unwrap();
    assert_ne!(a, b2);
    assert_eq!(a.len(), 32);
    let confirmed = s.list_take_token(&a, now).await.unwrap().unwrap();
    assert_eq!(
        (confirmed.list, confirmed.address.as_str(), confirmed.action),
        (list, "bob@remote.test", TokenAction::Subscribe)
    );
    assert_eq!(s.list_take_token(&a, now).await.unwrap(), None, "used up");
    assert_eq!(
        s.list_take_token(&b2, now + 61).await.unwrap(),
        None,
        "expired"
    );
    assert_eq!(s.list_take_token("00", now).await.unwrap(), None);
}
