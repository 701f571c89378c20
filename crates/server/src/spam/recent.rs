//! The last verdicts of the content filter, in memory, for the web interface's spam page:
//! what came in, why it scored as it did, and (for small messages) the message itself, so an
//! administrator can teach the server-wide model from it. Bounded: at most `KEPT` verdicts,
//! each keeping at most `KEEP_MESSAGE_UP_TO` octets of message; lost on restart.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// Verdicts kept, newest first out.
pub(crate) const KEPT: usize = 50;
/// Larger messages are listed without their text (no training from the page): 50 of these
/// at most is about 12 MiB.
pub(crate) const KEEP_MESSAGE_UP_TO: usize = 256 * 1024;

#[derive(Clone)]
pub(crate) struct RecentVerdict {
    /// Numbers the verdicts of this run, for the training form.
    pub id: u64,
    pub time: i64,
    pub client: String,
    pub sender: String,
    pub recipients: Vec<String>,
    pub score: f64,
    pub reasons: String,
    /// `inbox`, `junk`, or `rejected`.
    pub action: &'static str,
    pub message: Option<Arc<[u8]>>,
}

#[derive(Default)]
pub(crate) struct RecentVerdicts {
    ring: Mutex<(u64, VecDeque<RecentVerdict>)>,
}

impl RecentVerdicts {
    /// Keeps `verdict` (its id is assigned here), dropping the oldest past `KEPT`.
    pub fn record(&self, mut verdict: RecentVerdict) {
        let mut guard = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        let (next, ring) = &mut *guard;
        *next += 1;
        verdict.id = *next;
        if verdict
            .message
            .as_ref()
            .is_some_and(|m| m.len() > KEEP_MESSAGE_UP_TO)
        {
            verdict.message = None;
        }
        ring.push_front(verdict);
        ring.truncate(KEPT);
    }

    /// The kept verdicts, newest first.
    pub fn list(&self) -> Vec<RecentVerdict> {
        let guard = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        guard.1.iter().cloned().collect()
    }

    /// The message of verdict `id`, while it is kept and was small enough.
    pub fn message(&self, id: u64) -> Option<Arc<[u8]>> {
        let guard = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        guard.1.iter().find(|v| v.id == id)?.message.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(size: usize) -> RecentVerdict {
        RecentVerdict {
            id: 0,
            time: 0,
            client: "192.0.2.1".into(),
            sender: "a@b.test".into(),
            recipients: vec![],
            score: 1.0,
            reasons: String::new(),
            action: "inbox",
            message: Some(vec![b'x'; size].into()),
        }
    }

    #[test]
    fn keeps_the_newest_and_only_small_messages() {
        let recent = RecentVerdicts::default();
        for _ in 0..KEPT + 5 {
            recent.record(verdict(10));
        }
        let listed = recent.list();
        assert_eq!(listed.len(), KEPT);
        assert_eq!(listed[0].id, (KEPT + 5) as u64);
        assert!(recent.message(1).is_none(), "dropped from the ring");
        assert!(recent.message(6).is_some());
        recent.record(verdict(KEEP_MESSAGE_UP_TO + 1));
        assert!(
            recent.message((KEPT + 6) as u64).is_none(),
            "too large to keep"
        );
    }
}
