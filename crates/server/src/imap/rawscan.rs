//! SEARCH BODY and TEXT without decoding a message that cannot match. A message whose
//! octets are all ASCII, with no RFC 2047 encoded word, whose transfer encodings leave
//! octets as they are (7bit, 8bit, binary) and whose charsets map ASCII to itself, decodes
//! to text made of pieces of its raw octets: a part's body as it is, a field's value as
//! written or with its whitespace runs made single spaces. The pieces are joined by
//! whitespace (a space, a newline), so a needle without whitespace found in the decoded text
//! is in the raw octets too, once CR and LF (which unfolding removes) are left out. A
//! message where that does not hold is decoded, as before.

use memchr::memmem;

/// A message's raw octets, lower-cased without CR and LF, when they tell what its decoded
/// text can hold.
pub(super) struct RawText {
    folded: Option<Vec<u8>>,
}

impl RawText {
    pub fn of(raw: &[u8]) -> RawText {
        let folded = (raw.is_ascii() && decodes_to_itself(raw)).then(|| {
            raw.iter()
                .filter(|&&b| b != b'\r' && b != b'\n')
                .map(u8::to_ascii_lowercase)
                .collect()
        });
        RawText { folded }
    }

    /// False only when the decoded text (header fields and body) cannot contain `needle`,
    /// which is lower-cased as the decoded text is.
    pub fn may_contain(&self, needle: &str) -> bool {
        let Some(folded) = &self.folded else {
            return true;
        };
        if needle.bytes().any(|b| b.is_ascii_whitespace()) {
            return true;
        }
        memmem::find(folded, needle.as_bytes()).is_some()
    }
}

/// No encoded word, and every transfer encoding and charset named anywhere in `raw`
/// (lower-cased ASCII) keeps ASCII as it is. Anything unexpected counts as "no".
fn decodes_to_itself(raw: &[u8]) -> bool {
    let lower = raw.to_ascii_lowercase();
    if memmem::find(&lower, b"=?").is_some() {
        return false;
    }
    let encodings = memmem::find_iter(&lower, b"content-transfer-encoding");
    let encodings_plain = encodings.into_iter().all(|at| {
        let after = &lower[at + b"content-transfer-encoding".len()..];
        let Some(value) = skip_space(after).strip_prefix(b":") else {
            return false;
        };
        matches!(token(skip_space(value)), b"7bit" | b"8bit" | b"binary")
    });
    let charsets_plain = memmem::find_iter(&lower, b"charset").all(|at| {
        let after = &lower[at + b"charset".len()..];
        let Some(value) = skip_space(after).strip_prefix(b"=") else {
            return false;
        };
        let value = skip_space(value);
        ascii_compatible(token(value.strip_prefix(b"\"").unwrap_or(value)))
    });
    encodings_plain && charsets_plain
}

fn skip_space(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(s.len());
    &s[start..]
}

fn token(s: &[u8]) -> &[u8] {
    let end = s
        .iter()
        .position(|&b| !(b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// Charsets whose decoders map every ASCII octet to itself.
fn ascii_compatible(charset: &[u8]) -> bool {
    matches!(charset, b"us-ascii" | b"ascii" | b"utf-8" | b"utf8")
        || charset.strip_prefix(b"iso-8859-").is_some_and(is_number)
        || charset.strip_prefix(b"windows-125").is_some_and(is_digit)
}

fn is_number(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(u8::is_ascii_digit)
}

fn is_digit(s: &[u8]) -> bool {
    s.len() == 1 && s[0].is_ascii_digit()
}

#[cfg(test)]
mod tests {
    use super::RawText;

    fn may(raw: &str, needle: &str) -> bool {
        RawText::of(raw.as_bytes()).may_contain(needle)
    }

    #[test]
    fn plain_messages_are_decided_from_their_octets() {
        let raw = "Subject: Hello\r\n there\r\n\r\nSome BODY text\r\n";
        assert!(may(raw, "body"));
        assert!(may(raw, "hello"));
        assert!(!may(raw, "zanzibar"));
        // Unfolding joins lines with whitespace, never two words.
        assert!(!may(raw, "hellothere"));
        let typed = "Content-Type: text/plain; charset=\"US-ASCII\"\r\n\
                     Content-Transfer-Encoding: 7bit\r\n\r\nplain words\r\n";
        assert!(!may(typed, "zanzibar"));
        assert!(may(typed, "words"));
    }

    #[test]
    fn anything_decoding_could_change_is_left_to_the_decoder() {
        let cases = [
            "Subject: =?utf-8?q?zanzibar?=\r\n\r\nx\r\n",
            "Content-Transfer-Encoding: base64\r\n\r\nemFuemliYXI=\r\n",
            "Content-Transfer-Encoding: quoted-printable\r\n\r\nzan=\r\nzibar\r\n",
            "Content-Type: text/plain; charset=utf-7\r\n\r\n+AHo-anzibar\r\n",
            "Content-Type: text/plain; charset*=utf-8''x\r\n\r\nx\r\n",
            "Subject: caf\u{e9}\r\n\r\nx\r\n",
            "Content-Transfer-Encoding (odd) : 7bit\r\n\r\nx\r\n",
        ];
        for raw in cases {
            assert!(may(raw, "zanzibar"), "{raw:?}");
        }
        // A needle with whitespace could span a join.
        assert!(may("Subject: a\r\n\r\nb\r\n", "a b"));
    }
}
