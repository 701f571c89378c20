//! Validated newtypes: a value of these types is always valid. No I/O.

mod address;
mod mailbox;

pub use address::{Address, AddressError, Domain, LocalPart};
pub use mailbox::{MailboxName, MailboxNameError, Uid, UidValidity};
