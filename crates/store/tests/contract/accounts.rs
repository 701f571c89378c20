//! Accounts: the admin flag and app passwords.

use super::*;

/// The admin flag is per account, listed sorted, off by default, and refused for an
/// unknown account; an unknown address is no admin. Quotas are set the same way.
pub async fn admins_are_marked_per_account(b: &dyn Backend) {
    let s = b.store();
    user(b, "alice", None).await;
    user(b, "bob", None).await;
    let (alice, bob) = (addr("alice@example.test"), addr("bob@example.test"));
    assert!(!s.is_admin(&alice).await.unwrap());
    assert!(s.admins().await.unwrap().is_empty());
    s.set_admin(&bob, true).await.unwrap();
    s.set_admin(&alice, true).await.unwrap();
    assert!(s.is_admin(&addr("Alice@EXAMPLE.test")).await.unwrap());
    assert_eq!(
        s.admins().await.unwrap(),
        ["alice@example.test", "bob@example.test"]
    );
    s.set_admin(&alice, false).await.unwrap();
    assert!(!s.is_admin(&alice).await.unwrap());
    assert_eq!(s.admins().await.unwrap(), ["bob@example.test"]);
    // Quotas change per account, and go back to unlimited.
    s.set_quota(&bob, Some(1000)).await.unwrap();
    assert_eq!(s.user(&bob).await.unwrap().unwrap().quota, Some(1000));
    assert_eq!(s.user(&alice).await.unwrap().unwrap().quota, None);
    s.set_quota(&bob, None).await.unwrap();
    assert_eq!(s.user(&bob).await.unwrap().unwrap().quota, None);
    let nobody = addr("nobody@example.test");
    assert!(matches!(
        s.set_quota(&nobody, Some(1)).await,
        Err(StoreError::UnknownUser(_))
    ));
    assert!(!s.is_admin(&nobody).await.unwrap());
    assert!(matches!(
        s.set_admin(&nobody, true).await,
        Err(StoreError::UnknownUser(_))
    ));
}

/// App passwords: named uniquely per account, listed without hashes, revoked only by their
/// owner, and gone with the account.
pub async fn app_passwords_are_named_revocable_and_private(b: &dyn Backend) {
    let s = b.store();
    let alice = user(b, "alice", None).await;
    let bob = user(b, "bob", None).await;
    let phone = s
        .add_app_password(alice, "phone", "hash-1", 100)
        .await
        .unwrap();
    let laptop = s
        .add_app_password(alice, "laptop", "hash-2", 200)
        .await
        .unwrap();
    assert_ne!(phone, laptop);
    assert!(matches!(
        s.add_app_password(alice, "phone", "hash-3", 300).await,
        Err(StoreError::AppPasswordExists(_))
    ));
    // Another account may use the same name.
    s.add_app_password(bob, "phone", "hash-4", 400)
        .await
        .unwrap();
    let listed = s.app_passwords(alice).await.unwrap();
    let names: Vec<(&str, i64)> = listed
        .iter()
        .map(|p| (p.name.as_str(), p.created))
        .collect();
    assert_eq!(names, [("laptop", 200), ("phone", 100)]);
    assert_eq!(
        s.app_password_hashes(alice).await.unwrap(),
        ["hash-1", "hash-2"]
    );
    // Bob cannot revoke Alice's password by its id.
    assert!(!s.revoke_app_password(bob, phone).await.unwrap());
    assert!(s.revoke_app_password(alice, phone).await.unwrap());
    assert!(!s.revoke_app_password(alice, phone).await.unwrap());
    assert_eq!(s.app_password_hashes(alice).await.unwrap(), ["hash-2"]);
    assert_eq!(s.app_password_hashes(bob).await.unwrap(), ["hash-4"]);
    assert!(matches!(
        s.add_app_password(UserId(987_654), "x", "h", 1).await,
        Err(StoreError::UnknownUser(_))
    ));
    s.remove_user(&addr("alice@example.test")).await.unwrap();
    assert!(s.app_password_hashes(alice).await.unwrap().is_empty());
}
