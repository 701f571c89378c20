//! Golden transcripts: `C: ` lines are sent (CRLF added), `S: ` lines are expected replies,
//! matched by prefix so free text may vary. `C!` sends the rest with no CRLF, with `\r` and
//! `\n` escapes, for raw-byte cases. `!tls` does the TLS handshake after a STARTTLS reply.
//! `#` lines and blank lines are comments.

use crate::SmtpClient;
use std::net::SocketAddr;
use tokio::io::AsyncBufReadExt;

/// Runs the transcript at `path` against the SMTP server at `addr`; panics with the line
/// number on the first mismatch.
pub async fn run_transcript(path: &std::path::Path, addr: SocketAddr) {
    let script =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut client = Some(SmtpClient::connect_raw(addr).await);
    for (n, line) in script.lines().enumerate() {
        let at = format!("{}:{}", path.display(), n + 1);
        if line == "!tls" {
            // The reply to STARTTLS was read by the line before: do the handshake.
            let plain = client.take().expect("client");
            client = Some(plain.starttls_after_reply().await.0);
            continue;
        }
        let client = client.as_mut().expect("client");
        if let Some(sent) = line.strip_prefix("C: ") {
            client.send(format!("{sent}\r\n").as_bytes()).await;
        } else if let Some(raw) = line.strip_prefix("C! ") {
            client
                .send(raw.replace("\\r", "\r").replace("\\n", "\n").as_bytes())
                .await;
        } else if line == "S: <closed>" {
            let got = client.read_line().await;
            assert!(
                got.is_empty(),
                "{at}: expected the connection to close, got {got:?}"
            );
        } else if let Some(expected) = line.strip_prefix("S: ") {
            let got = client.read_line().await;
            assert!(
                got.starts_with(expected),
                "{at}: expected {expected:?}, got {got:?}"
            );
        } else {
            assert!(
                line.trim().is_empty() || line.starts_with('#'),
                "{at}: unknown line {line:?}"
            );
        }
    }
}

impl SmtpClient {
    /// Connects without reading the greeting (transcripts expect it themselves).
    pub async fn connect_raw(addr: SocketAddr) -> SmtpClient {
        let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        SmtpClient::from_stream(Box::new(stream))
    }

    /// One line without its CRLF; empty when the server closed.
    pub async fn read_line(&mut self) -> String {
        let mut line = String::new();
        let io = self.io_mut();
        let read =
            tokio::time::timeout(std::time::Duration::from_secs(20), io.read_line(&mut line))
                .await
                .expect("transcript line timed out");
        read.expect("read");
        line.trim_end_matches(['\r', '\n']).to_owned()
    }
}
