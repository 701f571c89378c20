//! A small scripted SMTP client for tests: send lines or raw bytes, read whole replies.

use rustls::pki_types::ServerName;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// How long a test waits for a reply before failing (a hung server must not hang CI).
const REPLY_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpReply {
    pub code: u16,
    /// Each line without the code and separator.
    pub lines: Vec<String>,
}

impl SmtpReply {
    pub fn text(&self) -> String {
        self.lines.join("\n")
    }
}

pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

pub struct SmtpClient {
    io: BufReader<Box<dyn Io>>,
    pub greeting: SmtpReply,
}

impl SmtpClient {
    pub(crate) fn from_stream(stream: Box<dyn Io>) -> SmtpClient {
        SmtpClient {
            io: BufReader::new(stream),
            greeting: SmtpReply {
                code: 0,
                lines: vec![],
            },
        }
    }

    pub(crate) fn io_mut(&mut self) -> &mut BufReader<Box<dyn Io>> {
        &mut self.io
    }

    /// Connects with TLS from the first byte (submissions, RFC 8314).
    pub async fn connect_tls(addr: SocketAddr) -> SmtpClient {
        let stream = TcpStream::connect(addr).await.expect("connect");
        let connector = tokio_rustls::TlsConnector::from(insecure_client_config());
        let name = ServerName::try_from("mx.example.test").unwrap();
        let tls = connector
            .connect(name, stream)
            .await
            .expect("TLS handshake");
        let mut client = SmtpClient::from_stream(Box::new(tls));
        client.greeting = client.reply().await;
        client
    }

    pub async fn connect(addr: SocketAddr) -> SmtpClient {
        let stream = TcpStream::connect(addr).await.expect("connect");
        let mut client = SmtpClient {
            io: BufReader::new(Box::new(stream)),
            greeting: SmtpReply {
                code: 0,
                lines: vec![],
            },
        };
        client.greeting = client.reply().await;
        client
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.io.get_mut().write_all(bytes).await.expect("write");
        self.io.get_mut().flush().await.expect("flush");
    }

    /// Sends one command line (CRLF added) and reads its reply.
    pub async fn cmd(&mut self, line: &str) -> SmtpReply {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.reply().await
    }

    /// Reads one complete (possibly multi-line) reply; code 0 means the server closed.
    pub async fn reply(&mut self) -> SmtpReply {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            let read = tokio::time::timeout(REPLY_TIMEOUT, self.io.read_line(&mut line))
                .await
                .expect("reply timed out");
            if read.expect("read") == 0 {
                return SmtpReply { code: 0, lines };
            }
            let line = line.trim_end_matches(['\r', '\n']);
            assert!(line.len() >= 3, "short reply line {line:?}");
            let code: u16 = line[..3].parse().expect("reply code");
            lines.push(line.get(4..).unwrap_or("").to_owned());
            if line.as_bytes().get(3) != Some(&b'-') {
                return SmtpReply { code, lines };
            }
        }
    }

    /// SMTP AUTH PLAIN with an initial response; returns the server's reply.
    pub async fn auth_plain(&mut self, user: &str, password: &str) -> SmtpReply {
        use base64::Engine;
        let token =
            base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"));
        self.cmd(&format!("AUTH PLAIN {token}")).await
    }

    /// Runs STARTTLS and the handshake (accepting any certificate).
    pub async fn starttls(mut self) -> (SmtpClient, SmtpReply) {
        let reply = self.cmd("STARTTLS").await;
        assert_eq!(reply.code, 220, "STARTTLS refused: {reply:?}");
        self.starttls_after_reply().await
    }

    /// The TLS handshake, once the server's 220 to STARTTLS has been read.
    pub async fn starttls_after_reply(self) -> (SmtpClient, SmtpReply) {
        let greeting = self.greeting.clone();
        let stream = self.io.into_inner();
        let connector = tokio_rustls::TlsConnector::from(insecure_client_config());
        let name = ServerName::try_from("mx.example.test").unwrap();
        let tls = connector
            .connect(name, stream)
            .await
            .expect("TLS handshake");
        let client = SmtpClient {
            io: BufReader::new(Box::new(tls)),
            greeting: greeting.clone(),
        };
        (client, greeting)
    }

    /// EHLO, MAIL, RCPT..., DATA with `body` (already dot-stuffed, without the final dot).
    /// Returns the reply to the end of data.
    pub async fn send_mail(&mut self, from: &str, to: &[&str], body: &str) -> SmtpReply {
        for (line, code) in [(format!("MAIL FROM:<{from}>"), 250)] {
            let r = self.cmd(&line).await;
            assert_eq!(r.code, code, "{line}: {r:?}");
        }
        for rcpt in to {
            let r = self.cmd(&format!("RCPT TO:<{rcpt}>")).await;
            assert_eq!(r.code, 250, "RCPT {rcpt}: {r:?}");
        }
        let r = self.cmd("DATA").await;
        assert_eq!(r.code, 354, "DATA: {r:?}");
        self.send(body.as_bytes()).await;
        self.cmd(".").await
    }
}

/// Tests talk to a self-signed certificate; what they check is the protocol, not the PKI.
pub fn insecure_client_config() -> Arc<rustls::ClientConfig> {
    hermod_server::tls::opportunistic_client_config()
}
