//! The SMTP sender: N sessions share a counter of messages to send; each session sends
//! transaction after transaction on one connection.

use anyhow::{Context, Result, bail};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

pub struct Plan {
    pub addr: SocketAddr,
    pub sessions: usize,
    pub messages: usize,
    pub size: usize,
    pub rcpts: usize,
    pub users: usize,
    pub domain: String,
}

/// Words the bodies are made of, so a spam filter has real text to read.
const WORDS: [&str; 32] = [
    "meeting", "report", "quarter", "budget", "customer", "delivery", "schedule", "review",
    "project", "invoice", "thanks", "please", "attached", "tomorrow", "morning", "office",
    "numbers", "update", "team", "question", "answer", "version", "release", "server", "market",
    "price", "order", "account", "support", "weekly", "summary", "agenda",
];

/// A message body of about `size` bytes: headers and lines of words (a different sequence
/// per message, from a small deterministic generator).
fn body(size: usize, n: usize) -> String {
    let mut text = format!(
        "From: bench@load.test\r\nTo: users@example.test\r\nSubject: load {n}\r\n\
         Date: Sat, 28 Nov 2026 10:00:00 +0000\r\nMessage-ID: <{n}@load.test>\r\n\r\n"
    );
    let mut state = n as u64 * 2_654_435_761 + 1;
    let mut line = String::with_capacity(80);
    while text.len() + line.len() + 12 <= size {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let word = WORDS[(state >> 59) as usize];
        if line.len() + word.len() + 1 > 74 {
            text.push_str(&line);
            text.push_str("\r\n");
            line.clear();
        }
        line.push_str(word);
        line.push(' ');
    }
    text.push_str(&line);
    text.push_str("\r\n.\r\n");
    text
}

async fn reply(reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> Result<u16> {
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await? == 0 {
            bail!("connection closed");
        }
        if line.as_bytes().get(3) != Some(&b'-') {
            return line
                .get(..3)
                .and_then(|c| c.parse().ok())
                .context("bad reply");
        }
    }
}

async fn session(plan: Arc<Plan>, next: Arc<AtomicUsize>) -> Result<usize> {
    let stream = TcpStream::connect(plan.addr).await?;
    stream.set_nodelay(true)?;
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    reply(&mut reader).await?;
    write.write_all(b"EHLO load.test\r\n").await?;
    reply(&mut reader).await?;
    let mut sent = 0;
    loop {
        let n = next.fetch_add(1, Ordering::Relaxed);
        if n >= plan.messages {
            break;
        }
        // PIPELINING: the whole envelope in one write, then the replies.
        let mut envelope = String::from("MAIL FROM:<bench@load.test>\r\n");
        for r in 0..plan.rcpts {
            let user = (n * plan.rcpts + r) % plan.users + 1;
            envelope.push_str(&format!("RCPT TO:<user{user}@{}>\r\n", plan.domain));
        }
        envelope.push_str("DATA\r\n");
        write.write_all(envelope.as_bytes()).await?;
        for _ in 0..plan.rcpts + 1 {
            reply(&mut reader).await?;
        }
        let code = reply(&mut reader).await?;
        if code != 354 {
            bail!("DATA refused with {code}");
        }
        write.write_all(body(plan.size, n).as_bytes()).await?;
        let code = reply(&mut reader).await?;
        if code != 250 {
            bail!("message refused with {code}");
        }
        sent += 1;
    }
    write.write_all(b"QUIT\r\n").await?;
    Ok(sent)
}

pub async fn run(plan: Plan) -> Result<()> {
    let plan = Arc::new(plan);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..plan.sessions {
        tasks.spawn(session(plan.clone(), next.clone()));
    }
    let mut sent = 0;
    while let Some(done) = tasks.join_next().await {
        sent += done??;
    }
    let secs = started.elapsed().as_secs_f64();
    let bytes = (sent * plan.size) as f64;
    println!(
        "workload=smtp messages={sent} seconds={secs:.3} messages_per_s={:.1} mb_per_s={:.2}",
        sent as f64 / secs,
        bytes / secs / 1e6
    );
    Ok(())
}
