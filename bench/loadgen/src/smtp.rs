//! The SMTP sender: N sessions share a counter of messages to send; each session sends
//! transaction after transaction on one connection.

use crate::corpus::{Shape, message};
use anyhow::{Context, Result, bail};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

pub struct Plan {
    /// The servers; session i uses `addrs[i % len]`.
    pub addrs: Vec<SocketAddr>,
    pub sessions: usize,
    pub messages: usize,
    pub size: usize,
    pub rcpts: usize,
    pub users: usize,
    pub domain: String,
    /// One address every message goes to (then `rcpts` and `users` do not apply).
    pub to: Option<String>,
    pub shape: Shape,
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

async fn session(plan: Arc<Plan>, addr: SocketAddr, next: Arc<AtomicUsize>) -> Result<usize> {
    let stream = TcpStream::connect(addr).await?;
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
        let recipients = match &plan.to {
            Some(to) => vec![to.clone()],
            None => (0..plan.rcpts)
                .map(|r| (n * plan.rcpts + r) % plan.users + 1)
                .map(|user| format!("user{user}@{}", plan.domain))
                .collect(),
        };
        for rcpt in &recipients {
            envelope.push_str(&format!("RCPT TO:<{rcpt}>\r\n"));
        }
        envelope.push_str("DATA\r\n");
        write.write_all(envelope.as_bytes()).await?;
        for _ in 0..recipients.len() + 1 {
            reply(&mut reader).await?;
        }
        let code = reply(&mut reader).await?;
        if code != 354 {
            bail!("DATA refused with {code}");
        }
        let mut body = message(plan.size, n, &plan.shape);
        body.push_str(".\r\n");
        write.write_all(body.as_bytes()).await?;
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
    for i in 0..plan.sessions {
        let addr = plan.addrs[i % plan.addrs.len()];
        tasks.spawn(session(plan.clone(), addr, next.clone()));
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
