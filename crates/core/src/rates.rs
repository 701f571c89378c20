//! Per-account sending limits: messages and recipients per hour and per day, over sliding
//! windows, and the clock they (and the bulk guard) read, which tests replace.
//!
//! The counts are in memory, per process, like the login throttle: one `hermod serve` owns
//! a data directory (see docs/ARCHITECTURE.md). A restart forgets them, which lets an
//! account send at most one more window's share.

use hermod_store::UserId;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

const HOUR: i64 = 3600;
const DAY: i64 = 86_400;

/// Unix seconds, from the system or from a test.
pub trait Clock: Send + Sync {
    fn now(&self) -> i64;
}

/// The system's clock.
#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        hermod_message::unix_now()
    }
}

/// A clock that moves only when told: tests simulate hours in milliseconds.
#[derive(Debug)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(now: i64) -> ManualClock {
        ManualClock(AtomicI64::new(now))
    }

    pub fn advance(&self, seconds: i64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// The limits of one account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    pub messages_per_hour: u32,
    pub messages_per_day: u32,
    pub recipients_per_hour: u32,
    pub recipients_per_day: u32,
}

/// Which limit an account reached, with its value (for the reply and the log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    MessagesPerHour(u32),
    MessagesPerDay(u32),
    RecipientsPerHour(u32),
    RecipientsPerDay(u32),
}

impl Limit {
    /// The configuration key that sets it.
    pub fn key(self) -> &'static str {
        match self {
            Limit::MessagesPerHour(_) => "submission.max_messages_per_hour",
            Limit::MessagesPerDay(_) => "submission.max_messages_per_day",
            Limit::RecipientsPerHour(_) => "submission.max_recipients_per_hour",
            Limit::RecipientsPerDay(_) => "submission.max_recipients_per_day",
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Limit::MessagesPerHour(n) => write!(f, "{n} messages per hour"),
            Limit::MessagesPerDay(n) => write!(f, "{n} messages per day"),
            Limit::RecipientsPerHour(n) => write!(f, "{n} recipients per hour"),
            Limit::RecipientsPerDay(n) => write!(f, "{n} recipients per day"),
        }
    }
}

/// What each account sent in the last day: (when, how many recipients) per message.
#[derive(Debug)]
pub struct SendRates {
    limits: RateLimits,
    sent: Mutex<HashMap<UserId, VecDeque<(i64, u32)>>>,
}

impl SendRates {
    pub fn new(limits: RateLimits) -> SendRates {
        SendRates {
            limits,
            sent: Mutex::default(),
        }
    }

    /// Whether `user` may start another message at `now` (checked at MAIL).
    pub fn check_message(&self, user: UserId, now: i64) -> Result<(), Limit> {
        let (hour, day) = self.totals(user, now);
        if hour.0 >= self.limits.messages_per_hour {
            return Err(Limit::MessagesPerHour(self.limits.messages_per_hour));
        }
        if day.0 >= self.limits.messages_per_day {
            return Err(Limit::MessagesPerDay(self.limits.messages_per_day));
        }
        Ok(())
    }

    /// Whether a message to `recipients` (those accepted so far, and the one asked for)
    /// keeps `user` within its recipient limits (checked at RCPT).
    pub fn check_recipients(&self, user: UserId, now: i64, recipients: u32) -> Result<(), Limit> {
        let (hour, day) = self.totals(user, now);
        if hour.1.saturating_add(recipients) > self.limits.recipients_per_hour {
            return Err(Limit::RecipientsPerHour(self.limits.recipients_per_hour));
        }
        if day.1.saturating_add(recipients) > self.limits.recipients_per_day {
            return Err(Limit::RecipientsPerDay(self.limits.recipients_per_day));
        }
        Ok(())
    }

    /// Counts a message `user` sent (accepted with a 250, held ones included).
    pub fn record(&self, user: UserId, now: i64, recipients: u32) {
        let mut sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
        sent.entry(user).or_default().push_back((now, recipients));
    }

    /// (messages, recipients) in the last hour and in the last day; forgets older ones.
    fn totals(&self, user: UserId, now: i64) -> ((u32, u32), (u32, u32)) {
        let mut sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
        let Some(times) = sent.get_mut(&user) else {
            return ((0, 0), (0, 0));
        };
        while times.front().is_some_and(|(t, _)| now - t >= DAY) {
            times.pop_front();
        }
        let mut hour = (0u32, 0u32);
        let mut day = (0u32, 0u32);
        for &(t, recipients) in times.iter() {
            day = (day.0 + 1, day.1.saturating_add(recipients));
            if now - t < HOUR {
                hour = (hour.0 + 1, hour.1.saturating_add(recipients));
            }
        }
        (hour, day)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rates() -> SendRates {
        SendRates::new(RateLimits {
            messages_per_hour: 2,
            messages_per_day: 3,
            recipients_per_hour: 10,
            recipients_per_day: 15,
        })
    }

    #[test]
    fn messages_per_hour_and_per_day() {
        let (rates, user, t) = (rates(), UserId(1), 1_000_000);
        rates.record(user, t, 1);
        rates.record(user, t + 1, 1);
        assert_eq!(
            rates.check_message(user, t + 2),
            Err(Limit::MessagesPerHour(2))
        );
        assert!(rates.check_message(UserId(2), t + 2).is_ok(), "per account");
        assert!(
            rates.check_message(user, t + HOUR).is_ok(),
            "the hour slid on"
        );
        rates.record(user, t + HOUR, 1);
        assert_eq!(
            rates.check_message(user, t + HOUR + 1),
            Err(Limit::MessagesPerDay(3))
        );
        assert!(rates.check_message(user, t + DAY + 1).is_ok());
    }

    #[test]
    fn recipients_per_hour_and_per_day() {
        let (rates, user, t) = (rates(), UserId(1), 1_000_000);
        rates.record(user, t, 8);
        assert!(rates.check_recipients(user, t, 2).is_ok());
        assert_eq!(
            rates.check_recipients(user, t, 3),
            Err(Limit::RecipientsPerHour(10))
        );
        rates.record(user, t + HOUR, 6);
        assert_eq!(
            rates.check_recipients(user, t + HOUR, 2),
            Err(Limit::RecipientsPerDay(15))
        );
        assert_eq!(
            Limit::RecipientsPerDay(15).to_string(),
            "15 recipients per day"
        );
        assert_eq!(
            Limit::MessagesPerHour(2).key(),
            "submission.max_messages_per_hour"
        );
    }

    #[test]
    fn the_manual_clock_moves_when_told() {
        let clock = ManualClock::new(100);
        clock.advance(3600);
        assert_eq!(clock.now(), 3700);
        assert!(SystemClock.now() > 1_600_000_000);
    }
}
