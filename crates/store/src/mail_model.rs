//! Plain data of the IMAP mail model ([`crate::MailStore`]): UID sets, flag changes, what a
//! copy, an expunge or a resynchronization reports back.

use crate::{Flags, MailboxInfo};
use hermod_types::{Uid, UidValidity};
use std::fmt;

/// A set of UIDs as sorted, disjoint, non-touching inclusive ranges: IMAP's `1:5,9,12:*`
/// with `*` already resolved (or `u32::MAX` for "whatever exists"). Ranges rather than a
/// list, because `1:*` on a large mailbox and `VANISHED (EARLIER)` answers are naturally
/// ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UidSet {
    ranges: Vec<(u32, u32)>,
}

impl UidSet {
    pub fn new() -> UidSet {
        UidSet::default()
    }

    /// Every UID (`1:*`).
    pub fn all() -> UidSet {
        UidSet::range(1, u32::MAX)
    }

    /// `first:last` in either order, as IMAP allows; UID 0 does not exist and is left out.
    pub fn range(first: u32, last: u32) -> UidSet {
        let mut set = UidSet::new();
        set.insert_range(first, last);
        set
    }

    pub fn insert(&mut self, uid: Uid) {
        self.insert_range(uid.get(), uid.get());
    }

    pub fn insert_range(&mut self, first: u32, last: u32) {
        let (lo, hi) = (first.min(last).max(1), first.max(last));
        if hi == 0 {
            return;
        }
        // Sorted input (the common case: UIDs from the store) extends the last range.
        match self.ranges.last_mut() {
            Some(tail) if lo > tail.1 => {
                if lo == tail.1.saturating_add(1) {
                    tail.1 = hi;
                } else {
                    self.ranges.push((lo, hi));
                }
            }
            None => self.ranges.push((lo, hi)),
            Some(_) => {
                self.ranges.push((lo, hi));
                self.normalize();
            }
        }
    }

    fn normalize(&mut self) {
        self.ranges.sort_unstable();
        let mut merged: Vec<(u32, u32)> = Vec::with_capacity(self.ranges.len());
        for &(lo, hi) in &self.ranges {
            match merged.last_mut() {
                Some(tail) if lo <= tail.1.saturating_add(1) => tail.1 = tail.1.max(hi),
                _ => merged.push((lo, hi)),
            }
        }
        self.ranges = merged;
    }

    pub fn contains(&self, uid: Uid) -> bool {
        let uid = uid.get();
        // The first range ending at or after `uid` is the only one that can hold it.
        let at = self.ranges.partition_point(|&(_, hi)| hi < uid);
        self.ranges.get(at).is_some_and(|&(lo, _)| lo <= uid)
    }

    /// The inclusive ranges, ascending.
    pub fn ranges(&self) -> &[(u32, u32)] {
        &self.ranges
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// How many UIDs the set holds.
    pub fn len(&self) -> u64 {
        self.ranges
            .iter()
            .map(|&(lo, hi)| u64::from(hi - lo) + 1)
            .sum()
    }

    /// Every UID, ascending. Mind `len` first: `1:*` is four billion of them.
    pub fn iter(&self) -> impl Iterator<Item = Uid> + '_ {
        self.ranges
            .iter()
            .flat_map(|&(lo, hi)| (lo..=hi).filter_map(Uid::new))
    }
}

impl FromIterator<Uid> for UidSet {
    fn from_iter<I: IntoIterator<Item = Uid>>(iter: I) -> UidSet {
        let mut set = UidSet::new();
        for uid in iter {
            set.insert(uid);
        }
        set
    }
}

/// IMAP syntax: `1:5,9`.
impl fmt::Display for UidSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, &(lo, hi)) in self.ranges.iter().enumerate() {
            if n > 0 {
                f.write_str(",")?;
            }
            if lo == hi {
                write!(f, "{lo}")?;
            } else {
                write!(f, "{lo}:{hi}")?;
            }
        }
        Ok(())
    }
}

/// How STORE combines the given flags with a message's flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagOp {
    /// `+FLAGS`
    Add,
    /// `-FLAGS`
    Remove,
    /// `FLAGS`
    Replace,
}

impl FlagOp {
    /// The flags a message with `current` ends up with. Keywords compare case-insensitively
    /// (they are IMAP atoms); one already present keeps its spelling.
    pub fn apply(self, current: &Flags, given: &Flags) -> Flags {
        let has = |list: &[String], k: &str| list.iter().any(|x| x.eq_ignore_ascii_case(k));
        let mut keywords: Vec<String> = Vec::new();
        let (bits, sources): (u8, [&[String]; 2]) = match self {
            FlagOp::Add => (
                current.bits | given.bits,
                [&current.keywords, &given.keywords],
            ),
            FlagOp::Replace => (given.bits, [&given.keywords, &[]]),
            FlagOp::Remove => {
                let kept: Vec<String> = current
                    .keywords
                    .iter()
                    .filter(|k| !has(&given.keywords, k))
                    .cloned()
                    .collect();
                return Flags {
                    bits: current.bits & !given.bits,
                    keywords: kept,
                };
            }
        };
        for k in sources.into_iter().flatten() {
            if !has(&keywords, k) {
                keywords.push(k.clone());
            }
        }
        Flags { bits, keywords }
    }
}

/// Whether two flag sets are the same, keywords compared as case-insensitive sets.
pub(crate) fn same_flags(a: &Flags, b: &Flags) -> bool {
    let covers = |x: &Flags, y: &Flags| {
        x.keywords
            .iter()
            .all(|k| y.keywords.iter().any(|o| o.eq_ignore_ascii_case(k)))
    };
    a.bits == b.bits && covers(a, b) && covers(b, a)
}

/// A keyword must be an IMAP atom that is not a system flag: it is stored space-separated,
/// so a space (or any other character an atom may not hold) would corrupt the list.
pub fn is_valid_keyword(keyword: &str) -> bool {
    !keyword.is_empty()
        && keyword.len() <= 200
        && !keyword.starts_with('\\')
        && keyword
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"(){%*\"\\]".contains(&b))
}

/// A STORE request: what to do, with which flags, and the CONDSTORE guard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagChange {
    pub op: FlagOp,
    pub flags: Flags,
    /// RFC 7162 UNCHANGEDSINCE: a message whose MODSEQ is greater is left alone and reported
    /// in [`FlagsOutcome::modified`].
    pub unchanged_since: Option<u64>,
}

/// A message's flags and MODSEQ after a change (what a FETCH response reports).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageState {
    pub uid: Uid,
    pub flags: Flags,
    pub modseq: u64,
}

/// What a STORE did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlagsOutcome {
    /// Every existing message of the set that passed the guard, in UID order, with its flags
    /// now. A message the request did not actually change keeps its old MODSEQ.
    pub updated: Vec<MessageState>,
    /// Messages that failed the UNCHANGEDSINCE test (RFC 7162 `[MODIFIED ...]`).
    pub modified: UidSet,
    /// The mailbox's HIGHESTMODSEQ after the change.
    pub highest_modseq: u64,
}

/// What COPY or MOVE did, for UIDPLUS `COPYUID`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyOutcome {
    /// The destination's UIDVALIDITY.
    pub uid_validity: UidValidity,
    /// Source UID to destination UID, in source UID order.
    pub mapping: Vec<(Uid, Uid)>,
}

/// What an expunge removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expunged {
    /// Ascending.
    pub uids: Vec<Uid>,
    pub highest_modseq: u64,
}

/// What changed in a mailbox since a MODSEQ (CONDSTORE `CHANGEDSINCE`, QRESYNC).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    pub highest_modseq: u64,
    /// Messages appended or changed since, in UID order, with their state now.
    pub changed: Vec<MessageState>,
    /// UIDs expunged since (`VANISHED (EARLIER)`). When the store cannot tell exactly (the
    /// MODSEQ predates its change log) this holds every UID below UIDNEXT that no longer
    /// exists, a superset RFC 7162 permits.
    pub vanished: UidSet,
}

/// STATUS of a mailbox, counted without loading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxStatus {
    /// UIDNEXT, UIDVALIDITY, HIGHESTMODSEQ are in here.
    pub mailbox: MailboxInfo,
    pub messages: u32,
    /// Messages without `\Seen`.
    pub unseen: u32,
    /// Messages with `\Deleted` (IMAP4rev2 STATUS DELETED).
    pub deleted: u32,
    /// Total octets (RFC 8438 STATUS SIZE).
    pub size: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uid(n: u32) -> Uid {
        Uid::new(n).unwrap()
    }

    #[test]
    fn uid_sets_merge_and_answer_membership() {
        let mut set: UidSet = [5, 1, 2, 3, 9].into_iter().map(uid).collect();
        assert_eq!(set.to_string(), "1:3,5,9");
        set.insert_range(4, 4);
        set.insert_range(12, 10);
        assert_eq!(set.ranges(), &[(1, 5), (9, 12)]);
        assert_eq!(set.len(), 9);
        assert!(set.contains(uid(11)) && !set.contains(uid(6)) && !set.contains(uid(13)));
        assert_eq!(UidSet::range(0, 0), UidSet::new());
        assert_eq!(UidSet::all().to_string(), "1:4294967295");
    }

    #[test]
    fn flag_operations_keep_keywords_case_insensitive() {
        let kw = |k: &[&str]| k.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let current = Flags {
            bits: Flags::SEEN,
            keywords: kw(&["$Label1", "Work"]),
        };
        let given = Flags {
            bits: Flags::FLAGGED,
            keywords: kw(&["work", "$Junk"]),
        };
        let added = FlagOp::Add.apply(&current, &given);
        assert_eq!(added.bits, Flags::SEEN | Flags::FLAGGED);
        assert_eq!(added.keywords, kw(&["$Label1", "Work", "$Junk"]));
        let removed = FlagOp::Remove.apply(&current, &given);
        assert_eq!(
            (removed.bits, removed.keywords),
            (Flags::SEEN, kw(&["$Label1"]))
        );
        let replaced = FlagOp::Replace.apply(&current, &given);
        assert_eq!(replaced, given);
        assert!(same_flags(
            &FlagOp::Add.apply(&current, &Flags::default()),
            &current
        ));
        assert!(!same_flags(&current, &given));
        assert!(is_valid_keyword("$Forwarded") && !is_valid_keyword("two words"));
        assert!(!is_valid_keyword("\\Seen") && !is_valid_keyword(""));
    }
}
