//! Backups of the embedded store taken while a server runs, and their restore.
//!
//! The index is copied with SQLite's online backup API in one step: in WAL mode that is a
//! single read transaction, which never blocks the commit thread (its checkpoints are
//! PASSIVE), so deliveries go on while the copy runs and the copy is the index as of one
//! commit. Stepping page by page with pauses would not help anyone: every commit by another
//! connection restarts a stepped backup, so under steady delivery it might never finish.
//!
//! File bodies are copied after the snapshot. They never change once written, but one the
//! snapshot references may be expunged and unlinked before it is copied. A body whose file
//! could be opened is safe from then on (an open file outlives its name). A *referenced* body
//! whose file is gone means the snapshot is already out of date: the whole snapshot is taken
//! again (bodies copied before are kept), up to [`ATTEMPTS`] times, and the backup fails
//! rather than finish with a message that has no body. The index is written as
//! `hermod.db.partial` and renamed to `hermod.db` only after every body is copied and
//! fsynced, so a directory holding `hermod.db` is a complete backup.

use crate::blob::{BlobDir, private_dir, read_dir, sync_dir};
use crate::{BlobId, Result, StoreError};
use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};
use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

/// The index's file name, in a data directory and in a backup.
const INDEX: &str = "hermod.db";
/// The index of a backup still being made.
const PARTIAL: &str = "hermod.db.partial";
/// Snapshots taken before giving up on bodies that keep disappearing.
const ATTEMPTS: u32 = 5;

/// What a backup holds.
#[derive(Debug, Clone)]
pub struct BackupReport {
    /// When the index snapshot was taken: every commit before it is in the backup.
    pub snapshot: SystemTime,
    /// How long the snapshot's read transaction lasted.
    pub snapshot_took: Duration,
    /// Snapshots taken (more than one when bodies were expunged during the copy).
    pub attempts: u32,
    pub contents: Contents,
}

/// What a restore put in place.
#[derive(Debug, Clone)]
pub struct RestoreReport {
    pub contents: Contents,
}

/// Counts of one index and its bodies.
#[derive(Debug, Clone, Default)]
pub struct Contents {
    pub users: u64,
    pub messages: u64,
    /// Bodies kept inside the index, and their bytes.
    pub inline_bodies: u64,
    pub inline_bytes: u64,
    /// Bodies kept as files, and their bytes.
    pub file_bodies: u64,
    pub file_bytes: u64,
    /// The index file's size.
    pub index_bytes: u64,
}

/// A file body named by the index.
struct FileBody {
    id: BlobId,
    size: u64,
    /// Whether a message or queue entry uses it (a body with no references is garbage the
    /// server is about to remove; its file may already be gone).
    referenced: bool,
}

/// Copies the store in `data_dir` (which a server may be using) into `dest`, a folder that
/// the caller has checked is new or empty.
pub fn backup(data_dir: &Path, dest: &Path) -> Result<BackupReport> {
    let source = data_dir.join(INDEX);
    if !source.is_file() {
        return Err(StoreError::Backup(format!(
            "no store to back up: {} does not exist",
            source.display()
        )));
    }
    // Read-write without create: a WAL reader needs the shared-memory file, and a missing
    // index must not be made empty.
    let live = Connection::open_with_flags(
        &source,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    live.busy_timeout(Duration::from_secs(30))?;
    private_dir(dest)?;
    let partial = dest.join(PARTIAL);
    let (from, to) = (BlobDir::at(data_dir), BlobDir::at(dest));
    for attempt in 1..=ATTEMPTS {
        let snapshot = SystemTime::now();
        let started = Instant::now();
        snapshot_index(&live, &partial)?;
        let snapshot_took = started.elapsed();
        let copy = Connection::open(&partial)?;
        let bodies = file_bodies(&copy)?;
        if copy_bodies(&from, &to, &bodies)? > 0 {
            continue;
        }
        let contents = contents(&copy, &partial)?;
        drop(copy);
        prune(&to, &bodies)?;
        File::open(&partial)
            .and_then(|f| f.sync_all())
            .map_err(StoreError::io(&partial))?;
        let index = dest.join(INDEX);
        fs::rename(&partial, &index).map_err(StoreError::io(&index))?;
        sync_dir(dest)?;
        return Ok(BackupReport {
            snapshot,
            snapshot_took,
            attempts: attempt,
            contents,
        });
    }
    Err(StoreError::Backup(format!(
        "message bodies were expunged faster than they could be copied in {ATTEMPTS} \
         snapshots; nothing was lost, run the backup again"
    )))
}

/// Copies the live index into `partial` as one consistent snapshot.
fn snapshot_index(live: &Connection, partial: &Path) -> Result<()> {
    for stale in [
        partial.to_owned(),
        partial.with_extension("partial-journal"),
    ] {
        match fs::remove_file(&stale) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                return Err(StoreError::io(stale)(e));
            }
            _ => {}
        }
    }
    // Made first so the copy of the password hashes is private from its first byte.
    create_private(partial)?;
    let mut copy = Connection::open(partial)?;
    {
        let backup = Backup::new(live, &mut copy)?;
        // All pages in one step: one read transaction, so one snapshot (see the module).
        // A WAL reader is never kept out for long; a store that stays locked is not right.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match backup.step(-1)? {
                StepResult::Done => break,
                StepResult::More => {}
                _ if Instant::now() > deadline => {
                    return Err(StoreError::Backup(
                        "the index stayed locked for a minute; nothing was copied".into(),
                    ));
                }
                _ => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }
    // One self-contained file: no WAL beside it. The store turns WAL on again at open.
    copy.pragma_update(None, "journal_mode", "DELETE")?;
    Ok(())
}

fn create_private(path: &Path) -> Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(StoreError::io(path))
}

fn file_bodies(index: &Connection) -> Result<Vec<FileBody>> {
    let mut stmt = index.prepare("SELECT id, size, refs > 0 FROM blobs WHERE NOT inline")?;
    let rows = stmt.query_map([], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get(2)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, size, referenced) = row?;
        let id = BlobId::parse(&id)
            .ok_or_else(|| StoreError::Corrupt(format!("body id {id:?} in the index")))?;
        let size = u64::try_from(size)
            .map_err(|_| StoreError::Corrupt(format!("body {id} has size {size}")))?;
        out.push(FileBody {
            id,
            size,
            referenced,
        });
    }
    Ok(out)
}

/// Copies the bodies `to` lacks and returns how many referenced ones were gone from `from`.
fn copy_bodies(from: &BlobDir, to: &BlobDir, bodies: &[FileBody]) -> Result<usize> {
    let mut missing = 0;
    let mut shards = HashSet::new();
    for body in bodies {
        let target = to.path(&body.id);
        // Kept from an earlier attempt: bodies never change, so the same id is the same body.
        if fs::metadata(&target).is_ok_and(|m| m.len() == body.size) {
            continue;
        }
        let Some(source) = open_body(from, &body.id)? else {
            missing += usize::from(body.referenced);
            continue;
        };
        let shard = to.shard_dir(&body.id);
        if shards.insert(shard.clone()) {
            private_dir(&shard)?;
        }
        let copied = copy_file(source, &target)?;
        if copied != body.size {
            return Err(StoreError::Corrupt(format!(
                "body {} is {copied} bytes on disk, the index says {}",
                body.id, body.size
            )));
        }
    }
    for shard in &shards {
        sync_dir(shard)?;
    }
    if !shards.is_empty() {
        sync_dir(to.root())?;
    }
    Ok(missing)
}

/// Opens a live body where the store keeps it (or where an older hermod did); `None` once it
/// has been removed.
fn open_body(from: &BlobDir, id: &BlobId) -> Result<Option<File>> {
    for path in [from.path(id), from.old_path(id)] {
        match File::open(&path) {
            Ok(file) => return Ok(Some(file)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::io(path)(e)),
        }
    }
    Ok(None)
}

/// Writes `source` to a new private file at `target`, fsynced; returns the bytes copied.
fn copy_file(mut source: File, target: &Path) -> Result<u64> {
    let _ = fs::remove_file(target);
    let mut out = create_private(target)?;
    let copied = io::copy(&mut source, &mut out).map_err(StoreError::io(target))?;
    out.sync_all().map_err(StoreError::io(target))?;
    Ok(copied)
}

/// Removes bodies an earlier attempt copied that the final snapshot no longer names.
fn prune(to: &BlobDir, bodies: &[FileBody]) -> Result<()> {
    if !to.root().is_dir() {
        return Ok(());
    }
    let keep: HashSet<&str> = bodies.iter().map(|b| b.id.as_str()).collect();
    for shard in to.shards()? {
        for entry in read_dir(&shard)? {
            let name = entry.file_name();
            if !keep.contains(name.to_string_lossy().as_ref()) {
                fs::remove_file(entry.path()).map_err(StoreError::io(entry.path()))?;
            }
        }
    }
    Ok(())
}

fn contents(index: &Connection, path: &Path) -> Result<Contents> {
    let count = |sql: &str| -> Result<u64> {
        let n: i64 = index.query_row(sql, [], |r| r.get(0))?;
        Ok(u64::try_from(n).unwrap_or(0))
    };
    let bodies = "FROM blobs WHERE refs > 0 AND";
    Ok(Contents {
        users: count("SELECT count(*) FROM users")?,
        messages: count("SELECT count(*) FROM messages")?,
        inline_bodies: count(&format!("SELECT count(*) {bodies} inline"))?,
        inline_bytes: count(&format!("SELECT coalesce(sum(size), 0) {bodies} inline"))?,
        file_bodies: count(&format!("SELECT count(*) {bodies} NOT inline"))?,
        file_bytes: count(&format!(
            "SELECT coalesce(sum(size), 0) {bodies} NOT inline"
        ))?,
        index_bytes: fs::metadata(path).map_err(StoreError::io(path))?.len(),
    })
}

/// Restores the backup in `from` into `data_dir`, which the caller has checked holds no
/// store. The backup is checked before anything is written, the restored store after.
pub fn restore(from: &Path, data_dir: &Path) -> Result<RestoreReport> {
    check(from)?;
    private_dir(data_dir)?;
    let (src, dst) = (BlobDir::at(from), BlobDir::at(data_dir));
    let index = File::open(from.join(INDEX)).map_err(StoreError::io(from.join(INDEX)))?;
    // Bodies first and the index last, under a temporary name: a restore cut short leaves
    // no `hermod.db` that names bodies which are not there.
    let partial = data_dir.join(PARTIAL);
    let _ = fs::remove_file(&partial);
    copy_file(index, &partial)?;
    let bodies = file_bodies(&Connection::open_with_flags(
        &partial,
        OpenFlags::SQLITE_OPEN_READ_ONLY,
    )?)?;
    if copy_bodies(&src, &dst, &bodies)? > 0 {
        return Err(StoreError::Backup(format!(
            "bodies of {} vanished while it was restored",
            from.display()
        )));
    }
    let target = data_dir.join(INDEX);
    fs::rename(&partial, &target).map_err(StoreError::io(&target))?;
    sync_dir(data_dir)?;
    let contents = check(data_dir)?;
    Ok(RestoreReport { contents })
}

/// Checks that `dir` (a backup or a data directory not in use) holds a sound index and every
/// body it references, whole; returns what it holds.
pub fn check(dir: &Path) -> Result<Contents> {
    let path = dir.join(INDEX);
    if !path.is_file() {
        return Err(StoreError::Backup(format!(
            "{} holds no complete backup: {INDEX} is missing",
            dir.display()
        )));
    }
    let index = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let verdict: String = index.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
    if verdict != "ok" {
        return Err(StoreError::Backup(format!(
            "{} is damaged: {verdict}",
            path.display()
        )));
    }
    let mut problems = bad_inline_bodies(&index)?;
    let blobs = BlobDir::at(dir);
    for body in file_bodies(&index)?.into_iter().filter(|b| b.referenced) {
        match fs::metadata(blobs.path(&body.id)) {
            Ok(m) if m.len() == body.size => {}
            Ok(m) => problems.push(format!(
                "{} is {} bytes, not {}",
                body.id,
                m.len(),
                body.size
            )),
            Err(e) => problems.push(format!("{}: {e}", blobs.path(&body.id).display())),
        }
    }
    if let Some(first) = problems.first() {
        return Err(StoreError::Backup(format!(
            "{} message bodies in {} are missing or damaged (first: {first})",
            problems.len(),
            dir.display()
        )));
    }
    contents(&index, &path)
}

/// Referenced bodies kept in the index whose data is missing or of the wrong size.
fn bad_inline_bodies(index: &Connection) -> Result<Vec<String>> {
    let mut stmt = index.prepare(
        "SELECT b.id FROM blobs b LEFT JOIN blob_data d ON d.id = b.id \
         WHERE b.inline AND b.refs > 0 AND (d.id IS NULL OR length(d.data) != b.size)",
    )?;
    let ids = stmt.query_map([], |r| r.get::<_, String>(0))?;
    Ok(ids
        .map(|id| id.map(|id| format!("inline body {id}")))
        .collect::<rusqlite::Result<_>>()?)
}
