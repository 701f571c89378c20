//! The rule cases of testdata/spam: each `NAME.eml` is scored by an untrained filter, and its
//! `NAME.expected` lists the rules that must fire (`RULE`) and must not (`!RULE`). Every
//! content rule must be shown firing by at least one case.

use hermod_spam::{Bayes, Model, rules::RULES};
use std::path::Path;

/// 2026-11-28 12:00 UTC: the corpus dates are written around it.
const NOW: i64 = 1_795_867_200;

#[test]
fn every_rule_case_fires_as_expected() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/spam");
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .expect("testdata/spam")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 10, "corpus missing in {}", dir.display());
    let model = Model::default();
    let mut shown = Vec::new();
    for case in &cases {
        let raw = std::fs::read(case).unwrap();
        let verdict = hermod_spam::scan(&raw, &model, NOW);
        assert_eq!(verdict.bayes, Bayes::Untrained);
        let fired: Vec<&str> = verdict.hits.iter().map(|h| h.name.as_str()).collect();
        let expected = std::fs::read_to_string(case.with_extension("expected")).unwrap();
        for line in expected.lines().map(str::trim).filter(|l| !l.is_empty()) {
            match line.strip_prefix('!') {
                Some(rule) => assert!(!fired.contains(&rule), "{}: {rule} fired", case.display()),
                None => {
                    assert!(
                        fired.contains(&line),
                        "{}: {line} not in {fired:?}",
                        case.display()
                    );
                    shown.push(line.to_owned());
                }
            }
        }
    }
    for rule in RULES {
        assert!(
            shown.iter().any(|s| s == rule.name),
            "no case shows {}",
            rule.name
        );
    }
}
