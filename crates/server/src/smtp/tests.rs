//! Sessions driven through an in-memory stream: no sockets, no TLS configured.

use super::Session;
use crate::Context;
use crate::net::conn::Conn;
use hermod_config::Config;
use hermod_core::Router;
use hermod_store::{BlockingStore, EmbeddedStore, SqliteStore, Store};
use hermod_types::{Address, Domain};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// These sessions never relay.
struct NoDns;

impl hermod_core::outbound::Resolver for NoDns {
    fn mx<'a>(
        &'a self,
        _: &'a str,
    ) -> hermod_core::outbound::BoxFuture<'a, Result<hermod_core::outbound::Mx, String>> {
        Box::pin(async { Err("no DNS in this test".to_owned()) })
    }

    fn ips<'a>(
        &'a self,
        _: &'a str,
    ) -> hermod_core::outbound::BoxFuture<'a, Result<Vec<std::net::IpAddr>, String>> {
        Box::pin(async { Err("no DNS in this test".to_owned()) })
    }
}

async fn converse(script: &[u8]) -> (String, tempfile::TempDir, Arc<SqliteStore>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path()).unwrap());
    store
        .add_domain(&Domain::parse("example.test").unwrap())
        .unwrap();
    store
        .add_user(
            &Address::parse("alice@example.test").unwrap(),
            "unused",
            None,
        )
        .unwrap();
    let mut config = Config::defaults(dir.path().join("h.toml"), dir.path().into());
    config.hostname = "mx.example.test".into();
    // No DNS here; and the script is written before the greeting, which the pregreet check
    // would refuse.
    config.spam.enabled = false;
    let embedded: Arc<dyn Store> = Arc::new(EmbeddedStore::new(store.clone()));
    let spam = crate::spam::SpamFilter::new(&config, embedded.clone()).unwrap();
    let (_, certificate) = crate::tls::server_config(&config).unwrap();
    let sieve = crate::sieve_engine(&config).unwrap();
    let sending = super::Sending::new(&config);
    let lists = crate::list_engine(&config, embedded.as_ref())
        .await
        .unwrap();
    let sts = crate::outbound::mtasts::Sts::new(&config).unwrap();
    let ctx = Context {
        client_services: crate::client_services(&config),
        certificate,
        router: Router::new(embedded.clone(), config.recipient_delimiter),
        config: Arc::new(config),
        store: embedded,
        tls: None,
        web_tls: None,
        hostname_domain: None,
        throttle: Default::default(),
        sending,
        pop3_locks: Default::default(),
        imap_structures: Default::default(),
        imap_recent: Default::default(),
        resolver: Arc::new(NoDns),
        outbound_wake: tokio::sync::Notify::new(),
        outbound_slots: tokio::sync::Semaphore::new(1),
        outbound_domains: crate::outbound::DomainSlots::new(1),
        outbound_pool: Default::default(),
        sts,
        dkim_published: Default::default(),
        tls_reports: Default::default(),
        spam,
        sieve,
        lists,
        acme_renew: Default::default(),
        web_key: crate::web::WebKey::new(b"a test key of thirty-two bytes!!"),
        listening: Vec::new(),
    };
    let (mut client, server) = tokio::io::duplex(64 * 1024);
    let (_trigger, shutdown) = crate::net::shutdown::channel();
    let peer = "192.0.2.1:4000".parse().unwrap();
    let session = Session::new(
        Arc::new(ctx),
        Conn::new(server, shutdown, std::time::Duration::from_secs(30)),
        peer,
        super::Mode::Mx,
    );
    let task = tokio::spawn(session.run());
    client.write_all(script).await.unwrap();
    let mut transcript = String::new();
    client.read_to_string(&mut transcript).await.unwrap();
    task.await.unwrap();
    (transcript, dir, store)
}

#[tokio::test]
async fn a_fully_pipelined_session_in_memory() {
    let script = b"EHLO c.test\r\nSTARTTLS\r\nMAIL FROM:<a@r.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\nSubject: m\r\n\r\nhello\r\n.\r\nQUIT\r\n";
    let (transcript, _dir, store) = converse(script).await;
    let codes: Vec<&str> = transcript.lines().map(|l| &l[..4]).collect();
    assert_eq!(
        codes,
        [
            "220 ", "250-", "250-", "250-", "250-", "250-", "250-", "250-", "250 ", "454 ", "250 ",
            "250 ", "354 ", "250 ", "221 "
        ],
        "{transcript}"
    );
    assert!(
        !transcript.contains("STARTTLS\r\n"),
        "no STARTTLS offered without TLS: {transcript}"
    );
    let alice = store
        .user(&Address::parse("alice@example.test").unwrap())
        .unwrap()
        .unwrap();
    let inbox = store.mailboxes(alice.id).unwrap().remove(0);
    assert_eq!(store.messages(inbox.id).unwrap().len(), 1);
}

#[tokio::test]
async fn too_many_protocol_errors_end_the_session() {
    let script = b"BOGUS\r\n".repeat(30);
    let (transcript, _dir, _store) = converse(&script).await;
    assert_eq!(transcript.matches("500 5.5.1").count(), 20, "{transcript}");
    assert!(
        transcript.ends_with("421 4.7.0 Too many errors, closing connection\r\n"),
        "{transcript}"
    );
}

/// Stored bodies of alice's INBOX, in UID order.
fn inbox(store: &SqliteStore) -> Vec<Vec<u8>> {
    use std::io::Read;
    let alice = store
        .user(&Address::parse("alice@example.test").unwrap())
        .unwrap()
        .unwrap();
    let inbox = store.mailboxes(alice.id).unwrap().remove(0);
    let metas = store.messages(inbox.id).unwrap();
    metas
        .iter()
        .map(|m| {
            let mut body = Vec::new();
            store
                .open_blob(&m.blob)
                .unwrap()
                .read_to_end(&mut body)
                .unwrap();
            body
        })
        .collect()
}

#[tokio::test]
async fn nul_octets_in_content_are_stored_in_base64_and_elsewhere_refused() {
    let envelope = "MAIL FROM:<a@r.test>\r\nRCPT TO:<alice@example.test>\r\n";
    let chunk = b"Subject: by bdat\r\n\r\nb\0dat\r\n";
    let mut script = format!(
        "EHLO c.test\r\n{envelope}DATA\r\nSubject: m\r\n\r\nnul\0here\r\n.\r\n\
         {envelope}DATA\r\nSubject: a\0b\r\n\r\nbody\r\n.\r\n\
         {envelope}BDAT {} LAST\r\n",
        chunk.len()
    )
    .into_bytes();
    script.extend_from_slice(chunk);
    script.extend_from_slice(b"QUIT\r\n");
    let (transcript, _dir, store) = converse(&script).await;
    let codes: Vec<&str> = transcript
        .lines()
        .filter(|l| !l.starts_with("250-"))
        .map(|l| &l[..4])
        .collect();
    assert_eq!(
        codes,
        [
            "220 ", "250 ", "250 ", "250 ", "354 ", "250 ", "250 ", "250 ", "354 ", "554 ", "250 ",
            "250 ", "250 ", "221 "
        ],
        "{transcript}"
    );
    assert!(
        transcript.contains("554 5.6.0 Message has a NUL octet in a header"),
        "{transcript}"
    );
    let stored = inbox(&store);
    assert_eq!(
        stored.len(),
        2,
        "the message with a NUL in its header is not kept"
    );
    for (body, encoded) in stored.iter().zip(["bnVsAGhlcmUNCg==", "YgBkYXQNCg=="]) {
        let text = String::from_utf8(body.clone()).unwrap();
        assert!(!text.contains('\0'), "{text}");
        let tail =
            format!("Content-Transfer-Encoding: base64\r\nMIME-Version: 1.0\r\n\r\n{encoded}\r\n");
        assert!(text.ends_with(&tail), "{text}");
    }
}
