//! Message bodies: one immutable file per body under `blobs/xx/<id>`, written through `tmp/`.
//!
//! A body is written to `tmp/`, fsynced (sealed), then renamed into `blobs/` just before its
//! index rows commit; the commit fsyncs the `blobs/xx` directories it touched, once per batch.
//! A crash can leave unreferenced files behind (never referenced rows without files); the
//! start-up sweep removes them.

use crate::{BlobId, Result, StoreError};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

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

    pub(crate) fn path(&self, id: &BlobId) -> PathBuf {
        self.blobs.join(&id.as_str()[..2]).join(id.as_str())
    }

    pub(crate) fn shard_dir(&self, id: &BlobId) -> PathBuf {
        self.blobs.join(&id.as_str()[..2])
    }

    pub(crate) fn writer(&self) -> Result<BlobWriter> {
        let id = BlobId::random().map_err(StoreError::io(&self.tmp))?;
        let tmp = self.tmp.join(format!("{id}.tmp"));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(StoreError::io(&tmp))?;
        Ok(BlobWriter {
            file: Some(BufWriter::with_capacity(64 * 1024, file)),
            id,
            tmp,
            size: 0,
        })
    }

    /// Moves a sealed body into place. The directory entry is made durable by the commit.
    pub(crate) fn install(&self, blob: &mut SealedBlob) -> Result<PathBuf> {
        let path = self.path(&blob.id);
        fs::rename(&blob.tmp, &path).map_err(StoreError::io(&path))?;
        blob.installed = true;
        Ok(path)
    }

    /// Removes files a crash left behind: temporary bodies and bodies no index row names.
    /// Only files older than `min_age` are touched, so another process's delivery in flight
    /// is never swept away.
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
        for shard in read_dir(&self.blobs)? {
            for entry in read_dir(&shard.path())? {
                let Some(id) = entry.file_name().to_str().and_then(BlobId::parse) else {
                    continue;
                };
                if is_old(&entry, min_age)
                    && !is_referenced(&id)?
                    && fs::remove_file(entry.path()).is_ok()
                {
                    removed += 1;
                }
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

fn read_dir(path: &Path) -> Result<Vec<fs::DirEntry>> {
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

/// A message body being written. Dropping it unsealed deletes the partial file.
pub struct BlobWriter {
    file: Option<BufWriter<File>>,
    id: BlobId,
    tmp: PathBuf,
    size: u64,
}

impl BlobWriter {
    pub fn id(&self) -> &BlobId {
        &self.id
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Flushes and fsyncs the body. After this it can be delivered.
    pub fn seal(mut self) -> Result<SealedBlob> {
        let file = self.file.take().expect("writer is sealed only once");
        let file = file.into_inner().map_err(|e| StoreError::Io {
            path: self.tmp.clone(),
            source: e.into_error(),
        })?;
        file.sync_all().map_err(StoreError::io(&self.tmp))?;
        Ok(SealedBlob {
            id: self.id.clone(),
            tmp: std::mem::take(&mut self.tmp),
            size: self.size,
            installed: false,
        })
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| io::Error::other("blob already sealed"))?;
        let n = file.write(buf)?;
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.as_mut().map_or(Ok(()), |f| f.flush())
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if self.file.is_some() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// A durable body not yet filed in any mailbox. Dropping it undelivered deletes it.
#[derive(Debug)]
pub struct SealedBlob {
    pub(crate) id: BlobId,
    pub(crate) tmp: PathBuf,
    size: u64,
    pub(crate) installed: bool,
}

impl SealedBlob {
    pub fn id(&self) -> &BlobId {
        &self.id
    }

    pub fn size(&self) -> u64 {
        self.size
    }
}

impl Drop for SealedBlob {
    fn drop(&mut self) {
        if !self.installed {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}
