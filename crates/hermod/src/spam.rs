//! `hermod spam train` and `hermod spam check`: teaching the server-wide Bayesian model from
//! folders of known mail, and scoring message files the way delivery would (content only:
//! no DNS checks for a file).

use crate::admin::open_store;
use anyhow::{Context, Result, bail};
use clap::Subcommand;
use hermod_config::Config;
use hermod_message::unix_now;
use hermod_spam::{Action, Class, Model, Thresholds};
use hermod_store::{BayesCounts, BlockingStore, LearnedMessage};
use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum SpamAction {
    /// Learn from known spam and known good mail: each PATH is a Maildir, an mbox file, or a
    /// folder of message files (searched recursively).
    Train {
        #[arg(long = "spam", value_name = "PATH")]
        spam: Vec<PathBuf>,
        #[arg(long = "ham", value_name = "PATH")]
        ham: Vec<PathBuf>,
    },
    /// Score message files: one line each, "spam" or "ham", the score, and the reasons.
    Check {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

pub fn spam(config: &Config, action: SpamAction) -> Result<()> {
    match action {
        SpamAction::Train { spam, ham } => train(config, &spam, &ham),
        SpamAction::Check { files } => check(config, &files),
    }
}

fn train(config: &Config, spam: &[PathBuf], ham: &[PathBuf]) -> Result<()> {
    if spam.is_empty() && ham.is_empty() {
        bail!("nothing to learn: give --spam PATH and/or --ham PATH");
    }
    let store = open_store(config)?;
    let mut training = Training::default();
    for (paths, class) in [(spam, Class::Spam), (ham, Class::Ham)] {
        for path in paths {
            let messages = messages_at(path)?;
            let digests: Vec<Vec<u8>> = messages.iter().map(|m| digest(m)).collect();
            let before = store.bayes_seen(None, &digests)?;
            for ((message, digest), before) in messages.iter().zip(digests).zip(before) {
                training.add(message, digest, before, class);
            }
        }
    }
    store.bayes_learn(None, &training.update(), &training.seen)?;
    let total = store.bayes_load(None)?;
    println!(
        "learned {} spam and {} ham messages ({} moved from the other class, {} already known); \
         the model now knows {} spam, {} ham, {} tokens",
        training.learned[0],
        training.learned[1],
        training.moved,
        training.known,
        total.spam_messages,
        total.ham_messages,
        total.tokens.len()
    );
    Ok(())
}

/// One run of `spam train`: what to add, what to take back (messages learned before as the
/// other class, as `sa-learn` does), and which messages it learned.
#[derive(Default)]
struct Training {
    learn: Model,
    forget: Model,
    seen: Vec<LearnedMessage>,
    /// What this run learned each digest as, over what the store said before it.
    this_run: HashMap<Vec<u8>, bool>,
    learned: [usize; 2],
    moved: usize,
    known: usize,
}

impl Training {
    fn add(&mut self, message: &[u8], digest: Vec<u8>, before: Option<bool>, class: Class) {
        let spam = class == Class::Spam;
        let previous = self.this_run.get(&digest).copied().or(before);
        if previous == Some(spam) {
            self.known += 1;
            return;
        }
        let Some(parsed) = hermod_spam::parse(message) else {
            return;
        };
        let tokens = hermod_spam::tokens::tokenize(&parsed);
        if let Some(was_spam) = previous {
            let was = if was_spam { Class::Spam } else { Class::Ham };
            self.forget.learn(&tokens, was);
            self.moved += 1;
        }
        self.learn.learn(&tokens, class);
        self.learned[usize::from(!spam)] += 1;
        self.this_run.insert(digest.clone(), spam);
        self.seen.push(LearnedMessage { digest, spam });
    }

    /// The counts to add: what was learned less what was taken back.
    fn update(&self) -> BayesCounts {
        let mut tokens: HashMap<u64, (i64, i64)> = HashMap::new();
        for (model, sign) in [(&self.learn, 1), (&self.forget, -1)] {
            for (token, counts) in model.iter() {
                let entry = tokens.entry(token).or_default();
                entry.0 += sign * i64::from(counts.spam);
                entry.1 += sign * i64::from(counts.ham);
            }
        }
        BayesCounts {
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
fn digest(message: &[u8]) -> Vec<u8> {
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

fn check(config: &Config, files: &[PathBuf]) -> Result<()> {
    let store = open_store(config)?;
    let model = load_model(&store)?;
    if !model.is_trained() {
        eprintln!(
            "hermod: the Bayesian filter is untrained ({} spam, {} ham learned; it needs {} of each): rules only",
            model.spam_messages,
            model.ham_messages,
            hermod_spam::bayes::MIN_TRAINED
        );
    }
    let thresholds = Thresholds {
        junk: config.spam.junk_threshold,
        reject: config.spam.reject_threshold,
    };
    let now = unix_now();
    for file in files {
        let raw = fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
        let verdict = hermod_spam::scan(&raw, &model, now);
        let word = match verdict.action(thresholds) {
            Action::Inbox => "ham",
            Action::Junk | Action::Reject => "spam",
        };
        println!(
            "{word} {} {} {}",
            verdict.score(),
            verdict.reasons(),
            file.display()
        );
    }
    Ok(())
}

pub fn load_model(store: &dyn BlockingStore) -> Result<Model> {
    let counts = store.bayes_load(None)?;
    Ok(Model::from_counts(
        counts.spam_messages,
        counts.ham_messages,
        counts.tokens,
    ))
}

/// The messages at `path`: a Maildir's cur/ and new/, every file under a folder, the
/// messages of an mbox file, or one message file.
fn messages_at(path: &Path) -> Result<Vec<Vec<u8>>> {
    let meta = fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if meta.is_dir() {
        let mut files = Vec::new();
        collect_files(path, &mut files)?;
        files.sort();
        return files
            .iter()
            .map(|f| fs::read(f).with_context(|| format!("cannot read {}", f.display())))
            .collect();
    }
    let content = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if content.starts_with(b"From ") {
        Ok(crate::maildir::split_mbox(&content))
    } else {
        Ok(vec![content])
    }
}

/// Every regular file below `dir` (a Maildir's tmp/ and hidden files excepted).
fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') || name == "tmp" {
            continue;
        }
        let kind = entry.file_type()?;
        if kind.is_dir() {
            collect_files(&entry.path(), out)?;
        } else if kind.is_file() {
            out.push(entry.path());
        }
    }
    Ok(())
}
