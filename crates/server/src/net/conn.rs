//! A client connection: the byte stream (plain or TLS, swapped in place by STARTTLS), an input
//! buffer the protocol codecs consume from, and an output buffer flushed before each read so
//! pipelined replies go out together.

use crate::net::deflate::Deflate;
use crate::net::shutdown::Shutdown;
use crate::reply::Reply;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// Size of one read while data flows; also the most a client can make us buffer beyond a
/// protocol limit.
const READ_CHUNK: usize = 16 * 1024;
/// What an idle connection keeps for its next command: idle sessions are most sessions.
const IDLE_BUFFER: usize = 2 * 1024;
/// The output buffer's first size: a greeting or an EHLO reply fits.
const OUTPUT_START: usize = 256;

pub(crate) enum Stream<S> {
    Plain(S),
    Tls(Box<TlsStream<S>>),
    /// Our side of an outbound connection after STARTTLS.
    ClientTls(Box<tokio_rustls::client::TlsStream<S>>),
    /// Only while STARTTLS swaps the stream, or after a failed handshake.
    Gone,
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Stream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_read(cx, buf),
            Stream::ClientTls(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Gone => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Stream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_write(cx, buf),
            Stream::ClientTls(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Gone => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s).poll_flush(cx),
            Stream::ClientTls(s) => Pin::new(s).poll_flush(cx),
            Stream::Gone => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s).poll_shutdown(cx),
            Stream::ClientTls(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Gone => Poll::Ready(Ok(())),
        }
    }
}

/// What waiting for input produced.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Fill {
    Data,
    Eof,
    Timeout,
    Shutdown,
}

pub(crate) struct Conn<S> {
    stream: Stream<S>,
    pub input: Vec<u8>,
    output: Vec<u8>,
    shutdown: Shutdown,
    tls_version: Option<String>,
    /// The longest a TLS handshake or one flush of output may take: a client that stops
    /// reading (or never answers the handshake) is dropped instead of holding its session.
    io_timeout: Duration,
    /// Compression (IMAP COMPRESS=DEFLATE), once started: above TLS, below the codecs.
    deflate: Option<Box<Deflate>>,
}

fn timed_out(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, format!("{what} timed out"))
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Conn<S> {
    pub fn new(stream: S, shutdown: Shutdown, io_timeout: Duration) -> Conn<S> {
        Conn {
            stream: Stream::Plain(stream),
            input: Vec::new(),
            // Room for the greeting and the usual replies: no regrowing as they are queued.
            output: Vec::with_capacity(OUTPUT_START),
            shutdown,
            tls_version: None,
            io_timeout,
            deflate: None,
        }
    }

    /// Like [`Conn::fill`], but waits no later than `deadline`: a whole command line or a
    /// whole message must arrive in time, not merely each of its bytes.
    pub async fn fill_by(
        &mut self,
        deadline: tokio::time::Instant,
        interruptible: bool,
    ) -> io::Result<Fill> {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        self.fill(left, interruptible).await
    }

    /// Reads more input, flushing queued replies first. While `interruptible`, a server
    /// shutdown ends the wait (between commands); inside a transaction it does not.
    pub async fn fill(&mut self, timeout: Duration, interruptible: bool) -> io::Result<Fill> {
        self.flush().await?;
        // Compressed input already read may hold more than one step inflated.
        if let Some(z) = self.deflate.as_mut()
            && z.inflate_into(&mut self.input)? > 0
        {
            return Ok(Fill::Data);
        }
        if self.input.is_empty() && interruptible {
            // Between commands: give back what a burst of data grew the buffer to.
            self.input.shrink_to(IDLE_BUFFER);
            self.input.reserve(IDLE_BUFFER);
        } else {
            self.input.reserve(READ_CHUNK);
        }
        let into = match self.deflate.as_mut() {
            Some(z) => {
                z.raw.reserve(READ_CHUNK);
                &mut z.raw
            }
            None => &mut self.input,
        };
        let read = self.stream.read_buf(into);
        let filled = tokio::select! {
            // Input first: data already there wins over a zero timeout (pregreet checks).
            biased;
            n = read => if n? == 0 { Fill::Eof } else { Fill::Data },
            _ = tokio::time::sleep(timeout) => Fill::Timeout,
            _ = self.shutdown.wait(), if interruptible => Fill::Shutdown,
        };
        if let (Fill::Data, Some(z)) = (&filled, self.deflate.as_mut()) {
            // Possibly nothing yet (a block cut short): the caller reads again.
            z.inflate_into(&mut self.input)?;
        }
        Ok(filled)
    }

    /// Compresses everything after this in both directions (RFC 4978), once the reply that
    /// agreed to it has gone out as it was. Input the client sent after the command was
    /// compressed already (it may only send after the agreement).
    pub async fn start_deflate(&mut self) -> io::Result<()> {
        self.flush().await?;
        let mut z = Box::new(Deflate::new());
        z.raw = std::mem::take(&mut self.input);
        z.inflate_into(&mut self.input)?;
        self.deflate = Some(z);
        Ok(())
    }

    pub fn deflating(&self) -> bool {
        self.deflate.is_some()
    }

    pub fn queue(&mut self, reply: &Reply) {
        reply.render(&mut self.output);
    }

    /// The output buffer, for codecs that render straight into it.
    pub fn output(&mut self) -> &mut Vec<u8> {
        &mut self.output
    }

    /// Sends what is queued once it is large, so a big response streams out in pieces.
    pub async fn flush_if_large(&mut self) -> io::Result<()> {
        if self.output.len() >= 256 * 1024 {
            self.flush().await?;
        }
        Ok(())
    }

    /// Closes after sending whatever is queued.
    pub async fn close(&mut self) {
        let _ = self.flush().await;
        let _ = tokio::time::timeout(self.io_timeout, self.stream.shutdown()).await;
    }

    pub async fn flush(&mut self) -> io::Result<()> {
        if !self.output.is_empty() {
            let wire = match self.deflate.as_mut() {
                Some(z) => {
                    z.deflate(&self.output)?;
                    &z.wire
                }
                None => &self.output,
            };
            let write = async {
                self.stream.write_all(wire).await?;
                self.stream.flush().await
            };
            tokio::time::timeout(self.io_timeout, write)
                .await
                .map_err(|_| timed_out("writing to the client"))??;
            self.output.clear();
        }
        Ok(())
    }

    /// Sends one last reply and closes; errors no longer matter then.
    pub async fn close_with(&mut self, reply: &Reply) {
        self.queue(reply);
        self.close().await;
    }

    /// RFC 3207 4.2: whatever the client sent after STARTTLS, before the handshake, is
    /// discarded; it could otherwise be injected into the protected session.
    pub async fn start_tls(&mut self, acceptor: &TlsAcceptor) -> io::Result<()> {
        self.flush().await?;
        self.input.clear();
        let Stream::Plain(plain) = std::mem::replace(&mut self.stream, Stream::Gone) else {
            return Err(io::Error::other("TLS is already active"));
        };
        let tls = tokio::time::timeout(self.io_timeout, acceptor.accept(plain))
            .await
            .map_err(|_| timed_out("the TLS handshake"))??;
        let (_, session) = tls.get_ref();
        self.tls_version = Some(format!(
            "{} with {}",
            session
                .protocol_version()
                .map_or("TLS".into(), |v| format!("{v:?}")),
            session
                .negotiated_cipher_suite()
                .map_or("?".into(), |c| format!("{:?}", c.suite()))
        ));
        self.stream = Stream::Tls(Box::new(tls));
        Ok(())
    }

    /// "TLSv1_3 with TLS13_AES_256_GCM_SHA384" once TLS is on.
    pub fn tls(&self) -> Option<&str> {
        self.tls_version.as_deref()
    }
}
