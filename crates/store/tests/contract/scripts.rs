//! Sieve scripts: one active script per user, replaced scripts get new ids, the active one
//! cannot be deleted, and what vacation/duplicate remember expires.

use super::*;
use hermod_store::SieveScriptInfo;

fn info(name: &str, size: u64, active: bool) -> SieveScriptInfo {
    SieveScriptInfo {
        name: name.into(),
        size,
        active,
    }
}

/// Put, list, get, activate, replace (the active id follows the new text), rename, delete.
pub async fn sieve_scripts_have_one_active(b: &dyn Backend) {
    let s = b.store();
    let alice = user(b, "alice", None).await;
    let bob = user(b, "bob", None).await;
    assert!(s.sieve_list(alice).await.unwrap().is_empty());
    s.sieve_put(alice, "main", b"keep;").await.unwrap();
    s.sieve_put(alice, "other", b"discard;").await.unwrap();
    assert_eq!(
        s.sieve_list(alice).await.unwrap(),
        [info("main", 5, false), info("other", 8, false)]
    );
    assert!(s.sieve_list(bob).await.unwrap().is_empty(), "per user");
    let record = |b: &dyn Backend| {
        let s = b.store();
        async move { s.user(&addr("alice@example.test")).await.unwrap().unwrap() }
    };
    assert_eq!(record(b).await.sieve_script, None);

    s.sieve_activate(alice, Some("main")).await.unwrap();
    let first = record(b).await.sieve_script.expect("active");
    assert_eq!(s.sieve_script(first).await.unwrap().unwrap(), b"keep;");
    assert_eq!(s.sieve_list(alice).await.unwrap()[0], info("main", 5, true));

    s.sieve_put(alice, "main", b"stop;").await.unwrap();
    let second = record(b).await.sieve_script.expect("still active");
    assert_ne!(first, second, "a new text has a new id");
    assert_eq!(s.sieve_script(first).await.unwrap(), None);
    assert_eq!(s.sieve_script(second).await.unwrap().unwrap(), b"stop;");
    assert_eq!(s.sieve_get(alice, "main").await.unwrap().unwrap(), b"stop;");

    assert!(matches!(
        s.sieve_delete(alice, "main").await,
        Err(StoreError::ScriptActive(_))
    ));
    assert!(matches!(
        s.sieve_rename(alice, "main", "other").await,
        Err(StoreError::ScriptExists(_))
    ));
    s.sieve_rename(alice, "main", "renamed").await.unwrap();
    assert_eq!(
        record(b).await.sieve_script,
        Some(second),
        "rename keeps it"
    );
    assert!(matches!(
        s.sieve_activate(alice, Some("main")).await,
        Err(StoreError::UnknownScript(_))
    ));
    s.sieve_activate(alice, None).await.unwrap();
    assert_eq!(record(b).await.sieve_script, None);
    s.sieve_delete(alice, "renamed").await.unwrap();
    assert_eq!(
        s.sieve_list(alice).await.unwrap(),
        [info("other", 8, false)]
    );
    assert!(matches!(
        s.sieve_delete(alice, "renamed").await,
        Err(StoreError::UnknownScript(_))
    ));
    assert_eq!(s.sieve_get(alice, "renamed").await.unwrap(), None);
}

/// A key is new once, then a duplicate until it expires; `last` pushes the expiry out.
pub async fn sieve_seen_remembers_until_expiry(b: &dyn Backend) {
    let s = b.store();
    let alice = user(b, "alice", None).await;
    let bob = user(b, "bob", None).await;
    assert!(!s.sieve_seen(alice, "k", 1000, 100, false).await.unwrap());
    assert!(s.sieve_seen(alice, "k", 1050, 100, false).await.unwrap());
    assert!(!s.sieve_seen(bob, "k", 1050, 100, false).await.unwrap());
    assert!(
        !s.sieve_seen(alice, "k", 1100, 100, false).await.unwrap(),
        "expired"
    );
    // Recorded again at 1100: a duplicate until 1200; with `last`, each sighting extends it.
    assert!(s.sieve_seen(alice, "k", 1190, 100, true).await.unwrap());
    assert!(s.sieve_seen(alice, "k", 1250, 100, false).await.unwrap());
    assert!(!s.sieve_seen(alice, "k", 1290, 100, false).await.unwrap());
}
