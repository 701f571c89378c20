//! Local parts (RFC 5321 4.1.2 `Local-part`, with RFC 6531 UTF-8).

use std::fmt::{self, Write};
use std::str::FromStr;

use crate::AddressError;

/// RFC 5321 4.5.3.1.1, counted on the form that goes on the wire.
const MAX_LOCAL_PART: usize = 64;

/// The local part of an address as its content: quotes removed, quoted pairs unescaped.
/// Case is preserved, as RFC 5321 2.4 requires; `normalized()` gives the lookup form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LocalPart(String);

/// RFC 5322 `atext`, plus any non-ASCII character (RFC 6531 `UTF8-non-ascii`).
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            '!' | '#'
                | '$'
                | '%'
                | '&'
                | '\''
                | '*'
                | '+'
                | '-'
                | '/'
                | '='
                | '?'
                | '^'
                | '_'
                | '`'
                | '{'
                | '|'
                | '}'
                | '~'
        )
        || !c.is_ascii()
}

fn is_dot_atom(s: &str) -> bool {
    !s.is_empty()
        && s.split('.')
            .all(|atom| !atom.is_empty() && atom.chars().all(is_atext))
}

/// What a quoted string may carry: RFC 5321 `qtextSMTP` and `quoted-pairSMTP` together
/// cover every printable character and space, but no control character.
fn is_quotable(c: char) -> bool {
    !c.is_control()
}

impl LocalPart {
    /// Parses the content form (no quotes, no escapes), as stored or typed by an admin.
    pub fn parse(s: &str) -> Result<LocalPart, AddressError> {
        if s.is_empty() {
            return Err(AddressError::EmptyLocalPart);
        }
        if !s.chars().all(is_quotable) {
            return Err(AddressError::BadLocalPart);
        }
        let local = LocalPart(s.to_owned());
        if local.smtp_len() > MAX_LOCAL_PART {
            return Err(AddressError::LocalPartTooLong);
        }
        Ok(local)
    }

    /// Parses the SMTP form: a dot-atom or a quoted string.
    pub fn parse_smtp(s: &str) -> Result<LocalPart, AddressError> {
        if s.is_empty() {
            return Err(AddressError::EmptyLocalPart);
        }
        match s.strip_prefix('"') {
            Some(quoted) => LocalPart::parse(&unquote(quoted)?),
            None if is_dot_atom(s) => LocalPart::parse(s),
            None => Err(AddressError::BadLocalPart),
        }
    }

    /// The content.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The SMTP form: the content if it is a dot-atom, else quoted with `"` and `\` escaped.
    pub fn to_smtp(&self) -> String {
        self.to_string()
    }

    /// The length in octets of `to_smtp()`, without building it.
    fn smtp_len(&self) -> usize {
        if is_dot_atom(&self.0) {
            return self.0.len();
        }
        let escapes = self.0.bytes().filter(|&b| b == b'"' || b == b'\\').count();
        self.0.len() + escapes + 2
    }

    /// Whether it can travel without SMTPUTF8.
    pub fn is_ascii(&self) -> bool {
        self.0.is_ascii()
    }

    /// Lowercased: the store compares local parts case-insensitively, as users expect.
    pub fn normalized(&self) -> String {
        self.0.to_lowercase()
    }

    /// Plus-addressing: with `+`, `alice+news` gives `("alice", Some("news"))`. Splits at
    /// the first delimiter; a leading delimiter is part of the name, not a detail.
    pub fn split_detail(&self, delimiter: char) -> (&str, Option<&str>) {
        match self.0.find(delimiter) {
            Some(i) if i > 0 => (&self.0[..i], Some(&self.0[i + delimiter.len_utf8()..])),
            _ => (&self.0, None),
        }
    }
}

/// The content of a quoted string, given everything after its opening quote.
fn unquote(quoted: &str) -> Result<String, AddressError> {
    let mut content = String::with_capacity(quoted.len());
    let mut chars = quoted.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' if chars.as_str().is_empty() => return Ok(content),
            '"' => return Err(AddressError::BadQuotedString),
            // quoted-pairSMTP: a backslash escapes only printable ASCII and space.
            '\\' => match chars.next() {
                Some(e) if (' '..='~').contains(&e) => content.push(e),
                _ => return Err(AddressError::BadQuotedString),
            },
            c if is_quotable(c) => content.push(c),
            _ => return Err(AddressError::BadLocalPart),
        }
    }
    Err(AddressError::BadQuotedString)
}

/// The SMTP form (`to_smtp`), written straight to the formatter: addresses are shown in
/// every message's log line and envelope, and building a string first cost an allocation.
impl fmt::Display for LocalPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if is_dot_atom(&self.0) {
            return f.write_str(&self.0);
        }
        f.write_char('"')?;
        for c in self.0.chars() {
            if c == '"' || c == '\\' {
                f.write_char('\\')?;
            }
            f.write_char(c)?;
        }
        f.write_char('"')
    }
}

/// Parses the SMTP form, so that `s.parse::<LocalPart>()` inverts `to_string()`.
impl FromStr for LocalPart {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LocalPart::parse_smtp(s)
    }
}

impl TryFrom<&str> for LocalPart {
    type Error = AddressError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        LocalPart::parse_smtp(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AddressError::*;

    #[test]
    fn smtp_form_table() {
        let max = "a".repeat(64);
        let max_quoted = format!("\"{}\"", " ".repeat(62));
        let max_utf8 = "é".repeat(32);
        let cases: &[(&str, &str, &str)] = &[
            // SMTP input, content, canonical SMTP form
            ("alice", "alice", "alice"),
            ("Alice.Smith", "Alice.Smith", "Alice.Smith"),
            ("a+b-c_d=e", "a+b-c_d=e", "a+b-c_d=e"),
            (
                "!#$%&'*+-/=?^_`{|}~",
                "!#$%&'*+-/=?^_`{|}~",
                "!#$%&'*+-/=?^_`{|}~",
            ),
            ("用户", "用户", "用户"),
            ("josé.ñ", "josé.ñ", "josé.ñ"),
            ("\"john doe\"", "john doe", "\"john doe\""),
            (r#""a\"b""#, "a\"b", r#""a\"b""#),
            (r#""a\\b""#, "a\\b", r#""a\\b""#),
            (r#""\a""#, "a", "a"),
            ("\"alice\"", "alice", "alice"),
            ("\"a..b\"", "a..b", "\"a..b\""),
            ("\".a\"", ".a", "\".a\""),
            ("\"a@b\"", "a@b", "\"a@b\""),
            ("\"用 户\"", "用 户", "\"用 户\""),
            (&max, &max, &max),
            (&max_quoted, &max_quoted[1..63], &max_quoted),
            (&max_utf8, &max_utf8, &max_utf8),
        ];
        for (input, content, smtp) in cases {
            let l = LocalPart::parse_smtp(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(
                (l.as_str(), l.to_smtp().as_str()),
                (*content, *smtp),
                "{input}"
            );
            assert_eq!(
                l.to_string().parse::<LocalPart>(),
                Ok(l.clone()),
                "round trip"
            );
            assert_eq!(LocalPart::parse(content), Ok(l), "content form of {input}");
        }
    }

    #[test]
    fn smtp_form_errors() {
        let too_long = "a".repeat(65);
        let too_long_quoted = format!("\"{}\"", " ".repeat(63));
        let too_long_utf8 = format!("{}a", "é".repeat(32));
        let cases: &[(&str, AddressError)] = &[
            ("", EmptyLocalPart),
            ("a..b", BadLocalPart),
            (".a", BadLocalPart),
            ("a.", BadLocalPart),
            ("a b", BadLocalPart),
            ("a\"b", BadLocalPart),
            ("a(b)", BadLocalPart),
            ("a\u{7f}", BadLocalPart),
            ("\"", BadQuotedString),
            ("\"abc", BadQuotedString),
            ("\"a\"b\"", BadQuotedString),
            ("\"a\\\"", BadQuotedString),
            ("\"a\\\u{e9}\"", BadQuotedString),
            ("\"a\tb\"", BadLocalPart),
            ("\"\"", EmptyLocalPart),
            (&too_long, LocalPartTooLong),
            (&too_long_quoted, LocalPartTooLong),
            (&too_long_utf8, LocalPartTooLong),
        ];
        for (input, err) in cases {
            assert_eq!(LocalPart::parse_smtp(input), Err(err.clone()), "{input:?}");
        }
    }

    #[test]
    fn content_form() {
        assert_eq!(
            LocalPart::parse("john doe").unwrap().to_smtp(),
            "\"john doe\""
        );
        for (input, err) in [
            ("", EmptyLocalPart),
            ("a\nb", BadLocalPart),
            ("a\u{85}", BadLocalPart),
            // 63 octets of content, 65 on the wire.
            (&" ".repeat(63)[..], LocalPartTooLong),
        ] {
            assert_eq!(LocalPart::parse(input), Err(err), "{input:?}");
        }
    }

    #[test]
    fn case_and_details() {
        let l = LocalPart::parse("Alice+News").unwrap();
        assert_eq!(
            (l.as_str(), l.normalized().as_str()),
            ("Alice+News", "alice+news")
        );
        assert!(l.is_ascii() && !LocalPart::parse("Ünï").unwrap().is_ascii());
        assert_eq!(LocalPart::parse("ÄBC").unwrap().normalized(), "äbc");
        type Split<'a> = (&'a str, Option<&'a str>);
        let cases: &[(&str, char, Split)] = &[
            ("alice+news", '+', ("alice", Some("news"))),
            ("alice+news+x", '+', ("alice", Some("news+x"))),
            ("alice+", '+', ("alice", Some(""))),
            ("+x", '+', ("+x", None)),
            ("bob", '+', ("bob", None)),
            ("bob-lists", '-', ("bob", Some("lists"))),
            ("añb§x", '§', ("añb", Some("x"))),
        ];
        for (input, delimiter, expected) in cases {
            let l = LocalPart::parse(input).unwrap();
            assert_eq!(l.split_detail(*delimiter), *expected, "{input}");
        }
    }
}
