//! A message body on its way to the store: streamed to disk in pieces, with the start kept
//! in memory for header checks, and for submission the header section held back until it
//! is complete so it can be fixed up (RFC 6409 8) before anything is written.

use hermod_store::{BlobWriter, SealedBlob, Store, StoreError};
use std::sync::Arc;
use std::time::SystemTime;

/// How much of the message start is kept in memory for header checks.
const HEAD_KEEP: usize = 64 * 1024;
/// The largest header section a submission may have (it is held in memory whole).
const MAX_HELD_HEADER: usize = 256 * 1024;
/// Buffered content is handed to the disk writer in pieces of about this size, so a large
/// message never sits in memory whole.
const FLUSH_AT: usize = 256 * 1024;

#[derive(Debug)]
pub(crate) enum SpoolFailure {
    Io(String),
    HeaderTooBig,
}

pub(crate) struct Spool {
    writer: Option<BlobWriter>,
    pending: Vec<u8>,
    /// The start of the content as the client sent it (the whole header section while held).
    pub head: Vec<u8>,
    pub content_size: u64,
    pub id: String,
    failed: Option<SpoolFailure>,
    /// Submission: the hostname for the fix-ups, while the header section is held back.
    fixup: Option<String>,
}

/// Where the header section ends (its last CRLF included), if the blank line was seen.
fn header_end(buf: &[u8]) -> Option<usize> {
    if buf.starts_with(b"\r\n") {
        return Some(0);
    }
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 2)
}

impl Spool {
    /// Opens a body in the store and writes the trace fields ahead of the content. With
    /// `fixup_for` (the hostname), the header section is fixed up as a submission.
    pub async fn start(
        store: Arc<dyn Store>,
        trace: impl FnOnce(&str) -> String,
        fixup_for: Option<String>,
    ) -> Result<Spool, StoreError> {
        let writer = tokio::task::spawn_blocking(move || store.blob_writer())
            .await
            .map_err(|e| StoreError::Corrupt(e.to_string()))??;
        let id = writer.id().to_string();
        let pending = trace(&id).into_bytes();
        Ok(Spool {
            writer: Some(writer),
            pending,
            head: Vec::new(),
            content_size: 0,
            id,
            failed: None,
            fixup: fixup_for,
        })
    }

    pub async fn push(&mut self, data: &[u8]) {
        self.content_size += data.len() as u64;
        if self.fixup.is_some() {
            self.head.extend_from_slice(data);
            self.release_header(false);
        } else {
            if self.head.len() < HEAD_KEEP {
                let take = data.len().min(HEAD_KEEP - self.head.len());
                self.head.extend_from_slice(&data[..take]);
            }
            if self.failed.is_none() {
                self.pending.extend_from_slice(data);
            }
        }
        if self.pending.len() >= FLUSH_AT {
            self.write_pending().await;
        }
    }

    /// Once the held header section is complete (or the message ended), writes it fixed up,
    /// followed by whatever body arrived with it.
    fn release_header(&mut self, at_end: bool) {
        let end = match header_end(&self.head) {
            Some(end) => end,
            None if at_end => self.head.len(),
            None => {
                if self.head.len() > MAX_HELD_HEADER {
                    self.failed.get_or_insert(SpoolFailure::HeaderTooBig);
                    self.fixup = None;
                    self.head.truncate(HEAD_KEEP);
                }
                return;
            }
        };
        let Some(hostname) = self.fixup.take() else {
            return;
        };
        let fixed = hermod_core::submission::fix_header(
            &self.head[..end],
            &hostname,
            &self.id,
            SystemTime::now(),
        );
        self.pending.extend_from_slice(&fixed);
        self.pending.extend_from_slice(&self.head[end..]);
    }

    async fn write_pending(&mut self) {
        if self.failed.is_some() {
            self.pending.clear();
            return;
        }
        let (Some(mut writer), false) = (self.writer.take(), self.pending.is_empty()) else {
            return;
        };
        let chunk = std::mem::take(&mut self.pending);
        let done = tokio::task::spawn_blocking(move || {
            use std::io::Write;
            writer.write_all(&chunk).map(|()| (writer, chunk))
        })
        .await;
        match done {
            Ok(Ok((writer, mut chunk))) => {
                chunk.clear();
                self.pending = chunk;
                self.writer = Some(writer);
            }
            Ok(Err(e)) => self.failed = Some(SpoolFailure::Io(e.to_string())),
            Err(e) => self.failed = Some(SpoolFailure::Io(e.to_string())),
        }
    }

    /// Writes the rest and fsyncs.
    pub async fn seal(mut self) -> Result<SealedBlob, SpoolFailure> {
        self.release_header(true);
        self.write_pending().await;
        if let Some(failed) = self.failed {
            return Err(failed);
        }
        let writer = self
            .writer
            .take()
            .ok_or(SpoolFailure::Io("spool writer missing".into()))?;
        match tokio::task::spawn_blocking(move || writer.seal()).await {
            Ok(Ok(sealed)) => Ok(sealed),
            Ok(Err(e)) => Err(SpoolFailure::Io(e.to_string())),
            Err(e) => Err(SpoolFailure::Io(e.to_string())),
        }
    }
}
