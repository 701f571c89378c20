//! Load generator for hermod's benchmarks (and for the baseline stack): SMTP senders and
//! POP3 downloaders over plain TCP on loopback. It prints one line of key=value results.

mod fsync;
mod pop3;
mod smtp;

use clap::{Parser, Subcommand};
use std::net::SocketAddr;

#[derive(Parser)]
#[command(about = "hermod benchmark load generator (loopback only)")]
struct Cli {
    #[command(subcommand)]
    workload: Workload,
}

#[derive(Subcommand)]
enum Workload {
    /// Send `messages` messages of `size` bytes from `sessions` concurrent SMTP sessions,
    /// each to `rcpts` recipients picked round-robin among user1..userN@domain.
    Smtp {
        #[arg(long)]
        addr: SocketAddr,
        #[arg(long, default_value_t = 32)]
        sessions: usize,
        #[arg(long, default_value_t = 20_000)]
        messages: usize,
        #[arg(long, default_value_t = 4096)]
        size: usize,
        #[arg(long, default_value_t = 1)]
        rcpts: usize,
        #[arg(long, default_value_t = 50)]
        users: usize,
        #[arg(long, default_value = "example.test")]
        domain: String,
    },
    /// Every user downloads all its messages over POP3 (RETR each, QUIT without DELE).
    Pop3 {
        #[arg(long)]
        addr: SocketAddr,
        #[arg(long, default_value_t = 50)]
        users: usize,
        #[arg(long, default_value = "example.test")]
        domain: String,
        #[arg(long, default_value = "pw")]
        password: String,
        /// Log in as `userN` instead of `userN@domain`.
        #[arg(long)]
        bare_login: bool,
    },
    /// How many fsyncs/s this disk gives `writers` threads, each writing 4 KiB files.
    Fsync {
        #[arg(long)]
        dir: std::path::PathBuf,
        #[arg(long, default_value_t = 32)]
        writers: usize,
        #[arg(long, default_value_t = 5)]
        seconds: u64,
    },
    /// A DNS server on loopback answering NXDOMAIN to everything, for the server under test
    /// (its SPF, DKIM and reverse-DNS lookups stay on this machine). Prints its address,
    /// serves until killed.
    Dns,
    /// Open `connections` POP3 sessions as user1..userN, log each in (`parallel` at a time),
    /// print a line once all are logged in, then hold them `seconds`.
    Idle {
        #[arg(long)]
        addr: SocketAddr,
        #[arg(long, default_value_t = 1000)]
        connections: usize,
        #[arg(long, default_value_t = 8)]
        parallel: usize,
        #[arg(long, default_value = "example.test")]
        domain: String,
        #[arg(long, default_value = "pw")]
        password: String,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        match cli.workload {
            Workload::Smtp {
                addr,
                sessions,
                messages,
                size,
                rcpts,
                users,
                domain,
            } => {
                smtp::run(smtp::Plan {
                    addr,
                    sessions,
                    messages,
                    size,
                    rcpts,
                    users,
                    domain,
                })
                .await
            }
            Workload::Pop3 {
                addr,
                users,
                domain,
                password,
                bare_login,
            } => pop3::download(addr, users, &domain, &password, bare_login).await,
            Workload::Idle {
                addr,
                connections,
                parallel,
                domain,
                password,
                seconds,
            } => pop3::idle(addr, connections, parallel, &domain, &password, seconds).await,
            Workload::Fsync {
                dir,
                writers,
                seconds,
            } => fsync::run(&dir, writers, seconds),
            Workload::Dns => {
                let dns = hermod_testkit::DnsServer::start().await;
                println!("{}", dns.addr());
                std::future::pending::<()>().await;
                Ok(())
            }
        }
    })
}
