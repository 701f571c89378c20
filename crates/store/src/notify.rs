//! "A mailbox of this user changed": wake-ups for IDLE and NOTIFY sessions.
//!
//! Every write to a user's mail bumps a per-user generation number stored with the user
//! (`users.mail_generation` in SQLite), in the same transaction as the change. Waking a
//! subscriber is then "this user's generation passed the last one we announced":
//!
//! - writers in this process announce the generation their transaction produced right after
//!   it commits (the group-commit thread for deliveries, the write path for everything else);
//! - a poller (one thread per store, started with the first subscription) notices commits of
//!   other processes and of other store handles on the same database and announces the
//!   generations it reads back.
//!
//! Both feed [`Notifier::announce`], which fires a user's callbacks only when the generation
//! is newer than the last one fired. Generations only grow, so a wake-up fired for `g` tells
//! the subscriber about every change up to `g`: a local write and the poller seeing the same
//! change wake a subscriber once, and a change is never lost because another was announced.
//!
//! Callbacks run on the announcing thread (a commit thread, the poller) and must be quick and
//! must not block: set a flag, `tokio::sync::Notify::notify_one`, signal a condvar. They
//! carry no payload; the woken session asks the store what changed (`changes_since`).

use crate::UserId;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant};

type Callback = Arc<dyn Fn() + Send + Sync>;

#[derive(Default)]
struct Watched {
    /// The newest generation whose change callbacks were fired for (or that the first
    /// subscriber saw when it subscribed).
    announced: i64,
    callbacks: Vec<(u64, Callback)>,
}

/// Who wants to hear of which user's changes. Backend-neutral: a backend only calls
/// [`Notifier::announce`] with the generations it learns.
#[derive(Default)]
pub(crate) struct Notifier {
    users: Mutex<HashMap<UserId, Watched>>,
    next_id: AtomicU64,
}

impl Notifier {
    /// Registers `callback` for `user`, whose generation is `current` now.
    pub(crate) fn subscribe(
        self: &Arc<Self>,
        user: UserId,
        current: i64,
        callback: Box<dyn Fn() + Send + Sync>,
    ) -> ChangeSubscription {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut users = self.lock();
        let watched = users.entry(user).or_insert_with(|| Watched {
            announced: current,
            callbacks: Vec::new(),
        });
        // A user watched already keeps its mark: lowering or raising it could make existing
        // subscribers miss a change not yet announced (a newcomer may get one spare wake-up).
        watched.callbacks.push((id, Arc::from(callback)));
        ChangeSubscription {
            notifier: Arc::downgrade(self),
            user,
            id,
        }
    }

    /// Fires `user`'s callbacks if `generation` is newer than the last one fired.
    pub(crate) fn announce(&self, user: UserId, generation: i64) {
        let callbacks: Vec<Callback> = {
            let mut users = self.lock();
            match users.get_mut(&user) {
                Some(w) if generation > w.announced => {
                    w.announced = generation;
                    w.callbacks.iter().map(|(_, c)| c.clone()).collect()
                }
                _ => return,
            }
        };
        // Outside the lock: a callback may subscribe or drop a subscription.
        for callback in callbacks {
            callback();
        }
    }

    /// Fires every callback of every user, whatever the generations: after a backend may
    /// have missed changes (its listening connection was lost), subscribers catch up.
    pub(crate) fn wake_all(&self) {
        let callbacks: Vec<Callback> = self
            .lock()
            .values()
            .flat_map(|w| w.callbacks.iter().map(|(_, c)| c.clone()))
            .collect();
        for callback in callbacks {
            callback();
        }
    }

    /// The users someone listens to, with the last generation announced for each.
    pub(crate) fn watched(&self) -> Vec<(UserId, i64)> {
        self.lock()
            .iter()
            .map(|(user, w)| (*user, w.announced))
            .collect()
    }

    fn unsubscribe(&self, user: UserId, id: u64) {
        let mut users = self.lock();
        if let Some(watched) = users.get_mut(&user) {
            watched.callbacks.retain(|(i, _)| *i != id);
            if watched.callbacks.is_empty() {
                users.remove(&user);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<UserId, Watched>> {
        // Callbacks never run under this lock, so a poisoned map is still consistent.
        self.users.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A registered change callback; dropping it unregisters the callback.
pub struct ChangeSubscription {
    notifier: Weak<Notifier>,
    user: UserId,
    id: u64,
}

impl ChangeSubscription {
    pub fn user(&self) -> UserId {
        self.user
    }
}

impl Drop for ChangeSubscription {
    fn drop(&mut self) {
        if let Some(notifier) = self.notifier.upgrade() {
            notifier.unsubscribe(self.user, self.id);
        }
    }
}

impl std::fmt::Debug for ChangeSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeSubscription")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// A blocking view of a subscription, for threads (tests, the CLI): a counter of wake-ups
/// behind a mutex and condvar. Async code should subscribe with a callback instead.
pub struct ChangeWatch {
    shared: Arc<(Mutex<u64>, Condvar)>,
    seen: u64,
    _subscription: ChangeSubscription,
}

impl ChangeWatch {
    /// Builds a watch over a subscription made by `subscribe` with the callback given to it.
    pub fn new(
        subscribe: impl FnOnce(Box<dyn Fn() + Send + Sync>) -> crate::Result<ChangeSubscription>,
    ) -> crate::Result<ChangeWatch> {
        let shared = Arc::new((Mutex::new(0u64), Condvar::new()));
        let signal = shared.clone();
        let subscription = subscribe(Box::new(move || {
            let (count, condvar) = &*signal;
            *count.lock().unwrap_or_else(|e| e.into_inner()) += 1;
            condvar.notify_all();
        }))?;
        Ok(ChangeWatch {
            shared,
            seen: 0,
            _subscription: subscription,
        })
    }

    /// Whether a change was announced since the last call (or since the watch began);
    /// does not block.
    pub fn changed(&mut self) -> bool {
        self.wait_timeout(Duration::ZERO)
    }

    /// Waits up to `timeout` for a change not yet seen; true if one came.
    pub fn wait_timeout(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let (count, condvar) = &*self.shared;
        let mut now = count.lock().unwrap_or_else(|e| e.into_inner());
        while *now == self.seen {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            now = condvar
                .wait_timeout(now, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        self.seen = *now;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn fires_once_per_newer_generation_and_stops_when_dropped() {
        let notifier = Arc::new(Notifier::default());
        let fired = Arc::new(AtomicUsize::new(0));
        let counter = fired.clone();
        let sub = notifier.subscribe(
            UserId(7),
            10,
            Box::new(move || {
                counter.fetch_add(1, Ordering::SeqCst);
            }),
        );
        notifier.announce(UserId(7), 10);
        notifier.announce(UserId(8), 99);
        assert_eq!(fired.load(Ordering::SeqCst), 0, "nothing newer yet");
        notifier.announce(UserId(7), 12);
        notifier.announce(UserId(7), 11);
        notifier.announce(UserId(7), 12);
        assert_eq!(fired.load(Ordering::SeqCst), 1, "12 covers 11");
        assert_eq!(notifier.watched(), vec![(UserId(7), 12)]);
        drop(sub);
        notifier.announce(UserId(7), 13);
        assert_eq!(fired.load(Ordering::SeqCst), 1);
        assert!(notifier.watched().is_empty());
    }

    #[test]
    fn a_watch_wakes_a_waiting_thread() {
        let notifier = Arc::new(Notifier::default());
        let mut watch = ChangeWatch::new(|cb| Ok(notifier.subscribe(UserId(1), 0, cb))).unwrap();
        assert!(!watch.changed());
        let announcer = notifier.clone();
        let thread = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            announcer.announce(UserId(1), 1);
        });
        assert!(watch.wait_timeout(Duration::from_secs(10)));
        assert!(!watch.changed(), "one change, one wake-up");
        thread.join().unwrap();
    }
}
