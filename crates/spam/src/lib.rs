//! Spam scoring without I/O: a message (and what the server learned about its sender) in,
//! a verdict out: named hits with scores, the Bayesian probability, the action the
//! thresholds call for. The Bayesian model and its training live here; DNS lookups and
//! storage are the callers' business.

pub mod bayes;
pub mod checks;
pub mod fingerprint;
pub mod rules;
pub mod tokens;
pub mod verdict;

pub use bayes::{Class, Model};
pub use verdict::{Action, Bayes, Hit, Thresholds, Verdict};

use mail_parser::MessageParser;

/// Parses a message for scoring (and for tokenizing when training).
pub fn parse(raw: &[u8]) -> Option<mail_parser::Message<'_>> {
    MessageParser::default().parse(raw)
}

/// Scores a message's content: the rules, and the classifier when `model` is trained.
/// `now` is Unix seconds (for the date rules).
pub fn scan(raw: &[u8], model: &Model, now: i64) -> Verdict {
    scan_message(parse(raw).as_ref(), model, now)
}

/// [`scan`] of a message parsed already (`None`: it did not parse), for callers that read
/// more from it (its fingerprint) without parsing twice.
pub fn scan_message(
    message: Option<&mail_parser::Message<'_>>,
    model: &Model,
    now: i64,
) -> Verdict {
    let Some(message) = message else {
        return Verdict {
            hits: vec![Hit::new("UNPARSEABLE", 2.0)],
            bayes: Bayes::Skipped,
            exempt: false,
        };
    };
    let mut hits: Vec<Hit> = rules::content_hits(message, now)
        .into_iter()
        .map(|r| Hit::new(r.name, r.score))
        .collect();
    let bayes = match model.spam_probability(&tokens::tokenize(message)) {
        Some(p) => {
            hits.insert(0, verdict::bayes_hit(p));
            Bayes::Probability(p)
        }
        None => Bayes::Untrained,
    };
    Verdict {
        hits,
        bayes,
        exempt: false,
    }
}
