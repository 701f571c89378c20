//! Values shared by commands and responses: sequence sets, flags, dates, mailbox names.

/// One end of a range in a sequence set: a number, or `*` (the largest in use).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqNum {
    Value(u32),
    Star,
}

/// `1,3:5,7:*`, or `$` (RFC 5182 SEARCHRES: the result saved by the last `SEARCH RETURN
/// (SAVE)`). Ranges are kept as the client wrote them; `5:3` means `3:5` (RFC 9051 9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SequenceSet {
    Ranges(Vec<(SeqNum, SeqNum)>),
    Saved,
}

impl SequenceSet {
    /// A single number or range, for building responses and tests.
    pub fn range(from: u32, to: u32) -> SequenceSet {
        SequenceSet::Ranges(vec![(SeqNum::Value(from), SeqNum::Value(to))])
    }
}

/// A message flag (RFC 9051 2.3.2). System flags are typed; `\Recent` is rev1 only and kept
/// as an extension flag since a client can never set it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flag {
    Answered,
    Flagged,
    Deleted,
    Seen,
    Draft,
    /// `\Name` other than the five above, without the backslash.
    Extension(String),
    /// A keyword atom such as `$Forwarded` or `NonJunk`.
    Keyword(String),
}

impl Flag {
    /// Parses one flag as written on the wire (`\Seen`, `$Junk`); system flags match
    /// case-insensitively.
    pub fn parse(text: &str) -> Flag {
        let Some(name) = text.strip_prefix('\\') else {
            return Flag::Keyword(text.to_owned());
        };
        match name.to_ascii_lowercase().as_str() {
            "answered" => Flag::Answered,
            "flagged" => Flag::Flagged,
            "deleted" => Flag::Deleted,
            "seen" => Flag::Seen,
            "draft" => Flag::Draft,
            _ => Flag::Extension(name.to_owned()),
        }
    }

    /// The wire form.
    pub fn as_wire(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Flag::Answered => "\\Answered".into(),
            Flag::Flagged => "\\Flagged".into(),
            Flag::Deleted => "\\Deleted".into(),
            Flag::Seen => "\\Seen".into(),
            Flag::Draft => "\\Draft".into(),
            Flag::Extension(name) => format!("\\{name}").into(),
            Flag::Keyword(name) => name.as_str().into(),
        }
    }
}

/// A calendar date as SEARCH's `date` (RFC 9051 9: `1-Feb-2024`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Date {
    pub year: u16,
    /// 1 to 12.
    pub month: u8,
    /// 1 to 31.
    pub day: u8,
}

/// APPEND's and INTERNALDATE's `date-time`: `"01-Feb-2024 13:05:09 +0100"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime {
    pub date: Date,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    /// Offset from UTC in minutes, as written (`-0130` is -90).
    pub zone_minutes: i16,
}

pub(crate) const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A mailbox name, decoded to UTF-8. `INBOX` in any case is always `INBOX` (RFC 9051 5.1),
/// so the server can compare names as they are. A name a client sent in broken modified
/// UTF-7 is kept as sent and marked undecodable: the command is well formed (BAD is for
/// syntax), but no mailbox has that name, and none may be created with it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Mailbox {
    name: String,
    decoded: bool,
}

impl Mailbox {
    pub fn new(name: impl Into<String>) -> Mailbox {
        let name = name.into();
        let name = match name.eq_ignore_ascii_case("INBOX") {
            true => "INBOX".to_owned(),
            false => name,
        };
        Mailbox {
            name,
            decoded: true,
        }
    }

    /// A name whose modified UTF-7 could not be decoded, as the client sent it.
    pub fn undecodable(raw: impl Into<String>) -> Mailbox {
        Mailbox {
            name: raw.into(),
            decoded: false,
        }
    }

    /// False for a name in broken modified UTF-7, which names no mailbox.
    pub fn is_decoded(&self) -> bool {
        self.decoded
    }

    pub fn as_str(&self) -> &str {
        &self.name
    }

    pub fn is_inbox(&self) -> bool {
        self.decoded && self.name == "INBOX"
    }
}
