//! Adding up the evidence: named hits with scores, the Bayesian probability as a score, and
//! what the total means for the message (Inbox, Junk, refused), as headers and log text.

use crate::calibration::Calibration;
use std::fmt::Write;

/// One piece of evidence: a rule or check that fired, and what it adds to the score.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub name: String,
    pub score: f64,
}

impl Hit {
    pub fn new(name: impl Into<String>, score: f64) -> Hit {
        Hit {
            name: name.into(),
            score,
        }
    }
}

/// Scores of the connection and authentication checks (the content rules carry their own).
pub const CHECK_SCORES: &[(&str, f64)] = &[
    ("PREGREET", 3.0),
    ("HELO_INVALID", 1.5),
    ("HELO_BARE_IP", 1.0),
    ("RDNS_NONE", 1.5),
    ("RDNS_MISMATCH", 1.0),
    ("SPF_FAIL", 2.0),
    ("SPF_SOFTFAIL", 0.7),
    ("DKIM_INVALID", 1.0),
    ("DMARC_FAIL", 3.0),
    // The same text from outside (not a list) reached many local recipients lately: one
    // campaign. Not Junk on its own (an announcement to all staff is legitimate), but with
    // the Bayesian classifier's or another rule's help.
    ("BULK_DUPLICATE", 3.0),
    // For one recipient: the message's authenticated author is someone that recipient has
    // sent mail to. Outweighs a faint lean of the classifier, not a confident one with rules.
    ("KNOWN_SENDER", -4.0),
];

/// The hit for a named check from [`CHECK_SCORES`].
pub fn check(name: &str) -> Hit {
    let score = CHECK_SCORES
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(0.0, |(_, s)| *s);
    Hit::new(name, score)
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    pub junk: f64,
    pub reject: f64,
}

impl Thresholds {
    /// The thresholds for a recipient with their own Junk threshold (`None`: the server's):
    /// theirs files into Junk, never above the reject threshold, which stays the server's
    /// (a message refused for everyone cannot be filed for one).
    pub fn with_own_junk(self, own: Option<f64>) -> Thresholds {
        match own.filter(|junk| junk.is_finite()) {
            Some(junk) => Thresholds {
                junk: junk.min(self.reject),
                reject: self.reject,
            },
            None => self,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Inbox,
    Junk,
    Reject,
}

/// How the content was (or was not) judged by the classifier.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bayes {
    Probability(f64),
    Untrained,
    /// Not scanned (too large, or from an allow-listed client).
    Skipped,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub hits: Vec<Hit>,
    pub bayes: Bayes,
    /// An allow-listed client: scored and tagged, never refused or filed into Junk.
    pub exempt: bool,
    /// How the classifier's answer was scored (the model's), for [`Verdict::with_bayes`].
    pub calibration: Calibration,
}

impl Verdict {
    /// This verdict with another classifier answer (a user's own model): its Bayes hit
    /// replaced, every other hit kept.
    pub fn with_bayes(&self, probability: Option<f64>) -> Verdict {
        let mut hits: Vec<Hit> = self
            .hits
            .iter()
            .filter(|h| !h.name.starts_with("BAYES_"))
            .cloned()
            .collect();
        let bayes = match (probability, self.bayes) {
            (_, Bayes::Skipped) => Bayes::Skipped,
            (Some(p), _) => {
                hits.insert(0, self.calibration.bayes_hit(p));
                Bayes::Probability(p)
            }
            (None, _) => Bayes::Untrained,
        };
        Verdict {
            hits,
            bayes,
            exempt: self.exempt,
            calibration: self.calibration,
        }
    }

    pub fn score(&self) -> f64 {
        let total: f64 = self.hits.iter().map(|h| h.score).sum();
        (total * 10.0).round() / 10.0
    }

    pub fn action(&self, thresholds: Thresholds) -> Action {
        let score = self.score();
        match () {
            _ if self.exempt => Action::Inbox,
            _ if score >= thresholds.reject => Action::Reject,
            _ if score >= thresholds.junk => Action::Junk,
            _ => Action::Inbox,
        }
    }

    /// `NAME=score` for each hit, then the classifier's state.
    pub fn reasons(&self) -> String {
        let mut out = String::new();
        for hit in &self.hits {
            let _ = write!(out, "{}={} ", hit.name, hit.score);
        }
        match self.bayes {
            Bayes::Probability(p) => {
                let _ = write!(out, "bayes={p:.4}");
            }
            Bayes::Untrained => out.push_str("bayes=untrained"),
            Bayes::Skipped => out.push_str("bayes=skipped"),
        }
        if self.exempt {
            out.push_str(" allowlisted");
        }
        out
    }

    /// `X-Spam-Status` and `X-Spam-Score` fields, CRLF-terminated.
    pub fn header_fields(&self, thresholds: Thresholds) -> String {
        let flag = match self.action(thresholds) {
            Action::Inbox => "No",
            Action::Junk | Action::Reject => "Yes",
        };
        let tests: Vec<&str> = self.hits.iter().map(|h| h.name.as_str()).collect();
        let tests = if tests.is_empty() {
            "none".to_owned()
        } else {
            tests.join(",")
        };
        let bayes = match self.bayes {
            Bayes::Probability(p) => format!("{p:.4}"),
            Bayes::Untrained => "untrained".to_owned(),
            Bayes::Skipped => "skipped".to_owned(),
        };
        format!(
            "X-Spam-Status: {flag}, score={} required={}\r\n\ttests={tests} bayes={bayes}\r\n\
             X-Spam-Score: {}\r\n",
            self.score(),
            thresholds.junk,
            self.score()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Thresholds = Thresholds {
        junk: 5.0,
        reject: 15.0,
    };

    fn bayes_hit(p: f64) -> Hit {
        Calibration::default().bayes_hit(p)
    }

    fn verdict(hits: Vec<Hit>) -> Verdict {
        Verdict {
            hits,
            bayes: Bayes::Untrained,
            exempt: false,
            calibration: Calibration::default(),
        }
    }

    #[test]
    fn an_own_junk_threshold_stays_under_the_reject_threshold() {
        let server = Thresholds {
            junk: 5.0,
            reject: 15.0,
        };
        assert_eq!(server.with_own_junk(None), server);
        assert_eq!(server.with_own_junk(Some(2.5)).junk, 2.5);
        assert_eq!(server.with_own_junk(Some(40.0)).junk, 15.0);
        assert_eq!(server.with_own_junk(Some(f64::NAN)), server);
        assert_eq!(server.with_own_junk(Some(2.5)).reject, 15.0);
    }

    #[test]
    fn thresholds_choose_the_action() {
        assert_eq!(verdict(vec![]).action(T), Action::Inbox);
        let junk = verdict(vec![bayes_hit(0.999), check("SPF_FAIL")]);
        assert_eq!(junk.score(), 7.5);
        assert_eq!(junk.action(T), Action::Junk);
        let reject = verdict(vec![Hit::new("DNSBL_X", 12.0), check("PREGREET")]);
        assert_eq!(reject.action(T), Action::Reject);
        let exempt = Verdict {
            exempt: true,
            ..reject.clone()
        };
        assert_eq!(exempt.action(T), Action::Inbox);
    }

    #[test]
    fn headers_and_reasons_name_every_hit() {
        let mut v = verdict(vec![bayes_hit(0.55), check("RDNS_NONE")]);
        v.bayes = Bayes::Probability(0.55);
        assert_eq!(v.reasons(), "BAYES_55=4.5 RDNS_NONE=1.5 bayes=0.5500");
        let fields = v.header_fields(T);
        assert!(fields.starts_with("X-Spam-Status: Yes, score=6 required=5\r\n\ttests=BAYES_55,RDNS_NONE bayes=0.5500\r\n"), "{fields}");
        assert!(fields.ends_with("X-Spam-Score: 6\r\n"));
        assert!(
            verdict(vec![])
                .header_fields(T)
                .contains("tests=none bayes=untrained")
        );
    }

    #[test]
    fn bayes_buckets() {
        // No clue at all is no evidence; a lean towards spam needs a rule's help; from the
        // junk cut (0.6 uncalibrated) the classifier alone files into Junk.
        assert_eq!(bayes_hit(0.5).score, 0.0);
        assert!(bayes_hit(0.501).score < T.junk && bayes_hit(0.501).score > 3.0);
        assert!(bayes_hit(0.6).score >= T.junk);
        assert_eq!(bayes_hit(0.0).name, "BAYES_00");
        assert!(bayes_hit(0.999).score >= T.junk);
        assert_eq!(check("UNKNOWN_CHECK").score, 0.0);
    }

    /// A user's own answer is scored with the calibration the server's was.
    #[test]
    fn another_answer_is_scored_with_the_same_calibration() {
        let calibration = Calibration {
            junk_cut: 0.52,
            ..Calibration::default()
        };
        let server = Verdict {
            hits: vec![calibration.bayes_hit(0.3)],
            bayes: Bayes::Probability(0.3),
            exempt: false,
            calibration,
        };
        assert_eq!(server.action(T), Action::Inbox);
        let own = server.with_bayes(Some(0.53));
        assert_eq!(own.action(T), Action::Junk);
        assert_eq!(own.hits, [Hit::new("BAYES_55", 5.0)]);
        assert_eq!(own.calibration, calibration);
        // Uncalibrated, the same answer is only a lean.
        let plain = Verdict {
            calibration: Calibration::default(),
            ..server
        };
        assert_eq!(plain.with_bayes(Some(0.53)).action(T), Action::Inbox);
    }
}
