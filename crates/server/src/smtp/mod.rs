//! The SMTP receiving session (RFC 5321) on the `smtp` listener: joins the `proto` codec to a
//! connection and to `core`'s decisions.

mod auth;
mod data;
mod deliver;
mod envelope;
mod screen;
mod sending;
mod spool;

use crate::Context;
use crate::net::conn::{Conn, Fill};
use crate::reply::{self, Reply};
use hermod_proto::smtp::{Command, CommandError, LineError, LineFramer, parse_command};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};

pub(crate) use envelope::Transaction;
pub(crate) use screen::Refusal;
pub(crate) use sending::Sending;

/// Protocol errors tolerated per connection before we hang up on a misbehaving client.
const MAX_ERRORS: u32 = 20;

/// What the client said of itself in EHLO/HELO.
#[derive(Debug, Clone)]
pub(crate) struct Helo {
    pub name: String,
    pub extended: bool,
}

/// Which listener the session came in on: mail exchange (port 25) or submission (587/465).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Mx,
    Submission,
}

/// Whether the session goes on after a command.
pub(crate) enum Flow {
    Continue,
    Close,
}

pub(crate) struct Session<S> {
    ctx: Arc<Context>,
    conn: Conn<S>,
    peer: SocketAddr,
    framer: LineFramer,
    helo: Option<Helo>,
    /// The mail transaction in progress, from MAIL to the end of DATA/BDAT LAST.
    txn: Option<Transaction>,
    errors: u32,
    mode: Mode,
    /// The account that authenticated (SMTP AUTH), if any.
    user: Option<hermod_store::UserRecord>,
    /// A SASL exchange waiting for the client's next line.
    sasl: Option<auth::SaslStep>,
    /// What the spam checks learned about the client.
    screen: screen::Screening,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
    pub(crate) fn new(
        ctx: Arc<Context>,
        conn: Conn<S>,
        peer: SocketAddr,
        mode: Mode,
    ) -> Session<S> {
        let framer = LineFramer::new(ctx.config.limits.max_command_line);
        Session {
            ctx,
            conn,
            peer,
            framer,
            helo: None,
            txn: None,
            errors: 0,
            mode,
            user: None,
            sasl: None,
            screen: Default::default(),
        }
    }

    pub(crate) async fn run(mut self) {
        if let Err(e) = self.screen_connection().await {
            tracing::debug!(peer = %self.peer, error = %e, "connection ended before the greeting");
            return;
        }
        let greeting = match &self.screen.refused {
            Some(reason) => reply::connection_refused(reason),
            None => reply::greeting(&self.ctx.config.hostname),
        };
        self.conn.queue(&greeting);
        if let Err(e) = self.command_loop().await {
            tracing::debug!(peer = %self.peer, error = %e, "connection ended with an error");
        }
    }

    async fn command_loop(&mut self) -> std::io::Result<()> {
        // The whole next command line must arrive within the timeout (RFC 5321 4.5.3.2.7),
        // however slowly its bytes trickle in.
        let mut deadline = None;
        loop {
            while let Some(line) = self.framer.next_line(&mut self.conn.input) {
                deadline = None;
                if let Flow::Close = self.handle_line(line).await? {
                    return self.conn.flush().await;
                }
            }
            let timeout = self.ctx.config.limits.command_timeout;
            let by = *deadline.get_or_insert_with(|| tokio::time::Instant::now() + timeout);
            match self.conn.fill_by(by, self.txn.is_none()).await? {
                Fill::Data => {}
                Fill::Eof => return Ok(()),
                Fill::Timeout => {
                    tracing::info!(peer = %self.peer, "command timeout");
                    self.conn.close_with(&reply::TIMEOUT).await;
                    return Ok(());
                }
                Fill::Shutdown => {
                    self.conn.close_with(&reply::SHUTTING_DOWN).await;
                    return Ok(());
                }
            }
        }
    }

    async fn handle_line(&mut self, line: Result<Vec<u8>, LineError>) -> std::io::Result<Flow> {
        if let (Some(step), Ok(response)) = (self.sasl.take(), &line) {
            return Ok(self.sasl_response(step, response).await);
        }
        let outcome = match line {
            Ok(line) => match parse_command(&line) {
                // RFC 6531 3.4: UTF-8 in MAIL or RCPT needs SMTPUTF8; an A-label is ASCII.
                Ok(command) => return self.handle_command(command, !line.is_ascii()).await,
                Err(e) => command_error(&e),
            },
            Err(LineError::TooLong) => reply::LINE_TOO_LONG,
            Err(LineError::BareLineEnding) => reply::BARE_LINE_ENDING,
        };
        Ok(self.error(outcome))
    }

    /// Answers a client mistake; too many of them end the session.
    fn error(&mut self, reply: Reply) -> Flow {
        self.errors += 1;
        if self.errors > MAX_ERRORS {
            self.conn.queue(&reply::TOO_MANY_ERRORS);
            return Flow::Close;
        }
        self.conn.queue(&reply);
        Flow::Continue
    }

    /// Queues a reply. Protocol mistakes (500-504) count towards the error limit; policy
    /// refusals such as an unknown recipient do not, so a large mailing with a few stale
    /// addresses is not cut off.
    fn respond(&mut self, reply: Reply) -> Flow {
        if (500..=504).contains(&reply.code) {
            self.error(reply)
        } else {
            self.conn.queue(&reply);
            Flow::Continue
        }
    }

    async fn handle_command(&mut self, command: Command, utf8: bool) -> std::io::Result<Flow> {
        if let Some(reason) = &self.screen.refused
            && !matches!(command, Command::Quit)
        {
            let refusal = reply::no_service(reason);
            return Ok(self.error(refusal));
        }
        let flow = match command {
            Command::Ehlo(name) => self.hello(name, true),
            Command::Helo(name) => self.hello(name, false),
            Command::Mail { from, params } => {
                let reply = self.mail(from, params, utf8).await;
                self.respond(reply)
            }
            Command::Rcpt { to, params } => {
                let reply = self.rcpt(to, params, utf8).await;
                self.respond(reply)
            }
            Command::Data => return self.data().await,
            Command::Bdat { size, last } => return self.bdat(size, last).await,
            Command::Rset => {
                self.txn = None;
                self.respond(reply::RESET)
            }
            Command::Noop => self.respond(reply::OK),
            Command::Quit => {
                self.conn.queue(&reply::BYE);
                Flow::Close
            }
            Command::Vrfy(_) => self.respond(reply::VRFY),
            Command::Help(_) => self.respond(reply::HELP),
            Command::StartTls => return self.start_tls().await,
            Command::Auth {
                mechanism,
                initial_response,
            } => self.auth(mechanism, initial_response).await,
            Command::Expn(_) => self.respond(reply::NOT_IMPLEMENTED),
        };
        Ok(flow)
    }

    /// EHLO/HELO: a fresh start (RFC 5321 4.1.4: like RSET).
    fn hello(&mut self, name: String, extended: bool) -> Flow {
        self.txn = None;
        if let Some(refusal) = self.screen_helo(&name) {
            return self.respond(refusal);
        }
        let (peer, hostname) = (self.peer.ip(), &self.ctx.config.hostname);
        let reply = if extended {
            let size = format!("SIZE {}", self.ctx.config.limits.max_message_size);
            reply::ehlo(hostname, peer, &self.extensions(&size))
        } else {
            reply::helo(hostname, peer)
        };
        self.helo = Some(Helo { name, extended });
        self.respond(reply)
    }

    /// The EHLO keywords; `size` is the SIZE keyword with its limit.
    fn extensions<'a>(&self, size: &'a str) -> Vec<&'a str> {
        let mut keywords = vec![
            "PIPELINING",
            size,
            "8BITMIME",
            "ENHANCEDSTATUSCODES",
            "SMTPUTF8",
            "CHUNKING",
        ];
        if self.ctx.tls.is_some() && self.conn.tls().is_none() {
            keywords.push("STARTTLS");
        }
        // RFC 4954 4 and our policy: passwords only inside TLS, even from loopback.
        if self.auth_offered() && self.conn.tls().is_some() && self.user.is_none() {
            keywords.push("AUTH PLAIN LOGIN");
        }
        keywords.push("HELP");
        keywords
    }

    async fn start_tls(&mut self) -> std::io::Result<Flow> {
        let Some(acceptor) = self.ctx.tls.clone() else {
            return Ok(self.respond(reply::TLS_UNAVAILABLE));
        };
        if self.conn.tls().is_some() {
            return Ok(self.respond(reply::ALREADY_TLS));
        }
        self.conn.queue(&reply::TLS_GO);
        if let Err(e) = self.conn.start_tls(&acceptor).await {
            tracing::info!(peer = %self.peer, error = %e, "TLS handshake failed");
            return Ok(Flow::Close);
        }
        // RFC 3207 4.2: the session starts over; the client must EHLO again.
        self.framer = LineFramer::new(self.ctx.config.limits.max_command_line);
        self.helo = None;
        self.txn = None;
        Ok(Flow::Continue)
    }
}

fn command_error(error: &CommandError) -> Reply {
    match error {
        CommandError::UnknownCommand => reply::UNKNOWN_COMMAND,
        CommandError::Syntax(detail) => reply::syntax(detail),
        CommandError::BadAddress(e) => reply::bad_address(&e.to_string()),
        CommandError::UnknownParameter(name) => reply::unknown_parameter(name),
        CommandError::NotUtf8 => reply::NOT_UTF8,
    }
}

#[cfg(test)]
mod tests;
