//! The Bayesian classifier: per-token spam and ham counts, Robinson's smoothed token
//! probabilities, and Fisher's chi-square combining (as SpamBayes does), which gives
//! confident answers near 0 or 1 and an honest 0.5 when the evidence is mixed; where
//! Fisher's test is certain both ways, Robinson's geometric means decide.

use crate::calibration::Calibration;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A model says nothing until it has learned this many messages of each class.
pub const MIN_TRAINED: u64 = 50;
/// Robinson's `s`: how strongly an unknown token is pulled towards `x`.
const STRENGTH: f64 = 0.45;
/// Robinson's `x`: the probability assumed for a token never seen.
const UNKNOWN: f64 = 0.5;
/// Tokens nearer 0.5 than this are ignored as noise.
const MIN_DISTANCE: f64 = 0.1;
/// Only the most telling tokens of a message are combined.
const MAX_CLUES: usize = 150;
/// Fisher's answer both ways above which it no longer separates (see `chi_square_combine`).
const SATURATED: f64 = 0.99;

/// How often a token appeared in spam and in ham messages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub spam: u32,
    pub ham: u32,
}

/// The tokens are hashes already: hashing them again would be wasted work.
#[derive(Default)]
pub struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type TokenMap = HashMap<u64, Counts, BuildHasherDefault<IdentityHasher>>;

/// Which class a message is learned as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Spam,
    Ham,
}

#[derive(Default, Clone)]
pub struct Model {
    pub spam_messages: u64,
    pub ham_messages: u64,
    tokens: TokenMap,
    /// Where this model's answers file mail into Junk (fitted by `hermod spam train`).
    pub calibration: Calibration,
}

impl Model {
    /// A model from stored counts: messages per class, and `(token, spam, ham)`. Stores
    /// keep signed numbers (unlearning subtracts); anything out of range is clamped.
    pub fn from_counts(
        spam_messages: i64,
        ham_messages: i64,
        counts: impl IntoIterator<Item = (u64, i64, i64)>,
    ) -> Model {
        let count = |n: i64| n.clamp(0, i64::from(u32::MAX)) as u32;
        let tokens = counts
            .into_iter()
            .map(|(token, spam, ham)| {
                let counts = Counts {
                    spam: count(spam),
                    ham: count(ham),
                };
                (token, counts)
            })
            .collect();
        Model {
            spam_messages: spam_messages.max(0) as u64,
            ham_messages: ham_messages.max(0) as u64,
            tokens,
            calibration: Calibration::default(),
        }
    }

    pub fn is_trained(&self) -> bool {
        self.spam_messages >= MIN_TRAINED && self.ham_messages >= MIN_TRAINED
    }

    pub fn token_count(&self) -> usize {
        self.tokens.len()
    }

    pub fn counts(&self, token: u64) -> Counts {
        self.tokens.get(&token).copied().unwrap_or_default()
    }

    /// Counts one message's distinct tokens.
    pub fn learn(&mut self, tokens: &[u64], class: Class) {
        match class {
            Class::Spam => self.spam_messages += 1,
            Class::Ham => self.ham_messages += 1,
        }
        for token in tokens {
            let counts = self.tokens.entry(*token).or_default();
            match class {
                Class::Spam => counts.spam = counts.spam.saturating_add(1),
                Class::Ham => counts.ham = counts.ham.saturating_add(1),
            }
        }
    }

    /// Takes back one lesson of `tokens` as `class` (counts stop at zero).
    pub fn unlearn(&mut self, tokens: &[u64], class: Class) {
        let (spam, ham) = match class {
            Class::Spam => (-1, 0),
            Class::Ham => (0, -1),
        };
        self.add_counts(spam, ham, tokens.iter().map(|t| (*t, spam, ham)));
    }

    /// Every token with its counts, for storing.
    pub fn iter(&self) -> impl Iterator<Item = (u64, Counts)> + '_ {
        self.tokens.iter().map(|(t, c)| (*t, *c))
    }

    /// The probability that a message with these (distinct) tokens is spam; `None` while
    /// the model is untrained.
    pub fn spam_probability(&self, tokens: &[u64]) -> Option<f64> {
        self.layered(None, tokens)
    }

    /// The same with `personal`'s counts added to this model's: one user's own lessons on
    /// top of the server's, so they weigh for that user only. `None` while the two together
    /// are untrained.
    pub fn spam_probability_with(&self, personal: &Model, tokens: &[u64]) -> Option<f64> {
        self.layered(Some(personal), tokens)
    }

    /// The answer the model would give had it not learned `times` lessons of `tokens` as
    /// `class`: how it sees mail like a message it was taught, which the message's own
    /// tokens (many seen nowhere else) would otherwise decide. For tuning.
    pub fn spam_probability_without(
        &self,
        tokens: &[u64],
        class: Class,
        times: u32,
    ) -> Option<f64> {
        let taken = u64::from(times);
        let (spam_messages, ham_messages) = match class {
            Class::Spam => (self.spam_messages.saturating_sub(taken), self.ham_messages),
            Class::Ham => (self.spam_messages, self.ham_messages.saturating_sub(taken)),
        };
        let counts = |t: &u64| {
            self.tokens.get(t).map(|c| match class {
                Class::Spam => Counts {
                    spam: c.spam.saturating_sub(times),
                    ham: c.ham,
                },
                Class::Ham => Counts {
                    spam: c.spam,
                    ham: c.ham.saturating_sub(times),
                },
            })
        };
        combine(spam_messages, ham_messages, tokens, counts)
    }

    /// Adds signed counts (a stored delta; negative numbers take back), clamped at zero.
    pub fn add_counts(
        &mut self,
        spam_messages: i64,
        ham_messages: i64,
        counts: impl IntoIterator<Item = (u64, i64, i64)>,
    ) {
        let add = |n: u64, d: i64| n.saturating_add_signed(d);
        self.spam_messages = add(self.spam_messages, spam_messages);
        self.ham_messages = add(self.ham_messages, ham_messages);
        let add = |n: u32, d: i64| (i64::from(n) + d).clamp(0, i64::from(u32::MAX)) as u32;
        for (token, spam, ham) in counts {
            let counts = self.tokens.entry(token).or_default();
            counts.spam = add(counts.spam, spam);
            counts.ham = add(counts.ham, ham);
        }
    }

    fn layered(&self, personal: Option<&Model>, tokens: &[u64]) -> Option<f64> {
        let spam_messages = self.spam_messages + personal.map_or(0, |p| p.spam_messages);
        let ham_messages = self.ham_messages + personal.map_or(0, |p| p.ham_messages);
        let counts = |t: &u64| -> Option<Counts> {
            let own = self.tokens.get(t);
            let theirs = personal.and_then(|p| p.tokens.get(t));
            let (a, b) = (own.copied(), theirs.copied());
            (own.is_some() || theirs.is_some()).then(|| {
                let (a, b) = (a.unwrap_or_default(), b.unwrap_or_default());
                Counts {
                    spam: a.spam.saturating_add(b.spam),
                    ham: a.ham.saturating_add(b.ham),
                }
            })
        };
        combine(spam_messages, ham_messages, tokens, counts)
    }
}

/// The classifier's answer for `tokens` given each one's `counts`; `None` while fewer than
/// [`MIN_TRAINED`] messages of either class are known.
fn combine(
    spam_messages: u64,
    ham_messages: u64,
    tokens: &[u64],
    counts: impl Fn(&u64) -> Option<Counts>,
) -> Option<f64> {
    if spam_messages < MIN_TRAINED || ham_messages < MIN_TRAINED {
        return None;
    }
    let mut clues: Vec<f64> = tokens
        .iter()
        .filter_map(counts)
        .map(|c| token_probability(c, spam_messages, ham_messages))
        .filter(|p| (p - 0.5).abs() >= MIN_DISTANCE)
        .collect();
    clues.sort_unstable_by(|a, b| (b - 0.5).abs().total_cmp(&(a - 0.5).abs()));
    clues.truncate(MAX_CLUES);
    Some(chi_square_combine(&clues))
}

/// Robinson's f(w): the token's spam ratio, smoothed towards 0.5 when seen rarely.
fn token_probability(counts: Counts, spam_messages: u64, ham_messages: u64) -> f64 {
    let spam_ratio = f64::from(counts.spam) / spam_messages.max(1) as f64;
    let ham_ratio = f64::from(counts.ham) / ham_messages.max(1) as f64;
    let p = if spam_ratio + ham_ratio == 0.0 {
        UNKNOWN
    } else {
        spam_ratio / (spam_ratio + ham_ratio)
    };
    let n = f64::from(counts.spam) + f64::from(counts.ham);
    (STRENGTH * UNKNOWN + n * p) / (STRENGTH + n)
}

/// Fisher's method both ways: `spamminess` from the ln(1-p), `hamminess` from the ln(p);
/// the result is their balance, 0.5 when no clue is strong.
fn chi_square_combine(clues: &[f64]) -> f64 {
    if clues.is_empty() {
        return 0.5;
    }
    let n = clues.len();
    let ln_ham: f64 = clues.iter().map(|p| p.max(1e-200).ln()).sum();
    let ln_spam: f64 = clues.iter().map(|p| (1.0 - p).max(1e-200).ln()).sum();
    let hamminess = 1.0 - chi2_q(-2.0 * ln_ham, 2 * n);
    let spamminess = 1.0 - chi2_q(-2.0 * ln_spam, 2 * n);
    if spamminess.min(hamminess) > SATURATED {
        return geometric_combine(ln_spam, ln_ham, n as f64);
    }
    ((spamminess - hamminess + 1.0) / 2.0).clamp(0.0, 1.0)
}

/// Robinson's geometric-mean combining, for when Fisher's test is sure both ways: the
/// message has many strong clues of each kind (a newsletter quoting an offer, spam padded
/// with words from real mail). Which side's clues are stronger still tells them apart.
fn geometric_combine(ln_spam: f64, ln_ham: f64, n: f64) -> f64 {
    let spamminess = 1.0 - (ln_spam / n).exp();
    let hamminess = 1.0 - (ln_ham / n).exp();
    ((1.0 + (spamminess - hamminess) / (spamminess + hamminess)) / 2.0).clamp(0.0, 1.0)
}

/// P(chi-square with `dof` (even) degrees of freedom >= `x2`).
fn chi2_q(x2: f64, dof: usize) -> f64 {
    let m = x2 / 2.0;
    let mut term = (-m).exp();
    let mut sum = term;
    for i in 1..dof / 2 {
        term *= m / i as f64;
        sum += term;
    }
    sum.min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trained() -> Model {
        let mut model = Model::default();
        for i in 0..60u64 {
            model.learn(&[1, 2, 100 + i % 7], Class::Spam);
            model.learn(&[3, 4, 200 + i % 7], Class::Ham);
        }
        model
    }

    /// A user's lessons count on top of the server's, for that user only.
    #[test]
    fn personal_lessons_weigh_on_top_of_the_shared_model() {
        let shared = trained();
        let newsletter = [9, 10, 11];
        let neutral = shared.spam_probability(&newsletter).unwrap();
        assert!((neutral - 0.5).abs() < 0.01, "{neutral}");
        let mut personal = Model::default();
        for _ in 0..5 {
            personal.learn(&newsletter, Class::Spam);
        }
        let p = shared
            .spam_probability_with(&personal, &newsletter)
            .unwrap();
        assert!(p > 0.9, "{p}");
        assert_eq!(
            shared.spam_probability_with(&Model::default(), &[1, 2]),
            shared.spam_probability(&[1, 2])
        );
        // Together trained, though neither is alone.
        let mut half = Model::default();
        for i in 0..30u64 {
            half.learn(&[1, i], Class::Spam);
            half.learn(&[2, i], Class::Ham);
        }
        assert!(half.spam_probability_with(&half, &[1]).is_some());
        assert!(half.spam_probability(&[1]).is_none());
    }

    #[test]
    fn untrained_models_have_no_opinion() {
        let mut model = Model::default();
        for _ in 0..49 {
            model.learn(&[1], Class::Spam);
            model.learn(&[2], Class::Ham);
        }
        assert_eq!(model.spam_probability(&[1]), None);
        model.learn(&[1], Class::Spam);
        model.learn(&[2], Class::Ham);
        assert!(model.spam_probability(&[1]).unwrap() > 0.9);
    }

    #[test]
    fn clear_cases_go_to_the_extremes_and_mixed_ones_stay_near_the_middle() {
        let model = trained();
        assert!(model.spam_probability(&[1, 2, 99]).unwrap() > 0.99);
        assert!(model.spam_probability(&[3, 4]).unwrap() < 0.01);
        let mixed = model.spam_probability(&[1, 3]).unwrap();
        assert!((0.3..0.7).contains(&mixed), "{mixed}");
        assert_eq!(model.spam_probability(&[999]).unwrap(), 0.5);
    }

    #[test]
    fn rare_tokens_are_pulled_towards_the_middle() {
        let model = trained();
        let (spam, ham) = (model.spam_messages, model.ham_messages);
        let once = token_probability(Counts { spam: 1, ham: 0 }, spam, ham);
        let often = token_probability(Counts { spam: 50, ham: 0 }, spam, ham);
        assert!(once < often && once > 0.6, "{once} {often}");
    }

    /// Many strong clues both ways saturate Fisher's test on both sides (each tail rounds
    /// to 1): the side with more of them must still win, not a flat 0.5.
    #[test]
    fn saturated_evidence_still_leans_towards_the_stronger_side() {
        let mixed = |spammy: usize, hammy: usize| {
            let mut clues = vec![0.99; spammy];
            clues.extend(std::iter::repeat_n(0.01, hammy));
            chi_square_combine(&clues)
        };
        assert!(mixed(80, 70) > 0.5, "{}", mixed(80, 70));
        assert!(mixed(70, 80) < 0.5, "{}", mixed(70, 80));
        assert!((mixed(75, 75) - 0.5).abs() < 1e-9);
        // Unsaturated answers are Fisher's as before.
        assert!(mixed(5, 0) > 0.99 && mixed(0, 5) < 0.01);
    }

    #[test]
    fn chi_square_tail_matches_known_values() {
        // P(chi2(2) >= 2) = e^-1; P(chi2(4) >= 4) = 3 e^-2.
        assert!((chi2_q(2.0, 2) - (-1f64).exp()).abs() < 1e-12);
        assert!((chi2_q(4.0, 4) - 3.0 * (-2f64).exp()).abs() < 1e-12);
    }

    /// Leaving a lesson out gives exactly the model that never had it.
    #[test]
    fn scoring_without_a_lesson_is_scoring_a_model_without_it() {
        let message = [1, 3, 50, 51];
        let mut taught = trained();
        taught.learn(&message, Class::Ham);
        taught.learn(&message, Class::Ham);
        let without = taught.spam_probability_without(&message, Class::Ham, 2);
        assert_eq!(without, trained().spam_probability(&message));
        let with = taught.spam_probability(&message).unwrap();
        assert!(with < without.unwrap() - 0.05, "{with} {without:?}");
    }

    #[test]
    fn unlearning_takes_back_one_lesson() {
        let mut model = trained();
        model.learn(&[1, 3, 50], Class::Spam);
        model.unlearn(&[1, 3, 50], Class::Spam);
        let before = trained();
        assert_eq!(model.spam_messages, before.spam_messages);
        for token in [1, 3, 50] {
            assert_eq!(model.counts(token), before.counts(token));
        }
        model.unlearn(&[3], Class::Ham);
        assert_eq!(model.counts(3).ham, before.counts(3).ham - 1);
        assert_eq!(model.ham_messages, before.ham_messages - 1);
    }

    #[test]
    fn added_counts_are_clamped_at_zero() {
        let mut model = trained();
        model.add_counts(-1, 2, [(1, -100, 1), (77, 3, 0)]);
        assert_eq!((model.spam_messages, model.ham_messages), (59, 62));
        assert_eq!(model.counts(1), Counts { spam: 0, ham: 1 });
        assert_eq!(model.counts(77), Counts { spam: 3, ham: 0 });
    }

    #[test]
    fn stored_counts_give_the_same_model() {
        let model = trained();
        let copy = Model::from_counts(
            model.spam_messages as i64,
            model.ham_messages as i64,
            model
                .iter()
                .map(|(t, c)| (t, i64::from(c.spam), i64::from(c.ham))),
        );
        assert_eq!(copy.token_count(), model.token_count());
        assert_eq!(
            copy.spam_probability(&[1, 3, 4]),
            model.spam_probability(&[1, 3, 4])
        );
    }
}
