//! Learning: what a batch of lessons adds to a model and takes back from it. A message is
//! known by a digest of its content; one learned before as the same class is not counted
//! again, one learned as the other class moves (as `sa-learn` does). Used by
//! `hermod spam train` (the server-wide model) and by IMAP, where moving mail into or out of
//! Junk teaches the user's own model.

use crate::bayes::{Class, MIN_TRAINED, Model};
use crate::calibration::HeldOut;
use std::collections::HashMap;

/// One batch of lessons for one model.
#[derive(Default)]
pub struct Training {
    learn: Model,
    forget: Model,
    /// Each message learned.
    pub seen: Vec<Learned>,
    /// What this batch learned each digest as, over what the store said before it.
    this_run: HashMap<Vec<u8>, bool>,
    /// Messages learned as spam and as ham.
    pub learned: [usize; 2],
    /// Of those, how many had been learned as the other class.
    pub moved: usize,
    /// Messages already learned as the class given: nothing to do.
    pub known: usize,
    /// Every message of the batch with its tokens, for [`Training::tune`].
    lessons: Vec<Lesson>,
    /// Lessons [`Training::tune`] gave again.
    pub tuned: usize,
}

/// The tuning `hermod spam train` does. On the SpamAssassin corpus (bench/spam-eval.md,
/// 2026-11-30 "Train to exhaustion"): 20 passes over 3,023 messages take some 6 s and teach
/// about 1,700 lessons again; fewer passes rank worse, more (30) no better.
pub const TUNING: Tuning = Tuning {
    passes: 20,
    spam_goal: 0.9,
    ham_goal: 0.2,
};

/// Into how many parts [`Training::held_out`] deals a batch for `hermod spam train`: each
/// part is judged by a model of the other four fifths, tuned (five tunings: about four
/// times the time tuning alone takes). Fewer parts judge with models further from the one
/// trained on everything.
pub const HELD_OUT_FOLDS: usize = 5;

/// A message a batch learned: its digest, whether as spam, and what the store said the
/// model had learned it as before (the batch's counts assume that; the store checks it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Learned {
    pub digest: Vec<u8>,
    pub spam: bool,
    pub before: Option<bool>,
}

/// One message of a batch as tuning sees it.
#[derive(Clone)]
struct Lesson {
    tokens: Vec<u64>,
    class: Class,
    /// How many times the model has learned it (1, and once more per tuning lesson).
    times: u32,
    /// What the content rules add to its score (for held-out verdicts).
    rules: f64,
}

/// How [`Training::tune`] decides which messages to teach again.
#[derive(Debug, Clone, Copy)]
pub struct Tuning {
    /// At most this many passes over the batch.
    pub passes: usize,
    /// A spam message the model scores below this is learned again...
    pub spam_goal: f64,
    /// ...and a ham message scored above this.
    pub ham_goal: f64,
}

/// Signed counts to add to a stored model (negative numbers unlearn).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Delta {
    pub spam_messages: i64,
    pub ham_messages: i64,
    /// `(token, spam, ham)`.
    pub tokens: Vec<(u64, i64, i64)>,
}

impl Training {
    /// Learns `message` as `class`; `before` is what the model already learned its digest as.
    pub fn add(&mut self, message: &[u8], digest: Vec<u8>, before: Option<bool>, class: Class) {
        let spam = class == Class::Spam;
        let this_run = self.this_run.get(&digest).copied();
        let previous = this_run.or(before);
        if previous == Some(spam) {
            self.known += 1;
            // Known from the store: the model has it already, and tuning may teach it again.
            if this_run.is_none()
                && let Some(parsed) = crate::parse(message)
            {
                let tokens = crate::tokens::tokenize(&parsed);
                self.lessons.push(Lesson {
                    tokens,
                    class,
                    times: 1,
                    rules: rule_score(&parsed),
                });
            }
            return;
        }
        let Some(parsed) = crate::parse(message) else {
            return;
        };
        let tokens = crate::tokens::tokenize(&parsed);
        if let Some(was_spam) = previous {
            let was = if was_spam { Class::Spam } else { Class::Ham };
            self.forget.learn(&tokens, was);
            self.moved += 1;
        }
        self.learn.learn(&tokens, class);
        self.learned[usize::from(!spam)] += 1;
        self.this_run.insert(digest.clone(), spam);
        self.seen.push(Learned {
            digest,
            spam,
            before,
        });
        if this_run.is_some() {
            // Taught both ways in one batch: tuned as its last class only.
            self.lessons.retain(|l| l.tokens != tokens);
        }
        self.lessons.push(Lesson {
            tokens,
            class,
            times: 1,
            rules: rule_score(&parsed),
        });
    }

    /// Train-to-exhaustion ("TUNE", as CRM114 and SpamProbe call it): with `model` (what
    /// the store held before this batch) plus the batch, score every message of the batch
    /// and learn again those the model gets wrong or is unsure of; repeat until none is left
    /// or `tuning.passes` are done. Returns the passes that taught something. The extra
    /// lessons are whole lessons (messages and tokens counted again, as if the message had
    /// come twice) and part of [`Training::delta`]; they are not recorded as seen, so a
    /// message moved to the other class later takes back one lesson, not its extra ones.
    /// One pass scores the whole batch before learning anything: the order of the
    /// messages does not matter.
    ///
    /// A batch with fewer than [`MIN_TRAINED`] messages of either class is not tuned: a
    /// message is judged by the others like it, and in a handful there are none, so one odd
    /// message would be taught again every pass.
    pub fn tune(&mut self, mut model: Model, tuning: &Tuning) -> usize {
        let of = |class| self.lessons.iter().filter(|l| l.class == class).count() as u64;
        if of(Class::Spam) < MIN_TRAINED || of(Class::Ham) < MIN_TRAINED {
            return 0;
        }
        let delta = self.delta();
        model.add_counts(delta.spam_messages, delta.ham_messages, delta.tokens);
        let (learn, tuned) = (&mut self.learn, &mut self.tuned);
        tune_lessons(&mut model, &mut self.lessons, tuning, |lesson| {
            learn.learn(&lesson.tokens, lesson.class);
            *tuned += 1;
        })
    }

    /// Held-out verdicts for fitting the junk cut ([`crate::Calibration::fit`]): the batch is dealt into
    /// `folds` parts, and each part's messages are judged by the model of everything else
    /// (`before`, the store's model, with the rest of the batch, tuned with `tuning` as
    /// [`Training::tune`] would). The left-out scores tuning computes are no substitute:
    /// tuning teaches a message's look-alikes of the other class again *because* of that
    /// message, so left out it meets a model set against it, and looks harder than new mail
    /// does. Called before [`Training::tune`]; empty when the batch is too small to tune.
    pub fn held_out(&self, before: &Model, tuning: &Tuning, folds: usize) -> Vec<HeldOut> {
        debug_assert_eq!(self.tuned, 0, "held_out is called before tune");
        let of = |class| self.lessons.iter().filter(|l| l.class == class).count() as u64;
        if folds < 2 || of(Class::Spam) < MIN_TRAINED || of(Class::Ham) < MIN_TRAINED {
            return Vec::new();
        }
        let mut whole = before.clone();
        let delta = self.delta();
        whole.add_counts(delta.spam_messages, delta.ham_messages, delta.tokens);
        // Each class dealt round by itself, so that every part holds its share of both.
        let mut dealt = [0usize; 2];
        let part: Vec<usize> = (self.lessons.iter())
            .map(|lesson| {
                let of_class = &mut dealt[usize::from(lesson.class == Class::Ham)];
                *of_class += 1;
                *of_class % folds
            })
            .collect();
        let mut out = Vec::with_capacity(self.lessons.len());
        for fold in 0..folds {
            let in_fold = |i: usize| part[i] == fold;
            let mut model = whole.clone();
            let mut rest = Vec::new();
            for (i, lesson) in self.lessons.iter().enumerate() {
                if in_fold(i) {
                    model.unlearn(&lesson.tokens, lesson.class);
                } else {
                    rest.push(Lesson {
                        times: 1,
                        ..lesson.clone()
                    });
                }
            }
            tune_lessons(&mut model, &mut rest, tuning, |_| {});
            let judged = self.lessons.iter().enumerate().filter(|(i, _)| in_fold(*i));
            out.extend(judged.filter_map(|(_, lesson)| {
                Some(HeldOut {
                    spam: lesson.class == Class::Spam,
                    probability: model.spam_probability(&lesson.tokens)?,
                    rules: lesson.rules,
                })
            }));
        }
        out
    }

    /// The counts to add: what was learned less what was taken back.
    pub fn delta(&self) -> Delta {
        let mut tokens: HashMap<u64, (i64, i64)> = HashMap::new();
        for (model, sign) in [(&self.learn, 1), (&self.forget, -1)] {
            for (token, counts) in model.iter() {
                let entry = tokens.entry(token).or_default();
                entry.0 += sign * i64::from(counts.spam);
                entry.1 += sign * i64::from(counts.ham);
            }
        }
        Delta {
            spam_messages: self.learn.spam_messages as i64 - self.forget.spam_messages as i64,
            ham_messages: self.learn.ham_messages as i64 - self.forget.ham_messages as i64,
            tokens: tokens
                .into_iter()
                .filter(|(_, (s, h))| *s != 0 || *h != 0)
                .map(|(t, (s, h))| (t, s, h))
                .collect(),
        }
    }
}

/// What the content rules add to a message's score, as the held-out verdicts count it. The
/// one rule that depends on the clock (a date in the future) is left out: when the
/// message arrived is not known here.
fn rule_score(message: &mail_parser::Message<'_>) -> f64 {
    let far_ahead = i64::MAX / 2;
    let hits = crate::rules::content_hits(message, far_ahead);
    hits.iter().map(|rule| rule.score).sum()
}

/// Teaches `model` again, pass after pass, the lessons it misjudges (see [`needs_lesson`]),
/// calling `taught` for each lesson given again; the passes that taught something.
fn tune_lessons(
    model: &mut Model,
    lessons: &mut [Lesson],
    tuning: &Tuning,
    mut taught: impl FnMut(&Lesson),
) -> usize {
    let mut passes = 0;
    while passes < tuning.passes {
        let unsure: Vec<usize> = (0..lessons.len())
            .filter(|&i| needs_lesson(model, &lessons[i], tuning))
            .collect();
        if unsure.is_empty() {
            break;
        }
        passes += 1;
        for i in unsure {
            let lesson = &mut lessons[i];
            model.learn(&lesson.tokens, lesson.class);
            lesson.times += 1;
            taught(lesson);
        }
    }
    passes
}

/// Whether `model` scores `lesson` on the wrong side of its class's goal, judged as if it
/// had never learned the message: on its own lessons the model is always right (the
/// message's tokens seen nowhere else decide), so only the rest of what it learned tells
/// whether mail like this one would be caught. A message still misjudged after a lesson
/// again is taught again in the next pass: the hard cases weigh more each time, until the
/// messages like them carry them or the passes run out.
fn needs_lesson(model: &Model, lesson: &Lesson, tuning: &Tuning) -> bool {
    match model.spam_probability_without(&lesson.tokens, lesson.class, lesson.times) {
        Some(p) => match lesson.class {
            Class::Spam => p < tuning.spam_goal,
            Class::Ham => p > tuning.ham_goal,
        },
        None => false,
    }
}

/// What identifies a message across copies: its Message-ID, Date, From and Subject, and its
/// body (not the trace and filter fields each delivery adds), hashed with SHA-256.
pub fn digest(message: &[u8]) -> Vec<u8> {
    let header = hermod_message::header_section(message);
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    for name in ["Message-ID", "Date", "From", "Subject"] {
        let value = hermod_message::field_value(header, name).unwrap_or_default();
        context.update(value.trim().as_bytes());
        context.update(b"\0");
    }
    context.update(&message[header.len().min(message.len())..]);
    context.finish().as_ref().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPAM: &[u8] = b"Subject: cheap pills\r\nMessage-ID: <1@x>\r\n\r\nbuy cheap pills now\r\n";

    #[test]
    fn lessons_count_once_and_move_between_classes() {
        let copy = [b"Received: from a\r\n".as_slice(), SPAM].concat();
        assert_eq!(digest(SPAM), digest(&copy), "trace fields do not count");
        let mut t = Training::default();
        t.add(SPAM, digest(SPAM), None, Class::Spam);
        t.add(&copy, digest(&copy), None, Class::Spam);
        assert_eq!((t.learned, t.known), ([1, 0], 1));
        let delta = t.delta();
        assert_eq!((delta.spam_messages, delta.ham_messages), (1, 0));
        assert!(delta.tokens.iter().all(|&(_, s, h)| s == 1 && h == 0));

        // Learned as spam before, now ham: the spam counts are taken back.
        let mut t = Training::default();
        t.add(SPAM, digest(SPAM), Some(true), Class::Ham);
        let delta = t.delta();
        assert_eq!(
            (delta.spam_messages, delta.ham_messages, t.moved),
            (-1, 1, 1)
        );
        assert!(delta.tokens.iter().all(|&(_, s, h)| s == -1 && h == 1));
        let seen = Learned {
            digest: digest(SPAM),
            spam: false,
            before: Some(true),
        };
        assert_eq!(t.seen, [seen]);
    }

    fn mail(subject: &str, body: &str) -> Vec<u8> {
        format!("Subject: {subject}\r\nMessage-ID: <{subject}@x>\r\n\r\n{body}\r\n").into_bytes()
    }

    /// 60 spam and 60 ham of clearly different vocabulary, and `hard` ham newsletters that
    /// speak the spam's language.
    fn batch_mail(hard: usize) -> Vec<(Class, Vec<u8>)> {
        let mut out = Vec::new();
        for n in 0..60 {
            let spam = mail(
                &format!("s{n}"),
                &format!("cheap pills offer buy now code{n}"),
            );
            out.push((Class::Spam, spam));
            let ham = mail(
                &format!("h{n}"),
                &format!("meeting agenda project notes ref{n}"),
            );
            out.push((Class::Ham, ham));
        }
        for n in 0..hard {
            let ham = mail(
                &format!("n{n}"),
                &format!("cheap pills offer subscriber digest{n}"),
            );
            out.push((Class::Ham, ham));
        }
        out
    }

    /// [`batch_mail`] learned once each.
    fn batch(hard: usize) -> Training {
        let mut t = Training::default();
        for (class, message) in batch_mail(hard) {
            t.add(&message, digest(&message), None, class);
        }
        t
    }

    fn model(t: &Training) -> Model {
        let d = t.delta();
        Model::from_counts(d.spam_messages, d.ham_messages, d.tokens)
    }

    #[test]
    fn tuning_teaches_again_what_the_model_gets_wrong() {
        let probe = mail("n99", "cheap pills offer subscriber digest99");
        let probe = crate::tokens::tokenize(&crate::parse(&probe).unwrap());
        let mut t = batch(3);
        let untuned = model(&t).spam_probability(&probe).unwrap();
        let passes = t.tune(Model::default(), &TUNING);
        assert!(
            t.tuned >= 3 && (1..=TUNING.passes).contains(&passes),
            "{} {passes}",
            t.tuned
        );
        let tuned = model(&t);
        let p = tuned.spam_probability(&probe).unwrap();
        assert!(p < untuned && p <= TUNING.ham_goal, "{untuned} -> {p}");
        // The lessons again are whole lessons; the first ones are counted as before.
        assert_eq!(
            tuned.spam_messages + tuned.ham_messages,
            123 + t.tuned as u64
        );
        assert_eq!(t.learned, [60, 63]);
        assert_eq!(t.seen.len(), 123);
    }

    #[test]
    fn a_handful_of_lessons_is_not_tuned() {
        let mut t = Training::default();
        for n in 0..10 {
            let ham = mail(
                &format!("n{n}"),
                &format!("cheap pills offer subscriber digest{n}"),
            );
            t.add(&ham, digest(&ham), None, Class::Ham);
        }
        let taught = batch(0);
        assert_eq!(t.tune(model(&taught), &TUNING), 0);
        assert_eq!((t.tuned, t.delta().ham_messages), (0, 10));
    }

    #[test]
    fn a_model_that_gets_its_batch_right_is_left_alone() {
        let sorted = |mut d: Delta| {
            d.tokens.sort_unstable();
            d
        };
        let mut t = batch(0);
        let before = sorted(t.delta());
        assert_eq!((t.tune(Model::default(), &TUNING), t.tuned), (0, 0));
        assert_eq!(sorted(t.delta()), before);
    }

    /// Each message is judged by a model that never learned it, in this batch or before
    /// it: the one ham newsletter, alone against the spam it resembles, looks more like spam
    /// held out than to the whole model, which learned it.
    #[test]
    fn held_out_messages_are_judged_without_their_own_lessons() {
        let t = batch(1);
        let held_out = t.held_out(&Model::default(), &TUNING, 10);
        assert_eq!(held_out.len(), 121);
        let spam: Vec<_> = held_out.iter().filter(|m| m.spam).collect();
        assert_eq!(spam.len(), 60);
        assert!(spam.iter().all(|m| m.probability > 0.9), "{spam:?}");
        let leaning: Vec<_> = held_out
            .iter()
            .filter(|m| !m.spam && m.probability > 0.5)
            .collect();
        assert_eq!(leaning.len(), 1, "{held_out:?}");
        let newsletter = mail("n0", "cheap pills offer subscriber digest0");
        let newsletter = crate::tokens::tokenize(&crate::parse(&newsletter).unwrap());
        let whole = model(&t).spam_probability(&newsletter).unwrap();
        assert!(leaning[0].probability > whole, "{leaning:?} {whole}");
        // The rules count as delivery counts them (these test messages lack From and Date).
        assert!(held_out.iter().all(|m| m.rules > 2.0), "{held_out:?}");

        // The same batch learned before (the store has it, each message known): the same
        // verdicts, the store's lessons of each message taken out too.
        let mut again = Training::default();
        let before = model(&t);
        for (class, body) in batch_mail(1) {
            again.add(&body, digest(&body), Some(class == Class::Spam), class);
        }
        assert_eq!(again.known, 121);
        assert_eq!(again.held_out(&before, &TUNING, 10), held_out);
        // Too small to tune is too small to judge.
        let mut few = Training::default();
        few.add(SPAM, digest(SPAM), None, Class::Spam);
        assert!(few.held_out(&before, &TUNING, 5).is_empty());
    }
}
