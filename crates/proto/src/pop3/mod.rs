//! POP3, server side (RFC 1939, RFC 2449 CAPA and response codes, RFC 2595 STLS,
//! RFC 5034 AUTH).

mod command;
mod response;

pub use command::{Command, CommandError, parse_command};
pub use response::{DotStuffer, TopLimiter, render_err, render_ok};

/// RFC 2449 4: a command line is at most 255 octets including CRLF. SASL responses in AUTH
/// continuations may be longer; the session gives the framer a larger limit then.
pub const MAX_COMMAND_LINE: usize = 255;
