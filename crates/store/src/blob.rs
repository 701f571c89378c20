//! Message bodies. Small ones (up to [`INLINE_MAX`]) live in the index, written in the same
//! group-committed transaction as the rows that file them: one WAL fsync covers a whole batch
//! of messages, where a file each would cost a file creation, an fsync and a directory entry.
//! Larger bodies are one immutable file each under `blobs/xx/<id>`, written through `tmp/`.
//!
//! A file body is written to `tmp/`, fsynced (sealed), then renamed into `blobs/` just before
//! its index rows commit; the commit fsyncs the `blobs/xx` directories it touched, once per
//! batch. A crash can leave unreferenced files behind (never referenced rows without files);
//! the start-up sweep removes them.

use crate::{BlobId, Result, StoreError};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// The largest body kept inside the index. SQLite reads and writes blobs of this size
/// faster than the file system creates, fsyncs and links a file; a session holds at most
/// this much in memory before its body spills to a file.
pub const INLINE_MAX: usize = 64 * 1024;

/// Write buffer of a file body.
const FILE_BUFFER: usize = 64 * 1024;

#[derive(Debug, Clone)]
pub(crate) struct BlobDir {
    tmp: PathBuf,
    blobs: PathBuf,
}

impl BlobDir {
    pub(crate) fn open(data_dir: &Path) -> Result<BlobDir> {
        let dir = BlobDir {
            tmp: data_dir.join("tmp"),
            blobs: data_dir.join("blobs"),
        };
        private_dir(&dir.tmp)?;
        private_dir(&dir.blobs)?;
        for shard in 0..=255u8 {
            private_dir(&dir.blobs.join(format!("{shard:02x}")))?;
        }
        Ok(dir)
    }

    /// The layout under `data_dir` without creating anything (a backup's source or copy).
    pub(crate) fn at(data_dir: &Path) -> BlobDir {
        BlobDir {
            tmp: data_dir.join("tmp"),
            blobs: data_dir.join("blobs"),
        }
    }

    /// Only a folder for bodies being received, for a backend that keeps stored bodies
    /// elsewhere (PostgreSQL): [`BlobDir::writer`] is all it may be used for.
    pub(crate) fn spool(tmp: &Path) -> BlobDir {
        BlobDir {
            tmp: tmp.to_owned(),
            blobs: PathBuf::new(),
        }
    }

    /// The `blobs` folder itself.
    pub(crate) fn root(&self) -> &Path {
        &self.blobs
    }

    pub(crate) fn path(&self, id: &BlobId) -> PathBuf {
        self.shard_dir(id).join(id.as_str())
    }

    /// `blobs/xx` by the id's last two digits (random ones: its first are the time).
    pub(crate) fn shard_dir(&self, id: &BlobId) -> PathBuf {
        self.blobs.join(&id.as_str()[30..])
    }

    /// The `blobs/xx` folders.
    pub(crate) fn shards(&self) -> Result<Vec<PathBuf>> {
        let entries = read_dir(&self.blobs)?.into_iter();
        let dirs = entries.filter(|e| e.file_type().is_ok_and(|t| t.is_dir()));
        Ok(dirs.map(|e| e.path()).collect())
    }

    /// Where stores made before ids began with the time kept a body: under its first two
    /// digits. Readers fall back to it, and the start-up sweep moves such files.
    pub(crate) fn old_path(&self, id: &BlobId) -> PathBuf {
        self.blobs.join(&id.as_str()[..2]).join(id.as_str())
    }

    /// A new body; no file exists until it outgrows [`INLINE_MAX`].
    pub(crate) fn writer(&self) -> Result<BlobWriter> {
        let id = BlobId::new().map_err(StoreError::io(&self.tmp))?;
        let tmp = self.tmp.join(format!("{id}.tmp"));
        Ok(BlobWriter {
            sink: Sink::Memory(Vec::new()),
            id,
            tmp,
            size: 0,
        })
    }

    /// Moves a sealed file body into place and returns its path (`None` for an inline body).
    /// The directory entry is made durable by the commit.
    pub(crate) fn install(&self, blob: &mut SealedBlob) -> Result<Option<PathBuf>> {
        let path = self.path(&blob.id);
        let Body::File { tmp, installed } = &mut blob.body else {
            return Ok(None);
        };
        fs::rename(&*tmp, &path).map_err(StoreError::io(&path))?;
        *installed = true;
        Ok(Some(path))
    }

    /// Removes files a crash left behind: temporary bodies and bodies no index row names.
    /// Only files older than `min_age` are removed, so another process's delivery in flight
    /// is never swept away. Bodies in an older hermod's place are moved to the current one.
    pub(crate) fn sweep(
        &self,
        min_age: std::time::Duration,
        is_referenced: &mut dyn FnMut(&BlobId) -> Result<bool>,
    ) -> Result<usize> {
        let mut removed = 0;
        for entry in read_dir(&self.tmp)? {
            if is_old(&entry, min_age) && fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
        let mut moved = false;
        for shard in self.shards()? {
            for entry in read_dir(&shard)? {
                let Some(id) = entry.file_name().to_str().and_then(BlobId::parse) else {
                    continue;
                };
                let place = self.path(&id);
                if entry.path() != place {
                    // Put where it is looked for first (an older hermod's layout).
                    match fs::rename(entry.path(), &place) {
                        Ok(()) => moved = true,
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                        Err(e) => return Err(StoreError::io(&place)(e)),
                    }
                    continue;
                }
                if is_old(&entry, min_age)
                    && !is_referenced(&id)?
                    && fs::remove_file(entry.path()).is_ok()
                {
                    removed += 1;
                }
            }
        }
        if moved {
            for shard in self.shards()? {
                sync_dir(&shard)?;
            }
        }
        Ok(removed)
    }
}

/// Creates a folder only the server's user can read: mail is private.
pub(crate) fn private_dir(path: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    match fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
    {
        Ok(()) => Ok(()),
        Err(e) => Err(StoreError::Io {
            path: path.to_owned(),
            source: e,
        }),
    }
}

pub(crate) fn read_dir(path: &Path) -> Result<Vec<fs::DirEntry>> {
    let entries = fs::read_dir(path).map_err(StoreError::io(path))?;
    Ok(entries.filter_map(|e| e.ok()).collect())
}

fn is_old(entry: &fs::DirEntry, min_age: std::time::Duration) -> bool {
    let modified = entry.metadata().and_then(|m| m.modified());
    modified
        .ok()
        .and_then(|m| m.elapsed().ok())
        .is_some_and(|age| age >= min_age)
}

/// fsync a directory so that the names created in it survive a crash.
pub(crate) fn sync_dir(path: &Path) -> Result<()> {
    File::open(path)
        .and_then(|d| d.sync_all())
        .map_err(StoreError::io(path))
}

/// A message body being written. Small bodies stay in memory and are stored inside the index
/// transaction that files them; a body that grows past [`INLINE_MAX`] spills to a file in
/// `tmp/`. Dropping it unsealed deletes any partial file.
pub struct BlobWriter {
    sink: Sink,
    id: BlobId,
    tmp: PathBuf,
    size: u64,
}

enum Sink {
    Memory(Vec<u8>),
    File(BufWriter<File>),
    Sealed,
}

impl BlobWriter {
    pub fn id(&self) -> &BlobId {
        &self.id
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Whether writing `more` bytes stays in memory: no I/O, so async code need not move the
    /// write to a blocking thread.
    pub fn stays_in_memory(&self, more: usize) -> bool {
        matches!(&self.sink, Sink::Memory(bytes) if bytes.len() + more <= INLINE_MAX)
    }

    /// Whether [`seal`](Self::seal) does I/O (an fsync): false for a body still in memory.
    pub fn seal_does_io(&self) -> bool {
        matches!(self.sink, Sink::File(_))
    }

    /// Appends `chunk` for async callers: in place while the body stays in memory, else on
    /// a blocking thread. The chunk comes back emptied, for reuse.
    pub async fn append(mut self, mut chunk: Vec<u8>) -> Result<(BlobWriter, Vec<u8>)> {
        use std::io::Write;
        let tmp = self.tmp.clone();
        let io = move |e| StoreError::io(&tmp)(e);
        if self.stays_in_memory(chunk.len()) {
            self.write_all(&chunk).map_err(io)?;
            chunk.clear();
            return Ok((self, chunk));
        }
        let written = tokio::task::spawn_blocking(move || {
            let result = self.write_all(&chunk);
            chunk.clear();
            result.map(|()| (self, chunk))
        })
        .await
        .map_err(|e| StoreError::TaskFailed(e.to_string()))?;
        written.map_err(io)
    }

    /// [`seal`](Self::seal) for async callers: on a blocking thread only when it fsyncs.
    pub async fn seal_async(self) -> Result<SealedBlob> {
        if !self.seal_does_io() {
            return self.seal();
        }
        tokio::task::spawn_blocking(move || self.seal())
            .await
            .map_err(|e| StoreError::TaskFailed(e.to_string()))?
    }

    /// Makes the body durable: a file body is flushed and fsynced here; an in-memory body
    /// becomes durable with the index commit that files it.
    pub fn seal(mut self) -> Result<SealedBlob> {
        let body = match std::mem::replace(&mut self.sink, Sink::Sealed) {
            Sink::Memory(bytes) => Body::Inline(bytes),
            Sink::File(file) => {
                let synced = match file.into_inner() {
                    Ok(file) => file.sync_all(),
                    Err(e) => Err(e.into_error()),
                };
                if let Err(e) = synced {
                    let _ = fs::remove_file(&self.tmp);
                    return Err(StoreError::io(&self.tmp)(e));
                }
                Body::File {
                    tmp: std::mem::take(&mut self.tmp),
                    installed: false,
                }
            }
            Sink::Sealed => unreachable!("a writer is consumed by sealing it"),
        };
        Ok(SealedBlob {
            id: self.id.clone(),
            size: self.size,
            body,
        })
    }

    /// Moves the in-memory start of a body that outgrew [`INLINE_MAX`] into its file.
    fn spill(&mut self) -> io::Result<()> {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&self.tmp)?;
        let mut file = BufWriter::with_capacity(FILE_BUFFER, file);
        let written = match &self.sink {
            Sink::Memory(bytes) => file.write_all(bytes),
            _ => Ok(()),
        };
        if let Err(e) = written {
            drop(file);
            let _ = fs::remove_file(&self.tmp);
            return Err(e);
        }
        self.sink = Sink::File(file);
        Ok(())
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Sink::Memory(bytes) = &self.sink
            && bytes.len() + buf.len() > INLINE_MAX
        {
            self.spill()?;
        }
        let n = match &mut self.sink {
            Sink::Memory(bytes) => {
                bytes.extend_from_slice(buf);
                buf.len()
            }
            Sink::File(file) => file.write(buf)?,
            Sink::Sealed => return Err(io::Error::other("blob already sealed")),
        };
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.sink {
            Sink::File(file) => file.flush(),
            _ => Ok(()),
        }
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if let Sink::File(_) = self.sink {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Where a sealed body is.
#[derive(Debug)]
pub(crate) enum Body {
    /// In memory, to be stored in the index with the rows that reference it.
    Inline(Vec<u8>),
    /// In `tmp/` until installed under `blobs/`.
    File { tmp: PathBuf, installed: bool },
}

/// A durable body not yet filed in any mailbox. Dropping it undelivered deletes it.
#[derive(Debug)]
pub struct SealedBlob {
    pub(crate) id: BlobId,
    size: u64,
    pub(crate) body: Body,
}

impl SealedBlob {
    /// A body copied from another store under its own id (`hermod store migrate`).
    pub(crate) fn copied(id: BlobId, size: u64, body: Body) -> SealedBlob {
        SealedBlob { id, size, body }
    }

    pub fn id(&self) -> &BlobId {
        &self.id
    }

    /// The body's first `limit` bytes (a small body is in memory: no I/O), for what must
    /// read a message before it is filed (Sieve).
    pub async fn read_head(&self, limit: usize) -> std::io::Result<Vec<u8>> {
        match &self.body {
            Body::Inline(bytes) => Ok(bytes[..bytes.len().min(limit)].to_vec()),
            Body::File { tmp, .. } => {
                use tokio::io::AsyncReadExt;
                let file = tokio::fs::File::open(tmp).await?;
                let mut head = Vec::with_capacity(limit.min(self.size as usize));
                file.take(limit as u64).read_to_end(&mut head).await?;
                Ok(head)
            }
        }
    }

    pub fn size(&self) -> u64 {
        self.size
    }
}

impl Drop for SealedBlob {
    fn drop(&mut self) {
        if let Body::File {
            tmp,
            installed: false,
        } = &self.body
        {
            let _ = fs::remove_file(tmp);
        }
    }
}
