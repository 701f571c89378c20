//! Validated newtypes: a value of these types is always valid. No I/O.

mod address;
mod domain;
mod local;
mod mailbox;

pub use address::{Address, AddressError};
pub use domain::Domain;
pub use local::LocalPart;
pub use mailbox::{MailboxName, MailboxNameError, Uid, UidValidity};
