//! ACME against Let's Encrypt's test CA, pebble (Debian package `pebble`), on loopback: a
//! certificate is ordered, validated over hermod's own listeners, served by every TLS
//! listener, and replaced by a renewal without a restart.

use hermod_config::AcmeChallenge;
use hermod_testkit::TestServer;
use rustls_pki_types::CertificateDer;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::net::TcpStream;

const NAME: &str = "mx.example.test";
/// What `[acme] names = []` certifies for the test server (hostname, domain example.test).
const DEFAULT_NAMES: [&str; 4] = [
    NAME,
    "mta-sts.example.test",
    "autoconfig.example.test",
    "autodiscover.example.test",
];

/// A pebble process, killed when dropped.
struct Pebble {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Pebble {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A CA and a certificate for 127.0.0.1 signed by it: pebble's HTTPS (its own test
/// certificates are not in the Debian package). Returns the CA's PEM path.
fn pebble_tls(dir: &std::path::Path) -> std::path::PathBuf {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    std::fs::write(dir.join("pebble.pem"), leaf.pem()).unwrap();
    std::fs::write(dir.join("pebble.key"), key.serialize_pem()).unwrap();
    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();
    dir.join("ca.pem")
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Starts pebble validating on hermod's HTTP and HTTPS ports (`web`), resolving names
/// through `dns`, and waits until it listens.
async fn start_pebble(
    dir: &std::path::Path,
    port: u16,
    web: (u16, u16),
    dns: SocketAddr,
) -> Pebble {
    let config = serde_json::json!({ "pebble": {
        "listenAddress": format!("127.0.0.1:{port}"),
        "managementListenAddress": format!("127.0.0.1:{}", free_port()),
        "certificate": dir.join("pebble.pem"),
        "privateKey": dir.join("pebble.key"),
        "httpPort": web.0,
        "tlsPort": web.1,
        "ocspResponderURL": "",
        "externalAccountBindingRequired": false,
    }});
    let path = dir.join("pebble.json");
    std::fs::write(&path, config.to_string()).unwrap();
    let child = Command::new("pebble")
        .arg("-config")
        .arg(&path)
        .arg("-dnsserver")
        .arg(dns.to_string())
        // No random sleeps before validating; never reject a good nonce.
        .env("PEBBLE_VA_NOSLEEP", "1")
        .env("PEBBLE_WFE_NONCEREJECT", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("pebble is installed (apt-get install pebble)");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let pebble = Pebble { child, addr };
    for _ in 0..100 {
        if TcpStream::connect(pebble.addr).await.is_ok() {
            return pebble;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("pebble did not start");
}

/// The leaf certificate a TLS listener presents for `NAME`.
async fn served(addr: SocketAddr) -> CertificateDer<'static> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let connector =
        tokio_rustls::TlsConnector::from(hermod_server::tls::opportunistic_client_config());
    let name = rustls_pki_types::ServerName::try_from(NAME).unwrap();
    let tls = connector.connect(name, tcp).await.unwrap();
    tls.get_ref().1.peer_certificates().unwrap()[0].clone()
}

/// Waits until the listener serves a certificate other than `old` and not self-signed.
async fn wait_for_new(
    addr: SocketAddr,
    old: Option<&CertificateDer<'static>>,
) -> CertificateDer<'static> {
    for _ in 0..600 {
        let now = served(addr).await;
        let self_signed = hermod_server::x509::parse_tbs(&now).is_none_or(|(_, s)| s);
        if Some(&now) != old && !self_signed {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no new certificate within a minute");
}

/// What one ACME test runs against: pebble (killed when dropped) and the fake DNS it asks.
struct Ca {
    _pebble: Pebble,
    _dir: tempfile::TempDir,
    dns: hermod_testkit::DnsServer,
}

/// Pebble, then a hermod ordering from it with `challenge` (names left empty: the default
/// set, hostname and example.test's web names), `adjust` applied to its configuration.
async fn acme_server(
    challenge: AcmeChallenge,
    adjust: impl FnOnce(&mut hermod_config::Config),
) -> (TestServer, Ca) {
    let ca_dir = tempfile::tempdir().unwrap();
    let ca = pebble_tls(ca_dir.path());
    // Pebble runs first, so hermod's first order finds it: it must know hermod's web ports
    // and the DNS server before hermod starts.
    let (port, http, https) = (free_port(), free_port(), free_port());
    let dns = hermod_testkit::DnsServer::start().await;
    for name in DEFAULT_NAMES {
        dns.add_a(name, Ipv4Addr::LOCALHOST);
    }
    let pebble = start_pebble(ca_dir.path(), port, (http, https), dns.addr()).await;
    let server = TestServer::start_with(|c| {
        c.listen.http = vec![SocketAddr::from((Ipv4Addr::LOCALHOST, http))];
        c.listen.https = vec![SocketAddr::from((Ipv4Addr::LOCALHOST, https))];
        c.acme.directory = Some(format!("https://127.0.0.1:{port}/dir"));
        c.acme.directory_ca = Some(ca.clone());
        c.acme.contact = vec!["mailto:postmaster@example.test".into()];
        c.acme.challenge = challenge;
        adjust(c);
    })
    .await;
    let ca = Ca {
        _pebble: pebble,
        _dir: ca_dir,
        dns,
    };
    (server, ca)
}

/// Whether `certificate` names `name` (a dNSName in subjectAltName is the name's bytes).
fn names(certificate: &CertificateDer<'_>, name: &str) -> bool {
    certificate
        .windows(name.len())
        .any(|w| w == name.as_bytes())
}

async fn issue_and_renew(challenge: AcmeChallenge) {
    let (server, _ca) = acme_server(challenge, |_| {}).await;
    let issued = wait_for_new(server.https, None).await;
    let (_, self_issued) = hermod_server::x509::parse_tbs(&issued).unwrap();
    assert!(!self_issued, "pebble's certificate, not a self-signed one");
    for name in DEFAULT_NAMES {
        assert!(names(&issued, name), "the certificate names {name}");
    }
    // Every TLS listener serves it, without a restart.
    assert_eq!(served(server.pop3s).await, issued);
    assert_eq!(served(server.submissions).await, issued);
    let acme = server.dir.path().join("acme");
    for file in ["account.json", "cert.pem", "key.pem"] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(acme.join(file))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{file}");
    }

    // A forced renewal (same account, new order) is served from the next handshake.
    server.acme_renewal.now();
    let renewed = wait_for_new(server.submissions, Some(&issued)).await;
    assert_eq!(served(server.https).await, renewed);
    assert!(!hermod_server::x509::parse_tbs(&renewed).unwrap().1);
    server.stop().await;
}

#[tokio::test]
async fn http_01_issue_and_renew_against_pebble() {
    issue_and_renew(AcmeChallenge::Http01).await;
}

#[tokio::test]
async fn tls_alpn_01_issue_and_renew_against_pebble() {
    issue_and_renew(AcmeChallenge::TlsAlpn01).await;
}

/// A domain added while the server runs (here straight into the store, as the CLI or
/// another node would) gets its web names certified at the next names check, not at the
/// next renewal a month or two away.
#[tokio::test]
async fn a_domain_added_gets_its_names_certified_without_waiting_for_renewal() {
    let (server, ca) = acme_server(AcmeChallenge::Http01, |c| {
        c.acme.names_check = Duration::from_secs(1);
    })
    .await;
    let issued = wait_for_new(server.https, None).await;
    assert!(!names(&issued, "mta-sts.other.test"));
    let added = [
        "mta-sts.other.test",
        "autoconfig.other.test",
        "autodiscover.other.test",
    ];
    for name in added {
        ca.dns.add_a(name, Ipv4Addr::LOCALHOST);
    }
    use hermod_store::BlockingStore;
    let other = hermod_types::Domain::parse("other.test").unwrap();
    server.store.add_domain(&other).unwrap();
    let renewed = wait_for_new(server.https, Some(&issued)).await;
    for name in DEFAULT_NAMES.iter().chain(&added) {
        assert!(names(&renewed, name), "the new certificate names {name}");
    }
    server.stop().await;
}

/// A name the CA cannot validate: the order fails with the CA's problem document, and the
/// certificate in use stays.
#[tokio::test]
async fn a_failed_validation_reports_the_problem_document() {
    let ca_dir = tempfile::tempdir().unwrap();
    let ca = pebble_tls(ca_dir.path());
    let port = free_port();
    let server = TestServer::start().await;
    let web = (server.http.port(), server.https.port());
    let _pebble = start_pebble(ca_dir.path(), port, web, server.dns.addr()).await;
    let mut config = server.config.clone();
    config.acme.directory = Some(format!("https://127.0.0.1:{port}/dir"));
    config.acme.directory_ca = Some(ca);
    config.acme.challenge = AcmeChallenge::Http01;
    let (_, holder) = hermod_server::tls::server_config(&config).unwrap();
    let before = holder.chain();
    // Not in the DNS server: pebble's validation cannot find the host.
    let names = ["nowhere.example.test".to_owned()];
    let error = hermod_server::acme::issue(&config, &holder, &names)
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("urn:ietf:params:acme:error:"), "{error}");
    assert!(error.contains("nowhere.example.test"), "{error}");
    assert_eq!(holder.chain(), before);
    assert!(!server.dir.path().join("acme/cert.pem").exists());
    server.stop().await;
}

/// A domain whose names do not resolve here (its owner has not set up DNS yet) cannot keep
/// a certificate from the others: its names are left out, the rest certified at once.
#[tokio::test]
async fn names_the_ca_cannot_validate_are_left_out_and_the_rest_certified() {
    let (server, _ca) = acme_server(AcmeChallenge::Http01, |_| {}).await;
    let issued = wait_for_new(server.https, None).await;
    use hermod_store::BlockingStore;
    // No DNS records for its names: pebble cannot validate them.
    let unready = hermod_types::Domain::parse("unready.test").unwrap();
    server.store.add_domain(&unready).unwrap();
    server.acme_renewal.now();
    let renewed = wait_for_new(server.https, Some(&issued)).await;
    for name in DEFAULT_NAMES {
        assert!(names(&renewed, name), "the new certificate names {name}");
    }
    assert!(!names(&renewed, "mta-sts.unready.test"));
    server.stop().await;
}
