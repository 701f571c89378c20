//! ENVELOPE and BODYSTRUCTURE per stored body, kept after the first FETCH that parsed them:
//! a client that lists a mailbox again (or a second client) costs neither a read of the
//! body nor a parse. Stored bodies never change, so entries never go stale; the cache is
//! bounded by an estimate of its size and forgets the oldest entries first.

use hermod_proto::imap::{BodyStructure, Envelope};
use hermod_store::BlobId;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// What the cache may hold, in estimated bytes: some thousands of messages.
const CAPACITY: usize = 8 * 1024 * 1024;

/// A message's parsed structure.
#[derive(Debug)]
pub(crate) struct Structure {
    pub envelope: Envelope,
    /// With extension data; BODY is rendered from it without.
    pub body: BodyStructure,
}

#[derive(Default)]
struct Entries {
    map: HashMap<BlobId, (Arc<Structure>, usize)>,
    /// Insertion order, oldest first.
    order: VecDeque<BlobId>,
    size: usize,
}

/// Shared by every IMAP session of the server.
#[derive(Default)]
pub(crate) struct StructureCache {
    entries: Mutex<Entries>,
}

impl StructureCache {
    pub fn get(&self, blob: &BlobId) -> Option<Arc<Structure>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.map.get(blob).map(|(s, _)| s.clone())
    }

    /// Keeps `structure` of a body whose header section is `header_len` octets long.
    pub fn insert(&self, blob: &BlobId, structure: Arc<Structure>, header_len: usize) {
        // The fields an ENVELOPE holds come from the header; each part adds its own.
        let size = header_len + 256 * parts(&structure.body) + blob.as_str().len();
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.map.contains_key(blob) || size > CAPACITY {
            return;
        }
        while entries.size + size > CAPACITY {
            let Some(oldest) = entries.order.pop_front() else {
                break;
            };
            if let Some((_, freed)) = entries.map.remove(&oldest) {
                entries.size -= freed;
            }
        }
        entries.map.insert(blob.clone(), (structure, size));
        entries.order.push_back(blob.clone());
        entries.size += size;
    }
}

fn parts(body: &BodyStructure) -> usize {
    match body {
        BodyStructure::Multi { parts: p, .. } => 1 + p.iter().map(parts).sum::<usize>(),
        BodyStructure::Single { .. } => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hermod_proto::imap::{BodyFields, SingleKind};

    fn structure() -> Arc<Structure> {
        Arc::new(Structure {
            envelope: Envelope::default(),
            body: BodyStructure::Single {
                media_type: "text".into(),
                subtype: "plain".into(),
                fields: BodyFields::default(),
                kind: SingleKind::Text { lines: 1 },
                ext: None,
            },
        })
    }

    #[test]
    fn the_oldest_entries_go_first_when_full() {
        let cache = StructureCache::default();
        let ids: Vec<BlobId> = (0..3)
            .map(|n| BlobId::parse(&format!("{n:032x}")).unwrap())
            .collect();
        let third = CAPACITY / 3;
        for id in &ids {
            cache.insert(id, structure(), third);
        }
        assert!(cache.get(&ids[0]).is_none(), "evicted");
        assert!(cache.get(&ids[1]).is_some() && cache.get(&ids[2]).is_some());
        cache.insert(&ids[0], structure(), CAPACITY * 2);
        assert!(cache.get(&ids[0]).is_none(), "too large to keep");
    }
}
