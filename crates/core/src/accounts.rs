//! Managing accounts, the rules the CLI and the web interface share: adding domains (with
//! their DKIM keys) and users, setting and changing passwords, the admin flag, and app
//! passwords.

use crate::auth::{HashError, hash_password, verify_password};
use hermod_store::{Accounts, AliasKey, Directory, DkimKeyRecord, StoreError, UserId, UserRecord};
use hermod_types::{Address, Domain};

/// An account has at most this many app passwords: a mail login checks each one's hash,
/// and argon2 is slow by design.
pub const MAX_APP_PASSWORDS: usize = 10;

/// Why an account change was refused.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("unknown domain {0}: add it first with `hermod domain add {0}`")]
    UnknownDomain(String),
    #[error("alias target {0} is not in a local domain: an alias forwards within this server only")]
    RemoteTarget(String),
    #[error("invalid sender pattern {0:?}: use an address or @domain")]
    BadSender(String),
    #[error("the current password is not right")]
    WrongPassword,
    #[error("an app password name is 1 to 64 characters without control characters")]
    BadName,
    #[error("an account has at most {MAX_APP_PASSWORDS} app passwords: revoke one first")]
    TooManyAppPasswords,
    #[error("{0}'s DKIM keys are being rotated by someone else: try again")]
    BusyRotation(String),
    #[error("a Junk threshold is a number not above the reject threshold ({0})")]
    BadThreshold(f64),
    #[error("could not generate a DKIM key: {0}")]
    Dkim(String),
    #[error("no randomness for a new password")]
    Random,
    #[error(transparent)]
    Hash(#[from] HashError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Receives mail for `domain` from now on, with fresh DKIM keys (ed25519 and RSA).
pub async fn add_domain(directory: &dyn Directory, domain: &Domain) -> Result<(), AccountError> {
    let keys = crate::dkim::generate_keys().map_err(AccountError::Dkim)?;
    directory.add_domain(domain).await?;
    for key in &keys {
        directory.set_dkim_key(domain, key).await?;
    }
    Ok(())
}

/// How often a rotation starts over when others keep taking its generation first.
const ROTATION_ATTEMPTS: usize = 5;

/// Rotates `domain`'s DKIM keys: new keys under new selectors (one generation past the
/// newest), which sign once their records are published (the relay asks DNS:
/// `dkim::signing_keys_published`); the old keys stay stored and published, because mail
/// they signed may still be verified. Returns the new keys, whose records must be published.
///
/// The new keys are added all or none, and only under selectors nobody holds: of two
/// rotations at once (two admins, the CLI and the web), one takes the next generation and
/// the other starts over from what is then stored and takes the one after. So no key is
/// replaced (each admin publishes exactly the keys stored) and one generation signs.
pub async fn rotate_dkim(
    directory: &dyn Directory,
    domain: &Domain,
) -> Result<Vec<DkimKeyRecord>, AccountError> {
    if !directory.is_local_domain(domain).await? {
        return Err(AccountError::UnknownDomain(domain.to_string()));
    }
    for _ in 0..ROTATION_ATTEMPTS {
        let existing = directory.dkim_keys(domain).await?;
        let keys = crate::dkim::rotated_keys(&existing).map_err(AccountError::Dkim)?;
        if directory.add_dkim_keys(domain, &keys).await? {
            return Ok(keys);
        }
    }
    Err(AccountError::BusyRotation(domain.to_string()))
}

/// Sets `address`'s own Junk threshold (`None`: the server's `[spam] junk_threshold`).
/// It must be a finite number not above `reject` (the server's reject threshold: mail
/// scoring that is refused for everyone, so no account can have it filed instead).
pub async fn set_junk_threshold(
    directory: &dyn Directory,
    address: &Address,
    threshold: Option<f64>,
    reject: f64,
) -> Result<(), AccountError> {
    if threshold.is_some_and(|t| !t.is_finite() || t > reject) {
        return Err(AccountError::BadThreshold(reject));
    }
    directory.set_junk_threshold(address, threshold).await?;
    Ok(())
}

/// Creates an account in a local domain with `password` (hashed here).
pub async fn add_user(
    directory: &dyn Directory,
    address: &Address,
    password: &str,
    quota: Option<u64>,
) -> Result<UserId, AccountError> {
    if !directory.is_local_domain(address.domain()).await? {
        return Err(AccountError::UnknownDomain(address.domain().to_string()));
    }
    let hash = hash_password(password)?;
    Ok(directory.add_user(address, &hash, quota).await?)
}

/// Delivers mail for `alias` (`@domain`: the domain's catch-all) to `targets`, which must
/// be in local domains (forwarding elsewhere goes through Sieve's redirect, with SRS).
pub async fn add_alias(
    directory: &dyn Directory,
    alias: &AliasKey,
    targets: &[Address],
) -> Result<(), AccountError> {
    for target in targets {
        if !directory.is_local_domain(target.domain()).await? {
            return Err(AccountError::RemoteTarget(target.to_string()));
        }
    }
    Ok(directory.add_alias(alias, targets).await?)
}

/// Sets an account's password (an administrator's reset: the old one is not asked for).
pub async fn set_password(
    directory: &dyn Directory,
    address: &Address,
    password: &str,
) -> Result<(), AccountError> {
    let hash = hash_password(password)?;
    Ok(directory.set_password(address, &hash).await?)
}

/// The account holder's change: the current password must be given and right.
pub async fn change_password(
    directory: &dyn Directory,
    user: &UserRecord,
    current: &str,
    new: &str,
) -> Result<(), AccountError> {
    if !verify_password(current, &user.password_hash).await {
        return Err(AccountError::WrongPassword);
    }
    let address = Address::parse(&user.address).map_err(|_| {
        StoreError::Corrupt(format!("stored address {:?} is invalid", user.address))
    })?;
    set_password(directory, &address, new).await
}

/// Makes `address` an administrator (may use `/admin`) or takes that away.
pub async fn set_admin(
    accounts: &dyn Accounts,
    address: &Address,
    admin: bool,
) -> Result<(), AccountError> {
    Ok(accounts.set_admin(address, admin).await?)
}

/// Lets `address` submit as more senders: addresses, or `@domain` for a whole domain
/// (stored lowercase). No pattern: back to its own address and its aliases only.
pub async fn set_send_as(
    directory: &dyn Directory,
    address: &Address,
    patterns: &[String],
) -> Result<(), AccountError> {
    for pattern in patterns {
        let valid = match pattern.strip_prefix('@') {
            Some(domain) => Domain::parse(domain).is_ok(),
            None => Address::parse(pattern).is_ok(),
        };
        if !valid {
            return Err(AccountError::BadSender(pattern.clone()));
        }
    }
    let normalized: Vec<String> = patterns.iter().map(|p| p.to_lowercase()).collect();
    Ok(directory.set_send_as(address, &normalized).await?)
}

/// Changes an account's quota (`None`: unlimited).
pub async fn set_quota(
    accounts: &dyn Accounts,
    address: &Address,
    quota: Option<u64>,
) -> Result<(), AccountError> {
    Ok(accounts.set_quota(address, quota).await?)
}

/// A new app password named `name` for `user`: returns its id and the password itself,
/// which is shown once and never stored (only its hash is).
pub async fn create_app_password(
    accounts: &dyn Accounts,
    user: UserId,
    name: &str,
    now: i64,
) -> Result<(i64, String), AccountError> {
    let name = name.trim();
    let chars = name.chars().count();
    if !(1..=64).contains(&chars) || name.chars().any(char::is_control) {
        return Err(AccountError::BadName);
    }
    if accounts.app_passwords(user).await?.len() >= MAX_APP_PASSWORDS {
        return Err(AccountError::TooManyAppPasswords);
    }
    let secret = random_app_password()?;
    let hash = hash_password(&secret)?;
    let id = accounts.add_app_password(user, name, &hash, now).await?;
    Ok((id, secret))
}

/// Four groups of four lowercase letters (about 75 bits): easy to type on a phone.
fn random_app_password() -> Result<String, AccountError> {
    use ring::rand::SecureRandom;
    const LETTERS: &[u8] = b"abcdefghijkmnopqrstuvwxyz";
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| AccountError::Random)?;
    let mut out = String::with_capacity(19);
    for (i, byte) in bytes.iter().enumerate() {
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        // 256 is not a multiple of 25: the first letters are a little likelier (about
        // 0.2 bits less per letter), which is fine for 16 letters.
        out.push(LETTERS[*byte as usize % LETTERS.len()] as char);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_passwords_are_four_groups_of_letters_and_differ() {
        let a = random_app_password().unwrap();
        let b = random_app_password().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 19);
        let groups: Vec<&str> = a.split('-').collect();
        assert_eq!(groups.len(), 4);
        assert!(
            groups
                .iter()
                .all(|g| g.len() == 4 && g.bytes().all(|c| c.is_ascii_lowercase()))
        );
    }

    /// An app password opens mail logins, never the web's; revoked, it opens nothing.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn app_passwords_open_mail_logins_only() {
        use crate::auth::{LoginOutcome, login, web_login};
        use crate::throttle::LoginThrottle;
        let dir = tempfile::tempdir().unwrap();
        let store = hermod_store::EmbeddedStore::open(dir.path()).unwrap();
        let domain = Domain::parse("example.test").unwrap();
        add_domain(&store, &domain).await.unwrap();
        let alice = Address::parse("alice@example.test").unwrap();
        let id = add_user(&store, &alice, "account-pw", None).await.unwrap();
        let (app, secret) = create_app_password(&store, id, "phone", 1).await.unwrap();
        let throttle = LoginThrottle::default();
        let ip = std::net::IpAddr::from([127, 0, 0, 1]);
        let mail = |pw: &'static str| login(&store, &throttle, ip, "alice@example.test", pw);
        assert!(matches!(
            mail("account-pw").await,
            Ok(LoginOutcome::Accepted(_))
        ));
        let secret: &'static str = Box::leak(secret.into_boxed_str());
        assert!(matches!(mail(secret).await, Ok(LoginOutcome::Accepted(_))));
        let web = web_login(&store, &throttle, ip, "alice@example.test", secret).await;
        assert!(matches!(web, Ok(LoginOutcome::Refused { .. })));
        assert!(store.revoke_app_password(id, app).await.unwrap());
        assert!(matches!(
            mail(secret).await,
            Ok(LoginOutcome::Refused { .. })
        ));
        let user = store.user(&alice).await.unwrap().unwrap();
        let wrong = change_password(&store, &user, "nope", "new-pw").await;
        assert!(matches!(wrong, Err(AccountError::WrongPassword)));
        change_password(&store, &user, "account-pw", "new-pw")
            .await
            .unwrap();
        assert!(matches!(
            mail("new-pw").await,
            Ok(LoginOutcome::Accepted(_))
        ));
    }

    /// Two rotations at once: both succeed, one generation after the other, each with its
    /// whole pair of keys stored as returned; the newest pair is the one that signs.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_rotations_take_one_generation_each() {
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(hermod_store::EmbeddedStore::open(dir.path()).unwrap());
        let domain = Domain::parse("example.test").unwrap();
        add_domain(&*store, &domain).await.unwrap();
        let rotation = |store: std::sync::Arc<hermod_store::EmbeddedStore>| {
            let domain = domain.clone();
            tokio::spawn(async move { rotate_dkim(&*store, &domain).await.unwrap() })
        };
        let (first, second) = (rotation(store.clone()), rotation(store.clone()));
        let (first, second) = (first.await.unwrap(), second.await.unwrap());
        let stored = store.dkim_keys(&domain).await.unwrap();
        assert_eq!(stored.len(), 6, "the first keys and two rotations");
        for key in first.iter().chain(&second) {
            assert!(stored.contains(key), "{} was replaced", key.selector);
        }
        let generation = |keys: &[DkimKeyRecord]| crate::dkim::generation(&keys[0].selector);
        let mut generations = [generation(&first), generation(&second)];
        generations.sort();
        assert_eq!(generations, [2, 3]);
        let newest = if generation(&first) == 3 {
            &first
        } else {
            &second
        };
        let signing = crate::dkim::signing_keys(&stored);
        assert_eq!(signing.len(), 2);
        assert!(signing.iter().all(|key| newest.contains(key)));
    }
}
