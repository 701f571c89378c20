//! The web interface's newer settings against a real server on loopback: the allow list
//! on the spam page (it wins over the block list at the next connection), each account's
//! own Junk threshold, "learn my Junk folder" and known senders, the DNS records' copy buttons (a static
//! script the Content-Security-Policy allows), and two DKIM rotations at once; with the
//! refusals (no session, no CSRF token, an account that is no administrator).

#[path = "web/client.rs"]
mod client;

use client::{Browser, Reply, addr, server, signed_in};
use hermod_store::BlockingStore;
use hermod_testkit::{SmtpClient, TestServer};

/// Posts a form of `page` with its CSRF token.
async fn submit(browser: &mut Browser, page: &str, action: &str, fields: &[(&str, &str)]) -> Reply {
    let csrf = browser.get(page).await.csrf();
    let mut all = vec![("csrf", csrf.as_str())];
    all.extend_from_slice(fields);
    browser.post(action, &all).await
}

/// A server whose block list file refuses all of loopback, with an (empty) allow list file.
async fn blocking_server(lists: &std::path::Path) -> TestServer {
    let (block, allow) = (lists.join("block.txt"), lists.join("allow.txt"));
    std::fs::write(&block, "127.0.0.0/8\n").unwrap();
    std::fs::write(&allow, "# never refused\n").unwrap();
    let server = TestServer::start_with(|c| {
        c.spam.blocklist_file = Some(block);
        c.spam.allowlist_file = Some(allow);
    })
    .await;
    server.add_user("root@example.test", "root-password");
    server.add_user("alice@example.test", "alice-password");
    server
        .store
        .set_admin(&addr("root@example.test"), true)
        .unwrap();
    server
}

async fn greeting(server: &TestServer) -> u16 {
    SmtpClient::connect(server.smtp).await.greeting.code
}

#[tokio::test]
async fn a_network_allowed_on_the_spam_page_is_not_refused_though_blocked() {
    let lists = tempfile::tempdir().unwrap();
    let server = blocking_server(lists.path()).await;
    let allow_file = lists.path().join("allow.txt");
    assert_eq!(greeting(&server).await, 554);
    let (page, action) = ("/admin/spam", "/admin/spam/allow");
    let mut root = signed_in(&server, "root@example.test", "root-password").await;
    let shown = root.get(page).await.body;
    assert!(
        shown.contains("Allow list") && shown.contains("allow.txt"),
        "{shown}"
    );

    // Refused: no token; an account that is no administrator. The file stays as it was.
    let forged = root
        .post(action, &[("op", "add"), ("network", "127.0.0.1")])
        .await;
    assert_eq!(forged.status, 403);
    let mut alice = signed_in(&server, "alice@example.test", "alice-password").await;
    let csrf = alice.get("/account").await.csrf();
    let fields = [
        ("csrf", csrf.as_str()),
        ("op", "add"),
        ("network", "127.0.0.1"),
    ];
    assert_eq!(alice.post(action, &fields).await.status, 403);
    assert_eq!(
        std::fs::read_to_string(&allow_file).unwrap(),
        "# never refused\n"
    );
    assert_eq!(greeting(&server).await, 554);

    let added = submit(
        &mut root,
        page,
        action,
        &[("op", "add"), ("network", "127.0.0.1")],
    )
    .await;
    assert_eq!(added.status, 303, "{}", added.body);
    assert_eq!(
        added.header("location").as_deref(),
        Some("/admin/spam?done=allowed")
    );
    assert_eq!(
        std::fs::read_to_string(&allow_file).unwrap(),
        "# never refused\n127.0.0.1/32\n"
    );
    assert_eq!(greeting(&server).await, 220, "the allow list wins");
    let twice = submit(
        &mut root,
        page,
        action,
        &[("op", "add"), ("network", "127.0.0.1")],
    )
    .await;
    assert_eq!(twice.status, 422);
    assert!(
        twice.body.contains("already on the allow list"),
        "{}",
        twice.body
    );
    let listed = root.get(page).await.body;
    assert!(listed.contains("Remove 127.0.0.1/32"), "{listed}");

    let removed = submit(
        &mut root,
        page,
        action,
        &[("op", "remove"), ("network", "127.0.0.1")],
    )
    .await;
    assert_eq!(removed.status, 303, "{}", removed.body);
    assert_eq!(greeting(&server).await, 554);
    server.stop().await;
}

#[tokio::test]
async fn an_account_sets_its_junk_threshold_and_learns_its_junk_folder() {
    let server = server().await;
    let page = "/account/spam";
    let alice_address = addr("alice@example.test");
    let threshold = |server: &TestServer| {
        let user = server.store.user(&alice_address).unwrap().unwrap();
        user.junk_threshold
    };
    // Without a session: the login page; without the token: refused.
    let mut anonymous = Browser::new(server.http);
    let away = anonymous.get(page).await;
    assert_eq!(away.status, 303);
    assert_eq!(away.header("location").as_deref(), Some("/login"));
    let mut alice = signed_in(&server, "alice@example.test", "alice-password").await;
    let shown = alice.get(page).await;
    assert_eq!(shown.status, 200);
    assert!(
        shown.body.contains("the server's threshold"),
        "{}",
        shown.body
    );
    let forged = alice
        .post("/account/spam/threshold", &[("threshold", "2")])
        .await;
    assert_eq!(forged.status, 403);
    assert_eq!(threshold(&server), None);

    let set = "/account/spam/threshold";
    for refused in ["20", "lots"] {
        let reply = submit(&mut alice, page, set, &[("threshold", refused)]).await;
        assert_eq!(reply.status, 422, "{refused}: {}", reply.body);
    }
    let saved = submit(&mut alice, page, set, &[("threshold", "-50")]).await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    assert_eq!(threshold(&server), Some(-50.0));
    assert!(
        alice
            .get(page)
            .await
            .body
            .contains("Your threshold: <strong>-50")
    );

    // Her own threshold files what arrives into her Junk; the button learns it as spam.
    for n in 1..=2 {
        let mail = format!(
            "From: sender@remote.test\r\nTo: alice@example.test\r\nSubject: offer {n}\r\n\
             Message-ID: <offer{n}@remote.test>\r\n\r\nBuy now\r\n"
        );
        server.deliver("alice@example.test", &mail).await;
    }
    assert_eq!(server.messages("alice@example.test", "Junk").len(), 2);
    let train = "/account/spam/train-junk";
    assert_eq!(alice.post(train, &[]).await.status, 403);
    let learned = submit(&mut alice, page, train, &[]).await;
    assert_eq!(learned.status, 200);
    assert!(
        learned.body.contains("learned 2 message(s)"),
        "{}",
        learned.body
    );
    let id = server.store.user(&alice_address).unwrap().unwrap().id;
    assert_eq!(server.store.bayes_load(Some(id)).unwrap().spam_messages, 2);
    assert_eq!(server.store.bayes_load(None).unwrap().spam_messages, 0);
    let again = submit(&mut alice, page, train, &[]).await;
    assert!(again.body.contains("already knew all 2"), "{}", again.body);
    assert_eq!(server.store.bayes_load(Some(id)).unwrap().spam_messages, 2);

    let back = submit(&mut alice, page, set, &[("threshold", "")]).await;
    assert_eq!(
        back.header("location").as_deref(),
        Some("/account/spam?done=default")
    );
    assert_eq!(threshold(&server), None);
    server.stop().await;
}

#[tokio::test]
async fn dns_records_have_copy_buttons_from_an_allowed_script() {
    let server = server().await;
    let mut root = signed_in(&server, "root@example.test", "root-password").await;
    let page = root.get("/admin/domains").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains(r#"<script src="/web.js" defer>"#),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains(r#"data-copy="the MX record of example.test""#),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains(r#"data-copy="every record of example.test""#)
    );
    // Without the script the records are there as text; no button is in the HTML.
    assert!(!page.body.contains(">Copy<"));
    let csp = page.header("content-security-policy").unwrap();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    let script = root.get("/web.js").await;
    assert_eq!(script.status, 200);
    let kind = script.header("content-type").unwrap_or_default();
    assert!(kind.starts_with("text/javascript"), "{kind}");
    assert!(script.body.contains("navigator.clipboard"));
    server.stop().await;
}

#[tokio::test]
async fn two_dkim_rotations_at_once_take_a_generation_each() {
    let server = server().await;
    let mut first = signed_in(&server, "root@example.test", "root-password").await;
    let mut second = signed_in(&server, "root@example.test", "root-password").await;
    let (page, rotate) = ("/admin/domains", "/admin/domains/dkim-rotate");
    // Added on the page, the domain has its first keys.
    let added = submit(&mut first, page, page, &[("domain", "other.test")]).await;
    assert_eq!(added.status, 303, "{}", added.body);
    let (one, two) = (first.get(page).await.csrf(), second.get(page).await.csrf());
    let fields = |csrf: &str| [("csrf", csrf.to_owned()), ("domain", "other.test".into())];
    let (a, b) = (fields(&one), fields(&two));
    let a: Vec<(&str, &str)> = a.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let b: Vec<(&str, &str)> = b.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (x, y) = tokio::join!(first.post(rotate, &a), second.post(rotate, &b));
    assert_eq!((x.status, y.status), (303, 303), "{} {}", x.body, y.body);
    let domain = hermod_types::Domain::parse("other.test").unwrap();
    let keys = server.store.dkim_keys(&domain).unwrap();
    let selectors: Vec<&str> = keys.iter().map(|k| k.selector.as_str()).collect();
    assert_eq!(
        selectors,
        [
            "hermod-ed25519",
            "hermod-ed25519-2",
            "hermod-ed25519-3",
            "hermod-rsa",
            "hermod-rsa-2",
            "hermod-rsa-3"
        ]
    );
    let signing = hermod_core::dkim::signing_keys(&keys);
    let signing: Vec<&str> = signing.iter().map(|k| k.selector.as_str()).collect();
    assert_eq!(signing, ["hermod-ed25519-3", "hermod-rsa-3"]);
    server.stop().await;
}

#[tokio::test]
async fn an_account_sees_its_known_senders_and_forgets_one() {
    let server = server().await;
    let page = "/account/spam";
    let id = (server
        .store
        .user(&addr("alice@example.test"))
        .unwrap()
        .unwrap())
    .id;
    let friends = [
        "friend@remote.test".to_owned(),
        "shop@remote.test".to_owned(),
    ];
    server
        .store
        .correspondents_note(id, &friends, 1_800_000_000)
        .unwrap();
    let mut alice = signed_in(&server, "alice@example.test", "alice-password").await;
    let shown = alice.get(page).await;
    assert!(shown.body.contains("Known senders"), "{}", shown.body);
    assert!(shown.body.contains("friend@remote.test") && shown.body.contains("shop@remote.test"));
    assert!(shown.body.contains("2 in all") && shown.body.contains("2027-01-15 08:00 UTC"));

    let forget = "/account/spam/forget-sender";
    let forged = alice
        .post(forget, &[("address", "friend@remote.test")])
        .await;
    assert_eq!(forged.status, 403);
    let done = submit(
        &mut alice,
        page,
        forget,
        &[("address", "Friend@Remote.test")],
    )
    .await;
    assert_eq!(
        done.header("location").as_deref(),
        Some("/account/spam?done=forgotten")
    );
    let known = |address: &str| server.store.correspondents_of(address, &[id]).unwrap();
    assert_eq!(known("friend@remote.test"), []);
    assert_eq!(known("shop@remote.test"), [id]);
    let after = alice.get(page).await.body;
    assert!(!after.contains("friend@remote.test") && after.contains("1 in all"));
    server.stop().await;
}
