//! A small ManageSieve client for tests: whole responses (with server literals read), STARTTLS
//! and AUTHENTICATE PLAIN.

use crate::client::{Io, insecure_client_config};
use base64::Engine;
use rustls::pki_types::ServerName;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const TIMEOUT: Duration = Duration::from_secs(20);

/// One response: the data lines, then the `OK`/`NO`/`BYE` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SieveResponse {
    /// Each line with any literal it carried read in place (a literal's octets, lossily).
    pub lines: Vec<String>,
    /// The status line, its text literal (if any) read in place; empty if the server closed.
    pub status: String,
}

impl SieveResponse {
    pub fn is_ok(&self) -> bool {
        self.status.starts_with("OK")
    }

    /// Whether a capability line `"NAME"...` is present; its value when it has one.
    pub fn capability(&self, name: &str) -> Option<String> {
        let quoted = format!("\"{name}\"");
        let line = self.lines.iter().find(|l| l.starts_with(&quoted))?;
        let rest = line[quoted.len()..].trim();
        Some(rest.trim_matches('"').to_owned())
    }
}

pub struct SieveClient {
    io: BufReader<Box<dyn Io>>,
    /// The capabilities and `OK` the server greeted with.
    pub greeting: SieveResponse,
}

impl SieveClient {
    pub async fn connect(addr: SocketAddr) -> SieveClient {
        let stream = TcpStream::connect(addr).await.expect("connect");
        let mut client = SieveClient {
            io: BufReader::new(Box::new(stream)),
            greeting: SieveResponse {
                lines: vec![],
                status: String::new(),
            },
        };
        client.greeting = client.response().await;
        client
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.io.get_mut().write_all(bytes).await.expect("write");
        self.io.get_mut().flush().await.expect("flush");
    }

    /// One line as sent, without CRLF; empty when the server closed.
    async fn raw_line(&mut self) -> Vec<u8> {
        let mut line = Vec::new();
        let read = tokio::time::timeout(TIMEOUT, self.io.read_until(b'\n', &mut line)).await;
        read.expect("ManageSieve response timed out").expect("read");
        while line.last().is_some_and(|&b| b == b'\n' || b == b'\r') {
            line.pop();
        }
        line
    }

    /// A line with the literals it announces (`{n}` at its end) read in place, and whether
    /// it is a status line (told by its first physical line: a literal may hold anything).
    async fn logical_line(&mut self) -> (bool, Vec<u8>) {
        let mut line = self.raw_line().await;
        let status = ["OK", "NO", "BYE"].iter().any(|s| {
            line.len() >= s.len()
                && line[..s.len()].eq_ignore_ascii_case(s.as_bytes())
                && matches!(line.get(s.len()), None | Some(b' '))
        });
        while let Some(size) = announced(&line) {
            let open = line.iter().rposition(|&b| b == b'{').expect("brace");
            line.truncate(open);
            let mut literal = vec![0; size];
            let read = tokio::time::timeout(TIMEOUT, self.io.read_exact(&mut literal)).await;
            read.expect("literal timed out").expect("read literal");
            line.extend_from_slice(&literal);
            line.extend(self.raw_line().await);
        }
        (status, line)
    }

    /// Reads lines up to and including the status line (or until the server closes).
    pub async fn response(&mut self) -> SieveResponse {
        let mut lines = Vec::new();
        loop {
            let (status, line) = self.logical_line().await;
            let line = String::from_utf8_lossy(&line).into_owned();
            if status || line.is_empty() && lines.is_empty() {
                return SieveResponse {
                    lines,
                    status: line,
                };
            }
            lines.push(line);
        }
    }

    /// One line (literals read in place), such as a SASL challenge.
    pub async fn line(&mut self) -> String {
        String::from_utf8_lossy(&self.logical_line().await.1).into_owned()
    }

    pub async fn cmd(&mut self, line: &str) -> SieveResponse {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.response().await
    }

    /// `AUTHENTICATE "PLAIN"` with an initial response.
    pub async fn login(&mut self, user: &str, password: &str) -> SieveResponse {
        let creds =
            base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"));
        self.cmd(&format!("AUTHENTICATE \"PLAIN\" \"{creds}\""))
            .await
    }

    /// STARTTLS, the handshake, and the capabilities the server sends again.
    pub async fn starttls(mut self) -> SieveClient {
        self.send(b"STARTTLS\r\n").await;
        self.starttls_after_command().await
    }

    /// Reads the answer to a STARTTLS already sent, then does the handshake.
    pub async fn starttls_after_command(mut self) -> SieveClient {
        let r = self.response().await;
        assert!(r.is_ok(), "STARTTLS: {r:?}");
        let connector = tokio_rustls::TlsConnector::from(insecure_client_config());
        let name = ServerName::try_from("mx.example.test").unwrap();
        let tls = connector
            .connect(name, self.io.into_inner())
            .await
            .expect("TLS handshake");
        let mut client = SieveClient {
            io: BufReader::new(Box::new(tls)),
            greeting: self.greeting,
        };
        client.greeting = client.response().await;
        client
    }

    /// True when the server has closed the connection.
    pub async fn closed(&mut self) -> bool {
        let mut byte = [0u8; 1];
        matches!(
            tokio::time::timeout(TIMEOUT, self.io.read(&mut byte)).await,
            Ok(Ok(0))
        )
    }
}

fn announced(line: &[u8]) -> Option<usize> {
    let inner = line.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|&b| b == b'{')?;
    std::str::from_utf8(&inner[open + 1..]).ok()?.parse().ok()
}
