//! The one place where an outcome becomes an SMTP reply: code, enhanced status code, text.
//! Codes follow RFC 5321 section 4.2; enhanced codes RFC 3463 (registry of RFC 5248).

use hermod_core::RejectReason;
use std::borrow::Cow;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub enhanced: Option<(u8, u16, u16)>,
    pub text: Cow<'static, str>,
}

const fn r(code: u16, enhanced: (u8, u16, u16), text: &'static str) -> Reply {
    Reply {
        code,
        enhanced: Some(enhanced),
        text: Cow::Borrowed(text),
    }
}

impl Reply {
    pub fn new(code: u16, enhanced: (u8, u16, u16), text: impl Into<Cow<'static, str>>) -> Reply {
        Reply {
            code,
            enhanced: Some(enhanced),
            text: text.into(),
        }
    }

    pub fn is_positive(&self) -> bool {
        self.code < 400
    }

    pub fn render(&self, out: &mut Vec<u8>) {
        // Most replies are one line: no list of lines to build for them.
        if !self.text.contains('\n') {
            hermod_proto::smtp::render_reply(self.code, self.enhanced, &[self.text.as_ref()], out);
            return;
        }
        let lines: Vec<&str> = self.text.split('\n').collect();
        hermod_proto::smtp::render_reply(self.code, self.enhanced, &lines, out);
    }
}

// 2xx
pub const OK: Reply = r(250, (2, 0, 0), "OK");
pub const RESET: Reply = r(250, (2, 0, 0), "Reset");
pub const BYE: Reply = r(221, (2, 0, 0), "Bye");
pub const SENDER_OK: Reply = r(250, (2, 1, 0), "Sender OK");
pub const RCPT_OK: Reply = r(250, (2, 1, 5), "Recipient OK");
/// RFC 5321 3.5.3: VRFY is not used for address harvesting.
pub const VRFY: Reply = r(
    252,
    (2, 5, 2),
    "Cannot VRFY user, but will accept message and attempt delivery",
);
pub const HELP: Reply = r(
    214,
    (2, 0, 0),
    "hermod: see RFC 5321. Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS",
);
pub const TLS_GO: Reply = r(220, (2, 0, 0), "Ready to start TLS");
pub const START_DATA: Reply = Reply {
    code: 354,
    enhanced: None,
    text: Cow::Borrowed("End data with <CR><LF>.<CR><LF>"),
};

// 4xx: temporary; the sender keeps the message and retries.
pub const TIMEOUT: Reply = r(421, (4, 4, 2), "Timeout, closing connection");
pub const SHUTTING_DOWN: Reply = r(421, (4, 3, 2), "Server shutting down, try again later");
pub const TOO_MANY_CONNECTIONS: Reply = r(421, (4, 7, 0), "Too many connections, try again later");
pub const TOO_MANY_FROM_IP: Reply = r(
    421,
    (4, 7, 0),
    "Too many connections from your address, try again later",
);
pub const TOO_MANY_ERRORS: Reply = r(421, (4, 7, 0), "Too many errors, closing connection");
pub const TOO_MANY_RCPTS: Reply = r(452, (4, 5, 3), "Too many recipients");
pub const OVER_QUOTA: Reply = r(452, (4, 2, 2), "Mailbox full, try again later");
pub const LOCAL_ERROR: Reply = r(451, (4, 3, 0), "Local error in processing, try again later");
pub const NO_POSTMASTER: Reply = r(
    451,
    (4, 3, 0),
    "No mailbox for postmaster configured yet, try again later",
);
pub const TLS_UNAVAILABLE: Reply = r(454, (4, 7, 0), "TLS not available");

// 5xx: permanent.
pub const UNKNOWN_COMMAND: Reply = r(500, (5, 5, 1), "Command unrecognized");
pub const LINE_TOO_LONG: Reply = r(500, (5, 5, 2), "Line too long");
pub const BARE_LINE_ENDING: Reply = r(
    500,
    (5, 5, 2),
    "Bare CR or LF not allowed, lines must end with CRLF",
);
pub const NOT_UTF8: Reply = r(500, (5, 5, 2), "Command is not valid UTF-8");
pub const NOT_IMPLEMENTED: Reply = r(502, (5, 5, 1), "Command not implemented");
pub const NEED_HELO: Reply = r(503, (5, 5, 1), "Send EHLO or HELO first");
pub const NESTED_MAIL: Reply = r(503, (5, 5, 1), "Sender already specified");
pub const NEED_MAIL: Reply = r(503, (5, 5, 1), "Send MAIL first");
pub const NEED_RCPT: Reply = r(554, (5, 5, 1), "No valid recipients");
pub const DATA_AFTER_BDAT: Reply = r(
    503,
    (5, 5, 1),
    "DATA may not follow BDAT in one transaction",
);
pub const ALREADY_TLS: Reply = r(503, (5, 5, 1), "TLS already active");
pub const UNKNOWN_USER: Reply = r(550, (5, 1, 1), "No such user here");
pub const RELAY_DENIED: Reply = r(550, (5, 7, 1), "Relaying denied");
pub const ALIAS_LOOP: Reply = r(550, (5, 4, 6), "Alias loop for this recipient");
pub const TOO_BIG: Reply = r(552, (5, 3, 4), "Message too big");
pub const MAIL_LOOP: Reply = r(554, (5, 4, 6), "Too many Received headers: mail loop");
pub const NEED_SMTPUTF8: Reply = r(553, (5, 6, 7), "Non-ASCII address requires SMTPUTF8");
/// A list reached its posting rate (`[lists] max_posts_per_*`): the sender retries later.
pub fn list_rate(reason: &str) -> Reply {
    Reply::new(451, (4, 7, 1), reason.to_owned())
}

pub fn syntax(detail: &str) -> Reply {
    Reply::new(501, (5, 5, 2), format!("Syntax error: {detail}"))
}

pub fn bad_address(detail: &str) -> Reply {
    Reply::new(501, (5, 1, 3), format!("Bad address syntax: {detail}"))
}

pub fn unknown_parameter(name: &str) -> Reply {
    Reply::new(555, (5, 5, 4), format!("Parameter {name} not recognized"))
}

pub fn greeting(hostname: &str) -> Reply {
    Reply {
        code: 220,
        enhanced: None,
        text: format!("{hostname} ESMTP hermod").into(),
    }
}

pub fn accepted(id: &str) -> Reply {
    Reply::new(250, (2, 0, 0), format!("OK queued as {id}"))
}

pub fn chunk_ok(size: u64) -> Reply {
    Reply::new(250, (2, 0, 0), format!("{size} octets received"))
}

/// The EHLO reply: greeting line, then one keyword per line (no enhanced codes, RFC 2034).
pub fn ehlo(hostname: &str, peer: std::net::IpAddr, keywords: &[&str]) -> Reply {
    use std::fmt::Write;
    let mut text = String::with_capacity(hostname.len() + 48 + keywords.len() * 20);
    let _ = write!(text, "{hostname} greets {peer}");
    for k in keywords {
        text.push('\n');
        text.push_str(k);
    }
    Reply {
        code: 250,
        enhanced: None,
        text: text.into(),
    }
}

pub fn helo(hostname: &str, peer: std::net::IpAddr) -> Reply {
    Reply {
        code: 250,
        enhanced: None,
        text: format!("{hostname} greets {peer}").into(),
    }
}

pub fn reject(reason: &RejectReason) -> Reply {
    match reason {
        RejectReason::RelayDenied => RELAY_DENIED,
        RejectReason::UnknownUser => UNKNOWN_USER,
        RejectReason::OverQuota => OVER_QUOTA,
        RejectReason::NoPostmasterMailbox => NO_POSTMASTER,
        RejectReason::AliasLoop => ALIAS_LOOP,
    }
}

pub const DATA_BARE_LINE_ENDING: Reply = r(
    554,
    (5, 6, 0),
    "Message contains a bare CR or LF; lines must end with CRLF",
);
/// RFC 2045 and RFC 6152: 7bit and 8bit content holds no NUL, and hermod offers no
/// BINARYMIME; a NUL inside a part's content is stored base64-encoded, elsewhere refused.
pub const DATA_NUL: Reply = r(
    554,
    (5, 6, 0),
    "Message has a NUL octet in a header or outside a part's 7bit or 8bit content",
);
pub const DATA_LINE_TOO_LONG: Reply = r(554, (5, 6, 0), "Message has a line that is too long");

// SMTP AUTH (RFC 4954 6) and submission (RFC 6409).
pub const AUTH_OK: Reply = r(235, (2, 7, 0), "Authentication successful");
pub const AUTH_REQUIRED: Reply = r(530, (5, 7, 0), "Authentication required");
pub const AUTH_FAILED: Reply = r(535, (5, 7, 8), "Authentication credentials invalid");
pub const AUTH_CANCELLED: Reply = r(501, (5, 0, 0), "Authentication cancelled");
pub const AUTH_LOCKED: Reply = r(
    454,
    (4, 7, 0),
    "Too many failed authentications, try again later",
);
pub const AUTH_TEMP_FAILURE: Reply = r(454, (4, 7, 0), "Temporary authentication failure");
pub const ENCRYPTION_REQUIRED: Reply = r(
    538,
    (5, 7, 11),
    "Encryption required for requested authentication mechanism",
);
pub const UNKNOWN_MECHANISM: Reply = r(504, (5, 5, 4), "Unrecognized authentication mechanism");
pub const ALREADY_AUTHENTICATED: Reply = r(503, (5, 5, 1), "Already authenticated");
pub const AUTH_IN_TRANSACTION: Reply =
    r(503, (5, 5, 1), "AUTH not allowed during a mail transaction");
pub const SENDER_NOT_ALLOWED: Reply = r(
    553,
    (5, 7, 1),
    "Sender address not allowed for this account",
);
pub const FROM_NOT_ALLOWED: Reply = r(
    553,
    (5, 7, 1),
    "From:/Sender: address not allowed for this account",
);
/// RFC 5322 3.6: one `From:` and at most one `Sender:`.
pub const REPEATED_AUTHOR: Reply = r(
    550,
    (5, 6, 0),
    "Message has more than one From: or Sender: field",
);
pub const NO_FROM: Reply = r(550, (5, 6, 0), "Message has no valid From: header");
/// An account reached one of its sending limits (`limit` says which, with its value).
pub fn rate_limited(limit: &hermod_core::rates::Limit) -> Reply {
    Reply::new(
        450,
        (4, 7, 1),
        format!(
            "Sending limit reached: {limit} ({}), try again later",
            limit.key()
        ),
    )
}
pub const ACCOUNT_FROZEN: Reply = r(
    450,
    (4, 7, 1),
    "Account frozen by the bulk mail guard; your postmaster can unfreeze it",
);
pub const HEADER_TOO_BIG: Reply = r(552, (5, 3, 4), "Header section too large");

// Spam defence.
/// The greeting of a refused connection (RFC 5321 3.1: then 503 to all but QUIT).
pub fn connection_refused(reason: &str) -> Reply {
    Reply::new(554, (5, 7, 1), format!("Service unavailable: {reason}"))
}
pub fn no_service(reason: &str) -> Reply {
    Reply::new(503, (5, 7, 1), format!("No service: {reason}; send QUIT"))
}
pub fn helo_refused(rule: &str) -> Reply {
    Reply::new(
        550,
        (5, 7, 1),
        format!("HELO/EHLO name refused ({rule}): give this host's name or an address literal"),
    )
}
pub fn greylisted(seconds: i64) -> Reply {
    Reply::new(
        451,
        (4, 7, 1),
        format!("Greylisted: please try again in {seconds} seconds"),
    )
}
pub fn spam_rejected(score: f64) -> Reply {
    Reply::new(
        550,
        (5, 7, 1),
        format!("Message refused as spam (score {score})"),
    )
}
/// The spam filter's refusal at the end of the data.
pub(crate) fn filter_refused(refusal: &crate::smtp::Refusal) -> Reply {
    match refusal {
        crate::smtp::Refusal::Dmarc(why) => dmarc_rejected(why),
        crate::smtp::Refusal::Spam(score) => spam_rejected(*score),
    }
}

/// A recipient's Sieve `reject` (RFC 5429 2.1: refused in the SMTP dialogue). The reason is
/// the script's text: kept to one line of printable ASCII, so a script cannot forge reply
/// lines.
pub fn sieve_rejected(reason: &str) -> Reply {
    let clean: String = reason
        .chars()
        .map(|c| if c.is_ascii_graphic() { c } else { ' ' })
        .take(200)
        .collect();
    let clean = clean.split_whitespace().collect::<Vec<_>>().join(" ");
    Reply::new(
        550,
        (5, 7, 1),
        format!("Rejected by the recipient: {clean}"),
    )
}

/// A mailing list that takes posts from members only (`hermod list create ... --refuse`).
pub fn list_refused(reason: &str) -> Reply {
    Reply::new(550, (5, 7, 1), format!("Post refused: {reason}"))
}

pub fn dmarc_rejected(reason: &str) -> Reply {
    Reply::new(550, (5, 7, 1), format!("Message refused: {reason}"))
}
