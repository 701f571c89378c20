//! The non-authenticated state: what is advertised (CAPABILITY), STARTTLS, and
//! AUTHENTICATE PLAIN (RFC 5804 2.1, 2.2, 2.4).

use super::{Flow, Session, limits};
use hermod_core::auth::{self, LoginOutcome};
use hermod_proto::managesieve::{
    Code, Decoder, SaslResponse, Status, Token, parse_sasl_response, render_capability,
    render_challenge,
};
use hermod_proto::sasl::{SaslError, decode_plain};
use tokio::io::{AsyncRead, AsyncWrite};

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
    /// Passwords travel only inside TLS, or from loopback when the configuration allows it.
    fn login_allowed(&self) -> bool {
        self.conn.tls().is_some()
            || (self.peer.ip().is_loopback()
                && self.ctx.config.managesieve.allow_plaintext_auth_on_loopback)
    }

    /// The capability lines (RFC 5804 1.7), without the `OK` that ends them.
    pub(super) fn capabilities(&mut self) {
        // RFC 5804 1.7: the SASL list is empty only while STARTTLS is offered to fix that.
        let sasl = if self.login_allowed() { "PLAIN" } else { "" };
        let starttls = self.ctx.tls.is_some() && self.conn.tls().is_none() && self.user.is_none();
        let sieve = self.ctx.sieve.extensions().join(" ");
        let redirects = self.ctx.sieve.limits().max_redirects.to_string();
        let owner = self.user.as_ref().map(|u| u.address.clone());
        let out = self.conn.output();
        let implementation = concat!("hermod ", env!("CARGO_PKG_VERSION"));
        render_capability("IMPLEMENTATION", Some(implementation), out);
        render_capability("SASL", Some(sasl), out);
        render_capability("SIEVE", Some(&sieve), out);
        if starttls {
            render_capability("STARTTLS", None, out);
        }
        render_capability("MAXREDIRECTS", Some(&redirects), out);
        if let Some(owner) = owner {
            render_capability("OWNER", Some(&owner), out);
        }
        render_capability("UNAUTHENTICATE", None, out);
        render_capability("VERSION", Some("1.0"), out);
    }

    pub(super) async fn starttls(&mut self) -> std::io::Result<Flow> {
        let Some(acceptor) = self.ctx.tls.clone() else {
            return Ok(self.mistake("STARTTLS is not available"));
        };
        if self.conn.tls().is_some() {
            return Ok(self.mistake("TLS is already active"));
        }
        self.respond(Status::Ok, None, "begin TLS negotiation");
        if let Err(e) = self.conn.start_tls(&acceptor).await {
            tracing::info!(peer = %self.peer, error = %e, "ManageSieve TLS handshake failed");
            return Ok(Flow::Close);
        }
        // Anything pipelined before the handshake was discarded (RFC 5804 2.2), and the
        // capabilities are sent again, now with the SASL mechanisms TLS allows.
        self.decoder = Decoder::new(limits(&self.ctx));
        self.capabilities();
        self.respond(Status::Ok, None, "TLS negotiation successful");
        Ok(Flow::Continue)
    }

    pub(super) async fn authenticate(&mut self, mechanism: &str, initial: Option<Vec<u8>>) {
        if mechanism != "PLAIN" {
            self.no(None, "unsupported mechanism: PLAIN is supported");
            return;
        }
        if !self.login_allowed() {
            self.no(
                Some(Code::EncryptNeeded),
                "issue STARTTLS before authenticating",
            );
            return;
        }
        match initial {
            Some(response) => self.plain(&response).await,
            None => {
                // PLAIN's challenge is empty; the client answers with its credentials.
                render_challenge("", self.conn.output());
                self.awaiting_sasl = true;
            }
        }
    }

    /// The client's answer to the challenge.
    pub(super) async fn sasl_response(&mut self, tokens: Vec<Token>) -> Flow {
        match parse_sasl_response(tokens) {
            Ok(SaslResponse::Data(response)) => {
                self.plain(&response).await;
                Flow::Continue
            }
            Ok(SaslResponse::Cancel) => {
                self.no(None, "authentication cancelled");
                Flow::Continue
            }
            Err(e) => self.mistake(&e.to_string()),
        }
    }

    async fn plain(&mut self, response: &[u8]) {
        let decoded = std::str::from_utf8(response)
            .map_err(|_| SaslError::Base64)
            .and_then(decode_plain);
        match decoded {
            Ok(creds)
                if creds.authzid.is_empty()
                    || creds.authzid.eq_ignore_ascii_case(&creds.authcid) =>
            {
                self.login(&creds.authcid, &creds.password).await
            }
            Ok(_) => self.no(None, "authorization identity not allowed"),
            Err(SaslError::Cancelled) => self.no(None, "authentication cancelled"),
            Err(_) => {
                self.mistake("malformed SASL PLAIN response");
            }
        }
    }

    /// Checks the credentials through the shared throttle and enters the authenticated state.
    async fn login(&mut self, name: &str, password: &str) {
        let (ctx, ip) = (&self.ctx, self.peer.ip());
        let checked = auth::login(ctx.store.as_ref(), &ctx.throttle, ip, name, password).await;
        match checked {
            Ok(LoginOutcome::Accepted(user)) => {
                tracing::info!(peer = %self.peer, user = user.address, "ManageSieve login");
                self.user = Some(user);
                self.respond(Status::Ok, None, "logged in");
            }
            Ok(LoginOutcome::Refused { delay }) => {
                tracing::warn!(peer = %self.peer, user = name, "ManageSieve login failed");
                tokio::time::sleep(delay).await;
                self.no(None, "invalid user name or password");
            }
            Ok(LoginOutcome::Locked { retry_after }) => {
                tracing::warn!(peer = %self.peer, user = name, "ManageSieve login refused: too many failures");
                let wait = retry_after.as_secs().max(1);
                self.no(
                    Some(Code::TryLater),
                    &format!("too many failed logins: try again in {wait} seconds"),
                );
            }
            Err(e) => {
                tracing::error!(peer = %self.peer, error = %e, "ManageSieve login could not be completed");
                self.no(Some(Code::TryLater), "temporary failure, try again later");
            }
        }
    }
}
