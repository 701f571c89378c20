//! The server: shared networking in `net` (listeners, TLS, connection state and caps,
//! shutdown), one module per protocol session (`smtp` for SMTP and submission, `pop3`,
//! `imap`, `managesieve`), the
//! relay (`outbound`), the spam filter's I/O half (`spam`), and the wiring between them.

pub mod acme;
mod http;
mod imap;
mod lists;
mod managesieve;
pub mod net;
mod outbound;
mod pop3;
pub mod reply;
pub mod selfcheck;
mod smtp;
mod spam;
mod textual;
mod web;

pub use http::{client_services, domain_records, mta_sts_policy};
pub use imap::learn::{JunkLessons, learn_junk_folder, stored_lesson};
pub use lists::list_engine;

pub use net::{Listeners, Service, shutdown, tls, x509};
pub use spam::authenticator as dns_authenticator;
pub use textual::{NotConvertible, textual};

use hermod_config::Config;
use hermod_core::Router;
use hermod_store::{Coordination, Store};
use hermod_types::Domain;
use net::conn::Conn;
use net::limits::{ConnectionLimits, Refusal};
use net::shutdown::{Shutdown, ShutdownTrigger};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {addr} ({service}): {source}")]
    Bind {
        service: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("DNS resolver: {0}")]
    Dns(String),
    #[error("spam filter: {0}")]
    Spam(String),
    #[error("sieve: {0}")]
    Sieve(String),
    #[error("web interface: {0}")]
    Web(String),
}

/// The secret of hermod's SRS addresses: the store's shared secret `srs.key` (on the embedded
/// store a file in the data directory; on PostgreSQL a row every node reads), made on first
/// start. Every node of one store must share it: a bounce may reach any node. Losing it only
/// invalidates forwarding addresses in flight.
pub async fn srs_key(store: &dyn Coordination) -> Result<hermod_core::srs::Srs, String> {
    let key = store
        .shared_secret("srs.key")
        .await
        .map_err(|e| format!("srs.key: {e}"))?;
    Ok(hermod_core::srs::Srs::new(&key))
}

/// The Sieve interpreter as `[sieve]` configures it, with the site's scripts compiled (an
/// unreadable or broken one is an error naming the file, line and column).
pub fn sieve_engine(config: &Config) -> Result<hermod_core::sieve::SieveEngine, String> {
    let read = |path: &Option<std::path::PathBuf>| -> Result<Option<Vec<u8>>, String> {
        path.as_ref()
            .map(|p| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display())))
            .transpose()
    };
    let (before, after) = (read(&config.sieve.before)?, read(&config.sieve.after)?);
    let s = &config.sieve;
    let limits = hermod_core::sieve::SieveLimits {
        max_cpu: s.max_cpu as usize,
        max_redirects: s.max_redirects as usize,
        max_replies: s.max_replies as usize,
        max_script_size: s.max_script_size as usize,
        max_scripts: s.max_scripts as usize,
    };
    hermod_core::sieve::SieveEngine::new(
        &config.hostname,
        limits,
        before.as_deref(),
        after.as_deref(),
    )
    .map_err(|e| {
        let which = if config.sieve.before.is_some() {
            "before/after"
        } else {
            "after"
        };
        format!("the site's {which} script: {e}")
    })
}

/// Counts a refused message or recipient (`hermod_messages_refused_total`).
pub(crate) fn count_refusal(reason: &'static str) {
    hermod_types::metrics::metrics()
        .messages_refused
        .inc(reason);
}

/// What every session shares.
pub(crate) struct Context {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub router: Router,
    pub tls: Option<TlsAcceptor>,
    /// `tls` for the HTTPS listener: the same certificate, and the ALPN protocols HTTP/1.1
    /// and, with ACME's TLS-ALPN-01, `acme-tls/1`.
    pub web_tls: Option<TlsAcceptor>,
    /// What email programs are told to use (autoconfiguration): the services listened on,
    /// with the ports actually bound.
    pub client_services: Vec<hermod_core::selfhost::ClientService>,
    /// The certificate behind `tls`, replaceable while the server runs.
    pub certificate: Arc<tls::CertificateHolder>,
    /// The server's hostname as a domain, for the bare `<Postmaster>` recipient.
    pub hostname_domain: Option<Domain>,
    pub throttle: hermod_core::throttle::LoginThrottle,
    /// Accounts' sending limits and the bulk guard.
    pub sending: smtp::Sending,
    /// Maildrops with a POP3 session (RFC 1939: one at a time).
    pub pop3_locks: pop3::MaildropLocks,
    /// ENVELOPE and BODYSTRUCTURE of bodies IMAP has parsed.
    pub imap_structures: imap::StructureCache,
    /// Which UIDs of each mailbox a read-write IMAP4rev1 session has seen as `\Recent`.
    pub imap_recent: imap::RecentFloors,
    /// DNS for outbound routing.
    pub resolver: Arc<dyn hermod_core::outbound::Resolver>,
    /// Wakes the queue runner when mail is queued.
    pub outbound_wake: tokio::sync::Notify,
    /// Bounds deliveries in flight, in total and per destination domain.
    pub outbound_slots: tokio::sync::Semaphore,
    pub outbound_domains: outbound::DomainSlots,
    /// Connections to other servers kept between transactions.
    pub outbound_pool: outbound::Pool,
    /// Recipient domains' MTA-STS policies, and what TLS-RPT reports of them.
    pub sts: outbound::mtasts::Sts,
    /// Which DKIM selectors' records DNS serves (a rotated key signs once it does).
    pub dkim_published: outbound::dkim::Published,
    pub tls_reports: outbound::tlsrpt::TlsReports,
    /// Lists, DNS checks, sender authentication and the Bayesian model for inbound mail.
    pub spam: spam::SpamFilter,
    /// Users' filters at delivery.
    pub sieve: hermod_core::sieve::SieveEngine,
    /// Mailing lists: posts, commands by mail, bounces.
    pub lists: hermod_core::lists::ListEngine,
    /// Wakes the ACME task to order a certificate now.
    pub acme_renew: acme::Renewal,
    /// Signs the web interface's sessions and forms.
    pub web_key: web::WebKey,
    /// The services listened on with their bound addresses, for the web dashboard.
    pub listening: Vec<(&'static str, String)>,
}

pub struct Server {
    ctx: Arc<Context>,
    listeners: Listeners,
}

impl Server {
    pub async fn new(
        config: Config,
        listeners: Listeners,
        store: Arc<dyn Store>,
    ) -> Result<Server, ServerError> {
        let resolver =
            outbound::dns::DnsResolver::new(&config.dns.nameservers).map_err(ServerError::Dns)?;
        Server::with_resolver(config, listeners, store, Arc::new(resolver)).await
    }

    /// Like [`Server::new`], with DNS answered by `resolver` (tests use a fake).
    pub async fn with_resolver(
        config: Config,
        listeners: Listeners,
        store: Arc<dyn Store>,
        resolver: Arc<dyn hermod_core::outbound::Resolver>,
    ) -> Result<Server, ServerError> {
        let (tls, certificate) = tls::server_config(&config)?;
        if config.acme.directory.is_some()
            && let Some(issued) = acme::stored(&config)
        {
            certificate.replace(issued);
        }
        let web_tls = web_tls(&config, &tls);
        let srs = srs_key(store.as_ref()).await.map_err(ServerError::Sieve)?;
        let web_key = web::web_key(store.as_ref())
            .await
            .map_err(ServerError::Web)?;
        let router = Router::new(store.clone(), config.recipient_delimiter)
            .with_srs(srs.clone())
            .with_lists(store.clone());
        let lists = list_engine(&config, store.as_ref())
            .await
            .map_err(ServerError::Spam)?;
        let hostname_domain = Domain::parse(&config.hostname).ok();
        let sending = smtp::Sending::new(&config);
        let outbound_slots = tokio::sync::Semaphore::new(config.outbound.max_concurrent);
        let per_domain = config.outbound.max_per_domain;
        let spam = spam::SpamFilter::new(&config, store.clone()).map_err(ServerError::Spam)?;
        let listening = web::listening(&listeners);
        let client_services = http::services_on(&config, |service, _| {
            listeners.local_addrs(service).first().map(|a| a.port())
        });
        let sieve = sieve_engine(&config)
            .map_err(ServerError::Sieve)?
            .with_srs(srs);
        // Counted in the store: on PostgreSQL every node sees the same failures.
        let throttle = hermod_core::throttle::LoginThrottle::new(Default::default(), store.clone());
        let sts = outbound::mtasts::Sts::new(&config).map_err(ServerError::Dns)?;
        let ctx = Context {
            config: Arc::new(config),
            store,
            router,
            web_tls: Some(TlsAcceptor::from(web_tls)),
            tls: Some(TlsAcceptor::from(tls)),
            client_services,
            certificate,
            hostname_domain,
            throttle,
            sending,
            pop3_locks: Default::default(),
            imap_structures: Default::default(),
            imap_recent: Default::default(),
            resolver,
            outbound_wake: tokio::sync::Notify::new(),
            outbound_slots,
            outbound_domains: outbound::DomainSlots::new(per_domain),
            outbound_pool: outbound::Pool::default(),
            sts,
            dkim_published: Default::default(),
            tls_reports: Default::default(),
            spam,
            sieve,
            lists,
            acme_renew: acme::Renewal::default(),
            web_key,
            listening,
        };
        Ok(Server {
            ctx: Arc::new(ctx),
            listeners,
        })
    }

    /// The certificate every TLS listener presents; replacing it takes effect at the next
    /// handshake (certificate renewal without a restart).
    pub fn certificate(&self) -> Arc<tls::CertificateHolder> {
        self.ctx.certificate.clone()
    }

    /// Replaces the clock of the sending limits and the bulk guard (tests simulate hours).
    /// Call before [`Server::run`].
    pub fn set_clock(&mut self, clock: Arc<dyn hermod_core::rates::Clock>) {
        if let Some(ctx) = Arc::get_mut(&mut self.ctx) {
            ctx.lists.posting.clock = clock.clone();
            ctx.sending.clock = clock;
        }
    }

    /// Orders a new ACME certificate when called, whatever the stored one's expiry (with
    /// `[acme]` on); usable after `run` took the server.
    pub fn acme_renewal(&self) -> acme::Renewal {
        self.ctx.acme_renew.clone()
    }

    /// Serves until `stop` resolves, then stops accepting, lets sessions finish what they are
    /// doing (up to `limits.shutdown_grace`) and returns.
    pub async fn run(self, stop: impl Future<Output = ()>) {
        let (trigger, shutdown) = shutdown::channel();
        let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
        let limits = ConnectionLimits::new(&self.ctx.config.limits);
        // Watch SIGHUP before anything says "listening": one sent as soon as the server
        // answers must not find the default action (terminate) still in place.
        tokio::spawn(reload_on_hangup(
            hangup_signal(),
            self.ctx.clone(),
            shutdown.clone(),
        ));
        for (service, listener) in self.listeners.bound {
            if let Ok(addr) = listener.local_addr() {
                tracing::info!(service = %service.name(), %addr, "listening");
            }
            let acceptor = Acceptor {
                service,
                ctx: self.ctx.clone(),
                limits: limits.clone(),
                shutdown: shutdown.clone(),
                done: done_tx.clone(),
            };
            tokio::spawn(acceptor.run(listener));
        }
        tokio::spawn(outbound::run(self.ctx.clone(), shutdown.clone()));
        tokio::spawn(lists::sweep(self.ctx.clone(), shutdown.clone()));
        if self.ctx.config.outbound_tls.tls_rpt {
            tokio::spawn(outbound::tlsrpt::run(self.ctx.clone(), shutdown.clone()));
        }
        if self.ctx.config.acme.directory.is_some() {
            tokio::spawn(acme::run(self.ctx.clone(), shutdown.clone()));
        }
        drop(done_tx);
        stop.await;
        stop_sessions(trigger, &mut done_rx, self.ctx.config.limits.shutdown_grace).await;
    }
}

fn hangup_signal() -> Option<tokio::signal::unix::Signal> {
    use tokio::signal::unix::{SignalKind, signal};
    let hangup = signal(SignalKind::hangup());
    if hangup.is_err() {
        tracing::warn!("cannot watch SIGHUP; lists are reloaded only by a restart");
    }
    hangup.ok()
}

/// SIGHUP re-reads the allow and block lists.
async fn reload_on_hangup(
    hangup: Option<tokio::signal::unix::Signal>,
    ctx: Arc<Context>,
    mut shutdown: Shutdown,
) {
    let Some(mut hangup) = hangup else {
        return;
    };
    loop {
        tokio::select! {
            _ = hangup.recv() => ctx.spam.reload_lists(&ctx.config),
            _ = shutdown.wait() => return,
        }
    }
}

async fn stop_sessions(trigger: ShutdownTrigger, done: &mut mpsc::Receiver<()>, grace: Duration) {
    tracing::info!("shutting down: no new connections, waiting for sessions in flight");
    trigger.trigger();
    // Every session holds a sender; recv() returns None once the last one is gone.
    if tokio::time::timeout(grace, done.recv()).await.is_err() {
        tracing::warn!("sessions still running after {grace:?}; stopping anyway");
    }
}

struct Acceptor {
    service: Service,
    ctx: Arc<Context>,
    limits: ConnectionLimits,
    shutdown: Shutdown,
    done: mpsc::Sender<()>,
}

impl Acceptor {
    async fn run(mut self, listener: TcpListener) {
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                _ = self.shutdown.wait() => return,
            };
            match accepted {
                Ok((stream, peer)) => self.start_session(stream, peer),
                Err(e) => {
                    // Usually EMFILE: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    fn start_session(&self, stream: TcpStream, peer: SocketAddr) {
        // Inherited from the listener on Linux (see `net::listen`).
        #[cfg(not(target_os = "linux"))]
        let _ = stream.set_nodelay(true);
        let (ctx, shutdown, done) = (self.ctx.clone(), self.shutdown.clone(), self.done.clone());
        let admitted = self.limits.admit(self.service, peer.ip());
        let service = self.service;
        hermod_types::metrics::metrics()
            .connections
            .inc(service.name());
        if service.is_web() {
            tokio::spawn(async move {
                let _done = done;
                match admitted {
                    Ok(_permit) => serve_web(service, ctx, stream, peer, shutdown).await,
                    // Nothing to say in HTTP before a request: closing is the answer.
                    Err(refusal) => {
                        tracing::info!(service = service.name(), %peer, ?refusal, "connection refused")
                    }
                }
            });
            return;
        }
        tokio::spawn(async move {
            let _done = done;
            let conn = Conn::new(stream, shutdown, ctx.config.limits.command_timeout);
            match admitted {
                Ok(_permit) => serve_connection(service, ctx, conn, peer).await,
                Err(refusal) => refuse(service, conn, peer, refusal).await,
            }
        });
    }
}

/// HTTP(S) on an admitted connection: the TLS handshake first for HTTPS.
async fn serve_web(
    service: Service,
    ctx: Arc<Context>,
    stream: TcpStream,
    peer: SocketAddr,
    shutdown: Shutdown,
) {
    if !service.implicit_tls() {
        return http::serve(ctx, service, stream, peer, shutdown).await;
    }
    let Some(acceptor) = ctx.web_tls.clone() else {
        return;
    };
    let handshake = acceptor.accept(stream);
    // Bounded like a request, not like a mail session: a stalled handshake must not hold
    // one of the few web places for minutes.
    match tokio::time::timeout(http::REQUEST_TIMEOUT, handshake).await {
        // A TLS-ALPN-01 validation ends with the handshake (RFC 8737 3).
        Ok(Ok(tls)) if tls.get_ref().1.alpn_protocol() == Some(tls::ACME_TLS_ALPN) => {
            tracing::info!(%peer, "answered an ACME TLS-ALPN-01 validation")
        }
        Ok(Ok(tls)) => http::serve(ctx, service, tls, peer, shutdown).await,
        _ => tracing::info!(service = service.name(), %peer, "TLS handshake failed"),
    }
}

/// The HTTPS listener's TLS: HTTP/1.1 by ALPN, and `acme-tls/1` while ACME validates by
/// TLS-ALPN-01 (a server that does not negotiate it fails the validation).
fn web_tls(config: &Config, tls: &Arc<rustls::ServerConfig>) -> Arc<rustls::ServerConfig> {
    let alpn = config.acme.directory.is_some()
        && config.acme.challenge == hermod_config::AcmeChallenge::TlsAlpn01;
    if !alpn {
        return tls.clone();
    }
    let mut web = (**tls).clone();
    web.alpn_protocols = vec![b"http/1.1".to_vec(), tls::ACME_TLS_ALPN.to_vec()];
    Arc::new(web)
}

/// Runs the protocol of `service` on an admitted connection.
async fn serve_connection(
    service: Service,
    ctx: Arc<Context>,
    mut conn: Conn<TcpStream>,
    peer: SocketAddr,
) {
    tracing::debug!(service = service.name(), %peer, "connection");
    if service.implicit_tls() {
        let Some(acceptor) = ctx.tls.clone() else {
            return;
        };
        if conn.start_tls(&acceptor).await.is_err() {
            tracing::info!(service = service.name(), %peer, "TLS handshake failed");
            return;
        }
    }
    match service {
        Service::Smtp => {
            smtp::Session::new(ctx, conn, peer, smtp::Mode::Mx)
                .run()
                .await
        }
        Service::Submission | Service::Submissions => {
            smtp::Session::new(ctx, conn, peer, smtp::Mode::Submission)
                .run()
                .await
        }
        Service::Pop3 | Service::Pop3s => pop3::Session::new(ctx, conn, peer).run().await,
        Service::Imap | Service::Imaps => imap::Session::new(ctx, conn, peer).run().await,
        Service::ManageSieve => managesieve::Session::new(ctx, conn, peer).run().await,
        // Never here: `Acceptor::start_session` hands them to `serve_web`.
        Service::Http | Service::Https | Service::Metrics => {}
    }
}

async fn refuse(service: Service, mut conn: Conn<TcpStream>, peer: SocketAddr, refusal: Refusal) {
    tracing::info!(service = service.name(), %peer, ?refusal, "connection refused");
    match service {
        Service::Pop3 | Service::Pop3s => {
            pop3::reply::TOO_MANY_CONNECTIONS.render(conn.output());
            conn.close().await;
        }
        Service::Imap | Service::Imaps => {
            imap::too_many_connections(conn.output());
            conn.close().await;
        }
        Service::ManageSieve => {
            managesieve::too_many_connections(conn.output());
            conn.close().await;
        }
        Service::Http | Service::Https | Service::Metrics => {}
        _ => {
            let reply = match refusal {
                Refusal::TooManyConnections => reply::TOO_MANY_CONNECTIONS,
                Refusal::TooManyFromIp => reply::TOO_MANY_FROM_IP,
            };
            conn.close_with(&reply).await;
        }
    }
}
