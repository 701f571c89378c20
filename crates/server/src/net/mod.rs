//! Shared networking: the listening sockets, TLS, a connection's byte stream and buffers,
//! connection caps, and the shutdown signal. Protocols build on these; none of this knows a
//! protocol.

pub(crate) mod conn;
pub(crate) mod deflate;
pub(crate) mod limits;
pub mod shutdown;
pub mod tls;
pub mod x509;

use crate::ServerError;
use hermod_config::Config;
use std::net::SocketAddr;
use tokio::net::TcpListener;

/// The services of the `[listen]` section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Smtp,
    Submission,
    Submissions,
    Pop3,
    Pop3s,
    Imap,
    Imaps,
    ManageSieve,
    /// Autoconfiguration and MTA-STS, plain and over TLS.
    Http,
    Https,
    /// Prometheus metrics.
    Metrics,
}

impl Service {
    pub fn name(self) -> &'static str {
        match self {
            Service::Smtp => "smtp",
            Service::Submission => "submission",
            Service::Submissions => "submissions",
            Service::Pop3 => "pop3",
            Service::Pop3s => "pop3s",
            Service::Imap => "imap",
            Service::Imaps => "imaps",
            Service::ManageSieve => "managesieve",
            Service::Http => "http",
            Service::Https => "https",
            Service::Metrics => "metrics",
        }
    }

    /// TLS from the first byte (RFC 8314) rather than after STARTTLS/STLS.
    pub(crate) fn implicit_tls(self) -> bool {
        matches!(
            self,
            Service::Submissions | Service::Pop3s | Service::Imaps | Service::Https
        )
    }

    /// Served by `http`, not by a mail protocol session.
    pub(crate) fn is_web(self) -> bool {
        matches!(self, Service::Http | Service::Https | Service::Metrics)
    }

    /// Every service with the addresses the configuration gives it.
    pub fn configured(config: &Config) -> [(Service, &Vec<SocketAddr>); 11] {
        let l = &config.listen;
        [
            (Service::Smtp, &l.smtp),
            (Service::Submission, &l.submission),
            (Service::Submissions, &l.submissions),
            (Service::Pop3, &l.pop3),
            (Service::Pop3s, &l.pop3s),
            (Service::Imap, &l.imap),
            (Service::Imaps, &l.imaps),
            (Service::ManageSieve, &l.managesieve),
            (Service::Http, &l.http),
            (Service::Https, &l.https),
            (Service::Metrics, &l.metrics),
        ]
    }
}

/// Sockets bound before privileges are dropped (ports below 1024 need root).
pub struct Listeners {
    pub(crate) bound: Vec<(Service, TcpListener)>,
}

impl Listeners {
    pub async fn bind(config: &Config) -> Result<Listeners, ServerError> {
        let mut bound = Vec::new();
        for (service, addrs) in Service::configured(config) {
            if addrs.is_empty() {
                continue;
            }
            for &addr in addrs {
                let listener = listen(addr).map_err(|source| ServerError::Bind {
                    service: service.name(),
                    addr,
                    source,
                })?;
                bound.push((service, listener));
            }
        }
        Ok(Listeners { bound })
    }

    /// The addresses actually bound (port 0 becomes the port the OS chose).
    pub fn local_addrs(&self, service: Service) -> Vec<SocketAddr> {
        let mine = self.bound.iter().filter(|(s, _)| *s == service);
        mine.filter_map(|(_, l)| l.local_addr().ok()).collect()
    }
}

/// A listening socket. IPv6 ones are IPv6-only, so `"0.0.0.0:25"` and `"[::]:25"` can be
/// listed together (on Linux a dual-stack `[::]` would take the IPv4 port as well and make
/// the second bind fail).
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    use socket2::{Domain as SocketDomain, Protocol, Socket, Type};
    let domain = if addr.is_ipv6() {
        SocketDomain::IPV6
    } else {
        SocketDomain::IPV4
    };
    let socket = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    // Replies go out as soon as they are written. Linux gives accepted sockets the
    // listener's TCP_NODELAY, which saves a system call per connection.
    socket.set_tcp_nodelay(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}
