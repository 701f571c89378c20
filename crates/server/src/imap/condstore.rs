//! CONDSTORE and QRESYNC (RFC 7162): which of them the client enabled, SELECT's
//! resynchronization, `VANISHED (EARLIER)` for UID FETCH, and the conversions between the
//! store's UID sets and the wire's sequence sets. The MODSEQ items themselves are written
//! where the FETCH, STORE and SEARCH responses are.
//!
//! Every mailbox has persistent MODSEQs here (the store logs every change), so NOMODSEQ is
//! never the answer: SELECT always says HIGHESTMODSEQ.

use super::Session;
use hermod_proto::imap::{
    Code, FetchItem, Qresync, Response, SeqNum, SequenceSet, Status, StatusItem,
};
use hermod_store::{MessageState, StoreError, UidSet};
use hermod_types::Uid;
use tokio::io::{AsyncRead, AsyncWrite};

/// FETCH's modifiers (RFC 7162 3.1.4 CHANGEDSINCE, 3.2.6 VANISHED).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct FetchModifiers {
    pub changed_since: Option<u64>,
    pub vanished: bool,
}

/// A UID set on the wire, ranges as the store keeps them.
pub(super) fn wire_uids(set: &UidSet) -> SequenceSet {
    SequenceSet::Ranges(
        set.ranges()
            .iter()
            .map(|&(a, b)| (SeqNum::Value(a), SeqNum::Value(b)))
            .collect(),
    )
}

/// Numbers (sequence numbers or UIDs) on the wire, runs joined into ranges.
pub(super) fn wire_numbers(numbers: impl IntoIterator<Item = u32>) -> SequenceSet {
    let set: UidSet = numbers.into_iter().filter_map(Uid::new).collect();
    wire_uids(&set)
}

/// A client's UID set as the store's: `*` is every UID the mailbox may ever have handed
/// out, so that `n:*` also covers UIDs expunged above the last message left.
pub(super) fn store_uids(set: &SequenceSet) -> UidSet {
    let SequenceSet::Ranges(ranges) = set else {
        return UidSet::new();
    };
    let num = |n: SeqNum| match n {
        SeqNum::Value(v) => v,
        SeqNum::Star => u32::MAX,
    };
    let mut out = UidSet::new();
    for &(a, b) in ranges {
        out.insert_range(num(a), num(b));
    }
    out
}

/// The UIDs of `vanished` from `floor` up, less those of `held` (ascending). Ranges can be
/// huge (every UID below UIDNEXT): only the held UIDs inside one are cut out of it.
fn earlier(vanished: &UidSet, floor: u32, held: &[Uid]) -> UidSet {
    let mut told = UidSet::new();
    for &(lo, hi) in vanished.ranges() {
        let lo = lo.max(floor);
        if lo > hi {
            continue;
        }
        let from = held.partition_point(|u| u.get() < lo);
        // u64: the UID after u32::MAX must not wrap onto it.
        let mut next = u64::from(lo);
        for uid in held[from..].iter().take_while(|u| u.get() <= hi) {
            if u64::from(uid.get()) > next {
                told.insert_range(next as u32, uid.get() - 1);
            }
            next = u64::from(uid.get()) + 1;
        }
        if next <= u64::from(hi) {
            told.insert_range(next as u32, hi);
        }
    }
    told
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
    /// ENABLE CONDSTORE / QRESYNC (RFC 5161): returns those of `requested` this command
    /// switched on. QRESYNC implies CONDSTORE (RFC 7162 3.2.3).
    pub(super) fn enable_sync(&mut self, requested: &[String]) -> Vec<String> {
        let before = (self.condstore, self.qresync);
        let asked = |name: &str| requested.iter().any(|c| c.eq_ignore_ascii_case(name));
        if asked("QRESYNC") {
            self.qresync = true;
        }
        if self.qresync || asked("CONDSTORE") {
            self.condstore_on();
        }
        let mut enabled = Vec::new();
        if asked("CONDSTORE") && !before.0 {
            enabled.push("CONDSTORE".to_owned());
        }
        if asked("QRESYNC") && !before.1 {
            enabled.push("QRESYNC".to_owned());
        }
        enabled
    }

    /// A CONDSTORE-enabling command ran (RFC 7162 3.1). The first one with a mailbox
    /// selected tells that mailbox's HIGHESTMODSEQ: the client learns where the flag
    /// updates with MODSEQ, from now on, start.
    pub(super) fn condstore_on(&mut self) {
        if std::mem::replace(&mut self.condstore, true) {
            return;
        }
        if let Some(modseq) = self.selected.as_ref().map(|v| v.modseq) {
            self.announce_highest_modseq(modseq);
        }
    }

    /// STATUS HIGHESTMODSEQ is a CONDSTORE-enabling command (RFC 7162 3.1).
    pub(super) fn note_status_items(&mut self, items: &[StatusItem]) {
        if items.contains(&StatusItem::HighestModSeq) {
            self.condstore_on();
        }
    }

    /// A FETCH response about flags the client must learn: with MODSEQ once CONDSTORE is
    /// on (RFC 7162 3.1.4.1), with the UID when asked for or unsolicited.
    pub(super) fn flags_response(&mut self, seq: u32, state: &MessageState, uid: bool) -> Response {
        let mut items = Vec::with_capacity(3);
        if uid {
            items.push(FetchItem::Uid(state.uid.get()));
        }
        items.push(FetchItem::Flags(self.shown_flags(state.uid, &state.flags)));
        if self.condstore {
            items.push(FetchItem::ModSeq(state.modseq));
        }
        Response::Fetch { seq, items }
    }

    /// After SELECT (QRESYNC ...) (RFC 7162 3.2.5): what vanished since the client's MODSEQ,
    /// then what changed, both within its known UIDs. Nothing when the UIDVALIDITY is not
    /// the client's: it must start over, and the plain SELECT responses tell it so.
    pub(super) async fn resync(&mut self, q: &Qresync) -> Result<(), StoreError> {
        let Some(view) = self.selected.as_ref() else {
            return Ok(());
        };
        if view.info.uid_validity.get() != q.uidvalidity {
            return Ok(());
        }
        let known = q.known_uids.as_ref().map(store_uids);
        let changes = self
            .ctx
            .store
            .changes_since(view.info.id, q.modseq, known.as_ref())
            .await?;
        let floor = q
            .seq_match
            .as_ref()
            .map_or(0, |(seqs, uids)| self.matching_prefix(seqs, uids));
        self.report_earlier(&changes.vanished, floor);
        let Some(view) = self.selected.as_mut() else {
            return Ok(());
        };
        let mut responses = Vec::new();
        for state in &changes.changed {
            // Messages after the view was read are told with EXISTS when the session looks.
            if let Some(at) = view.position(state.uid) {
                view.flags[at] = state.flags.clone();
                responses.push((at as u32 + 1, state));
            }
        }
        for (seq, state) in responses {
            let response = self.flags_response(seq, state, true);
            self.send(&response);
        }
        Ok(())
    }

    /// `VANISHED (EARLIER)` for the UIDs of `vanished` at or above `floor` that the view does
    /// not hold (one it still holds was expunged after the view was read: it is told as a
    /// plain VANISHED when the session looks for changes, and EARLIER must not say it first).
    pub(super) fn report_earlier(&mut self, vanished: &UidSet, floor: u32) {
        let Some(view) = self.selected.as_ref() else {
            return;
        };
        let told = earlier(vanished, floor, &view.uids);
        if !told.is_empty() {
            self.send(&Response::Vanished {
                earlier: true,
                uids: wire_uids(&told),
            });
        }
    }

    /// RFC 7162 3.2.5.2: the client's sequence-number/UID pairs from when it last knew the
    /// mailbox. Where message `n` is still UID `u`, no UID below `u` can have vanished (UIDs
    /// only grow, so the same count below `u` means the same messages): returns the largest
    /// such `u`, below which nothing need be reported. Pairs that do not line up count
    /// for nothing, as the RFC asks.
    fn matching_prefix(&self, seqs: &SequenceSet, uids: &SequenceSet) -> u32 {
        let Some(view) = self.selected.as_ref() else {
            return 0;
        };
        let expand = |set: &SequenceSet| -> Option<Vec<u32>> {
            let SequenceSet::Ranges(ranges) = set else {
                return None;
            };
            let mut out = Vec::new();
            for &(a, b) in ranges {
                let (SeqNum::Value(a), SeqNum::Value(b)) = (a, b) else {
                    return None;
                };
                if out.len() + (a.abs_diff(b) as usize) > 10_000 {
                    return None; // a seq-match list is a sample, never the mailbox
                }
                out.extend(a.min(b)..=a.max(b));
            }
            Some(out)
        };
        let (Some(seqs), Some(uids)) = (expand(seqs), expand(uids)) else {
            return 0;
        };
        if seqs.len() != uids.len() {
            return 0;
        }
        let mut floor = 0;
        for (&seq, &uid) in seqs.iter().zip(&uids) {
            let now = view.uids.get(seq as usize - 1).map(|u| u.get());
            if now != Some(uid) {
                break;
            }
            floor = uid;
        }
        floor
    }

    /// UID FETCH ... (CHANGEDSINCE n VANISHED) (RFC 7162 3.2.6): the UIDs of `set`
    /// expunged since `since`, before the FETCH responses.
    pub(super) async fn fetch_vanished(
        &mut self,
        since: u64,
        set: &SequenceSet,
    ) -> Result<(), StoreError> {
        let Some(view) = self.selected.as_ref() else {
            return Ok(());
        };
        let uids = store_uids(set);
        if uids.is_empty() {
            return Ok(());
        }
        let changes = self
            .ctx
            .store
            .changes_since(view.info.id, since, Some(&uids))
            .await?;
        self.report_earlier(&changes.vanished, 0);
        Ok(())
    }

    /// The tagged OK's code after a conditional STORE: `MODIFIED` with the messages that
    /// failed UNCHANGEDSINCE, by UID or by sequence number as the command named them.
    pub(super) fn modified_code(&self, modified: &UidSet, uid: bool) -> Option<Code> {
        if modified.is_empty() {
            return None;
        }
        let set = if uid {
            wire_uids(modified)
        } else {
            let view = self.selected.as_ref()?;
            let seqs = modified
                .iter()
                .filter_map(|u| view.position(u))
                .map(|at| at as u32 + 1);
            wire_numbers(seqs)
        };
        Some(Code::Modified(set))
    }

    /// `* OK [HIGHESTMODSEQ n]` for a CONDSTORE client.
    pub(super) fn announce_highest_modseq(&mut self, modseq: u64) {
        self.send(&super::reply::untagged(
            Status::Ok,
            Some(Code::HighestModSeq(modseq)),
            "highest",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_sets_convert_both_ways() {
        let set = SequenceSet::Ranges(vec![
            (SeqNum::Value(9), SeqNum::Value(7)),
            (SeqNum::Value(3), SeqNum::Value(3)),
            (SeqNum::Value(20), SeqNum::Star),
        ]);
        let uids = store_uids(&set);
        assert_eq!(uids.to_string(), "3,7:9,20:4294967295");
        let mut out = Vec::new();
        hermod_proto::imap::Encoder::default().encode(
            &mut out,
            &Response::Vanished {
                earlier: true,
                uids: wire_numbers([5, 1, 2, 3]),
            },
        );
        assert_eq!(out, b"* VANISHED (EARLIER) 1:3,5\r\n");
        assert!(store_uids(&SequenceSet::Saved).is_empty());
    }

    #[test]
    fn earlier_leaves_out_what_the_view_holds_and_what_is_below_the_floor() {
        let uid = |n| Uid::new(n).unwrap();
        let mut vanished = UidSet::range(1, 10);
        vanished.insert_range(20, u32::MAX);
        let held = [uid(3), uid(4), uid(10), uid(25), uid(u32::MAX)];
        let told = earlier(&vanished, 2, &held);
        assert_eq!(told.to_string(), "2,5:9,20:24,26:4294967294");
        assert!(earlier(&vanished, u32::MAX, &held).is_empty());
        assert!(earlier(&UidSet::new(), 0, &held).is_empty());
    }
}
