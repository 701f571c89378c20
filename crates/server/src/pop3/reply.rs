//! Every POP3 status line the server sends, in one place: `+OK` and `-ERR` with the response
//! codes of RFC 2449 8 and RFC 3206 (`[AUTH]`, `[SYS/TEMP]`, `[IN-USE]`, `[LOGIN-DELAY]`).

use std::borrow::Cow;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pop3Reply {
    pub ok: bool,
    pub code: Option<&'static str>,
    pub text: Cow<'static, str>,
}

impl Pop3Reply {
    pub fn render(&self, out: &mut Vec<u8>) {
        if self.ok {
            hermod_proto::pop3::render_ok(&self.text, out);
        } else {
            hermod_proto::pop3::render_err(self.code, &self.text, out);
        }
    }
}

const fn ok(text: &'static str) -> Pop3Reply {
    Pop3Reply {
        ok: true,
        code: None,
        text: Cow::Borrowed(text),
    }
}

const fn err(code: Option<&'static str>, text: &'static str) -> Pop3Reply {
    Pop3Reply {
        ok: false,
        code,
        text: Cow::Borrowed(text),
    }
}

fn ok_owned(text: String) -> Pop3Reply {
    Pop3Reply {
        ok: true,
        code: None,
        text: Cow::Owned(text),
    }
}

// AUTHORIZATION (RFC 1939 4, RFC 2595, RFC 5034).
pub const CAPA_FOLLOWS: Pop3Reply = ok("capability list follows");
pub const BEGIN_TLS: Pop3Reply = ok("begin TLS negotiation");
pub const SEND_PASSWORD: Pop3Reply = ok("send your password");
pub const MECHANISMS_FOLLOW: Pop3Reply = ok("mechanisms follow");
pub const PLAINTEXT_REFUSED: Pop3Reply = err(
    Some("AUTH"),
    "plaintext authentication is not allowed without TLS: use STLS",
);
pub const AUTHZID_REFUSED: Pop3Reply = err(Some("AUTH"), "authorization identity not allowed");
pub const AUTH_CANCELLED: Pop3Reply = err(None, "authentication cancelled");
pub const AUTH_FAILED: Pop3Reply = err(Some("AUTH"), "invalid user name or password");
pub const IN_USE: Pop3Reply = err(Some("IN-USE"), "maildrop already locked by another session");
pub const TEMP_FAILURE: Pop3Reply = err(
    Some("SYS/TEMP"),
    "temporary server problem, try again later",
);

pub fn greeting(hostname: &str) -> Pop3Reply {
    ok_owned(format!("{hostname} hermod POP3 server ready"))
}

/// RFC 2449 8.1.1: the client must wait before trying again.
pub fn login_delay(seconds: u64) -> Pop3Reply {
    Pop3Reply {
        ok: false,
        code: Some("LOGIN-DELAY"),
        text: Cow::Owned(format!(
            "too many failed logins, try again in {seconds} seconds"
        )),
    }
}

pub fn logged_in(count: usize, size: u64) -> Pop3Reply {
    ok_owned(format!("{count} messages ({size} octets)"))
}

// TRANSACTION (RFC 1939 5).
pub const NOOP: Pop3Reply = ok("");
pub const SCAN_LISTING: Pop3Reply = ok("scan listing follows");
pub const UIDL_LISTING: Pop3Reply = ok("unique-id listing follows");
pub const CANNOT_READ: Pop3Reply = err(
    Some("SYS/TEMP"),
    "cannot read that message now, try again later",
);

pub fn stat(count: usize, size: u64) -> Pop3Reply {
    ok_owned(format!("{count} {size}"))
}

/// One line of LIST or UIDL for message `n`.
pub fn listing(n: u32, value: impl std::fmt::Display) -> Pop3Reply {
    ok_owned(format!("{n} {value}"))
}

pub fn deleted(n: u32) -> Pop3Reply {
    ok_owned(format!("message {n} deleted"))
}

pub fn reset(count: usize, size: u64) -> Pop3Reply {
    ok_owned(format!("maildrop has {count} messages ({size} octets)"))
}

pub fn octets(size: u64) -> Pop3Reply {
    ok_owned(format!("{size} octets"))
}

// UPDATE and the end of a session (RFC 1939 6).
pub const BYE: Pop3Reply = ok("bye");
pub const UPDATE_FAILED: Pop3Reply = err(
    Some("SYS/TEMP"),
    "some deleted messages were not removed, try again",
);
pub const AUTOLOGOUT: Pop3Reply = err(None, "autologout: idle for too long");
pub const SHUTTING_DOWN: Pop3Reply = err(Some("SYS/TEMP"), "server shutting down, try again later");
pub const TOO_MANY_CONNECTIONS: Pop3Reply =
    err(Some("SYS/TEMP"), "too many connections, try again later");
pub const TOO_MANY_ERRORS: Pop3Reply = err(None, "too many errors, closing connection");

pub fn logged_out(deleted: usize) -> Pop3Reply {
    ok_owned(format!("bye ({deleted} messages deleted)"))
}

// Client mistakes: each counts towards the session's error limit.
pub const STLS_UNAVAILABLE: Pop3Reply = err(None, "STLS not available");
pub const TLS_ACTIVE: Pop3Reply = err(None, "TLS already active");
pub const WRONG_STATE: Pop3Reply = err(None, "command not valid in this state");
pub const USER_FIRST: Pop3Reply = err(None, "send USER first");
pub const UNSUPPORTED_MECHANISM: Pop3Reply = err(None, "unsupported mechanism; PLAIN is supported");
pub const BAD_SASL: Pop3Reply = err(None, "invalid SASL response");
pub const BAD_SASL_PLAIN: Pop3Reply = err(None, "malformed SASL PLAIN response");
pub const LINE_TOO_LONG: Pop3Reply = err(None, "line too long");
pub const NEED_CRLF: Pop3Reply = err(None, "lines must end with CRLF");
pub const UNKNOWN_COMMAND: Pop3Reply = err(None, "unknown command");
pub const NOT_UTF8: Pop3Reply = err(None, "command is not valid UTF-8");
pub const NO_SUCH_MESSAGE: Pop3Reply = err(None, "no such message");

pub fn syntax(why: &'static str) -> Pop3Reply {
    err(None, why)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_render_with_their_codes() {
        let render = |reply: Pop3Reply| {
            let mut out = Vec::new();
            reply.render(&mut out);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(render(NOOP), "+OK\r\n");
        assert_eq!(render(stat(2, 300)), "+OK 2 300\r\n");
        assert_eq!(
            render(IN_USE),
            "-ERR [IN-USE] maildrop already locked by another session\r\n"
        );
        assert_eq!(
            render(login_delay(120)),
            "-ERR [LOGIN-DELAY] too many failed logins, try again in 120 seconds\r\n"
        );
        assert_eq!(render(NO_SUCH_MESSAGE), "-ERR no such message\r\n");
    }
}
