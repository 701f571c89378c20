//! Reading and writing messages: the trace headers hermod adds, dates, header scanning.

mod authors;
mod date;
mod dsn;
mod fields;
mod headers;
mod trace;

pub use authors::{AuthorError, author_addresses};
pub use date::{rfc5322_date, unix_now};
pub use dsn::{Bounce, FailedRecipient};
pub use fields::{
    Field, claims_authserv_id, field_value, fields, remove_fields, remove_fields_where,
};
pub use headers::{count_header, header_section};
pub use trace::{Protocol, Received, return_path};
