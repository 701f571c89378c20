//! The bulk guard's memory, the part both backends share: how a sighting finds its content's
//! cluster and what its recipients do to the cluster's count.
//!
//! A scope (an account, or inbound mail) keeps *clusters*, not messages: a cluster is one
//! content (the signature of the first message that had it, its band keys indexed) with the
//! most recent distinct recipients of its copies and when each was last sent a copy. A
//! sighting probes its bands for clusters of its scope, compares its signature with those
//! that share the most bands with it ([`COMPARED`]), and joins the closest one, or starts a
//! cluster of its own. So a campaign of any size adds no band rows after its first
//! message, and what a sighting reads and writes is bounded by its bands, its recipients
//! and the cap, never by how many copies came before.
//!
//! Counting: a cluster keeps at most `cap` recipient rows, the most recently sent ones.
//! That keeps the count in the window exact below the cap however the window slides: while
//! fewer than `cap` recipients are in the window, each of them is among the `cap` most
//! recent, so kept; once `cap` are, the count reads `cap`, which means "at least".

use crate::BulkSighting;

/// Clusters past their memory deleted per sighting: more than one, so the forgetting keeps
/// ahead of the clusters sightings start (at most one each), and few, so a sighting's cost
/// stays bounded however much expired at once.
pub(crate) const FORGET_BATCH: i64 = 4;

/// Clusters read per band key, the newest first: bounds the probe when many contents of a
/// scope share a band (a campaign's copies share nearly all of its bands, so its cluster is
/// found through another band if one is crowded).
pub(crate) const CANDIDATES_PER_BAND: i64 = 8;

/// Candidates compared per sighting: of the clusters its bands led to, those its band keys
/// point at most strongly, a key among `n` clusters giving each of them `1/n` (of equals,
/// the newest). A copy shares many keys with its cluster (at the copy threshold, half the
/// numbers equal, 2.4 of 20 on average; a campaign's copies far more), some of them rare;
/// a chance collision shares one or two, mostly keys that many texts share. So the few
/// most likely are compared, and the crowd of chance collisions is not even read.
pub(crate) const COMPARED: i64 = 8;

/// What one key of a list of `n` clusters gives each of them: `WEIGHT / n`, whole for any
/// `n` up to [`CANDIDATES_PER_BAND`] (840 is the least common multiple of 1 to 8), so
/// sums compare exactly.
pub(crate) const WEIGHT: i64 = 840;

/// How strongly a sighting's band keys point at each cluster they list.
#[derive(Default)]
pub(crate) struct Pointers {
    weights: std::collections::HashMap<i64, i64>,
}

impl Pointers {
    /// One key's list of clusters (at most [`CANDIDATES_PER_BAND`]).
    pub fn add_key(&mut self, clusters: &[i64]) {
        let Ok(n) = i64::try_from(clusters.len()) else {
            return;
        };
        for id in clusters {
            *self.weights.entry(*id).or_default() += WEIGHT / n.max(1);
        }
    }

    /// The `count` clusters pointed at most, of equals the newest.
    pub fn most(self, count: usize) -> Vec<i64> {
        let mut ranked: Vec<(i64, i64)> = self.weights.into_iter().collect();
        ranked.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(b.0.cmp(&a.0)));
        ranked.into_iter().take(count).map(|(id, _)| id).collect()
    }
}

/// A cluster a sighting's bands led to, as read from the store.
pub(crate) struct Candidate {
    pub id: i64,
    pub signature: Vec<u8>,
    /// Sightings that joined it so far (its first message included).
    pub sightings: i64,
    /// Recipient rows it keeps.
    pub kept: i64,
}

/// The candidate whose signature agrees with the sighting's in the most numbers, at least
/// `min_equal` (of equals, the oldest cluster).
pub(crate) fn closest(candidates: Vec<Candidate>, sighting: &BulkSighting) -> Option<Candidate> {
    let mut best: Option<(usize, Candidate)> = None;
    for candidate in candidates {
        let equal = equal_numbers(&candidate.signature, &sighting.signature);
        if equal < sighting.min_equal {
            continue;
        }
        let better = match &best {
            None => true,
            Some((most, known)) => equal > *most || (equal == *most && candidate.id < known.id),
        };
        if better {
            best = Some((equal, candidate));
        }
    }
    best.map(|(_, candidate)| candidate)
}

/// How many four-byte numbers of two signatures agree, position by position.
pub(crate) fn equal_numbers(a: &[u8], b: &[u8]) -> usize {
    a.chunks_exact(4)
        .zip(b.chunks_exact(4))
        .filter(|(x, y)| x == y)
        .count()
}

/// How long a sighting is remembered: its window.
pub(crate) fn memory(sighting: &BulkSighting) -> i64 {
    sighting.at.saturating_sub(sighting.since).max(0)
}

/// The sighting's recipients, each once.
pub(crate) fn distinct_recipients(sighting: &BulkSighting) -> Vec<&str> {
    let mut recipients: Vec<&str> = sighting.recipients.iter().map(String::as_str).collect();
    recipients.sort_unstable();
    recipients.dedup();
    recipients
}

/// Where one of a sighting's recipients stood in its cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Known {
    /// Not kept: a new row.
    No,
    /// Kept, last sent a copy before the window: counts again.
    Before,
    /// Sent a copy within the window: counted already.
    InWindow,
}

impl Known {
    pub fn of(last_seen: Option<i64>, since: i64) -> Known {
        match last_seen {
            None => Known::No,
            Some(t) if t < since => Known::Before,
            Some(_) => Known::InWindow,
        }
    }
}

/// What a sighting does to its cluster's count and rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tally {
    pub before: u64,
    pub after: u64,
    /// Recipient rows the cluster keeps afterwards.
    pub kept: i64,
    /// The oldest rows to delete to stay within the cap.
    pub evict: i64,
}

/// The count before and after a sighting whose cluster keeps `kept` rows, `in_window` of
/// them sent a copy within the window, given where each of its distinct recipients stood.
pub(crate) fn tally(kept: i64, in_window: u64, recipients: &[Known], cap: u64) -> Tally {
    let cap = cap.max(1);
    let fresh = recipients.iter().filter(|k| **k != Known::InWindow).count() as u64;
    let added = recipients.iter().filter(|k| **k == Known::No).count() as i64;
    let keep = i64::try_from(cap).unwrap_or(i64::MAX);
    let rows = kept.saturating_add(added);
    let evict = rows.saturating_sub(keep).max(0);
    Tally {
        before: in_window.min(cap),
        after: in_window.saturating_add(fresh).min(cap),
        kept: rows - evict,
        evict,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Known::{Before, InWindow, No};

    #[test]
    fn counts_stop_at_the_cap_and_rows_with_them() {
        assert_eq!(
            tally(0, 0, &[No, No], 5),
            Tally {
                before: 0,
                after: 2,
                kept: 2,
                evict: 0
            }
        );
        assert_eq!(
            tally(4, 3, &[InWindow, Before, No], 5),
            Tally {
                before: 3,
                after: 5,
                kept: 5,
                evict: 0
            },
            "a kept recipient from before the window counts again"
        );
        assert_eq!(
            tally(5, 5, &[No], 5),
            Tally {
                before: 5,
                after: 5,
                kept: 5,
                evict: 1
            },
            "at the cap a new recipient replaces the oldest"
        );
        assert_eq!(
            tally(9, 9, &[], 5).evict,
            4,
            "a lowered cap is caught up with"
        );
        assert_eq!(tally(0, 0, &[No], 0).after, 1, "a cap of 0 counts as 1");
    }

    #[test]
    fn rare_keys_point_harder_than_crowded_ones() {
        let mut pointed = Pointers::default();
        pointed.add_key(&[9, 8, 7, 6, 5, 4, 3, 1]);
        pointed.add_key(&[1]);
        pointed.add_key(&[7, 2]);
        assert_eq!(
            pointed.most(3),
            [1, 7, 2],
            "1 through a key of its own, then 7 twice"
        );
        assert_eq!(Pointers::default().most(8), Vec::<i64>::new());
    }

    #[test]
    fn known_by_last_copy() {
        assert_eq!(Known::of(None, 10), No);
        assert_eq!(Known::of(Some(9), 10), Before);
        assert_eq!(Known::of(Some(10), 10), InWindow);
    }

    #[test]
    fn the_closest_candidate_wins() {
        let sig = |n: &[u32]| n.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        let sighting = BulkSighting {
            scope: crate::BulkScope::Inbound,
            at: 100,
            since: 40,
            signature: sig(&[1, 2, 3, 4]),
            bands: vec![],
            min_equal: 2,
            recipients: vec!["b@x".into(), "a@x".into(), "b@x".into()],
            cap: 10,
        };
        let candidate = |id, s: &[u32]| Candidate {
            id,
            signature: sig(s),
            sightings: 1,
            kept: 1,
        };
        let found = closest(
            vec![
                candidate(3, &[1, 2, 0, 0]),
                candidate(7, &[1, 2, 3, 0]),
                candidate(5, &[1, 2, 3, 9]),
                candidate(9, &[0, 0, 0, 4]),
            ],
            &sighting,
        );
        assert_eq!(found.map(|c| c.id), Some(5), "most equal, then oldest");
        assert!(closest(vec![candidate(1, &[1, 0, 0, 0])], &sighting).is_none());
        assert_eq!(memory(&sighting), 60);
        assert_eq!(distinct_recipients(&sighting), ["a@x", "b@x"]);
        assert_eq!(equal_numbers(&sig(&[1, 2]), &[]), 0);
    }
}
