//! IMAP-shaped mailbox names and message identifiers (RFC 9051 2.3.1.1, 5.1).

use std::fmt;
use std::num::{NonZeroU32, ParseIntError};
use std::str::FromStr;

/// Room for deep hierarchies while keeping a name well inside one protocol line.
const MAX_NAME: usize = 255;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailboxNameError {
    #[error("empty mailbox name")]
    Empty,
    #[error("mailbox name longer than 255 bytes")]
    TooLong,
    #[error("control character in mailbox name")]
    ControlChar,
    #[error("empty, '.' or '..' level in mailbox name")]
    BadLevel,
}

/// A folder name: hierarchy levels separated by `/`. `INBOX` is case-insensitive
/// (RFC 9051 5.1) and always stored as `INBOX`; every other name keeps its case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MailboxName(String);

impl MailboxName {
    pub fn parse(s: &str) -> Result<MailboxName, MailboxNameError> {
        if s.is_empty() {
            return Err(MailboxNameError::Empty);
        }
        if s.len() > MAX_NAME {
            return Err(MailboxNameError::TooLong);
        }
        if s.chars().any(char::is_control) {
            return Err(MailboxNameError::ControlChar);
        }
        // Levels may become path components in a backend: no empty, `.` or `..` ones.
        if s.split('/')
            .any(|level| level.is_empty() || level == "." || level == "..")
        {
            return Err(MailboxNameError::BadLevel);
        }
        if s.eq_ignore_ascii_case("inbox") {
            return Ok(MailboxName::inbox());
        }
        Ok(MailboxName(s.to_owned()))
    }

    pub fn inbox() -> MailboxName {
        MailboxName("INBOX".to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MailboxName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for MailboxName {
    type Err = MailboxNameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MailboxName::parse(s)
    }
}

impl TryFrom<&str> for MailboxName {
    type Error = MailboxNameError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        MailboxName::parse(s)
    }
}

impl AsRef<str> for MailboxName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A non-zero `u32` newtype: `new` refuses 0, `FromStr` refuses "0" and non-numbers.
macro_rules! nonzero_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(NonZeroU32);

        impl $name {
            pub fn new(value: u32) -> Option<$name> {
                NonZeroU32::new(value).map($name)
            }

            pub fn get(self) -> u32 {
                self.0.get()
            }
        }

        impl From<NonZeroU32> for $name {
            fn from(value: NonZeroU32) -> $name {
                $name(value)
            }
        }

        impl From<$name> for u32 {
            fn from(value: $name) -> u32 {
                value.get()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = ParseIntError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse::<NonZeroU32>().map($name)
            }
        }
    };
}

nonzero_id!(
    /// An IMAP UID (RFC 9051 2.3.1.1): never zero.
    Uid
);
nonzero_id!(
    /// An IMAP UIDVALIDITY (RFC 9051 2.3.1.1): never zero.
    UidValidity
);

#[cfg(test)]
mod tests {
    use super::*;
    use MailboxNameError::*;

    #[test]
    fn mailbox_names() {
        let longest = "x".repeat(255);
        let cases: &[(&str, &str)] = &[
            ("INBOX", "INBOX"),
            ("inbox", "INBOX"),
            ("inBox", "INBOX"),
            ("Inbox/Sub", "Inbox/Sub"),
            ("Archive/2024", "Archive/2024"),
            ("Sent", "Sent"),
            ("a.b", "a.b"),
            ("...", "..."),
            ("Entwürfe", "Entwürfe"),
            ("with space", "with space"),
            (&longest, &longest),
        ];
        for (input, expected) in cases {
            let name = MailboxName::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(name.as_str(), *expected);
            assert_eq!(name.to_string().parse::<MailboxName>(), Ok(name.clone()));
            assert_eq!(MailboxName::try_from(*input), Ok(name));
        }
        assert_eq!(MailboxName::inbox(), MailboxName::parse("iNbOx").unwrap());
    }

    #[test]
    fn bad_mailbox_names() {
        let too_long = "x".repeat(256);
        let cases: &[(&str, MailboxNameError)] = &[
            ("", Empty),
            (&too_long, TooLong),
            ("a\nb", ControlChar),
            ("a\u{0}", ControlChar),
            ("a\u{7f}", ControlChar),
            ("/a", BadLevel),
            ("a/", BadLevel),
            ("/", BadLevel),
            ("a//b", BadLevel),
            (".", BadLevel),
            ("..", BadLevel),
            ("a/./b", BadLevel),
            ("a/../b", BadLevel),
            ("a/..", BadLevel),
        ];
        for (input, err) in cases {
            assert_eq!(MailboxName::parse(input), Err(err.clone()), "{input:?}");
        }
    }

    #[test]
    fn ids_are_never_zero() {
        assert_eq!(Uid::new(0), None);
        assert_eq!(UidValidity::new(0), None);
        let uid = Uid::new(7).unwrap();
        assert_eq!(
            (uid.get(), u32::from(uid), uid.to_string()),
            (7, 7, "7".into())
        );
        assert_eq!("4294967295".parse::<Uid>().unwrap().get(), u32::MAX);
        assert_eq!(
            "42".parse::<UidValidity>(),
            Ok(UidValidity::new(42).unwrap())
        );
        for bad in ["0", "", "-1", "x", "4294967296"] {
            assert!(bad.parse::<Uid>().is_err(), "{bad}");
        }
        assert!(Uid::new(1).unwrap() < Uid::new(2).unwrap());
        assert_eq!(Uid::from(NonZeroU32::MIN).get(), 1);
    }
}
