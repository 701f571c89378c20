//! The HTTP(S) listeners against a real server on loopback: autoconfiguration in each
//! program's format, the MTA-STS policy, metrics, and the request limits.

use hermod_testkit::TestServer;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

struct HttpReply {
    status: u16,
    head: String,
    body: String,
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, request: &[u8]) -> HttpReply {
    stream.write_all(request).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw))
        .await
        .expect("reply in time")
        .unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("a header");
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    HttpReply {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

fn request(method: &str, target: &str, host: &str, body: &str) -> Vec<u8> {
    format!(
        "{method} {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

async fn get(addr: SocketAddr, target: &str, host: &str) -> HttpReply {
    let stream = TcpStream::connect(addr).await.unwrap();
    exchange(stream, &request("GET", target, host, "")).await
}

#[tokio::test]
async fn thunderbird_autoconfig_lists_the_running_services() {
    let server = TestServer::start().await;
    let target = "/mail/config-v1.1.xml?emailaddress=alice%40example.test";
    let reply = get(server.http, target, "autoconfig.example.test").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.head.to_lowercase().contains("content-type: text/xml"));
    let xml = &reply.body;
    assert!(xml.contains("<emailProvider id=\"example.test\">"), "{xml}");
    assert!(xml.contains("<hostname>mx.example.test</hostname>"));
    for port in [
        server.pop3s,
        server.pop3,
        server.submissions,
        server.submission,
    ] {
        assert!(
            xml.contains(&format!("<port>{}</port>", port.port())),
            "{port} in {xml}"
        );
    }
    assert!(
        xml.contains("type=\"imap\""),
        "IMAP is served by default: {xml}"
    );
    // The well-known path finds the domain from the Host header.
    let host = get(
        server.http,
        "/.well-known/autoconfig/mail/config-v1.1.xml",
        "autoconfig.example.test:80",
    )
    .await;
    assert_eq!((host.status, host.body.as_str()), (200, xml.as_str()));
    // Not a domain of this server, and not an address at all.
    let other = "/mail/config-v1.1.xml?emailaddress=bob%40elsewhere.test";
    assert_eq!(get(server.http, other, "x").await.status, 404);
    let bad = "/mail/config-v1.1.xml?emailaddress=%3Cscript%3E";
    assert_eq!(get(server.http, bad, "x").await.status, 400);
    server.stop().await;
}

#[tokio::test]
async fn autoconfig_advertises_imap_when_it_is_served() {
    let server = TestServer::start_imap().await;
    let target = "/mail/config-v1.1.xml?emailaddress=alice%40example.test";
    let xml = get(server.http, target, "x").await.body;
    let imaps = format!("<port>{}</port>", server.imaps.unwrap().port());
    assert!(
        xml.contains("type=\"imap\"") && xml.contains(&imaps),
        "{xml}"
    );
    // IMAP comes before POP3: programs take the first they can use.
    assert!(xml.find("type=\"imap\"").unwrap() < xml.find("type=\"pop3\"").unwrap());
    server.stop().await;
}

#[tokio::test]
async fn outlook_autodiscover_and_apple_profile() {
    let server = TestServer::start().await;
    let body = "<?xml version=\"1.0\"?><Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006\"><Request><EMailAddress>\"a&lt;b\"@example.test</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema></Request></Autodiscover>";
    let stream = TcpStream::connect(server.http).await.unwrap();
    let post = request(
        "POST",
        "/Autodiscover/Autodiscover.xml",
        "autodiscover.example.test",
        body,
    );
    let reply = exchange(stream, &post).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let xml = &reply.body;
    assert!(
        // IMAP runs, so it is the incoming server offered (POP3 only when IMAP is off).
        xml.contains("<Type>IMAP</Type>") && xml.contains("<Type>SMTP</Type>"),
        "{xml}"
    );
    // The client's text comes back escaped, never as markup.
    assert!(
        xml.contains("<LoginName>&quot;a&lt;b&quot;@example.test</LoginName>"),
        "{xml}"
    );
    let get_it = get(server.http, "/autodiscover/autodiscover.xml", "x").await;
    assert_eq!(get_it.status, 405);

    let target = "/apple/profile.mobileconfig?emailaddress=alice%40example.test";
    let profile = get(server.http, target, "x").await;
    assert_eq!(profile.status, 200);
    assert!(profile.head.contains("application/x-apple-aspen-config"));
    // The profile's incoming server is IMAP over TLS, which runs by default.
    let port = format!("<integer>{}</integer>", server.imaps.unwrap().port());
    assert!(profile.body.contains(&port), "{}", profile.body);
    let missing = get(server.http, "/apple/profile.mobileconfig", "x").await;
    assert_eq!(missing.status, 400);
    server.stop().await;
}

#[tokio::test]
async fn mta_sts_policy_over_https() {
    let server = TestServer::start_with(|config| {
        config.mta_sts.mode = hermod_config::MtaStsMode::Enforce;
        config.mta_sts.max_age = Duration::from_secs(86_400);
    })
    .await;
    let tcp = TcpStream::connect(server.https).await.unwrap();
    let connector =
        tokio_rustls::TlsConnector::from(hermod_server::tls::opportunistic_client_config());
    let name = rustls_pki_types::ServerName::try_from("mta-sts.example.test").unwrap();
    let tls = connector.connect(name, tcp).await.unwrap();
    let reply = exchange(
        tls,
        &request(
            "GET",
            "/.well-known/mta-sts.txt",
            "mta-sts.example.test",
            "",
        ),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.body,
        "version: STSv1\r\nmode: enforce\r\nmx: mx.example.test\r\nmax_age: 86400\r\n"
    );
    server.stop().await;
}

#[tokio::test]
async fn metrics_are_served_on_their_own_listener() {
    let server = TestServer::start().await;
    server.add_user("alice@example.test", "secret");
    server
        .deliver("alice@example.test", "Subject: hi\r\n\r\nhello\r\n")
        .await;
    let mut smtp = server.client().await;
    smtp.cmd("EHLO sender.test").await;
    smtp.cmd("MAIL FROM:<x@remote.test>").await;
    assert_eq!(smtp.cmd("RCPT TO:<nobody@example.test>").await.code, 550);
    let mut pop3 = hermod_testkit::Pop3Client::connect(server.pop3).await;
    pop3.cmd("USER alice@example.test").await;
    assert!(pop3.cmd("PASS wrong").await.starts_with("-ERR"));
    smtp.cmd("QUIT").await;
    pop3.cmd("QUIT").await;
    let reply = get(server.metrics, "/metrics", "x").await;
    assert_eq!(reply.status, 200);
    let text = &reply.body;
    let value = |series: &str| -> f64 {
        let line = text
            .lines()
            .find(|l| l.starts_with(series))
            .unwrap_or_else(|| panic!("{series} in {text}"));
        line.rsplit_once(' ').unwrap().1.parse().unwrap()
    };
    assert!(value("hermod_connections_total{service=\"smtp\"}") >= 1.0);
    assert!(value("hermod_messages_accepted_total{service=\"smtp\"}") >= 1.0);
    assert!(value("hermod_messages_refused_total{reason=\"unknown_recipient\"}") >= 1.0);
    assert!(value("hermod_spam_verdicts_total{verdict=\"ham\"}") >= 1.0);
    assert!(value("hermod_logins_total{result=\"failed\"}") >= 1.0);
    assert!(value("hermod_store_commit_seconds_count") >= 1.0);
    assert!(value("hermod_connections_total{service=\"metrics\"}") >= 1.0);
    assert_eq!(value("hermod_queue_messages "), 0.0);
    assert!(text.contains("# TYPE hermod_store_commit_seconds histogram"));
    // Metrics are not on the public listeners, and autoconfig is not on the metrics one.
    assert_eq!(get(server.http, "/metrics", "x").await.status, 404);
    assert_eq!(
        get(server.metrics, "/mail/config-v1.1.xml", "x")
            .await
            .status,
        404
    );
    server.stop().await;
}

#[tokio::test]
async fn oversized_requests_are_refused() {
    let server = TestServer::start().await;
    let huge_header = format!(
        "GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: x\r\nX-Filler: {}\r\n\r\n",
        "a".repeat(20_000)
    );
    let stream = TcpStream::connect(server.http).await.unwrap();
    let reply = exchange(stream, huge_header.as_bytes()).await;
    assert_eq!(reply.status, 431);
    let body = format!(
        "<EMailAddress>{}@example.test</EMailAddress>",
        "a".repeat(20_000)
    );
    let stream = TcpStream::connect(server.http).await.unwrap();
    let post = request("POST", "/autodiscover/autodiscover.xml", "x", &body);
    assert_eq!(exchange(stream, &post).await.status, 413);
    server.stop().await;
}

/// A client that never finishes its request header is cut off by the request timeout.
#[tokio::test]
async fn a_stalled_request_is_cut_off() {
    let server = TestServer::start().await;
    let mut stream = TcpStream::connect(server.http).await.unwrap();
    stream
        .write_all(b"GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "the connection is closed in time");
    assert!(
        started.elapsed() >= Duration::from_secs(9),
        "{:?}",
        started.elapsed()
    );
    assert!(
        !String::from_utf8_lossy(&rest).contains("STSv1"),
        "no policy served"
    );
    server.stop().await;
}
