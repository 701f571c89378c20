//! IMAP-shaped mailbox names and message identifiers.

use std::fmt;
use std::num::NonZeroU32;

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

/// A folder name: hierarchy separated by `/`; `INBOX` is case-insensitive and canonical.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MailboxName(String);

impl MailboxName {
    pub fn parse(s: &str) -> Result<MailboxName, MailboxNameError> {
        if s.is_empty() {
            return Err(MailboxNameError::Empty);
        }
        if s.len() > 255 {
            return Err(MailboxNameError::TooLong);
        }
        if s.chars().any(char::is_control) {
            return Err(MailboxNameError::ControlChar);
        }
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

/// An IMAP UID: never zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Uid(NonZeroU32);

impl Uid {
    pub fn new(value: u32) -> Option<Uid> {
        NonZeroU32::new(value).map(Uid)
    }

    pub fn get(self) -> u32 {
        self.0.get()
    }
}

/// An IMAP UIDVALIDITY: never zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UidValidity(NonZeroU32);

impl UidValidity {
    pub fn new(value: u32) -> Option<UidValidity> {
        NonZeroU32::new(value).map(UidValidity)
    }

    pub fn get(self) -> u32 {
        self.0.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mailbox_names() {
        assert_eq!(MailboxName::parse("inBox").unwrap().as_str(), "INBOX");
        assert_eq!(
            MailboxName::parse("Archive/2024").unwrap().as_str(),
            "Archive/2024"
        );
        for bad in ["", "/a", "a/", "a//b", "..", "a/../b", "a\nb"] {
            assert!(MailboxName::parse(bad).is_err(), "{bad:?}");
        }
        assert!(MailboxName::parse(&"x".repeat(256)).is_err());
        assert!(Uid::new(0).is_none() && Uid::new(7).unwrap().get() == 7);
    }
}
