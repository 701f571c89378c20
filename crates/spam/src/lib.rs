//! Spam scoring without I/O: a message (and what the server learned about its sender) in,
//! a verdict out: named hits with scores, the Bayesian probability, the action the
//! thresholds call for. The Bayesian model and its training (what lessons add and take
//! back) live here; DNS lookups and storage are the callers' business.

pub mod authorship;
pub mod bayes;
pub mod calibration;
pub mod checks;
pub mod fingerprint;
pub mod rules;
pub mod tokens;
pub mod training;
pub mod verdict;

pub use bayes::{Class, Model};
pub use calibration::Calibration;
pub use verdict::{Action, Bayes, Hit, Thresholds, Verdict};

use mail_parser::MessageParser;

/// Parses a message for scoring (and for tokenizing when training).
pub fn parse(raw: &[u8]) -> Option<mail_parser::Message<'_>> {
    MessageParser::default().parse(raw)
}

/// Scores a message's content: the rules, and the classifier when `model` is trained.
/// `now` is Unix seconds (for the date rules).
pub fn scan(raw: &[u8], model: &Model, now: i64) -> Verdict {
    scan_message(parse(raw).as_ref(), model, &[], now).0
}

/// Scores like [`scan`], and gives each of `personal` (users' own models) the classifier's
/// answer with that model's counts on top of `model`'s: `None` where the two together are
/// untrained. One parse and tokenization serve them all.
pub fn scan_personal(
    raw: &[u8],
    model: &Model,
    personal: &[&Model],
    now: i64,
) -> (Verdict, Vec<Option<f64>>) {
    scan_message(parse(raw).as_ref(), model, personal, now)
}

/// [`scan_personal`] of a message parsed already (`None`: it did not parse), for callers
/// that read more from it (its fingerprint) without parsing twice.
pub fn scan_message(
    message: Option<&mail_parser::Message<'_>>,
    model: &Model,
    personal: &[&Model],
    now: i64,
) -> (Verdict, Vec<Option<f64>>) {
    let Some(message) = message else {
        let verdict = Verdict {
            hits: vec![Hit::new("UNPARSEABLE", 2.0)],
            bayes: Bayes::Skipped,
            exempt: false,
            calibration: model.calibration,
        };
        return (verdict, vec![None; personal.len()]);
    };
    let mut hits: Vec<Hit> = rules::content_hits(message, now)
        .into_iter()
        .map(|r| Hit::new(r.name, r.score))
        .collect();
    let tokens = tokens::tokenize(message);
    let bayes = match model.spam_probability(&tokens) {
        Some(p) => {
            hits.insert(0, model.calibration.bayes_hit(p));
            Bayes::Probability(p)
        }
        None => Bayes::Untrained,
    };
    let own = personal
        .iter()
        .map(|p| model.spam_probability_with(p, &tokens))
        .collect();
    let verdict = Verdict {
        hits,
        bayes,
        exempt: false,
        calibration: model.calibration,
    };
    (verdict, own)
}
