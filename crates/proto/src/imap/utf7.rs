//! Modified UTF-7 mailbox names (RFC 3501 5.1.3), which IMAP4rev1 clients use; with
//! UTF8=ACCEPT (RFC 6855, RFC 9051) names are plain UTF-8 instead.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/// Encodes a UTF-8 name for an IMAP4rev1 client.
pub fn encode_mutf7(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending: Vec<u16> = Vec::new();
    for c in name.chars() {
        if (' '..='~').contains(&c) {
            flush_base64(&mut pending, &mut out);
            out.push(c);
            if c == '&' {
                out.push('-');
            }
        } else {
            let mut units = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut units));
        }
    }
    flush_base64(&mut pending, &mut out);
    out
}

fn flush_base64(units: &mut Vec<u16>, out: &mut String) {
    if units.is_empty() {
        return;
    }
    out.push('&');
    let bytes: Vec<u8> = units.drain(..).flat_map(u16::to_be_bytes).collect();
    for chunk in bytes.chunks(3) {
        let n =
            chunk.iter().fold(0u32, |acc, &b| acc << 8 | u32::from(b)) << (8 * (3 - chunk.len()));
        // Unpadded: 1 byte takes 2 characters, 2 take 3, 3 take 4.
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out.push('-');
}

/// Decodes an IMAP4rev1 name. `None` when it is not valid modified UTF-7: raw 8-bit or
/// control characters, bad base64, leftover bits, broken UTF-16, or printable ASCII encoded
/// in base64 (which the RFC forbids, so one name has one spelling).
pub fn decode_mutf7(name: &[u8]) -> Option<String> {
    let mut out = String::with_capacity(name.len());
    let mut i = 0;
    while let Some(&b) = name.get(i) {
        i += 1;
        if b != b'&' {
            if !(0x20..=0x7e).contains(&b) {
                return None;
            }
            out.push(b as char);
            continue;
        }
        let end = i + name[i..].iter().position(|&c| c == b'-')?;
        if end == i {
            out.push('&');
        } else {
            decode_base64_run(&name[i..end], &mut out)?;
        }
        i = end + 1;
    }
    Some(out)
}

fn decode_base64_run(run: &[u8], out: &mut String) -> Option<()> {
    let (mut bits, mut nbits, mut bytes) = (0u32, 0u32, Vec::new());
    for &c in run {
        let v = ALPHABET.iter().position(|&a| a == c)? as u32;
        bits = bits << 6 | v;
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            bytes.push((bits >> nbits) as u8);
            bits &= (1 << nbits) - 1;
        }
    }
    if bits != 0 || nbits >= 6 || bytes.len() % 2 != 0 {
        return None;
    }
    let units: Vec<u16> = bytes
        .chunks(2)
        .map(|p| u16::from_be_bytes([p[0], p[1]]))
        .collect();
    for c in char::decode_utf16(units) {
        let c = c.ok()?;
        if (' '..='~').contains(&c) {
            return None;
        }
        out.push(c);
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects() {
        let cases = [
            ("INBOX", "INBOX"),
            ("Tom & Jerry", "Tom &- Jerry"),
            ("Entwürfe", "Entw&APw-rfe"),
            ("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"),
            ("Envoyés", "Envoy&AOk-s"),
            ("😀", "&2D3eAA-"),
            ("", ""),
        ];
        for (utf8, wire) in cases {
            assert_eq!(encode_mutf7(utf8), wire);
            assert_eq!(decode_mutf7(wire.as_bytes()).as_deref(), Some(utf8));
        }
        for bad in [
            &b"&"[..],
            b"&AGE-",
            b"Entw\xc3\xbcrfe",
            b"&APw",
            b"&AP-",
            b"&2D0-",
            b"a\tb",
            b"&A!-",
        ] {
            assert_eq!(decode_mutf7(bad), None, "{bad:?}");
        }
    }
}
