//! Domain names (RFC 5321 4.1.2 `Domain`, RFC 1035 limits), with IDN (RFC 5890) support.

use std::fmt;
use std::str::FromStr;

use crate::AddressError;

/// RFC 1035 2.3.4, as counted without the root dot.
const MAX_DOMAIN: usize = 253;
const MAX_LABEL: usize = 63;

/// A domain name, stored in its ASCII form (punycode A-labels), lowercased, so that two
/// spellings of one name compare equal. Address literals (`[192.0.2.1]`) are not domains.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Domain(String);

impl Domain {
    /// Parses an ASCII or UTF-8 name; one trailing root dot is dropped.
    pub fn parse(s: &str) -> Result<Domain, AddressError> {
        let s = s.strip_suffix('.').unwrap_or(s);
        if s.is_empty() {
            return Err(AddressError::EmptyDomain);
        }
        if s.starts_with('[') {
            return Err(AddressError::AddressLiteral);
        }
        if s.is_ascii() {
            let lower = s.to_ascii_lowercase();
            validate_ldh(&lower)?;
            // An A-label must be valid punycode of a valid U-label, or to_unicode() lies.
            if lower.split('.').any(|label| label.starts_with("xn--")) {
                to_ascii(&lower)?;
            }
            return Ok(Domain(lower));
        }
        let ascii = to_ascii(s)?;
        validate_ldh(&ascii)?;
        Ok(Domain(ascii))
    }

    /// The ASCII form (A-labels), lowercase: what goes on the wire and into the store.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The Unicode form (U-labels), for display and for SMTPUTF8 peers.
    pub fn to_unicode(&self) -> String {
        idna::domain_to_unicode(&self.0).0
    }

    /// True when the Unicode form is plain ASCII, i.e. no label is an A-label.
    pub fn is_ascii_name(&self) -> bool {
        !self.0.split('.').any(|label| label.starts_with("xn--"))
    }
}

/// UTS 46 processing: maps case and compatibility forms, checks the IDNA rules.
fn to_ascii(s: &str) -> Result<String, AddressError> {
    idna::domain_to_ascii_cow(s.as_bytes(), idna::AsciiDenyList::URL)
        .map(|cow| cow.into_owned())
        .map_err(|_| AddressError::BadIdn)
}

/// RFC 5321 `Domain`: dot-separated labels of letters, digits and inner hyphens.
fn validate_ldh(d: &str) -> Result<(), AddressError> {
    for label in d.split('.') {
        if label.is_empty() {
            return Err(AddressError::EmptyLabel);
        }
        if label.len() > MAX_LABEL {
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
    // Checked last so that a bad label is reported as such, not as a long name.
    if d.len() > MAX_DOMAIN {
        return Err(AddressError::DomainTooLong);
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

impl TryFrom<&str> for Domain {
    type Error = AddressError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Domain::parse(s)
    }
}

impl AsRef<str> for Domain {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AddressError::*;

    #[test]
    fn accepts_and_normalizes() {
        let long_label = "a".repeat(63);
        let long_name = format!("{}bb.test", "a.".repeat(123)); // 253 octets
        let cases: &[(&str, &str, &str)] = &[
            // input, ASCII form, Unicode form
            ("example.test", "example.test", "example.test"),
            ("Example.TEST", "example.test", "example.test"),
            ("example.test.", "example.test", "example.test"),
            ("localhost", "localhost", "localhost"),
            ("a-b.c1.test", "a-b.c1.test", "a-b.c1.test"),
            ("123.test", "123.test", "123.test"),
            ("bücher.example", "xn--bcher-kva.example", "bücher.example"),
            ("BÜCHER.example", "xn--bcher-kva.example", "bücher.example"),
            (
                "XN--BCHER-KVA.example",
                "xn--bcher-kva.example",
                "bücher.example",
            ),
            ("例子.广告", "xn--fsqu00a.xn--4rr70v", "例子.广告"),
            ("例子。广告", "xn--fsqu00a.xn--4rr70v", "例子.广告"),
            (&long_label, &long_label, &long_label),
            (&long_name, &long_name, &long_name),
        ];
        for (input, ascii, unicode) in cases {
            let d = Domain::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(d.as_str(), *ascii, "{input}");
            assert_eq!(d.to_unicode(), *unicode, "{input}");
            assert_eq!(d.is_ascii_name(), ascii == unicode, "{input}");
            assert_eq!(d.to_string().parse::<Domain>(), Ok(d.clone()), "round trip");
            assert_eq!(Domain::try_from(*unicode), Ok(d), "unicode round trip");
        }
    }

    #[test]
    fn rejects_with_the_right_error() {
        let too_long_label = format!("{}.test", "a".repeat(64));
        let too_long_name = format!("{}b.test", "a.".repeat(124)); // 254 octets
        let long_idn = format!("{}.test", "ü".repeat(60));
        let cases: &[(&str, AddressError)] = &[
            ("", EmptyDomain),
            (".", EmptyDomain),
            ("a..b", EmptyLabel),
            (".a.b", EmptyLabel),
            ("a.b..", EmptyLabel),
            ("-a.b", BadHyphen),
            ("a-.b", BadHyphen),
            ("a.-b", BadHyphen),
            ("a_b.c", BadDomainChar),
            ("a b.c", BadDomainChar),
            ("a@b.c", BadDomainChar),
            ("a\u{0}.c", BadDomainChar),
            ("[127.0.0.1]", AddressLiteral),
            ("[IPv6:::1]", AddressLiteral),
            (&too_long_label, LabelTooLong),
            (&too_long_name, DomainTooLong),
            (&long_idn, LabelTooLong),
            ("xn--zz.test", BadIdn),
            ("xn--.test", BadHyphen),
            ("a\u{200b}\u{0}b.test", BadIdn),
            ("ü_x.test", BadDomainChar),
        ];
        for (input, err) in cases {
            assert_eq!(Domain::parse(input), Err(err.clone()), "{input:?}");
        }
    }
}
