//! Learning: what a batch of lessons adds to a model and takes back from it. A message is
//! known by a digest of its content; one learned before as the same class is not counted
//! again, one learned as the other class moves (as `sa-learn` does). Used by
//! `hermod spam train` (the server-wide model) and by IMAP, where moving mail into or out of
//! Junk teaches the user's own model.

use crate::bayes::{Class, Model};
use std::collections::HashMap;

/// One batch of lessons for one model.
#[derive(Default)]
pub struct Training {
    learn: Model,
    forget: Model,
    /// Each message learned, by digest, and whether as spam.
    pub seen: Vec<(Vec<u8>, bool)>,
    /// What this batch learned each digest as, over what the store said before it.
    this_run: HashMap<Vec<u8>, bool>,
    /// Messages learned as spam and as ham.
    pub learned: [usize; 2],
    /// Of those, how many had been learned as the other class.
    pub moved: usize,
    /// Messages already learned as the class given: nothing to do.
    pub known: usize,
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
        let previous = self.this_run.get(&digest).copied().or(before);
        if previous == Some(spam) {
            self.known += 1;
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
        self.seen.push((digest, spam));
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
        assert_eq!(t.seen, [(digest(SPAM), false)]);
    }
}
