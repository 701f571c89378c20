//! Password hashing: argon2id with a random salt, stored as a PHC string.

use crate::throttle::{LoginThrottle, Verdict};
use argon2::{Argon2, PasswordHasher};
use hermod_store::{Accounts, Directory, Store, StoreError, UserRecord};
use hermod_types::Address;
use std::sync::OnceLock;

#[derive(Debug, thiserror::Error)]
#[error("could not hash the password: {0}")]
pub struct HashError(String);

/// The longest password accepted; argon2 is slow by design, so unbounded input is a DoS vector.
pub const MAX_PASSWORD_LEN: usize = 1024;

pub fn hash_password(password: &str) -> Result<String, HashError> {
    if password.is_empty() || password.len() > MAX_PASSWORD_LEN {
        return Err(HashError(format!(
            "a password must be 1 to {MAX_PASSWORD_LEN} bytes"
        )));
    }
    let hash = Argon2::default()
        .hash_password(password.as_bytes())
        .map_err(|e| HashError(e.to_string()))?;
    Ok(hash.to_string())
}

/// True when `password` matches the stored PHC `hash`. A malformed hash never matches.
///
/// The work runs on a small pool of dedicated threads: argon2 takes about 19 MiB per check,
/// so the pool's size bounds how much of it exists at once. Each thread keeps its memory
/// while logins keep coming (faulting 19 MiB of fresh pages in costs a fifth of a check) and
/// frees it after [`IDLE_RELEASE`] without work; the `hermod` binary fixes glibc's mmap
/// threshold so that freeing it gives it back to the system.
///
/// A pair accepted within the last hour is accepted again without the work
/// ([`crate::verified`]); refusals are never remembered.
pub async fn verify_password(password: &str, hash: &str) -> bool {
    if password.len() > MAX_PASSWORD_LEN {
        return false;
    }
    let verified = crate::verified::verified_logins();
    let entry = verified.digest(hash, password);
    if verified.accepted_recently(&entry, std::time::Instant::now()) {
        return true;
    }
    let (reply, answer) = tokio::sync::oneshot::channel();
    let job = (password.to_owned(), hash.to_owned(), reply);
    let accepted = verifier().send(job).is_ok() && answer.await.unwrap_or(false);
    if accepted {
        verified.remember(entry, std::time::Instant::now());
    }
    accepted
}

type Job = (String, String, tokio::sync::oneshot::Sender<bool>);

/// How long a password-checking thread keeps its argon2 memory without work.
const IDLE_RELEASE: std::time::Duration = std::time::Duration::from_secs(2);

/// What `Argon2::verify_password` does, computing in `memory` (grown as the hash's
/// parameters need) instead of a fresh allocation. The comparison is constant-time
/// (`Output`'s equality).
fn verify_with(memory: &mut Vec<argon2::Block>, password: &[u8], hash: &str) -> bool {
    use argon2::password_hash::phc::{Output, PasswordHash};
    let mut check = || -> Option<bool> {
        let parsed = PasswordHash::new(hash).ok()?;
        let algorithm = argon2::Algorithm::try_from(parsed.algorithm.as_str()).ok()?;
        let version = match parsed.version {
            Some(v) => argon2::Version::try_from(v).ok()?,
            None => argon2::Version::default(),
        };
        let params = argon2::Params::try_from(&parsed).ok()?;
        let (salt, expected) = (parsed.salt?, parsed.hash?);
        memory.resize(params.block_count(), argon2::Block::new());
        let mut out = [0u8; Output::MAX_LENGTH];
        let out = out.get_mut(..expected.len())?;
        Argon2::new(algorithm, version, params)
            .hash_password_into_with_memory(password, &salt, out, &mut *memory)
            .ok()?;
        Some(Output::new(out).ok()? == expected)
    };
    check().unwrap_or(false)
}

/// Threads that check passwords: as many as there are cores, at most four.
/// Every thread waits on the queue itself (a multi-consumer channel), so each one's idle
/// timer runs and frees its memory; behind a shared lock only the holder's would.
fn verifier() -> &'static crossbeam_channel::Sender<Job> {
    static POOL: OnceLock<crossbeam_channel::Sender<Job>> = OnceLock::new();
    POOL.get_or_init(|| {
        let (jobs, queue) = crossbeam_channel::unbounded::<Job>();
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
        for n in 0..threads {
            let queue = queue.clone();
            let worker = move || {
                let mut memory = Vec::new();
                loop {
                    match queue.recv_timeout(IDLE_RELEASE) {
                        Ok((password, hash, reply)) => {
                            let ok = verify_with(&mut memory, password.as_bytes(), &hash);
                            let _ = reply.send(ok);
                        }
                        Err(crossbeam_channel::RecvTimeoutError::Timeout) => memory = Vec::new(),
                        Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return,
                    }
                }
            };
            if let Err(e) = std::thread::Builder::new()
                .name(format!("argon2-{n}"))
                .spawn(worker)
            {
                tracing::error!(error = %e, "cannot start a password-checking thread");
            }
        }
        jobs
    })
}

/// Checks a login (the account's address) and password. Unknown accounts cost the same
/// argon2 work as known ones, so response times do not reveal which accounts exist. With
/// `apps`, the account's app passwords are accepted too (mail logins, never the web's).
pub async fn authenticate(
    directory: &dyn Directory,
    apps: Option<&dyn Accounts>,
    login: &str,
    password: &str,
) -> Result<Option<UserRecord>, StoreError> {
    let user = match Address::parse(login) {
        Ok(address) => directory.user(&address).await?,
        Err(_) => None,
    };
    let Some(user) = user else {
        verify_password(password, decoy_hash()).await;
        return Ok(None);
    };
    if verify_password(password, &user.password_hash).await {
        return Ok(Some(user));
    }
    if let Some(apps) = apps {
        for hash in apps.app_password_hashes(user.id).await? {
            if verify_password(password, &hash).await {
                return Ok(Some(user));
            }
        }
    }
    Ok(None)
}

/// What a login attempt came to.
#[derive(Debug)]
pub enum LoginOutcome {
    Accepted(UserRecord),
    /// Wrong name or password; answer after `delay` (the throttle's growing delay).
    Refused {
        delay: std::time::Duration,
    },
    /// Too many failures from this network or for this account: not even checked.
    Locked {
        retry_after: std::time::Duration,
    },
}

/// The account a login name means, as every throttle and lock must key it: `"carol"@x`,
/// `Carol@X.` and `"c\arol"@x` are all `carol@x`. A name that is no address is only
/// lowercased (it names no account, but its failures still count).
pub fn account_key(login: &str) -> String {
    match Address::parse(login) {
        Ok(address) => address.normalized(),
        Err(_) => login.to_lowercase(),
    }
}

/// A whole password login for a mail service (IMAP, POP3, submission, ManageSieve): the
/// throttle's verdict, the check (the account's password or one of its app passwords), and
/// the throttle's bookkeeping, all keyed on the canonical account.
pub async fn login(
    store: &dyn Store,
    throttle: &LoginThrottle,
    ip: std::net::IpAddr,
    name: &str,
    password: &str,
) -> Result<LoginOutcome, StoreError> {
    throttled_login(store, Some(store), throttle, ip, name, password).await
}

/// The web interface's login: the same throttle, the account's own password only (an app
/// password is for an email program and must not open the account's settings).
pub async fn web_login(
    directory: &dyn Directory,
    throttle: &LoginThrottle,
    ip: std::net::IpAddr,
    name: &str,
    password: &str,
) -> Result<LoginOutcome, StoreError> {
    throttled_login(directory, None, throttle, ip, name, password).await
}

async fn throttled_login(
    directory: &dyn Directory,
    apps: Option<&dyn Accounts>,
    throttle: &LoginThrottle,
    ip: std::net::IpAddr,
    name: &str,
    password: &str,
) -> Result<LoginOutcome, StoreError> {
    let account = account_key(name);
    let now = hermod_message::unix_now();
    let logins = &hermod_types::metrics::metrics().logins;
    if let Verdict::Locked { retry_after } = throttle.check(ip, &account, now).await? {
        logins.inc("throttled");
        return Ok(LoginOutcome::Locked { retry_after });
    }
    match authenticate(directory, apps, name, password).await? {
        Some(user) => {
            logins.inc("accepted");
            throttle.succeeded(&user.address, now).await?;
            Ok(LoginOutcome::Accepted(user))
        }
        None => {
            logins.inc("failed");
            Ok(LoginOutcome::Refused {
                delay: throttle
                    .failed(ip, &account, hermod_message::unix_now())
                    .await?,
            })
        }
    }
}

fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| hash_password("decoy password never matches").unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_are_salted() {
        let a = hash_password("s3cret").unwrap();
        let b = hash_password("s3cret").unwrap();
        assert!(a.starts_with("$argon2id$"));
        assert_ne!(a, b);
        assert!(verify_password("s3cret", &a).await);
        assert!(!verify_password("s3cret!", &a).await);
        // The acceptance is remembered, the refusal is not.
        let verified = crate::verified::verified_logins();
        let now = std::time::Instant::now();
        assert!(verified.accepted_recently(&verified.digest(&a, "s3cret"), now));
        assert!(!verified.accepted_recently(&verified.digest(&a, "s3cret!"), now));
        assert!(!verified.accepted_recently(&verified.digest(&b, "s3cret"), now));
        assert!(verify_password("s3cret", &a).await);
        assert!(!verify_password("s3cret", "not a hash").await);
        assert!(hash_password("").is_err());
    }

    /// The reused memory gives the library's answers, whatever the previous check left in
    /// it, for other parameters and variants too.
    #[test]
    fn checks_in_reused_memory_agree_with_the_library() {
        use argon2::{Algorithm, Params, PasswordVerifier, Version};
        // Small parameters keep the test quick in debug builds; the default ones go last.
        let hash = |algorithm, version, m, password: &str| {
            let params = Params::new(m, 1, 1, None).unwrap();
            Argon2::new(algorithm, version, params)
                .hash_password(password.as_bytes())
                .unwrap()
                .to_string()
        };
        let hashes = [
            hash(Algorithm::Argon2id, Version::V0x13, 256, "first"),
            hash(Algorithm::Argon2id, Version::V0x13, 64, "second"),
            hash(Algorithm::Argon2i, Version::V0x10, 128, "third"),
            hash(Algorithm::Argon2d, Version::V0x13, 64, "fourth"),
        ];
        let mut memory = Vec::new();
        for _ in 0..2 {
            for (hash, right) in hashes.iter().zip(["first", "second", "third", "fourth"]) {
                for password in ["first", "second", "third", "fourth", ""] {
                    let library = Argon2::default()
                        .verify_password(password.as_bytes(), hash.as_str())
                        .is_ok();
                    assert_eq!(library, password == right);
                    assert_eq!(verify_with(&mut memory, password.as_bytes(), hash), library);
                }
            }
        }
        assert!(!verify_with(
            &mut memory,
            b"x",
            "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ"
        ));
        let default = hash_password("fifth").unwrap();
        assert!(verify_with(&mut memory, b"fifth", &default));
        assert!(!verify_with(&mut memory, b"fifth!", &default));
    }
}
