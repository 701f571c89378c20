//! The not-authenticated state (RFC 9051 6.2): STARTTLS, LOGIN, AUTHENTICATE PLAIN; and
//! what is advertised (CAPABILITY) and enabled (ENABLE).

use super::{Changed, Done, Flow, PendingAuth, Session, limits, reply};
use hermod_core::auth::{self, LoginOutcome};
use hermod_proto::imap::{Code, CommandBody, ImapDecoder, Response, Status};
use hermod_proto::sasl::{SaslError, decode_plain};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::io::{AsyncRead, AsyncWrite};

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
    /// Passwords travel only inside TLS, or from loopback when the configuration allows it
    /// (`[imap] allow_plaintext_auth_on_loopback`).
    fn login_allowed(&self) -> bool {
        self.conn.tls().is_some()
            || (self.peer.ip().is_loopback()
                && self.ctx.config.imap.allow_plaintext_auth_on_loopback)
    }

    /// Only what works: IMAP4rev2 is not claimed until BINARY, SEARCHRES, LIST-EXTENDED and
    /// LIST-STATUS are in.
    pub(super) fn capabilities(&self) -> Vec<String> {
        let mut caps = vec!["IMAP4rev1"];
        if self.user.is_none() {
            if self.ctx.tls.is_some() && self.conn.tls().is_none() {
                caps.push("STARTTLS");
            }
            if self.login_allowed() {
                caps.push("AUTH=PLAIN");
            } else {
                caps.push("LOGINDISABLED");
            }
            caps.push("SASL-IR");
        }
        caps.extend([
            "LITERAL+",
            "ENABLE",
            "IDLE",
            "UIDPLUS",
            "MOVE",
            "NAMESPACE",
            "UNSELECT",
            "SPECIAL-USE",
            "CHILDREN",
            "ESEARCH",
            "ID",
        ]);
        caps.into_iter().map(str::to_owned).collect()
    }

    /// LOGIN and AUTHENTICATE; `None` while an AUTHENTICATE waits for the client.
    pub(super) async fn not_authenticated(&mut self, tag: &str, body: CommandBody) -> Option<Done> {
        let done = match body {
            CommandBody::Login { username, password } => {
                if !self.login_allowed() {
                    return Some(Done::no(
                        Some(Code::PrivacyRequired),
                        reply::PLAINTEXT_REFUSED,
                    ));
                }
                self.login(&username, &password).await
            }
            CommandBody::Authenticate {
                mechanism,
                initial_response,
            } => return self.authenticate(tag, &mechanism, initial_response).await,
            _ => Done::bad(reply::WRONG_STATE),
        };
        Some(done)
    }

    pub(super) async fn starttls(&mut self, tag: String) -> std::io::Result<Flow> {
        let Some(acceptor) = self.ctx.tls.clone() else {
            return Ok(self
                .finish(&tag, Done::bad("STARTTLS not available"), true)
                .await);
        };
        if self.conn.tls().is_some() {
            return Ok(self
                .finish(&tag, Done::bad("TLS already active"), true)
                .await);
        }
        self.send(&reply::tagged(
            &tag,
            Status::Ok,
            None,
            "begin TLS negotiation",
        ));
        if let Err(e) = self.conn.start_tls(&acceptor).await {
            tracing::info!(peer = %self.peer, error = %e, "IMAP TLS handshake failed");
            return Ok(Flow::Close);
        }
        // Anything pipelined before the handshake was discarded (RFC 9051 6.2.1).
        self.decoder = ImapDecoder::new(limits(&self.ctx));
        Ok(Flow::Continue)
    }

    /// AUTHENTICATE PLAIN, with SASL-IR (RFC 4959) or after a `+` continuation.
    async fn authenticate(
        &mut self,
        tag: &str,
        mechanism: &str,
        initial: Option<String>,
    ) -> Option<Done> {
        if mechanism != "PLAIN" {
            return Some(Done::no(None, "unsupported mechanism; PLAIN is supported"));
        }
        if !self.login_allowed() {
            return Some(Done::no(
                Some(Code::PrivacyRequired),
                reply::PLAINTEXT_REFUSED,
            ));
        }
        match initial {
            // "=" is an empty initial response: the credentials come after a `+`.
            Some(response) if response != "=" => Some(self.plain(&response).await),
            _ => {
                self.send(&Response::Continue(String::new()));
                self.decoder.expect_auth_response();
                self.auth = Some(PendingAuth {
                    tag: tag.to_owned(),
                });
                None
            }
        }
    }

    /// The client's line after the `+` of AUTHENTICATE.
    pub(super) async fn auth_response(&mut self, line: &str) -> Flow {
        let Some(PendingAuth { tag }) = self.auth.take() else {
            return self.untagged_bad("unexpected SASL response");
        };
        let done = self.plain(line).await;
        self.finish(&tag, done, true).await
    }

    async fn plain(&mut self, response: &str) -> Done {
        match decode_plain(response) {
            Ok(creds)
                if creds.authzid.is_empty()
                    || creds.authzid.eq_ignore_ascii_case(&creds.authcid) =>
            {
                self.login(&creds.authcid, &creds.password).await
            }
            Ok(_) => Done::no(Some(Code::AuthorizationFailed), reply::AUTHZID_REFUSED),
            Err(SaslError::Cancelled) => Done::bad(reply::AUTH_CANCELLED),
            Err(_) => Done::bad("malformed SASL PLAIN response"),
        }
    }

    /// Checks the credentials (the shared throttle) and enters the authenticated state.
    async fn login(&mut self, name: &str, password: &str) -> Done {
        let (ctx, ip) = (&self.ctx, self.peer.ip());
        let checked = auth::login(ctx.store.as_ref(), &ctx.throttle, ip, name, password).await;
        let user = match checked {
            Ok(LoginOutcome::Accepted(user)) => user,
            Ok(LoginOutcome::Refused { delay }) => {
                tracing::warn!(peer = %self.peer, user = name, "IMAP login failed");
                tokio::time::sleep(delay).await;
                return Done::no(Some(Code::AuthenticationFailed), reply::AUTH_FAILED);
            }
            Ok(LoginOutcome::Locked { .. }) => {
                tracing::warn!(peer = %self.peer, user = name, "IMAP login refused: too many failures");
                return Done::no(Some(Code::Unavailable), reply::LOGIN_DELAY);
            }
            Err(e) => return Done::store_error(&e),
        };
        // Every change of the user's mail wakes this session (IDLE) and marks the selected
        // mailbox for a look before the next response.
        let changed: Arc<Changed> = self.changed.clone();
        let callback = Box::new(move || {
            changed.dirty.store(true, Ordering::Release);
            changed.notify.notify_one();
        });
        match self.ctx.store.on_change(user.id, callback).await {
            Ok(subscription) => self.subscription = Some(subscription),
            Err(e) => return Done::store_error(&e),
        }
        tracing::info!(peer = %self.peer, user = user.address, "IMAP login");
        self.user = Some(user);
        let caps = self.capabilities();
        Done::ok_code(Code::Capability(caps), "logged in")
    }

    /// ENABLE (RFC 5161): nothing this server offers needs enabling yet, so the answer
    /// names none of the requested extensions.
    pub(super) fn enable(&mut self, _requested: &[String]) -> Done {
        self.send(&Response::Enabled(Vec::new()));
        Done::ok("ENABLE completed")
    }
}
