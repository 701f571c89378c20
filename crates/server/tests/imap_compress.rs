//! COMPRESS=DEFLATE (RFC 4978) against a real listener, with a client that speaks raw
//! DEFLATE itself.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use hermod_testkit::TestServer;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const ALICE: &str = "alice@example.test";
const TIMEOUT: Duration = Duration::from_secs(20);

/// A client whose connection may switch to DEFLATE.
struct Client {
    stream: TcpStream,
    deflate: Option<(Compress, Decompress)>,
    /// Plain (inflated) input not consumed yet.
    input: Vec<u8>,
}

impl Client {
    async fn connect(server: &TestServer) -> Client {
        let stream = TcpStream::connect(server.imap.unwrap()).await.unwrap();
        let mut c = Client {
            stream,
            deflate: None,
            input: Vec::new(),
        };
        assert!(c.line().await.starts_with("* OK"));
        c
    }

    fn compress(&mut self, plain: &[u8]) -> Vec<u8> {
        let Some((z, _)) = self.deflate.as_mut() else {
            return plain.to_vec();
        };
        let mut out = Vec::with_capacity(plain.len() + 1024);
        z.compress_vec(plain, &mut out, FlushCompress::Sync)
            .unwrap();
        assert!(out.len() < out.capacity(), "one call flushed everything");
        out
    }

    async fn send(&mut self, plain: &[u8]) {
        let wire = self.compress(plain);
        self.stream.write_all(&wire).await.unwrap();
    }

    /// One line (CRLF cut off); literals are not special here.
    async fn line(&mut self) -> String {
        loop {
            if let Some(at) = self.input.windows(2).position(|w| w == b"\r\n") {
                let line: Vec<u8> = self.input.drain(..at + 2).collect();
                return String::from_utf8_lossy(&line[..at]).into_owned();
            }
            let mut raw = vec![0u8; 16 * 1024];
            let n = tokio::time::timeout(TIMEOUT, self.stream.read(&mut raw))
                .await
                .expect("a reply in time")
                .unwrap();
            assert!(
                n > 0,
                "closed; had {:?}",
                String::from_utf8_lossy(&self.input)
            );
            self.take(&raw[..n]);
        }
    }

    /// Received octets into plain input.
    fn take(&mut self, raw: &[u8]) {
        let Some((_, z)) = self.deflate.as_mut() else {
            self.input.extend_from_slice(raw);
            return;
        };
        let mut at = 0;
        while at < raw.len() {
            let mut out = Vec::with_capacity(64 * 1024);
            let before = z.total_in();
            z.decompress_vec(&raw[at..], &mut out, FlushDecompress::Sync)
                .unwrap();
            at += (z.total_in() - before) as usize;
            self.input.extend_from_slice(&out);
        }
    }

    /// Sends `tag command`, returns the lines up to the tagged one.
    async fn cmd(&mut self, tag: &str, command: &str) -> Vec<String> {
        self.send(format!("{tag} {command}\r\n").as_bytes()).await;
        let mut lines = Vec::new();
        loop {
            let line = self.line().await;
            let done = line.starts_with(&format!("{tag} "));
            lines.push(line);
            if done {
                return lines;
            }
        }
    }

    /// Switches to DEFLATE with `compress` as this side's stream; what was read after the
    /// OK line was compressed already.
    fn start_deflate(&mut self, compress: Compress) {
        self.deflate = Some((compress, Decompress::new(false)));
        let early = std::mem::take(&mut self.input);
        self.take(&early);
    }
}

async fn server() -> TestServer {
    let server = TestServer::start_imap().await;
    server.add_user(ALICE, "s3cret");
    let body = format!(
        "Subject: big\r\n\r\n{}",
        "all work and no play\r\n".repeat(5000)
    );
    server.deliver(ALICE, &body).await;
    server
}

#[tokio::test]
async fn everything_after_the_ok_is_compressed_both_ways() {
    let server = server().await;
    let mut c = Client::connect(&server).await;
    let r = c.cmd("a", "CAPABILITY").await;
    assert!(r[0].contains(" COMPRESS=DEFLATE"), "{r:?}");
    let r = c.cmd("b", "COMPRESS DEFLATE").await;
    assert!(r[0].starts_with("b BAD"), "not before login: {r:?}");
    c.cmd("c", &format!("LOGIN {ALICE} s3cret")).await;
    let r = c.cmd("d", "COMPRESS LZMA").await;
    assert!(r[0].starts_with("d BAD"), "{r:?}");
    assert_eq!(
        c.cmd("e", "COMPRESS DEFLATE").await,
        ["e OK DEFLATE active"]
    );
    c.start_deflate(Compress::new(Compression::default(), false));
    let r = c.cmd("f", "SELECT INBOX").await;
    assert!(r.iter().any(|l| l == "* 1 EXISTS"), "{r:?}");
    // A large response comes through whole, and much smaller on the wire.
    let r = c.cmd("g", "FETCH 1 BODY.PEEK[TEXT]").await;
    assert!(r[0].starts_with("* 1 FETCH (BODY[TEXT] {110000}"), "{r:?}");
    assert_eq!(
        r.len(),
        5003,
        "every line of the body, the end, the tagged OK"
    );
    let r = c.cmd("h", "COMPRESS DEFLATE").await;
    assert_eq!(r, ["h NO [COMPRESSIONACTIVE] DEFLATE is already active"]);
    // Pushed updates are compressed too.
    c.send(b"i IDLE\r\n").await;
    assert_eq!(c.line().await, "+ idling");
    server.deliver(ALICE, "Subject: two\r\n\r\nx\r\n").await;
    assert_eq!(c.line().await, "* 2 EXISTS");
    assert_eq!(c.line().await, "* 2 RECENT");
    c.send(b"DONE\r\n").await;
    assert_eq!(c.line().await, "i OK IDLE terminated");
    let r = c.cmd("j", "LOGOUT").await;
    assert!(r[0].starts_with("* BYE"), "{r:?}");
}

/// A client that compresses right after its COMPRESS command, in the same packet, is
/// understood: what follows the command is read as compressed.
#[tokio::test]
async fn input_sent_with_the_command_is_inflated() {
    let server = server().await;
    let mut c = Client::connect(&server).await;
    c.cmd("a", &format!("LOGIN {ALICE} s3cret")).await;
    let mut z = Compress::new(Compression::default(), false);
    let mut packet = b"b COMPRESS DEFLATE\r\n".to_vec();
    let mut compressed = Vec::with_capacity(1024);
    z.compress_vec(b"c NOOP\r\n", &mut compressed, FlushCompress::Sync)
        .unwrap();
    packet.extend_from_slice(&compressed);
    c.stream.write_all(&packet).await.unwrap();
    assert_eq!(c.line().await, "b OK DEFLATE active");
    c.start_deflate(z);
    assert_eq!(c.line().await, "c OK NOOP completed");
    // Garbage where DEFLATE should be ends the connection.
    c.stream
        .write_all(b"\xff\xff\xff\xffnot deflate")
        .await
        .unwrap();
    let mut rest = Vec::new();
    let read = tokio::time::timeout(TIMEOUT, c.stream.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "closed");
}
