//! Sans-I/O protocol codecs: bytes in, typed commands out; typed replies in, bytes out.
//! "Need more data" is a value (`None`), never a read. No sockets, no tokio, no logging.

pub mod imap;
mod line;
pub mod managesieve;
pub mod pop3;
pub mod sasl;
pub mod smtp;

pub use line::{LineError, LineFramer};

#[cfg(test)]
mod split;
