//! Outbound MTA-STS (RFC 8461) and TLS-RPT (RFC 8460) on loopback: policies found through
//! the DNS server of the test kit and fetched from a local HTTPS server, MX certificates
//! from a test CA, a fake MTA offering STARTTLS; enforce mode defers what it must, testing
//! mode delivers and reports, and the daily report arrives as gzipped JSON.

use hermod_testkit::{FakeMta, SmtpClient, TestServer, eventually};
use std::io::Read;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A CA, and a certificate signed by it for `names`: (CA PEM, server config).
struct TestCa {
    pem: String,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl TestCa {
    fn new() -> TestCa {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let pem = params.self_signed(&key).unwrap().pem();
        TestCa {
            pem,
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    fn acceptor(&self, names: &[&str]) -> tokio_rustls::TlsAcceptor {
        let key = rcgen::KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let cert = rcgen::CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &self.issuer)
            .unwrap();
        let key = rustls_pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], key)
        .unwrap();
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    }
}

/// An HTTPS server answering `/.well-known/mta-sts.txt` by the Host it is asked for.
async fn policy_server(
    acceptor: tokio_rustls::TlsAcceptor,
    policies: Vec<(&'static str, &'static str)>,
) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, policies) = (acceptor.clone(), policies.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let request = String::from_utf8_lossy(&request).to_ascii_lowercase();
                let policy = policies
                    .iter()
                    .find(|(host, _)| request.contains(&format!("host: {host}")))
                    .map(|(_, p)| *p);
                let reply = match policy {
                    Some(p) => format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{p}",
                        p.len()
                    ),
                    None => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".into(),
                };
                let _ = tls.write_all(reply.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    port
}

async fn submit(server: &TestServer, to: &str, subject: &str) {
    let mut c = SmtpClient::connect(server.submission).await;
    c.cmd("EHLO client.test").await;
    let (mut c, _) = c.starttls().await;
    c.cmd("EHLO client.test").await;
    assert_eq!(c.auth_plain("alice@example.test", "pw").await.code, 235);
    let body = format!("From: alice@example.test\r\nTo: {to}\r\nSubject: {subject}\r\n\r\nhi\r\n");
    let reply = c.send_mail("alice@example.test", &[to], &body).await;
    assert_eq!(reply.code, 250, "{reply:?}");
}

/// The recipient's last error in the queue, once it has one.
fn queue_error(server: &TestServer, rcpt: &str) -> Option<String> {
    let queue = hermod_store::BlockingStore::queue(&*server.store).unwrap();
    queue
        .iter()
        .flat_map(|e| e.recipients.iter())
        .find(|r| r.0 == rcpt)
        .and_then(|r| r.3.clone())
}

/// The JSON of a TLS report message.
fn report_json(data: &str) -> serde_json::Value {
    use base64::Engine;
    let (_, attachment) = data
        .split_once("Content-Type: application/tlsrpt+gzip")
        .unwrap();
    let (_, encoded) = attachment.split_once("\r\n\r\n").unwrap();
    let encoded: String = encoded
        .lines()
        .take_while(|l| !l.starts_with("--"))
        .collect();
    let gz = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .unwrap();
    let mut json = String::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_string(&mut json)
        .unwrap();
    serde_json::from_str(&json).unwrap()
}

const ENFORCE_FAR: &str =
    "version: STSv1\r\nmode: enforce\r\nmx: mx.far.test\r\nmax_age: 86400\r\n";
const ENFORCE_BAD: &str =
    "version: STSv1\r\nmode: enforce\r\nmx: mx.bad.test\r\nmax_age: 86400\r\n";
const TESTING_TRY: &str =
    "version: STSv1\r\nmode: testing\r\nmx: mx.try.test\r\nmax_age: 86400\r\n";
const ENFORCE_OTHER: &str =
    "version: STSv1\r\nmode: enforce\r\nmx: *.other.test\r\nmax_age: 86400\r\n";

#[tokio::test]
async fn policies_are_enforced_tested_and_reported() {
    let ca = TestCa::new();
    // Every MX is this one fake MTA, whose certificate names only mx.far.test.
    let mta = FakeMta::start_with_tls(ca.acceptor(&["mx.far.test"])).await;
    let web = ca.acceptor(&[
        "mta-sts.far.test",
        "mta-sts.bad.test",
        "mta-sts.try.test",
        "mta-sts.elsewhere.test",
    ]);
    let policies = vec![
        ("mta-sts.far.test", ENFORCE_FAR),
        ("mta-sts.bad.test", ENFORCE_BAD),
        ("mta-sts.try.test", TESTING_TRY),
        ("mta-sts.elsewhere.test", ENFORCE_OTHER),
    ];
    let policy_port = policy_server(web, policies).await;
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca.pem).unwrap();
    let mta_port = mta.addr.port();
    let server = TestServer::start_with(move |c| {
        c.outbound.port = mta_port;
        c.outbound_tls.ca_file = Some(ca_file);
        c.outbound_tls.policy_port = policy_port;
        c.outbound_tls.report_interval = Duration::from_secs(3);
    })
    .await;
    server.add_user("alice@example.test", "pw");
    for domain in ["far.test", "bad.test", "try.test", "elsewhere.test"] {
        server
            .dns
            .add_txt(&format!("_mta-sts.{domain}"), "v=STSv1; id=20261130;");
        let rua = "v=TLSRPTv1; rua=mailto:tlsrpt@far.test";
        server.dns.add_txt(&format!("_smtp._tls.{domain}"), rua);
    }

    for to in [
        "bob@far.test",
        "bob@bad.test",
        "bob@try.test",
        "bob@elsewhere.test",
        "bob@plain.test",
    ] {
        submit(&server, to, &format!("to {to}")).await;
    }
    let arrived = |to: &str| mta.messages().into_iter().find(|m| m.to == [to]);
    eventually("far, try and plain delivered", || {
        ["bob@far.test", "bob@try.test", "bob@plain.test"]
            .iter()
            .all(|to| arrived(to).is_some())
    })
    .await;
    assert!(
        arrived("bob@far.test").unwrap().tls,
        "enforce: over verified TLS"
    );
    assert!(
        arrived("bob@try.test").unwrap().tls,
        "testing: delivered anyway"
    );
    // enforce: a certificate not valid for the MX name, an MX the policy does not name.
    eventually("bad and elsewhere deferred", || {
        queue_error(&server, "bob@bad.test").is_some()
            && queue_error(&server, "bob@elsewhere.test").is_some()
    })
    .await;
    let bad = queue_error(&server, "bob@bad.test").unwrap();
    assert!(
        bad.starts_with("451 4.7.5") && bad.contains("mx.bad.test"),
        "{bad}"
    );
    let elsewhere = queue_error(&server, "bob@elsewhere.test").unwrap();
    assert!(
        elsewhere.contains("not an MX of elsewhere.test's MTA-STS policy"),
        "{elsewhere}"
    );
    assert!(arrived("bob@bad.test").is_none() && arrived("bob@elsewhere.test").is_none());

    // The reports: far.test's successes, bad.test's and try.test's certificate failures.
    let report_for = |domain: &str| {
        mta.messages()
            .into_iter()
            .filter(|m| m.to == ["tlsrpt@far.test"])
            .find(|m| m.data.contains(&format!("TLS-Report-Domain: {domain}\r\n")))
    };
    eventually("reports for far, bad and try", || {
        ["far.test", "bad.test", "try.test"]
            .iter()
            .all(|d| report_for(d).is_some())
    })
    .await;
    let far = report_for("far.test").unwrap();
    assert_eq!(far.from, "postmaster@example.test");
    assert!(
        far.data
            .contains("Content-Type: multipart/report; report-type=\"tlsrpt\"")
    );
    let json = report_json(&far.data);
    let policy = &json["policies"][0];
    assert_eq!(policy["policy"]["policy-type"], "sts");
    assert_eq!(policy["policy"]["policy-domain"], "far.test");
    assert!(
        policy["summary"]["total-successful-session-count"]
            .as_u64()
            .unwrap()
            >= 1
    );
    assert_eq!(policy["summary"]["total-failure-session-count"], 0);
    for domain in ["bad.test", "try.test"] {
        let json = report_json(&report_for(domain).unwrap().data);
        let detail = &json["policies"][0]["failure-details"][0];
        assert_eq!(detail["result-type"], "certificate-host-mismatch", "{json}");
        assert_eq!(detail["receiving-mx-hostname"], format!("mx.{domain}"));
        assert_eq!(detail["receiving-ip"], "127.0.0.1");
        assert_eq!(detail["sending-mta-ip"], "127.0.0.1");
    }
    // Nothing asked for plain.test (no policy, no record): no report for it.
    assert!(report_for("plain.test").is_none());
}
