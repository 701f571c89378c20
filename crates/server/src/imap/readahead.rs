//! Whole bodies read many to a trip to the store, for FETCH and SEARCH: a trip per message
//! (a hop to a blocking thread and back each) cost more than reading the bodies.

use hermod_store::{BlobId, Mail, MessageMeta, StoreError};
use hermod_types::Uid;
use std::collections::HashMap;

/// Bodies up to this size are read ahead; larger ones are read (or streamed) one by one.
pub(super) const SMALL_BODY: u64 = 64 * 1024;
/// Messages per trip: with [`SMALL_BODY`], a batch holds at most 8 MiB.
pub(super) const BATCH: usize = 128;

/// The bodies of one batch by UID; a body the store failed to read keeps its error, for
/// the caller to report when it reaches that message.
#[derive(Default)]
pub(super) struct Bodies {
    by_uid: HashMap<Uid, Result<Vec<u8>, StoreError>>,
}

impl Bodies {
    /// Reads the small bodies of `metas`. A body `read_blobs` could not read whole at its
    /// size is read alone, as a single read would: what one message reads is unchanged.
    pub async fn read<'a>(
        store: &dyn Mail,
        metas: impl Iterator<Item = &'a MessageMeta>,
    ) -> Bodies {
        let small: Vec<&MessageMeta> = metas.filter(|m| m.size <= SMALL_BODY).collect();
        let mut by_uid = HashMap::with_capacity(small.len());
        let mut rest = &small[..];
        while !rest.is_empty() {
            let wanted: Vec<(BlobId, u64)> =
                rest.iter().map(|m| (m.blob.clone(), m.size)).collect();
            let read = store.read_blobs(&wanted).await.unwrap_or_default();
            let got = read.len().min(rest.len());
            for (meta, body) in rest.iter().zip(read) {
                by_uid.insert(meta.uid, Ok(body));
            }
            let Some(odd) = rest.get(got) else { break };
            by_uid.insert(odd.uid, store.read_blob(&odd.blob, None).await);
            rest = &rest[got + 1..];
        }
        Bodies { by_uid }
    }

    /// The body of `uid` if it was read ahead (once: it moves out).
    pub fn take(&mut self, uid: Uid) -> Option<Result<Vec<u8>, StoreError>> {
        self.by_uid.remove(&uid)
    }
}
