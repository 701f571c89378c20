//! The IMAP session (IMAP4rev2 and IMAP4rev1, with the extensions in
//! [`auth::capabilities`]) on the `imap` (STARTTLS) and `imaps` (implicit TLS) listeners.
//!
//! One module per command family: `auth` (not authenticated, CAPABILITY, ENABLE, ID),
//! `mailboxes` (LIST, STATUS, CREATE...), `selected` (SELECT, EXPUNGE, the unsolicited
//! updates), `fetch`, `flags` (STORE, COPY, MOVE), `append`, `search`, `idle`,
//! `list` (LIST-EXTENDED, LIST-STATUS), `binary` (RFC 3516 decoding), `quota`,
//! `condstore` (CONDSTORE and QRESYNC), `sort` and `thread` (with their keys in
//! `sortkeys`), `compress`; `recent` decides which session sees a message as `\Recent`
//! (IMAP4rev1); `cache` keeps ENVELOPE/BODYSTRUCTURE per stored body; `learn`
//! teaches the spam filter from moves into and out of Junk. Every response goes through the codec's [`Encoder`]; `reply` holds the wording.

mod append;
mod auth;
pub(crate) mod binary;
mod cache;
mod compress;
mod condstore;
mod convert;
mod fetch;
mod flags;
mod idle;
pub(crate) mod learn;
mod list;
mod mailboxes;
pub(crate) mod mime;
mod quota;
mod rawscan;
mod readahead;
mod recent;
mod reply;
mod search;
mod selected;
mod sort;
mod sortkeys;
mod thread;
mod view;

use crate::Context;
use crate::net::conn::{Conn, Fill};
use hermod_proto::imap::{
    Code, Command, CommandBody, Encoder, Event, ImapDecoder, Limits, Response, Status,
};
use hermod_store::{ChangeSubscription, UserRecord};
use reply::Done;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Notify;
use view::View;

pub(crate) use cache::StructureCache;
pub(crate) use recent::RecentFloors;

/// Client mistakes (BAD responses) before the session is closed.
const MAX_ERRORS: u32 = 20;

/// What a command left the session to do.
enum Flow {
    Continue,
    Close,
}

/// Set by the store's change callback, taken by the session before it looks for changes:
/// a change committed while the session looks is seen the next time.
#[derive(Default)]
struct Changed {
    dirty: AtomicBool,
    notify: Notify,
}

impl Changed {
    fn take(&self) -> bool {
        self.dirty.swap(false, Ordering::AcqRel)
    }
}

/// What ENABLE switched on (RFC 5161); for the rest of the session.
#[derive(Debug, Default, Clone, Copy)]
struct Enabled {
    /// IMAP4rev2 (RFC 9051 appendix E): ESEARCH answers SEARCH, no RECENT, UTF-8 names.
    rev2: bool,
    /// UTF8=ACCEPT (RFC 6855): UTF-8 names and strings, APPEND's `UTF8 (~{n})`.
    utf8: bool,
}

/// An AUTHENTICATE waiting for the client's response line.
struct PendingAuth {
    tag: String,
}

pub(crate) struct Session<S> {
    ctx: Arc<Context>,
    conn: Conn<S>,
    peer: SocketAddr,
    decoder: ImapDecoder,
    enc: Encoder,
    /// Not authenticated while `None`.
    user: Option<UserRecord>,
    /// The selected mailbox (the selected state).
    selected: Option<Box<View>>,
    changed: Arc<Changed>,
    /// Held while logged in: the store calls back on every change of the user's mail.
    subscription: Option<ChangeSubscription>,
    auth: Option<PendingAuth>,
    append: Option<append::Append>,
    enabled: Enabled,
    errors: u32,
    /// RFC 7162: MODSEQ in flag updates once any CONDSTORE-enabling command ran.
    condstore: bool,
    /// RFC 7162 3.2: VANISHED instead of EXPUNGE, SELECT (QRESYNC ...).
    qresync: bool,
}

/// The decoder's limits, from `[imap]`.
fn limits(ctx: &Context) -> Limits {
    let imap = &ctx.config.imap;
    Limits {
        max_line: imap.max_line,
        max_command: imap.max_command_size,
        max_append: imap.append_limit(&ctx.config.limits),
        ..Limits::default()
    }
}

/// The answer to a connection over the IMAP cap (RFC 9051 7.1.5).
pub(crate) fn too_many_connections(out: &mut Vec<u8>) {
    Encoder::default().encode(out, &reply::untagged_bye(reply::TOO_MANY_CONNECTIONS));
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
    pub fn new(ctx: Arc<Context>, conn: Conn<S>, peer: SocketAddr) -> Session<S> {
        let decoder = ImapDecoder::new(limits(&ctx));
        Session {
            ctx,
            conn,
            peer,
            decoder,
            enc: Encoder::default(),
            user: None,
            selected: None,
            changed: Arc::default(),
            subscription: None,
            auth: None,
            append: None,
            enabled: Enabled::default(),
            errors: 0,
            condstore: false,
            qresync: false,
        }
    }

    pub async fn run(mut self) {
        let caps = self.capabilities();
        let greeting = format!("{} hermod IMAP server ready", self.ctx.config.hostname);
        self.send(&reply::untagged(
            Status::Ok,
            Some(Code::Capability(caps)),
            &greeting,
        ));
        if let Err(e) = self.command_loop().await {
            tracing::debug!(peer = %self.peer, error = %e, "IMAP connection ended with an error");
        }
    }

    /// The largest message APPEND takes (APPENDLIMIT, RFC 7889).
    fn append_limit(&self) -> u64 {
        let config = &self.ctx.config;
        config.imap.append_limit(&config.limits)
    }

    fn send(&mut self, response: &Response) {
        self.enc.encode(self.conn.output(), response);
    }

    /// Ends command `tag`: unsolicited updates of the selected mailbox first (`expunges`:
    /// EXPUNGE responses allowed), then the tagged status. A BAD counts as a mistake.
    async fn finish(&mut self, tag: &str, done: Done, expunges: bool) -> Flow {
        if done.status != Status::Bad {
            self.after_command(expunges).await;
        }
        self.send(&reply::tagged(tag, done.status, done.code, &done.text));
        if done.status == Status::Bad {
            return self.count_error();
        }
        Flow::Continue
    }

    /// An untagged BAD (no tag could be read); counts as a mistake.
    fn untagged_bad(&mut self, text: &str) -> Flow {
        self.send(&reply::untagged(Status::Bad, None, text));
        self.count_error()
    }

    fn count_error(&mut self) -> Flow {
        self.errors += 1;
        if self.errors >= MAX_ERRORS {
            self.send(&reply::untagged_bye(reply::TOO_MANY_ERRORS));
            return Flow::Close;
        }
        Flow::Continue
    }

    /// The autologout timer (RFC 9051 5.4): `[imap] idle_timeout` once logged in.
    fn timeout(&self) -> Duration {
        let imap = &self.ctx.config.imap;
        if self.user.is_some() {
            imap.idle_timeout
        } else {
            imap.idle_timeout_unauthenticated
        }
    }

    async fn command_loop(&mut self) -> std::io::Result<()> {
        // The autologout timer runs until a whole event is in, not per byte.
        let mut deadline = None;
        loop {
            let (used, event) = self.decoder.decode(&self.conn.input);
            self.conn.input.drain(..used);
            if let Some(event) = event {
                deadline = None;
                if let Flow::Close = self.handle_event(event).await? {
                    self.conn.close().await;
                    return Ok(());
                }
                continue;
            }
            let timeout = self.timeout();
            let by = *deadline.get_or_insert_with(|| tokio::time::Instant::now() + timeout);
            // Mid-APPEND the command is in flight: a shutdown waits for it.
            let interruptible = self.append.is_none();
            match self.conn.fill_by(by, interruptible).await? {
                Fill::Data => {}
                Fill::Eof => return Ok(()),
                Fill::Timeout => return self.close_with(reply::AUTOLOGOUT).await,
                Fill::Shutdown => return self.close_with(reply::SHUTTING_DOWN).await,
            }
        }
    }

    async fn close_with(&mut self, text: &str) -> std::io::Result<()> {
        self.send(&reply::untagged_bye(text));
        self.conn.close().await;
        Ok(())
    }

    async fn handle_event(&mut self, event: Event) -> std::io::Result<Flow> {
        Ok(match event {
            Event::Command(command) => return self.handle_command(command).await,
            Event::Continue => {
                self.send(&Response::Continue(reply::GO_AHEAD.into()));
                Flow::Continue
            }
            Event::AppendStart { tag, mailbox } => {
                self.append_start(tag, mailbox).await;
                Flow::Continue
            }
            Event::AppendMessage(message) => self.append_message(message).await,
            Event::AppendData(chunk) => {
                self.append_data(chunk).await;
                Flow::Continue
            }
            Event::AppendEnd => self.append_end().await,
            Event::AuthResponse(line) => self.auth_response(&line).await,
            // The decoder reports DONE only during IDLE, which `idle` reads itself.
            Event::IdleDone => self.untagged_bad("DONE without IDLE"),
            Event::Error(error) => {
                // An APPEND cut short stores nothing.
                self.append = None;
                self.send(&error.response());
                self.count_error()
            }
        })
    }

    async fn handle_command(&mut self, command: Command) -> std::io::Result<Flow> {
        let Command { tag, body } = command;
        let done = match body {
            CommandBody::Capability => {
                let caps = self.capabilities();
                self.send(&Response::Capability(caps));
                Done::ok("CAPABILITY completed")
            }
            CommandBody::Noop | CommandBody::Check => Done::ok("NOOP completed"),
            CommandBody::Logout => {
                self.send(&reply::untagged_bye(reply::LOGGING_OUT));
                self.send(&reply::tagged(&tag, Status::Ok, None, "LOGOUT completed"));
                return Ok(Flow::Close);
            }
            CommandBody::Id(_) => {
                let fields = vec![("name".to_owned(), Some("hermod".to_owned()))];
                self.send(&Response::Id(Some(fields)));
                Done::ok("ID completed")
            }
            CommandBody::StartTls if self.user.is_none() => return self.starttls(tag).await,
            CommandBody::Idle if self.user.is_some() => return self.idle(tag).await,
            CommandBody::Compress(mechanism) if self.user.is_some() => {
                return self.compress(tag, &mechanism).await;
            }
            body if self.user.is_none() => match self.not_authenticated(&tag, body).await {
                Some(done) => done,
                None => return Ok(Flow::Continue),
            },
            body if self.selected.is_some() && is_selected_command(&body) => {
                let expunges = expunges_allowed(&body);
                let done = self.selected_command(&tag, body).await?;
                return Ok(self.finish(&tag, done, expunges).await);
            }
            body => self.authenticated(body).await,
        };
        Ok(self.finish(&tag, done, true).await)
    }

    /// Commands of the authenticated (and selected) state.
    async fn authenticated(&mut self, body: CommandBody) -> Done {
        use CommandBody as C;
        match body {
            C::StartTls | C::Login { .. } | C::Authenticate { .. } => {
                Done::bad(reply::ALREADY_AUTHENTICATED)
            }
            C::Enable(caps) => self.enable(&caps),
            C::Select { mailbox, params } => self.select(mailbox, params, false).await,
            C::Examine { mailbox, params } => self.select(mailbox, params, true).await,
            body @ (C::Create { .. }
            | C::Delete(_)
            | C::Rename { .. }
            | C::Subscribe(_)
            | C::Unsubscribe(_)
            | C::List { .. }
            | C::Lsub { .. }
            | C::Namespace
            | C::Status { .. }) => self.mailbox_command(body).await,
            C::GetQuota(root) => self.get_quota(&root).await,
            C::GetQuotaRoot(mailbox) => self.get_quota_root(&mailbox).await,
            C::SetQuota { .. } => Done::no(Some(Code::NoPerm), reply::QUOTA_IS_ADMINS),
            body if is_selected_command(&body) => Done::bad(reply::WRONG_STATE),
            _ => Done::bad(reply::NOT_SUPPORTED),
        }
    }

    /// Commands that need a selected mailbox.
    async fn selected_command(&mut self, tag: &str, body: CommandBody) -> std::io::Result<Done> {
        use CommandBody as C;
        Ok(match body {
            C::Close => self.close(true).await,
            C::Unselect => self.close(false).await,
            C::Expunge => self.expunge(None).await,
            C::UidExpunge(set) => self.expunge(Some(set)).await,
            C::Fetch {
                uid,
                set,
                attrs,
                changed_since,
                vanished,
            } => {
                let modifiers = condstore::FetchModifiers {
                    changed_since,
                    vanished,
                };
                return self.fetch(uid, set, attrs, modifiers).await;
            }
            C::Store { .. } => self.store(body).await,
            C::Copy { uid, set, mailbox } => self.copy(uid, set, mailbox, false).await,
            C::Move { uid, set, mailbox } => self.copy(uid, set, mailbox, true).await,
            C::Search { .. } => self.search(tag, body).await,
            C::Sort { .. } => self.sort(body).await,
            C::Thread { .. } => self.thread(body).await,
            _ => Done::bad(reply::NOT_SUPPORTED),
        })
    }
}

fn is_selected_command(body: &CommandBody) -> bool {
    use CommandBody as C;
    matches!(
        body,
        C::Close
            | C::Unselect
            | C::Expunge
            | C::UidExpunge(_)
            | C::Fetch { .. }
            | C::Store { .. }
            | C::Copy { .. }
            | C::Move { .. }
            | C::Search { .. }
            | C::Sort { .. }
            | C::Thread { .. }
    )
}

/// FETCH, STORE and SEARCH (and SORT and THREAD, which answer like it) by sequence number
/// must not be followed by EXPUNGE responses (RFC 9051 7.4.1): the numbers the client holds
/// would shift under it.
fn expunges_allowed(body: &CommandBody) -> bool {
    use CommandBody as C;
    match body {
        C::Fetch { uid, .. }
        | C::Store { uid, .. }
        | C::Search { uid, .. }
        | C::Sort { uid, .. }
        | C::Thread { uid, .. } => *uid,
        _ => true,
    }
}

/// Seconds since the Unix epoch.
fn now() -> i64 {
    hermod_message::unix_now()
}
