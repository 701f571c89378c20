//! The ManageSieve session (RFC 5804) on the `managesieve` listener: users' email programs
//! list, upload, check, activate, rename and delete their Sieve scripts. Plain TCP with
//! STARTTLS; AUTHENTICATE PLAIN through the shared login path and throttle; scripts through
//! the store's `Scripts` role with `hermod_core::sieve`'s checks (the CLI's too).

mod auth;
mod scripts;

use crate::Context;
use crate::net::conn::{Conn, Fill};
use hermod_proto::managesieve::{
    Code, Command, CommandError, DecodeError, Decoder, Limits, Status, Token, parse_command,
    render_response,
};
use hermod_store::UserRecord;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};

/// Client mistakes (syntax, unknown commands, commands in the wrong state) a session may
/// make before it is closed.
const MAX_ERRORS: u32 = 20;
/// One command line, CRLF included: quoted strings hold at most 1024 octets, and the longest
/// command has three of them.
const MAX_LINE: usize = 8192;
/// A refused literal up to this size is read and dropped so the session can go on; a larger
/// one ends it.
const MAX_SKIP: u64 = 64 * 1024 * 1024;

enum Flow {
    Continue,
    Close,
}

pub(crate) struct Session<S> {
    ctx: Arc<Context>,
    conn: Conn<S>,
    peer: SocketAddr,
    decoder: Decoder,
    /// The authenticated user (RFC 5804's "authenticated state").
    user: Option<UserRecord>,
    /// AUTHENTICATE sent its challenge; the next command-like frame is the client's answer.
    awaiting_sasl: bool,
    errors: u32,
}

/// The decoder's limits: a literal may be as large as a script may be.
fn limits(ctx: &Context) -> Limits {
    let max_literal = ctx.sieve.limits().max_script_size.max(1024);
    Limits {
        max_line: MAX_LINE,
        max_literal,
        max_command: max_literal + 4 * MAX_LINE,
        max_skip: MAX_SKIP.max(4 * max_literal as u64),
    }
}

/// What a connection over the cap is told before it is closed.
pub(crate) fn too_many_connections(out: &mut Vec<u8>) {
    render_response(
        Status::Bye,
        Some(&Code::TryLater),
        "too many connections, try again later",
        out,
    );
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
    pub fn new(ctx: Arc<Context>, conn: Conn<S>, peer: SocketAddr) -> Session<S> {
        let decoder = Decoder::new(limits(&ctx));
        Session {
            ctx,
            conn,
            peer,
            decoder,
            user: None,
            awaiting_sasl: false,
            errors: 0,
        }
    }

    pub async fn run(mut self) {
        // RFC 5804 1.7: the greeting is the capability response.
        self.capabilities();
        self.respond(Status::Ok, None, "hermod ManageSieve ready");
        if let Err(e) = self.command_loop().await {
            tracing::debug!(peer = %self.peer, error = %e, "ManageSieve connection ended with an error");
        }
    }

    fn respond(&mut self, status: Status, code: Option<Code>, text: &str) {
        render_response(status, code.as_ref(), text, self.conn.output());
    }

    fn no(&mut self, code: Option<Code>, text: &str) {
        self.respond(Status::No, code, text);
    }

    /// A client mistake: `NO`; too many end the session.
    fn mistake(&mut self, text: &str) -> Flow {
        self.errors += 1;
        self.no(None, text);
        if self.errors >= MAX_ERRORS {
            self.respond(Status::Bye, None, "too many errors");
            return Flow::Close;
        }
        Flow::Continue
    }

    async fn command_loop(&mut self) -> std::io::Result<()> {
        // The idle timer runs until a whole command (literals included) is in, not per byte.
        let mut deadline = None;
        loop {
            while let Some(frame) = self.decoder.next(&mut self.conn.input) {
                deadline = None;
                if let Flow::Close = self.handle(frame).await? {
                    self.conn.close().await;
                    return Ok(());
                }
                // Pipelined GETSCRIPTs must not pile their scripts up in memory.
                self.conn.flush_if_large().await?;
            }
            let timeout = self.ctx.config.managesieve.idle_timeout;
            let by = *deadline.get_or_insert_with(|| tokio::time::Instant::now() + timeout);
            let (code, text) = match self.conn.fill_by(by, true).await? {
                Fill::Data => continue,
                Fill::Eof => return Ok(()),
                Fill::Timeout => (None, "idle for too long"),
                Fill::Shutdown => (Some(Code::TryLater), "server shutting down"),
            };
            self.respond(Status::Bye, code, text);
            self.conn.close().await;
            return Ok(());
        }
    }

    async fn handle(&mut self, frame: Result<Vec<Token>, DecodeError>) -> std::io::Result<Flow> {
        // Whatever comes next, it ends a pending AUTHENTICATE.
        let awaiting_sasl = std::mem::take(&mut self.awaiting_sasl);
        let tokens = match frame {
            Ok(tokens) => tokens,
            Err(e) => return Ok(self.refused(e)),
        };
        if awaiting_sasl {
            return Ok(self.sasl_response(tokens).await);
        }
        match parse_command(tokens) {
            Ok(command) => self.dispatch(command).await,
            Err(CommandError::Unknown) => Ok(self.mistake("unknown command")),
            Err(CommandError::Syntax(why)) => Ok(self.mistake(why)),
        }
    }

    /// A command the decoder refused (and skipped).
    fn refused(&mut self, error: DecodeError) -> Flow {
        match error {
            DecodeError::Overflow => {
                self.respond(Status::Bye, None, "command too large");
                Flow::Close
            }
            DecodeError::LiteralTooBig { script: true } => {
                let max = self.ctx.sieve.limits().max_script_size;
                self.no(
                    Some(Code::QuotaMaxSize),
                    &format!("scripts may be at most {max} bytes"),
                );
                Flow::Continue
            }
            DecodeError::LineTooLong => self.mistake("line too long"),
            DecodeError::LiteralTooBig { script: false } | DecodeError::CommandTooBig => {
                self.mistake("command too large")
            }
            DecodeError::BareLineEnding => self.mistake("lines must end with CRLF"),
            DecodeError::Syntax(why) => self.mistake(why),
        }
    }

    async fn dispatch(&mut self, command: Command) -> std::io::Result<Flow> {
        let authenticated = self.user.is_some();
        match command {
            Command::Capability => {
                self.capabilities();
                self.respond(Status::Ok, None, "");
            }
            Command::Noop { tag } => self.respond(Status::Ok, tag.map(Code::Tag), "done"),
            Command::Logout => {
                self.respond(Status::Ok, None, "bye");
                return Ok(Flow::Close);
            }
            Command::StartTls if !authenticated => return self.starttls().await,
            Command::Authenticate { mechanism, initial } if !authenticated => {
                self.authenticate(&mechanism, initial).await
            }
            Command::StartTls | Command::Authenticate { .. } => {
                return Ok(self.mistake("already authenticated"));
            }
            Command::Unauthenticate if authenticated => {
                // RFC 5804 2.14.1: back to the non-authenticated state; TLS stays.
                self.user = None;
                self.respond(Status::Ok, None, "");
            }
            Command::Unauthenticate => return Ok(self.mistake("not authenticated")),
            command => match self.user.clone() {
                Some(user) => self.script_command(&user, command).await,
                None => return Ok(self.mistake("authenticate first")),
            },
        }
        Ok(Flow::Continue)
    }
}
