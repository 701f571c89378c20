//! `hermod spam train` and `hermod spam check`: teaching the server-wide Bayesian model from
//! folders of known mail, and scoring message files the way delivery would (content only:
//! no DNS checks for a file).

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use hermod_config::Config;
use hermod_core::netlist::{ListKind, NetList};
use hermod_message::unix_now;
use hermod_spam::training::{HELD_OUT_FOLDS, TUNING, Training, digest};
use hermod_spam::{Action, Calibration, Class, Model, Thresholds};
use hermod_store::{SpamData, Store, StoreError};
use hermod_types::Cidr;
use std::fs;
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum SpamAction {
    /// Learn from known spam and known good mail: each PATH is a Maildir, an mbox file, or a
    /// folder of message files (searched recursively). Then the messages given that the
    /// filter would still misjudge are taught again, in up to 20 passes; and with at least
    /// 1000 ham and 100 spam given, the probability from which the filter alone files into
    /// Junk is chosen anew, on the batch judged in five parts by models of the rest.
    Train {
        #[arg(long = "spam", value_name = "PATH")]
        spam: Vec<PathBuf>,
        #[arg(long = "ham", value_name = "PATH")]
        ham: Vec<PathBuf>,
    },
    /// Manage the block list file (`[spam] blocklist_file`): networks refused at SMTP
    /// connect.
    Block {
        #[command(subcommand)]
        action: ListAction,
    },
    /// Manage the allow list file (`[spam] allowlist_file`): networks never refused at
    /// connect nor filed or refused as spam (the allow list wins over the block lists).
    Allow {
        #[command(subcommand)]
        action: ListAction,
    },
    /// Teach ADDRESS's own filter that every message in its Junk folder is spam (what the
    /// account's spam settings page does; a message learned before counts once).
    LearnJunk { address: String },
    /// Score message files: one line each, "spam" or "ham", the score, and the reasons.
    Check {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Subcommand)]
pub enum ListAction {
    /// Add NETWORK (an address or CIDR network) to the list file.
    Add { network: String },
    /// Take NETWORK off the list file.
    Remove { network: String },
    /// The networks in the list file.
    List,
}

pub async fn spam(config: &Config, store: &dyn Store, action: SpamAction) -> Result<()> {
    match action {
        SpamAction::Train { spam, ham } => train(config, store, &spam, &ham).await,
        SpamAction::Check { files } => check(config, store, &files).await,
        SpamAction::LearnJunk { address } => learn_junk(config, store, &address).await,
        SpamAction::Block { action } => edit_list(config, ListKind::Block, action),
        SpamAction::Allow { action } => edit_list(config, ListKind::Allow, action),
    }
}

/// `hermod spam learn-junk ADDRESS`: the account's Junk folder learned as spam, through the
/// same function as the web page's button.
async fn learn_junk(config: &Config, store: &dyn Store, address: &str) -> Result<()> {
    let address = crate::admin::parse_address(address)?;
    let Some(user) = store.user(&address).await? else {
        bail!("no account {address}");
    };
    let lessons =
        hermod_server::learn_junk_folder(store, user.id, config.spam.max_scan_size).await?;
    println!(
        "{address}: {} message(s) in Junk, {} learned as spam now ({} known already)",
        lessons.in_junk,
        lessons.learned,
        lessons.in_junk - lessons.learned
    );
    Ok(())
}

/// Edits `[spam] blocklist_file` or `allowlist_file`; the running server reads them again
/// on SIGHUP (the web interface's spam page makes it do so at once).
fn edit_list(config: &Config, kind: ListKind, action: ListAction) -> Result<()> {
    let file = match kind {
        ListKind::Block => config.spam.blocklist_file.as_deref(),
        ListKind::Allow => config.spam.allowlist_file.as_deref(),
    };
    let list = NetList::configured(kind, file)?;
    let parse = |network: &str| {
        Cidr::parse(network).with_context(|| format!("invalid network {network:?}"))
    };
    match action {
        ListAction::Add { network } => list.add(parse(&network)?)?,
        ListAction::Remove { network } => list.remove(parse(&network)?)?,
        ListAction::List => {
            for network in list.list()? {
                println!("{network}");
            }
            return Ok(());
        }
    }
    eprintln!("saved; a running server applies it when sent SIGHUP");
    Ok(())
}

async fn train(
    config: &Config,
    store: &dyn Store,
    spam: &[PathBuf],
    ham: &[PathBuf],
) -> Result<()> {
    if spam.is_empty() && ham.is_empty() {
        bail!("nothing to learn: give --spam PATH and/or --ham PATH");
    }
    let mut batch = Vec::new();
    for (paths, class) in [(spam, Class::Spam), (ham, Class::Ham)] {
        for path in paths {
            batch.extend(messages_at(path)?.into_iter().map(|m| (m, class)));
        }
    }
    let digests: Vec<Vec<u8>> = batch.iter().map(|(m, _)| digest(m)).collect();
    let mut attempt = 1;
    let (training, calibration, passes) = loop {
        let learned = learn_batch(config, store, &batch, &digests).await?;
        let (counts, seen) = hermod_server::stored_lesson(&learned.0);
        match store.bayes_learn(None, &counts, &seen).await {
            Err(StoreError::LessonRaced) if attempt < TRAIN_ATTEMPTS => {
                eprintln!(
                    "another lesson changed the model meanwhile: working the batch out again"
                );
                attempt += 1;
            }
            written => break written.map(|()| learned)?,
        }
    };
    if let Some(calibration) = calibration {
        store.bayes_set_calibration(&calibration.to_text()).await?;
    }
    let total = store.bayes_load(None).await?;
    println!(
        "learned {} spam and {} ham messages ({} moved from the other class, {} already known), \
         {} again to tune the model ({passes} passes); \
         the model now knows {} spam, {} ham, {} tokens",
        training.learned[0],
        training.learned[1],
        training.moved,
        training.known,
        training.tuned,
        total.spam_messages,
        total.ham_messages,
        total.tokens.len()
    );
    match calibration {
        Some(c) => println!(
            "junk cut {:.4}: of {} spam and {} ham judged held out ({HELD_OUT_FOLDS} parts, each \
             by a model of the rest), {} spam and {} ham would be filed into Junk",
            c.junk_cut, c.spam, c.ham, c.caught, c.false_positives
        ),
        None => println!(
            "junk cut unchanged ({:.4}): fitting one takes at least {} ham and {} spam in one \
             batch",
            stored_calibration(store).await?.junk_cut,
            hermod_spam::calibration::MIN_HAM,
            hermod_spam::calibration::MIN_SPAM
        ),
    }
    Ok(())
}

/// How often `train` works its batch out again when other learners keep changing the model.
const TRAIN_ATTEMPTS: usize = 3;

/// What a batch teaches the store's model as it is now: the lessons (tuned), the junk cut
/// fitted on held-out verdicts (before tuning teaches the batch), and the tuning's passes.
async fn learn_batch(
    config: &Config,
    store: &dyn Store,
    batch: &[(Vec<u8>, Class)],
    digests: &[Vec<u8>],
) -> Result<(Training, Option<Calibration>, usize)> {
    // The model before this batch: tuning scores the batch against it plus the batch.
    let before = load_model(store).await?;
    let seen = store.bayes_seen(None, digests).await?;
    let mut training = Training::default();
    for (((message, class), digest), seen) in batch.iter().zip(digests).zip(seen) {
        training.add(message, digest.clone(), seen, *class);
    }
    let held_out = training.held_out(&before, &TUNING, HELD_OUT_FOLDS);
    let calibration = Calibration::fit(&held_out, config.spam.junk_threshold);
    let passes = training.tune(before, &TUNING);
    Ok((training, calibration, passes))
}

async fn check(config: &Config, store: &dyn Store, files: &[PathBuf]) -> Result<()> {
    let model = load_model(store).await?;
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

pub async fn load_model(store: &dyn SpamData) -> Result<Model> {
    let counts = store.bayes_load(None).await?;
    let mut model = Model::from_counts(counts.spam_messages, counts.ham_messages, counts.tokens);
    model.calibration = stored_calibration(store).await?;
    Ok(model)
}

/// The stored calibration of the server-wide model, or the default.
async fn stored_calibration(store: &dyn SpamData) -> Result<Calibration> {
    let stored = store.bayes_calibration().await?;
    Ok(stored
        .as_deref()
        .and_then(Calibration::from_text)
        .unwrap_or_default())
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
