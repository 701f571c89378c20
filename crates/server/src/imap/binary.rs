//! BINARY (RFC 3516, and the FETCH side in RFC 9051 6.4.5): a part's content with its
//! Content-Transfer-Encoding undone, so a client downloads an attachment's octets rather
//! than base64 a third larger.

use super::mime::{self, Entity, Kind};
use hermod_proto::imap::Code;
use mail_parser::decoders::{base64::base64_decode, quoted_printable::quoted_printable_decode};

/// The decoded content of `part` (`BINARY[1.2]`). `[]` is the whole message as stored; a
/// multipart or message/rfc822 part has no encoding of its own to undo and comes as it is.
/// A part the message does not have is empty, as for BODY. An encoding this server does not
/// know is `UNKNOWN-CTE` (RFC 3516 4.3); content that does not decode is `PARSE`.
pub(crate) fn decoded(raw: &[u8], root: &Entity, part: &[u32]) -> Result<Vec<u8>, Code> {
    if part.is_empty() {
        return Ok(raw.to_vec());
    }
    let Some(entity) = mime::resolve(root, part) else {
        return Ok(Vec::new());
    };
    let body = &raw[entity.body.clone()];
    if !matches!(entity.kind, Kind::Leaf) {
        return Ok(body.to_vec());
    }
    let cte = mime::field(&raw[entity.header.clone()], "Content-Transfer-Encoding");
    let cte = cte.map(|c| c.trim().to_ascii_lowercase());
    match cte.as_deref() {
        None | Some("7bit" | "8bit" | "binary" | "") => Ok(body.to_vec()),
        Some("base64") => base64_decode(body).ok_or(Code::Parse),
        Some("quoted-printable") => quoted_printable_decode(body).ok_or(Code::Parse),
        Some(_) => Err(Code::UnknownCte),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIXED: &[u8] = b"Subject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\ncaf=C3=A9 =\r\nau lait\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nAAEC\r\nAwQ=\r\n--b\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin\r\n--b--\r\n";

    #[test]
    fn parts_are_decoded_by_their_encoding() {
        let tree = mime::parse(MIXED);
        assert_eq!(
            decoded(MIXED, &tree, &[1]).unwrap(),
            "café au lait".as_bytes()
        );
        assert_eq!(decoded(MIXED, &tree, &[2]).unwrap(), [0, 1, 2, 3, 4]);
        assert_eq!(decoded(MIXED, &tree, &[3]), Err(Code::UnknownCte));
        assert_eq!(decoded(MIXED, &tree, &[9]).unwrap(), b"");
        assert_eq!(decoded(MIXED, &tree, &[]).unwrap(), MIXED);
        let plain = b"Content-Transfer-Encoding: base64\r\n\r\n!!!!\r\n";
        assert_eq!(
            decoded(plain, &mime::parse(plain), &[1]),
            Err(Code::Parse),
            "a single-part message's part 1 is its body, with the message's encoding"
        );
    }
}
