//! Validated newtypes: a value of these types is always valid. No I/O.

mod address;
mod cidr;
mod domain;
mod local;
mod mailbox;
pub mod metrics;

pub use address::{Address, AddressError};
pub use cidr::{Cidr, CidrError, canonical as canonical_ip};
pub use domain::Domain;
pub use local::LocalPart;
pub use mailbox::{MailboxName, MailboxNameError, Uid, UidValidity};
