//! IMAP4rev2 (RFC 9051), server side, with what IMAP4rev1 (RFC 3501) clients still send.
//!
//! [`ImapDecoder`] turns bytes into [`Event`]s: whole commands, continuation requests for
//! synchronizing literals, and APPEND messages as a stream of chunks. The encoder renders
//! typed responses; FETCH bodies can be written in pieces.

mod body;
mod command;
mod decoder;
mod encode;
mod fetch;
mod lexer;
mod response;
mod search;
mod types;
mod utf7;

pub use command::{
    Command, CommandBody, ListReturn, ListSelect, Qresync, SelectParams, StatusItem, StoreMode,
    parse_command,
};
pub use decoder::{
    AppendMessage, DecodeError, ErrorKind, Event, ID_COMMAND_MAX, ImapDecoder, Limits, LiteralPlus,
};
pub use encode::{Encoder, FetchWriter};
pub use fetch::{FetchAttr, Partial, Section, SectionText};
pub use lexer::Syntax;
pub use response::{
    Address, BodyExt, BodyFields, BodyName, BodyStructure, Code, ESearch, Envelope, FetchItem,
    ListItem, Namespace, QuotaResource, Response, SingleKind, Status, Thread,
};
pub use search::{SearchKey, SearchReturn, SortCriterion, SortKey};
pub use types::{Date, DateTime, Flag, Mailbox, SeqNum, SequenceSet};
pub use utf7::{decode_mutf7, encode_mutf7};

#[cfg(test)]
mod oracle_tests;
