//! A fake remote mail server on 127.0.0.1:0 and a fake DNS for outbound tests.
//!
//! The MTA's answer to each recipient depends on its local part: `defer*` gets 451,
//! `reject*` gets 550, anything else 250. Every accepted message is recorded.

use hermod_core::outbound::{BoxFuture, Mx, Resolver};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

#[derive(Debug, Clone)]
pub struct ReceivedMail {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
    /// It came over STARTTLS.
    pub tls: bool,
}

pub struct FakeMta {
    pub addr: SocketAddr,
    pub received: Arc<Mutex<Vec<ReceivedMail>>>,
    accepted: Arc<std::sync::atomic::AtomicUsize>,
}

impl FakeMta {
    /// A server that offers PIPELINING.
    pub async fn start() -> FakeMta {
        FakeMta::start_with(true, None).await
    }

    /// A server without PIPELINING: the client must wait for each reply.
    pub async fn start_without_pipelining() -> FakeMta {
        FakeMta::start_with(false, None).await
    }

    /// A server that offers STARTTLS with `tls`'s certificate.
    pub async fn start_with_tls(tls: tokio_rustls::TlsAcceptor) -> FakeMta {
        FakeMta::start_with(true, Some(tls)).await
    }

    async fn start_with(pipelining: bool, tls: Option<tokio_rustls::TlsAcceptor>) -> FakeMta {
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
                let offer = Offer {
                    pipelining,
                    starttls: tls.clone(),
                };
                tokio::spawn(session(Box::new(stream), store.clone(), offer, false));
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

/// What the server offers.
#[derive(Clone)]
struct Offer {
    pipelining: bool,
    starttls: Option<tokio_rustls::TlsAcceptor>,
}

type Session = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// A connection, plain or TLS.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// One connection; after STARTTLS it goes on (boxed) on the TLS stream.
fn session(
    stream: Box<dyn Io>,
    store: Arc<Mutex<Vec<ReceivedMail>>>,
    offer: Offer,
    secure: bool,
) -> Session {
    Box::pin(async move {
        let mut lines = BufReader::new(stream);
        if !secure {
            let _ = lines
                .get_mut()
                .write_all(b"220 fake.remote.test ESMTP\r\n")
                .await;
        }
        let starttls = offer.starttls.clone().filter(|_| !secure);
        let (mut from, mut to) = (String::new(), Vec::new());
        loop {
            let mut line = String::new();
            if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            let upper = line.to_ascii_uppercase();
            if upper.starts_with("STARTTLS")
                && let Some(acceptor) = &starttls
            {
                let _ = lines.get_mut().write_all(b"220 2.0.0 go ahead\r\n").await;
                let Ok(tls) = acceptor.accept(lines.into_inner()).await else {
                    return;
                };
                return session(Box::new(tls), store, offer, true).await;
            }
            let reply = match command(
                &line,
                &upper,
                &offer,
                starttls.is_some(),
                (&mut from, &mut to),
            ) {
                Some(reply) => reply,
                None if upper.starts_with("DATA") => {
                    let _ = lines.get_mut().write_all(b"354 go ahead\r\n").await;
                    let Some(data) = read_data(&mut lines).await else {
                        return;
                    };
                    store.lock().unwrap().push(ReceivedMail {
                        from: from.clone(),
                        to: to.clone(),
                        data,
                        tls: secure,
                    });
                    "250 2.0.0 queued remotely\r\n".into()
                }
                None => {
                    let _ = lines.get_mut().write_all(b"221 bye\r\n").await;
                    return;
                }
            };
            if lines.get_mut().write_all(reply.as_bytes()).await.is_err() {
                return;
            }
        }
    })
}

async fn read_data<S: AsyncRead + Unpin>(lines: &mut BufReader<S>) -> Option<String> {
    let mut data = String::new();
    loop {
        let mut l = String::new();
        if lines.read_line(&mut l).await.unwrap_or(0) == 0 {
            return None;
        }
        if l == ".\r\n" {
            return Some(data);
        }
        data.push_str(l.strip_prefix('.').unwrap_or(&l));
    }
}

/// The reply to a command other than STARTTLS, DATA (`None`) and QUIT (`None`).
fn command(
    line: &str,
    upper: &str,
    offer: &Offer,
    starttls: bool,
    (from, to): (&mut String, &mut Vec<String>),
) -> Option<String> {
    Some(if upper.starts_with("EHLO") {
        let pipelining = if offer.pipelining {
            "250-PIPELINING\r\n"
        } else {
            ""
        };
        let tls = if starttls { "250-STARTTLS\r\n" } else { "" };
        format!("250-fake.remote.test\r\n{pipelining}{tls}250-SIZE 100000000\r\n250 8BITMIME\r\n")
    } else if upper.starts_with("MAIL FROM:") {
        *from = line[10..]
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
    } else if upper.starts_with("DATA") || upper.starts_with("QUIT") {
        return None;
    } else {
        "250 ok\r\n".into()
    })
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
