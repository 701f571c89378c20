//! Who a message says it is from: the mailboxes of `From:`, `Sender:`, `Resent-From:` and
//! `Resent-Sender:` (RFC 5322 3.6.2, 3.6.6), for the submission check that an account sends
//! only as itself.
//!
//! Two readers look at each field and their answers are joined: an RFC 5322 parser
//! (mail-parser) and a plain scan for every `local@domain` token anywhere in the value,
//! comments and display names included. A receiving program may show an address from any
//! of those places, so a forger must not be able to hide one where only one reader looks:
//! `bob@x (<alice@x>)` or `"Alice <alice@x>" bob@x` yield both addresses, and both must
//! belong to the account.

use crate::fields::fields;
use mail_parser::parsers::MessageStream;
use mail_parser::{Address, HeaderValue};

/// Why a header section does not say clearly who wrote it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthorError {
    #[error("the message has no From: field")]
    NoFrom,
    /// RFC 5322 3.6: `From:` and `Sender:` occur at most once.
    #[error("the message has more than one {0}: field")]
    Repeated(&'static str),
    #[error("the {0}: field names no mailbox")]
    Empty(&'static str),
}

/// The fields that name an author or a sender, and whether one may repeat. Resent blocks
/// (RFC 5322 3.6.6) may each carry their own `Resent-From:`.
const AUTHOR_FIELDS: [(&str, bool); 4] = [
    ("From", false),
    ("Sender", false),
    ("Resent-From", true),
    ("Resent-Sender", true),
];

/// Every mailbox the author fields name, as written (not normalised), in field order.
/// `header` is a header section; bytes after it are ignored.
pub fn author_addresses(header: &[u8]) -> Result<Vec<String>, AuthorError> {
    let all = fields(header);
    let mut found = Vec::new();
    for (name, may_repeat) in AUTHOR_FIELDS {
        let mine: Vec<_> = all
            .iter()
            .filter(|f| f.name.eq_ignore_ascii_case(name))
            .collect();
        if mine.len() > 1 && !may_repeat {
            return Err(AuthorError::Repeated(name));
        }
        if mine.is_empty() && name == "From" {
            return Err(AuthorError::NoFrom);
        }
        for field in mine {
            let raw = &header[field.range.clone()];
            let colon = raw.iter().position(|&b| b == b':').unwrap_or(0);
            let value = &raw[colon + 1..];
            let before = found.len();
            parsed_mailboxes(value, &mut found);
            scanned_mailboxes(value, &mut found);
            if found.len() == before {
                return Err(AuthorError::Empty(name));
            }
        }
    }
    found.dedup();
    Ok(found)
}

/// The mailboxes an RFC 5322 parser reads in `value` (the field body with its CRLF).
fn parsed_mailboxes(value: &[u8], out: &mut Vec<String>) {
    let mut with_end = value.to_vec();
    if !with_end.ends_with(b"\n") {
        with_end.extend_from_slice(b"\r\n");
    }
    let parsed = MessageStream::new(&with_end).parse_address();
    let HeaderValue::Address(address) = parsed else {
        return;
    };
    let addrs: Vec<_> = match &address {
        Address::List(list) => list.iter().collect(),
        Address::Group(groups) => groups.iter().flat_map(|g| g.addresses.iter()).collect(),
    };
    for addr in addrs {
        if let Some(mailbox) = addr.address.as_deref() {
            push_unique(out, mailbox.trim());
        }
        // A parser may keep `(<x@y>)` or `"X <x@y>"` as the name: scan it like the rest.
        if let Some(name) = addr.name.as_deref() {
            scanned_mailboxes(name.as_bytes(), out);
        }
    }
}

/// Every `local@domain`-looking token of `value`, wherever it stands: inside quotes,
/// comments or angle brackets, or bare.
fn scanned_mailboxes(value: &[u8], out: &mut Vec<String>) {
    let text = String::from_utf8_lossy(value);
    let is_delimiter = |c: char| {
        c.is_whitespace() || matches!(c, '<' | '>' | '(' | ')' | '"' | ',' | ';' | ':' | '[' | ']')
    };
    for token in text.split(is_delimiter) {
        let token = token.trim_matches(|c: char| c == '\\' || c == '\'' || c == '.');
        if let Some(at) = token.rfind('@')
            && at > 0
            && at + 1 < token.len()
        {
            push_unique(out, token);
        }
    }
}

fn push_unique(out: &mut Vec<String>, mailbox: &str) {
    if !mailbox.is_empty() && !out.iter().any(|m| m.eq_ignore_ascii_case(mailbox)) {
        out.push(mailbox.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authors(header: &str) -> Result<Vec<String>, AuthorError> {
        author_addresses(header.as_bytes())
    }

    #[test]
    fn plain_fields_give_their_mailboxes() {
        assert_eq!(
            authors("From: Alice <alice@example.test>\r\nTo: x@y.test\r\n"),
            Ok(vec!["alice@example.test".to_owned()])
        );
        assert_eq!(
            authors("From: alice@example.test, \"Bob B.\" <bob@example.test>\r\n"),
            Ok(vec!["alice@example.test".into(), "bob@example.test".into()])
        );
        assert_eq!(
            authors("From: a@example.test\r\nSender: s@example.test\r\n"),
            Ok(vec!["a@example.test".into(), "s@example.test".into()])
        );
        assert_eq!(
            authors("From: team: a@example.test, b@example.test;\r\n"),
            Ok(vec!["a@example.test".into(), "b@example.test".into()])
        );
        // Folded onto a second line.
        assert_eq!(
            authors("From: Alice\r\n <alice@example.test>\r\n"),
            Ok(vec!["alice@example.test".into()])
        );
    }

    #[test]
    fn hidden_addresses_are_found() {
        let forged = [
            "From: bob@example.test (<alice@example.test>)\r\n",
            "From: \"Alice <alice@example.test>\" bob@example.test\r\n",
            "From: \"alice@example.test\" <bob@example.test>\r\n",
            "From: alice@example.test <bob@example.test>\r\n",
            "From: =?utf-8?q?alice=40example=2Etest?= <bob@example.test>\r\n",
        ];
        for header in forged {
            let found = authors(header).unwrap();
            assert!(
                found
                    .iter()
                    .any(|a| a.eq_ignore_ascii_case("bob@example.test")),
                "{header}: {found:?}"
            );
            assert!(
                found
                    .iter()
                    .any(|a| a.eq_ignore_ascii_case("alice@example.test")),
                "{header}: {found:?}"
            );
        }
    }

    #[test]
    fn repeated_missing_and_empty_fields_are_refused() {
        assert_eq!(
            authors("From: a@example.test\r\nFrom: b@example.test\r\n"),
            Err(AuthorError::Repeated("From"))
        );
        assert_eq!(
            authors("from: a@example.test\r\nFROM: a@example.test\r\n"),
            Err(AuthorError::Repeated("From"))
        );
        assert_eq!(
            authors("From: a@example.test\r\nSender: b@x.test\r\nSender: c@x.test\r\n"),
            Err(AuthorError::Repeated("Sender"))
        );
        assert_eq!(authors("To: a@example.test\r\n"), Err(AuthorError::NoFrom));
        assert_eq!(authors("From: nobody\r\n"), Err(AuthorError::Empty("From")));
        assert_eq!(
            authors("From: a@example.test\r\nResent-From: r@x.test\r\nResent-From: q@x.test\r\n"),
            Ok(vec![
                "a@example.test".into(),
                "r@x.test".into(),
                "q@x.test".into()
            ])
        );
    }
}
