//! FETCH and UID FETCH (RFC 9051 6.4.5): flags, dates, sizes, body sections with partials,
//! BINARY sections and sizes (RFC 3516), ENVELOPE and BODYSTRUCTURE. A large whole body
//! streams from the store as a literal.

use super::cache::Structure;
use super::condstore::FetchModifiers;
use super::readahead::{self, Bodies};
use super::{Done, Session, binary, convert, mime, reply};
use hermod_proto::imap::{BodyName, Code, FetchAttr, FetchItem, Partial, Section, SequenceSet};
use hermod_store::{BodyStream, FlagChange, FlagOp, Flags, MessageMeta, StoreError, UidSet};
use hermod_types::Uid;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};

/// Whole bodies larger than this stream from the store instead of being read whole.
const STREAM_OVER: u64 = 256 * 1024;
const CHUNK: usize = 64 * 1024;

/// One message to answer for, with its body when it was read ahead.
struct Fetched<'a> {
    seq: u32,
    meta: &'a MessageMeta,
    body: Option<Result<Vec<u8>, StoreError>>,
    flags_changed: bool,
}

/// Whether FETCH of `attr` sets `\Seen` (RFC 9051 6.4.5: BODY[...], BINARY[...] and
/// RFC822, RFC822.TEXT).
fn sets_seen(attr: &FetchAttr) -> bool {
    matches!(
        attr,
        FetchAttr::BodySection { peek: false, .. }
            | FetchAttr::Binary { peek: false, .. }
            | FetchAttr::Rfc822
            | FetchAttr::Rfc822Text
    )
}

fn needs_body(attr: &FetchAttr) -> bool {
    use FetchAttr as A;
    matches!(
        attr,
        A::Envelope
            | A::Body
            | A::BodyStructure
            | A::BodySection { .. }
            | A::Binary { .. }
            | A::BinarySize { .. }
            | A::Rfc822
            | A::Rfc822Header
            | A::Rfc822Text
    )
}

/// ENVELOPE, BODY and BODYSTRUCTURE: from the message's structure, which can be cached.
fn structural(attr: &FetchAttr) -> bool {
    matches!(
        attr,
        FetchAttr::Envelope | FetchAttr::Body | FetchAttr::BodyStructure
    )
}

/// `BODY[]` or `RFC822`: the stored octets as they are, which can stream.
fn whole_body(attr: &FetchAttr) -> Option<BodyName> {
    match attr {
        FetchAttr::Rfc822 => Some(BodyName::Rfc822),
        FetchAttr::BodySection {
            section,
            partial: None,
            ..
        } if section.part.is_empty() && section.text.is_none() => Some(BodyName::Section {
            section: Section::default(),
            origin: None,
        }),
        _ => None,
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
    pub(super) async fn fetch(
        &mut self,
        uid: bool,
        set: SequenceSet,
        mut attrs: Vec<FetchAttr>,
        modifiers: FetchModifiers,
    ) -> std::io::Result<Done> {
        if let Err(why) = self.fetch_modseq(&mut attrs, modifiers) {
            return Ok(Done::bad(why));
        }
        if let (Some(since), true) = (modifiers.changed_since, modifiers.vanished)
            && let Err(e) = self.fetch_vanished(since, &set).await
        {
            return Ok(Done::store_error(&e));
        }
        let Some(view) = self.selected.as_ref() else {
            return Ok(Done::bad(reply::WRONG_STATE));
        };
        let Some(positions) = view.resolve(uid, &set) else {
            return Ok(Done::bad(reply::BAD_SEQUENCE));
        };
        if positions.is_empty() {
            return Ok(Done::ok("FETCH completed"));
        }
        let wanted = view.uid_set(&positions);
        let (metas, seen_now) = match self.fetch_metas(&wanted, &attrs, modifiers).await {
            Ok(found) => found,
            Err(e) => return Ok(Done::store_error(&e)),
        };
        let store = self.ctx.store.clone();
        // Bodies the items need whole are read ahead, many to a trip to the store.
        let read_ahead = attrs.iter().any(|a| needs_body(a) && !structural(a));
        let mut expunged = None;
        for batch in positions.chunks(readahead::BATCH) {
            let mut bodies = match (read_ahead, self.selected.as_ref()) {
                (true, Some(view)) => {
                    let in_batch = batch.iter().filter_map(|&at| view.uids.get(at));
                    Bodies::read(&*store, in_batch.filter_map(|uid| metas.get(uid))).await
                }
                _ => Bodies::default(),
            };
            for &at in batch {
                let Some(view) = self.selected.as_mut() else {
                    break;
                };
                let Some(uid_at) = view.uids.get(at).copied() else {
                    continue;
                };
                // Gone meanwhile (another session expunged it): nothing to say about it yet.
                let Some(meta) = metas.get(&uid_at) else {
                    continue;
                };
                view.flags[at] = meta.flags.clone();
                let message = Fetched {
                    seq: at as u32 + 1,
                    meta,
                    body: bodies.take(uid_at),
                    flags_changed: seen_now.contains(&uid_at),
                };
                match self.fetch_one(message, &attrs, uid).await? {
                    Ok(()) => {}
                    // Expunged by another session meanwhile: the others are still answered.
                    Err(done) if done.code == Some(Code::ExpungeIssued) => expunged = Some(done),
                    Err(done) => return Ok(done),
                }
                self.conn.flush_if_large().await?;
            }
        }
        Ok(expunged.unwrap_or_else(|| Done::ok("FETCH completed")))
    }

    /// The metadata of the `wanted` messages (those changed since CHANGEDSINCE's MODSEQ),
    /// `\Seen` set first where the items set it; the UIDs it was set on.
    async fn fetch_metas(
        &mut self,
        wanted: &UidSet,
        attrs: &[FetchAttr],
        modifiers: FetchModifiers,
    ) -> Result<(HashMap<Uid, MessageMeta>, Vec<Uid>), StoreError> {
        let Some(view) = self.selected.as_ref() else {
            return Ok((HashMap::new(), Vec::new()));
        };
        let (mailbox, read_only) = (view.info.id, view.read_only);
        let list = self.ctx.store.messages_in(mailbox, wanted).await?;
        let mut metas: HashMap<Uid, MessageMeta> = list.into_iter().map(|m| (m.uid, m)).collect();
        // CHANGEDSINCE: the others are left out like messages that are gone.
        if let Some(since) = modifiers.changed_since {
            metas.retain(|_, m| m.modseq > since);
        }
        let mut seen_now = Vec::new();
        if !read_only && attrs.iter().any(sets_seen) {
            seen_now = self.mark_seen(&mut metas).await?;
        }
        Ok((metas, seen_now))
    }

    /// FETCH MODSEQ and CHANGEDSINCE enable CONDSTORE, and CHANGEDSINCE implies the MODSEQ
    /// item (RFC 7162 3.1.4); VANISHED needs QRESYNC enabled (3.2.6).
    fn fetch_modseq(
        &mut self,
        attrs: &mut Vec<FetchAttr>,
        modifiers: FetchModifiers,
    ) -> Result<(), &'static str> {
        if modifiers.vanished && !self.qresync {
            return Err(reply::QRESYNC_NOT_ENABLED);
        }
        if modifiers.changed_since.is_some() && !attrs.contains(&FetchAttr::ModSeq) {
            attrs.push(FetchAttr::ModSeq);
        }
        if attrs.contains(&FetchAttr::ModSeq) {
            self.condstore_on();
        }
        Ok(())
    }

    /// Adds `\Seen` to the messages of `metas` that lack it; returns their UIDs.
    async fn mark_seen(
        &mut self,
        metas: &mut HashMap<Uid, MessageMeta>,
    ) -> Result<Vec<Uid>, StoreError> {
        let unseen: Vec<Uid> = metas
            .values()
            .filter(|m| !m.flags.has(Flags::SEEN))
            .map(|m| m.uid)
            .collect();
        let Some(view) = self.selected.as_ref() else {
            return Ok(Vec::new());
        };
        if unseen.is_empty() {
            return Ok(unseen);
        }
        let change = FlagChange {
            op: FlagOp::Add,
            flags: Flags {
                bits: Flags::SEEN,
                keywords: Vec::new(),
            },
            unchanged_since: None,
        };
        let set = unseen.iter().copied().collect();
        let outcome = self
            .ctx
            .store
            .store_flags(view.info.id, &set, &change)
            .await?;
        for state in outcome.updated {
            if let Some(m) = metas.get_mut(&state.uid) {
                m.flags = state.flags;
                m.modseq = state.modseq;
            }
        }
        Ok(unseen)
    }

    /// One `* n FETCH (...)` response. The outer error ends the connection (a literal
    /// was announced and cannot be completed); the inner one ends the command (the store
    /// failed, or a BINARY part cannot be decoded), before anything of this message is sent.
    async fn fetch_one(
        &mut self,
        message: Fetched<'_>,
        attrs: &[FetchAttr],
        uid: bool,
    ) -> std::io::Result<Result<(), Done>> {
        let Fetched {
            seq,
            meta,
            body,
            flags_changed,
        } = message;
        let store = self.ctx.store.clone();
        let stream = meta.size > STREAM_OVER
            && attrs
                .iter()
                .all(|a| !needs_body(a) || whole_body(a).is_some());
        let cached = match attrs.iter().any(structural) {
            true => self.ctx.imap_structures.get(&meta.blob),
            false => None,
        };
        // With the structure cached, ENVELOPE and BODYSTRUCTURE need no body.
        let needs_raw = attrs
            .iter()
            .any(|a| needs_body(a) && !(cached.is_some() && structural(a)));
        let raw = match (needs_raw && !stream, body) {
            (false, _) => None,
            (true, Some(Ok(raw))) => Some(raw),
            (true, Some(Err(e))) => return Ok(Err(self.unreadable(meta, &e).await)),
            (true, None) => match store.read_blob(&meta.blob, None).await {
                Ok(raw) => Some(raw),
                Err(e) => return Ok(Err(self.unreadable(meta, &e).await)),
            },
        };
        // Opened before anything of the response is written: the literal's size cannot be
        // taken back.
        let mut opened = None;
        if stream && attrs.iter().any(|a| whole_body(a).is_some()) {
            match store.open_blob(&meta.blob).await {
                Ok(body) => opened = Some(body),
                Err(e) => return Ok(Err(self.unreadable(meta, &e).await)),
            }
        }
        // The whole message goes out as stored: only the other items need its MIME tree.
        let needs_tree = attrs.iter().any(|a| {
            needs_body(a) && whole_body(a).is_none() && !(cached.is_some() && structural(a))
        });
        let tree = raw.as_deref().filter(|_| needs_tree).map(mime::parse);
        let structure = match (cached, raw.as_deref(), tree.as_ref()) {
            (Some(cached), ..) => Some(cached),
            (None, Some(raw), Some(tree)) if attrs.iter().any(structural) => {
                let parsed = Arc::new(Structure {
                    envelope: mime::envelope(raw, tree),
                    body: mime::structure(raw, tree),
                });
                let cache = &self.ctx.imap_structures;
                cache.insert(&meta.blob, parsed.clone(), tree.header.len());
                Some(parsed)
            }
            _ => None,
        };
        let decoded = match (raw.as_deref(), tree.as_ref()) {
            (Some(raw), Some(tree)) => match binaries(raw, tree, attrs) {
                Ok(decoded) => decoded,
                Err(code) => return Ok(Err(Done::no(Some(code), reply::CANNOT_DECODE))),
            },
            _ => Vec::new(),
        };
        // Before the response starts: showing the flags may need a FLAGS response first.
        let shows_flags = flags_changed || attrs.contains(&FetchAttr::Flags);
        let flags = match shows_flags {
            true => self.shown_flags(meta.uid, &meta.flags),
            false => Vec::new(),
        };
        let enc = self.enc;
        let mut w = enc.fetch_start(self.conn.output(), seq);
        if uid && !attrs.contains(&FetchAttr::Uid) {
            w.item(self.conn.output(), &FetchItem::Uid(meta.uid.get()));
        }
        for (at, attr) in attrs.iter().enumerate() {
            if let (true, Some(name)) = (stream, whole_body(attr)) {
                w.literal(self.conn.output(), &name, meta.size);
                let body = match opened.take() {
                    Some(body) => body,
                    None => store
                        .open_blob(&meta.blob)
                        .await
                        .map_err(std::io::Error::other)?,
                };
                self.stream_body(meta, body).await?;
                continue;
            }
            if let (Some(raw), Some(name)) = (raw.as_deref(), whole_body(attr)) {
                w.data(self.conn.output(), &name, raw);
                continue;
            }
            let item = match decoded.get(at).cloned().flatten() {
                Some(binary) => binary,
                None if *attr == FetchAttr::Flags => FetchItem::Flags(flags.clone()),
                None => match (attr, structure.as_deref()) {
                    (FetchAttr::Envelope, Some(s)) => {
                        FetchItem::Envelope(Box::new(s.envelope.clone()))
                    }
                    (FetchAttr::Body, Some(s)) => FetchItem::Body(Box::new(s.body.clone())),
                    (FetchAttr::BodyStructure, Some(s)) => {
                        FetchItem::BodyStructure(Box::new(s.body.clone()))
                    }
                    _ => item(attr, meta, raw.as_deref(), tree.as_ref()),
                },
            };
            w.item(self.conn.output(), &item);
        }
        if flags_changed && !attrs.contains(&FetchAttr::Flags) {
            w.item(self.conn.output(), &FetchItem::Flags(flags));
        }
        // A flag change told to a CONDSTORE client carries its MODSEQ (RFC 7162 3.1.4.1).
        if flags_changed && self.condstore && !attrs.contains(&FetchAttr::ModSeq) {
            w.item(self.conn.output(), &FetchItem::ModSeq(meta.modseq));
        }
        w.finish(self.conn.output());
        Ok(Ok(()))
    }

    /// Why a body could not be read: most often another session expunged the message
    /// after this command read the list (the body goes with its last message), which is
    /// `NO [EXPUNGEISSUED]` (RFC 5530) once the other messages are answered; anything else
    /// is the store's failure.
    async fn unreadable(&self, meta: &MessageMeta, e: &StoreError) -> Done {
        let Some(view) = self.selected.as_ref() else {
            return Done::store_error(e);
        };
        let this: UidSet = std::iter::once(meta.uid).collect();
        match self.ctx.store.messages_in(view.info.id, &this).await {
            Ok(still) if still.is_empty() => {
                Done::no(Some(Code::ExpungeIssued), reply::SOME_EXPUNGED)
            }
            _ => Done::store_error(e),
        }
    }

    /// Copies exactly `meta.size` octets of the stored body after a literal header.
    async fn stream_body(
        &mut self,
        meta: &MessageMeta,
        mut body: Box<dyn BodyStream>,
    ) -> std::io::Result<()> {
        let mut left = meta.size;
        while left > 0 {
            let chunk = body.read_chunk(CHUNK.min(left as usize)).await?;
            if chunk.is_empty() {
                // The literal's size is out: the only honest thing left is to hang up.
                return Err(std::io::Error::other(
                    "a stored body is shorter than its size",
                ));
            }
            let n = chunk.len().min(left as usize);
            self.conn.output().extend_from_slice(&chunk[..n]);
            left -= n as u64;
            self.conn.flush_if_large().await?;
        }
        Ok(())
    }
}

/// The FETCH item for `attr` of message `meta`; `raw` and `tree` are there when any
/// attribute needed the body.
fn item(
    attr: &FetchAttr,
    meta: &MessageMeta,
    raw: Option<&[u8]>,
    tree: Option<&mime::Entity>,
) -> FetchItem {
    use FetchAttr as A;
    let (raw, tree) = match (raw, tree) {
        (Some(raw), Some(tree)) => (raw, tree),
        _ => return meta_item(attr, meta),
    };
    let data = |name: BodyName, bytes: &[u8]| FetchItem::Data {
        name,
        data: Some(bytes.to_vec()),
    };
    match attr {
        A::Envelope => FetchItem::Envelope(Box::new(mime::envelope(raw, tree))),
        A::Body => FetchItem::Body(Box::new(mime::structure(raw, tree))),
        A::BodyStructure => FetchItem::BodyStructure(Box::new(mime::structure(raw, tree))),
        A::Rfc822 => data(BodyName::Rfc822, raw),
        A::Rfc822Header => data(BodyName::Rfc822Header, &raw[tree.header.clone()]),
        A::Rfc822Text => data(BodyName::Rfc822Text, &raw[tree.body.clone()]),
        A::BodySection {
            section, partial, ..
        } => {
            // A part the message does not have reads as empty.
            let octets = mime::section(raw, tree, section).unwrap_or_default();
            let name = BodyName::Section {
                section: section.clone(),
                origin: partial.map(|p| p.origin),
            };
            FetchItem::Data {
                name,
                data: Some(cut(octets, *partial)),
            }
        }
        _ => meta_item(attr, meta),
    }
}

fn meta_item(attr: &FetchAttr, meta: &MessageMeta) -> FetchItem {
    match attr {
        FetchAttr::Flags => FetchItem::Flags(convert::wire_flags(&meta.flags)),
        FetchAttr::InternalDate => {
            FetchItem::InternalDate(convert::internal_date(meta.internal_date))
        }
        FetchAttr::Rfc822Size => FetchItem::Rfc822Size(meta.size),
        FetchAttr::ModSeq => FetchItem::ModSeq(meta.modseq),
        _ => FetchItem::Uid(meta.uid.get()),
    }
}

/// The item of every BINARY and BINARY.SIZE attribute, by the attribute's position
/// (`None` for the others), or why a part cannot be decoded.
fn binaries(
    raw: &[u8],
    tree: &mime::Entity,
    attrs: &[FetchAttr],
) -> Result<Vec<Option<FetchItem>>, Code> {
    let mut out = Vec::with_capacity(attrs.len());
    for attr in attrs {
        out.push(match attr {
            FetchAttr::Binary { part, partial, .. } => Some(FetchItem::Data {
                name: BodyName::Binary {
                    part: part.clone(),
                    origin: partial.map(|p| p.origin),
                },
                data: Some(cut(binary::decoded(raw, tree, part)?, *partial)),
            }),
            FetchAttr::BinarySize { part } => Some(FetchItem::BinarySize {
                part: part.clone(),
                size: binary::decoded(raw, tree, part)?.len() as u64,
            }),
            _ => None,
        });
    }
    Ok(out)
}

/// `<origin.length>`: the octets from `origin`, at most `length` of them.
fn cut(octets: Vec<u8>, partial: Option<Partial>) -> Vec<u8> {
    let Some(p) = partial else {
        return octets;
    };
    let start = (p.origin as usize).min(octets.len());
    let end = start.saturating_add(p.length as usize).min(octets.len());
    octets[start..end].to_vec()
}
