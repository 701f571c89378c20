//! SMTP, server side (RFC 5321 and its extensions).

mod command;
mod data;
mod reply;

pub use crate::line::{LineError, LineFramer};
pub use command::{
    Body, Command, CommandError, ForwardPath, MailParams, Notify, RcptParams, Ret, ReversePath,
    parse_command,
};
pub(crate) use data::find_cr_or_lf;
pub use data::{DataDecoder, DataEnd, LineEndingCheck};
pub use reply::render_reply;
