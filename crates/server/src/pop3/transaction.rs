//! The TRANSACTION state (RFC 1939 5) and UPDATE at QUIT (RFC 1939 6).

use super::{Flow, Maildrop, Session, State, read_ahead};
use hermod_proto::pop3::{Command, DotStuffer, TopLimiter};
use hermod_store::BlobId;
use std::io::Read;
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
                self.ok(&format!("{count} {size}"));
            }
            Command::List(None) => {
                let lines: Vec<String> = self
                    .maildrop()
                    .live()
                    .map(|(n, m)| format!("{n} {}", m.size))
                    .collect();
                self.multiline("scan listing follows", &lines);
            }
            Command::List(Some(n)) => match self.maildrop().get(n) {
                Some(m) => self.ok(&format!("{n} {}", m.size)),
                None => return Ok(self.mistake("no such message")),
            },
            Command::Uidl(None) => {
                let md = self.maildrop();
                let lines: Vec<String> = md
                    .live()
                    .map(|(n, m)| format!("{n} {}", md.uidl(m)))
                    .collect();
                self.multiline("unique-id listing follows", &lines);
            }
            Command::Uidl(Some(n)) => match self.maildrop().get(n).map(|m| self.maildrop().uidl(m))
            {
                Some(uid) => self.ok(&format!("{n} {uid}")),
                None => return Ok(self.mistake("no such message")),
            },
            Command::Dele(n) => {
                if self.maildrop().get(n).is_none() {
                    return Ok(self.mistake("no such message"));
                }
                self.maildrop_mut().deleted[n as usize - 1] = true;
                self.ok(&format!("message {n} deleted"));
            }
            Command::Rset => {
                let md = self.maildrop_mut();
                md.deleted.iter_mut().for_each(|d| *d = false);
                let (count, size) = md.stat();
                self.ok(&format!("maildrop has {count} messages ({size} octets)"));
            }
            Command::Retr(n) => return self.send_message(n, None).await,
            Command::Top { msg, lines } => return self.send_message(msg, Some(lines)).await,
            _ => return Ok(self.mistake("command not valid in this state")),
        }
        Ok(Flow::Continue)
    }

    fn multiline(&mut self, text: &str, lines: &[String]) {
        self.ok(text);
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
            return Ok(self.mistake("no such message"));
        };
        let (blob, size) = (message.blob.clone(), message.size);
        let opened = match self.maildrop_mut().ahead.take(n) {
            Some(body) => Ok((Box::new(std::io::empty()) as Box<dyn Read + Send>, body)),
            None => {
                let wanted = match top {
                    None => {
                        let md = self.maildrop();
                        let following = md.live_after(n).map(|(k, m)| (k, &m.blob, m.size));
                        md.ahead.plan(n, following)
                    }
                    Some(_) => Vec::new(),
                };
                self.open(blob, size, wanted).await
            }
        };
        // Opening and the first read are one trip to the blocking pool; a message that fits
        // in one chunk (most do) needs no other.
        let (mut reader, first) = match opened {
            Ok(opened) => opened,
            Err(e) => {
                tracing::error!(peer = %self.peer, error = e, "cannot open a message body");
                self.err(
                    Some("SYS/TEMP"),
                    "cannot read that message now, try again later",
                );
                return Ok(Flow::Continue);
            }
        };
        self.ok(&format!("{size} octets"));
        let (mut stuffer, mut limiter) = (DotStuffer::default(), top.map(TopLimiter::new));
        let mut sent = 0u64;
        let mut next = Some(Ok(first));
        loop {
            let chunk = match next.take() {
                Some(chunk) => chunk,
                None if sent >= size => Ok(Vec::new()),
                None => {
                    let (back, chunk) = read_chunk(reader).await;
                    reader = back;
                    chunk
                }
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

    /// Opens a body of `size` octets and reads its first chunk, and the bodies `ahead` wants
    /// (which it keeps).
    async fn open(
        &mut self,
        blob: BlobId,
        size: u64,
        ahead: Vec<read_ahead::Wanted>,
    ) -> Result<(Box<dyn Read + Send>, Vec<u8>), String> {
        let store = self.ctx.store.clone();
        let want = usize::try_from(size)
            .unwrap_or(BODY_CHUNK)
            .clamp(1, BODY_CHUNK);
        let opened = tokio::task::spawn_blocking(move || {
            let mut reader = store.open_blob(&blob).map_err(|e| e.to_string())?;
            let first = read_some(&mut reader, want).map_err(|e| e.to_string())?;
            Ok::<_, String>((reader, first, read_ahead::read(store.as_ref(), ahead)))
        });
        let (reader, first, bodies) = opened.await.map_err(|e| e.to_string())??;
        self.maildrop_mut().ahead.keep(bodies);
        Ok((reader, first))
    }

    /// QUIT in TRANSACTION: the UPDATE state. Deletions happen here and only here, at once.
    pub(super) async fn update(&mut self) {
        let State::Transaction(maildrop) = std::mem::replace(
            &mut self.state,
            State::Authorization {
                user: None,
                awaiting_plain: false,
            },
        ) else {
            return;
        };
        let store = self.ctx.store.clone();
        let committed = tokio::task::spawn_blocking(move || {
            let result = maildrop.commit(store.as_ref());
            (result, maildrop.user.address.clone())
        })
        .await;
        match committed {
            Ok((Ok(deleted), user)) => {
                tracing::info!(peer = %self.peer, user, deleted, "POP3 logout");
                self.ok(&format!("bye ({deleted} messages deleted)"));
            }
            Ok((Err(e), user)) => {
                tracing::error!(peer = %self.peer, user, error = %e, "POP3 update failed");
                self.err(
                    Some("SYS/TEMP"),
                    "some deleted messages were not removed, try again",
                );
            }
            Err(e) => {
                tracing::error!(peer = %self.peer, error = %e, "POP3 update task failed");
                self.err(
                    Some("SYS/TEMP"),
                    "some deleted messages were not removed, try again",
                );
            }
        }
    }
}

/// Up to `want` bytes; empty at the end.
fn read_some(reader: &mut Box<dyn Read + Send>, want: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; want];
    let n = reader.read(&mut buf)?;
    buf.truncate(n);
    Ok(buf)
}

async fn read_chunk(
    mut reader: Box<dyn Read + Send>,
) -> (Box<dyn Read + Send>, std::io::Result<Vec<u8>>) {
    let task = tokio::task::spawn_blocking(move || {
        let result = read_some(&mut reader, BODY_CHUNK);
        (reader, result)
    });
    match task.await {
        Ok(done) => done,
        Err(e) => (
            Box::new(std::io::empty()),
            Err(std::io::Error::other(e.to_string())),
        ),
    }
}
