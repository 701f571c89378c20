//! SMTP AUTH (RFC 4954) with SASL PLAIN (RFC 4616) and LOGIN, only inside TLS.

use super::{Flow, Mode, Session};
use crate::reply::{self, Reply};
use hermod_core::auth::{self, LoginOutcome};
use hermod_proto::sasl::{SaslError, decode_plain, decode_text, encode};
use tokio::io::{AsyncRead, AsyncWrite};

/// Where a multi-step SASL exchange stands.
pub(crate) enum SaslStep {
    Plain,
    LoginUser,
    LoginPassword { user: String },
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
    /// AUTH is always part of submission; on the MX port only when the config says so.
    pub(super) fn auth_offered(&self) -> bool {
        self.mode == Mode::Submission || self.ctx.config.smtp.allow_auth
    }

    pub(super) async fn auth(&mut self, mechanism: String, initial: Option<String>) -> Flow {
        if !self.auth_offered() {
            return self.respond(reply::NOT_IMPLEMENTED);
        }
        if self.conn.tls().is_none() {
            return self.respond(reply::ENCRYPTION_REQUIRED);
        }
        if self.helo.is_none() {
            return self.respond(reply::NEED_HELO);
        }
        if self.user.is_some() {
            return self.respond(reply::ALREADY_AUTHENTICATED);
        }
        if self.txn.is_some() {
            return self.respond(reply::AUTH_IN_TRANSACTION);
        }
        // RFC 4954 4: "=" is an empty initial response.
        let initial = initial.filter(|r| r != "=");
        match (mechanism.as_str(), initial) {
            ("PLAIN", Some(response)) => self.plain(&response).await,
            ("PLAIN", None) => self.challenge(SaslStep::Plain, ""),
            ("LOGIN", Some(user)) => match decode_text(&user) {
                Ok(user) => self.challenge(SaslStep::LoginPassword { user }, "Password:"),
                Err(e) => self.sasl_error(e),
            },
            ("LOGIN", None) => self.challenge(SaslStep::LoginUser, "Username:"),
            _ => self.respond(reply::UNKNOWN_MECHANISM),
        }
    }

    fn challenge(&mut self, step: SaslStep, prompt: &str) -> Flow {
        self.sasl = Some(step);
        let text = encode(prompt.as_bytes());
        self.conn.queue(&Reply {
            code: 334,
            enhanced: None,
            text: text.into(),
        });
        Flow::Continue
    }

    /// The client's answer to a 334 challenge.
    pub(super) async fn sasl_response(&mut self, step: SaslStep, line: &[u8]) -> Flow {
        let Ok(line) = std::str::from_utf8(line) else {
            return self.sasl_error(SaslError::Malformed);
        };
        match step {
            SaslStep::Plain => self.plain(line).await,
            SaslStep::LoginUser => match decode_text(line) {
                Ok(user) => self.challenge(SaslStep::LoginPassword { user }, "Password:"),
                Err(e) => self.sasl_error(e),
            },
            SaslStep::LoginPassword { user } => match decode_text(line) {
                Ok(password) => self.login(user, password).await,
                Err(e) => self.sasl_error(e),
            },
        }
    }

    async fn plain(&mut self, response: &str) -> Flow {
        match decode_plain(response) {
            Ok(c) if c.authzid.is_empty() || c.authzid.eq_ignore_ascii_case(&c.authcid) => {
                self.login(c.authcid, c.password).await
            }
            Ok(_) => self.respond(reply::AUTH_FAILED),
            Err(e) => self.sasl_error(e),
        }
    }

    fn sasl_error(&mut self, error: SaslError) -> Flow {
        match error {
            SaslError::Cancelled => self.respond(reply::AUTH_CANCELLED),
            SaslError::Base64 | SaslError::Malformed => {
                self.respond(reply::syntax("invalid SASL response"))
            }
        }
    }

    /// Checks the credentials, throttled like every other password check of the server.
    async fn login(&mut self, name: String, password: String) -> Flow {
        let (ctx, ip) = (&self.ctx, self.peer.ip());
        let checked = auth::login(ctx.store.as_ref(), &ctx.throttle, ip, &name, &password).await;
        match checked {
            Ok(LoginOutcome::Accepted(user)) => {
                tracing::info!(peer = %self.peer, user = user.address, "SMTP AUTH");
                self.user = Some(user);
                self.respond(reply::AUTH_OK)
            }
            Ok(LoginOutcome::Refused { delay }) => {
                tracing::warn!(peer = %self.peer, user = name, "SMTP AUTH failed");
                tokio::time::sleep(delay).await;
                self.respond(reply::AUTH_FAILED)
            }
            Ok(LoginOutcome::Locked { .. }) => {
                tracing::warn!(peer = %self.peer, user = name, "SMTP AUTH refused: too many failures");
                self.respond(reply::AUTH_LOCKED)
            }
            Err(e) => {
                tracing::error!(error = %e, "SMTP AUTH lookup failed");
                self.respond(reply::AUTH_TEMP_FAILURE)
            }
        }
    }
}
