//! ManageSieve (RFC 5804), server side: the [`Decoder`] frames commands (quoted strings and
//! literals across lines, with limits), [`parse_command`] types them, and the `render_*`
//! functions write responses.

mod command;
mod decoder;
mod response;

pub use command::{Command, CommandError, SaslResponse, parse_command, parse_sasl_response};
pub use decoder::{DecodeError, Decoder, Limits, MAX_QUOTED, Token};
pub use response::{
    Code, Status, render_capability, render_challenge, render_listing, render_literal,
    render_response, render_script, render_string,
};

#[cfg(test)]
mod tests;
