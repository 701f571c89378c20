//! Tuning aid: trains on TRAIN/{spam,ham}, scores TEST/{spam,ham}, and prints the Bayes
//! probability distribution and recall / false positives at several score thresholds.
//! `cargo run --release -p hermod-spam --example eval -- TRAIN TEST` (a split made by
//! `bench/spam-eval --workdir`). The reported numbers come from `bench/spam-eval`.

use hermod_spam::{Class, Model};
use std::path::Path;

fn files(dir: &Path) -> Vec<Vec<u8>> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    out.sort();
    out
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args[1] == "--one" {
        return debug_one(&args[2]);
    }
    if args[1] == "--time" {
        return time_scan(&args[2]);
    }
    let (train, test) = (Path::new(&args[1]), Path::new(&args[2]));
    let mut model = Model::default();
    for (class, name) in [(Class::Spam, "spam"), (Class::Ham, "ham")] {
        for raw in files(&train.join(name)) {
            if let Some(m) = hermod_spam::parse(&raw) {
                model.learn(&hermod_spam::tokens::tokenize(&m), class);
            }
        }
    }
    println!(
        "model: {} spam, {} ham, {} tokens",
        model.spam_messages,
        model.ham_messages,
        model.token_count()
    );
    for name in ["spam", "ham"] {
        let verdicts: Vec<hermod_spam::Verdict> = files(&test.join(name))
            .iter()
            .map(|raw| hermod_spam::scan(raw, &model, 1_795_867_200))
            .collect();
        let probabilities: Vec<f64> = verdicts
            .iter()
            .map(|v| match v.bayes {
                hermod_spam::Bayes::Probability(p) => p,
                _ => 0.5,
            })
            .collect();
        let n = probabilities.len() as f64;
        print!("{name} ({n}): bayes>=");
        for cut in [0.5, 0.6, 0.7, 0.8, 0.9, 0.99] {
            let k = probabilities.iter().filter(|p| **p >= cut).count();
            print!(" {cut}:{:.2}%", 100.0 * k as f64 / n);
        }
        print!(" | score>=");
        for cut in [3.0, 4.0, 5.0, 6.0] {
            let k = verdicts.iter().filter(|v| v.score() >= cut).count();
            print!(" {cut}:{:.2}%", 100.0 * k as f64 / n);
        }
        println!();
    }
}

#[allow(dead_code)]
fn debug_one(path: &str) {
    let raw = std::fs::read(path).unwrap();
    let m = hermod_spam::parse(&raw).unwrap();
    println!(
        "subject={:?} from={:?} headers={}",
        m.subject(),
        m.from().and_then(|a| a.first()).and_then(|a| a.address()),
        m.headers().len()
    );
}

/// Scans one file 200 times with an empty model and with a trained one, and prints the time
/// per scan and how it splits between parsing and tokenizing.
fn time_scan(path: &str) {
    let raw = std::fs::read(path).unwrap();
    let t = std::time::Instant::now();
    for _ in 0..200 {
        std::hint::black_box(hermod_spam::parse(&raw));
    }
    let parse = t.elapsed() / 200;
    let message = hermod_spam::parse(&raw).unwrap();
    let t = std::time::Instant::now();
    for _ in 0..200 {
        std::hint::black_box(hermod_spam::tokens::tokenize(&message));
    }
    let tokenize = t.elapsed() / 200;
    let model = Model::default();
    let t = std::time::Instant::now();
    for _ in 0..200 {
        std::hint::black_box(hermod_spam::scan(&raw, &model, 0));
    }
    println!(
        "{} bytes: parse {parse:?}, tokenize {tokenize:?}, scan {:?}",
        raw.len(),
        t.elapsed() / 200
    );
}
