//! IDLE (RFC 2177, RFC 9051 6.3.13): the client waits; changes to the selected mailbox
//! are pushed as they happen (the store's change callback wakes the session) until DONE.

use super::{Done, Flow, Session, reply};
use crate::net::conn::Fill;
use hermod_proto::imap::{Event, Response};
use tokio::io::{AsyncRead, AsyncWrite};

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
    pub(super) async fn idle(&mut self, tag: String) -> std::io::Result<Flow> {
        // Whatever is pending is told first, then the client is told to wait.
        self.after_command(true).await;
        self.send(&Response::Continue(reply::IDLING.into()));
        self.decoder.expect_idle_done();
        let changed = self.changed.clone();
        let deadline = tokio::time::Instant::now() + self.ctx.config.imap.idle_timeout;
        loop {
            let (used, event) = self.decoder.decode(&self.conn.input);
            self.conn.input.drain(..used);
            match event {
                Some(Event::IdleDone) => {
                    return Ok(self.finish(&tag, Done::ok("IDLE terminated"), true).await);
                }
                Some(Event::Error(e)) => {
                    self.send(&e.response());
                    let flow = self.finish(&tag, Done::bad("expected DONE"), true).await;
                    return Ok(flow);
                }
                Some(_) => continue,
                None => {}
            }
            // Flushed here, so the read below never starts a write it could abandon.
            self.conn.flush().await?;
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            tokio::select! {
                filled = self.conn.fill(left, true) => match filled? {
                    Fill::Data => {}
                    Fill::Eof => return Ok(Flow::Close),
                    Fill::Timeout => {
                        self.send(&reply::untagged_bye(reply::AUTOLOGOUT));
                        return Ok(Flow::Close);
                    }
                    Fill::Shutdown => {
                        self.send(&reply::untagged_bye(reply::SHUTTING_DOWN));
                        return Ok(Flow::Close);
                    }
                },
                _ = changed.notify.notified() => self.after_command(true).await,
            }
        }
    }
}
