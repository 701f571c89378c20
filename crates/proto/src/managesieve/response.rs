//! Responses (RFC 5804 4): `OK`/`NO`/`BYE` with an optional response code and text, strings
//! (quoted when they can be, literals `{n}` otherwise), capability and script listing lines.

use super::decoder::MAX_QUOTED;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    No,
    Bye,
}

/// The response codes of RFC 5804 1.3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Code {
    AuthTooWeak,
    EncryptNeeded,
    Quota,
    QuotaMaxScripts,
    QuotaMaxSize,
    /// Final SASL server data (base64).
    Sasl(String),
    TransitionNeeded,
    TryLater,
    Active,
    NonExistent,
    AlreadyExists,
    /// Echoes NOOP's tag.
    Tag(Vec<u8>),
    Warnings,
}

/// Renders a status response: `NO (NONEXISTENT) "text"`. An empty `text` is left out.
pub fn render_response(status: Status, code: Option<&Code>, text: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(match status {
        Status::Ok => b"OK",
        Status::No => b"NO",
        Status::Bye => b"BYE",
    });
    if let Some(code) = code {
        out.extend_from_slice(b" (");
        render_code(code, out);
        out.push(b')');
    }
    if !text.is_empty() {
        out.push(b' ');
        render_string(text.as_bytes(), out);
    }
    out.extend_from_slice(b"\r\n");
}

fn render_code(code: &Code, out: &mut Vec<u8>) {
    let name: &[u8] = match code {
        Code::AuthTooWeak => b"AUTH-TOO-WEAK",
        Code::EncryptNeeded => b"ENCRYPT-NEEDED",
        Code::Quota => b"QUOTA",
        Code::QuotaMaxScripts => b"QUOTA/MAXSCRIPTS",
        Code::QuotaMaxSize => b"QUOTA/MAXSIZE",
        Code::Sasl(_) => b"SASL",
        Code::TransitionNeeded => b"TRANSITION-NEEDED",
        Code::TryLater => b"TRYLATER",
        Code::Active => b"ACTIVE",
        Code::NonExistent => b"NONEXISTENT",
        Code::AlreadyExists => b"ALREADYEXISTS",
        Code::Tag(_) => b"TAG",
        Code::Warnings => b"WARNINGS",
    };
    out.extend_from_slice(name);
    match code {
        Code::Sasl(data) => {
            out.push(b' ');
            render_string(data.as_bytes(), out);
        }
        Code::Tag(tag) => {
            out.push(b' ');
            render_string(tag, out);
        }
        _ => {}
    }
}

/// A string: quoted when it is short UTF-8 without NUL, CR or LF; a literal otherwise.
pub fn render_string(value: &[u8], out: &mut Vec<u8>) {
    let quotable = value.len() <= MAX_QUOTED
        && !value.iter().any(|&b| matches!(b, 0 | b'\r' | b'\n'))
        && std::str::from_utf8(value).is_ok();
    if !quotable {
        render_literal(value, out);
        return;
    }
    out.reserve(value.len() + 2);
    out.push(b'"');
    for &b in value {
        if b == b'"' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'"');
}

/// `{n}` CRLF and the octets (a server-to-client literal).
pub fn render_literal(value: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(format!("{{{}}}\r\n", value.len()).as_bytes());
    out.extend_from_slice(value);
}

/// One line of a capability response: `"NAME" "value"` or `"NAME"`.
pub fn render_capability(name: &str, value: Option<&str>, out: &mut Vec<u8>) {
    render_string(name.as_bytes(), out);
    if let Some(value) = value {
        out.push(b' ');
        render_string(value.as_bytes(), out);
    }
    out.extend_from_slice(b"\r\n");
}

/// One line of LISTSCRIPTS: the name, and `ACTIVE` for the active script.
pub fn render_listing(name: &str, active: bool, out: &mut Vec<u8>) {
    render_string(name.as_bytes(), out);
    if active {
        out.extend_from_slice(b" ACTIVE");
    }
    out.extend_from_slice(b"\r\n");
}

/// GETSCRIPT's script: always a literal, so that it comes back byte for byte.
pub fn render_script(script: &[u8], out: &mut Vec<u8>) {
    render_literal(script, out);
    out.extend_from_slice(b"\r\n");
}

/// A SASL challenge: its base64 text as a string on a line of its own.
pub fn render_challenge(base64: &str, out: &mut Vec<u8>) {
    render_string(base64.as_bytes(), out);
    out.extend_from_slice(b"\r\n");
}
