//! Messages with NUL octets made fit for IMAP's BODY[] and POP3's RETR, whichever way they
//! arrived: APPEND (RFC 3516 4.4, RFC 9051 6.3.12), SMTP DATA or BDAT, submission, and
//! `hermod import` (which skips a message this refuses, with a warning).
//!
//! No FETCH answer but BINARY[] may carry a NUL (RFC 9051 4.3.1: `literal8` only for BINARY;
//! BODY[] and BODY[1] are plain strings, and servers MUST encode binary data as text), and
//! RFC 3516 6 asks that BODYSTRUCTURE and BODY describe such a part in an encoding the base
//! protocol can carry. So when a message is received, each part whose content holds a NUL
//! is stored base64-encoded with its Content-Transfer-Encoding field saying so (RFC 3516
//! 4.4 allows it for APPEND: "MAY modify the CTE ... MUST NOT result in a loss of data"):
//! BINARY[part] decodes it back to the octets sent, BODY[] and RFC822.SIZE agree with what
//! is stored, and nothing else of the message changes but a `MIME-Version` field where the
//! top had none (RFC 2045 4: without it the new encoding would not be read as MIME). Parts
//! without a NUL are left as they are (RFC 3516 6: only when it is absolutely necessary).
//!
//! SMTP's DATA is the same case: RFC 5321 4.1.1.4 lets mail data hold any ASCII code, NUL
//! included, and RFC 5322 4 makes a receiver accept the obsolete NULs of `obs-body`; but
//! 7bit and 8bit content (RFC 2045 2.7, 2.8; RFC 6152's 8BITMIME) never holds one, and
//! hermod does not offer BINARYMIME (RFC 3030), which would. Converting keeps every octet
//! the sender meant, where refusing would bounce mail that is only old-fashioned.
//!
//! A NUL that is in no part's content (in a header, a multipart's preamble, content already
//! encoded) cannot be carried that way: APPEND answers `NO [UNKNOWN-CTE]` (RFC 3516 4.4),
//! SMTP `554 5.6.0`.

use crate::imap::mime::{self, Entity, Kind};
use hermod_store::{Mail, SealedBlob, StoreError};
use std::ops::Range;

/// Base64 lines of 76 characters (RFC 2045 6.8): 57 octets each.
const LINE_OCTETS: usize = 57;
const CTE_BASE64: &[u8] = b"Content-Transfer-Encoding: base64\r\n";
const MIME_VERSION: &[u8] = b"MIME-Version: 1.0\r\n";

/// Why a message with NUL octets cannot be stored in a form BODY[] can carry.
#[derive(Debug, PartialEq, Eq)]
pub struct NotConvertible;

/// Why a body that holds NUL octets was not stored again.
#[derive(Debug)]
pub(crate) enum Unstored {
    /// A NUL where no encoding can carry it.
    NotConvertible,
    /// The received body could not be read back.
    Read(std::io::Error),
    /// The converted body could not be written.
    Store(StoreError),
}

/// `sealed` as it may be stored: itself when it holds no NUL, else a new body with the
/// parts holding one in base64. Reads the body whole, so callers come here only when they
/// saw a NUL go by; the conversion runs off the async threads (a body may be large).
pub(crate) async fn store_textual(
    mail: &dyn Mail,
    sealed: SealedBlob,
) -> Result<SealedBlob, Unstored> {
    let whole = usize::try_from(sealed.size()).unwrap_or(usize::MAX);
    let raw = sealed.read_head(whole).await.map_err(Unstored::Read)?;
    let converted = tokio::task::spawn_blocking(move || textual(&raw))
        .await
        .map_err(|e| Unstored::Read(std::io::Error::other(e)))?;
    let converted = match converted {
        Ok(Some(converted)) => converted,
        Ok(None) => return Ok(sealed),
        Err(NotConvertible) => return Err(Unstored::NotConvertible),
    };
    let writer = mail.blob_writer().map_err(Unstored::Store)?;
    let (writer, _) = writer.append(converted).await.map_err(Unstored::Store)?;
    writer.seal_async().await.map_err(Unstored::Store)
}

/// `raw` with every part whose content holds a NUL re-encoded in base64, or `None` when
/// it has no NUL (the common case: one scan).
pub fn textual(raw: &[u8]) -> Result<Option<Vec<u8>>, NotConvertible> {
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
    Ok(Some(converted(raw, &root, &binary)))
}

/// The message with `binary`'s parts in base64, and a `MIME-Version` field on top if it
/// had none. The root is the only entity whose header starts at 0.
fn converted(raw: &[u8], root: &Entity, binary: &[&Entity]) -> Vec<u8> {
    let versionless = mime::field(&raw[root.header.clone()], "MIME-Version").is_none();
    let root_converted = binary.first().is_some_and(|p| p.header.start == 0);
    let mut edits: Vec<(Range<usize>, Vec<u8>)> = Vec::with_capacity(binary.len() + 1);
    if versionless && !root_converted {
        let at = blank_line_at(&raw[root.header.clone()]);
        edits.push((at..at, MIME_VERSION.to_vec()));
    }
    for part in binary {
        let with_version = versionless && part.header.start == 0;
        let mut new = base64_header(&raw[part.header.clone()], with_version);
        base64_lines(&raw[part.body.clone()], &mut new);
        edits.push((part.header.start..part.body.end, new));
    }
    splice(raw, &edits, raw.len() / 3)
}

/// `raw` with each range replaced by its octets; the ranges are in order and apart.
fn splice<T: AsRef<[u8]>>(raw: &[u8], edits: &[(Range<usize>, T)], growth: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + growth);
    let mut from = 0;
    for (range, new) in edits {
        out.extend_from_slice(&raw[from..range.start]);
        out.extend_from_slice(new.as_ref());
        from = range.end;
    }
    out.extend_from_slice(&raw[from..]);
    out
}

/// Where a header section's blank line starts (its end when it has none).
fn blank_line_at(header: &[u8]) -> usize {
    let blank = header == b"\r\n" || header.ends_with(b"\r\n\r\n");
    header.len() - 2 * usize::from(blank)
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
/// saying base64 (and `MIME-Version` added at its end if asked); every other octet as it
/// was.
fn base64_header(header: &[u8], with_version: bool) -> Vec<u8> {
    let mut edits: Vec<(Range<usize>, &[u8])> = hermod_message::fields(header)
        .into_iter()
        .filter(|f| f.name.eq_ignore_ascii_case("Content-Transfer-Encoding"))
        .map(|f| (f.range, &b""[..]))
        .collect();
    let blank = blank_line_at(header);
    // The new field goes where the first old one was, or else before the blank line.
    match edits.first_mut() {
        Some(first) => first.1 = CTE_BASE64,
        None => edits.push((blank..blank, CTE_BASE64)),
    }
    if with_version {
        edits.push((blank..blank, MIME_VERSION));
    }
    splice(header, &edits, CTE_BASE64.len() + MIME_VERSION.len())
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
        assert!(
            text.starts_with(
                "From: a@example.org\r\nContent-Type: application/octet-stream\r\n\
                 Content-Transfer-Encoding: base64\r\nMIME-Version: 1.0\r\n\r\n"
            ),
            "{text}"
        );
        let tree = mime::parse(&stored);
        assert_eq!(
            binary::decoded(&stored, &tree, &[1]).unwrap(),
            b"\0-\xe4\r\n\r\n"
        );
        assert_eq!(textual(&stored), Ok(None), "nothing left to convert");
    }

    #[test]
    fn only_the_parts_with_a_nul_change() {
        let raw = b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
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
            "the header and the text part are untouched"
        );
    }

    #[test]
    fn the_encoding_is_declared_mime_where_the_message_was_not() {
        // Mail as SMTP stores it: trace fields on top, no MIME-Version, the part converted
        // below a text part, and an old Content-Transfer-Encoding field to replace.
        let raw = b"Return-Path: <a@r.test>\r\nReceived: from x\r\n\tby y\r\nContent-Type: \
multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\ntext\r\n--b\r\nContent-Transfer-Encoding: 8bit\r\n\
Content-Type: text/plain\r\n\r\nnul\0here\r\n--b--\r\n";
        let stored = textual(raw).unwrap().unwrap();
        let text = String::from_utf8(stored.clone()).unwrap();
        assert_eq!(
            text,
            "Return-Path: <a@r.test>\r\nReceived: from x\r\n\tby y\r\nContent-Type: \
multipart/mixed; boundary=b\r\nMIME-Version: 1.0\r\n\r\n--b\r\n\r\ntext\r\n--b\r\n\
Content-Transfer-Encoding: base64\r\nContent-Type: text/plain\r\n\r\nbnVsAGhlcmU=\r\n\r\n--b--\r\n"
        );
        let tree = mime::parse(&stored);
        assert_eq!(binary::decoded(&stored, &tree, &[2]).unwrap(), b"nul\0here");
    }

    #[test]
    fn a_long_part_is_cut_into_lines_of_76() {
        let mut raw = b"MIME-Version: 1.0\r\n\r\n".to_vec();
        raw.extend((0..200u8).map(|n| n % 7));
        let stored = textual(&raw).unwrap().unwrap();
        let body = &stored[memchr::memmem::find(&stored, b"\r\n\r\n").unwrap() + 4..];
        let lines: Vec<usize> = body.split(|&b| b == b'\n').map(<[u8]>::len).collect();
        assert_eq!(
            lines,
            [77, 77, 77, 41, 0],
            "76 characters and CRLF, then the rest"
        );
        let tree = mime::parse(&stored);
        assert_eq!(binary::decoded(&stored, &tree, &[1]).unwrap(), &raw[21..]);
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
        let part_header =
            b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nX: \0\r\n\r\nx\r\n--b--\r\n";
        assert_eq!(textual(part_header), Err(NotConvertible));
        assert_eq!(textual(b"Subject: plain\r\n\r\nbody\r\n"), Ok(None));
    }
}
