//! The POP3 session (RFC 1939) on the `pop3` (plain, STLS) and `pop3s` (implicit TLS)
//! listeners: the maildrop is INBOX.

mod auth;
mod maildrop;
mod read_ahead;
pub(crate) mod reply;
mod transaction;

pub(crate) use maildrop::MaildropLocks;

use crate::Context;
use crate::net::conn::{Conn, Fill};
use hermod_proto::pop3::{Command, CommandError, MAX_COMMAND_LINE, parse_command};
use hermod_proto::{LineError, LineFramer};
use maildrop::Maildrop;
use reply::Pop3Reply;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};

const MAX_ERRORS: u32 = 20;

enum State {
    Authorization {
        user: Option<String>,
        awaiting_plain: bool,
    },
    Transaction(Box<Maildrop>),
}

enum Flow {
    Continue,
    Close,
}

pub(crate) struct Session<S> {
    ctx: Arc<Context>,
    conn: Conn<S>,
    peer: SocketAddr,
    framer: LineFramer,
    state: State,
    errors: u32,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
    pub fn new(ctx: Arc<Context>, conn: Conn<S>, peer: SocketAddr) -> Session<S> {
        Session {
            ctx,
            conn,
            peer,
            framer: LineFramer::new(MAX_COMMAND_LINE),
            state: State::Authorization {
                user: None,
                awaiting_plain: false,
            },
            errors: 0,
        }
    }

    pub async fn run(mut self) {
        self.reply(&reply::greeting(&self.ctx.config.hostname));
        if let Err(e) = self.command_loop().await {
            tracing::debug!(peer = %self.peer, error = %e, "POP3 connection ended with an error");
        }
    }

    fn reply(&mut self, reply: &Pop3Reply) {
        reply.render(self.conn.output());
    }

    /// A client mistake; too many end the session.
    fn mistake(&mut self, reply: Pop3Reply) -> Flow {
        self.errors += 1;
        self.reply(&reply);
        if self.errors >= MAX_ERRORS {
            self.reply(&reply::TOO_MANY_ERRORS);
            return Flow::Close;
        }
        Flow::Continue
    }

    async fn command_loop(&mut self) -> std::io::Result<()> {
        // The autologout timer runs until a whole command line is in, not per byte.
        let mut deadline = None;
        loop {
            while let Some(line) = self.framer.next_line(&mut self.conn.input) {
                deadline = None;
                if let Flow::Close = self.handle_line(line).await? {
                    self.conn.close().await;
                    return Ok(());
                }
            }
            let timeout = self.ctx.config.pop3.idle_timeout;
            let by = *deadline.get_or_insert_with(|| tokio::time::Instant::now() + timeout);
            match self.conn.fill_by(by, true).await? {
                Fill::Data => {}
                // A dropped connection or a timeout never reaches UPDATE: nothing is deleted.
                Fill::Eof => return Ok(()),
                Fill::Timeout => {
                    self.reply(&reply::AUTOLOGOUT);
                    self.conn.close().await;
                    return Ok(());
                }
                Fill::Shutdown => {
                    self.reply(&reply::SHUTTING_DOWN);
                    self.conn.close().await;
                    return Ok(());
                }
            }
        }
    }

    async fn handle_line(&mut self, line: Result<Vec<u8>, LineError>) -> std::io::Result<Flow> {
        let line = match line {
            Ok(line) => line,
            Err(LineError::TooLong) => return Ok(self.mistake(reply::LINE_TOO_LONG)),
            Err(LineError::BareLineEnding) => return Ok(self.mistake(reply::NEED_CRLF)),
        };
        if let State::Authorization {
            awaiting_plain: true,
            ..
        } = self.state
        {
            return Ok(self.plain_response(&line).await);
        }
        match parse_command(&line) {
            Ok(command) => self.handle_command(command).await,
            Err(CommandError::Unknown) => Ok(self.mistake(reply::UNKNOWN_COMMAND)),
            Err(CommandError::Syntax(why)) => Ok(self.mistake(reply::syntax(why))),
            Err(CommandError::NotUtf8) => Ok(self.mistake(reply::NOT_UTF8)),
        }
    }

    async fn handle_command(&mut self, command: Command) -> std::io::Result<Flow> {
        let in_transaction = matches!(self.state, State::Transaction(_));
        match command {
            Command::Capa => self.capa(),
            Command::Noop => self.reply(&reply::NOOP),
            Command::Quit if in_transaction => {
                self.update().await;
                return Ok(Flow::Close);
            }
            Command::Quit => {
                self.reply(&reply::BYE);
                return Ok(Flow::Close);
            }
            Command::Stls if !in_transaction => return self.stls().await,
            Command::User(name) if !in_transaction => return Ok(self.user(name)),
            Command::Pass(password) if !in_transaction => return Ok(self.pass(password).await),
            Command::Auth {
                mechanism,
                initial_response,
            } if !in_transaction => {
                return Ok(self.auth(mechanism, initial_response).await);
            }
            Command::Stat
            | Command::List(_)
            | Command::Retr(_)
            | Command::Dele(_)
            | Command::Rset
            | Command::Top { .. }
            | Command::Uidl(_)
                if in_transaction =>
            {
                return self.transaction(command).await;
            }
            _ => return Ok(self.mistake(reply::WRONG_STATE)),
        }
        Ok(Flow::Continue)
    }
}
