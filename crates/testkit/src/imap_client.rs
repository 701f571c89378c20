//! A small IMAP client for tests: tagged commands, responses with their literals inlined,
//! STARTTLS and implicit TLS.

use crate::client::{Io, insecure_client_config};
use rustls::pki_types::ServerName;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const REPLY_TIMEOUT: Duration = Duration::from_secs(20);

pub struct ImapClient {
    io: BufReader<Box<dyn Io>>,
    pub greeting: String,
    next_tag: u32,
}

impl ImapClient {
    pub async fn connect(addr: SocketAddr) -> ImapClient {
        let stream = TcpStream::connect(addr).await.expect("connect");
        ImapClient::start(Box::new(stream)).await
    }

    /// Connects with TLS from the first byte (imaps).
    pub async fn connect_tls(addr: SocketAddr) -> ImapClient {
        let stream = TcpStream::connect(addr).await.expect("connect");
        ImapClient::start(handshake(Box::new(stream)).await).await
    }

    async fn start(stream: Box<dyn Io>) -> ImapClient {
        let mut client = ImapClient {
            io: BufReader::new(stream),
            greeting: String::new(),
            next_tag: 1,
        };
        client.greeting = client.line().await;
        client
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.io.get_mut().write_all(bytes).await.expect("write");
        self.io.get_mut().flush().await.expect("flush");
    }

    /// One response line without CRLF, literals inlined (`{5}\r\nhello` stays as it is on
    /// the wire, so tests can check both). Empty when the server closed.
    pub async fn line(&mut self) -> String {
        let mut out = Vec::new();
        loop {
            let mut line = Vec::new();
            let read = tokio::time::timeout(REPLY_TIMEOUT, self.io.read_until(b'\n', &mut line));
            read.await.expect("IMAP response timed out").expect("read");
            out.extend_from_slice(&line);
            let Some(size) = literal_size(&line) else {
                break;
            };
            let mut literal = vec![0u8; size];
            let read = tokio::time::timeout(REPLY_TIMEOUT, self.io.read_exact(&mut literal));
            read.await
                .expect("literal timed out")
                .expect("read literal");
            out.extend_from_slice(&literal);
        }
        let text = String::from_utf8_lossy(&out).into_owned();
        text.strip_suffix("\r\n").unwrap_or(&text).to_owned()
    }

    /// The next tag this client will use.
    pub fn tag(&mut self) -> String {
        let tag = format!("t{}", self.next_tag);
        self.next_tag += 1;
        tag
    }

    /// Sends `command` with a fresh tag; returns every response line up to and including
    /// the tagged one.
    pub async fn cmd(&mut self, command: &str) -> Vec<String> {
        let tag = self.tag();
        self.send(format!("{tag} {command}\r\n").as_bytes()).await;
        self.until_tagged(&tag).await
    }

    /// Reads lines until the one tagged `tag`.
    pub async fn until_tagged(&mut self, tag: &str) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let line = self.line().await;
            assert!(!line.is_empty(), "connection closed before {tag} completed");
            let done = line.starts_with(&format!("{tag} "));
            lines.push(line);
            if done {
                return lines;
            }
        }
    }

    /// Sends `command`, asserts a tagged OK, returns the untagged lines.
    pub async fn ok(&mut self, command: &str) -> Vec<String> {
        let mut lines = self.cmd(command).await;
        let last = lines.pop().unwrap_or_default();
        assert!(
            last.split(' ').nth(1) == Some("OK"),
            "{command}: {last} after {lines:?}"
        );
        lines
    }

    pub async fn login(&mut self, user: &str, password: &str) {
        self.ok(&format!("LOGIN {user} {password}")).await;
    }

    /// STARTTLS and the handshake.
    pub async fn starttls(mut self) -> ImapClient {
        let lines = self.cmd("STARTTLS").await;
        let last = lines.last().cloned().unwrap_or_default();
        assert!(last.contains(" OK"), "STARTTLS: {last}");
        let greeting = self.greeting.clone();
        let tls = handshake(self.io.into_inner()).await;
        ImapClient {
            io: BufReader::new(tls),
            greeting,
            next_tag: self.next_tag,
        }
    }

    /// True when the server has closed the connection.
    pub async fn closed(&mut self) -> bool {
        let mut rest = Vec::new();
        matches!(
            tokio::time::timeout(REPLY_TIMEOUT, self.io.read_to_end(&mut rest)).await,
            Ok(Ok(_))
        )
    }
}

/// `{n}` or `~{n}` at the end of a line: a literal of n octets follows.
fn literal_size(line: &[u8]) -> Option<usize> {
    let line = line.strip_suffix(b"\r\n")?;
    let body = line.strip_suffix(b"}")?;
    let open = body.iter().rposition(|&b| b == b'{')?;
    std::str::from_utf8(&body[open + 1..]).ok()?.parse().ok()
}

async fn handshake(stream: Box<dyn Io>) -> Box<dyn Io> {
    let connector = tokio_rustls::TlsConnector::from(insecure_client_config());
    let name = ServerName::try_from("mx.example.test").unwrap();
    Box::new(
        connector
            .connect(name, stream)
            .await
            .expect("TLS handshake"),
    )
}
