//! The AUTHORIZATION state: CAPA, STLS, USER/PASS, AUTH PLAIN, and the login itself.

use super::{Flow, Maildrop, Session, State, reply};
use hermod_core::auth::{self, LoginOutcome};
use hermod_proto::LineFramer;
use hermod_proto::pop3::MAX_COMMAND_LINE;
use hermod_proto::sasl::{SaslError, decode_plain};
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};

/// A SASL PLAIN response: base64 of two addresses and a password.
const MAX_SASL_LINE: usize = 4096;

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
    /// Passwords travel only inside TLS, or from loopback when the config allows it.
    pub(super) fn login_allowed(&self) -> bool {
        self.conn.tls().is_some()
            || (self.peer.ip().is_loopback()
                && self.ctx.config.pop3.allow_plaintext_auth_on_loopback)
    }

    pub(super) fn plaintext_refused(&mut self) -> Flow {
        self.reply(&reply::PLAINTEXT_REFUSED);
        Flow::Continue
    }

    pub(super) fn capa(&mut self) {
        // RFC 2449 5: what the AUTHORIZATION state offers is announced in both states.
        let mut caps = vec!["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"];
        if self.login_allowed() {
            caps.extend(["USER", "SASL PLAIN"]);
        }
        if self.ctx.tls.is_some() && self.conn.tls().is_none() {
            caps.push("STLS");
        }
        caps.push("IMPLEMENTATION hermod");
        self.reply(&reply::CAPA_FOLLOWS);
        let out = self.conn.output();
        for cap in caps {
            out.extend_from_slice(cap.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b".\r\n");
    }

    pub(super) async fn stls(&mut self) -> std::io::Result<Flow> {
        let Some(acceptor) = self.ctx.tls.clone() else {
            return Ok(self.mistake(reply::STLS_UNAVAILABLE));
        };
        if self.conn.tls().is_some() {
            return Ok(self.mistake(reply::TLS_ACTIVE));
        }
        self.reply(&reply::BEGIN_TLS);
        if let Err(e) = self.conn.start_tls(&acceptor).await {
            tracing::info!(peer = %self.peer, error = %e, "POP3 TLS handshake failed");
            return Ok(Flow::Close);
        }
        // Anything pipelined before the handshake was discarded; start over.
        self.framer = LineFramer::new(MAX_COMMAND_LINE);
        self.state = State::Authorization {
            user: None,
            awaiting_plain: false,
        };
        Ok(Flow::Continue)
    }

    pub(super) fn user(&mut self, name: String) -> Flow {
        if !self.login_allowed() {
            return self.plaintext_refused();
        }
        self.state = State::Authorization {
            user: Some(name),
            awaiting_plain: false,
        };
        self.reply(&reply::SEND_PASSWORD);
        Flow::Continue
    }

    pub(super) async fn pass(&mut self, password: String) -> Flow {
        let State::Authorization { user, .. } = &mut self.state else {
            return self.mistake(reply::WRONG_STATE);
        };
        let Some(name) = user.take() else {
            return self.mistake(reply::USER_FIRST);
        };
        if !self.login_allowed() {
            return self.plaintext_refused();
        }
        self.login(name, password).await;
        Flow::Continue
    }

    pub(super) async fn auth(
        &mut self,
        mechanism: Option<String>,
        initial: Option<String>,
    ) -> Flow {
        let Some(mechanism) = mechanism else {
            self.reply(&reply::MECHANISMS_FOLLOW);
            self.conn.output().extend_from_slice(b"PLAIN\r\n.\r\n");
            return Flow::Continue;
        };
        if mechanism != "PLAIN" {
            return self.mistake(reply::UNSUPPORTED_MECHANISM);
        }
        if !self.login_allowed() {
            return self.plaintext_refused();
        }
        match initial {
            // RFC 5034 4: "=" is an empty initial response.
            Some(response) if response != "=" => self.plain_credentials(&response).await,
            _ => {
                self.conn.output().extend_from_slice(b"+ \r\n");
                self.framer = LineFramer::new(MAX_SASL_LINE);
                self.state = State::Authorization {
                    user: None,
                    awaiting_plain: true,
                };
                Flow::Continue
            }
        }
    }

    /// The client's answer to the `+ ` continuation.
    pub(super) async fn plain_response(&mut self, line: &[u8]) -> Flow {
        self.framer = LineFramer::new(MAX_COMMAND_LINE);
        self.state = State::Authorization {
            user: None,
            awaiting_plain: false,
        };
        match std::str::from_utf8(line) {
            Ok(response) => self.plain_credentials(response).await,
            Err(_) => self.mistake(reply::BAD_SASL),
        }
    }

    async fn plain_credentials(&mut self, response: &str) -> Flow {
        match decode_plain(response) {
            Ok(creds)
                if creds.authzid.is_empty()
                    || creds.authzid.eq_ignore_ascii_case(&creds.authcid) =>
            {
                self.login(creds.authcid, creds.password).await;
                Flow::Continue
            }
            Ok(_) => {
                self.reply(&reply::AUTHZID_REFUSED);
                Flow::Continue
            }
            Err(SaslError::Cancelled) => {
                self.reply(&reply::AUTH_CANCELLED);
                Flow::Continue
            }
            Err(_) => self.mistake(reply::BAD_SASL_PLAIN),
        }
    }

    /// Checks the credentials (throttled), locks the maildrop and enters TRANSACTION.
    async fn login(&mut self, name: String, password: String) {
        let (ctx, ip) = (&self.ctx, self.peer.ip());
        let checked = auth::login(ctx.store.as_ref(), &ctx.throttle, ip, &name, &password).await;
        let user = match checked {
            Ok(LoginOutcome::Accepted(user)) => user,
            Ok(LoginOutcome::Refused { delay }) => {
                tracing::warn!(peer = %self.peer, user = name, "POP3 login failed");
                tokio::time::sleep(delay).await;
                self.reply(&reply::AUTH_FAILED);
                return;
            }
            Ok(LoginOutcome::Locked { retry_after }) => {
                tracing::warn!(peer = %self.peer, user = name, "POP3 login refused: too many failures");
                self.reply(&reply::login_delay(retry_after.as_secs().max(1)));
                return;
            }
            Err(e) => return self.temp_failure(&e.to_string()),
        };
        self.open_maildrop(user).await;
    }

    fn temp_failure(&mut self, error: &str) {
        tracing::error!(peer = %self.peer, error, "POP3 login could not be completed");
        self.reply(&reply::TEMP_FAILURE);
    }

    async fn open_maildrop(&mut self, user: hermod_store::UserRecord) {
        let store: Arc<dyn hermod_store::Coordination> = self.ctx.store.clone();
        let lock = match self.ctx.pop3_locks.try_lock(store, user.id).await {
            Ok(Some(lock)) => lock,
            Ok(None) => {
                self.reply(&reply::IN_USE);
                return;
            }
            Err(e) => return self.temp_failure(&e.to_string()),
        };
        let opened = Maildrop::open(self.ctx.store.as_ref(), user, lock).await;
        match opened {
            Ok(maildrop) => {
                let (count, size) = maildrop.stat();
                tracing::info!(peer = %self.peer, user = maildrop.user.address, count, "POP3 login");
                self.reply(&reply::logged_in(count, size));
                self.state = State::Transaction(Box::new(maildrop));
            }
            Err(e) => self.temp_failure(&e.to_string()),
        }
    }
}
