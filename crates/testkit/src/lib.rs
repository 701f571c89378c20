//! Test support: a real hermod server on 127.0.0.1:0 over a temporary store, a scripted SMTP
//! client (plain or TLS), and the golden-transcript runner.

mod client;
pub mod dns_server;
mod fake_mta;
mod imap_client;
pub mod imap_lines;
mod pop3_client;
mod sieve_client;
mod transcript;

pub use client::{SmtpClient, SmtpReply};
pub use dns_server::DnsServer;
pub use fake_mta::{FakeDns, FakeMta, ReceivedMail};
pub use imap_client::ImapClient;
pub use pop3_client::Pop3Client;
pub use sieve_client::{SieveClient, SieveResponse};
pub use transcript::run_transcript;

use hermod_config::Config;
use hermod_server::{Listeners, Server, Service};
use hermod_store::{BlockingStore, EmbeddedStore, SqliteStore};
use hermod_types::{Address, Domain, MailboxName};
use std::io::Read;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Polls until `done` holds (the relay, the runner or a list works in the background),
/// failing the test after 20 seconds.
pub async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..400 {
        if done() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for: {what}");
}

pub struct TestServer {
    pub smtp: SocketAddr,
    pub pop3: SocketAddr,
    pub pop3s: SocketAddr,
    pub submission: SocketAddr,
    pub submissions: SocketAddr,
    /// IMAP (STARTTLS) and IMAPS; `None` only when a test turned the listeners off.
    pub imap: Option<SocketAddr>,
    pub imaps: Option<SocketAddr>,
    /// ManageSieve (STARTTLS).
    pub managesieve: SocketAddr,
    /// Autoconfiguration and MTA-STS over HTTP and HTTPS, and the metrics listener.
    pub http: SocketAddr,
    pub https: SocketAddr,
    pub metrics: SocketAddr,
    /// The server's store through its blocking interface, for tests to look into.
    pub store: Arc<SqliteStore>,
    pub config: Config,
    /// The DNS server on loopback that hermod's resolvers ask (SPF, DKIM, DMARC, DNSBL, PTR).
    pub dns: DnsServer,
    /// The clock of the sending limits and the bulk guard: the real time at start, then
    /// only what a test adds (`clock.advance(3600)` is an hour later for them).
    pub clock: Arc<hermod_core::rates::ManualClock>,
    /// Orders an ACME certificate now (with `[acme]` configured).
    pub acme_renewal: hermod_server::acme::Renewal,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    // Last: the directory outlives the server using it.
    pub dir: tempfile::TempDir,
}

/// A configuration listening on loopback port 0 for every built service, storing under `dir`.
pub fn test_config(dir: &std::path::Path) -> Config {
    let mut config = Config::defaults(dir.join("hermod.toml"), dir.to_owned());
    config.hostname = "mx.example.test".into();
    let loopback: SocketAddr = "127.0.0.1:0".parse().expect("loopback address");
    config.listen.smtp = vec![loopback];
    config.listen.submission = vec![loopback];
    config.listen.submissions = vec![loopback];
    config.listen.pop3 = vec![loopback];
    config.listen.pop3s = vec![loopback];
    config.listen.imap = vec![loopback];
    config.listen.imaps = vec![loopback];
    config.listen.managesieve = vec![loopback];
    config.listen.http = vec![loopback];
    config.listen.https = vec![loopback];
    config.listen.metrics = vec![loopback];
    // Test clients HELO with odd names from an address without reverse DNS; the tests of
    // those checks turn them on.
    config.spam.helo = hermod_config::CheckAction::Off;
    config.spam.rdns = hermod_config::CheckAction::Off;
    config
}

impl TestServer {
    pub async fn start() -> TestServer {
        TestServer::start_with(|_| {}).await
    }

    /// The same as [`TestServer::start`] (every server listens for IMAP and IMAPS), under
    /// a name that says what an IMAP test needs.
    pub async fn start_imap() -> TestServer {
        TestServer::start().await
    }

    pub async fn start_imap_with(adjust: impl FnOnce(&mut Config)) -> TestServer {
        TestServer::start_with(adjust).await
    }

    /// Starts with `example.test` as a local domain; `adjust` may change the configuration.
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let dns = DnsServer::start().await;
        let mut config = test_config(dir.path());
        config.dns.nameservers = vec![dns.addr()];
        adjust(&mut config);
        let store = Arc::new(SqliteStore::open(dir.path()).expect("open store"));
        store
            .add_domain(&Domain::parse("example.test").unwrap())
            .expect("add domain");
        let listeners = Listeners::bind(&config).await.expect("bind");
        let smtp = listeners.local_addrs(Service::Smtp)[0];
        let pop3 = listeners.local_addrs(Service::Pop3)[0];
        let pop3s = listeners.local_addrs(Service::Pop3s)[0];
        let submission = listeners.local_addrs(Service::Submission)[0];
        let submissions = listeners.local_addrs(Service::Submissions)[0];
        let imap = listeners.local_addrs(Service::Imap).first().copied();
        let imaps = listeners.local_addrs(Service::Imaps).first().copied();
        let managesieve = listeners.local_addrs(Service::ManageSieve)[0];
        let http = listeners.local_addrs(Service::Http)[0];
        let https = listeners.local_addrs(Service::Https)[0];
        let metrics = listeners.local_addrs(Service::Metrics)[0];
        let resolver = std::sync::Arc::new(FakeDns);
        let embedded = Arc::new(EmbeddedStore::new(store.clone()));
        let mut server = Server::with_resolver(config.clone(), listeners, embedded, resolver)
            .await
            .expect("server");
        let clock = Arc::new(hermod_core::rates::ManualClock::new(
            hermod_core::rates::Clock::now(&hermod_core::rates::SystemClock),
        ));
        server.set_clock(clock.clone());
        let acme_renewal = server.acme_renewal();
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(server.run(async move {
            let _ = stopped.await;
        }));
        TestServer {
            smtp,
            pop3,
            pop3s,
            submission,
            submissions,
            imap,
            imaps,
            managesieve,
            http,
            https,
            metrics,
            store,
            config,
            dns,
            clock,
            acme_renewal,
            stop: Some(stop),
            task: Some(task),
            dir,
        }
    }

    pub fn add_user(&self, address: &str, password: &str) {
        self.add_user_with_quota(address, password, None);
    }

    pub fn add_user_with_quota(&self, address: &str, password: &str, quota: Option<u64>) {
        let hash = hermod_core::auth::hash_password(password).expect("hash");
        self.store
            .add_user(&Address::parse(address).expect("address"), &hash, quota)
            .expect("add user");
    }

    /// The messages in a mailbox of a user, in UID order, as stored.
    pub fn messages(&self, address: &str, mailbox: &str) -> Vec<Vec<u8>> {
        let user = self
            .store
            .user(&Address::parse(address).unwrap())
            .unwrap()
            .expect("user exists");
        let name = MailboxName::parse(mailbox).unwrap();
        let mailbox = self
            .store
            .mailbox(user.id, &name)
            .unwrap()
            .expect("mailbox exists");
        let metas = self.store.messages(mailbox.id).unwrap();
        metas
            .iter()
            .map(|m| {
                let mut body = Vec::new();
                self.store
                    .open_blob(&m.blob)
                    .unwrap()
                    .read_to_end(&mut body)
                    .unwrap();
                body
            })
            .collect()
    }

    pub fn inbox(&self, address: &str) -> Vec<Vec<u8>> {
        self.messages(address, "INBOX")
    }

    /// An IMAP connection.
    pub async fn imap_client(&self) -> ImapClient {
        ImapClient::connect(self.imap.expect("IMAP is on")).await
    }

    /// A ManageSieve connection, greeting read.
    pub async fn sieve_client(&self) -> SieveClient {
        SieveClient::connect(self.managesieve).await
    }

    pub async fn client(&self) -> SmtpClient {
        SmtpClient::connect(self.smtp).await
    }

    /// Delivers a message over SMTP; panics unless it is accepted.
    pub async fn deliver(&self, to: &str, body: &str) {
        let mut c = self.client().await;
        c.cmd("EHLO sender.test").await;
        let reply = c.send_mail("sender@remote.test", &[to], body).await;
        assert_eq!(reply.code, 250, "delivery failed: {reply:?}");
        c.cmd("QUIT").await;
    }

    /// Graceful shutdown; waits until the server returned.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}
