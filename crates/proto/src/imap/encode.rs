//! Renders responses to bytes. Strings go out quoted when that is safe and short, as
//! literals otherwise; FETCH bodies can be streamed through [`FetchWriter`].

use super::command::StatusItem;
use super::fetch::{Section, SectionText};
use super::response::{
    BodyName, Code, ESearch, FetchItem, ListItem, Namespace, Response, Status, Thread,
};
use super::types::{DateTime, Flag, MONTHS, Mailbox, SeqNum, SequenceSet};
use super::utf7::encode_mutf7;

/// Longer strings go out as literals: a client reads them without scanning for quotes.
const MAX_QUOTED: usize = 1024;

/// Renders responses for one session.
#[derive(Debug, Clone, Copy, Default)]
pub struct Encoder {
    /// UTF8=ACCEPT or IMAP4rev2: UTF-8 in quoted strings and mailbox names; otherwise
    /// names go out in modified UTF-7 and 8-bit strings as literals.
    pub utf8: bool,
}

pub(super) fn push_num(out: &mut Vec<u8>, n: impl std::fmt::Display) {
    out.extend_from_slice(n.to_string().as_bytes());
}

pub(super) fn join<T>(out: &mut Vec<u8>, items: &[T], mut each: impl FnMut(&mut Vec<u8>, &T)) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        each(out, item);
    }
}

pub(crate) fn sequence_set(out: &mut Vec<u8>, set: &SequenceSet) {
    let num = |out: &mut Vec<u8>, n: SeqNum| match n {
        SeqNum::Value(v) => push_num(out, v),
        SeqNum::Star => out.push(b'*'),
    };
    match set {
        SequenceSet::Saved => out.push(b'$'),
        SequenceSet::Ranges(ranges) => {
            for (i, &(a, b)) in ranges.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                num(out, a);
                if a != b {
                    out.push(b':');
                    num(out, b);
                }
            }
        }
    }
}

fn flags(out: &mut Vec<u8>, list: &[Flag]) {
    out.push(b'(');
    join(out, list, |out, f| {
        out.extend_from_slice(f.as_wire().as_bytes())
    });
    out.push(b')');
}

fn date_time(out: &mut Vec<u8>, d: &DateTime) {
    let zone = d.zone_minutes.unsigned_abs();
    let sign = if d.zone_minutes < 0 { '-' } else { '+' };
    let text = format!(
        "\"{:02}-{}-{:04} {:02}:{:02}:{:02} {sign}{:02}{:02}\"",
        d.date.day,
        MONTHS[usize::from(d.date.month.clamp(1, 12)) - 1],
        d.date.year,
        d.hour,
        d.minute,
        d.second,
        zone / 60,
        zone % 60
    );
    out.extend_from_slice(text.as_bytes());
}

/// Text after a status or code: one line, never empty.
fn text(out: &mut Vec<u8>, text: &str) {
    let clean: String = text
        .chars()
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .collect();
    out.extend_from_slice(if clean.is_empty() {
        b"done"
    } else {
        clean.as_bytes()
    });
}

fn is_astring_safe(s: &[u8]) -> bool {
    !s.is_empty()
        && !s.eq_ignore_ascii_case(b"NIL")
        && s.iter()
            .all(|&b| super::lexer::is_atom_char(b) || b == b']')
}

impl Encoder {
    /// A quoted string when short and plain enough, else a literal.
    pub fn string(&self, out: &mut Vec<u8>, s: &[u8]) {
        let plain = s.is_ascii() || (self.utf8 && std::str::from_utf8(s).is_ok());
        if s.len() <= MAX_QUOTED && plain && !s.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0)
        {
            out.push(b'"');
            for &b in s {
                if b == b'"' || b == b'\\' {
                    out.push(b'\\');
                }
                out.push(b);
            }
            out.push(b'"');
        } else {
            literal_header(out, s.len() as u64, false);
            out.extend_from_slice(s);
        }
    }

    pub fn nstring(&self, out: &mut Vec<u8>, s: Option<&[u8]>) {
        match s {
            Some(s) => self.string(out, s),
            None => out.extend_from_slice(b"NIL"),
        }
    }

    fn astring(&self, out: &mut Vec<u8>, s: &[u8]) {
        if is_astring_safe(s) {
            out.extend_from_slice(s);
        } else {
            self.string(out, s);
        }
    }

    pub fn mailbox(&self, out: &mut Vec<u8>, mailbox: &Mailbox) {
        if self.utf8 {
            self.astring(out, mailbox.as_str().as_bytes());
        } else {
            self.astring(out, encode_mutf7(mailbox.as_str()).as_bytes());
        }
    }

    /// Renders one response, CRLF included.
    pub fn encode(&self, out: &mut Vec<u8>, response: &Response) {
        use Response as R;
        if let R::Continue(t) = response {
            // An AUTHENTICATE challenge may be empty (RFC 9051 9: `base64` can be empty),
            // so unlike a status text an empty one stays empty.
            out.extend_from_slice(b"+ ");
            if !t.is_empty() {
                text(out, t);
            }
            out.extend_from_slice(b"\r\n");
            return;
        }
        match response {
            R::Status { tag: Some(tag), .. } => out.extend_from_slice(tag.as_bytes()),
            _ => out.push(b'*'),
        }
        out.push(b' ');
        match response {
            R::Status {
                status,
                code,
                text: t,
                ..
            } => self.status(out, *status, code.as_ref(), t),
            R::Capability(caps) => words(out, "CAPABILITY", caps),
            R::Enabled(caps) => words(out, "ENABLED", caps),
            R::List(item) => self.list(out, "LIST", item),
            R::Lsub(item) => self.list(out, "LSUB", item),
            R::Namespace {
                personal,
                other,
                shared,
            } => {
                out.extend_from_slice(b"NAMESPACE");
                for group in [personal, other, shared] {
                    out.push(b' ');
                    self.namespaces(out, group);
                }
            }
            _ => self.data(out, response),
        }
        out.extend_from_slice(b"\r\n");
    }

    /// Mailbox and message data: STATUS, SEARCH, FETCH... (RFC 9051 7.3 to 7.5).
    fn data(&self, out: &mut Vec<u8>, response: &Response) {
        use Response as R;
        match response {
            R::MailboxStatus { .. } => self.mailbox_status(out, response),
            R::ESearch(e) => self.esearch(out, e),
            R::Search { ids, modseq } => numbers(out, "SEARCH", ids, *modseq),
            R::Flags(list) => {
                out.extend_from_slice(b"FLAGS ");
                flags(out, list);
            }
            R::Exists(n) => out.extend_from_slice(format!("{n} EXISTS").as_bytes()),
            R::Recent(n) => out.extend_from_slice(format!("{n} RECENT").as_bytes()),
            R::Expunge(n) => out.extend_from_slice(format!("{n} EXPUNGE").as_bytes()),
            R::Vanished { earlier, uids } => {
                out.extend_from_slice(if *earlier {
                    b"VANISHED (EARLIER) "
                } else {
                    b"VANISHED "
                });
                sequence_set(out, uids);
            }
            R::Fetch { seq, items } => {
                out.truncate(out.len() - 2);
                let mut writer = self.fetch_start(out, *seq);
                for item in items {
                    writer.item(out, item);
                }
                writer.finish(out);
                // `finish` ended the line already.
                out.truncate(out.len() - 2);
            }
            R::Sort { ids, modseq } => numbers(out, "SORT", ids, *modseq),
            R::Thread(threads) => {
                // `thread-data = "THREAD" [SP 1*thread-list]`: no space when empty.
                out.extend_from_slice(b"THREAD");
                if !threads.is_empty() {
                    out.push(b' ');
                }
                threads.iter().for_each(|t| thread(out, t));
            }
            R::Quota { .. } | R::QuotaRoot { .. } => self.quota(out, response),
            R::Id(fields) => self.id(out, fields.as_deref()),
            _ => {}
        }
    }

    fn mailbox_status(&self, out: &mut Vec<u8>, response: &Response) {
        if let Response::MailboxStatus { mailbox, items } = response {
            out.extend_from_slice(b"STATUS ");
            self.mailbox(out, mailbox);
            out.extend_from_slice(b" (");
            join(out, items, |out, (item, n): &(StatusItem, u64)| {
                out.extend_from_slice(item.name().as_bytes());
                out.push(b' ');
                push_num(out, n);
            });
            out.push(b')');
        }
    }

    /// QUOTA and QUOTAROOT (RFC 9208 5).
    fn quota(&self, out: &mut Vec<u8>, response: &Response) {
        match response {
            Response::Quota { root, resources } => {
                out.extend_from_slice(b"QUOTA ");
                self.astring(out, root.as_bytes());
                out.extend_from_slice(b" (");
                join(out, resources, |out, r| {
                    out.extend_from_slice(format!("{} {} {}", r.name, r.usage, r.limit).as_bytes())
                });
                out.push(b')');
            }
            Response::QuotaRoot { mailbox, roots } => {
                out.extend_from_slice(b"QUOTAROOT ");
                self.mailbox(out, mailbox);
                for root in roots {
                    out.push(b' ');
                    self.astring(out, root.as_bytes());
                }
            }
            _ => {}
        }
    }

    fn status(&self, out: &mut Vec<u8>, status: Status, code: Option<&Code>, t: &str) {
        out.extend_from_slice(match status {
            Status::Ok => b"OK ",
            Status::No => b"NO ",
            Status::Bad => b"BAD ",
            Status::PreAuth => b"PREAUTH ",
            Status::Bye => b"BYE ",
        });
        if let Some(code) = code {
            out.push(b'[');
            self.code(out, code);
            out.extend_from_slice(b"] ");
        }
        text(out, t);
    }

    fn code(&self, out: &mut Vec<u8>, code: &Code) {
        use Code as C;
        if let Some(name) = code_name(code) {
            out.extend_from_slice(name.as_bytes());
            return;
        }
        match code {
            C::AppendUid { uidvalidity, uids } => {
                out.extend_from_slice(format!("APPENDUID {uidvalidity} ").as_bytes());
                sequence_set(out, uids);
            }
            C::BadCharset(sets) => {
                out.extend_from_slice(b"BADCHARSET");
                if !sets.is_empty() {
                    out.extend_from_slice(b" (");
                    join(out, sets, |out, s| self.astring(out, s.as_bytes()));
                    out.push(b')');
                }
            }
            C::Capability(caps) => words(out, "CAPABILITY", caps),
            C::CopyUid {
                uidvalidity,
                source,
                dest,
            } => {
                out.extend_from_slice(format!("COPYUID {uidvalidity} ").as_bytes());
                sequence_set(out, source);
                out.push(b' ');
                sequence_set(out, dest);
            }
            C::HighestModSeq(n) => out.extend_from_slice(format!("HIGHESTMODSEQ {n}").as_bytes()),
            C::Modified(set) => {
                out.extend_from_slice(b"MODIFIED ");
                sequence_set(out, set);
            }
            C::PermanentFlags(list, star) => {
                out.extend_from_slice(b"PERMANENTFLAGS ");
                flags(out, list);
                if *star {
                    out.pop();
                    out.extend_from_slice(if list.is_empty() { b"\\*)" } else { b" \\*)" });
                }
            }
            C::UidNext(n) => out.extend_from_slice(format!("UIDNEXT {n}").as_bytes()),
            C::UidValidity(n) => out.extend_from_slice(format!("UIDVALIDITY {n}").as_bytes()),
            C::Unseen(n) => out.extend_from_slice(format!("UNSEEN {n}").as_bytes()),
            C::Other(atom, extra) => {
                out.extend_from_slice(atom.as_bytes());
                if let Some(extra) = extra {
                    out.push(b' ');
                    out.extend(
                        extra
                            .bytes()
                            .filter(|&b| b != b']' && b != b'\r' && b != b'\n'),
                    );
                }
            }
            _ => {}
        }
    }

    fn list(&self, out: &mut Vec<u8>, kind: &str, item: &ListItem) {
        out.extend_from_slice(kind.as_bytes());
        out.extend_from_slice(b" (");
        join(out, &item.attributes, |out, a| {
            out.extend_from_slice(a.as_bytes())
        });
        out.extend_from_slice(b") ");
        self.delimiter(out, item.delimiter);
        out.push(b' ');
        self.mailbox(out, &item.mailbox);
        if item.childinfo.is_empty() && item.oldname.is_none() {
            return;
        }
        out.extend_from_slice(b" (");
        if !item.childinfo.is_empty() {
            out.extend_from_slice(b"\"CHILDINFO\" (");
            join(out, &item.childinfo, |out, c| {
                self.string(out, c.as_bytes())
            });
            out.push(b')');
        }
        if let Some(old) = &item.oldname {
            if !item.childinfo.is_empty() {
                out.push(b' ');
            }
            out.extend_from_slice(b"\"OLDNAME\" (");
            self.mailbox(out, old);
            out.push(b')');
        }
        out.push(b')');
    }

    fn delimiter(&self, out: &mut Vec<u8>, delimiter: Option<char>) {
        match delimiter {
            Some(c) => self.string(out, c.to_string().as_bytes()),
            None => out.extend_from_slice(b"NIL"),
        }
    }

    fn namespaces(&self, out: &mut Vec<u8>, group: &[Namespace]) {
        if group.is_empty() {
            out.extend_from_slice(b"NIL");
            return;
        }
        out.push(b'(');
        for ns in group {
            out.push(b'(');
            let prefix = if self.utf8 {
                ns.prefix.clone()
            } else {
                encode_mutf7(&ns.prefix)
            };
            self.string(out, prefix.as_bytes());
            out.push(b' ');
            self.delimiter(out, ns.delimiter);
            out.push(b')');
        }
        out.push(b')');
    }

    fn esearch(&self, out: &mut Vec<u8>, e: &ESearch) {
        out.extend_from_slice(b"ESEARCH");
        if let Some(tag) = &e.tag {
            out.extend_from_slice(b" (TAG ");
            self.string(out, tag.as_bytes());
            out.push(b')');
        }
        if e.uid {
            out.extend_from_slice(b" UID");
        }
        let numbers = [("MIN", e.min.map(u64::from)), ("MAX", e.max.map(u64::from))];
        for (name, value) in numbers {
            if let Some(v) = value {
                out.extend_from_slice(format!(" {name} {v}").as_bytes());
            }
        }
        if let Some(all) = &e.all {
            out.extend_from_slice(b" ALL ");
            sequence_set(out, all);
        }
        if let Some(n) = e.count {
            out.extend_from_slice(format!(" COUNT {n}").as_bytes());
        }
        if let Some(n) = e.modseq {
            out.extend_from_slice(format!(" MODSEQ {n}").as_bytes());
        }
    }

    fn id(&self, out: &mut Vec<u8>, fields: Option<&[(String, Option<String>)]>) {
        out.extend_from_slice(b"ID ");
        let Some(fields) = fields.filter(|f| !f.is_empty()) else {
            out.extend_from_slice(b"NIL");
            return;
        };
        out.push(b'(');
        join(out, fields, |out, (k, v)| {
            self.string(out, k.as_bytes());
            out.push(b' ');
            self.nstring(out, v.as_deref().map(str::as_bytes));
        });
        out.push(b')');
    }

    /// Starts `* seq FETCH (`; add items, then [`FetchWriter::finish`].
    pub fn fetch_start(&self, out: &mut Vec<u8>, seq: u32) -> FetchWriter {
        out.extend_from_slice(format!("* {seq} FETCH (").as_bytes());
        FetchWriter {
            encoder: *self,
            first: true,
        }
    }
}

/// Codes that are a bare atom.
fn code_name(code: &Code) -> Option<&'static str> {
    use Code as C;
    Some(match code {
        C::Alert => "ALERT",
        C::AlreadyExists => "ALREADYEXISTS",
        C::AuthenticationFailed => "AUTHENTICATIONFAILED",
        C::AuthorizationFailed => "AUTHORIZATIONFAILED",
        C::Cannot => "CANNOT",
        C::ClientBug => "CLIENTBUG",
        C::Closed => "CLOSED",
        C::ContactAdmin => "CONTACTADMIN",
        C::Corruption => "CORRUPTION",
        C::Expired => "EXPIRED",
        C::ExpungeIssued => "EXPUNGEISSUED",
        C::HasChildren => "HASCHILDREN",
        C::InUse => "INUSE",
        C::Limit => "LIMIT",
        C::NoModSeq => "NOMODSEQ",
        C::NonExistent => "NONEXISTENT",
        C::NoPerm => "NOPERM",
        C::OverQuota => "OVERQUOTA",
        C::Parse => "PARSE",
        C::PrivacyRequired => "PRIVACYREQUIRED",
        C::ReadOnly => "READ-ONLY",
        C::ReadWrite => "READ-WRITE",
        C::ServerBug => "SERVERBUG",
        C::TooBig => "TOOBIG",
        C::TryCreate => "TRYCREATE",
        C::UidNotSticky => "UIDNOTSTICKY",
        C::Unavailable => "UNAVAILABLE",
        C::UnknownCte => "UNKNOWN-CTE",
        _ => return None,
    })
}

/// SEARCH and SORT: the numbers, then CONDSTORE's `(MODSEQ n)` if given.
fn numbers(out: &mut Vec<u8>, name: &str, ids: &[u32], modseq: Option<u64>) {
    out.extend_from_slice(name.as_bytes());
    for id in ids {
        out.push(b' ');
        push_num(out, id);
    }
    if let Some(m) = modseq {
        out.extend_from_slice(format!(" (MODSEQ {m})").as_bytes());
    }
}

fn words(out: &mut Vec<u8>, name: &str, words: &[String]) {
    out.extend_from_slice(name.as_bytes());
    for w in words {
        out.push(b' ');
        out.extend_from_slice(w.as_bytes());
    }
}

/// `(1 2 (3)(4 5))`: a chain, then its branches; a single branch continues the chain.
fn thread(out: &mut Vec<u8>, t: &Thread) {
    out.push(b'(');
    let mut chain = t;
    let mut first = true;
    loop {
        for m in &chain.messages {
            if !first {
                out.push(b' ');
            }
            first = false;
            push_num(out, m);
        }
        match chain.children.as_slice() {
            [only] => chain = only,
            [] => break,
            many => {
                if !first {
                    out.push(b' ');
                }
                many.iter().for_each(|c| thread(out, c));
                break;
            }
        }
    }
    out.push(b')');
}

fn literal_header(out: &mut Vec<u8>, size: u64, binary: bool) {
    if binary {
        out.push(b'~');
    }
    out.extend_from_slice(format!("{{{size}}}\r\n").as_bytes());
}

/// Writes one FETCH response item by item, so a large body can be sent as a literal whose
/// octets the server copies from the store in pieces: call [`FetchWriter::literal`], write
/// exactly `size` octets to the connection, then go on with items or `finish`.
#[derive(Debug)]
pub struct FetchWriter {
    encoder: Encoder,
    first: bool,
}

impl FetchWriter {
    fn sep(&mut self, out: &mut Vec<u8>) {
        if !std::mem::take(&mut self.first) {
            out.push(b' ');
        }
    }

    pub fn item(&mut self, out: &mut Vec<u8>, item: &FetchItem) {
        self.sep(out);
        let e = &self.encoder;
        match item {
            FetchItem::Flags(list) => {
                out.extend_from_slice(b"FLAGS ");
                flags(out, list);
            }
            FetchItem::InternalDate(d) => {
                out.extend_from_slice(b"INTERNALDATE ");
                date_time(out, d);
            }
            FetchItem::Rfc822Size(n) => {
                out.extend_from_slice(format!("RFC822.SIZE {n}").as_bytes())
            }
            FetchItem::Envelope(env) => {
                out.extend_from_slice(b"ENVELOPE ");
                e.envelope(out, env);
            }
            FetchItem::Body(b) => {
                out.extend_from_slice(b"BODY ");
                e.body(out, b, false);
            }
            FetchItem::BodyStructure(b) => {
                out.extend_from_slice(b"BODYSTRUCTURE ");
                e.body(out, b, true);
            }
            FetchItem::Uid(n) => out.extend_from_slice(format!("UID {n}").as_bytes()),
            FetchItem::ModSeq(n) => out.extend_from_slice(format!("MODSEQ ({n})").as_bytes()),
            FetchItem::Data { name, data } => data_item(e, out, name, data.as_deref()),
            FetchItem::BinarySize { part, size } => {
                out.extend_from_slice(b"BINARY.SIZE[");
                part_path(out, part);
                out.extend_from_slice(format!("] {size}").as_bytes());
            }
        }
    }

    /// A body item from borrowed octets, written as [`FetchItem::Data`] would be: a
    /// whole stored message need not be copied into an item first.
    pub fn data(&mut self, out: &mut Vec<u8>, name: &BodyName, data: &[u8]) {
        self.sep(out);
        data_item(&self.encoder, out, name, Some(data));
    }

    /// Writes `NAME {size}` CRLF (`~{size}` for BINARY, which may hold NUL). The caller
    /// then writes exactly `size` octets of content.
    pub fn literal(&mut self, out: &mut Vec<u8>, name: &BodyName, size: u64) {
        self.sep(out);
        body_name(out, name);
        out.push(b' ');
        literal_header(out, size, matches!(name, BodyName::Binary { .. }));
    }

    pub fn finish(self, out: &mut Vec<u8>) {
        out.extend_from_slice(b")\r\n");
    }
}

fn data_item(e: &Encoder, out: &mut Vec<u8>, name: &BodyName, data: Option<&[u8]>) {
    body_name(out, name);
    out.push(b' ');
    match data {
        Some(d) if matches!(name, BodyName::Binary { .. }) && d.contains(&0) => {
            literal_header(out, d.len() as u64, true);
            out.extend_from_slice(d);
        }
        _ => e.nstring(out, data),
    }
}

fn part_path(out: &mut Vec<u8>, part: &[u32]) {
    for (i, n) in part.iter().enumerate() {
        if i > 0 {
            out.push(b'.');
        }
        push_num(out, n);
    }
}

fn body_name(out: &mut Vec<u8>, name: &BodyName) {
    let origin = match name {
        BodyName::Section { section, origin } => {
            out.extend_from_slice(b"BODY[");
            section_spec(out, section);
            out.push(b']');
            origin
        }
        BodyName::Binary { part, origin } => {
            out.extend_from_slice(b"BINARY[");
            part_path(out, part);
            out.push(b']');
            origin
        }
        BodyName::Rfc822 => return out.extend_from_slice(b"RFC822"),
        BodyName::Rfc822Header => return out.extend_from_slice(b"RFC822.HEADER"),
        BodyName::Rfc822Text => return out.extend_from_slice(b"RFC822.TEXT"),
    };
    if let Some(o) = origin {
        out.extend_from_slice(format!("<{o}>").as_bytes());
    }
}

fn section_spec(out: &mut Vec<u8>, section: &Section) {
    part_path(out, &section.part);
    let Some(text) = &section.text else { return };
    if !section.part.is_empty() {
        out.push(b'.');
    }
    let (word, names) = match text {
        SectionText::Header => ("HEADER", None),
        SectionText::Text => ("TEXT", None),
        SectionText::Mime => ("MIME", None),
        SectionText::HeaderFields(n) => ("HEADER.FIELDS", Some(n)),
        SectionText::HeaderFieldsNot(n) => ("HEADER.FIELDS.NOT", Some(n)),
    };
    out.extend_from_slice(word.as_bytes());
    if let Some(names) = names {
        out.extend_from_slice(b" (");
        join(out, names, |out, n| {
            Encoder::default().astring(out, n.as_bytes())
        });
        out.push(b')');
    }
}

#[cfg(test)]
#[path = "encode_tests.rs"]
pub(super) mod tests;
