//! What SORT and THREAD compare (RFC 5256, RFC 5957 DISPLAYFROM/DISPLAYTO), read once from a
//! message's header and kept in the store's body cache, so a SORT of a large mailbox reads
//! one row per message instead of parsing every message again.

use super::mime::field_bytes;
use mail_parser::parsers::MessageStream;
use mail_parser::{Address, HeaderValue};

/// The cache entry's format; an entry of another version is computed again.
const VERSION: u8 = 1;

/// A message's sort and thread keys, already in the form they compare in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct SortKeys {
    /// The Date: field in seconds since the epoch (UTC); `None` if missing or unreadable
    /// (RFC 5256: the internal date stands in).
    pub sent: Option<i64>,
    /// The base subject (RFC 5256 2.1), ASCII upper-cased: `i;ascii-casemap` compares it.
    pub subject: String,
    /// Whether extracting the base subject removed a reply or forward marker.
    pub is_reply: bool,
    /// The local part of the first From, To and Cc address, ASCII upper-cased.
    pub from: String,
    pub to: String,
    pub cc: String,
    /// RFC 5957: the first From/To address's display name (decoded), else its address,
    /// lower-cased (standing in for `i;unicode-casemap`).
    pub display_from: String,
    pub display_to: String,
    /// Message-ID without its angle brackets.
    pub message_id: Option<String>,
    /// The References ids, else the first In-Reply-To id (RFC 5256 3, REFERENCES step 1).
    pub references: Vec<String>,
}

impl SortKeys {
    /// The keys of a message from its header section.
    pub fn from_header(header: &[u8]) -> SortKeys {
        let value = |name| {
            field_bytes(header, name).map(|mut v| {
                v.extend_from_slice(b"\r\n");
                v
            })
        };
        let sent = value("Date").and_then(|v| match MessageStream::new(&v).parse_date() {
            HeaderValue::DateTime(d) => Some(d.to_timestamp()),
            _ => None,
        });
        let subject = value("Subject")
            .map(|v| match MessageStream::new(&v).parse_unstructured() {
                HeaderValue::Text(t) => t.into_owned(),
                _ => String::new(),
            })
            .unwrap_or_default();
        let (subject, is_reply) = base_subject(&subject);
        let first = |name| value(name).and_then(|v| first_address(&v));
        let (from, to, cc) = (first("From"), first("To"), first("Cc"));
        let local = |a: &Option<(Option<String>, String)>| {
            a.as_ref().map_or(String::new(), |(_, addr)| {
                let local = addr.rsplit_once('@').map_or(addr.as_str(), |(l, _)| l);
                local.to_ascii_uppercase()
            })
        };
        let display = |a: &Option<(Option<String>, String)>| match a {
            Some((Some(name), _)) if !name.trim().is_empty() => name.trim().to_lowercase(),
            Some((_, addr)) => addr.to_lowercase(),
            None => String::new(),
        };
        let ids = |name| value(name).map(|v| msg_ids(&v)).unwrap_or_default();
        let mut references = ids("References");
        if references.is_empty() {
            references.extend(ids("In-Reply-To").into_iter().take(1));
        }
        SortKeys {
            sent,
            subject: subject.to_ascii_uppercase(),
            is_reply,
            from: local(&from),
            to: local(&to),
            cc: local(&cc),
            display_from: display(&from),
            display_to: display(&to),
            message_id: ids("Message-ID").into_iter().next(),
            references,
        }
    }

    /// The cache entry: a version byte, then each field.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![VERSION];
        let sent = self.sent.map_or([0; 9], |s| {
            let mut b = [1; 9];
            b[1..].copy_from_slice(&s.to_le_bytes());
            b
        });
        out.extend_from_slice(&sent);
        out.push(u8::from(self.is_reply));
        for s in [
            &self.subject,
            &self.from,
            &self.to,
            &self.cc,
            &self.display_from,
            &self.display_to,
        ] {
            put_str(&mut out, s);
        }
        put_str(&mut out, self.message_id.as_deref().unwrap_or(""));
        out.extend_from_slice(&(self.references.len() as u32).to_le_bytes());
        self.references.iter().for_each(|r| put_str(&mut out, r));
        out
    }

    /// The sent date of a cache entry alone, the rest left empty, for a SORT that compares
    /// no text (DATE, ARRIVAL, SIZE): no string is copied. `None` if it is of another
    /// version or too short.
    pub fn decode_sent(data: &[u8]) -> Option<SortKeys> {
        let mut r = Reader(data);
        let sent = read_sent(&mut r)?;
        Some(SortKeys {
            sent,
            ..SortKeys::default()
        })
    }

    /// Reads a cache entry; `None` if it is of another version or damaged.
    pub fn decode(data: &[u8]) -> Option<SortKeys> {
        let mut r = Reader(data);
        let sent = read_sent(&mut r)?;
        let is_reply = r.bytes(1)? == [1];
        let mut strings = Vec::with_capacity(7);
        for _ in 0..7 {
            strings.push(r.string()?);
        }
        let count = u32::from_le_bytes(r.bytes(4)?.try_into().ok()?);
        let mut references = Vec::new();
        for _ in 0..count {
            references.push(r.string()?);
        }
        if !r.0.is_empty() {
            return None;
        }
        let mut s = strings.into_iter();
        let mut next = || s.next().unwrap_or_default();
        Some(SortKeys {
            sent,
            is_reply,
            subject: next(),
            from: next(),
            to: next(),
            cc: next(),
            display_from: next(),
            display_to: next(),
            message_id: Some(next()).filter(|id| !id.is_empty()),
            references,
        })
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }

    fn string(&mut self) -> Option<String> {
        let len = u32::from_le_bytes(self.bytes(4)?.try_into().ok()?) as usize;
        String::from_utf8(self.bytes(len)?.to_vec()).ok()
    }
}

/// The first address of an address field: its decoded display name and its address. A
/// group's first member counts.
fn first_address(value: &[u8]) -> Option<(Option<String>, String)> {
    let HeaderValue::Address(parsed) = MessageStream::new(value).parse_address() else {
        return None;
    };
    let first = match &parsed {
        Address::List(list) => list.first(),
        Address::Group(groups) => groups.iter().flat_map(|g| &g.addresses).next(),
    }?;
    let name = first.name.as_deref().map(str::to_owned);
    Some((name, first.address.as_deref().unwrap_or("").to_owned()))
}

/// Every `<id>` of a field, without the brackets.
fn msg_ids(value: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(value);
    let mut out = Vec::new();
    let mut rest = text.as_ref();
    while let Some(open) = rest.find('<') {
        let Some(close) = rest[open..].find('>') else {
            break;
        };
        let id = rest[open + 1..open + close].trim();
        if !id.is_empty() && !id.contains(char::is_whitespace) {
            out.push(id.to_owned());
        }
        rest = &rest[open + close + 1..];
    }
    out
}

/// RFC 5256 2.1: the subject without reply and forward markers, list tags (`[list]`) and
/// `(fwd)` trailers, its whitespace collapsed; and whether a reply or forward marker went.
pub(super) fn base_subject(subject: &str) -> (String, bool) {
    // (1) Whitespace (and what unfolding left) is one space.
    let mut s = subject
        .split(|c: char| c.is_ascii_whitespace())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let mut reply = false;
    loop {
        // (2) Trailers: "(fwd)" and whitespace, from the end.
        loop {
            let trimmed = s.trim_end_matches(' ').len();
            if trimmed != s.len() {
                s.truncate(trimmed);
            } else if s.len() >= 5 && s.as_bytes()[s.len() - 5..].eq_ignore_ascii_case(b"(fwd)") {
                s.truncate(s.len() - 5);
                reply = true;
            } else {
                break;
            }
        }
        // (3) and (4), until neither changes anything.
        loop {
            let before = s.len();
            while let Some(rest) = strip_leader(&s, &mut reply) {
                s = rest.to_owned();
            }
            if let Some(rest) = strip_blob(&s)
                && !rest.is_empty()
            {
                s = rest.to_owned();
            }
            if s.len() == before {
                break;
            }
        }
        // (5) "[fwd: subject]" is a forward of "subject".
        let b = s.as_bytes();
        if b.len() >= 6 && b[..5].eq_ignore_ascii_case(b"[fwd:") && b[b.len() - 1] == b']' {
            s = s[5..s.len() - 1].to_owned();
            reply = true;
            continue;
        }
        return (s, reply);
    }
}

/// `subj-blob`: `[` text without brackets `]`, then whitespace; what follows it.
fn strip_blob(s: &str) -> Option<&str> {
    let rest = s.strip_prefix('[')?;
    let close = rest.find([']', '['])?;
    if rest.as_bytes()[close] != b']' {
        return None;
    }
    Some(rest[close + 1..].trim_start_matches(' '))
}

/// One `subj-leader`: a space, or blobs then `re`/`fw`/`fwd`, optional blob, `:`.
fn strip_leader<'a>(s: &'a str, reply: &mut bool) -> Option<&'a str> {
    if let Some(rest) = s.strip_prefix(' ') {
        return Some(rest);
    }
    let mut p = s;
    while let Some(rest) = strip_blob(p) {
        p = rest;
    }
    let b = p.as_bytes();
    let word = [&b"fwd"[..], b"fw", b"re"]
        .into_iter()
        .find(|w| b.len() >= w.len() && b[..w.len()].eq_ignore_ascii_case(w))?;
    let mut rest = p[word.len()..].trim_start_matches(' ');
    if let Some(after) = strip_blob(rest) {
        rest = after;
    }
    let rest = rest.strip_prefix(':')?;
    *reply = true;
    Some(rest)
}

/// The version byte and the sent date every cache entry starts with; `None` if the entry is
/// of another version or too short.
fn read_sent(r: &mut Reader<'_>) -> Option<Option<i64>> {
    if r.bytes(1)? != [VERSION] {
        return None;
    }
    let sent = r.bytes(9)?;
    Some((sent[0] == 1).then(|| i64::from_le_bytes(sent[1..].try_into().unwrap_or([0; 8]))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_subjects_lose_markers_tags_and_trailers() {
        let cases = [
            ("Re: hello", "hello", true),
            ("RE: Fwd: [list] Re: hello  (fwd)", "hello", true),
            ("[list] hello", "hello", false),
            ("[list]", "[list]", false),
            ("Fw:hello\t world", "hello world", true),
            ("[Fwd: Re: hello]", "hello", true),
            ("re [x]: hi", "hi", true),
            ("Reply to all", "Reply to all", false),
            ("  ", "", false),
            ("Äpfel: [tag] Re: Birnen", "Äpfel: [tag] Re: Birnen", false),
        ];
        for (subject, base, reply) in cases {
            assert_eq!(base_subject(subject), (base.to_owned(), reply), "{subject}");
        }
    }

    #[test]
    fn keys_from_a_header_and_through_the_cache() {
        let header = b"From: =?utf-8?q?J=C3=B6rg?= <Joerg@Example.TEST>\r\n\
            To: undisclosed:;, bob@b.test\r\nCc: <zed@c.test>\r\n\
            Date: Tue, 1 Jul 2003 10:52:37 +0200\r\nSubject: Re: [l] Plans\r\n\
            Message-ID: <a@b>\r\nIn-Reply-To: <x@y> <z@w>\r\n\r\n";
        let keys = SortKeys::from_header(header);
        assert_eq!(keys.sent, Some(1_057_049_557));
        assert_eq!((keys.subject.as_str(), keys.is_reply), ("PLANS", true));
        assert_eq!((keys.from.as_str(), keys.cc.as_str()), ("JOERG", "ZED"));
        assert_eq!(keys.display_from, "jörg");
        assert_eq!(keys.message_id.as_deref(), Some("a@b"));
        assert_eq!(keys.references, ["x@y"], "the first In-Reply-To id");
        assert_eq!(SortKeys::decode(&keys.encode()), Some(keys.clone()));
        let empty = SortKeys::from_header(b"\r\n");
        assert_eq!(SortKeys::decode(&empty.encode()), Some(empty));
        let mut damaged = keys.encode();
        damaged.pop();
        assert_eq!(SortKeys::decode(&damaged), None);
        damaged[0] = 0;
        assert_eq!(SortKeys::decode(&damaged), None);
    }
}
