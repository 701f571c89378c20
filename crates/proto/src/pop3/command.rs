//! POP3 command parsing: keyword, then arguments separated by single spaces.

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    User(String),
    /// The rest of the line: passwords may contain spaces.
    Pass(String),
    Quit,
    Stat,
    List(Option<u32>),
    Retr(u32),
    Dele(u32),
    Noop,
    Rset,
    Top {
        msg: u32,
        lines: u32,
    },
    Uidl(Option<u32>),
    Capa,
    Stls,
    /// `AUTH` alone lists mechanisms (RFC 1734 style, which clients still probe).
    Auth {
        mechanism: Option<String>,
        initial_response: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("unknown command")]
    Unknown,
    #[error("{0}")]
    Syntax(&'static str),
    #[error("command is not valid UTF-8")]
    NotUtf8,
}

use CommandError::Syntax;

pub fn parse_command(line: &[u8]) -> Result<Command, CommandError> {
    let line = std::str::from_utf8(line).map_err(|_| CommandError::NotUtf8)?;
    let (keyword, rest) = line.split_once(' ').unwrap_or((line, ""));
    let args: Vec<&str> = rest.split(' ').filter(|a| !a.is_empty()).collect();
    let none = |c: Command| {
        if args.is_empty() {
            Ok(c)
        } else {
            Err(Syntax("no arguments expected"))
        }
    };
    match keyword.to_ascii_uppercase().as_str() {
        "USER" => match args.as_slice() {
            [name] => Ok(Command::User((*name).to_owned())),
            _ => Err(Syntax("USER takes one argument")),
        },
        "PASS" if !rest.is_empty() => Ok(Command::Pass(rest.to_owned())),
        "PASS" => Err(Syntax("PASS needs a password")),
        "QUIT" => none(Command::Quit),
        "STAT" => none(Command::Stat),
        "LIST" => Ok(Command::List(optional_number(&args)?)),
        "RETR" => Ok(Command::Retr(one_number(&args)?)),
        "DELE" => Ok(Command::Dele(one_number(&args)?)),
        "NOOP" => none(Command::Noop),
        "RSET" => none(Command::Rset),
        "TOP" => match args.as_slice() {
            [msg, lines] => Ok(Command::Top {
                msg: number(msg)?,
                lines: number(lines)?,
            }),
            _ => Err(Syntax("TOP takes a message number and a line count")),
        },
        "UIDL" => Ok(Command::Uidl(optional_number(&args)?)),
        "CAPA" => none(Command::Capa),
        "STLS" => none(Command::Stls),
        "AUTH" => match args.as_slice() {
            [] => Ok(Command::Auth {
                mechanism: None,
                initial_response: None,
            }),
            [m] => Ok(Command::Auth {
                mechanism: Some(m.to_ascii_uppercase()),
                initial_response: None,
            }),
            [m, r] => Ok(Command::Auth {
                mechanism: Some(m.to_ascii_uppercase()),
                initial_response: Some((*r).to_owned()),
            }),
            _ => Err(Syntax(
                "AUTH takes a mechanism and an optional initial response",
            )),
        },
        _ => Err(CommandError::Unknown),
    }
}

fn number(s: &str) -> Result<u32, CommandError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Syntax("expected a number"));
    }
    s.parse().map_err(|_| Syntax("number too large"))
}

fn one_number(args: &[&str]) -> Result<u32, CommandError> {
    match args {
        [n] => number(n),
        _ => Err(Syntax("expected one message number")),
    }
}

fn optional_number(args: &[&str]) -> Result<Option<u32>, CommandError> {
    match args {
        [] => Ok(None),
        [n] => number(n).map(Some),
        _ => Err(Syntax("expected at most one message number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::line::LineFramer;
    use crate::split::all_splits;

    #[test]
    fn parses_every_command() {
        let cases = [
            (
                "USER alice@example.test",
                Command::User("alice@example.test".into()),
            ),
            ("PASS pass word ", Command::Pass("pass word ".into())),
            ("quit", Command::Quit),
            ("STAT", Command::Stat),
            ("LIST", Command::List(None)),
            ("LIST 2", Command::List(Some(2))),
            ("RETR 1", Command::Retr(1)),
            ("DELE 3", Command::Dele(3)),
            ("NOOP", Command::Noop),
            ("RSET", Command::Rset),
            ("TOP 1 0", Command::Top { msg: 1, lines: 0 }),
            ("UIDL", Command::Uidl(None)),
            ("UIDL 4", Command::Uidl(Some(4))),
            ("CAPA", Command::Capa),
            ("STLS", Command::Stls),
            (
                "AUTH",
                Command::Auth {
                    mechanism: None,
                    initial_response: None,
                },
            ),
            (
                "AUTH plain",
                Command::Auth {
                    mechanism: Some("PLAIN".into()),
                    initial_response: None,
                },
            ),
            (
                "AUTH PLAIN AGEAYg==",
                Command::Auth {
                    mechanism: Some("PLAIN".into()),
                    initial_response: Some("AGEAYg==".into()),
                },
            ),
        ];
        for (line, expected) in cases {
            // Each line also goes through the framer one byte at a time.
            let framed = all_splits(format!("{line}\r\n").as_bytes(), |pieces| {
                let (mut framer, mut buf, mut out) = (LineFramer::new(255), Vec::new(), Vec::new());
                for p in pieces {
                    buf.extend_from_slice(p);
                    while let Some(l) = framer.next_line(&mut buf) {
                        out.push(parse_command(&l.unwrap()));
                    }
                }
                out
            });
            assert_eq!(framed, vec![Ok(expected)], "{line}");
        }
    }

    #[test]
    fn rejects_bad_arguments() {
        for line in [
            "USER",
            "USER a b",
            "PASS",
            "RETR",
            "RETR x",
            "RETR -1",
            "RETR 1 2",
            "LIST 1 2",
            "TOP 1",
            "STAT now",
            "RETR 99999999999",
            "AUTH a b c",
        ] {
            assert!(
                matches!(parse_command(line.as_bytes()), Err(CommandError::Syntax(_))),
                "{line}"
            );
        }
        assert_eq!(parse_command(b"APOP a b"), Err(CommandError::Unknown));
        assert_eq!(parse_command(b"XYZ"), Err(CommandError::Unknown));
        assert_eq!(parse_command(b"USER \xff"), Err(CommandError::NotUtf8));
    }
}
