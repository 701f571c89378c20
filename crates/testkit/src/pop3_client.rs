//! A small POP3 client for tests: status lines, multi-line responses, STLS and implicit TLS.

use crate::client::{Io, insecure_client_config};
use rustls::pki_types::ServerName;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

pub struct Pop3Client {
    io: BufReader<Box<dyn Io>>,
    pub greeting: String,
}

impl Pop3Client {
    pub async fn connect(addr: SocketAddr) -> Pop3Client {
        let stream = TcpStream::connect(addr).await.expect("connect");
        Pop3Client::start(Box::new(stream)).await
    }

    /// Connects with TLS from the first byte (pop3s).
    pub async fn connect_tls(addr: SocketAddr) -> Pop3Client {
        let stream = TcpStream::connect(addr).await.expect("connect");
        let tls = handshake(Box::new(stream)).await;
        Pop3Client::start(tls).await
    }

    async fn start(stream: Box<dyn Io>) -> Pop3Client {
        let mut client = Pop3Client {
            io: BufReader::new(stream),
            greeting: String::new(),
        };
        client.greeting = client.line().await;
        client
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.io.get_mut().write_all(bytes).await.expect("write");
        self.io.get_mut().flush().await.expect("flush");
    }

    /// One response line without CRLF; empty when the server closed.
    pub async fn line(&mut self) -> String {
        let mut line = String::new();
        let read =
            tokio::time::timeout(Duration::from_secs(20), self.io.read_line(&mut line)).await;
        read.expect("POP3 response timed out").expect("read");
        line.trim_end_matches(['\r', '\n']).to_owned()
    }

    pub async fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.line().await
    }

    /// The raw bytes of a multi-line body up to and including the `.` line, still stuffed.
    pub async fn raw_body(&mut self) -> Vec<u8> {
        let mut body = Vec::new();
        loop {
            let mut line = Vec::new();
            let read = tokio::time::timeout(
                Duration::from_secs(20),
                self.io.read_until(b'\n', &mut line),
            )
            .await;
            assert!(
                read.expect("body timed out").expect("read") > 0,
                "closed inside a body"
            );
            body.extend_from_slice(&line);
            if line == b".\r\n" {
                return body;
            }
        }
    }

    /// A multi-line response's lines, unstuffed, without the terminator.
    pub async fn lines(&mut self) -> Vec<String> {
        let body = self.raw_body().await;
        let text = String::from_utf8_lossy(&body[..body.len() - 3]).into_owned();
        text.split_terminator("\r\n")
            .map(|l| l.strip_prefix('.').unwrap_or(l).to_owned())
            .collect()
    }

    /// A message as RETR sent it, unstuffed, CRLF kept.
    pub async fn message(&mut self) -> Vec<u8> {
        let body = self.raw_body().await;
        let mut out = Vec::new();
        for line in body[..body.len() - 3].split_inclusive(|&b| b == b'\n') {
            out.extend_from_slice(line.strip_prefix(b".").unwrap_or(line));
        }
        out
    }

    pub async fn login(&mut self, user: &str, password: &str) -> String {
        let r = self.cmd(&format!("USER {user}")).await;
        assert!(r.starts_with("+OK"), "USER: {r}");
        self.cmd(&format!("PASS {password}")).await
    }

    /// STLS and the handshake.
    pub async fn stls(mut self) -> Pop3Client {
        self.send(b"STLS\r\n").await;
        self.stls_after_reply().await
    }

    /// Reads the reply to an STLS already sent, then does the handshake.
    pub async fn stls_after_reply(mut self) -> Pop3Client {
        let r = self.line().await;
        assert!(r.starts_with("+OK"), "STLS: {r}");
        let greeting = self.greeting.clone();
        let tls = handshake(self.io.into_inner()).await;
        Pop3Client {
            io: BufReader::new(tls),
            greeting,
        }
    }

    /// True when the server has closed the connection.
    pub async fn closed(&mut self) -> bool {
        let mut byte = [0u8; 1];
        matches!(
            tokio::time::timeout(Duration::from_secs(20), self.io.read(&mut byte)).await,
            Ok(Ok(0))
        )
    }
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
