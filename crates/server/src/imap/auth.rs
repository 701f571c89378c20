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

    /// Only what works. IMAP4rev2 (RFC 9051) and IMAP4rev1 (RFC 3501) both: a client picks
    /// rev2 with ENABLE.
    pub(super) fn capabilities(&self) -> Vec<String> {
        let mut caps: Vec<String> = ["IMAP4rev1", "IMAP4rev2"].map(String::from).into();
        if self.user.is_none() {
            if self.ctx.tls.is_some() && self.conn.tls().is_none() {
                caps.push("STARTTLS".into());
            }
            if self.login_allowed() {
                caps.push("AUTH=PLAIN".into());
            } else {
                caps.push("LOGINDISABLED".into());
            }
            caps.push("SASL-IR".into());
        }
        caps.extend(
            [
                "LITERAL+",
                "ENABLE",
                "IDLE",
                "UIDPLUS",
                "MOVE",
                "NAMESPACE",
                "UNSELECT",
                "SPECIAL-USE",
                "CREATE-SPECIAL-USE",
                "CHILDREN",
                "LIST-EXTENDED",
                "LIST-STATUS",
                "STATUS=SIZE",
                "ESEARCH",
                "SEARCHRES",
                "BINARY",
                "MULTIAPPEND",
                "UTF8=ACCEPT",
                "QUOTA",
                "QUOTA=RES-STORAGE",
                "ID",
                "CONDSTORE",
                "QRESYNC",
                "SORT",
                "SORT=DISPLAY",
                "THREAD=ORDEREDSUBJECT",
                "THREAD=REFERENCES",
                "COMPRESS=DEFLATE",
            ]
            .map(String::from),
        );
        caps.push(format!("APPENDLIMIT={}", self.append_limit()));
        caps
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

    /// ENABLE (RFC 5161): IMAP4rev2 and UTF8=ACCEPT (both switch names and strings to
    /// UTF-8), CONDSTORE and QRESYNC (RFC 7162); the answer names only what this command
    /// switched on, and anything else is not named (the client then knows it is off).
    pub(super) fn enable(&mut self, requested: &[String]) -> Done {
        // RFC 9051 6.3.1: in the authenticated state only, before a mailbox is selected.
        if self.selected.is_some() {
            return Done::bad("ENABLE is only allowed before SELECT");
        }
        let mut enabled = Vec::new();
        for name in requested {
            let flag = match name.to_ascii_uppercase().as_str() {
                "IMAP4REV2" => &mut self.enabled.rev2,
                "UTF8=ACCEPT" => &mut self.enabled.utf8,
                _ => continue,
            };
            // Named once, the first time (RFC 5161 3.1: only what this command enabled).
            if !std::mem::replace(flag, true) {
                enabled.push(name.clone());
            }
        }
        enabled.extend(self.enable_sync(requested));
        let utf8 = self.enabled.rev2 || self.enabled.utf8;
        self.decoder.set_utf8(utf8);
        self.enc.utf8 = utf8;
        self.send(&Response::Enabled(enabled));
        Done::ok("ENABLE completed")
    }
}
