//! The session's view of its selected mailbox: message sequence numbers are positions in
//! `uids`, which change only when this session tells the client (EXPUNGE, EXISTS).

use hermod_proto::imap::{SeqNum, SequenceSet};
use hermod_store::{Flags, MailboxInfo, MessageMeta, UidSet};
use hermod_types::Uid;

pub(super) struct View {
    pub info: MailboxInfo,
    pub read_only: bool,
    /// Ascending; message `n` is `uids[n - 1]`.
    pub uids: Vec<Uid>,
    /// The flags the client was last told, by position.
    pub flags: Vec<Flags>,
    /// Changes up to this MODSEQ are reflected here.
    pub modseq: u64,
    /// The last `SEARCH RETURN (SAVE)` result, `$` (RFC 5182): UIDs, so an expunged
    /// message simply drops out of it. Empty until a search saves one.
    pub saved: UidSet,
    /// The messages that are `\Recent` in this session (IMAP4rev1 only; see `recent`).
    pub recent: UidSet,
    /// The keywords the client was told with FLAGS: a FETCH showing another one is
    /// preceded by a new FLAGS response (RFC 9051 7.3.5: FLAGS lists what applies here).
    pub keywords: Vec<String>,
}

impl View {
    /// A view of `messages`, which were read after `info` (so nothing is missed: changes
    /// after `info.highest_modseq` are looked at again).
    pub fn new(info: MailboxInfo, messages: Vec<MessageMeta>, read_only: bool) -> View {
        let modseq = info.highest_modseq;
        let (uids, flags) = messages.into_iter().map(|m| (m.uid, m.flags)).unzip();
        View {
            info,
            read_only,
            uids,
            flags,
            modseq,
            saved: UidSet::default(),
            recent: UidSet::default(),
            keywords: Vec::new(),
        }
    }

    pub fn exists(&self) -> u32 {
        self.uids.len() as u32
    }

    pub fn position(&self, uid: Uid) -> Option<usize> {
        self.uids.binary_search(&uid).ok()
    }

    /// How many messages of the view are `\Recent`.
    pub fn recent_count(&self) -> u32 {
        self.uids
            .iter()
            .filter(|&&u| self.recent.contains(u))
            .count() as u32
    }

    /// Adds the keywords of `flags` the client has not been told of; whether there were any.
    pub fn learn_keywords(&mut self, flags: &Flags) -> bool {
        let mut learned = false;
        for k in &flags.keywords {
            if !self.keywords.iter().any(|x| x.eq_ignore_ascii_case(k)) {
                self.keywords.push(k.clone());
                learned = true;
            }
        }
        learned
    }

    pub fn last_uid(&self) -> u32 {
        self.uids.last().map_or(0, |u| u.get())
    }

    /// Positions named by a sequence set; `None` if a number is beyond EXISTS (a client
    /// bug: RFC 9051 says BAD). `*` is the last message.
    pub fn by_sequence(&self, set: &SequenceSet) -> Option<Vec<usize>> {
        let SequenceSet::Ranges(ranges) = set else {
            return None;
        };
        let count = self.exists();
        let num = |n: SeqNum| match n {
            SeqNum::Value(v) => v,
            SeqNum::Star => count,
        };
        let mut picked = vec![false; self.uids.len()];
        for &(a, b) in ranges {
            let (lo, hi) = (num(a).min(num(b)), num(a).max(num(b)));
            if lo == 0 || hi > count {
                return None;
            }
            picked[lo as usize - 1..hi as usize].fill(true);
        }
        Some(selected_positions(&picked))
    }

    /// Positions of the messages whose UIDs are in the set; UIDs not here are ignored.
    /// `*` is the largest UID in use (so `n:*` always names the last message).
    pub fn by_uid(&self, set: &SequenceSet) -> Vec<usize> {
        let SequenceSet::Ranges(ranges) = set else {
            return Vec::new();
        };
        let last = self.last_uid();
        let num = |n: SeqNum| match n {
            SeqNum::Value(v) => v,
            SeqNum::Star => last,
        };
        let mut picked = vec![false; self.uids.len()];
        for &(a, b) in ranges {
            let (lo, hi) = (num(a).min(num(b)), num(a).max(num(b)));
            let from = self.uids.partition_point(|u| u.get() < lo);
            let to = self.uids.partition_point(|u| u.get() <= hi);
            picked[from..to].fill(true);
        }
        selected_positions(&picked)
    }

    /// Positions by sequence numbers or by UIDs; `$` is the saved search result either way.
    pub fn resolve(&self, uid: bool, set: &SequenceSet) -> Option<Vec<usize>> {
        if *set == SequenceSet::Saved {
            return Some(self.saved_positions());
        }
        if uid {
            Some(self.by_uid(set))
        } else {
            self.by_sequence(set)
        }
    }

    /// Positions of the messages of `$` still in the mailbox.
    pub fn saved_positions(&self) -> Vec<usize> {
        let mut out: Vec<usize> = self.saved.iter().filter_map(|u| self.position(u)).collect();
        out.sort_unstable();
        out
    }

    pub fn uid_set(&self, positions: &[usize]) -> UidSet {
        positions.iter().map(|&p| self.uids[p]).collect()
    }

    /// Removes `uid`; returns its sequence number as it was.
    pub fn remove(&mut self, uid: Uid) -> Option<u32> {
        let at = self.position(uid)?;
        self.uids.remove(at);
        self.flags.remove(at);
        Some(at as u32 + 1)
    }
}

fn selected_positions(picked: &[bool]) -> Vec<usize> {
    (0..picked.len()).filter(|&i| picked[i]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hermod_types::{MailboxName, UidValidity};

    fn view(uids: &[u32]) -> View {
        let info = MailboxInfo {
            id: hermod_store::MailboxId(1),
            name: MailboxName::inbox(),
            uid_validity: UidValidity::new(7).unwrap(),
            uid_next: 100,
            highest_modseq: 1,
            special_use: None,
        };
        let mut v = View::new(info, Vec::new(), false);
        v.uids = uids.iter().map(|&u| Uid::new(u).unwrap()).collect();
        v.flags = vec![Flags::default(); uids.len()];
        v
    }

    fn set(ranges: &[(SeqNum, SeqNum)]) -> SequenceSet {
        SequenceSet::Ranges(ranges.to_vec())
    }

    #[test]
    fn sequence_numbers_and_uids_resolve_to_positions() {
        use SeqNum::{Star, Value};
        let mut v = view(&[3, 5, 9, 12]);
        assert_eq!(
            v.by_sequence(&set(&[(Value(2), Star)])),
            Some(vec![1, 2, 3])
        );
        assert_eq!(v.by_sequence(&set(&[(Value(5), Value(5))])), None);
        assert_eq!(v.by_uid(&set(&[(Value(4), Value(9))])), vec![1, 2]);
        assert_eq!(
            v.by_uid(&set(&[(Value(20), Star)])),
            vec![3],
            "20:* is 12:20"
        );
        assert_eq!(v.remove(Uid::new(5).unwrap()), Some(2));
        assert_eq!(v.by_sequence(&set(&[(Value(2), Value(2))])), Some(vec![1]));
        assert_eq!(v.uids[1].get(), 9);
    }
}
