//! Mail addresses: `local@domain` (RFC 5321 4.1.2 `Mailbox`, with RFC 6531 UTF-8).

use std::fmt::{self, Write};
use std::str::FromStr;

use crate::{Domain, LocalPart};

/// Why a string is not an address, a local part or a domain.
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
    #[error("malformed quoted local part")]
    BadQuotedString,
    #[error("empty domain")]
    EmptyDomain,
    #[error("domain longer than 253 octets")]
    DomainTooLong,
    #[error("empty label in domain")]
    EmptyLabel,
    #[error("domain label too long (over 63 octets)")]
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
        // The domain cannot hold an `@`, a quoted local part can: split at the last one.
        let at = s.rfind('@').ok_or(AddressError::MissingAt)?;
        let (local, domain) = (&s[..at], &s[at + 1..]);
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

    /// Whether the address can travel without SMTPUTF8. The domain always can: it is held
    /// and sent as A-labels (plain ASCII, RFC 5890), which is how most mail to IDN domains
    /// travels; only a UTF-8 local part needs SMTPUTF8. Whether a client *wrote* UTF-8 is a
    /// question about its command line, not about the parsed address.
    pub fn is_ascii(&self) -> bool {
        self.local.is_ascii()
    }

    /// The store's lookup key: lowercased local part, `@`, ASCII domain.
    pub fn normalized(&self) -> String {
        format!("{}@{}", self.local.normalized(), self.domain.as_str())
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.local, f)?;
        f.write_char('@')?;
        f.write_str(self.domain.as_str())
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
    use AddressError::*;

    #[test]
    fn parses_displays_and_normalizes() {
        let max_local = format!("{}@x.test", "a".repeat(64));
        let cases: &[(&str, &str, &str, bool)] = &[
            // input, Display, normalized(), is_ascii()
            (
                "alice@example.test",
                "alice@example.test",
                "alice@example.test",
                true,
            ),
            (
                "Alice@Example.TEST",
                "Alice@example.test",
                "alice@example.test",
                true,
            ),
            ("a.b+c@x.test.", "a.b+c@x.test", "a.b+c@x.test", true),
            (
                "\"john doe\"@example.com",
                "\"john doe\"@example.com",
                "john doe@example.com",
                true,
            ),
            (r#""a\"b"@x.test"#, r#""a\"b"@x.test"#, "a\"b@x.test", true),
            ("\"a@b\"@x.test", "\"a@b\"@x.test", "a@b@x.test", true),
            ("\"plain\"@x.test", "plain@x.test", "plain@x.test", true),
            (
                "用户@例子.广告",
                "用户@xn--fsqu00a.xn--4rr70v",
                "用户@xn--fsqu00a.xn--4rr70v",
                false,
            ),
            (
                "a@bücher.example",
                "a@xn--bcher-kva.example",
                "a@xn--bcher-kva.example",
                true,
            ),
            (
                "a@xn--bcher-kva.example",
                "a@xn--bcher-kva.example",
                "a@xn--bcher-kva.example",
                true,
            ),
            ("Ünï@x.test", "Ünï@x.test", "ünï@x.test", false),
            (&max_local, &max_local, &max_local, true),
        ];
        for (input, shown, key, ascii) in cases {
            let a = Address::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(a.to_string(), *shown, "{input}");
            assert_eq!(a.normalized(), *key, "{input}");
            assert_eq!(a.is_ascii(), *ascii, "{input}");
            assert_eq!(
                a.to_string().parse::<Address>(),
                Ok(a.clone()),
                "round trip"
            );
            let rebuilt = Address::new(a.local().clone(), a.domain().clone());
            assert_eq!(Address::try_from(*shown), Ok(rebuilt));
        }
    }

    #[test]
    fn rejects_with_the_right_error() {
        let long_local = format!("{}@x.test", "a".repeat(65));
        let cases: &[(&str, AddressError)] = &[
            ("", MissingAt),
            ("nobody", MissingAt),
            ("\"a@b\"", BadQuotedString),
            ("@x.test", EmptyLocalPart),
            ("a@", EmptyDomain),
            ("a@@x.test", BadLocalPart),
            ("a..b@x.test", BadLocalPart),
            (".a@x.test", BadLocalPart),
            ("a b@x.test", BadLocalPart),
            ("<a@x.test>", BadLocalPart),
            ("\"open@x.test", BadQuotedString),
            ("a@[192.0.2.1]", AddressLiteral),
            ("a@[IPv6:::1]", AddressLiteral),
            ("a@x..test", EmptyLabel),
            ("a@-x.test", BadHyphen),
            ("a@x_y.test", BadDomainChar),
            ("a@x.test>", BadDomainChar),
            (&long_local, LocalPartTooLong),
        ];
        for (input, err) in cases {
            assert_eq!(Address::parse(input), Err(err.clone()), "{input:?}");
        }
    }

    #[test]
    fn equality_follows_the_stored_forms() {
        let a = Address::parse("a@BÜCHER.example").unwrap();
        assert_eq!(a, Address::parse("a@xn--bcher-kva.example").unwrap());
        // Local parts are case-sensitive by RFC; only normalized() folds them.
        let upper = Address::parse("A@x.test").unwrap();
        let lower = Address::parse("a@x.test").unwrap();
        assert_ne!(upper, lower);
        assert_eq!(upper.normalized(), lower.normalized());
    }
}
