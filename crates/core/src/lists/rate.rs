//! Each list's posting rate: posts distributed over a sliding hour and day. In memory, per
//! process, like the accounts' sending limits (`crate::rates`): a restart forgets them.

use crate::rates::Clock;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

const HOUR: i64 = 3600;
const DAY: i64 = 86_400;

pub struct PostingRate {
    per_hour: u32,
    per_day: u32,
    /// Each list's distribution times within the last day, oldest first.
    recent: Mutex<HashMap<i64, VecDeque<i64>>>,
    pub clock: Arc<dyn Clock>,
}

impl PostingRate {
    /// Zero for a limit: none.
    pub fn new(per_hour: u32, per_day: u32, clock: Arc<dyn Clock>) -> PostingRate {
        PostingRate {
            per_hour,
            per_day,
            recent: Mutex::new(HashMap::new()),
            clock,
        }
    }

    /// Counts a post of `list` when it is within both limits; otherwise counts nothing and
    /// says which limit it reached.
    pub fn admit(&self, list: i64) -> Result<(), String> {
        let now = self.clock.now();
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        let times = recent.entry(list).or_default();
        while times.front().is_some_and(|&t| t <= now - DAY) {
            times.pop_front();
        }
        let last_hour = times.iter().rev().take_while(|&&t| t > now - HOUR).count();
        if self.per_hour > 0 && last_hour >= self.per_hour as usize {
            return Err(format!("{} posts per hour", self.per_hour));
        }
        if self.per_day > 0 && times.len() >= self.per_day as usize {
            return Err(format!("{} posts per day", self.per_day));
        }
        times.push_back(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rates::ManualClock;

    #[test]
    fn posts_are_limited_per_hour_and_day_for_each_list() {
        let clock = Arc::new(ManualClock::new(1_000_000));
        let rate = PostingRate::new(2, 3, clock.clone());
        assert!(rate.admit(1).is_ok() && rate.admit(1).is_ok());
        assert_eq!(rate.admit(1), Err("2 posts per hour".into()));
        assert!(rate.admit(2).is_ok(), "another list has its own count");
        clock.advance(HOUR);
        assert!(rate.admit(1).is_ok());
        clock.advance(HOUR);
        assert_eq!(rate.admit(1), Err("3 posts per day".into()));
        clock.advance(DAY - HOUR);
        assert!(rate.admit(1).is_ok(), "the first two left the day's window");
        let unlimited = PostingRate::new(0, 0, clock);
        assert!((0..100).all(|_| unlimited.admit(1).is_ok()));
    }
}
