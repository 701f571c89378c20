//! Logins argon2 accepted recently, so an email program that reconnects does not pay for the
//! check again. Phones poll every few minutes and desktop programs open several connections
//! per account; each check costs about 19 MiB and tens of milliseconds of a core by design.
//!
//! An entry is a keyed digest (HMAC-SHA256 under a key drawn at start and never stored) of
//! the stored password hash and the password given, with the time it was accepted. Nothing
//! in it is the password or the stored hash; a changed password changes the stored hash (a
//! new salt), so the old entry stops matching at once, as does a revoked app password.
//! Only acceptances are kept: a wrong password always costs the full check, so guessing is
//! no faster, and the login throttle counts failures as before. Memory only, per process.

use ring::hmac;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long an accepted login is remembered (the default of Dovecot's auth cache too).
pub const REMEMBER_FOR: Duration = Duration::from_secs(3600);

/// At most this many entries (about 50 bytes each); past it the oldest goes first.
const CAPACITY: usize = 10_000;

pub type Digest = [u8; 32];

pub struct VerifiedLogins {
    key: hmac::Key,
    accepted: Mutex<HashMap<Digest, Instant>>,
    capacity: usize,
}

impl VerifiedLogins {
    fn with_capacity(capacity: usize) -> Self {
        let rng = ring::rand::SystemRandom::new();
        let key =
            hmac::Key::generate(hmac::HMAC_SHA256, &rng).expect("the system's random source works");
        VerifiedLogins {
            key,
            accepted: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    /// The entry's name for this stored hash and password. The hash's length goes first so
    /// that no other (hash, password) split of the same bytes gives the same digest.
    pub fn digest(&self, stored_hash: &str, password: &str) -> Digest {
        let mut context = hmac::Context::with_key(&self.key);
        context.update(&(stored_hash.len() as u64).to_le_bytes());
        context.update(stored_hash.as_bytes());
        context.update(password.as_bytes());
        let mut digest = [0u8; 32];
        digest.copy_from_slice(context.sign().as_ref());
        digest
    }

    pub fn accepted_recently(&self, digest: &Digest, now: Instant) -> bool {
        let accepted = self.accepted.lock().unwrap_or_else(|e| e.into_inner());
        accepted
            .get(digest)
            .is_some_and(|at| now.saturating_duration_since(*at) < REMEMBER_FOR)
    }

    pub fn remember(&self, digest: Digest, now: Instant) {
        let mut accepted = self.accepted.lock().unwrap_or_else(|e| e.into_inner());
        if accepted.len() >= self.capacity && !accepted.contains_key(&digest) {
            accepted.retain(|_, at| now.saturating_duration_since(*at) < REMEMBER_FOR);
            if accepted.len() >= self.capacity {
                let oldest = accepted.iter().min_by_key(|(_, at)| **at).map(|(d, _)| *d);
                if let Some(oldest) = oldest {
                    accepted.remove(&oldest);
                }
            }
        }
        accepted.insert(digest, now);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.accepted.lock().unwrap().len()
    }
}

/// The process's one table.
pub fn verified_logins() -> &'static VerifiedLogins {
    static TABLE: OnceLock<VerifiedLogins> = OnceLock::new();
    TABLE.get_or_init(|| VerifiedLogins::with_capacity(CAPACITY))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_acceptances_for_a_while() {
        let table = VerifiedLogins::with_capacity(10);
        let start = Instant::now();
        let entry = table.digest("$argon2id$one", "secret");
        assert!(!table.accepted_recently(&entry, start));
        table.remember(entry, start);
        assert!(table.accepted_recently(&entry, start + Duration::from_secs(60)));
        assert!(!table.accepted_recently(&entry, start + REMEMBER_FOR));
    }

    #[test]
    fn digests_depend_on_hash_password_and_the_split_between_them() {
        let table = VerifiedLogins::with_capacity(10);
        let entry = table.digest("$argon2id$one", "secret");
        assert_ne!(entry, table.digest("$argon2id$two", "secret"));
        assert_ne!(entry, table.digest("$argon2id$one", "secret!"));
        assert_ne!(entry, table.digest("$argon2id$on", "esecret"));
        // Another process (another key) names the same login differently.
        assert_ne!(
            entry,
            VerifiedLogins::with_capacity(10).digest("$argon2id$one", "secret")
        );
    }

    #[test]
    fn stays_within_its_capacity_dropping_the_oldest() {
        let table = VerifiedLogins::with_capacity(3);
        let start = Instant::now();
        let entries: Vec<Digest> = (0..4)
            .map(|n| table.digest("$argon2id$h", &format!("password {n}")))
            .collect();
        for (n, entry) in entries.iter().enumerate() {
            table.remember(*entry, start + Duration::from_secs(n as u64));
        }
        assert_eq!(table.len(), 3);
        let now = start + Duration::from_secs(10);
        assert!(!table.accepted_recently(&entries[0], now));
        assert!(entries[1..].iter().all(|e| table.accepted_recently(e, now)));
    }
}
