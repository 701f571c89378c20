//! SMTP command parsing (RFC 5321 4.1, with SIZE, BODY, SMTPUTF8, DSN and CHUNKING parameters).

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
            ("SIZE", Some(v)) if p.size.is_none() => {
                p.size = Some(v.parse().map_err(|_| Syntax("SIZE must be a number"))?)
            }
            ("BODY", Some(v)) if p.body.is_none() => p.body = Some(parse_body(v)?),
            ("SMTPUTF8", None) if !p.smtputf8 => p.smtputf8 = true,
            ("RET", Some(v)) if p.ret.is_none() => p.ret = Some(parse_ret(v)?),
            ("ENVID", Some(v)) if p.envid.is_none() => p.envid = Some(v.to_owned()),
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
        _ => Err(Syntax("BODY must be 7BIT or 8BITMIME")),
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
            ("ORCPT", Some(v)) if p.orcpt.is_none() && v.contains(';') => {
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

/// `KEY[=VALUE]` pairs separated by spaces; keys uppercased.
fn parameters(params: &str) -> Result<Vec<(String, Option<&str>)>, CommandError> {
    let mut out = Vec::new();
    for item in params.split(' ').filter(|s| !s.is_empty()) {
        let (key, value) = match item.split_once('=') {
            Some((k, v)) if !v.is_empty() => (k, Some(v)),
            Some(_) => return Err(Syntax("parameter with an empty value")),
            None => (item, None),
        };
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(Syntax("malformed parameter name"));
        }
        out.push((key.to_ascii_uppercase(), value));
    }
    Ok(out)
}

fn parse_bdat(args: &str) -> Result<Command, CommandError> {
    let mut words = args.split(' ').filter(|w| !w.is_empty());
    let size = words.next().ok_or(Syntax("BDAT needs a chunk size"))?;
    let size = size
        .parse()
        .map_err(|_| Syntax("BDAT chunk size must be a number"))?;
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
mod tests {
    use super::*;

    fn addr(s: &str) -> Address {
        Address::parse(s).unwrap()
    }

    #[test]
    fn parses_every_command() {
        let mail = |from, params| Command::Mail { from, params };
        let cases: Vec<(&str, Command)> = vec![
            ("EHLO client.test", Command::Ehlo("client.test".into())),
            ("ehlo [127.0.0.1]", Command::Ehlo("[127.0.0.1]".into())),
            ("HELO x", Command::Helo("x".into())),
            (
                "MAIL FROM:<a@b.test>",
                mail(
                    ReversePath::Address(addr("a@b.test")),
                    MailParams::default(),
                ),
            ),
            (
                "mail from: <a@b.test>",
                mail(
                    ReversePath::Address(addr("a@b.test")),
                    MailParams::default(),
                ),
            ),
            (
                "MAIL FROM:<>",
                mail(ReversePath::Null, MailParams::default()),
            ),
            (
                "MAIL FROM:<@r1,@r2:a@b.test>",
                mail(
                    ReversePath::Address(addr("a@b.test")),
                    MailParams::default(),
                ),
            ),
            (
                "MAIL FROM:<\"a >b\"@b.test> SIZE=100 body=8bitmime SMTPUTF8 RET=HDRS ENVID=x+2B",
                mail(
                    ReversePath::Address(addr("\"a >b\"@b.test")),
                    MailParams {
                        size: Some(100),
                        body: Some(Body::EightBitMime),
                        smtputf8: true,
                        ret: Some(Ret::Hdrs),
                        envid: Some("x+2B".into()),
                        auth: None,
                    },
                ),
            ),
            (
                "RCPT TO:<Postmaster>",
                Command::Rcpt {
                    to: ForwardPath::Postmaster,
                    params: RcptParams::default(),
                },
            ),
            (
                "RCPT TO:<ü@bücher.test> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;x@y",
                Command::Rcpt {
                    to: ForwardPath::Address(addr("ü@bücher.test")),
                    params: RcptParams {
                        notify: Some(vec![Notify::Success, Notify::Delay]),
                        orcpt: Some("rfc822;x@y".into()),
                    },
                },
            ),
            (
                "RCPT TO:<a@b.test> NOTIFY=NEVER",
                Command::Rcpt {
                    to: ForwardPath::Address(addr("a@b.test")),
                    params: RcptParams {
                        notify: Some(vec![]),
                        orcpt: None,
                    },
                },
            ),
            ("DATA", Command::Data),
            (
                "BDAT 100",
                Command::Bdat {
                    size: 100,
                    last: false,
                },
            ),
            (
                "BDAT 0 last",
                Command::Bdat {
                    size: 0,
                    last: true,
                },
            ),
            ("RSET", Command::Rset),
            ("NOOP anything", Command::Noop),
            ("QUIT", Command::Quit),
            ("VRFY alice", Command::Vrfy("alice".into())),
            ("EXPN list", Command::Expn("list".into())),
            ("HELP", Command::Help(None)),
            ("HELP MAIL", Command::Help(Some("MAIL".into()))),
            ("STARTTLS", Command::StartTls),
            (
                "AUTH plain AGEAYg==",
                Command::Auth {
                    mechanism: "PLAIN".into(),
                    initial_response: Some("AGEAYg==".into()),
                },
            ),
        ];
        for (line, expected) in cases {
            assert_eq!(parse_command(line.as_bytes()), Ok(expected), "{line}");
        }
    }

    #[test]
    fn reports_the_right_error() {
        let syntax = |e: Result<Command, CommandError>| matches!(e, Err(CommandError::Syntax(_)));
        for line in [
            "EHLO",
            "HELO a b",
            "MAIL FROM:a@b.test",
            "MAIL FROM:<a@b.test",
            "MAIL TO:<a@b.test>",
            "MAIL FROM:<a@b.test>SIZE=1",
            "MAIL FROM:<a@b.test> SIZE=x",
            "MAIL FROM:<a@b.test> SIZE=1 SIZE=2",
            "MAIL FROM:<a@b.test> BODY=9BIT",
            "MAIL FROM:<a@b.test> SMTPUTF8=yes",
            "RCPT TO:<>",
            "RCPT TO:<a@b.test> NOTIFY=NEVER,SUCCESS",
            "DATA x",
            "QUIT now",
            "BDAT",
            "BDAT x",
            "BDAT 1 FIRST",
            "VRFY",
        ] {
            assert!(
                syntax(parse_command(line.as_bytes())),
                "{line}: {:?}",
                parse_command(line.as_bytes())
            );
        }
        assert_eq!(parse_command(b"FOO"), Err(CommandError::UnknownCommand));
        assert_eq!(parse_command(b""), Err(CommandError::UnknownCommand));
        assert_eq!(
            parse_command(b"MAIL FROM:<a@b.test> XYZ=1"),
            Err(CommandError::UnknownParameter("XYZ".into()))
        );
        assert!(matches!(
            parse_command(b"RCPT TO:<a@@b>"),
            Err(CommandError::BadAddress(_))
        ));
        assert_eq!(parse_command(b"NOOP \xff"), Err(CommandError::NotUtf8));
    }
}
