//! DATA and BDAT: receiving the message, checking it, and delivering it durably before the 250.

use super::envelope::AcceptedRcpt;
use super::spool::{Spool, Trace};
use super::{Flow, Session, Transaction};
use crate::net::conn::Fill;
use crate::reply::{self, Reply};
use hermod_message::{Protocol, Received, count_header, header_section, return_path};
use hermod_proto::smtp::{DataDecoder, DataEnd};
use std::fmt::{self, Write};
use std::time::SystemTime;
use tokio::io::{AsyncRead, AsyncWrite};

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
    /// Why a DATA or BDAT may not start now, if so.
    fn data_precondition(&self) -> Option<Reply> {
        match &self.txn {
            _ if self.helo.is_none() => Some(reply::NEED_HELO),
            None => Some(reply::NEED_MAIL),
            Some(txn) if txn.rcpts.is_empty() => Some(reply::NEED_RCPT),
            Some(_) => None,
        }
    }

    pub(super) async fn data(&mut self) -> std::io::Result<Flow> {
        if let Some(refusal) = self.data_precondition() {
            return Ok(self.respond(refusal));
        }
        if self.txn.as_ref().is_some_and(|t| t.chunks.is_some()) {
            return Ok(self.respond(reply::DATA_AFTER_BDAT));
        }
        let mut spool = match self.start_spool().await {
            Ok(spool) => spool,
            Err(reply) => return Ok(self.respond(reply)),
        };
        self.conn.queue(&reply::START_DATA);
        let limits = &self.ctx.config.limits;
        let mut decoder = DataDecoder::new(limits.max_message_size, limits.max_data_line);
        let mut out = Vec::with_capacity(64 * 1024);
        let (started, mut received) = (tokio::time::Instant::now(), 0);
        let end = loop {
            let (used, end) = decoder.feed(&self.conn.input, &mut out);
            self.conn.input.drain(..used);
            received += used as u64;
            if !out.is_empty() {
                spool.push(&out).await;
                out.clear();
                self.release_over_limit(&mut spool).await;
            }
            if let Some(end) = end {
                break end;
            }
            if let Some(flow) = self.wait_for_data(started, received).await? {
                return Ok(flow);
            }
        };
        let reply = match end {
            DataEnd::Ok => self.finish_message(spool).await,
            DataEnd::TooBig => {
                crate::count_refusal("too_large");
                reply::TOO_BIG
            }
            DataEnd::BareLineEnding => {
                crate::count_refusal("bad_message");
                reply::DATA_BARE_LINE_ENDING
            }
            DataEnd::LineTooLong => {
                crate::count_refusal("bad_message");
                reply::DATA_LINE_TOO_LONG
            }
        };
        self.txn = None;
        Ok(self.respond(reply))
    }

    /// Reads more message content; `Some` when the session must end instead. Data that
    /// began at `started` and brought `received` bytes so far may take `data_timeout` plus
    /// one second per `min_data_rate` bytes: a trickle of bytes cannot hold the session.
    async fn wait_for_data(
        &mut self,
        started: tokio::time::Instant,
        received: u64,
    ) -> std::io::Result<Option<Flow>> {
        let limits = &self.ctx.config.limits;
        let earned = received as f64 / limits.min_data_rate.max(1) as f64;
        let total = limits.data_timeout + std::time::Duration::from_secs_f64(earned.min(1e9));
        let silence = tokio::time::Instant::now() + limits.data_timeout;
        let deadline = (started + total).min(silence);
        match self.conn.fill_by(deadline, false).await? {
            Fill::Data => Ok(None),
            Fill::Timeout => {
                tracing::info!(peer = %self.peer, "data timeout");
                self.conn.close_with(&reply::TIMEOUT).await;
                Ok(Some(Flow::Close))
            }
            Fill::Eof | Fill::Shutdown => Ok(Some(Flow::Close)),
        }
    }

    /// BDAT (RFC 3030): the chunk is always read in full, even when it is refused.
    pub(super) async fn bdat(&mut self, size: u64, last: bool) -> std::io::Result<Flow> {
        let refusal = self.data_precondition();
        let mut spool = match (refusal, self.txn.as_mut().and_then(|t| t.chunks.take())) {
            (Some(refusal), _) => return self.skip_chunk(size, refusal).await,
            (None, Some(spool)) => spool,
            (None, None) => match self.start_spool().await {
                Ok(spool) => spool,
                Err(reply) => return self.skip_chunk(size, reply).await,
            },
        };
        let max = self.ctx.config.limits.max_message_size;
        if spool.content_size.saturating_add(size) > max {
            crate::count_refusal("too_large");
            return self.skip_chunk(size, reply::TOO_BIG).await;
        }
        if let Some(flow) = self.read_chunk(size, Some(&mut spool)).await? {
            return Ok(flow);
        }
        // SMTP smuggling: the same rule as DATA, judged as soon as a chunk breaks it.
        let endings = &spool.line_endings;
        if endings.has_failed() || (last && !endings.is_clean()) {
            self.txn = None;
            log_refused_chunk(&self.peer, &spool.id);
            return Ok(self.respond(reply::DATA_BARE_LINE_ENDING));
        }
        if !last {
            if let Some(txn) = &mut self.txn {
                txn.chunks = Some(spool);
            }
            return Ok(self.respond(reply::chunk_ok(size)));
        }
        let reply = self.finish_message(spool).await;
        self.txn = None;
        Ok(self.respond(reply))
    }

    /// Reads and drops a refused chunk so the command stream stays in sync; the transaction
    /// is over (RFC 3030 3.2).
    async fn skip_chunk(&mut self, size: u64, reply: Reply) -> std::io::Result<Flow> {
        self.txn = None;
        if let Some(flow) = self.read_chunk(size, None).await? {
            return Ok(flow);
        }
        Ok(self.respond(reply))
    }

    /// Reads exactly `size` bytes of a BDAT chunk into `spool`, or drops them without one.
    /// `Some` when the session must end instead.
    async fn read_chunk(
        &mut self,
        size: u64,
        mut spool: Option<&mut Spool>,
    ) -> std::io::Result<Option<Flow>> {
        let (mut remaining, started) = (size, tokio::time::Instant::now());
        while remaining > 0 {
            if self.conn.input.is_empty()
                && let Some(flow) = self.wait_for_data(started, size - remaining).await?
            {
                return Ok(Some(flow));
            }
            let take = remaining.min(self.conn.input.len() as u64) as usize;
            if let Some(spool) = spool.as_deref_mut() {
                spool.line_endings.feed(&self.conn.input[..take]);
                spool.push(&self.conn.input[..take]).await;
            }
            self.conn.input.drain(..take);
            if let Some(spool) = spool.as_deref_mut() {
                self.release_over_limit(spool).await;
            }
            remaining -= take as u64;
        }
        Ok(None)
    }

    async fn start_spool(&mut self) -> Result<Spool, Reply> {
        let txn = self.txn.as_ref().ok_or(reply::NEED_MAIL)?;
        let helo = self.helo.clone().ok_or(reply::NEED_HELO)?;
        let sender = txn.sender_str();
        let single_rcpt = match txn.rcpts.as_slice() {
            [one] => Some(one.address.clone()),
            _ => None,
        };
        let user = self.user.as_ref().map(|u| u.address.clone());
        let protocol = Protocol {
            extended: helo.extended,
            tls: self.conn.tls().is_some(),
            authenticated: user.is_some(),
            utf8: txn.params.smtputf8,
        };
        let hide_ip = user.is_some() && self.ctx.config.submission.hide_client_ip;
        let peer_ip = (!hide_ip).then(|| self.peer.ip());
        let (by, tls) = (
            self.ctx.config.hostname.clone(),
            self.conn.tls().map(str::to_owned),
        );
        let hold = self.spool_hold();
        let peer_name = self.screen.rdns.clone();
        let trace = move |id: &str| {
            let received = Received {
                helo: &helo.name,
                peer_ip,
                peer_name: peer_name.as_deref(),
                by: &by,
                protocol,
                id,
                for_rcpt: single_rcpt.as_deref(),
                tls: tls.as_deref(),
                authenticated_as: user.as_deref(),
                date: SystemTime::now(),
            };
            Trace {
                return_path: return_path(sender),
                received: received.render(),
            }
        };
        Spool::start(self.ctx.store.clone(), trace, hold)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "cannot open a message body in the store");
                reply::LOCAL_ERROR
            })
    }

    /// Content that outgrew the scan limit is judged without it and written out.
    async fn release_over_limit(&mut self, spool: &mut Spool) {
        if !spool.over_scan_limit() {
            return;
        }
        if let Some(mut txn) = self.txn.take() {
            self.release_unscanned(spool, &mut txn).await;
            self.txn = Some(txn);
        }
    }

    /// Checks the complete message and delivers it; the reply is the client's receipt.
    async fn finish_message(&mut self, mut spool: Spool) -> Reply {
        let Some(mut txn) = self.txn.take() else {
            return reply::NEED_MAIL;
        };
        let received = count_header(header_section(&spool.head), "Received");
        let (id, size) = (spool.id.clone(), spool.content_size);
        let decision = self.decide(&mut spool, &mut txn).await;
        let verdict = decision.as_ref().map(|d| d.summary.as_str());
        let reply = if received > self.ctx.config.limits.max_received_headers {
            crate::count_refusal("loop");
            reply::MAIL_LOOP
        } else if let Some(refusal) = decision.as_ref().and_then(|d| d.refusal.as_ref()) {
            crate::count_refusal(match refusal {
                super::Refusal::Dmarc(_) => "dmarc",
                super::Refusal::Spam(_) => "spam",
            });
            reply::filter_refused(refusal)
        } else if let Some(refusal) = self.check_from(&spool.head).await {
            crate::count_refusal("sender_not_allowed");
            refusal
        } else {
            self.deliver(spool, &txn, decision.as_ref()).await
        };
        log_message(&self.peer, &txn, &id, size, &reply, verdict);
        reply
    }
}

fn log_refused_chunk(peer: &std::net::SocketAddr, id: &str) {
    tracing::info!(id, %peer, "message rejected: bare CR or LF in BDAT content");
}

/// One log line per message, accepted or not.
fn log_message(
    peer: &std::net::SocketAddr,
    txn: &Transaction,
    id: &str,
    size: u64,
    reply: &Reply,
    spam: Option<&str>,
) {
    let from = txn.sender_str().unwrap_or_default();
    let to = LoggedRecipients(&txn.rcpts);
    let result = reply_line(reply);
    let spam = spam.unwrap_or("-");
    if reply.is_positive() {
        tracing::info!(id, %peer, from, to = ?to, size, result, spam, "message accepted");
    } else {
        tracing::info!(id, %peer, from, to = ?to, size, result, spam, "message rejected");
    }
}

/// The recipients as the log line lists them, `["a@x.test", "b@y.test"]`: the same text as
/// a collected `Vec<&str>`, without collecting one per message.
struct LoggedRecipients<'a>(&'a [AcceptedRcpt]);

impl fmt::Debug for LoggedRecipients<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|rcpt| rcpt.address.as_str()))
            .finish()
    }
}

/// `250 OK queued as …`, a reply as the log shows it: one allocation of the right size.
fn reply_line(reply: &Reply) -> String {
    let mut line = String::with_capacity(reply.text.len() + 6);
    // Writing to a String cannot fail.
    let _ = write!(line, "{} ", reply.code);
    line.push_str(&reply.text);
    line
}
