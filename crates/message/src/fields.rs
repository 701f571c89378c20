//! Header fields as they stand in a header section: find, read, remove, and whose name an
//! Authentication-Results field claims. Enough for submission fix-ups (RFC 6409 8); MIME and
//! the author check live elsewhere.

/// One field: its name, and the byte range of the whole field (continuations and CRLF
/// included) in the header section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field<'a> {
    pub name: &'a str,
    pub range: std::ops::Range<usize>,
}

/// The fields of a header section, in order. Lines that are not `name:` fields are skipped.
pub fn fields(header: &[u8]) -> Vec<Field<'_>> {
    let mut out: Vec<Field<'_>> = Vec::new();
    let mut pos = 0;
    while pos < header.len() {
        let end = header[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(header.len(), |i| pos + i + 1);
        let line = &header[pos..end];
        if line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
            if let Some(last) = out.last_mut() {
                last.range.end = end;
            }
        } else if let Some(colon) = line.iter().position(|&b| b == b':') {
            let name = std::str::from_utf8(&line[..colon]).unwrap_or("").trim_end();
            if !name.is_empty() && !name.contains(' ') {
                out.push(Field {
                    name,
                    range: pos..end,
                });
            }
        }
        pos = end;
    }
    out
}

/// The unfolded value of the first field named `name` (case-insensitive).
pub fn field_value(header: &[u8], name: &str) -> Option<String> {
    let field = fields(header)
        .into_iter()
        .find(|f| f.name.eq_ignore_ascii_case(name))?;
    let raw = String::from_utf8_lossy(&header[field.range]).into_owned();
    let value = raw.split_once(':').map_or("", |(_, v)| v);
    Some(
        value
            .replace("\r\n", "")
            .replace('\n', "")
            .trim()
            .to_owned(),
    )
}

/// The header section without any field named `name`.
pub fn remove_fields(header: &[u8], name: &str) -> Vec<u8> {
    remove_fields_where(header, name, |_| true)
}

/// The header section without the fields named `name` whose whole text (name, value,
/// folding and CRLF) `doomed` picks.
pub fn remove_fields_where(header: &[u8], name: &str, doomed: impl Fn(&[u8]) -> bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(header.len());
    let mut pos = 0;
    for field in fields(header)
        .iter()
        .filter(|f| f.name.eq_ignore_ascii_case(name) && doomed(&header[f.range.clone()]))
    {
        out.extend_from_slice(&header[pos..field.range.start]);
        pos = field.range.end;
    }
    out.extend_from_slice(&header[pos..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &[u8] = b"From: Alice <alice@example.test>\r\nTo: bob@x.test,\r\n carol@y.test\r\nBcc: secret@z.test\r\nSubject: hi\r\nbcc: more@z.test\r\n";

    #[test]
    fn reads_and_removes_fields() {
        let names: Vec<&str> = fields(HEADER).iter().map(|f| f.name).collect();
        assert_eq!(names, ["From", "To", "Bcc", "Subject", "bcc"]);
        assert_eq!(
            field_value(HEADER, "to").unwrap(),
            "bob@x.test, carol@y.test"
        );
        assert_eq!(field_value(HEADER, "Message-ID"), None);
        let stripped = remove_fields(HEADER, "BCC");
        assert_eq!(stripped, b"From: Alice <alice@example.test>\r\nTo: bob@x.test,\r\n carol@y.test\r\nSubject: hi\r\n");
    }
}

/// Whether an `Authentication-Results` field (whole text) was written in the name of
/// `authserv_id` (RFC 8601 2.2: the first value of the field, which comments and folding
/// may precede, and which may be a quoted string). Reading it any more loosely than a
/// receiving program does would let a forged result in our name through.
pub fn claims_authserv_id(field: &[u8], authserv_id: &str) -> bool {
    let text = String::from_utf8_lossy(field);
    let value = text.split_once(':').map_or("", |(_, v)| v);
    first_value(value).is_some_and(|id| id.eq_ignore_ascii_case(authserv_id))
}

/// The first RFC 5322 `value` (token or quoted string) after any CFWS.
fn first_value(text: &str) -> Option<String> {
    let mut chars = text.chars().peekable();
    let mut depth = 0u32;
    // Skip white space and (nested) comments, with their quoted pairs.
    while let Some(&c) = chars.peek() {
        match c {
            '(' => depth += 1,
            ')' if depth > 0 => depth -= 1,
            '\\' if depth > 0 => {
                chars.next();
            }
            c if c.is_whitespace() => {}
            _ if depth > 0 => {}
            _ => break,
        }
        chars.next();
    }
    let mut out = String::new();
    if chars.peek() == Some(&'"') {
        chars.next();
        while let Some(c) = chars.next() {
            match c {
                '"' => return Some(out),
                '\\' => out.extend(chars.next()),
                c => out.push(c),
            }
        }
        return None;
    }
    out.extend(chars.take_while(|c| !c.is_whitespace() && !matches!(c, ';' | '(' | '"')));
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod authserv_tests {
    use super::*;

    #[test]
    fn forged_results_in_our_name_are_removed_others_kept() {
        let header = b"Authentication-Results: mx.example.org;\r\n\tspf=pass\r\n\
Subject: hi\r\n\
Authentication-Results: other.example; dkim=pass\r\n\
authentication-results:  MX.example.org 1; dmarc=pass\r\n";
        let kept = remove_fields_where(header, "Authentication-Results", |f| {
            claims_authserv_id(f, "mx.example.org")
        });
        assert_eq!(
            kept,
            b"Subject: hi\r\nAuthentication-Results: other.example; dkim=pass\r\n".to_vec()
        );
    }

    #[test]
    fn comments_and_quotes_do_not_hide_our_name() {
        let ours = [
            "Authentication-Results: (trusted) mx.example.org; dmarc=pass",
            "Authentication-Results: (a (nested \\) one)) MX.example.org; spf=pass",
            "Authentication-Results:\r\n (folded)\r\n mx.example.org(c); dkim=pass",
            "Authentication-Results: \"mx.example.org\"; dkim=pass",
            "Authentication-Results: mx.example.org(comment) 1; none",
        ];
        for field in ours {
            assert!(
                claims_authserv_id(field.as_bytes(), "mx.example.org"),
                "{field}"
            );
        }
        let theirs = [
            "Authentication-Results: (mx.example.org) other.example; dkim=pass",
            "Authentication-Results: mx.example.org.evil; dkim=pass",
            "Authentication-Results: ; dkim=pass",
        ];
        for field in theirs {
            assert!(
                !claims_authserv_id(field.as_bytes(), "mx.example.org"),
                "{field}"
            );
        }
    }
}
