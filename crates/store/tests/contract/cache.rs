//! The body cache: what the server derived from a stored body, kept with it.

use super::*;
use hermod_store::UidSet;

/// An entry is listed with every message holding its body (copies share it), replaced by a
/// newer one, and a body already gone gets none.
pub async fn body_cache_follows_its_body(b: &dyn Backend) {
    let s = b.store();
    let alice = user(b, "alice", None).await;
    fill(b, alice, 2).await;
    let inbox = mailbox(b, alice, "INBOX").await.id;
    let listed = s.messages_with_cache(inbox).await.unwrap();
    let plain = s.messages_in(inbox, &UidSet::all()).await.unwrap();
    assert_eq!(
        listed.iter().map(|(m, _)| m.clone()).collect::<Vec<_>>(),
        plain,
        "the same messages, in UID order"
    );
    assert!(listed.iter().all(|(_, data)| data.is_none()));
    let (first, second) = (plain[0].blob.clone(), plain[1].blob.clone());
    s.cache_bodies(&[(first.clone(), b"one".to_vec())])
        .await
        .unwrap();
    s.cache_bodies(&[(first.clone(), b"two".to_vec()), (second, Vec::new())])
        .await
        .unwrap();
    let cached = |list: Vec<(hermod_store::MessageMeta, Option<Vec<u8>>)>| {
        list.into_iter().map(|(_, data)| data).collect::<Vec<_>>()
    };
    assert_eq!(
        cached(s.messages_with_cache(inbox).await.unwrap()),
        [Some(b"two".to_vec()), Some(Vec::new())]
    );
    let trash = mailbox(b, alice, "Trash").await.id;
    s.copy_messages(inbox, &UidSet::range(1, 1), trash)
        .await
        .unwrap();
    assert_eq!(
        cached(s.messages_with_cache(trash).await.unwrap()),
        [Some(b"two".to_vec())],
        "a copy shares its body's entry"
    );
    s.expunge(inbox, &[uid(1), uid(2)]).await.unwrap();
    s.expunge(trash, &[uid(1)]).await.unwrap();
    // The body is gone: caching for it is not an error, and keeps nothing.
    s.cache_bodies(&[(first, b"late".to_vec())]).await.unwrap();
    assert!(s.messages_with_cache(inbox).await.unwrap().is_empty());
}
