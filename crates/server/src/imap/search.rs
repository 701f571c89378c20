//! SEARCH and UID SEARCH (RFC 9051 6.4.4), answered with `* SEARCH` or, when the client
//! asks with RETURN or has enabled IMAP4rev2, ESEARCH (RFC 4731); `RETURN (SAVE)` keeps the
//! result as `$` (RFC 5182 SEARCHRES). Text keys match case-insensitively, header keys
//! against the field as written and as decoded (RFC 2047), BODY/TEXT against the decoded
//! text of every text part.

use super::rawscan::RawText;
use super::readahead::{self, Bodies};
use super::{Done, Session, convert, mime, now, reply};
use hermod_proto::imap::{
    Address, CommandBody, Date, ESearch, Response, SearchKey, SearchReturn, SeqNum, SequenceSet,
};
use hermod_store::{Flags, Mail, MailboxId, MessageMeta, StoreError, UidSet};
use hermod_types::Uid;
use mail_parser::parsers::MessageStream;
use mail_parser::{HeaderValue, MessageParser, PartType};
use std::cell::OnceCell;
use std::collections::{HashMap, HashSet};
use tokio::io::{AsyncRead, AsyncWrite};

/// What evaluating a key needs beyond flags and numbers.
#[derive(Default, Clone, Copy)]
pub(super) struct Needs {
    meta: bool,
    body: bool,
}

/// Keys this server cannot answer yet: BAD rather than a wrong answer.
pub(super) fn check(key: &SearchKey, needs: &mut Needs) -> Result<(), &'static str> {
    use SearchKey as K;
    match key {
        K::ModSeq { .. } => needs.meta = true,
        K::Not(k) => check(k, needs)?,
        K::Or(a, b) => {
            check(a, needs)?;
            check(b, needs)?;
        }
        K::And(keys) => keys.iter().try_for_each(|k| check(k, needs))?,
        K::Larger(_) | K::Smaller(_) | K::Before(_) | K::On(_) | K::Since(_) => needs.meta = true,
        K::Older(_) | K::Younger(_) => needs.meta = true,
        K::Bcc(_) | K::Body(_) | K::Cc(_) | K::From(_) | K::Header(..) | K::Subject(_) => {
            needs.body = true;
        }
        K::Text(_) | K::To(_) | K::SentBefore(_) | K::SentOn(_) | K::SentSince(_) => {
            needs.body = true;
        }
        _ => {}
    }
    Ok(())
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
    pub(super) async fn search(&mut self, tag: &str, body: CommandBody) -> Done {
        let CommandBody::Search {
            uid,
            charset,
            returns,
            criteria,
        } = body
        else {
            return Done::bad(reply::NOT_SUPPORTED);
        };
        // RFC 9051 6.4.4: a rev2 client gets ESEARCH for a plain SEARCH too.
        let returns = returns.or_else(|| self.enabled.rev2.then(Vec::new));
        let save = returns
            .as_ref()
            .is_some_and(|r| r.contains(&SearchReturn::Save));
        let done = self
            .search_with(tag, uid, charset, returns, &criteria)
            .await;
        // RFC 5182 2.1: a failed SEARCH ... RETURN (SAVE) leaves `$` empty.
        if save
            && done.status != hermod_proto::imap::Status::Ok
            && let Some(view) = self.selected.as_mut()
        {
            view.saved = UidSet::default();
        }
        done
    }

    async fn search_with(
        &mut self,
        tag: &str,
        uid: bool,
        charset: Option<String>,
        returns: Option<Vec<SearchReturn>>,
        criteria: &SearchKey,
    ) -> Done {
        if let Some(c) = &charset
            && !c.eq_ignore_ascii_case("UTF-8")
            && !c.eq_ignore_ascii_case("US-ASCII")
        {
            let code =
                hermod_proto::imap::Code::BadCharset(vec!["UTF-8".into(), "US-ASCII".into()]);
            return Done::no(Some(code), reply::NOT_UTF8_OR_ASCII);
        }
        let mut needs = Needs::default();
        if let Err(why) = check(criteria, &mut needs) {
            return Done::bad(why);
        }
        let found = match self.matching(criteria, needs).await {
            Ok(found) => found,
            Err(e) => return Done::store_error(&e),
        };
        // RFC 7162 3.1.5: a search by MODSEQ enables CONDSTORE and answers with the highest
        // MODSEQ of the messages it names.
        let modseq = if uses_modseq(criteria) {
            self.condstore_on();
            answered(&found, returns.as_deref().unwrap_or_default())
                .map(|&(_, _, m)| m)
                .max()
        } else {
            None
        };
        let ids: Vec<u32> = found
            .iter()
            .map(|&(seq, u, _)| if uid { u.get() } else { seq })
            .collect();
        let Some(returns) = returns else {
            self.send(&Response::Search { ids, modseq });
            return Done::ok("SEARCH completed");
        };
        if returns.contains(&SearchReturn::Save)
            && let Some(view) = self.selected.as_mut()
        {
            view.saved = saved_result(&found, &returns);
        }
        // RFC 5182 2.1: RETURN (SAVE) alone answers nothing but the tagged OK.
        if returns != [SearchReturn::Save] {
            let esearch = ESearch {
                modseq,
                ..esearch(tag, uid, &ids, &returns)
            };
            self.send(&Response::ESearch(esearch));
        }
        Done::ok("SEARCH completed")
    }

    /// (sequence number, UID, MODSEQ if it was read) of every message of the view matching
    /// `key`.
    pub(super) async fn matching(
        &mut self,
        key: &SearchKey,
        needs: Needs,
    ) -> Result<Vec<(u32, Uid, u64)>, StoreError> {
        let Some(view) = self.selected.as_ref() else {
            return Ok(Vec::new());
        };
        let store = self.ctx.store.clone();
        let (metas, uncached) = metas_for(&*store, view.info.id, needs).await?;
        let mut keys = Vec::new();
        let (count, last_uid) = (view.exists(), view.last_uid());
        let mut found = Vec::new();
        let entries: Vec<(usize, (&Uid, &Flags))> =
            view.uids.iter().zip(&view.flags).enumerate().collect();
        for batch in entries.chunks(readahead::BATCH) {
            // Bodies are read many to a trip; a large one alone, below.
            let mut bodies = match needs.body {
                true => {
                    let in_batch = batch.iter().filter_map(|(_, (uid, _))| metas.get(uid));
                    Bodies::read(&*store, in_batch).await
                }
                false => Bodies::default(),
            };
            for &(at, (&uid, flags)) in batch {
                let meta = metas.get(&uid);
                if (needs.meta || needs.body) && meta.is_none() {
                    continue; // expunged meanwhile
                }
                let raw = match (needs.body, meta) {
                    (true, Some(m)) => {
                        let read = match bodies.take(uid) {
                            Some(read) => read,
                            None => store.read_blob(&m.blob, None).await,
                        };
                        let raw = match read {
                            Ok(raw) => raw,
                            // Expunged by another session since the list was read (its
                            // body went with it): it matches nothing.
                            Err(e) => match store
                                .messages_in(view.info.id, &UidSet::from_iter([uid]))
                                .await
                            {
                                Ok(still) if still.is_empty() => continue,
                                _ => return Err(e),
                            },
                        };
                        if uncached.contains(&uid) {
                            keys.push(super::sort::keys_entry(&m.blob, &raw));
                        }
                        Some(raw)
                    }
                    _ => None,
                };
                // In a block of its own: the text's cells are not `Sync`, so it must be gone
                // before the next await.
                let matched = {
                    let text = raw.as_deref().map(Text::new);
                    let message = Candidate {
                        saved: &view.saved,
                        seq: at as u32 + 1,
                        uid,
                        recent: view.recent.contains(uid),
                        flags,
                        meta,
                        text: text.as_ref(),
                        count,
                        last_uid,
                        now: now(),
                    };
                    message.matches(key)
                };
                if matched {
                    found.push((at as u32 + 1, uid, meta.map_or(0, |m| m.modseq)));
                }
                if keys.len() >= super::sort::CACHE_BATCH {
                    super::sort::cache(&*store, &mut keys).await;
                }
            }
        }
        super::sort::cache(&*store, &mut keys).await;
        Ok(found)
    }
}

/// The messages' metadata when the keys need it, and (with bodies) which of them have no
/// cached SORT and THREAD keys yet: reading their bodies for text gives those too.
async fn metas_for(
    store: &dyn Mail,
    mailbox: MailboxId,
    needs: Needs,
) -> Result<(HashMap<Uid, MessageMeta>, HashSet<Uid>), StoreError> {
    let mut uncached = HashSet::new();
    let metas = if needs.body {
        let list = store.messages_with_cache(mailbox).await?;
        let mut metas = HashMap::with_capacity(list.len());
        for (m, cached) in list {
            if cached.is_none() {
                uncached.insert(m.uid);
            }
            metas.insert(m.uid, m);
        }
        metas
    } else if needs.meta {
        let list = store.messages(mailbox).await?;
        list.into_iter().map(|m| (m.uid, m)).collect()
    } else {
        HashMap::new()
    };
    Ok((metas, uncached))
}

pub(super) fn uses_modseq(key: &SearchKey) -> bool {
    match key {
        SearchKey::ModSeq { .. } => true,
        SearchKey::Not(k) => uses_modseq(k),
        SearchKey::Or(a, b) => uses_modseq(a) || uses_modseq(b),
        SearchKey::And(keys) => keys.iter().any(uses_modseq),
        _ => false,
    }
}

/// What `$` holds after a search (RFC 5182 2.1): with MIN or MAX but neither ALL nor COUNT,
/// only those messages; otherwise every match.
fn saved_result(found: &[(u32, Uid, u64)], returns: &[SearchReturn]) -> UidSet {
    answered(found, returns).map(|&(_, u, _)| u).collect()
}

/// The messages of `found` an answer names: only the first and last when MIN or MAX come
/// without ALL or COUNT (what `$` keeps, RFC 5182 2.1, and whose MODSEQ is told, RFC 7162
/// 3.1.5); all of them otherwise.
fn answered<'f>(
    found: &'f [(u32, Uid, u64)],
    returns: &[SearchReturn],
) -> impl Iterator<Item = &'f (u32, Uid, u64)> {
    let has = |r| returns.contains(&r);
    let ends = (has(SearchReturn::Min) || has(SearchReturn::Max))
        && !has(SearchReturn::All)
        && !has(SearchReturn::Count);
    let (all, min, max) = match ends {
        true => (&found[..0], has(SearchReturn::Min), has(SearchReturn::Max)),
        false => (found, false, false),
    };
    let min = found.first().filter(|_| min);
    // A single match is both MIN and MAX: named once.
    let max = found
        .last()
        .filter(|_| max && !(min.is_some() && found.len() == 1));
    all.iter().chain(min).chain(max)
}

fn esearch(tag: &str, uid: bool, ids: &[u32], returns: &[SearchReturn]) -> ESearch {
    // RFC 4731 3.1: RETURN () means ALL (SAVE aside, which shows nothing).
    let shown = returns.iter().filter(|&&r| r != SearchReturn::Save).count();
    let all = shown == 0 || returns.contains(&SearchReturn::All);
    // Ascending numbers, runs written as ranges (`1:500` rather than 500 numbers).
    let mut runs: Vec<(u32, u32)> = Vec::new();
    for &n in ids {
        match runs.last_mut() {
            Some((_, end)) if end.checked_add(1) == Some(n) => *end = n,
            _ => runs.push((n, n)),
        }
    }
    let ranges = runs
        .into_iter()
        .map(|(a, b)| (SeqNum::Value(a), SeqNum::Value(b)));
    ESearch {
        tag: Some(tag.to_owned()),
        uid,
        min: ids
            .first()
            .copied()
            .filter(|_| returns.contains(&SearchReturn::Min)),
        max: ids
            .last()
            .copied()
            .filter(|_| returns.contains(&SearchReturn::Max)),
        all: (all && !ids.is_empty()).then(|| SequenceSet::Ranges(ranges.collect())),
        count: returns
            .contains(&SearchReturn::Count)
            .then_some(ids.len() as u32),
        modseq: None,
    }
}

/// A message's searchable text, lower-cased, worked out the first time a key asks for it:
/// most messages are answered by the header fields or by the raw octets alone.
struct Text<'a> {
    raw: &'a [u8],
    fields: OnceCell<Fields>,
    body: OnceCell<String>,
    scan: OnceCell<RawText>,
}

/// Each field's name, and its value as written and decoded; the sent date.
struct Fields {
    fields: Vec<(String, String)>,
    sent: Option<Date>,
}

impl<'a> Text<'a> {
    fn new(raw: &'a [u8]) -> Text<'a> {
        Text {
            raw,
            fields: OnceCell::new(),
            body: OnceCell::new(),
            scan: OnceCell::new(),
        }
    }

    fn fields(&self) -> &Fields {
        self.fields.get_or_init(|| Fields::of(self.raw))
    }

    fn sent(&self) -> Option<Date> {
        self.fields().sent
    }

    fn header(&self, name: &str, needle: &str) -> bool {
        self.fields()
            .fields
            .iter()
            .any(|(n, v)| n.eq_ignore_ascii_case(name) && v.contains(needle))
    }

    /// FROM, TO, CC and BCC (RFC 9051 6.4.4) are over the envelope structure's field: the
    /// field as written and decoded, or one of its addresses as ENVELOPE has it, where
    /// comments and spaces inside an address are gone (`<a (c)@ (c) b.org>` is
    /// `a@b.org`). Only a field whose octets could read otherwise is parsed for that.
    fn address_header(&self, name: &str, needle: &str) -> bool {
        if self.header(name, needle) {
            return true;
        }
        let header = hermod_message::header_section(self.raw);
        hermod_message::fields(header)
            .into_iter()
            .filter(|f| f.name.eq_ignore_ascii_case(name))
            .filter_map(|f| mime::field_value(&header[f.range]))
            .filter(|value| envelope_may_differ(value))
            .any(|value| {
                let addresses = mime::addresses_in(&value);
                addresses.iter().any(|a| envelope_forms(a).contains(needle))
            })
    }

    /// Whether the raw octets rule `needle` out of the fields and the body.
    fn ruled_out(&self, needle: &str) -> bool {
        let scan = self.scan.get_or_init(|| RawText::of(self.raw));
        !scan.may_contain(needle)
    }

    /// BODY: the decoded text of every text part.
    fn body_has(&self, needle: &str) -> bool {
        if self.ruled_out(needle) {
            return false;
        }
        let body = self.body.get_or_init(|| {
            let mut body = String::new();
            if let Some(message) = MessageParser::default().parse(self.raw) {
                collect_text(&message, &mut body, 0);
            }
            body.to_lowercase()
        });
        body.contains(needle)
    }

    /// TEXT: the body or any field's value.
    fn text_has(&self, needle: &str) -> bool {
        if self.ruled_out(needle) {
            return false;
        }
        self.body_has(needle) || self.fields().fields.iter().any(|(_, v)| v.contains(needle))
    }
}

impl Fields {
    fn of(raw: &[u8]) -> Fields {
        let header = hermod_message::header_section(raw);
        let mut fields = Vec::new();
        let mut sent = None;
        for f in hermod_message::fields(header) {
            // This field's own value: a name can occur more than once (RFC 9051 6.4.4
            // HEADER matches any of them).
            let Some(value) = super::mime::field_value(&header[f.range.clone()]) else {
                continue;
            };
            let mut with_end = value.clone();
            with_end.extend_from_slice(b"\r\n");
            let decoded = match MessageStream::new(&with_end).parse_unstructured() {
                HeaderValue::Text(t) => t.into_owned(),
                _ => String::new(),
            };
            if f.name.eq_ignore_ascii_case("Date")
                && let HeaderValue::DateTime(d) = MessageStream::new(&with_end).parse_date()
            {
                sent = Some(Date {
                    year: d.year,
                    month: d.month,
                    day: d.day,
                });
            }
            let both = format!("{} {decoded}", String::from_utf8_lossy(&value));
            fields.push((f.name.to_owned(), both.to_lowercase()));
        }
        Fields { fields, sent }
    }
}

/// Whether an address field's envelope form can hold text its written form does not: only
/// where a comment, a quoted string or a quoted pair is left out, or a space beside an
/// address's `@` or `.` closes up.
fn envelope_may_differ(value: &[u8]) -> bool {
    if value.iter().any(|b| matches!(b, b'(' | b'"' | b'\\')) {
        return true;
    }
    value.windows(2).any(|w| {
        let joint = |a: u8, b: u8| a.is_ascii_whitespace() && matches!(b, b'@' | b'.');
        joint(w[0], w[1]) || joint(w[1], w[0])
    })
}

/// An ENVELOPE address as SEARCH reads it, lower-cased: `name mailbox@host` (a group's
/// start is its name alone).
fn envelope_forms(a: &Address) -> String {
    let part = |v: &Option<Vec<u8>>| v.as_deref().map(lower).unwrap_or_default();
    let (name, mailbox, host) = (part(&a.name), part(&a.mailbox), part(&a.host));
    match host.is_empty() {
        true => format!("{name} {mailbox}"),
        false => format!("{name} {mailbox}@{host}"),
    }
}

fn collect_text(message: &mail_parser::Message<'_>, out: &mut String, depth: usize) {
    for part in &message.parts {
        match &part.body {
            PartType::Text(t) | PartType::Html(t) => {
                out.push_str(t);
                out.push('\n');
            }
            PartType::Message(inner) if depth < 8 => collect_text(inner, out, depth + 1),
            _ => {}
        }
    }
}

struct Candidate<'a> {
    /// `$`, the saved result.
    saved: &'a UidSet,
    seq: u32,
    uid: Uid,
    /// `\Recent` in this session (never for IMAP4rev2).
    recent: bool,
    flags: &'a Flags,
    meta: Option<&'a MessageMeta>,
    text: Option<&'a Text<'a>>,
    count: u32,
    last_uid: u32,
    now: i64,
}

fn in_set(set: &SequenceSet, n: u32, star: u32) -> bool {
    let SequenceSet::Ranges(ranges) = set else {
        return false;
    };
    let v = |x: SeqNum| match x {
        SeqNum::Value(v) => v,
        SeqNum::Star => star,
    };
    ranges
        .iter()
        .any(|&(a, b)| v(a).min(v(b)) <= n && n <= v(a).max(v(b)))
}

fn lower(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_lowercase()
}

impl Candidate<'_> {
    fn matches(&self, key: &SearchKey) -> bool {
        use SearchKey as K;
        let flag = |bit| self.flags.has(bit);
        match key {
            K::All => true,
            K::Recent => self.recent,
            K::New => self.recent && !flag(Flags::SEEN),
            K::Old => !self.recent,
            K::Answered => flag(Flags::ANSWERED),
            K::Deleted => flag(Flags::DELETED),
            K::Draft => flag(Flags::DRAFT),
            K::Flagged => flag(Flags::FLAGGED),
            K::Seen => flag(Flags::SEEN),
            K::Unanswered => !flag(Flags::ANSWERED),
            K::Undeleted => !flag(Flags::DELETED),
            K::Undraft => !flag(Flags::DRAFT),
            K::Unflagged => !flag(Flags::FLAGGED),
            K::Unseen => !flag(Flags::SEEN),
            K::Keyword(k) => self.has_keyword(k),
            K::Unkeyword(k) => !self.has_keyword(k),
            K::Not(k) => !self.matches(k),
            K::Or(a, b) => self.matches(a) || self.matches(b),
            K::And(keys) => keys.iter().all(|k| self.matches(k)),
            K::SequenceSet(SequenceSet::Saved) | K::Uid(SequenceSet::Saved) => {
                self.saved.contains(self.uid)
            }
            K::SequenceSet(set) => in_set(set, self.seq, self.count),
            K::Uid(set) => in_set(set, self.uid.get(), self.last_uid),
            _ => self.matches_data(key),
        }
    }

    fn has_keyword(&self, k: &str) -> bool {
        self.flags
            .keywords
            .iter()
            .any(|x| x.eq_ignore_ascii_case(k))
    }

    /// Keys on size, dates and text.
    fn matches_data(&self, key: &SearchKey) -> bool {
        use SearchKey as K;
        let (Some(meta), text) = (self.meta, self.text) else {
            return false;
        };
        let day = meta.internal_date.div_euclid(86_400);
        // Parsed only for the keys on it.
        let sent = || text.and_then(|t| t.sent()).map(convert::days_from_civil);
        let header = |name: &str, s: &[u8]| text.is_some_and(|t| t.header(name, &lower(s)));
        let address =
            |name: &str, s: &[u8]| text.is_some_and(|t| t.address_header(name, &lower(s)));
        match key {
            K::Larger(n) => meta.size > *n,
            K::Smaller(n) => meta.size < *n,
            K::Before(d) => day < convert::days_from_civil(*d),
            K::On(d) => day == convert::days_from_civil(*d),
            K::Since(d) => day >= convert::days_from_civil(*d),
            K::SentBefore(d) => sent().is_some_and(|s| s < convert::days_from_civil(*d)),
            K::SentOn(d) => sent() == Some(convert::days_from_civil(*d)),
            K::SentSince(d) => sent().is_some_and(|s| s >= convert::days_from_civil(*d)),
            K::Older(n) => self.now - meta.internal_date >= i64::from(*n),
            K::Younger(n) => self.now - meta.internal_date <= i64::from(*n),
            // Flags share the message's MODSEQ: a per-flag entry name asks the same.
            K::ModSeq { modseq, .. } => meta.modseq >= *modseq,
            K::From(s) => address("From", s),
            K::To(s) => address("To", s),
            K::Cc(s) => address("Cc", s),
            K::Bcc(s) => address("Bcc", s),
            K::Subject(s) => header("Subject", s),
            K::Header(name, s) => header(name, s),
            K::Body(s) => text.is_some_and(|t| t.body_has(&lower(s))),
            K::Text(s) => text.is_some_and(|t| t.text_has(&lower(s))),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_matches_every_field_of_that_name() {
        let raw = b"Subject: s\r\nX-Extra: hello there\r\nX-Extra: another one\r\n\r\nbody\r\n";
        let text = Text::new(raw);
        assert!(text.header("x-extra", "hello"));
        assert!(
            text.header("X-EXTRA", "another"),
            "the second field counts too"
        );
        assert!(!text.header("x-extra", "body"));
    }

    #[test]
    fn address_keys_match_the_envelope_form_too() {
        let raw = b"From: <user-from (comment)@ (comment) domain.org>\r\n\
                    To: Ann <ann@example.org>, (just a note)\r\n\r\nbody\r\n";
        let text = Text::new(raw);
        assert!(text.address_header("From", "user-from@domain.org"));
        assert!(text.address_header("From", "comment"), "as written");
        assert!(!text.address_header("From", "user-from@comment"));
        assert!(text.address_header("To", "ann@example.org"));
        assert!(!text.address_header("Cc", "ann"));
        // Written plainly, a field is not parsed: its written form says it all.
        assert!(!envelope_may_differ(
            b"Ann <ann@example.org>, bob@example.org"
        ));
        assert!(envelope_may_differ(b"ann @example.org"));
        assert!(envelope_may_differ(b"\"A, B\" <ab@example.org>"));
    }

    #[test]
    fn min_and_max_name_only_their_messages() {
        let uid = |n| Uid::new(n).unwrap();
        let found = [(1, uid(4), 9), (2, uid(5), 30), (3, uid(8), 12)];
        let modseqs = |returns: &[SearchReturn]| -> Vec<u64> {
            answered(&found, returns).map(|&(_, _, m)| m).collect()
        };
        assert_eq!(modseqs(&[SearchReturn::Min]), [9]);
        assert_eq!(modseqs(&[SearchReturn::Max]), [12]);
        assert_eq!(modseqs(&[SearchReturn::Min, SearchReturn::Max]), [9, 12]);
        assert_eq!(
            modseqs(&[SearchReturn::Min, SearchReturn::Count]),
            [9, 30, 12]
        );
        assert_eq!(modseqs(&[]), [9, 30, 12]);
        let one = &found[..1];
        let both = [SearchReturn::Min, SearchReturn::Max];
        assert_eq!(saved_result(one, &both).to_string(), "4");
    }
}
