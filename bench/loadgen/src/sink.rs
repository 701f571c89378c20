//! A receiving mail server for `bench/lists`: it takes every message offered on loopback
//! (PIPELINING, no TLS), keeps nothing, and counts the copies it accepted: one per recipient
//! of each message whose DATA it answered with 250. A list's remote copies are "handed over"
//! when this count reaches the list's remote members, whichever server sent them (hermod
//! one recipient per message with VERP, Postfix up to 50 per message).
//!
//! It prints its address, then a line `workload=sink copies=N at=UNIX_SECONDS` each time the
//! count reaches a multiple of `expect` (one post's remote copies), and on standard error
//! the count once a second while it moves (to see how far a stalled run got).

use anyhow::Result;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

pub async fn run(expect: usize) -> Result<()> {
    anyhow::ensure!(expect > 0, "--expect must be at least 1");
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    println!("{}", listener.local_addr()?);
    let copies = Arc::new(AtomicUsize::new(0));
    tokio::spawn(progress(copies.clone()));
    serve(listener, copies, expect).await
}

async fn serve(listener: TcpListener, copies: Arc<AtomicUsize>, expect: usize) -> Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let copies = copies.clone();
        tokio::spawn(async move {
            // A client that goes away mid-session is its own problem: nothing to report.
            let _ = session(stream, &copies, expect).await;
        });
    }
}

async fn progress(copies: Arc<AtomicUsize>) {
    let mut shown = 0;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = copies.load(Ordering::Relaxed);
        if now != shown {
            eprintln!("sink copies={now}");
            shown = now;
        }
    }
}

/// Counts `accepted` more copies and announces each multiple of `expect` reached.
fn count(copies: &AtomicUsize, accepted: usize, expect: usize) {
    let before = copies.fetch_add(accepted, Ordering::Relaxed);
    let after = before + accepted;
    if after / expect > before / expect {
        let at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        println!("workload=sink copies={after} at={at:.6}");
    }
}

/// One connection. Replies are gathered and written when the client has nothing more
/// buffered, as a server offering PIPELINING should answer a pipelined group.
async fn session(stream: TcpStream, copies: &AtomicUsize, expect: usize) -> Result<()> {
    stream.set_nodelay(true)?;
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    write.write_all(b"220 sink.test ESMTP\r\n").await?;
    let mut line = Vec::with_capacity(1024);
    let mut out = Vec::with_capacity(1024);
    let mut recipients = 0;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        let verb = line
            .get(..4)
            .map(|v| v.to_ascii_uppercase())
            .unwrap_or_default();
        match verb.as_slice() {
            b"EHLO" => out.extend_from_slice(
                b"250-sink.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n\
                  250 SIZE 104857600\r\n",
            ),
            b"MAIL" | b"RSET" => {
                recipients = 0;
                out.extend_from_slice(b"250 2.1.0 ok\r\n");
            }
            b"RCPT" => {
                recipients += 1;
                out.extend_from_slice(b"250 2.1.5 ok\r\n");
            }
            b"DATA" if recipients == 0 => out.extend_from_slice(b"554 5.5.1 no recipients\r\n"),
            b"DATA" => {
                write.write_all(&out).await?;
                out.clear();
                write.write_all(b"354 go ahead\r\n").await?;
                skip_data(&mut reader, &mut line).await?;
                count(copies, recipients, expect);
                recipients = 0;
                out.extend_from_slice(b"250 2.0.0 accepted\r\n");
            }
            b"QUIT" => {
                out.extend_from_slice(b"221 2.0.0 bye\r\n");
                write.write_all(&out).await?;
                return Ok(());
            }
            _ => out.extend_from_slice(b"250 2.0.0 ok\r\n"),
        }
        if reader.buffer().is_empty() {
            write.write_all(&out).await?;
            out.clear();
        }
    }
}

/// Reads the message up to its terminating `.` line, keeping nothing.
async fn skip_data(
    reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    line: &mut Vec<u8>,
) -> Result<()> {
    loop {
        line.clear();
        if reader.read_until(b'\n', line).await? == 0 {
            anyhow::bail!("connection closed inside DATA");
        }
        if line.as_slice() == b".\r\n" {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads replies until one without a continuation mark; returns its code.
    async fn reply(reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> String {
        let mut line = String::new();
        loop {
            line.clear();
            reader.read_line(&mut line).await.unwrap();
            if line.as_bytes().get(3) != Some(&b'-') {
                return line[..3].to_owned();
            }
        }
    }

    #[tokio::test]
    async fn counts_the_recipients_of_accepted_messages() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let copies = Arc::new(AtomicUsize::new(0));
        tokio::spawn(serve(listener, copies.clone(), 2));
        let stream = TcpStream::connect(addr).await.unwrap();
        let (read, mut write) = stream.into_split();
        let mut reader = BufReader::new(read);
        assert_eq!(reply(&mut reader).await, "220");
        // A pipelined envelope, then a body whose dot-stuffed line must not end it.
        let envelope = "EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<x@r.test>\r\n\
                        RCPT TO:<y@r.test>\r\nDATA\r\n";
        write.write_all(envelope.as_bytes()).await.unwrap();
        for expected in ["250", "250", "250", "250", "354"] {
            assert_eq!(reply(&mut reader).await, expected);
        }
        write
            .write_all(b"Subject: t\r\n\r\n..\r\nbody\r\n.\r\n")
            .await
            .unwrap();
        assert_eq!(reply(&mut reader).await, "250");
        // A transaction without recipients counts nothing.
        write
            .write_all(b"MAIL FROM:<a@b.test>\r\nDATA\r\nQUIT\r\n")
            .await
            .unwrap();
        for expected in ["250", "554", "221"] {
            assert_eq!(reply(&mut reader).await, expected);
        }
        assert_eq!(copies.load(Ordering::Relaxed), 2);
    }
}
