//! Message bodies on PostgreSQL, behind a small interface ([`Bodies`]) so that another
//! place for them (an S3-compatible object store) can be added without touching the mail
//! model: the index (`blobs`: id, size, reference count) stays in the database either way.
//!
//! [`InDatabase`] keeps a body's octets in `blob_chunks`, written in the transaction that
//! files the body: a small body (what [`crate::BlobWriter`] kept in memory) is one row, a
//! large one (spilled to this node's `tmp_dir` while it was received) is read from its file
//! and stored in [`CHUNK`]-sized rows. Readers fetch a row at a time, so neither side ever
//! holds a large message whole. Rows go with their `blobs` row (ON DELETE CASCADE).
//!
//! An object store would upload in `put` (before the commit; an upload whose commit never
//! happens is an orphan for a sweep to find, as with the embedded store's files) and would
//! need one more method, to delete what `release_bodies` released once that commits.

use crate::blob::Body;
use crate::postgres::prepared::Prepared;
use crate::roles::BodyStream;
use crate::{BlobId, Result, SealedBlob, StoreError};
use async_trait::async_trait;
use deadpool_postgres::Pool;
use std::sync::Arc;
use tokio_postgres::Client;
use tokio_postgres::types::Type;

/// The size of a stored piece of a large body.
pub(crate) const CHUNK: usize = 256 * 1024;

/// Where bodies' octets live. The `blobs` row is the caller's; these methods handle octets.
#[async_trait]
pub(crate) trait Bodies: Send + Sync {
    /// Stores a sealed body's octets as part of `tx` (an object store would upload before
    /// and keep only a reference in `tx`).
    async fn put(&self, tx: Prepared<'_>, blob: &SealedBlob) -> Result<()>;
    /// Piece `index` of a body, `None` past its end.
    async fn piece(&self, client: &Client, id: &BlobId, index: i32) -> Result<Option<Vec<u8>>>;
    /// Whole bodies in one trip, in the order asked; a body without octets is `None`.
    async fn read_many(&self, client: &Client, ids: &[BlobId]) -> Result<Vec<Option<Vec<u8>>>>;
}

/// Bodies in the database (`blob_chunks`).
pub(crate) struct InDatabase;

#[async_trait]
impl Bodies for InDatabase {
    async fn put(&self, tx: Prepared<'_>, blob: &SealedBlob) -> Result<()> {
        let id = blob.id().as_str();
        let insert = async |seq: i32, data: &[u8]| {
            tx.execute(
                "INSERT INTO blob_chunks (blob_id, seq, data) VALUES ($1, $2, $3)",
                &[(&id, Type::TEXT), (&seq, Type::INT4), (&data, Type::BYTEA)],
            )
            .await
        };
        match &blob.body {
            Body::Inline(bytes) => {
                insert(0, bytes).await?;
            }
            Body::File { tmp, .. } => {
                use tokio::io::AsyncReadExt;
                let io = StoreError::io(tmp);
                let file = tokio::fs::File::open(tmp).await.map_err(io)?;
                let mut file = tokio::io::BufReader::with_capacity(64 * 1024, file);
                let mut seq = 0i32;
                loop {
                    let mut piece = Vec::with_capacity(CHUNK);
                    let read = (&mut file).take(CHUNK as u64).read_to_end(&mut piece).await;
                    read.map_err(StoreError::io(tmp))?;
                    // An empty body is one empty row, so "no rows" always means "no body".
                    if piece.is_empty() && seq > 0 {
                        break;
                    }
                    insert(seq, &piece).await?;
                    if piece.len() < CHUNK {
                        break;
                    }
                    seq += 1;
                }
            }
        }
        Ok(())
    }

    async fn piece(&self, client: &Client, id: &BlobId, index: i32) -> Result<Option<Vec<u8>>> {
        let row = client
            .query_typed_opt(
                "SELECT data FROM blob_chunks WHERE blob_id = $1 AND seq = $2",
                &[(&id.as_str(), Type::TEXT), (&index, Type::INT4)],
            )
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn read_many(&self, client: &Client, ids: &[BlobId]) -> Result<Vec<Option<Vec<u8>>>> {
        let names: Vec<&str> = ids.iter().map(BlobId::as_str).collect();
        let rows = client
            .query(
                "SELECT blob_id, data FROM blob_chunks WHERE blob_id = ANY($1)
                 ORDER BY blob_id, seq",
                &[&names],
            )
            .await?;
        let mut found: std::collections::HashMap<String, Vec<u8>> = Default::default();
        for row in rows {
            let data: Vec<u8> = row.get(1);
            found.entry(row.get(0)).or_default().extend(data);
        }
        Ok(ids.iter().map(|id| found.remove(id.as_str())).collect())
    }
}

/// What reading a body that is not there answers (as a file store would).
pub(super) fn missing(id: &BlobId) -> StoreError {
    StoreError::Io {
        path: format!("body {id}").into(),
        source: std::io::Error::from(std::io::ErrorKind::NotFound),
    }
}

/// A stored body read a piece at a time, each piece a trip to the database on a pooled
/// connection (none is held between reads). A body removed while it is read (its last
/// message expunged meanwhile) ends in an error, never early: a reader has announced its
/// size (an IMAP literal) and must not send less.
pub(super) struct PieceStream {
    pub pool: Pool,
    pub bodies: Arc<dyn Bodies>,
    pub id: BlobId,
    /// The body's size, from its index row.
    pub size: u64,
    /// Octets handed out so far.
    pub read: u64,
    /// The next piece to fetch.
    pub next: i32,
    /// What is left of the current piece, from `at`.
    pub piece: Vec<u8>,
    pub at: usize,
}

#[async_trait]
impl BodyStream for PieceStream {
    async fn read_chunk(&mut self, max: usize) -> std::io::Result<Vec<u8>> {
        while self.at >= self.piece.len() && self.read < self.size {
            let client = self.pool.get().await.map_err(std::io::Error::other)?;
            let piece = self.bodies.piece(&client, &self.id, self.next).await;
            match piece.map_err(std::io::Error::other)? {
                Some(piece) => {
                    self.piece = piece;
                    self.at = 0;
                    self.next += 1;
                }
                None => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        format!("body {} was removed while it was read", self.id),
                    ));
                }
            }
        }
        let end = self.piece.len().min(self.at + max);
        let out = self.piece[self.at..end].to_vec();
        self.at = end;
        self.read += out.len() as u64;
        Ok(out)
    }
}
