//! SORT and UID SORT (RFC 5256, with RFC 5957's DISPLAYFROM and DISPLAYTO), and the
//! matching messages with their keys, which THREAD shares. Keys come from the store's body
//! cache; a message without an entry (new, or cached by an older format) has its header
//! read once and its keys cached for every later SORT or THREAD.

use super::search::{Needs, check, uses_modseq};
use super::sortkeys::SortKeys;
use super::{Done, Session, reply};
use hermod_proto::imap::{Code, CommandBody, Response, SearchKey, SortCriterion, SortKey};
use hermod_store::{BlobId, Mail};
use std::cmp::Ordering;
use tokio::io::{AsyncRead, AsyncWrite};

/// How much of a message is read for its keys: the header is at its start.
const HEADER_LIMIT: u64 = 256 * 1024;
/// Cache entries written per store call, so a first SORT of a large mailbox does not hold
/// every entry in memory nor the write lock for long.
pub(super) const CACHE_BATCH: usize = 1000;
/// Bodies read per trip to the store when keys are missing.
const READ_BATCH: usize = 128;
/// Bodies up to this size are read whole, many to a trip (a batch holds at most 8 MiB).
const SMALL_BODY: u64 = 64 * 1024;

/// A message that matched, with what SORT and THREAD compare.
pub(super) struct Sortable {
    pub seq: u32,
    pub uid: u32,
    /// INTERNALDATE, seconds since the epoch.
    pub arrival: i64,
    pub size: u64,
    pub modseq: u64,
    pub keys: SortKeys,
}

impl Sortable {
    /// The sent date, or the internal date when the message has no usable Date: field.
    pub fn date(&self) -> i64 {
        self.keys.sent.unwrap_or(self.arrival)
    }

    /// SORT and UID SORT name messages differently.
    pub fn id(&self, uid: bool) -> u32 {
        if uid { self.uid } else { self.seq }
    }
}

/// Orders two messages by the criteria in turn; ties go by sequence number (RFC 5256 3).
fn compare(a: &Sortable, b: &Sortable, criteria: &[SortCriterion]) -> Ordering {
    for c in criteria {
        let order = match c.key {
            SortKey::Arrival => a.arrival.cmp(&b.arrival),
            SortKey::Cc => a.keys.cc.cmp(&b.keys.cc),
            SortKey::Date => a.date().cmp(&b.date()),
            SortKey::From => a.keys.from.cmp(&b.keys.from),
            SortKey::Size => a.size.cmp(&b.size),
            SortKey::Subject => a.keys.subject.cmp(&b.keys.subject),
            SortKey::To => a.keys.to.cmp(&b.keys.to),
            SortKey::DisplayFrom => a.keys.display_from.cmp(&b.keys.display_from),
            SortKey::DisplayTo => a.keys.display_to.cmp(&b.keys.display_to),
        };
        let order = if c.reverse { order.reverse() } else { order };
        if order != Ordering::Equal {
            return order;
        }
    }
    a.seq.cmp(&b.seq)
}

/// Whether `key` compares a text key; the others are numbers.
fn compares_text(key: SortKey) -> bool {
    !matches!(key, SortKey::Arrival | SortKey::Date | SortKey::Size)
}

/// SORT and THREAD know UTF-8 and its subset US-ASCII (RFC 5256 requires both).
pub(super) fn charset_known(charset: &str) -> Result<(), Done> {
    if charset.eq_ignore_ascii_case("UTF-8") || charset.eq_ignore_ascii_case("US-ASCII") {
        return Ok(());
    }
    let code = Code::BadCharset(vec!["UTF-8".into(), "US-ASCII".into()]);
    Err(Done::no(Some(code), reply::NOT_UTF8_OR_ASCII))
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
    pub(super) async fn sort(&mut self, body: CommandBody) -> Done {
        let CommandBody::Sort {
            uid,
            criteria,
            charset,
            search,
        } = body
        else {
            return Done::bad(reply::NOT_SUPPORTED);
        };
        let texts = criteria.iter().any(|c| compares_text(c.key));
        let mut rows = match self.sortable(&charset, &search, texts).await {
            Ok(rows) => rows,
            Err(done) => return done,
        };
        rows.sort_by(|a, b| compare(a, b, &criteria));
        // RFC 7162 3.1.5: sorting by a MODSEQ search tells the highest MODSEQ found.
        let modseq = uses_modseq(&search)
            .then(|| rows.iter().map(|r| r.modseq).max())
            .flatten();
        let ids = rows.iter().map(|r| r.id(uid)).collect();
        self.send(&Response::Sort { ids, modseq });
        Done::ok("SORT completed")
    }

    /// The messages of the view that match `search`, in sequence order, with their keys
    /// (with `texts` false, only the sent date).
    pub(super) async fn sortable(
        &mut self,
        charset: &str,
        search: &SearchKey,
        texts: bool,
    ) -> Result<Vec<Sortable>, Done> {
        charset_known(charset)?;
        let mut needs = Needs::default();
        check(search, &mut needs).map_err(Done::bad)?;
        if uses_modseq(search) {
            self.condstore_on();
        }
        let found = self.matching(search, needs).await;
        let found = found.map_err(|e| Done::store_error(&e))?;
        let Some(view) = self.selected.as_ref() else {
            return Err(Done::bad(reply::WRONG_STATE));
        };
        let store = self.ctx.store.clone();
        let listed = store.messages_with_cache(view.info.id).await;
        let listed = listed.map_err(|e| Done::store_error(&e))?;
        // Both lists are in UID order: one pass pairs them.
        let mut rows = Vec::with_capacity(found.len());
        let mut missing = Vec::new();
        let mut next = 0;
        for (seq, uid, _) in found {
            next += listed[next..].partition_point(|(m, _)| m.uid < uid);
            // Not listed: expunged since the search; it is told as such soon.
            let Some((meta, data)) = listed.get(next).filter(|(m, _)| m.uid == uid) else {
                continue;
            };
            let decode = if texts {
                SortKeys::decode
            } else {
                SortKeys::decode_sent
            };
            let keys = data.as_deref().and_then(decode);
            if keys.is_none() {
                missing.push((rows.len(), meta.blob.clone(), meta.size));
            }
            rows.push(Sortable {
                seq,
                uid: uid.get(),
                arrival: meta.internal_date,
                size: meta.size,
                modseq: meta.modseq,
                keys: keys.unwrap_or_default(),
            });
        }
        fill_keys(&*store, &mut rows, missing).await;
        Ok(rows)
    }
}

/// Reads the keys of the messages the cache did not have, and caches them. Small bodies
/// are read many to a trip; a body that cannot be read (expunged meanwhile) sorts with
/// empty keys; a cache that cannot be written is only logged: it is tried again next time.
async fn fill_keys(store: &dyn Mail, rows: &mut [Sortable], missing: Vec<(usize, BlobId, u64)>) {
    let mut entries = Vec::new();
    let (small, large): (Vec<_>, Vec<_>) = missing
        .into_iter()
        .partition(|(_, _, size)| *size <= SMALL_BODY);
    for batch in small.chunks(READ_BATCH).chain(large.chunks(READ_BATCH)) {
        let heads = read_heads(store, batch).await;
        for ((at, blob, _), head) in batch.iter().zip(heads) {
            let Some(head) = head else { continue };
            let keys = SortKeys::from_header(hermod_message::header_section(&head));
            entries.push((blob.clone(), keys.encode()));
            rows[*at].keys = keys;
        }
        if entries.len() >= CACHE_BATCH {
            cache(store, &mut entries).await;
        }
    }
    cache(store, &mut entries).await;
}

/// The start of each body (`None` where it cannot be read): small ones (first in a batch)
/// whole in one trip, the others one by one up to [`HEADER_LIMIT`].
async fn read_heads(store: &dyn Mail, batch: &[(usize, BlobId, u64)]) -> Vec<Option<Vec<u8>>> {
    let small: Vec<(BlobId, u64)> = batch
        .iter()
        .take_while(|(_, _, size)| *size <= SMALL_BODY)
        .map(|(_, blob, size)| (blob.clone(), *size))
        .collect();
    // Stops at the first body it cannot read whole; the rest go one by one.
    let mut heads: Vec<Option<Vec<u8>>> = match store.read_blobs(&small).await {
        Ok(bodies) => bodies.into_iter().map(Some).collect(),
        Err(_) => Vec::new(),
    };
    for (_, blob, _) in &batch[heads.len()..] {
        match store.read_blob(blob, Some(HEADER_LIMIT)).await {
            Ok(head) => heads.push(Some(head)),
            Err(e) => {
                tracing::debug!(error = %e, "IMAP SORT: a body cannot be read");
                heads.push(None);
            }
        }
    }
    heads
}

/// The cache entry of a body: its keys, from the header at its start.
pub(super) fn keys_entry(blob: &BlobId, raw: &[u8]) -> (BlobId, Vec<u8>) {
    let keys = SortKeys::from_header(hermod_message::header_section(raw));
    (blob.clone(), keys.encode())
}

/// Writes `entries` to the body cache and empties the list.
pub(super) async fn cache(store: &dyn Mail, entries: &mut Vec<(BlobId, Vec<u8>)>) {
    if entries.is_empty() {
        return;
    }
    if let Err(e) = store.cache_bodies(entries).await {
        tracing::warn!(error = %e, "IMAP: cannot cache sort keys");
    }
    entries.clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(seq: u32, arrival: i64, size: u64, subject: &str, sent: Option<i64>) -> Sortable {
        Sortable {
            seq,
            uid: seq + 10,
            arrival,
            size,
            modseq: 1,
            keys: SortKeys {
                subject: subject.into(),
                sent,
                ..SortKeys::default()
            },
        }
    }

    fn sorted(rows: &mut [Sortable], criteria: &[(bool, SortKey)]) -> Vec<u32> {
        let criteria: Vec<_> = criteria
            .iter()
            .map(|&(reverse, key)| SortCriterion { reverse, key })
            .collect();
        rows.sort_by(|a, b| compare(a, b, &criteria));
        rows.iter().map(|r| r.id(false)).collect()
    }

    #[test]
    fn criteria_apply_in_turn_and_ties_go_by_sequence_number() {
        let mut rows = vec![
            row(1, 300, 10, "B", Some(50)),
            row(2, 100, 30, "A", None),
            row(3, 200, 10, "B", Some(500)),
            row(4, 200, 20, "A", Some(100)),
        ];
        assert_eq!(
            sorted(&mut rows, &[(false, SortKey::Arrival)]),
            [2, 3, 4, 1]
        );
        assert_eq!(sorted(&mut rows, &[(false, SortKey::Date)]), [1, 2, 4, 3]);
        assert_eq!(
            sorted(
                &mut rows,
                &[(false, SortKey::Subject), (true, SortKey::Size)]
            ),
            [2, 4, 1, 3]
        );
        assert_eq!(sorted(&mut rows, &[(false, SortKey::Size)]), [1, 3, 4, 2]);
        assert_eq!(sorted(&mut rows, &[(true, SortKey::Size)]), [2, 4, 1, 3]);
        assert_eq!(sorted(&mut rows, &[(false, SortKey::Cc)]), [1, 2, 3, 4]);
    }
}
