//! Typed server responses (RFC 9051 7 and the extensions' responses). The server fills
//! these; [`super::encode`] renders them.

use super::command::StatusItem;
use super::fetch::Section;
use super::types::{DateTime, Flag, Mailbox, SequenceSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    No,
    Bad,
    PreAuth,
    Bye,
}

/// Response codes (RFC 9051 7.1, RFC 4315 UIDPLUS, RFC 7162, RFC 5530, RFC 7889...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Code {
    Alert,
    AlreadyExists,
    /// `APPENDUID uidvalidity uid-set`.
    AppendUid {
        uidvalidity: u32,
        uids: SequenceSet,
    },
    AuthenticationFailed,
    AuthorizationFailed,
    BadCharset(Vec<String>),
    Cannot,
    Capability(Vec<String>),
    ClientBug,
    Closed,
    ContactAdmin,
    /// `COPYUID uidvalidity source-uids dest-uids`.
    CopyUid {
        uidvalidity: u32,
        source: SequenceSet,
        dest: SequenceSet,
    },
    Corruption,
    Expired,
    ExpungeIssued,
    HasChildren,
    HighestModSeq(u64),
    InUse,
    Limit,
    Modified(SequenceSet),
    NoModSeq,
    NonExistent,
    NoPerm,
    OverQuota,
    Parse,
    /// The flags, and whether `\*` (new keywords allowed) is included.
    PermanentFlags(Vec<Flag>, bool),
    PrivacyRequired,
    ReadOnly,
    ReadWrite,
    ServerBug,
    TooBig,
    TryCreate,
    UidNext(u32),
    UidNotSticky,
    UidValidity(u32),
    Unavailable,
    UnknownCte,
    Unseen(u32),
    /// Any other atom, with optional text.
    Other(String, Option<String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListItem {
    /// `\HasNoChildren`, `\Sent`, `\Subscribed`... with their backslash.
    pub attributes: Vec<String>,
    pub delimiter: Option<char>,
    pub mailbox: Mailbox,
    /// RFC 5258 CHILDINFO extended data (`SUBSCRIBED`).
    pub childinfo: Vec<String>,
    /// RFC 9051 OLDNAME extended data, after a RENAME.
    pub oldname: Option<Mailbox>,
}

/// One namespace: prefix and delimiter (RFC 2342).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    pub prefix: String,
    pub delimiter: Option<char>,
}

/// ESEARCH (RFC 4731, RFC 9051 7.3.4); `tag` correlates it with its command.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ESearch {
    pub tag: Option<String>,
    pub uid: bool,
    pub min: Option<u32>,
    pub max: Option<u32>,
    pub all: Option<SequenceSet>,
    pub count: Option<u32>,
    pub modseq: Option<u64>,
}

/// THREAD result (RFC 5256): `messages` form a chain; `children` branch off its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thread {
    pub messages: Vec<u32>,
    pub children: Vec<Thread>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaResource {
    pub name: String,
    pub usage: u64,
    pub limit: u64,
}

/// An address in an envelope. A group start has `host: None`; its end has all `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Address {
    pub name: Option<Vec<u8>>,
    pub adl: Option<Vec<u8>>,
    pub mailbox: Option<Vec<u8>>,
    pub host: Option<Vec<u8>>,
}

/// ENVELOPE: header values as they are in the message (possibly RFC 2047 encoded).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Envelope {
    pub date: Option<Vec<u8>>,
    pub subject: Option<Vec<u8>>,
    pub from: Vec<Address>,
    pub sender: Vec<Address>,
    pub reply_to: Vec<Address>,
    pub to: Vec<Address>,
    pub cc: Vec<Address>,
    pub bcc: Vec<Address>,
    pub in_reply_to: Option<Vec<u8>>,
    pub message_id: Option<Vec<u8>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BodyFields {
    pub params: Vec<(String, String)>,
    pub id: Option<String>,
    pub description: Option<String>,
    pub encoding: String,
    pub size: u32,
}

/// Extension data: BODYSTRUCTURE has it, BODY does not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BodyExt {
    /// Single parts only.
    pub md5: Option<String>,
    pub disposition: Option<(String, Vec<(String, String)>)>,
    pub language: Vec<String>,
    pub location: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SingleKind {
    Basic,
    Text {
        lines: u32,
    },
    /// `message/rfc822` (and `message/global`): the enclosed message's structure.
    Message {
        envelope: Box<Envelope>,
        body: Box<BodyStructure>,
        lines: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyStructure {
    Single {
        media_type: String,
        subtype: String,
        fields: BodyFields,
        kind: SingleKind,
        ext: Option<BodyExt>,
    },
    Multi {
        parts: Vec<BodyStructure>,
        subtype: String,
        params: Vec<(String, String)>,
        ext: Option<BodyExt>,
    },
}

/// Which body data a FETCH item carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyName {
    /// `BODY[section]<origin>`.
    Section {
        section: Section,
        origin: Option<u32>,
    },
    /// `BINARY[part]<origin>`.
    Binary {
        part: Vec<u32>,
        origin: Option<u32>,
    },
    Rfc822,
    Rfc822Header,
    Rfc822Text,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchItem {
    Flags(Vec<Flag>),
    InternalDate(DateTime),
    Rfc822Size(u64),
    Envelope(Box<Envelope>),
    /// `BODY`: the structure without extension data.
    Body(Box<BodyStructure>),
    BodyStructure(Box<BodyStructure>),
    Uid(u32),
    ModSeq(u64),
    /// Body data held in memory; `None` is `NIL`. Large bodies go through
    /// [`super::FetchWriter::literal`] instead.
    Data {
        name: BodyName,
        data: Option<Vec<u8>>,
    },
    BinarySize {
        part: Vec<u32>,
        size: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// Tagged when `tag` is set, else untagged (`* OK`, `* BYE`, greeting `* PREAUTH`).
    Status {
        tag: Option<String>,
        status: Status,
        code: Option<Code>,
        text: String,
    },
    Capability(Vec<String>),
    Enabled(Vec<String>),
    List(ListItem),
    Lsub(ListItem),
    Namespace {
        personal: Vec<Namespace>,
        other: Vec<Namespace>,
        shared: Vec<Namespace>,
    },
    /// `* STATUS`.
    MailboxStatus {
        mailbox: Mailbox,
        items: Vec<(StatusItem, u64)>,
    },
    ESearch(ESearch),
    /// rev1 SEARCH, with CONDSTORE's `(MODSEQ n)`.
    Search {
        ids: Vec<u32>,
        modseq: Option<u64>,
    },
    Flags(Vec<Flag>),
    Exists(u32),
    Recent(u32),
    Expunge(u32),
    Vanished {
        earlier: bool,
        uids: SequenceSet,
    },
    Fetch {
        seq: u32,
        items: Vec<FetchItem>,
    },
    /// With CONDSTORE's `(MODSEQ n)` when the search asked by MODSEQ (RFC 7162 3.1.5).
    Sort {
        ids: Vec<u32>,
        modseq: Option<u64>,
    },
    Thread(Vec<Thread>),
    Quota {
        root: String,
        resources: Vec<QuotaResource>,
    },
    QuotaRoot {
        mailbox: Mailbox,
        roots: Vec<String>,
    },
    Id(Option<Vec<(String, Option<String>)>>),
    /// `+ text`: continue a literal, IDLE or AUTHENTICATE (the text is base64 there).
    Continue(String),
}

impl super::decoder::DecodeError {
    /// The answer the server gives: tagged when the tag is known, else untagged BAD.
    pub fn response(&self) -> Response {
        use super::decoder::ErrorKind as E;
        let (status, code, text) = match self.kind {
            E::Syntax(why) => (Status::Bad, None, why),
            E::LineTooLong => (Status::Bad, Some(Code::TooBig), "line too long"),
            E::CommandTooBig => (Status::Bad, Some(Code::TooBig), "command too long"),
            E::MessageTooBig => (Status::No, Some(Code::TooBig), "message too big"),
            E::LiteralMinus => (
                Status::Bad,
                Some(Code::TooBig),
                "non-synchronizing literal over 4096 octets",
            ),
            E::BareLineEnding => (Status::Bad, None, "lines end with CRLF"),
            E::ExpectedDone => (Status::Bad, None, "expected DONE"),
        };
        // Without a tag only an untagged BAD can be given (RFC 9051 7.1.3).
        let status = if self.tag.is_none() {
            Status::Bad
        } else {
            status
        };
        Response::Status {
            tag: self.tag.clone(),
            status,
            code,
            text: text.to_owned(),
        }
    }
}
