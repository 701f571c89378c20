//! A message body on its way to the store: streamed to disk in pieces, with the start kept
//! in memory for header checks. Two kinds of message are held back before anything is
//! written: a submission's header section, until it is complete and fixed up (RFC 6409 8);
//! and inbound mail for the spam filter, whole up to the scan limit, until the verdict's
//! fields (Authentication-Results, X-Spam-*) are known and can go on top.
//!
//! Content with a NUL octet (which no FETCH but BINARY may send, RFC 9051 4.3.1) is noticed
//! as it goes by, and only such a message is read back once sealed and stored again with
//! the parts holding one in base64 (`crate::textual`), or refused.

use crate::textual::{self, Unstored};
use hermod_store::{BlobWriter, SealedBlob, Store, StoreError};
use std::sync::Arc;
use std::time::SystemTime;

/// How much of the message start is kept in memory for header checks.
const HEAD_KEEP: usize = 64 * 1024;
/// The largest header section that may be held in memory whole.
const MAX_HELD_HEADER: usize = 256 * 1024;
/// Buffered content is handed to the disk writer in pieces of about this size, so a large
/// message never sits in memory whole.
const FLUSH_AT: usize = 256 * 1024;

#[derive(Debug)]
pub(crate) enum SpoolFailure {
    Io(String),
    HeaderTooBig,
    /// A NUL octet where no encoding can carry it (a header, a multipart's preamble,
    /// content already encoded).
    Nul,
}

/// A body on stable storage, and the start of the content as the client sent it.
pub(crate) struct Sealed {
    pub blob: SealedBlob,
    pub head: Vec<u8>,
}

/// The trace fields hermod puts on top of each stored message.
pub(crate) struct Trace {
    pub return_path: String,
    pub received: String,
}

/// What is held back, and until when.
pub(crate) enum Hold {
    /// Nothing: written as it comes.
    Nothing,
    /// Submission: the header section, until complete; fixed up for this hostname.
    Fixup(String),
    /// Inbound: the content, until the caller releases it with its fields or it outgrows
    /// `limit`. `Authentication-Results` fields claiming `authserv_id` are dropped.
    Scan { limit: usize, authserv_id: String },
}

pub(crate) struct Spool {
    store: Arc<dyn Store>,
    writer: Option<BlobWriter>,
    pending: Vec<u8>,
    /// The start of the content as the client sent it (all of what is held, while held).
    pub head: Vec<u8>,
    pub content_size: u64,
    pub id: String,
    failed: Option<SpoolFailure>,
    hold: Hold,
    /// The trace fields, until written with the released content.
    trace: Option<Trace>,
    /// BDAT content keeps DATA's line-ending rule (DATA's decoder checks its own).
    pub line_endings: hermod_proto::smtp::LineEndingCheck,
    /// Whether the content holds a NUL octet: it is converted once sealed.
    nul: bool,
}

/// Where the header section ends (its last CRLF included), if the blank line was seen.
fn header_end(buf: &[u8]) -> Option<usize> {
    if buf.starts_with(b"\r\n") {
        return Some(0);
    }
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 2)
}

impl Spool {
    /// Opens a body in the store; `trace` makes the trace fields from the body's id.
    pub async fn start(
        store: Arc<dyn Store>,
        trace: impl FnOnce(&str) -> Trace,
        hold: Hold,
    ) -> Result<Spool, StoreError> {
        let writer = store.blob_writer()?;
        let id = writer.id().to_string();
        let mut spool = Spool {
            store,
            writer: Some(writer),
            pending: Vec::new(),
            head: Vec::new(),
            content_size: 0,
            id,
            failed: None,
            hold,
            trace: None,
            line_endings: Default::default(),
            nul: false,
        };
        let trace = trace(&spool.id);
        match spool.hold {
            Hold::Nothing => spool.write_trace(trace, ""),
            _ => spool.trace = Some(trace),
        }
        Ok(spool)
    }

    fn write_trace(&mut self, trace: Trace, fields: &str) {
        self.pending.extend_from_slice(trace.return_path.as_bytes());
        self.pending.extend_from_slice(fields.as_bytes());
        self.pending.extend_from_slice(trace.received.as_bytes());
    }

    pub async fn push(&mut self, data: &[u8]) {
        self.content_size += data.len() as u64;
        self.nul = self.nul || memchr::memchr(0, data).is_some();
        match self.hold {
            Hold::Fixup(_) => {
                self.head.extend_from_slice(data);
                self.release_fixed_header(false);
            }
            Hold::Scan { .. } => {
                self.head.extend_from_slice(data);
                if header_end(&self.head).is_none() && self.head.len() > MAX_HELD_HEADER {
                    self.failed.get_or_insert(SpoolFailure::HeaderTooBig);
                    self.hold = Hold::Nothing;
                    self.head.truncate(HEAD_KEEP);
                }
            }
            Hold::Nothing => {
                if self.head.len() < HEAD_KEEP {
                    let take = data.len().min(HEAD_KEEP - self.head.len());
                    self.head.extend_from_slice(&data[..take]);
                }
                if self.failed.is_none() {
                    self.pending.extend_from_slice(data);
                }
            }
        }
        if self.pending.len() >= FLUSH_AT {
            self.write_pending().await;
        }
    }

    /// The whole content so far while it is held for scanning.
    pub fn held(&self) -> Option<&[u8]> {
        matches!(self.hold, Hold::Scan { .. }).then_some(&self.head)
    }

    /// Whether held content has outgrown the scan limit: the caller should decide its
    /// fields without the content and [`release`](Self::release) it.
    pub fn over_scan_limit(&self) -> bool {
        matches!(self.hold, Hold::Scan { limit, .. } if self.head.len() > limit)
            && header_end(&self.head).is_some()
    }

    /// Writes held inbound content behind the trace and `fields` (CRLF-terminated header
    /// fields), without forged `Authentication-Results` in our name.
    pub fn release(&mut self, fields: &str) {
        let Hold::Scan { authserv_id, .. } = std::mem::replace(&mut self.hold, Hold::Nothing)
        else {
            return;
        };
        if let Some(trace) = self.trace.take() {
            self.write_trace(trace, fields);
        }
        let end = header_end(&self.head).unwrap_or(self.head.len());
        let header = hermod_message::remove_fields_where(
            &self.head[..end],
            "Authentication-Results",
            |field| hermod_message::claims_authserv_id(field, &authserv_id),
        );
        if self.failed.is_none() {
            self.pending.extend_from_slice(&header);
            self.pending.extend_from_slice(&self.head[end..]);
        }
        self.head.truncate(HEAD_KEEP);
    }

    /// Once the held header section is complete (or the message ended), writes it fixed up,
    /// followed by whatever body arrived with it.
    fn release_fixed_header(&mut self, at_end: bool) {
        let end = match header_end(&self.head) {
            Some(end) => end,
            None if at_end => self.head.len(),
            None => {
                if self.head.len() > MAX_HELD_HEADER {
                    self.failed.get_or_insert(SpoolFailure::HeaderTooBig);
                    self.hold = Hold::Nothing;
                    self.head.truncate(HEAD_KEEP);
                }
                return;
            }
        };
        let Hold::Fixup(hostname) = std::mem::replace(&mut self.hold, Hold::Nothing) else {
            return;
        };
        if let Some(trace) = self.trace.take() {
            self.write_trace(trace, "");
        }
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
        let (Some(writer), false) = (self.writer.take(), self.pending.is_empty()) else {
            return;
        };
        let chunk = std::mem::take(&mut self.pending);
        match writer.append(chunk).await {
            Ok((writer, chunk)) => {
                self.pending = chunk;
                self.writer = Some(writer);
            }
            Err(e) => self.failed = Some(SpoolFailure::Io(e.to_string())),
        }
    }

    /// Writes the rest and fsyncs. Content still held is written as it is; content with a
    /// NUL is stored again converted, or refused.
    pub async fn seal(mut self) -> Result<Sealed, SpoolFailure> {
        self.release_fixed_header(true);
        self.release("");
        self.write_pending().await;
        if let Some(failed) = self.failed {
            return Err(failed);
        }
        let writer = self
            .writer
            .take()
            .ok_or(SpoolFailure::Io("spool writer missing".into()))?;
        let blob = writer
            .seal_async()
            .await
            .map_err(|e| SpoolFailure::Io(e.to_string()))?;
        let blob = match self.nul {
            false => blob,
            true => textual::store_textual(self.store.as_ref(), blob)
                .await
                .map_err(|why| match why {
                    Unstored::NotConvertible => SpoolFailure::Nul,
                    Unstored::Read(e) => SpoolFailure::Io(e.to_string()),
                    Unstored::Store(e) => SpoolFailure::Io(e.to_string()),
                })?,
        };
        Ok(Sealed {
            blob,
            head: self.head,
        })
    }
}
