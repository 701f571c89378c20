//! Group commit: deliveries from many sessions share one index transaction and one fsync.
//!
//! Each delivering thread seals its own body (a large one is fsynced as a file, in parallel; a
//! small one travels inside the job and is written in the transaction), then hands a job to
//! this thread and waits. The thread takes every job that queued up while the previous commit
//! was in flight, fsyncs the directories the new bodies were linked into, applies each job in
//! a savepoint (one bad job, e.g. over quota, fails alone) and commits once. Throughput grows
//! with concurrency instead of stalling at the disk's fsync rate.

use super::mailbox::file_message;
use crate::blob::sync_dir;
use crate::notify::Notifier;
use crate::{DeliveryTarget, Outbound, Result, StoreError, Submitted, UserId};
use rusqlite::Connection;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, mpsc};
use tokio::sync::oneshot;

/// Most jobs in one transaction; bounds the latency of the first job in a large batch.
const MAX_BATCH: usize = 512;

pub(crate) struct Job {
    pub blob_id: String,
    pub size: u64,
    /// The body itself when it is stored inline.
    pub data: Option<Vec<u8>>,
    /// The `blobs/xx` folder a file body was linked into.
    pub dir: Option<PathBuf>,
    pub targets: Vec<DeliveryTarget>,
    /// Further bodies filed in the same savepoint: every one is kept or none (IMAP's
    /// MULTIAPPEND). Their deliveries follow the job's own, in order.
    pub more: Vec<Part>,
    pub outbound: Option<Outbound>,
    /// What else the same commit does to the queue (a report and what it reports on go
    /// together, so a crash cannot send it twice).
    pub then: Option<QueueAfter>,
    pub reply: oneshot::Sender<Result<Submitted>>,
}

/// One more body of a job, with where it goes.
pub(crate) struct Part {
    pub blob_id: String,
    pub size: u64,
    pub data: Option<Vec<u8>>,
    pub dir: Option<PathBuf>,
    pub targets: Vec<DeliveryTarget>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum QueueAfter {
    /// Remove this entry: the job is its bounce.
    Remove(i64),
    /// Remember that this entry's sender was told of the delay: the job is the notice.
    DelayNotified(i64),
}

pub(crate) struct Committer {
    jobs: mpsc::Sender<Job>,
    poke: mpsc::SyncSender<()>,
}

impl Committer {
    /// Starts the commit thread on `conn` and a checkpoint thread on `checkpoints` (one
    /// connection per database file: the index, and the bulk guard's). Each commit
    /// announces the users whose mail it changed to `notifier`.
    pub(crate) fn start(
        conn: Connection,
        checkpoints: Vec<Connection>,
        notifier: Arc<Notifier>,
    ) -> Result<Committer> {
        // Copying the WAL back into the database runs beside the commit thread, so commits
        // keep flowing. The commit thread still checkpoints once the WAL reaches
        // `COMMITTER_CHECKPOINT` pages: a checkpoint that finds nothing left to copy lets
        // the next commit start the WAL over, which a checkpoint racing new commits never
        // does (the WAL would grow without end under steady load).
        conn.pragma_update(None, "wal_autocheckpoint", COMMITTER_CHECKPOINT)?;
        // Every delivery walks the same index pages (mailboxes, users, the ends of the
        // message and body trees): 16 MiB of cache keeps them in memory as the store grows.
        conn.pragma_update(None, "cache_size", -16 * 1024)?;
        let (poke, pokes) = mpsc::sync_channel(1);
        spawn("store-checkpoint", move || checkpoint(checkpoints, pokes))?;
        let (jobs, queue) = mpsc::channel();
        let commits_poke = poke.clone();
        spawn("store-commit", move || {
            run(conn, queue, commits_poke, &notifier)
        })?;
        Ok(Committer { jobs, poke })
    }

    /// Asks the checkpoint thread to copy the WAL back soon (after writes made elsewhere).
    pub(crate) fn checkpoint_soon(&self) {
        let _ = self.poke.try_send(());
    }

    /// Queues a job; the answer comes once it is committed (or failed). Async callers await
    /// it (no thread waits), blocking ones wait with [`oneshot::Receiver::blocking_recv`].
    pub(crate) fn send(&self, job: Job) -> Result<()> {
        self.jobs.send(job).map_err(|_| StoreError::CommitterGone)
    }
}

fn spawn(name: &str, work: impl FnOnce() + Send + 'static) -> Result<()> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(work)
        .map(drop)
        .map_err(|e| StoreError::Io {
            path: format!("{name} thread").into(),
            source: e,
        })
}

fn run(
    mut conn: Connection,
    queue: mpsc::Receiver<Job>,
    poke: mpsc::SyncSender<()>,
    notifier: &Notifier,
) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        commit_batch(&mut conn, batch, notifier);
        // A poke already waiting covers this commit too.
        let _ = poke.try_send(());
    }
}

/// WAL pages after which the commit thread checkpoints (finishing what the checkpoint
/// thread left) so that the WAL starts over: 16 MiB.
const COMMITTER_CHECKPOINT: i64 = 4096;

/// Pause between checkpoints under load: each one then copies many commits' pages at once,
/// and a page changed by several commits is written to the database only once.
const CHECKPOINT_PAUSE: std::time::Duration = std::time::Duration::from_millis(50);

/// Copies committed pages from each file's WAL into the database after commits. PASSIVE
/// never waits for readers or writers; a commit that finds the WAL fully copied starts it
/// over.
fn checkpoint(files: Vec<Connection>, pokes: mpsc::Receiver<()>) {
    while pokes.recv().is_ok() {
        for conn in &files {
            if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                tracing::warn!(error = %e, "WAL checkpoint failed");
            }
        }
        std::thread::sleep(CHECKPOINT_PAUSE);
    }
}

fn commit_batch(conn: &mut Connection, batch: Vec<Job>, notifier: &Notifier) {
    let started = std::time::Instant::now();
    let dirs: BTreeSet<&PathBuf> = batch
        .iter()
        .flat_map(|j| j.more.iter().map(|p| &p.dir).chain([&j.dir]))
        .flatten()
        .collect();
    let synced = dirs.into_iter().find_map(|d| sync_dir(d).err());
    if let Some(err) = synced {
        let msg = err.to_string();
        for job in batch {
            let _ = job
                .reply
                .send(Err(StoreError::Corrupt(format!("fsync failed: {msg}"))));
        }
        return;
    }
    let outcomes = match apply_all(conn, &batch) {
        Ok(outcomes) => announce(outcomes, notifier),
        Err(err) => {
            tracing::error!(error = %err, jobs = batch.len(), "group commit failed");
            let msg = err.to_string();
            batch
                .iter()
                .map(|_| Err(StoreError::Corrupt(format!("commit failed: {msg}"))))
                .collect()
        }
    };
    hermod_types::metrics::metrics()
        .store_commit
        .observe(started.elapsed());
    for (job, outcome) in batch.into_iter().zip(outcomes) {
        let _ = job.reply.send(outcome);
    }
}

/// Deliveries, and the mail generation each left its user at.
type Filed = (Vec<crate::Delivered>, Vec<(UserId, i64)>);

/// Inserts one body (its octets too when inline) and files it into every target; returns
/// the deliveries and the mail generation each left its user at.
fn file_body(
    conn: &Connection,
    blob_id: &str,
    size: u64,
    data: Option<&[u8]>,
    targets: &[DeliveryTarget],
) -> Result<Filed> {
    conn.prepare_cached("INSERT INTO blobs (id, size, refs, inline) VALUES (?1, ?2, 0, ?3)")?
        .execute(rusqlite::params![blob_id, size as i64, data.is_some()])?;
    if let Some(data) = data {
        conn.prepare_cached("INSERT INTO blob_data (id, data) VALUES (?1, ?2)")?
            .execute(rusqlite::params![blob_id, data])?;
    }
    let filed = targets
        .iter()
        .map(|t| {
            let (delivered, generation) = file_message(conn, blob_id, size, t)?;
            Ok((delivered, (t.user, generation)))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(filed.into_iter().unzip())
}

/// A job's outcome with the mail generation it left each user at.
type Applied = Result<(Submitted, Vec<(UserId, i64)>)>;

/// Wakes the subscribers of every user the committed batch changed (once per user, with the
/// newest generation), before the deliveries are acknowledged.
fn announce(outcomes: Vec<Applied>, notifier: &Notifier) -> Vec<Result<Submitted>> {
    let mut newest: BTreeMap<UserId, i64> = BTreeMap::new();
    let outcomes = outcomes
        .into_iter()
        .map(|outcome| {
            outcome.map(|(submitted, generations)| {
                for (user, generation) in generations {
                    let entry = newest.entry(user).or_insert(generation);
                    *entry = (*entry).max(generation);
                }
                submitted
            })
        })
        .collect();
    for (user, generation) in newest {
        notifier.announce(user, generation);
    }
    outcomes
}

fn apply_all(conn: &mut Connection, batch: &[Job]) -> Result<Vec<Applied>> {
    let mut tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let mut outcomes = Vec::with_capacity(batch.len());
    for job in batch {
        let mut sp = tx.savepoint()?;
        let outcome = apply_job(&sp, job);
        if outcome.is_ok() {
            sp.commit()?;
        } else {
            sp.rollback()?;
        }
        outcomes.push(outcome);
    }
    tx.commit()?;
    Ok(outcomes)
}

fn apply_job(conn: &Connection, job: &Job) -> Applied {
    let (mut delivered, mut generations) = file_body(
        conn,
        &job.blob_id,
        job.size,
        job.data.as_deref(),
        &job.targets,
    )?;
    for part in &job.more {
        let (d, g) = file_body(
            conn,
            &part.blob_id,
            part.size,
            part.data.as_deref(),
            &part.targets,
        )?;
        delivered.extend(d);
        generations.extend(g);
    }
    let queue_id = match &job.outbound {
        Some(outbound) if !outbound.recipients.is_empty() => {
            Some(super::queue::enqueue(conn, &job.blob_id, outbound)?)
        }
        _ => None,
    };
    // A report whose entry is gone (another process finished it) or whose delay was told
    // already is not queued again: the savepoint rolls the whole job back.
    let done = match job.then {
        Some(QueueAfter::Remove(id)) => super::queue::remove(conn, id)?.then_some(()).ok_or(id),
        Some(QueueAfter::DelayNotified(id)) => super::queue::mark_delay_notified(conn, id)?
            .then_some(())
            .ok_or(id),
        None => Ok(()),
    };
    done.map_err(StoreError::QueueEntryGone)?;
    let submitted = Submitted {
        delivered,
        queue_id,
    };
    Ok((submitted, generations))
}
