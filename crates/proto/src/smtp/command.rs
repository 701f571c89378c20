//! SMTP command parsing (RFC 5321 4.1, with SIZE, BODY, SMTPUTF8, DSN and CHUNKING parameters).

use std::fmt;

use hermod_types::{Address, AddressError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Ehlo(String),
    Helo(String),
    Mail {
        from: ReversePath,
        params: MailParams,
    },
    Rcpt {
        to: ForwardPath,
        params: RcptParams,
    },
    Data,
    Bdat {
        size: u64,
        last: bool,
    },
    Rset,
    Noop,
    Quit,
    Vrfy(String),
    Expn(String),
    Help(Option<String>),
    StartTls,
    Auth {
        mechanism: String,
        initial_response: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReversePath {
    /// `<>`: bounces and other notifications.
    Null,
    Address(Address),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForwardPath {
    /// `<Postmaster>` without a domain (RFC 5321 4.1.1.3).
    Postmaster,
    Address(Address),
}

impl fmt::Display for ReversePath {
    /// The SMTP form, `<>` or `<local@domain>`, as in MAIL FROM and Return-Path.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReversePath::Null => f.write_str("<>"),
            ReversePath::Address(a) => write!(f, "<{a}>"),
        }
    }
}

impl fmt::Display for ForwardPath {
    /// The SMTP form, `<Postmaster>` or `<local@domain>`, as in RCPT TO.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ForwardPath::Postmaster => f.write_str("<Postmaster>"),
            ForwardPath::Address(a) => write!(f, "<{a}>"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    SevenBit,
    EightBitMime,
    BinaryMime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ret {
    Full,
    Hdrs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notify {
    Success,
    Failure,
    Delay,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailParams {
    pub size: Option<u64>,
    pub body: Option<Body>,
    pub smtputf8: bool,
    pub ret: Option<Ret>,
    pub envid: Option<String>,
    pub auth: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RcptParams {
    /// `Some(vec![])` is NOTIFY=NEVER.
    pub notify: Option<Vec<Notify>>,
    pub orcpt: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("command unrecognized")]
    UnknownCommand,
    #[error("syntax error: {0}")]
    Syntax(&'static str),
    #[error("bad address: {0}")]
    BadAddress(AddressError),
    #[error("parameter {0} not recognized")]
    UnknownParameter(String),
    #[error("command is not valid UTF-8")]
    NotUtf8,
}

use CommandError::Syntax;

/// Parses one command line (without its CRLF).
pub fn parse_command(line: &[u8]) -> Result<Command, CommandError> {
    let line = std::str::from_utf8(line).map_err(|_| CommandError::NotUtf8)?;
    let (verb, args) = match line.split_once(' ') {
        Some((verb, args)) => (verb, args),
        None => (line, ""),
    };
    let no_args = |command: Command| {
        if args.trim().is_empty() {
            Ok(command)
        } else {
            Err(Syntax("no arguments allowed"))
        }
    };
    match verb.to_ascii_uppercase().as_str() {
        "EHLO" => Ok(Command::Ehlo(hello_arg(args)?)),
        "HELO" => Ok(Command::Helo(hello_arg(args)?)),
        "MAIL" => parse_mail(args),
        "RCPT" => parse_rcpt(args),
        "DATA" => no_args(Command::Data),
        "BDAT" => parse_bdat(args),
        "RSET" => no_args(Command::Rset),
        "NOOP" => Ok(Command::Noop),
        "QUIT" => no_args(Command::Quit),
        "STARTTLS" => no_args(Command::StartTls),
        "VRFY" => Ok(Command::Vrfy(required(args, "VRFY needs an argument")?)),
        "EXPN" => Ok(Command::Expn(required(args, "EXPN needs an argument")?)),
        "HELP" => Ok(Command::Help(
            Some(args.trim().to_owned()).filter(|a| !a.is_empty()),
        )),
        "AUTH" => parse_auth(args),
        _ => Err(CommandError::UnknownCommand),
    }
}

fn required(args: &str, what: &'static str) -> Result<String, CommandError> {
    let arg = args.trim();
    if arg.is_empty() {
        Err(Syntax(what))
    } else {
        Ok(arg.to_owned())
    }
}

fn hello_arg(args: &str) -> Result<String, CommandError> {
    let arg = required(args, "EHLO/HELO needs a domain or address literal")?;
    if arg.contains(char::is_whitespace) {
        return Err(Syntax("EHLO/HELO takes one argument"));
    }
    // It ends up in a Received: field: no control characters.
    if arg.contains(char::is_control) {
        return Err(Syntax("control character in EHLO/HELO argument"));
    }
    Ok(arg)
}

/// Splits `FROM:<path> params` after the keyword; tolerates one space after the colon.
fn path_and_params<'a>(args: &'a str, keyword: &str) -> Result<(&'a str, &'a str), CommandError> {
    let head = args
        .get(..keyword.len())
        .filter(|h| h.eq_ignore_ascii_case(keyword));
    let rest = head
        .map(|_| &args[keyword.len()..])
        .ok_or(Syntax("expected FROM:<address> or TO:<address>"))?;
    let rest = rest.strip_prefix(' ').unwrap_or(rest);
    if !rest.starts_with('<') {
        return Err(Syntax("address must be in angle brackets"));
    }
    let end = closing_bracket(rest).ok_or(Syntax("missing closing angle bracket"))?;
    let params = &rest[end + 1..];
    if !params.is_empty() && !params.starts_with(' ') {
        return Err(Syntax("expected a space after the address"));
    }
    Ok((&rest[1..end], params.trim()))
}

/// The `>` that closes the path, skipping any inside a quoted local part.
fn closing_bracket(s: &str) -> Option<usize> {
    let (mut quoted, mut escaped) = (false, false);
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '>' if !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

/// Drops an obsolete source route (`@a,@b:user@c`), which RFC 5321 says to accept and ignore.
fn strip_source_route(path: &str) -> &str {
    match path.strip_prefix('@') {
        Some(_) => path.split_once(':').map_or(path, |(_, mailbox)| mailbox),
        None => path,
    }
}

fn parse_mail(args: &str) -> Result<Command, CommandError> {
    let (path, params) = path_and_params(args, "FROM:")?;
    let from = match strip_source_route(path) {
        "" => ReversePath::Null,
        mailbox => ReversePath::Address(Address::parse(mailbox).map_err(CommandError::BadAddress)?),
    };
    let mut p = MailParams::default();
    for (key, value) in parameters(params)? {
        let dup = || Syntax("duplicate parameter");
        match (key.as_str(), value) {
            ("SIZE", Some(v)) if p.size.is_none() => p.size = Some(parse_size(v)?),
            ("BODY", Some(v)) if p.body.is_none() => p.body = Some(parse_body(v)?),
            ("SMTPUTF8", None) if !p.smtputf8 => p.smtputf8 = true,
            ("RET", Some(v)) if p.ret.is_none() => p.ret = Some(parse_ret(v)?),
            // RFC 3461 4.4: at most 100 characters.
            ("ENVID", Some(v)) if p.envid.is_none() && v.len() <= 100 => {
                p.envid = Some(v.to_owned())
            }
            ("AUTH", Some(v)) if p.auth.is_none() => p.auth = Some(v.to_owned()),
            ("SIZE" | "BODY" | "SMTPUTF8" | "RET" | "ENVID" | "AUTH", _) => {
                return Err(if is_set(&p, &key) {
                    dup()
                } else {
                    Syntax("malformed parameter")
                });
            }
            _ => return Err(CommandError::UnknownParameter(key)),
        }
    }
    Ok(Command::Mail { from, params: p })
}

fn is_set(p: &MailParams, key: &str) -> bool {
    match key {
        "SIZE" => p.size.is_some(),
        "BODY" => p.body.is_some(),
        "SMTPUTF8" => p.smtputf8,
        "RET" => p.ret.is_some(),
        "ENVID" => p.envid.is_some(),
        _ => p.auth.is_some(),
    }
}

fn parse_body(v: &str) -> Result<Body, CommandError> {
    match v.to_ascii_uppercase().as_str() {
        "7BIT" => Ok(Body::SevenBit),
        "8BITMIME" => Ok(Body::EightBitMime),
        "BINARYMIME" => Ok(Body::BinaryMime),
        _ => Err(Syntax("BODY must be 7BIT, 8BITMIME or BINARYMIME")),
    }
}

fn parse_ret(v: &str) -> Result<Ret, CommandError> {
    match v.to_ascii_uppercase().as_str() {
        "FULL" => Ok(Ret::Full),
        "HDRS" => Ok(Ret::Hdrs),
        _ => Err(Syntax("RET must be FULL or HDRS")),
    }
}

fn parse_rcpt(args: &str) -> Result<Command, CommandError> {
    let (path, params) = path_and_params(args, "TO:")?;
    let to = match strip_source_route(path) {
        "" => return Err(Syntax("empty recipient")),
        p if p.eq_ignore_ascii_case("postmaster") => ForwardPath::Postmaster,
        mailbox => ForwardPath::Address(Address::parse(mailbox).map_err(CommandError::BadAddress)?),
    };
    let mut p = RcptParams::default();
    for (key, value) in parameters(params)? {
        match (key.as_str(), value) {
            ("NOTIFY", Some(v)) if p.notify.is_none() => p.notify = Some(parse_notify(v)?),
            // RFC 3461 4.2: addr-type ";" xtext, at most 500 characters.
            ("ORCPT", Some(v)) if p.orcpt.is_none() && v.contains(';') && v.len() <= 500 => {
                p.orcpt = Some(v.to_owned())
            }
            ("NOTIFY" | "ORCPT", _) => return Err(Syntax("malformed or duplicate parameter")),
            _ => return Err(CommandError::UnknownParameter(key)),
        }
    }
    Ok(Command::Rcpt { to, params: p })
}

fn parse_notify(v: &str) -> Result<Vec<Notify>, CommandError> {
    if v.eq_ignore_ascii_case("NEVER") {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for item in v.split(',') {
        let notify = match item.to_ascii_uppercase().as_str() {
            "SUCCESS" => Notify::Success,
            "FAILURE" => Notify::Failure,
            "DELAY" => Notify::Delay,
            _ => return Err(Syntax("NOTIFY must be NEVER or SUCCESS,FAILURE,DELAY")),
        };
        if out.contains(&notify) {
            return Err(Syntax("duplicate NOTIFY value"));
        }
        out.push(notify);
    }
    Ok(out)
}

/// `KEY[=VALUE]` pairs separated by spaces (RFC 5321 4.1.2 `esmtp-param`); keys uppercased.
fn parameters(params: &str) -> Result<Vec<(String, Option<&str>)>, CommandError> {
    let mut out = Vec::new();
    for item in params.split(' ').filter(|s| !s.is_empty()) {
        let (key, value) = match item.split_once('=') {
            Some((k, v)) if is_esmtp_value(v) => (k, Some(v)),
            Some(_) => return Err(Syntax("malformed parameter value")),
            None => (item, None),
        };
        if !is_esmtp_keyword(key) {
            return Err(Syntax("malformed parameter name"));
        }
        out.push((key.to_ascii_uppercase(), value));
    }
    Ok(out)
}

/// `esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")`.
fn is_esmtp_keyword(key: &str) -> bool {
    key.bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric())
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// `esmtp-value`: printable ASCII but `=`, plus UTF-8 (RFC 6531 3.3); never empty.
fn is_esmtp_value(value: &str) -> bool {
    !value.is_empty()
        && value.chars().all(|c| {
            if c.is_ascii() {
                c.is_ascii_graphic() && c != '='
            } else {
                !c.is_control()
            }
        })
}

/// A string of ASCII digits only: `str::parse` would also take a leading `+`.
fn digits(s: &str) -> Option<&str> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then_some(s)
}

/// RFC 1870 `size-value = 1*20DIGIT`. A value too large for u64 is kept as u64::MAX: it is
/// well-formed, and "too big" is the more useful answer to it.
fn parse_size(v: &str) -> Result<u64, CommandError> {
    let v = digits(v)
        .filter(|v| v.len() <= 20)
        .ok_or(Syntax("SIZE must be a number"))?;
    Ok(v.parse().unwrap_or(u64::MAX))
}

fn parse_bdat(args: &str) -> Result<Command, CommandError> {
    let mut words = args.split(' ').filter(|w| !w.is_empty());
    let size = words.next().ok_or(Syntax("BDAT needs a chunk size"))?;
    let size = digits(size)
        .and_then(|d| d.parse().ok())
        .ok_or(Syntax("BDAT chunk size must be a number"))?;
    let last = match words.next() {
        None => false,
        Some(w) if w.eq_ignore_ascii_case("LAST") => true,
        Some(_) => return Err(Syntax("expected LAST")),
    };
    if words.next().is_some() {
        return Err(Syntax("too many BDAT arguments"));
    }
    Ok(Command::Bdat { size, last })
}

fn parse_auth(args: &str) -> Result<Command, CommandError> {
    let mut words = args.split(' ').filter(|w| !w.is_empty());
    let mechanism = words
        .next()
        .ok_or(Syntax("AUTH needs a mechanism"))?
        .to_ascii_uppercase();
    // RFC 4422 3.1: 1 to 20 of upper-case letters, digits, `-` and `_`.
    let valid = |c: u8| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'-' || c == b'_';
    if mechanism.len() > 20 || !mechanism.bytes().all(valid) {
        return Err(Syntax("malformed SASL mechanism name"));
    }
    let initial_response = words.next().map(str::to_owned);
    if words.next().is_some() {
        return Err(Syntax("too many AUTH arguments"));
    }
    Ok(Command::Auth {
        mechanism,
        initial_response,
    })
}

#[cfg(test)]
#[path = "command_tests.rs"]
mod tests;
