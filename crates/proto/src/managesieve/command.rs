//! The commands of RFC 5804 2, from a decoded command's tokens.

use super::decoder::Token;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `initial`: the SASL initial response (base64 text), when given.
    Authenticate {
        mechanism: String,
        initial: Option<Vec<u8>>,
    },
    StartTls,
    Logout,
    Capability,
    HaveSpace {
        name: String,
        size: u64,
    },
    PutScript {
        name: String,
        script: Vec<u8>,
    },
    ListScripts,
    /// An empty name deactivates every script.
    SetActive {
        name: String,
    },
    GetScript {
        name: String,
    },
    DeleteScript {
        name: String,
    },
    RenameScript {
        old: String,
        new: String,
    },
    CheckScript {
        script: Vec<u8>,
    },
    /// `tag` is echoed in the `(TAG ...)` response code.
    Noop {
        tag: Option<Vec<u8>>,
    },
    Unauthenticate,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("unknown command")]
    Unknown,
    #[error("{0}")]
    Syntax(&'static str),
}

use CommandError::Syntax;

/// The arguments after the command name, taken one at a time.
struct Args(std::vec::IntoIter<Token>);

impl Args {
    fn string(&mut self) -> Result<Vec<u8>, CommandError> {
        match self.0.next() {
            Some(Token::String(s)) => Ok(s),
            Some(Token::Atom(_)) => Err(Syntax("expected a quoted string or a literal")),
            None => Err(Syntax("missing argument")),
        }
    }

    /// A script name: UTF-8 (RFC 5804 1.6). Whether it is a good name is the server's call.
    fn name(&mut self) -> Result<String, CommandError> {
        String::from_utf8(self.string()?).map_err(|_| Syntax("script names are UTF-8"))
    }

    fn optional_string(&mut self) -> Result<Option<Vec<u8>>, CommandError> {
        match self.0.as_slice().first() {
            None => Ok(None),
            Some(_) => self.string().map(Some),
        }
    }

    /// RFC 5804 4: a number is an unsigned 32-bit value written as an atom of digits.
    fn number(&mut self) -> Result<u64, CommandError> {
        match self.0.next() {
            Some(Token::Atom(a)) if !a.is_empty() && a.bytes().all(|b| b.is_ascii_digit()) => a
                .parse::<u32>()
                .map(u64::from)
                .map_err(|_| Syntax("number too large")),
            Some(_) => Err(Syntax("expected a number")),
            None => Err(Syntax("missing argument")),
        }
    }

    /// A mechanism name is a string; an atom is accepted too, as some clients send one.
    fn mechanism(&mut self) -> Result<String, CommandError> {
        let raw = match self.0.next() {
            Some(Token::Atom(a)) => a.into_bytes(),
            Some(Token::String(s)) => s,
            None => return Err(Syntax("AUTHENTICATE needs a mechanism")),
        };
        String::from_utf8(raw)
            .map(|m| m.to_ascii_uppercase())
            .map_err(|_| Syntax("bad mechanism name"))
    }

    fn end(self, command: Command) -> Result<Command, CommandError> {
        match self.0.len() {
            0 => Ok(command),
            _ => Err(Syntax("too many arguments")),
        }
    }
}

pub fn parse_command(tokens: Vec<Token>) -> Result<Command, CommandError> {
    let mut tokens = tokens.into_iter();
    let keyword = match tokens.next() {
        Some(Token::Atom(keyword)) => keyword.to_ascii_uppercase(),
        Some(Token::String(_)) => return Err(Syntax("a command starts with its name")),
        None => return Err(Syntax("empty command")),
    };
    let mut args = Args(tokens);
    let command = match keyword.as_str() {
        "AUTHENTICATE" => Command::Authenticate {
            mechanism: args.mechanism()?,
            initial: args.optional_string()?,
        },
        "STARTTLS" => Command::StartTls,
        "LOGOUT" => Command::Logout,
        "CAPABILITY" => Command::Capability,
        "HAVESPACE" => Command::HaveSpace {
            name: args.name()?,
            size: args.number()?,
        },
        "PUTSCRIPT" => Command::PutScript {
            name: args.name()?,
            script: args.string()?,
        },
        "LISTSCRIPTS" => Command::ListScripts,
        "SETACTIVE" => Command::SetActive { name: args.name()? },
        "GETSCRIPT" => Command::GetScript { name: args.name()? },
        "DELETESCRIPT" => Command::DeleteScript { name: args.name()? },
        "RENAMESCRIPT" => Command::RenameScript {
            old: args.name()?,
            new: args.name()?,
        },
        "CHECKSCRIPT" => Command::CheckScript {
            script: args.string()?,
        },
        "NOOP" => Command::Noop {
            tag: args.optional_string()?,
        },
        "UNAUTHENTICATE" => Command::Unauthenticate,
        _ => return Err(CommandError::Unknown),
    };
    args.end(command)
}

/// The client's answer to a SASL challenge: one string; `"*"` cancels (RFC 5804 2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaslResponse {
    Data(Vec<u8>),
    Cancel,
}

pub fn parse_sasl_response(tokens: Vec<Token>) -> Result<SaslResponse, CommandError> {
    match <[Token; 1]>::try_from(tokens) {
        Ok([Token::String(s)]) if s == b"*" => Ok(SaslResponse::Cancel),
        Ok([Token::String(s)]) => Ok(SaslResponse::Data(s)),
        _ => Err(Syntax("expected one string with the SASL response")),
    }
}
