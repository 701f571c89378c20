//! Load generator for hermod's benchmarks (and for the baseline stack): SMTP senders, POP3
//! downloaders and IMAP clients over plain TCP on loopback. It prints one line of key=value
//! results.

mod bulk;
mod corpus;
mod fsync;
mod imap;
mod imap_big;
mod pop3;
mod sink;
mod smtp;
mod users;

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
    /// Given `--addr` more than once (several nodes), the sessions take the servers in turn.
    Smtp {
        #[arg(long, required = true)]
        addr: Vec<SocketAddr>,
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
        /// Spread the messages' Date fields over a year, out of order (for SORT).
        #[arg(long)]
        spread_dates: bool,
        /// WORD:EVERY puts WORD in every EVERYth message (for SEARCH).
        #[arg(long)]
        marker: Option<String>,
        /// Send every message to this one address instead (a list's post: `bench/lists`).
        #[arg(long, conflicts_with_all = ["rcpts", "users"])]
        to: Option<String>,
    },
    /// Writes the messages `smtp` would send (same numbering and shape) as files into a
    /// Maildir folder (`cur/`, unread): a mailbox filled without a delivery agent.
    Maildir {
        #[arg(long)]
        dir: std::path::PathBuf,
        #[arg(long)]
        messages: usize,
        #[arg(long, default_value_t = 4096)]
        size: usize,
        #[arg(long)]
        spread_dates: bool,
        #[arg(long)]
        marker: Option<String>,
    },
    /// W3: every user logs in, then (timed from the moment all are logged in as well) SELECT
    /// INBOX, FETCH 1:* (BODY.PEEK[] FLAGS), LOGOUT.
    Imap {
        #[arg(long)]
        addr: SocketAddr,
        #[arg(long, default_value_t = 50)]
        users: usize,
        #[arg(long, default_value = "example.test")]
        domain: String,
        #[arg(long, default_value = "pw")]
        password: String,
    },
    /// W4 for IMAP: `connections` sessions as user1..userN, each logged in, INBOX selected
    /// and in IDLE; prints a line once all are, then holds them `seconds`.
    ImapIdle {
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
    /// W6: on one user's large INBOX, times SELECT, SEARCH BODY and TEXT for `word`, SORT
    /// (DATE) and a QRESYNC resync after `changes` flag changes by a second session.
    ImapBig {
        #[arg(long)]
        addr: SocketAddr,
        #[arg(long, default_value = "user1@example.test")]
        user: String,
        #[arg(long, default_value = "pw")]
        password: String,
        #[arg(long)]
        word: String,
        /// How many messages must match the search.
        #[arg(long)]
        expect_hits: Option<usize>,
        #[arg(long, default_value_t = 1000)]
        changes: usize,
        #[arg(long, default_value_t = 0)]
        offset: usize,
    },
    /// Every user downloads all its messages over POP3 (RETR each, QUIT without DELE).
    /// Given `--addr` more than once (several nodes), the users take the servers in turn.
    Pop3 {
        #[arg(long, required = true)]
        addr: Vec<SocketAddr>,
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
    /// Creates accounts user1..userN@domain with `password` (and the domain, when the store
    /// lacks it), one argon2 hash for all: in the embedded store of `--data-dir` (the server
    /// not running) or the PostgreSQL store at `--url`.
    #[command(alias = "pg-users")]
    Users {
        #[command(flatten)]
        store: users::StoreArgs,
        #[arg(long, default_value_t = 50)]
        users: usize,
        #[arg(long, default_value = "example.test")]
        domain: String,
        #[arg(long, default_value = "pw")]
        password: String,
    },
    /// W5's inbound bulk count without the server: the `smtp` workload's `messages` texts
    /// fingerprinted and counted by the store one after another (the embedded store of
    /// `--data-dir` with no server running, or the PostgreSQL store at `--url`), timing the
    /// fingerprints and the store's sightings apart.
    Bulk {
        #[command(flatten)]
        store: users::StoreArgs,
        #[arg(long, default_value_t = 20_000)]
        messages: usize,
        #[arg(long, default_value_t = 4096)]
        size: usize,
        #[arg(long, default_value_t = 50)]
        users: usize,
        /// `[bulk] inbound_recipients`: the count's cap.
        #[arg(long, default_value_t = 20)]
        cap: u64,
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
    Dns {
        /// DOMAIN=IP: DOMAIN's MX is mx.DOMAIN, whose A record is IP (a fake receiver on
        /// loopback for the server's relay). May be given more than once.
        #[arg(long)]
        mx: Vec<String>,
    },
    /// A receiving mail server on 127.0.0.1 that accepts everything, keeps nothing and
    /// counts the copies (recipients) it accepted; prints its address, then a line with the
    /// time each multiple of `expect` copies is reached. Serves until killed.
    Sink {
        #[arg(long)]
        expect: usize,
    },
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
    runtime.block_on(run(cli.workload))
}

async fn run(workload: Workload) -> anyhow::Result<()> {
    match workload {
        Workload::Smtp {
            addr,
            sessions,
            messages,
            size,
            rcpts,
            users,
            domain,
            spread_dates,
            marker,
            to,
        } => {
            let shape = shape(spread_dates, marker.as_deref())?;
            smtp::run(smtp::Plan {
                addrs: addr,
                sessions,
                messages,
                size,
                rcpts,
                users,
                domain,
                to,
                shape,
            })
            .await
        }
        Workload::Maildir {
            dir,
            messages,
            size,
            spread_dates,
            marker,
        } => {
            let shape = shape(spread_dates, marker.as_deref())?;
            corpus::write_maildir(&dir, messages, size, &shape)
        }
        imap @ (Workload::Imap { .. } | Workload::ImapIdle { .. } | Workload::ImapBig { .. }) => {
            run_imap(imap).await
        }
        Workload::Pop3 {
            addr,
            users,
            domain,
            password,
            bare_login,
        } => pop3::download(&addr, users, &domain, &password, bare_login).await,
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
        Workload::Users {
            store,
            users,
            domain,
            password,
        } => users::create(store.target()?, users, &domain, &password).await,
        Workload::Bulk {
            store,
            messages,
            size,
            users,
            cap,
        } => {
            bulk::run(bulk::Plan {
                target: store.target()?,
                messages,
                size,
                users,
                cap,
            })
            .await
        }
        Workload::Dns { mx } => dns(&mx).await,
        Workload::Sink { expect } => sink::run(expect).await,
    }
}

async fn run_imap(workload: Workload) -> anyhow::Result<()> {
    match workload {
        Workload::Imap {
            addr,
            users,
            domain,
            password,
        } => imap::download(addr, users, &domain, &password).await,
        Workload::ImapIdle {
            addr,
            connections,
            parallel,
            domain,
            password,
            seconds,
        } => imap::idle(addr, connections, parallel, &domain, &password, seconds).await,
        Workload::ImapBig {
            addr,
            user,
            password,
            word,
            expect_hits,
            changes,
            offset,
        } => {
            imap_big::run(imap_big::Plan {
                addr,
                user,
                password,
                word,
                expect_hits,
                changes,
                offset,
            })
            .await
        }
        _ => unreachable!("not an IMAP workload"),
    }
}

/// The fake DNS with `DOMAIN=IP` mail routes; serves until killed.
async fn dns(routes: &[String]) -> anyhow::Result<()> {
    let dns = hermod_testkit::DnsServer::start().await;
    for route in routes {
        let (domain, ip) = route
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--mx {route}: expected DOMAIN=IP"))?;
        let ip: std::net::Ipv4Addr = ip.parse()?;
        let host = format!("mx.{domain}");
        dns.add_mx(domain, 10, &host);
        dns.add_a(&host, ip);
    }
    println!("{}", dns.addr());
    std::future::pending::<()>().await;
    Ok(())
}

fn shape(spread_dates: bool, marker: Option<&str>) -> anyhow::Result<corpus::Shape> {
    Ok(corpus::Shape {
        spread_dates,
        marker: marker.map(corpus::Shape::parse_marker).transpose()?,
    })
}
