//! W6: one user's large INBOX (100,000 messages in the full run). Times SELECT, a full-text
//! SEARCH (BODY, then TEXT) for a word a known share of the messages carry, SORT (DATE), and
//! a QRESYNC resync after a second session changed flags. SORT and QRESYNC are skipped, with
//! a note in the output, when the server does not advertise them.

use crate::imap::{Client, count_set};
use anyhow::{Result, bail};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Instant;

pub struct Plan {
    pub addr: SocketAddr,
    pub user: String,
    pub password: String,
    /// The word SEARCH looks for.
    pub word: String,
    /// How many messages carry it; the search must find exactly these (when given).
    pub expect_hits: Option<usize>,
    /// Flag changes made by the second session before the QRESYNC resync.
    pub changes: usize,
    /// Shifts which messages get their flags changed, so repeated runs on one mailbox each
    /// change messages the previous runs did not.
    pub offset: usize,
}

/// Results as `key=value` pairs, in order.
#[derive(Default)]
struct Report(String);

impl Report {
    fn put(&mut self, key: &str, value: impl std::fmt::Display) {
        let _ = write!(self.0, " {key}={value}");
    }

    fn time(&mut self, key: &str, started: Instant) {
        self.put(key, format!("{:.4}", started.elapsed().as_secs_f64()));
    }
}

pub async fn run(plan: Plan) -> Result<()> {
    let mut report = Report::default();
    // The first SELECT after the fill may open or build what later ones reuse; it is reported
    // but the timed one is the next, in a session of its own.
    let mut client = Client::login(plan.addr, &plan.user, &plan.password).await?;
    let caps = client.capabilities().await?;
    let started = Instant::now();
    client.select("").await?;
    report.time("first_select_seconds", started);
    client.logout().await?;

    let mut client = Client::login(plan.addr, &plan.user, &plan.password).await?;
    let started = Instant::now();
    let messages = client.select("").await?.exists;
    report.time("select_seconds", started);
    report.put("messages", messages);
    for key in ["BODY", "TEXT"] {
        let started = Instant::now();
        let hits = search(&mut client, &format!("SEARCH {key} \"{}\"", plan.word)).await?;
        report.time(&format!("search_{}_seconds", key.to_lowercase()), started);
        report.put(&format!("search_{}_hits", key.to_lowercase()), hits);
        if plan
            .expect_hits
            .is_some_and(|expected| hits != expected as u64)
        {
            bail!(
                "SEARCH {key} found {hits} messages, expected {:?}",
                plan.expect_hits
            );
        }
    }
    if caps.iter().any(|c| c == "SORT") {
        let started = Instant::now();
        let sorted = search(&mut client, "SORT (DATE) UTF-8 ALL").await?;
        report.time("sort_seconds", started);
        if sorted != messages {
            bail!("SORT returned {sorted} of {messages} messages");
        }
    } else {
        report.put("sort", "not-advertised");
    }
    client.logout().await?;

    if caps.iter().any(|c| c == "QRESYNC") {
        qresync(&plan, messages, &mut report).await?;
    } else {
        report.put("qresync", "not-advertised");
    }
    println!("workload=imap-big{}", report.0);
    Ok(())
}

/// Runs a SEARCH or SORT; how many numbers its untagged answers held.
async fn search(client: &mut Client, command: &str) -> Result<u64> {
    let word = if command.starts_with("SORT") {
        "SORT"
    } else {
        "SEARCH"
    };
    let mut found = 0;
    client
        .run_with(command, |line| {
            if let Some(numbers) = line.keyword(word) {
                found += count_set(numbers);
            }
        })
        .await?;
    Ok(found)
}

/// A client that was offline comes back: it knew the mailbox at some MODSEQ, a second
/// session changed `changes` messages' flags since, and its `SELECT INBOX (QRESYNC ...)`
/// brings it up to date in one round trip. Times that SELECT, counts what it sent back.
async fn qresync(plan: &Plan, messages: u64, report: &mut Report) -> Result<()> {
    let mut offline = Client::login(plan.addr, &plan.user, &plan.password).await?;
    offline.run("ENABLE QRESYNC").await?;
    let known = offline.select("").await?;
    offline.logout().await?;
    if known.uidvalidity == 0 || known.highestmodseq == 0 {
        bail!("SELECT after ENABLE QRESYNC gave no UIDVALIDITY or HIGHESTMODSEQ");
    }

    let mut other = Client::login(plan.addr, &plan.user, &plan.password).await?;
    other.select("").await?;
    let changes = plan.changes.min(messages as usize);
    let step = (messages as usize / changes.max(1)).max(1);
    let stores: Vec<String> = (0..changes)
        .map(|i| {
            let seq = 1 + (plan.offset + i * step) % messages as usize;
            format!("STORE {seq} +FLAGS.SILENT (\\Flagged)")
        })
        .collect();
    let started = Instant::now();
    for tag in other.pipeline(&stores).await? {
        other.finish(&tag, |_| {}).await?;
    }
    report.time("flag_changes_seconds", started);
    other.logout().await?;

    let mut back = Client::login(plan.addr, &plan.user, &plan.password).await?;
    back.run("ENABLE QRESYNC").await?;
    let args = format!(" (QRESYNC ({} {}))", known.uidvalidity, known.highestmodseq);
    let started = Instant::now();
    let resync = back.select(&args).await?;
    report.time("qresync_seconds", started);
    report.put("qresync_changes", changes);
    report.put("qresync_fetches", resync.fetches);
    report.put("qresync_vanished", resync.vanished);
    back.logout().await?;
    if resync.fetches < changes as u64 {
        bail!(
            "QRESYNC SELECT reported {} changed messages, {changes} were changed",
            resync.fetches
        );
    }
    Ok(())
}
