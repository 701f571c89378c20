//! Failed-login throttling, shared by every service that takes passwords.
//!
//! Failures are counted per client network (an IPv4 address, an IPv6 /64) and per account.
//! After a few free failures every further one is answered more slowly (growing delay), and
//! past a threshold the key is locked for a while. A network that keeps guessing is locked
//! for long; an account only briefly, so that an attacker cannot keep a user locked out
//! from everywhere: the account lock is short and does not grow.

use hermod_store::{Coordination, MemoryCoordination, Result};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

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

/// What is counted: a client network or an account.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Key {
    Network(IpAddr),
    Account(String),
}

impl Key {
    /// The counter of its recent failures.
    fn failures(&self) -> String {
        match self {
            Key::Network(ip) => format!("login-failures:net:{ip}"),
            Key::Account(account) => format!("login-failures:account:{account}"),
        }
    }

    /// The lease that locks it.
    fn lock(&self) -> String {
        match self {
            Key::Network(ip) => format!("login-lock:net:{ip}"),
            Key::Account(account) => format!("login-lock:account:{account}"),
        }
    }
}

/// Who holds the throttle's locks (any node may lock; nobody releases early).
const LOCKER: &str = "login-throttle";

/// The throttle's counts and locks live in the store's [`Coordination`] role: in memory for
/// the embedded store, in the database for PostgreSQL, so every node of a cluster counts
/// the same failures.
pub struct LoginThrottle {
    policy: Policy,
    state: Arc<dyn Coordination>,
}

impl Default for LoginThrottle {
    /// The default policy over counts of this process alone.
    fn default() -> LoginThrottle {
        LoginThrottle::new(Policy::default(), Arc::new(MemoryCoordination::default()))
    }
}

impl std::fmt::Debug for LoginThrottle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginThrottle")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
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

fn seconds(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

impl LoginThrottle {
    pub fn new(policy: Policy, state: Arc<dyn Coordination>) -> LoginThrottle {
        LoginThrottle { policy, state }
    }

    fn keys(ip: IpAddr, account: &str) -> [Key; 2] {
        [
            Key::Network(network(ip)),
            Key::Account(account.to_lowercase()),
        ]
    }

    /// Whether a login attempt may be checked at all at `now` (Unix seconds).
    pub async fn check(&self, ip: IpAddr, account: &str, now: i64) -> Result<Verdict> {
        let mut locked = None;
        for key in Self::keys(ip, account) {
            if let Some(until) = self.state.lease_until(&key.lock(), now).await? {
                locked = locked.max(Some(until));
            }
        }
        Ok(match locked {
            Some(until) => Verdict::Locked {
                retry_after: Duration::from_secs(until.saturating_sub(now).max(1) as u64),
            },
            None => Verdict::Allowed,
        })
    }

    /// Records a failure; returns how long to wait before answering it.
    pub async fn failed(&self, ip: IpAddr, account: &str, now: i64) -> Result<Duration> {
        let window = seconds(self.policy.forget_after);
        let mut worst = 0;
        for key in Self::keys(ip, account) {
            let (after, lock) = match key {
                Key::Network(_) => (self.policy.network_lock_after, self.policy.network_lock),
                Key::Account(_) => (self.policy.account_lock_after, self.policy.account_lock),
            };
            let mut failures = self
                .state
                .counter_add(&key.failures(), 1, now, window)
                .await?;
            if failures >= i64::from(after) {
                let until = now + seconds(lock);
                self.state
                    .lease_take(&key.lock(), LOCKER, now, until)
                    .await?;
                // Counting starts over once the lock ends.
                self.state.counter_reset(&key.failures()).await?;
                failures = 0;
            }
            worst = worst.max(failures);
        }
        Ok(self.delay(worst))
    }

    fn delay(&self, failures: i64) -> Duration {
        let excess = failures.saturating_sub(i64::from(self.policy.free_failures));
        if excess <= 0 {
            return Duration::ZERO;
        }
        let secs = 1u64 << excess.min(16);
        Duration::from_secs(secs).min(self.policy.max_delay)
    }

    /// A successful login clears the account's failures, never the network's: an attacker
    /// with an account of their own could otherwise reset their network's count with a
    /// good login after every few guesses.
    pub async fn succeeded(&self, account: &str, now: i64) -> Result<()> {
        let key = Key::Account(account.to_lowercase());
        if self.state.lease_until(&key.lock(), now).await?.is_none() {
            self.state.counter_reset(&key.failures()).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[tokio::test]
    async fn delays_grow_then_the_network_is_locked() {
        let t = LoginThrottle::default();
        let now = 1_000_000;
        let mut delays = Vec::new();
        for _ in 0..8 {
            delays.push(
                t.failed(ip("192.0.2.1"), "alice", now)
                    .await
                    .unwrap()
                    .as_secs(),
            );
        }
        assert_eq!(delays, [0, 0, 0, 2, 4, 8, 8, 8]);
        assert_eq!(
            t.check(ip("192.0.2.1"), "alice", now).await.unwrap(),
            Verdict::Allowed
        );
        for n in 0..12 {
            t.failed(ip("192.0.2.1"), &format!("user{n}"), now)
                .await
                .unwrap();
        }
        assert!(
            matches!(
                t.check(ip("192.0.2.1"), "bob", now).await.unwrap(),
                Verdict::Locked { .. }
            ),
            "the guessing network is locked"
        );
        assert_eq!(
            t.check(ip("198.51.100.7"), "bob", now).await.unwrap(),
            Verdict::Allowed,
            "others are not"
        );
        let later = now + 16 * 60;
        assert_eq!(
            t.check(ip("192.0.2.1"), "bob", later).await.unwrap(),
            Verdict::Allowed
        );
    }

    #[tokio::test]
    async fn an_account_lock_is_short_and_an_ipv6_slash64_counts_once() {
        let t = LoginThrottle::default();
        let now = 1_000_000;
        for n in 0..10 {
            t.failed(ip(&format!("2001:db8:0:{n}::1")), "alice", now)
                .await
                .unwrap();
        }
        let Verdict::Locked { retry_after } =
            t.check(ip("203.0.113.9"), "Alice", now).await.unwrap()
        else {
            panic!("account should be locked");
        };
        assert!(retry_after <= Duration::from_secs(120));
        assert_eq!(
            t.check(ip("203.0.113.9"), "alice", now + 121)
                .await
                .unwrap(),
            Verdict::Allowed
        );

        let t = LoginThrottle::default();
        for n in 0..20 {
            t.failed(ip(&format!("2001:db8::{n}")), &format!("u{n}"), now)
                .await
                .unwrap();
        }
        assert!(matches!(
            t.check(ip("2001:db8::ffff"), "x", now).await.unwrap(),
            Verdict::Locked { .. }
        ));
    }

    #[tokio::test]
    async fn success_clears_failures() {
        let t = LoginThrottle::default();
        let now = 1_000_000;
        for _ in 0..5 {
            t.failed(ip("192.0.2.1"), "alice", now).await.unwrap();
        }
        t.succeeded("alice", now).await.unwrap();
        assert_eq!(
            t.failed(ip("198.51.100.1"), "alice", now).await.unwrap(),
            Duration::ZERO,
            "the account starts over"
        );
    }

    /// 24 failures from one network, with a good login of the attacker's own account after
    /// every three: the network is still slowed, then locked.
    #[tokio::test]
    async fn own_good_logins_do_not_reset_the_network() {
        let t = LoginThrottle::default();
        let now = 1_000_000;
        let attacker = ip("192.0.2.66");
        let mut slowed = false;
        for n in 0..24 {
            slowed |= t
                .failed(attacker, &format!("victim{}", n % 5), now)
                .await
                .unwrap()
                > Duration::ZERO;
            if n % 3 == 2 {
                t.succeeded("mallory", now).await.unwrap();
            }
        }
        assert!(slowed, "failures were delayed");
        assert!(matches!(
            t.check(attacker, "victim0", now).await.unwrap(),
            Verdict::Locked { .. }
        ));
    }
}
