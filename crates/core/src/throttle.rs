//! Failed-login throttling, shared by every service that takes passwords.
//!
//! Failures are counted per client network (an IPv4 address, an IPv6 /64) and per account.
//! After a few free failures every further one is answered more slowly (growing delay), and
//! past a threshold the key is locked for a while. A network that keeps guessing is locked
//! for long; an account only briefly, so that an attacker cannot keep a user locked out
//! from everywhere: the account lock is short and does not grow.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Policy {
    /// Failures answered without delay.
    pub free_failures: u32,
    pub max_delay: Duration,
    pub network_lock_after: u32,
    pub network_lock: Duration,
    pub account_lock_after: u32,
    pub account_lock: Duration,
    /// A key with no failure for this long starts over.
    pub forget_after: Duration,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            free_failures: 3,
            max_delay: Duration::from_secs(8),
            network_lock_after: 20,
            network_lock: Duration::from_secs(15 * 60),
            account_lock_after: 10,
            account_lock: Duration::from_secs(120),
            forget_after: Duration::from_secs(15 * 60),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    Locked { retry_after: Duration },
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Network(IpAddr),
    Account(String),
}

#[derive(Debug, Clone, Copy)]
struct Record {
    failures: u32,
    last: Instant,
    locked_until: Option<Instant>,
}

/// Entries kept before stale ones are pruned.
const PRUNE_AT: usize = 10_000;

#[derive(Debug, Default)]
pub struct LoginThrottle {
    policy: Policy,
    records: Mutex<HashMap<Key, Record>>,
}

/// The unit counted per client, by the login throttle and the connection caps: an IPv4
/// address, or an IPv6 /64 (what one customer or host usually owns, so stepping through its
/// addresses gains nothing). An IPv4-mapped IPv6 address counts as its IPv4 address.
pub fn network(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

impl LoginThrottle {
    pub fn new(policy: Policy) -> LoginThrottle {
        LoginThrottle {
            policy,
            records: Mutex::default(),
        }
    }

    fn keys(ip: IpAddr, account: &str) -> [Key; 2] {
        [
            Key::Network(network(ip)),
            Key::Account(account.to_lowercase()),
        ]
    }

    /// Whether a login attempt may be checked at all now.
    pub fn check(&self, ip: IpAddr, account: &str, now: Instant) -> Verdict {
        let records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        let locked = Self::keys(ip, account)
            .iter()
            .filter_map(|k| records.get(k)?.locked_until)
            .filter(|until| *until > now)
            .max();
        match locked {
            Some(until) => Verdict::Locked {
                retry_after: until - now,
            },
            None => Verdict::Allowed,
        }
    }

    /// Records a failure; returns how long to wait before answering it.
    pub fn failed(&self, ip: IpAddr, account: &str, now: Instant) -> Duration {
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        if records.len() > PRUNE_AT {
            let forget = self.policy.forget_after;
            records.retain(|_, r| {
                now.duration_since(r.last) < forget || r.locked_until.is_some_and(|u| u > now)
            });
        }
        let mut worst = 0;
        for key in Self::keys(ip, account) {
            let (after, lock) = match key {
                Key::Network(_) => (self.policy.network_lock_after, self.policy.network_lock),
                Key::Account(_) => (self.policy.account_lock_after, self.policy.account_lock),
            };
            let record = records.entry(key).or_insert(Record {
                failures: 0,
                last: now,
                locked_until: None,
            });
            if now.duration_since(record.last) >= self.policy.forget_after {
                *record = Record {
                    failures: 0,
                    last: now,
                    locked_until: None,
                };
            }
            record.failures += 1;
            record.last = now;
            if record.failures >= after {
                record.locked_until = Some(now + lock);
                // Counting starts over once the lock ends.
                record.failures = 0;
            }
            worst = worst.max(record.failures);
        }
        self.delay(worst)
    }

    fn delay(&self, failures: u32) -> Duration {
        let excess = failures.saturating_sub(self.policy.free_failures);
        if excess == 0 {
            return Duration::ZERO;
        }
        let secs = 1u64 << excess.min(16);
        Duration::from_secs(secs).min(self.policy.max_delay)
    }

    /// A successful login clears the account's failures, never the network's: an attacker
    /// with an account of their own could otherwise reset their network's count with a
    /// good login after every few guesses.
    pub fn succeeded(&self, account: &str) {
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        let key = Key::Account(account.to_lowercase());
        if records.get(&key).is_some_and(|r| r.locked_until.is_none()) {
            records.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn delays_grow_then_the_network_is_locked() {
        let t = LoginThrottle::default();
        let now = Instant::now();
        let delays: Vec<u64> = (0..8)
            .map(|_| t.failed(ip("192.0.2.1"), "alice", now).as_secs())
            .collect();
        assert_eq!(delays, [0, 0, 0, 2, 4, 8, 8, 8]);
        assert_eq!(t.check(ip("192.0.2.1"), "alice", now), Verdict::Allowed);
        for n in 0..12 {
            t.failed(ip("192.0.2.1"), &format!("user{n}"), now);
        }
        assert!(
            matches!(t.check(ip("192.0.2.1"), "bob", now), Verdict::Locked { .. }),
            "the guessing network is locked"
        );
        assert_eq!(
            t.check(ip("198.51.100.7"), "bob", now),
            Verdict::Allowed,
            "others are not"
        );
        let later = now + Duration::from_secs(16 * 60);
        assert_eq!(t.check(ip("192.0.2.1"), "bob", later), Verdict::Allowed);
    }

    #[test]
    fn an_account_lock_is_short_and_an_ipv6_slash64_counts_once() {
        let t = LoginThrottle::default();
        let now = Instant::now();
        for n in 0..10 {
            t.failed(ip(&format!("2001:db8:0:{n}::1")), "alice", now);
        }
        let Verdict::Locked { retry_after } = t.check(ip("203.0.113.9"), "Alice", now) else {
            panic!("account should be locked");
        };
        assert!(retry_after <= Duration::from_secs(120));
        assert_eq!(
            t.check(ip("203.0.113.9"), "alice", now + Duration::from_secs(121)),
            Verdict::Allowed
        );

        let t = LoginThrottle::default();
        for n in 0..20 {
            t.failed(ip(&format!("2001:db8::{n}")), &format!("u{n}"), now);
        }
        assert!(matches!(
            t.check(ip("2001:db8::ffff"), "x", now),
            Verdict::Locked { .. }
        ));
    }

    #[test]
    fn success_clears_failures() {
        let t = LoginThrottle::default();
        let now = Instant::now();
        for _ in 0..5 {
            t.failed(ip("192.0.2.1"), "alice", now);
        }
        t.succeeded("alice");
        assert_eq!(
            t.failed(ip("198.51.100.1"), "alice", now),
            Duration::ZERO,
            "the account starts over"
        );
    }

    /// 24 failures from one network, with a good login of the attacker's own account after
    /// every three: the network is still slowed, then locked.
    #[test]
    fn own_good_logins_do_not_reset_the_network() {
        let t = LoginThrottle::default();
        let now = Instant::now();
        let attacker = ip("192.0.2.66");
        let mut slowed = false;
        for n in 0..24 {
            slowed |= t.failed(attacker, &format!("victim{}", n % 5), now) > Duration::ZERO;
            if n % 3 == 2 {
                t.succeeded("mallory");
            }
        }
        assert!(slowed, "failures were delayed");
        assert!(matches!(
            t.check(attacker, "victim0", now),
            Verdict::Locked { .. }
        ));
    }
}
