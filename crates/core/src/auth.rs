//! Password hashing: argon2id with a random salt, stored as a PHC string.

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use hermod_store::{Store, StoreError, UserRecord};
use hermod_types::Address;
use std::sync::{Arc, Mutex, OnceLock, mpsc};

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
/// so the pool's size bounds how much of it exists at once. Whether the memory goes back to
/// the system afterwards is the allocator's choice: with glibc's default (dynamic) mmap
/// threshold it stays in the arena of the thread that used it, which is why the `hermod`
/// binary fixes the threshold at start-up.
pub fn verify_password(password: &str, hash: &str) -> bool {
    if password.len() > MAX_PASSWORD_LEN {
        return false;
    }
    let (reply, answer) = mpsc::sync_channel(1);
    let job = (password.to_owned(), hash.to_owned(), reply);
    let sent = verifier()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .send(job);
    sent.is_ok() && answer.recv().unwrap_or(false)
}

type Job = (String, String, mpsc::SyncSender<bool>);

/// Threads that check passwords: as many as there are cores, at most four.
fn verifier() -> &'static Mutex<mpsc::Sender<Job>> {
    static POOL: OnceLock<Mutex<mpsc::Sender<Job>>> = OnceLock::new();
    POOL.get_or_init(|| {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
        for n in 0..threads {
            let queue = queue.clone();
            let worker = move || {
                loop {
                    let job = queue.lock().unwrap_or_else(|e| e.into_inner()).recv();
                    let Ok((password, hash, reply)) = job else {
                        return;
                    };
                    let ok = Argon2::default()
                        .verify_password(password.as_bytes(), hash.as_str())
                        .is_ok();
                    let _ = reply.send(ok);
                }
            };
            if let Err(e) = std::thread::Builder::new()
                .name(format!("argon2-{n}"))
                .spawn(worker)
            {
                tracing::error!(error = %e, "cannot start a password-checking thread");
            }
        }
        Mutex::new(jobs)
    })
}

/// Checks a login (the account's address) and password. Unknown accounts cost the same
/// argon2 work as known ones, so response times do not reveal which accounts exist.
pub fn authenticate(
    store: &dyn Store,
    login: &str,
    password: &str,
) -> Result<Option<UserRecord>, StoreError> {
    let user = match Address::parse(login) {
        Ok(address) => store.user(&address)?,
        Err(_) => None,
    };
    match user {
        Some(user) if verify_password(password, &user.password_hash) => Ok(Some(user)),
        Some(_) => Ok(None),
        None => {
            verify_password(password, decoy_hash());
            Ok(None)
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

    #[test]
    fn hashes_verify_and_are_salted() {
        let a = hash_password("s3cret").unwrap();
        let b = hash_password("s3cret").unwrap();
        assert!(a.starts_with("$argon2id$"));
        assert_ne!(a, b);
        assert!(verify_password("s3cret", &a));
        assert!(!verify_password("s3cret!", &a));
        assert!(!verify_password("s3cret", "not a hash"));
        assert!(hash_password("").is_err());
    }
}
