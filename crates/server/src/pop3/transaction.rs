//! The TRANSACTION state (RFC 1939 5) and UPDATE at QUIT (RFC 1939 6).

use super::{Flow, Maildrop, Session, State, read_ahead, reply};
use hermod_proto::pop3::{Command, DotStuffer, TopLimiter};
use hermod_store::BlobId;
use tokio::io::{AsyncRead, AsyncWrite};

/// Bytes read from a message body at a time while streaming RETR/TOP.
const BODY_CHUNK: usize = 256 * 1024;

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
    fn maildrop(&self) -> &Maildrop {
        match &self.state {
            State::Transaction(m) => m,
            State::Authorization { .. } => {
                unreachable!("transaction commands are only dispatched in TRANSACTION")
            }
        }
    }

    fn maildrop_mut(&mut self) -> &mut Maildrop {
        match &mut self.state {
            State::Transaction(m) => m,
            State::Authorization { .. } => {
                unreachable!("transaction commands are only dispatched in TRANSACTION")
            }
        }
    }

    pub(super) async fn transaction(&mut self, command: Command) -> std::io::Result<Flow> {
        match command {
            Command::Stat => {
                let (count, size) = self.maildrop().stat();
                self.reply(&reply::stat(count, size));
            }
            Command::List(None) => {
                let lines: Vec<String> = self
                    .maildrop()
                    .live()
                    .map(|(n, m)| format!("{n} {}", m.size))
                    .collect();
                self.multiline(&reply::SCAN_LISTING, &lines);
            }
            Command::List(Some(n)) => match self.maildrop().get(n) {
                Some(m) => self.reply(&reply::listing(n, m.size)),
                None => return Ok(self.mistake(reply::NO_SUCH_MESSAGE)),
            },
            Command::Uidl(None) => {
                let md = self.maildrop();
                let lines: Vec<String> = md
                    .live()
                    .map(|(n, m)| format!("{n} {}", md.uidl(m)))
                    .collect();
                self.multiline(&reply::UIDL_LISTING, &lines);
            }
            Command::Uidl(Some(n)) => match self.maildrop().get(n).map(|m| self.maildrop().uidl(m))
            {
                Some(uid) => self.reply(&reply::listing(n, uid)),
                None => return Ok(self.mistake(reply::NO_SUCH_MESSAGE)),
            },
            Command::Dele(n) => {
                if self.maildrop().get(n).is_none() {
                    return Ok(self.mistake(reply::NO_SUCH_MESSAGE));
                }
                self.maildrop_mut().deleted[n as usize - 1] = true;
                self.reply(&reply::deleted(n));
            }
            Command::Rset => {
                let md = self.maildrop_mut();
                md.deleted.iter_mut().for_each(|d| *d = false);
                let (count, size) = md.stat();
                self.reply(&reply::reset(count, size));
            }
            Command::Retr(n) => return self.send_message(n, None).await,
            Command::Top { msg, lines } => return self.send_message(msg, Some(lines)).await,
            _ => return Ok(self.mistake(reply::WRONG_STATE)),
        }
        Ok(Flow::Continue)
    }

    fn multiline(&mut self, status: &reply::Pop3Reply, lines: &[String]) {
        self.reply(status);
        let out = self.conn.output();
        for line in lines {
            out.extend_from_slice(line.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b".\r\n");
    }

    /// RETR (all of it) or TOP (headers and `top` body lines), streamed from the store in
    /// pieces so a large message never sits in memory whole.
    async fn send_message(&mut self, n: u32, top: Option<u32>) -> std::io::Result<Flow> {
        let Some(message) = self.maildrop().get(n) else {
            return Ok(self.mistake(reply::NO_SUCH_MESSAGE));
        };
        let (blob, size) = (message.blob.clone(), message.size);
        let opened = match self.maildrop_mut().ahead.take(n) {
            Some(body) => Ok(Body::Whole(body)),
            None => {
                let wanted = match top {
                    None => {
                        let md = self.maildrop();
                        let following = md.live_after(n).map(|(k, m)| (k, &m.blob, m.size));
                        md.ahead.plan(n, following)
                    }
                    Some(_) => Vec::new(),
                };
                self.open(n, blob, size, wanted).await
            }
        };
        // A small message comes whole, with those read ahead, in one trip to the store; a
        // large one streams in pieces.
        let body = match opened {
            Ok(body) => body,
            Err(e) => {
                tracing::error!(peer = %self.peer, error = e, "cannot open a message body");
                self.reply(&reply::CANNOT_READ);
                return Ok(Flow::Continue);
            }
        };
        self.reply(&reply::octets(size));
        let (mut stuffer, mut limiter) = (DotStuffer::default(), top.map(TopLimiter::new));
        let (mut sent, mut body) = (0u64, body);
        loop {
            let chunk = match &mut body {
                Body::Whole(whole) => Ok(std::mem::take(whole)),
                Body::Stream(_) if sent >= size => Ok(Vec::new()),
                Body::Stream(stream) => stream.read_chunk(BODY_CHUNK).await,
            };
            let chunk = match chunk {
                Ok(chunk) if chunk.is_empty() => break,
                Ok(chunk) => chunk,
                Err(e) => {
                    // The +OK is out; the only honest thing left is to hang up.
                    tracing::error!(peer = %self.peer, error = %e, "reading a message body failed");
                    return Ok(Flow::Close);
                }
            };
            sent += chunk.len() as u64;
            let part = limiter.as_mut().map_or(&chunk[..], |l| l.take(&chunk));
            stuffer.encode(part, self.conn.output());
            self.conn.flush_if_large().await?;
            if limiter.as_ref().is_some_and(TopLimiter::is_done) {
                break;
            }
        }
        stuffer.finish(self.conn.output());
        if top.is_none() {
            let md = self.maildrop_mut();
            md.retrieved[n as usize - 1] = true;
            md.ahead.sent(n);
        }
        Ok(Flow::Continue)
    }

    /// Message `n`'s body: whole (with the bodies `ahead` wants, which are kept) when it is
    /// small, else a stream.
    async fn open(
        &mut self,
        n: u32,
        blob: BlobId,
        size: u64,
        ahead: Vec<read_ahead::Wanted>,
    ) -> Result<Body, String> {
        let mail = self.ctx.store.clone();
        if size > BODY_CHUNK as u64 {
            let stream = mail.open_blob(&blob).await.map_err(|e| e.to_string())?;
            return Ok(Body::Stream(stream));
        }
        let mut wanted = vec![(blob, size)];
        wanted.extend(ahead.iter().map(|w| (w.blob.clone(), w.size)));
        let mut bodies = mail.read_blobs(&wanted).await.map_err(|e| e.to_string())?;
        if bodies.is_empty() {
            return Err(format!("message {n} could not be read at its size"));
        }
        let first = bodies.remove(0);
        let numbers = ahead.iter().map(|w| w.number);
        self.maildrop_mut()
            .ahead
            .keep(numbers.zip(bodies).collect());
        Ok(Body::Whole(first))
    }

    /// QUIT in TRANSACTION: the UPDATE state. Deletions happen here and only here, at once.
    pub(super) async fn update(&mut self) {
        let State::Transaction(mut maildrop) = std::mem::replace(
            &mut self.state,
            State::Authorization {
                user: None,
                awaiting_plain: false,
            },
        ) else {
            return;
        };
        let committed = maildrop.commit(self.ctx.store.as_ref()).await;
        maildrop.lock.release().await;
        let user = &maildrop.user.address;
        match committed {
            Ok(deleted) => {
                tracing::info!(peer = %self.peer, user, deleted, "POP3 logout");
                self.reply(&reply::logged_out(deleted));
            }
            Err(e) => {
                tracing::error!(peer = %self.peer, user, error = %e, "POP3 update failed");
                self.reply(&reply::UPDATE_FAILED);
            }
        }
    }
}

/// A message body on its way out.
enum Body {
    Whole(Vec<u8>),
    Stream(Box<dyn hermod_store::BodyStream>),
}
