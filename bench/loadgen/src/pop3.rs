//! POP3 downloaders: every user fetches every message (RETR), then QUIT.

use anyhow::{Context, Result, bail};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::Barrier;

struct Session {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl Session {
    async fn open(addr: SocketAddr, user: &str, password: &str) -> Result<Session> {
        let (read, writer) = TcpStream::connect(addr).await?.into_split();
        let mut s = Session {
            reader: BufReader::new(read),
            writer,
        };
        s.status().await?;
        s.cmd(&format!("USER {user}")).await?;
        s.cmd(&format!("PASS {password}")).await?;
        Ok(s)
    }

    async fn status(&mut self) -> Result<String> {
        let mut line = String::new();
        self.reader.read_line(&mut line).await?;
        if !line.starts_with("+OK") {
            bail!("POP3 error: {line}");
        }
        Ok(line)
    }

    async fn cmd(&mut self, line: &str) -> Result<String> {
        self.writer
            .write_all(format!("{line}\r\n").as_bytes())
            .await?;
        self.status().await
    }

    /// Reads a multi-line body; returns its size in bytes.
    async fn body(&mut self) -> Result<usize> {
        let mut total = 0;
        let mut line = Vec::new();
        loop {
            line.clear();
            if self.reader.read_until(b'\n', &mut line).await? == 0 {
                bail!("closed inside a body");
            }
            if line == b".\r\n" {
                return Ok(total);
            }
            total += line.len();
        }
    }
}

fn login(user: usize, domain: &str, bare: bool) -> String {
    if bare {
        format!("user{user}")
    } else {
        format!("user{user}@{domain}")
    }
}

/// Logs in, waits at `ready` until every user has, then downloads everything.
async fn download_one(
    addr: SocketAddr,
    user: String,
    password: String,
    ready: Arc<Barrier>,
) -> Result<(usize, usize)> {
    let opened = Session::open(addr, &user, &password).await;
    // Wait even after a failure, or the others would wait forever.
    ready.wait().await;
    let mut s = opened?;
    let stat = s.cmd("STAT").await?;
    let count: usize = stat
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .context("STAT")?;
    // Pipeline every RETR, then read the answers in order.
    let mut all = String::new();
    for n in 1..=count {
        all.push_str(&format!("RETR {n}\r\n"));
    }
    s.writer.write_all(all.as_bytes()).await?;
    let mut bytes = 0;
    for _ in 0..count {
        s.status().await?;
        bytes += s.body().await?;
    }
    s.cmd("QUIT").await?;
    Ok((count, bytes))
}

/// Every user downloads from `addrs[user % len]` (several nodes share the users).
pub async fn download(
    addrs: &[SocketAddr],
    users: usize,
    domain: &str,
    password: &str,
    bare: bool,
) -> Result<()> {
    let started = Instant::now();
    let ready = Arc::new(Barrier::new(users + 1));
    let mut tasks = tokio::task::JoinSet::new();
    for u in 1..=users {
        tasks.spawn(download_one(
            addrs[u % addrs.len()],
            login(u, domain, bare),
            password.to_owned(),
            ready.clone(),
        ));
    }
    ready.wait().await;
    let logged_in = started.elapsed().as_secs_f64();
    let (mut messages, mut bytes) = (0, 0);
    while let Some(done) = tasks.join_next().await {
        let (m, b) = done??;
        messages += m;
        bytes += b;
    }
    let secs = started.elapsed().as_secs_f64();
    let download = secs - logged_in;
    // Logging in is the password hash's work (the same argon2id hash on every server under
    // test), so the download alone is reported as well.
    println!(
        "workload=pop3 messages={messages} seconds={secs:.3} messages_per_s={:.1} mb_per_s={:.2} \
         login_seconds={logged_in:.3} download_seconds={download:.3} download_messages_per_s={:.1}",
        messages as f64 / secs,
        bytes as f64 / secs / 1e6,
        messages as f64 / download,
    );
    Ok(())
}

/// `connections` logged-in, idle sessions: connection `c` logs in as `user{c+1}` (POP3
/// allows one session per maildrop, so there must be as many users). Logs in `parallel` at a
/// time, prints its line once every session is logged in, then holds them `seconds`.
pub async fn idle(
    addr: SocketAddr,
    connections: usize,
    parallel: usize,
    domain: &str,
    password: &str,
    seconds: u64,
) -> Result<()> {
    let started = Instant::now();
    let mut opening = tokio::task::JoinSet::new();
    let mut held = Vec::with_capacity(connections);
    for c in 0..connections {
        if opening.len() >= parallel.max(1)
            && let Some(done) = opening.join_next().await
        {
            held.push(done??);
        }
        let (user, password) = (login(c + 1, domain, false), password.to_owned());
        opening.spawn(async move { Session::open(addr, &user, &password).await });
    }
    while let Some(done) = opening.join_next().await {
        held.push(done??);
    }
    println!(
        "workload=idle connections={} login_seconds={:.3}",
        held.len(),
        started.elapsed().as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    Ok(())
}
