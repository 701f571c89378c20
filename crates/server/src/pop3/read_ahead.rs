//! Read-ahead for clients that retrieve a maildrop in order (fetchmail, most mail programs,
//! pipelined or not). Each RETR that continues a run also reads the next few small messages
//! in the same trip to the store, so a run of small messages costs one trip per
//! [`AHEAD_BYTES`] instead of one per message. A client that jumps around never triggers it.

use hermod_store::BlobId;
use std::collections::VecDeque;

/// Most bytes held ahead per session.
const AHEAD_BYTES: u64 = 64 * 1024;
/// Most messages held ahead per session.
const AHEAD_MESSAGES: usize = 32;

/// A message to read ahead: its number and body.
pub(crate) struct Wanted {
    pub number: u32,
    pub blob: BlobId,
    pub size: u64,
}

#[derive(Default)]
pub(crate) struct ReadAhead {
    /// The message the last RETR sent.
    last: Option<u32>,
    /// Bodies read ahead, in message order.
    bodies: VecDeque<(u32, Vec<u8>)>,
}

impl ReadAhead {
    /// The body of message `n` if it was read ahead. Asking for anything else ends the run.
    pub fn take(&mut self, n: u32) -> Option<Vec<u8>> {
        match self.bodies.front() {
            Some((first, _)) if *first == n => self.bodies.pop_front().map(|(_, body)| body),
            _ => {
                self.bodies.clear();
                None
            }
        }
    }

    /// Records that RETR sent message `n`.
    pub fn sent(&mut self, n: u32) {
        self.last = Some(n);
    }

    /// What to read along with message `n`: nothing unless `n` continues a run, else the
    /// messages after it (`following`: number, body, size, in order) while they fit.
    pub fn plan<'a>(
        &self,
        n: u32,
        following: impl Iterator<Item = (u32, &'a BlobId, u64)>,
    ) -> Vec<Wanted> {
        if self.last != n.checked_sub(1) || !self.bodies.is_empty() {
            return Vec::new();
        }
        let mut budget = AHEAD_BYTES;
        following
            .take(AHEAD_MESSAGES)
            .take_while(|(_, _, size)| {
                let fits = *size <= budget;
                budget = budget.saturating_sub(*size);
                fits
            })
            .map(|(number, blob, size)| Wanted {
                number,
                blob: blob.clone(),
                size,
            })
            .collect()
    }

    /// Keeps what [`read`] brought back.
    pub fn keep(&mut self, bodies: Vec<(u32, Vec<u8>)>) {
        self.bodies.extend(bodies);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob() -> BlobId {
        BlobId::parse("00112233445566778899aabbccddeeff").unwrap()
    }

    #[test]
    fn only_a_run_reads_ahead_and_within_its_budget() {
        let b = blob();
        let b = &b;
        let following = |from: u32, size: u64| (from..from + 100).map(move |n| (n, b, size));
        let mut ahead = ReadAhead::default();
        assert!(ahead.plan(1, following(2, 10)).is_empty(), "no run yet");
        ahead.sent(1);
        let plan = ahead.plan(2, following(3, 10));
        assert_eq!(plan.len(), AHEAD_MESSAGES);
        assert_eq!(plan[0].number, 3);
        let plan = ahead.plan(2, following(3, 30 * 1024));
        assert_eq!(plan.len(), 2, "64 KiB hold two of 30 KiB");
        assert!(ahead.plan(2, following(3, 65 * 1024)).is_empty());
        assert!(ahead.plan(5, following(6, 10)).is_empty(), "a jump");
    }

    #[test]
    fn bodies_are_taken_in_order_and_a_jump_drops_them() {
        let mut ahead = ReadAhead::default();
        ahead.keep(vec![(3, b"three".to_vec()), (4, b"four".to_vec())]);
        assert_eq!(ahead.take(3).as_deref(), Some(&b"three"[..]));
        ahead.sent(3);
        assert!(ahead.plan(4, std::iter::empty()).is_empty(), "still held");
        assert_eq!(ahead.take(6), None);
        assert_eq!(ahead.take(4), None, "dropped by the jump");
    }
}
