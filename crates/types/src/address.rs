//! Mail addresses (RFC 5321 4.1.2, with RFC 6531 UTF-8) and domains (with IDN).

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("missing @ in address")]
    MissingAt,
    #[error("empty local part")]
    EmptyLocalPart,
    #[error("local part longer than 64 octets")]
    LocalPartTooLong,
    #[error("invalid character in local part")]
    BadLocalPart,
    #[error("unterminated quoted local part")]
    BadQuotedString,
    #[error("empty domain")]
    EmptyDomain,
    #[error("domain longer than 253 octets")]
    DomainTooLong,
    #[error("empty label in domain")]
    EmptyLabel,
    #[error("domain label longer than 63 octets")]
    LabelTooLong,
    #[error("invalid character in domain")]
    BadDomainChar,
    #[error("domain label starts or ends with a hyphen")]
    BadHyphen,
    #[error("invalid internationalized domain name")]
    BadIdn,
    #[error("address literals are not accepted here")]
    AddressLiteral,
}

/// A domain name, stored in its ASCII (A-label) form, lowercased.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Domain(String);

impl Domain {
    pub fn parse(s: &str) -> Result<Domain, AddressError> {
        let s = s.strip_suffix('.').unwrap_or(s);
        if s.is_empty() {
            return Err(AddressError::EmptyDomain);
        }
        if s.starts_with('[') {
            return Err(AddressError::AddressLiteral);
        }
        let ascii = if s.is_ascii() {
            s.to_ascii_lowercase()
        } else {
            idna::domain_to_ascii(s).map_err(|_| AddressError::BadIdn)?
        };
        validate_ascii_domain(&ascii)?;
        Ok(Domain(ascii))
    }

    /// The ASCII form (punycode A-labels), lowercase.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The Unicode form (U-labels) for display.
    pub fn to_unicode(&self) -> String {
        idna::domain_to_unicode(&self.0).0
    }

    /// True when the Unicode form is plain ASCII (no IDN labels).
    pub fn is_ascii_name(&self) -> bool {
        !self.0.split('.').any(|l| l.starts_with("xn--"))
    }
}

fn validate_ascii_domain(d: &str) -> Result<(), AddressError> {
    if d.len() > 253 {
        return Err(AddressError::DomainTooLong);
    }
    for label in d.split('.') {
        if label.is_empty() {
            return Err(AddressError::EmptyLabel);
        }
        if label.len() > 63 {
            return Err(AddressError::LabelTooLong);
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(AddressError::BadDomainChar);
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(AddressError::BadHyphen);
        }
    }
    Ok(())
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Domain {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Domain::parse(s)
    }
}

/// The local part of an address as its content: quotes removed, quoted pairs unescaped.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LocalPart(String);

/// RFC 5322 atext, plus any non-ASCII character (RFC 6531 UTF8-non-ascii).
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || !c.is_ascii()
}

fn is_dot_atom(s: &str) -> bool {
    !s.is_empty()
        && s.split('.')
            .all(|atom| !atom.is_empty() && atom.chars().all(is_atext))
}

impl LocalPart {
    /// Parses the content form (no quotes): any printable characters, at most 64 octets.
    pub fn parse(s: &str) -> Result<LocalPart, AddressError> {
        if s.is_empty() {
            return Err(AddressError::EmptyLocalPart);
        }
        if s.len() > 64 {
            return Err(AddressError::LocalPartTooLong);
        }
        if s.chars().any(|c| c.is_control()) {
            return Err(AddressError::BadLocalPart);
        }
        Ok(LocalPart(s.to_owned()))
    }

    /// Parses the SMTP form: a dot-atom or a quoted string.
    pub fn parse_smtp(s: &str) -> Result<LocalPart, AddressError> {
        if let Some(inner) = s.strip_prefix('"') {
            let inner = inner
                .strip_suffix('"')
                .ok_or(AddressError::BadQuotedString)?;
            let mut content = String::new();
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => content.push(chars.next().ok_or(AddressError::BadQuotedString)?),
                    '"' => return Err(AddressError::BadQuotedString),
                    c => content.push(c),
                }
            }
            return LocalPart::parse(&content);
        }
        if !is_dot_atom(s) {
            return Err(if s.is_empty() {
                AddressError::EmptyLocalPart
            } else {
                AddressError::BadLocalPart
            });
        }
        LocalPart::parse(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The SMTP form: the content if it is a dot-atom, else quoted.
    pub fn to_smtp(&self) -> String {
        if is_dot_atom(&self.0) {
            return self.0.clone();
        }
        let mut out = String::from("\"");
        for c in self.0.chars() {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('"');
        out
    }

    pub fn is_ascii(&self) -> bool {
        self.0.is_ascii()
    }

    /// Lowercased, for lookups: hermod treats local parts case-insensitively.
    pub fn normalized(&self) -> String {
        self.0.to_lowercase()
    }

    /// Plus-addressing: `alice+news` with `+` gives `("alice", Some("news"))`.
    pub fn split_detail(&self, delimiter: char) -> (&str, Option<&str>) {
        match self.0.find(delimiter) {
            Some(i) if i > 0 => (&self.0[..i], Some(&self.0[i + delimiter.len_utf8()..])),
            _ => (&self.0, None),
        }
    }
}

impl fmt::Display for LocalPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_smtp())
    }
}

/// `local@domain`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address {
    local: LocalPart,
    domain: Domain,
}

impl Address {
    pub fn new(local: LocalPart, domain: Domain) -> Address {
        Address { local, domain }
    }

    /// Parses `local@domain` (no angle brackets); the local part may be quoted.
    pub fn parse(s: &str) -> Result<Address, AddressError> {
        let at = s.rfind('@').ok_or(AddressError::MissingAt)?;
        let (local, domain) = (&s[..at], &s[at + 1..]);
        if domain.starts_with('[') {
            return Err(AddressError::AddressLiteral);
        }
        Ok(Address {
            local: LocalPart::parse_smtp(local)?,
            domain: Domain::parse(domain)?,
        })
    }

    pub fn local(&self) -> &LocalPart {
        &self.local
    }

    pub fn domain(&self) -> &Domain {
        &self.domain
    }

    /// Whether the address can travel without SMTPUTF8.
    pub fn is_ascii(&self) -> bool {
        self.local.is_ascii() && self.domain.is_ascii_name()
    }

    /// The lookup key: lowercased local part, ASCII domain.
    pub fn normalized(&self) -> String {
        format!("{}@{}", self.local.normalized(), self.domain.as_str())
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.local.to_smtp(), self.domain.as_str())
    }
}

impl FromStr for Address {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Address::parse(s)
    }
}

impl TryFrom<&str> for Address {
    type Error = AddressError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Address::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains() {
        assert_eq!(
            Domain::parse("Example.TEST.").unwrap().as_str(),
            "example.test"
        );
        let idn = Domain::parse("bücher.example").unwrap();
        assert_eq!(idn.as_str(), "xn--bcher-kva.example");
        assert_eq!(idn.to_unicode(), "bücher.example");
        assert!(!idn.is_ascii_name());
        for (bad, err) in [
            ("", AddressError::EmptyDomain),
            ("a..b", AddressError::EmptyLabel),
            ("-a.b", AddressError::BadHyphen),
            ("a_b.c", AddressError::BadDomainChar),
            ("[127.0.0.1]", AddressError::AddressLiteral),
        ] {
            assert_eq!(Domain::parse(bad), Err(err), "{bad}");
        }
        assert_eq!(
            Domain::parse(&format!("{}.test", "a".repeat(64))),
            Err(AddressError::LabelTooLong)
        );
        assert_eq!(
            Domain::parse(&format!("{}test", "a.".repeat(127))),
            Err(AddressError::DomainTooLong)
        );
    }

    #[test]
    fn addresses() {
        let a = Address::parse("Alice@Example.TEST").unwrap();
        assert_eq!(
            (a.to_string(), a.normalized()),
            ("Alice@example.test".into(), "alice@example.test".into())
        );
        let q = Address::parse("\"john doe\"@x.test").unwrap();
        assert_eq!(
            (q.local().as_str(), q.to_string()),
            ("john doe", "\"john doe\"@x.test".into())
        );
        let e = Address::parse(r#""a\"b"@x.test"#).unwrap();
        assert_eq!(e.local().as_str(), "a\"b");
        assert_eq!(e.to_string(), r#""a\"b"@x.test"#);
        let u = Address::parse("用户@例子.广告").unwrap();
        assert!(!u.is_ascii());
        assert_eq!(u.domain().to_unicode(), "例子.广告");
        assert!(Address::parse(&format!("{}@x.test", "a".repeat(64))).is_ok());
        for bad in [
            "nobody",
            "@x.test",
            "a@",
            "a..b@x.test",
            ".a@x.test",
            "a b@x.test",
            "\"open@x.test",
            "a@[1.2.3.4]",
        ] {
            assert!(Address::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Address::parse(&format!("{}@x.test", "a".repeat(65))),
            Err(AddressError::LocalPartTooLong)
        );
    }

    #[test]
    fn plus_addressing() {
        let l = LocalPart::parse("alice+news+x").unwrap();
        assert_eq!(l.split_detail('+'), ("alice", Some("news+x")));
        assert_eq!(
            LocalPart::parse("+x").unwrap().split_detail('+'),
            ("+x", None)
        );
        assert_eq!(
            LocalPart::parse("bob").unwrap().split_detail('+'),
            ("bob", None)
        );
    }
}
