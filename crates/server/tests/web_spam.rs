//! The web interface's spam page against a real server on loopback: the block list file,
//! edited on the page, applies to the next SMTP connection; a recent verdict's message
//! teaches the server-wide filter; refusals for non-admins and forms without their token.

#[path = "web/client.rs"]
mod client;

use client::{Browser, Reply, signed_in};
use hermod_store::BlockingStore;
use hermod_testkit::{SmtpClient, TestServer};
use hermod_types::Address;

const PAGE: &str = "/admin/spam";
const ACTION: &str = "/admin/spam/block";

async fn submit(browser: &mut Browser, fields: &[(&str, &str)]) -> Reply {
    submit_to(browser, ACTION, fields).await
}

#[tokio::test]
async fn a_network_blocked_on_the_page_is_refused_at_connect() {
    let lists = tempfile::tempdir().unwrap();
    let file = lists.path().join("block.txt");
    std::fs::write(&file, "# managed on the web\n").unwrap();
    let configured = file.clone();
    let server = TestServer::start_with(|c| c.spam.blocklist_file = Some(configured)).await;
    server.add_user("root@example.test", "root-password");
    server.add_user("alice@example.test", "alice-password");
    let root_address = Address::parse("root@example.test").unwrap();
    server.store.set_admin(&root_address, true).unwrap();
    let mut root = signed_in(&server, "root@example.test", "root-password").await;
    let page = root.get(PAGE).await;
    assert_eq!(page.status, 200);
    let content_type = page.header("content-type").unwrap_or_default();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(
        page.body.contains("The file lists no network"),
        "{}",
        page.body
    );
    assert_eq!(SmtpClient::connect(server.smtp).await.greeting.code, 220);

    let added = submit(&mut root, &[("op", "add"), ("network", "127.0.0.9/8")]).await;
    assert_eq!(added.status, 303, "{}", added.body);
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(text, "# managed on the web\n127.0.0.0/8\n");
    assert!(root.get(PAGE).await.body.contains("Remove 127.0.0.0/8"));
    let refused = SmtpClient::connect(server.smtp).await;
    assert_eq!(refused.greeting.code, 554, "{:?}", refused.greeting);

    let twice = submit(&mut root, &[("op", "add"), ("network", "127.0.0.0/8")]).await;
    assert_eq!(twice.status, 422);
    assert!(
        twice.body.contains("already on the block list"),
        "{}",
        twice.body
    );
    let bad = submit(&mut root, &[("op", "add"), ("network", "nonsense")]).await;
    assert_eq!(bad.status, 422);

    // Without the form's token, and for an account that is no administrator: refused, and
    // the file is untouched.
    let forged = root
        .post(ACTION, &[("op", "remove"), ("network", "127.0.0.0/8")])
        .await;
    assert_eq!(forged.status, 403);
    let mut alice = signed_in(&server, "alice@example.test", "alice-password").await;
    assert_eq!(alice.get(PAGE).await.status, 403);
    let csrf = alice.get("/account").await.csrf();
    let not_admin = alice
        .post(
            ACTION,
            &[
                ("csrf", &csrf),
                ("op", "remove"),
                ("network", "127.0.0.0/8"),
            ],
        )
        .await;
    assert_eq!(not_admin.status, 403);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text);

    let removed = submit(&mut root, &[("op", "remove"), ("network", "127.0.0.0/8")]).await;
    assert_eq!(removed.status, 303, "{}", removed.body);
    assert_eq!(SmtpClient::connect(server.smtp).await.greeting.code, 220);
    server.stop().await;
}

#[tokio::test]
async fn a_recent_verdict_is_shown_and_teaches_the_server_wide_filter() {
    let server = TestServer::start().await;
    server.add_user("root@example.test", "root-password");
    server.add_user("alice@example.test", "alice-password");
    let root_address = Address::parse("root@example.test").unwrap();
    server.store.set_admin(&root_address, true).unwrap();
    let mail = "From: sender@remote.test\r\nTo: alice@example.test\r\nSubject: cheap pills\r\nMessage-ID: <p1@remote.test>\r\n\r\nBuy now\r\n";
    server.deliver("alice@example.test", mail).await;
    let mut root = signed_in(&server, "root@example.test", "root-password").await;
    let page = root.get(PAGE).await.body;
    assert!(
        page.contains("sender@remote.test") && page.contains("alice@example.test"),
        "{page}"
    );
    assert!(page.contains("Spam: message 1"), "{page}");
    let stored = server.inbox("alice@example.test");
    assert_eq!(stored.len(), 1);
    // What the filter scanned is the message as received, before its own fields were added.
    let digest = hermod_spam::training::digest(mail.as_bytes());
    let seen = |server: &TestServer| {
        server
            .store
            .bayes_seen(None, std::slice::from_ref(&digest))
            .unwrap()
    };
    assert_eq!(seen(&server), [None]);

    let train = "/admin/spam/train";
    let forged = root.post(train, &[("id", "1"), ("class", "spam")]).await;
    assert_eq!(forged.status, 403);
    let mut alice = signed_in(&server, "alice@example.test", "alice-password").await;
    let csrf = alice.get("/account").await.csrf();
    let not_admin = alice
        .post(train, &[("csrf", &csrf), ("id", "1"), ("class", "spam")])
        .await;
    assert_eq!(not_admin.status, 403);
    assert_eq!(seen(&server), [None]);

    let learned = submit_to(&mut root, train, &[("id", "1"), ("class", "spam")]).await;
    assert_eq!(learned.status, 303, "{}", learned.body);
    assert_eq!(
        learned.header("location").as_deref(),
        Some("/admin/spam?done=learned")
    );
    assert_eq!(seen(&server), [Some(true)]);
    let again = submit_to(&mut root, train, &[("id", "1"), ("class", "spam")]).await;
    assert_eq!(
        again.header("location").as_deref(),
        Some("/admin/spam?done=known")
    );
    let moved = submit_to(&mut root, train, &[("id", "1"), ("class", "ham")]).await;
    assert_eq!(moved.status, 303);
    assert_eq!(seen(&server), [Some(false)]);
    let gone = submit_to(&mut root, train, &[("id", "99"), ("class", "spam")]).await;
    assert_eq!(gone.status, 422);
    server.stop().await;
}

async fn submit_to(browser: &mut Browser, action: &str, fields: &[(&str, &str)]) -> Reply {
    let csrf = browser.get(PAGE).await.csrf();
    let mut all = vec![("csrf", csrf.as_str())];
    all.extend_from_slice(fields);
    browser.post(action, &all).await
}
