//! Binary content APPENDed (RFC 3516 4.4, RFC 9051 6.3.12) made fit for BODY[].
//!
//! A client may APPEND a message as a `literal8` whose `binary` parts hold NUL octets. No
//! FETCH answer but BINARY[] may carry a NUL (RFC 9051 4.3.1: `literal8` only for BINARY;
//! BODY[] and BODY[1] are plain strings, and servers MUST encode binary data as text), and
//! RFC 3516 6 asks that BODYSTRUCTURE and BODY describe such a part in an encoding the base
//! protocol can carry. So when the message is received, each part whose content holds a NUL
//! is stored base64-encoded with its Content-Transfer-Encoding field saying so, as RFC 3516
//! 4.4 allows ("MAY modify the CTE ... MUST NOT result in a loss of data"): BINARY[part]
//! decodes it back to the octets sent, BODY[] and RFC822.SIZE agree with what is stored, and
//! nothing else of the message changes. Parts without a NUL are left as they are (RFC 3516 6:
//! only when it is absolutely necessary). A NUL that is in no part's content (in a header,
//! a multipart's preamble) cannot be carried that way: the APPEND is refused with
//! `NO [UNKNOWN-CTE]`, RFC 3516 4.4's answer for binary content the server cannot store.

use super::mime::{self, Entity, Kind};
use std::ops::Range;

/// Base64 lines of 76 characters (RFC 2045 6.8): 57 octets each.
const LINE_OCTETS: usize = 57;

/// Why a message with NUL octets cannot be stored in a form BODY[] can carry.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct NotConvertible;

/// `raw` with every part whose content holds a NUL re-encoded in base64, or `None` when
/// it has no NUL (the common case: one scan).
pub(super) fn textual(raw: &[u8]) -> Result<Option<Vec<u8>>, NotConvertible> {
    if memchr::memchr(0, raw).is_none() {
        return Ok(None);
    }
    let root = mime::parse(raw);
    let mut binary = Vec::new();
    leaves_with_nul(raw, &root, &mut binary)?;
    // Every NUL must be inside one of those parts' content.
    let mut covered = binary.iter().map(|e| e.body.clone());
    let mut next = covered.next();
    for at in memchr::memchr_iter(0, raw) {
        while next.as_ref().is_some_and(|r| r.end <= at) {
            next = covered.next();
        }
        if !next.as_ref().is_some_and(|r| r.contains(&at)) {
            return Err(NotConvertible);
        }
    }
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 3);
    let mut from = 0;
    for part in binary {
        out.extend_from_slice(&raw[from..part.header.start]);
        out.extend_from_slice(&base64_header(&raw[part.header.clone()]));
        base64_lines(&raw[part.body.clone()], &mut out);
        from = part.body.end;
    }
    out.extend_from_slice(&raw[from..]);
    Ok(Some(out))
}

/// The leaf parts whose content holds a NUL, in the order they stand in `raw`. A part that
/// cannot simply be re-encoded (a multipart or message without its structure, or content
/// already encoded, where a NUL means it is broken) refuses the message.
fn leaves_with_nul<'e>(
    raw: &[u8],
    entity: &'e Entity,
    out: &mut Vec<&'e Entity>,
) -> Result<(), NotConvertible> {
    match &entity.kind {
        Kind::Multi(parts) => parts.iter().try_for_each(|p| leaves_with_nul(raw, p, out)),
        Kind::Message(inner) => leaves_with_nul(raw, inner, out),
        Kind::Leaf if memchr::memchr(0, &raw[entity.body.clone()]).is_none() => Ok(()),
        Kind::Leaf => {
            let composite = matches!(entity.media_type.as_str(), "multipart" | "message");
            let cte = mime::field(&raw[entity.header.clone()], "Content-Transfer-Encoding");
            let cte = cte.map(|c| c.trim().to_ascii_lowercase());
            let identity = matches!(cte.as_deref(), None | Some("7bit" | "8bit" | "binary"));
            if composite || !identity {
                return Err(NotConvertible);
            }
            out.push(entity);
            Ok(())
        }
    }
}

/// A part's header section with its Content-Transfer-Encoding fields replaced by one
/// saying base64; every other octet as it was.
fn base64_header(header: &[u8]) -> Vec<u8> {
    const FIELD: &[u8] = b"Content-Transfer-Encoding: base64\r\n";
    let mut cuts: Vec<Range<usize>> = hermod_message::fields(header)
        .into_iter()
        .filter(|f| f.name.eq_ignore_ascii_case("Content-Transfer-Encoding"))
        .map(|f| f.range)
        .collect();
    // The new field goes where the first old one was, or else before the blank line.
    if cuts.is_empty() {
        let blank = header.len() - 2 * usize::from(header.ends_with(b"\r\n"));
        cuts.push(blank..blank);
    }
    let mut out = Vec::with_capacity(header.len() + FIELD.len());
    let mut from = 0;
    for (n, cut) in cuts.iter().enumerate() {
        out.extend_from_slice(&header[from..cut.start]);
        if n == 0 {
            out.extend_from_slice(FIELD);
        }
        from = cut.end;
    }
    out.extend_from_slice(&header[from..]);
    out
}

/// `content` in base64, 76-character lines each ending in CRLF.
fn base64_lines(content: &[u8], out: &mut Vec<u8>) {
    for line in content.chunks(LINE_OCTETS) {
        out.extend_from_slice(hermod_proto::sasl::encode(line).as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imap::binary;

    const SINGLE: &[u8] = b"From: a@example.org\r\nContent-Type: application/octet-stream\r\n\
Content-Transfer-Encoding: binary\r\n\r\n\0-\xe4\r\n\r\n";

    #[test]
    fn a_binary_part_is_stored_in_base64_and_decodes_to_what_was_sent() {
        let stored = textual(SINGLE).unwrap().unwrap();
        assert!(!stored.contains(&0));
        let text = String::from_utf8(stored.clone()).unwrap();
        assert!(text.starts_with(
            "From: a@example.org\r\nContent-Type: application/octet-stream\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n"
        ));
        let tree = mime::parse(&stored);
        assert_eq!(
            binary::decoded(&stored, &tree, &[1]).unwrap(),
            b"\0-\xe4\r\n\r\n"
        );
        assert_eq!(textual(&stored), Ok(None), "nothing left to convert");
    }

    #[test]
    fn only_the_parts_with_a_nul_change() {
        let raw = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
Content-Type: text/plain\r\n\r\nplain \xe4 text\r\n--b\r\nContent-Type: image/png\r\n\r\n\
\x89PNG\0\0\x01\r\n--b--\r\n";
        let stored = textual(raw).unwrap().unwrap();
        let tree = mime::parse(&stored);
        assert_eq!(
            binary::decoded(&stored, &tree, &[1]).unwrap(),
            b"plain \xe4 text"
        );
        assert_eq!(
            binary::decoded(&stored, &tree, &[2]).unwrap(),
            b"\x89PNG\0\0\x01"
        );
        let part2 = mime::resolve(&tree, &[2]).unwrap();
        let header = String::from_utf8_lossy(&stored[part2.header.clone()]).into_owned();
        assert_eq!(
            header,
            "Content-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        );
        let second = memchr::memmem::find(raw, b"Content-Type: image/png").unwrap();
        assert!(
            stored.starts_with(&raw[..second]),
            "the text part is untouched"
        );
    }

    #[test]
    fn a_nul_outside_any_part_content_is_refused() {
        let in_header = b"Subject: a\0b\r\n\r\nbody\r\n";
        assert_eq!(textual(in_header), Err(NotConvertible));
        let encoded = b"Content-Transfer-Encoding: base64\r\n\r\nAA\0A\r\n";
        assert_eq!(textual(encoded), Err(NotConvertible));
        let preamble =
            b"Content-Type: multipart/mixed; boundary=b\r\n\r\n\0\r\n--b\r\n\r\nx\r\n--b--\r\n";
        assert_eq!(textual(preamble), Err(NotConvertible));
        assert_eq!(textual(b"Subject: plain\r\n\r\nbody\r\n"), Ok(None));
    }
}
