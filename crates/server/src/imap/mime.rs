//! A message's MIME tree as byte ranges of the stored octets, for FETCH sections
//! (`BODY[1.2.MIME]`), BODYSTRUCTURE and ENVELOPE (RFC 9051 6.4.5, 7.5.2). The tree is
//! ours (sections need exact offsets into the raw message); header values are read with
//! mail-parser.

use hermod_message::fields;
use hermod_proto::imap::{
    Address, BodyExt, BodyFields, BodyStructure, Envelope, Section, SectionText, SingleKind,
};
use mail_parser::parsers::MessageStream;
use mail_parser::{Addr, Address as ParsedAddress, HeaderValue};
use memchr::memmem;
use std::cell::OnceCell;
use std::ops::Range;

/// Deeper nesting than this is treated as an opaque leaf: a hostile message cannot make
/// the server recurse without bound.
const MAX_DEPTH: usize = 16;

pub(crate) struct Entity {
    /// The header section, the blank line included.
    pub header: Range<usize>,
    pub body: Range<usize>,
    pub media_type: String,
    pub subtype: String,
    pub params: Vec<(String, String)>,
    pub kind: Kind,
}

pub(crate) enum Kind {
    Leaf,
    Multi(Vec<Entity>),
    /// `message/rfc822`: the enclosed message.
    Message(Box<Entity>),
}

/// The tree of a whole message.
pub(crate) fn parse(raw: &[u8]) -> Entity {
    entity(raw, 0..raw.len(), false, 0)
}

fn entity(raw: &[u8], range: Range<usize>, digest: bool, depth: usize) -> Entity {
    let bytes = &raw[range.clone()];
    let split = if bytes.starts_with(b"\r\n") {
        2
    } else {
        bytes
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(bytes.len(), |at| at + 4)
    };
    let header = range.start..range.start + split;
    let body = range.start + split..range.end;
    let (default_type, default_sub) = if digest {
        ("message", "rfc822")
    } else {
        ("text", "plain")
    };
    let (media_type, subtype, params) = match field(&raw[header.clone()], "Content-Type") {
        Some(value) => content_type(&value).unwrap_or_else(plain_text),
        None => (default_type.into(), default_sub.into(), Vec::new()),
    };
    let mut e = Entity {
        header,
        body,
        media_type,
        subtype,
        params,
        kind: Kind::Leaf,
    };
    if depth >= MAX_DEPTH {
        return e;
    }
    if e.media_type == "multipart" {
        if let Some(boundary) = param(&e.params, "boundary") {
            let parts = split_parts(raw, e.body.clone(), boundary.as_bytes());
            let digest = e.subtype == "digest";
            let children = parts
                .into_iter()
                .map(|r| entity(raw, r, digest, depth + 1))
                .collect();
            e.kind = Kind::Multi(children);
        }
    } else if e.media_type == "message" && (e.subtype == "rfc822" || e.subtype == "global") {
        e.kind = Kind::Message(Box::new(entity(raw, e.body.clone(), false, depth + 1)));
    }
    e
}

/// A media type, its subtype and its parameters.
type MediaType = (String, String, Vec<(String, String)>);

fn plain_text() -> MediaType {
    ("text".into(), "plain".into(), Vec::new())
}

/// The body parts between `--boundary` lines (RFC 2046 5.1.1); the CRLF before a
/// delimiter belongs to the delimiter.
fn split_parts(raw: &[u8], body: Range<usize>, boundary: &[u8]) -> Vec<Range<usize>> {
    let mut delimiter = b"--".to_vec();
    delimiter.extend_from_slice(boundary);
    let mut parts = Vec::new();
    let mut open: Option<usize> = None;
    let mut line = body.start;
    while line < body.end {
        let next = raw[line..body.end]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(body.end, |i| line + i + 1);
        if raw[line..next].starts_with(&delimiter) {
            if let Some(start) = open.take() {
                let end = if line >= start + 2 && &raw[line - 2..line] == b"\r\n" {
                    line - 2
                } else {
                    line
                };
                parts.push(start..end.max(start));
            }
            if raw[line + delimiter.len()..next].starts_with(b"--") {
                return parts;
            }
            open = Some(next);
        }
        line = next;
    }
    // No close delimiter: the last part runs to the end.
    parts.extend(open.map(|start| start..body.end));
    parts
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a String> {
    params
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// The unfolded value of the first field `name` in `header`, as bytes.
pub(super) fn field_bytes(header: &[u8], name: &str) -> Option<Vec<u8>> {
    let f = fields(header)
        .into_iter()
        .find(|f| f.name.eq_ignore_ascii_case(name))?;
    field_value(&header[f.range])
}

/// The unfolded value of one field as written (`Name: value\r\n`).
pub(super) fn field_value(raw: &[u8]) -> Option<Vec<u8>> {
    let colon = raw.iter().position(|&b| b == b':')?;
    let value: Vec<u8> = raw[colon + 1..]
        .iter()
        .copied()
        .filter(|&b| b != b'\r' && b != b'\n')
        .collect();
    Some(value.trim_ascii().to_vec())
}

pub(crate) fn field(header: &[u8], name: &str) -> Option<String> {
    field_bytes(header, name).map(|v| String::from_utf8_lossy(&v).into_owned())
}

/// `type/subtype; params` (also Content-Disposition's `kind; params`), lower-cased.
fn content_type(value: &str) -> Option<MediaType> {
    let with_end = format!("{value}\r\n");
    let HeaderValue::ContentType(ct) = MessageStream::new(with_end.as_bytes()).parse_content_type()
    else {
        return None;
    };
    let params = ct.attributes.unwrap_or_default();
    let params = params
        .into_iter()
        .map(|a| (a.name.into_owned(), a.value.into_owned()));
    Some((
        ct.c_type.to_ascii_lowercase(),
        ct.c_subtype
            .map_or(String::new(), |s| s.to_ascii_lowercase()),
        params.collect(),
    ))
}

/// The part a section's path names: `[]` is the message itself; a multipart's parts are
/// numbered from 1, and any other entity's only part, 1, is its body (RFC 9051 6.4.5).
/// Below the top, the parts of a `message/rfc822` part are those of the message it
/// encloses; at the top, a `message/rfc822` message's part 1 is the enclosed message.
pub(crate) fn resolve<'e>(root: &'e Entity, path: &[u32]) -> Option<&'e Entity> {
    let mut cur = root;
    for (depth, &n) in path.iter().enumerate() {
        let container = match &cur.kind {
            Kind::Message(inner) if depth > 0 => inner.as_ref(),
            _ => cur,
        };
        let parts: Vec<&Entity> = match &container.kind {
            Kind::Multi(children) => children.iter().collect(),
            _ => vec![container],
        };
        cur = *parts.get(n.checked_sub(1)? as usize)?;
    }
    Some(cur)
}

/// The octets of a FETCH section, or `None` if the message has no such part.
pub(super) fn section(raw: &[u8], root: &Entity, section: &Section) -> Option<Vec<u8>> {
    let part = resolve(root, &section.part)?;
    let Some(text) = &section.text else {
        return Some(if section.part.is_empty() {
            raw.to_vec()
        } else {
            raw[part.body.clone()].to_vec()
        });
    };
    // HEADER and TEXT of a part are those of the message it encloses.
    let message = match (&part.kind, section.part.is_empty()) {
        (_, true) => part,
        (Kind::Message(inner), false) => inner,
        _ if matches!(text, SectionText::Mime) => part,
        _ => return None,
    };
    Some(match text {
        SectionText::Header => raw[message.header.clone()].to_vec(),
        SectionText::Text => raw[message.body.clone()].to_vec(),
        SectionText::Mime => raw[part.header.clone()].to_vec(),
        SectionText::HeaderFields(names) => {
            header_fields(&raw[message.header.clone()], names, true)
        }
        SectionText::HeaderFieldsNot(names) => {
            header_fields(&raw[message.header.clone()], names, false)
        }
    })
}

/// The fields named (or, with `keep` false, not named) in `names`, then the blank line.
fn header_fields(header: &[u8], names: &[String], keep: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for f in fields(header) {
        if names.iter().any(|n| n.eq_ignore_ascii_case(f.name)) == keep {
            out.extend_from_slice(&header[f.range]);
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

fn lines(body: &[u8]) -> u32 {
    let breaks = body.iter().filter(|&&b| b == b'\n').count();
    let tail = usize::from(!body.is_empty() && !body.ends_with(b"\n"));
    (breaks + tail) as u32
}

/// BODYSTRUCTURE (with extension data) of an entity.
pub(super) fn structure(raw: &[u8], e: &Entity) -> BodyStructure {
    let header = &raw[e.header.clone()];
    let ext = extension(header);
    if let Kind::Multi(children) = &e.kind {
        return BodyStructure::Multi {
            parts: children.iter().map(|c| structure(raw, c)).collect(),
            subtype: e.subtype.clone(),
            params: e.params.clone(),
            ext: Some(ext),
        };
    }
    let body = &raw[e.body.clone()];
    let kind = match &e.kind {
        Kind::Message(inner) => SingleKind::Message {
            envelope: Box::new(envelope(raw, inner)),
            body: Box::new(structure(raw, inner)),
            lines: lines(body),
        },
        _ if e.media_type == "text" => SingleKind::Text { lines: lines(body) },
        _ => SingleKind::Basic,
    };
    let encoding = field(header, "Content-Transfer-Encoding").unwrap_or_else(|| "7bit".into());
    BodyStructure::Single {
        media_type: e.media_type.clone(),
        subtype: e.subtype.clone(),
        fields: BodyFields {
            params: e.params.clone(),
            id: field(header, "Content-ID"),
            description: field(header, "Content-Description"),
            encoding: encoding.to_ascii_lowercase(),
            size: body.len() as u32,
        },
        kind,
        ext: Some(BodyExt {
            md5: field(header, "Content-MD5"),
            ..ext
        }),
    }
}

fn extension(header: &[u8]) -> BodyExt {
    let disposition = field(header, "Content-Disposition")
        .and_then(|v| content_type(&v))
        .map(|(kind, _, params)| (kind, params));
    let language = field(header, "Content-Language").map_or(Vec::new(), |v| {
        v.split(',')
            .map(|l| l.trim().to_owned())
            .filter(|l| !l.is_empty())
            .collect()
    });
    BodyExt {
        md5: None,
        disposition,
        language,
        location: field(header, "Content-Location"),
    }
}

/// ENVELOPE of a message entity (RFC 9051 7.5.2): values as they stand in the header.
pub(super) fn envelope(raw: &[u8], message: &Entity) -> Envelope {
    let header = &raw[message.header.clone()];
    let value = |name| field_bytes(header, name);
    let list = |name| addresses(header, name);
    let from = list("From");
    let or_from = |l: Vec<Address>| if l.is_empty() { from.clone() } else { l };
    Envelope {
        date: value("Date"),
        subject: value("Subject"),
        sender: or_from(list("Sender")),
        reply_to: or_from(list("Reply-To")),
        to: list("To"),
        cc: list("Cc"),
        bcc: list("Bcc"),
        in_reply_to: value("In-Reply-To"),
        message_id: value("Message-ID"),
        from,
    }
}

fn addresses(header: &[u8], name: &str) -> Vec<Address> {
    field_bytes(header, name).map_or_else(Vec::new, |value| addresses_in(&value))
}

/// The ENVELOPE addresses of one address field's unfolded value. mail-parser also returns
/// what is no address at all: a comment standing alone (`group: (foo) ;` gives an entry
/// named `foo`). An entry without an address whose words do not all stand outside the
/// comments is such a comment, and left out: an ENVELOPE tells the addresses the field
/// holds. (A phrase without an address, which is no address either but was written as
/// one, is kept as before.)
pub(super) fn addresses_in(value: &[u8]) -> Vec<Address> {
    let mut value = value.to_vec();
    value.extend_from_slice(b"\r\n");
    let HeaderValue::Address(parsed) = MessageStream::new(&value).parse_address() else {
        return Vec::new();
    };
    let uncommented = OnceCell::new();
    let real = |a: &&Addr<'_>| {
        a.address.as_deref().is_some_and(|x| !x.is_empty())
            || a.name.as_deref().is_some_and(|name| {
                let outside = uncommented.get_or_init(|| without_comments(&value));
                let mut words = name.split_whitespace();
                words.all(|w| memmem::find(outside, w.as_bytes()).is_some())
            })
    };
    let mut out = Vec::new();
    match parsed {
        ParsedAddress::List(list) => {
            let members = list.iter().filter(real);
            out.extend(members.map(|a| address(a.name.as_deref(), a.address.as_deref())));
        }
        ParsedAddress::Group(groups) => {
            for g in groups {
                // A group is bracketed by a start (host NIL) and an all-NIL end.
                let named = g.name.as_deref().map(|n| n.as_bytes().to_vec());
                if named.is_some() {
                    out.push(Address {
                        mailbox: named,
                        ..Address::default()
                    });
                }
                let members = g.addresses.iter().filter(real);
                out.extend(members.map(|a| address(a.name.as_deref(), a.address.as_deref())));
                if g.name.is_some() {
                    out.push(Address::default());
                }
            }
        }
    }
    out
}

/// A structured field's value with its comments (RFC 5322 3.2.2: nested, with quoted
/// pairs) left out; quoted strings are kept as they are.
fn without_comments(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len());
    let (mut depth, mut quoted, mut escaped) = (0usize, false, false);
    for &b in value {
        let outside = depth == 0;
        match b {
            _ if escaped => escaped = false,
            b'\\' if quoted || depth > 0 => escaped = true,
            b'"' if depth == 0 => quoted = !quoted,
            b'(' if !quoted => depth += 1,
            b')' if !quoted && depth > 0 => depth -= 1,
            _ => {}
        }
        if outside && depth == 0 {
            out.push(b);
        }
    }
    out
}

fn address(name: Option<&str>, addr: Option<&str>) -> Address {
    let addr = addr.unwrap_or("");
    // An obsolete source route (`<@route:user@domain>`, RFC 5322 4.4) is the ADL.
    let (adl, addr) = match addr.strip_prefix('@').and_then(|r| r.split_once(':')) {
        Some((route, rest)) => (Some(format!("@{route}").into_bytes()), rest),
        None => (None, addr),
    };
    let (mailbox, host) = addr.rsplit_once('@').unwrap_or((addr, ""));
    Address {
        name: name.map(encoded_word),
        adl,
        mailbox: Some(mailbox.as_bytes().to_vec()),
        host: Some(host.as_bytes().to_vec()),
    }
}

/// mail-parser decodes RFC 2047 names; an ENVELOPE carries them encoded (7-bit clean for
/// clients that did not ask for UTF-8).
fn encoded_word(name: &str) -> Vec<u8> {
    if name.is_ascii() {
        return name.as_bytes().to_vec();
    }
    let b64 = hermod_proto::sasl::encode(name.as_bytes());
    format!("=?utf-8?b?{b64}?=").into_bytes()
}

#[cfg(test)]
#[path = "mime_tests.rs"]
mod tests;
