//! A fake remote mail server on 127.0.0.1:0 and a fake DNS for outbound tests.
//!
//! The MTA's answer to each recipient depends on its local part: `defer*` gets 451,
//! `reject*` gets 550, anything else 250. Every accepted message is recorded.

use hermod_core::outbound::{BoxFuture, Mx, Resolver};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

#[derive(Debug, Clone)]
pub struct ReceivedMail {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
}

pub struct FakeMta {
    pub addr: SocketAddr,
    pub received: Arc<Mutex<Vec<ReceivedMail>>>,
    accepted: Arc<std::sync::atomic::AtomicUsize>,
}

impl FakeMta {
    /// A server that offers PIPELINING.
    pub async fn start() -> FakeMta {
        FakeMta::start_with(true).await
    }

    /// A server without PIPELINING: the client must wait for each reply.
    pub async fn start_without_pipelining() -> FakeMta {
        FakeMta::start_with(false).await
    }

    async fn start_with(pipelining: bool) -> FakeMta {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake MTA");
        let addr = listener.local_addr().unwrap();
        let received: Arc<Mutex<Vec<ReceivedMail>>> = Arc::default();
        let store = received.clone();
        let accepted: Arc<std::sync::atomic::AtomicUsize> = Arc::default();
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tokio::spawn(session(stream, store.clone(), pipelining));
            }
        });
        FakeMta {
            addr,
            received,
            accepted,
        }
    }

    /// How many connections the server has accepted.
    pub fn connections(&self) -> usize {
        self.accepted.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn messages(&self) -> Vec<ReceivedMail> {
        self.received.lock().unwrap().clone()
    }
}

fn answer(rcpt: &str) -> &'static str {
    let local = rcpt.trim_start_matches('<').split('@').next().unwrap_or("");
    if local.starts_with("defer") {
        "451 4.3.0 try again later\r\n"
    } else if local.starts_with("reject") {
        "550 5.1.1 no such user here\r\n"
    } else {
        "250 2.1.5 ok\r\n"
    }
}

async fn session(
    stream: tokio::net::TcpStream,
    store: Arc<Mutex<Vec<ReceivedMail>>>,
    pipelining: bool,
) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    let _ = write.write_all(b"220 fake.remote.test ESMTP\r\n").await;
    let (mut from, mut to) = (String::new(), Vec::new());
    loop {
        let mut line = String::new();
        if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let upper = line.to_ascii_uppercase();
        let reply: String = if upper.starts_with("EHLO") {
            let pipelining = if pipelining { "250-PIPELINING\r\n" } else { "" };
            format!("250-fake.remote.test\r\n{pipelining}250-SIZE 100000000\r\n250 8BITMIME\r\n")
        } else if upper.starts_with("MAIL FROM:") {
            from = line[10..]
                .trim()
                .split(' ')
                .next()
                .unwrap_or("")
                .trim_matches(['<', '>'])
                .to_owned();
            to.clear();
            "250 2.1.0 ok\r\n".into()
        } else if upper.starts_with("RCPT TO:") {
            let rcpt = line[8..].trim().trim_matches(['<', '>']).to_owned();
            let reply = answer(&rcpt);
            if reply.starts_with("250") {
                to.push(rcpt);
            }
            reply.into()
        } else if upper.starts_with("DATA") {
            let _ = write.write_all(b"354 go ahead\r\n").await;
            let mut data = String::new();
            loop {
                let mut l = String::new();
                if lines.read_line(&mut l).await.unwrap_or(0) == 0 {
                    return;
                }
                if l == ".\r\n" {
                    break;
                }
                data.push_str(l.strip_prefix('.').unwrap_or(&l));
            }
            store.lock().unwrap().push(ReceivedMail {
                from: from.clone(),
                to: to.clone(),
                data,
            });
            "250 2.0.0 queued remotely\r\n".into()
        } else if upper.starts_with("QUIT") {
            let _ = write.write_all(b"221 bye\r\n").await;
            return;
        } else {
            "250 ok\r\n".into()
        };
        if write.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// DNS for tests: every domain's MX is `mx.<domain>`, which is 127.0.0.1; a domain that
/// starts with `nullmx.` publishes a null MX; one that starts with `nomx.` has no MX.
pub struct FakeDns;

impl Resolver for FakeDns {
    fn mx<'a>(&'a self, domain: &'a str) -> BoxFuture<'a, Result<Mx, String>> {
        Box::pin(async move {
            Ok(if domain.starts_with("nullmx.") {
                Mx::Null
            } else if domain.starts_with("nomx.") {
                Mx::None
            } else {
                Mx::Hosts(vec![format!("mx.{domain}")])
            })
        })
    }

    fn ips<'a>(&'a self, _host: &'a str) -> BoxFuture<'a, Result<Vec<IpAddr>, String>> {
        Box::pin(async { Ok(vec![IpAddr::from([127, 0, 0, 1])]) })
    }
}
