//! The wording of IMAP status responses, and how a command's outcome becomes one. The
//! bytes are the codec's business ([`hermod_proto::imap::Encoder`]).

use hermod_proto::imap::{Code, Response, Status};
use hermod_store::StoreError;
use std::borrow::Cow;

/// How a command ended: the tagged response without its tag (the session adds it after
/// the unsolicited updates).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Done {
    pub status: Status,
    pub code: Option<Code>,
    pub text: Cow<'static, str>,
}

impl Done {
    pub fn ok(text: &'static str) -> Done {
        Done::with(Status::Ok, None, text)
    }

    pub fn ok_code(code: Code, text: &'static str) -> Done {
        Done::with(Status::Ok, Some(code), text)
    }

    pub fn no(code: Option<Code>, text: impl Into<Cow<'static, str>>) -> Done {
        Done::with(Status::No, code, text)
    }

    pub fn bad(text: &'static str) -> Done {
        Done::with(Status::Bad, None, text)
    }

    fn with(status: Status, code: Option<Code>, text: impl Into<Cow<'static, str>>) -> Done {
        Done {
            status,
            code,
            text: text.into(),
        }
    }

    /// A store failure: the request's own fault gets its RFC 5530 code, anything else is
    /// the server's (logged, with a retry-later code when it is transient).
    pub fn store_error(e: &StoreError) -> Done {
        let code = match e {
            StoreError::UnknownMailbox(_) => Code::NonExistent,
            StoreError::MailboxExists(_) => Code::AlreadyExists,
            StoreError::MailboxHasChildren(_) => Code::HasChildren,
            StoreError::MailboxRefused { .. } => Code::Cannot,
            StoreError::OverQuota(_) => Code::OverQuota,
            StoreError::BadKeyword(_) => Code::Cannot,
            e if e.is_transient() => {
                tracing::error!(error = %e, "IMAP: store failure");
                return Done::no(Some(Code::Unavailable), TRY_LATER);
            }
            e => {
                tracing::error!(error = %e, "IMAP: store failure");
                return Done::no(Some(Code::ServerBug), TRY_LATER);
            }
        };
        Done::no(Some(code), e.to_string())
    }
}

pub(super) fn tagged(tag: &str, status: Status, code: Option<Code>, text: &str) -> Response {
    Response::Status {
        tag: Some(tag.to_owned()),
        status,
        code,
        text: text.to_owned(),
    }
}

pub(super) fn untagged(status: Status, code: Option<Code>, text: &str) -> Response {
    Response::Status {
        tag: None,
        status,
        code,
        text: text.to_owned(),
    }
}

pub(super) fn untagged_bye(text: &str) -> Response {
    untagged(Status::Bye, None, text)
}

// The end of a session.
pub const LOGGING_OUT: &str = "logging out";
pub const AUTOLOGOUT: &str = "autologout: idle for too long";
pub const SHUTTING_DOWN: &str = "server shutting down, try again later";
pub const TOO_MANY_CONNECTIONS: &str = "too many connections, try again later";
pub const TOO_MANY_ERRORS: &str = "too many errors, closing connection";

// Continuation requests.
pub const GO_AHEAD: &str = "go ahead";
pub const IDLING: &str = "idling";

// Client mistakes.
pub const WRONG_STATE: &str = "command not valid in this state";
pub const ALREADY_AUTHENTICATED: &str = "already authenticated";
pub const NOT_SUPPORTED: &str = "command not supported";
pub const QRESYNC_NOT_ENABLED: &str = "QRESYNC needs ENABLE QRESYNC first";
pub const BAD_SEQUENCE: &str = "invalid message sequence number";
pub const NOT_UTF8_OR_ASCII: &str = "only UTF-8 and US-ASCII are supported";

// Authentication.
pub const PLAINTEXT_REFUSED: &str = "plaintext authentication is not allowed without TLS";
pub const AUTH_FAILED: &str = "invalid user name or password";
pub const AUTHZID_REFUSED: &str = "authorization identity not allowed";
pub const AUTH_CANCELLED: &str = "authentication cancelled";
pub const LOGIN_DELAY: &str = "too many failed logins, try again later";
pub const TRY_LATER: &str = "temporary server problem, try again later";

// Mailboxes and messages.
pub const NO_MAILBOX: &str = "no such mailbox";
pub const BAD_NAME: &str = "invalid mailbox name";
pub const READ_ONLY: &str = "mailbox is read-only";
pub const QUOTA_IS_ADMINS: &str = "quotas are set by the administrator";
pub const CANNOT_DECODE: &str = "cannot decode that part";
pub const BINARY_UNSTORABLE: &str = "binary content outside a body part cannot be stored";
pub const SOME_EXPUNGED: &str = "some of the requested messages no longer exist";
