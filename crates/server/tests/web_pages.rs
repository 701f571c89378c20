//! What the web interface's pages do, against a real server on loopback: an account's
//! password, app passwords (accepted by POP3, refused by the web login), vacation reply and
//! rules (Sieve at delivery); the administrator's accounts, domains, aliases and queue.

#[path = "web/client.rs"]
mod client;

use client::{Browser, Reply, addr, server, signed_in};
use hermod_store::BlockingStore;
use hermod_testkit::{Pop3Client, TestServer};

/// Posts a form of `page` with its CSRF token.
async fn submit(browser: &mut Browser, page: &str, action: &str, fields: &[(&str, &str)]) -> Reply {
    let csrf = browser.get(page).await.csrf();
    let mut all = vec![("csrf", csrf.as_str())];
    all.extend_from_slice(fields);
    browser.post(action, &all).await
}

async fn pop3_login(server: &TestServer, password: &str) -> String {
    let mut pop3 = Pop3Client::connect_tls(server.pop3s).await;
    pop3.login("alice@example.test", password).await
}

#[tokio::test]
async fn passwords_and_app_passwords() {
    let server = server().await;
    let mut alice = signed_in(&server, "alice@example.test", "alice-password").await;
    let page = "/account/security";
    let wrong = submit(
        &mut alice,
        page,
        "/account/password",
        &[
            ("current", "nope"),
            ("new", "new-password-1"),
            ("confirm", "new-password-1"),
        ],
    )
    .await;
    assert_eq!(wrong.status, 422);
    assert!(
        wrong.body.contains("current password is not right"),
        "{}",
        wrong.body
    );
    let differ = submit(
        &mut alice,
        page,
        "/account/password",
        &[
            ("current", "alice-password"),
            ("new", "new-password-1"),
            ("confirm", "new-password-2"),
        ],
    )
    .await;
    assert_eq!(differ.status, 422);
    let old_cookie = alice.cookies["hermod_session"].clone();
    let changed = submit(
        &mut alice,
        page,
        "/account/password",
        &[
            ("current", "alice-password"),
            ("new", "new-password-1"),
            ("confirm", "new-password-1"),
        ],
    )
    .await;
    assert_eq!(changed.status, 303);
    assert_eq!(
        changed.header("location").as_deref(),
        Some("/account/security?done=password")
    );
    // This browser got a new session; the old cookie ended with the old password.
    assert_eq!(
        alice.get("/account/security?done=password").await.status,
        200
    );
    let mut stale = Browser::new(server.http);
    stale.cookies.insert("hermod_session".into(), old_cookie);
    assert_eq!(stale.get("/account").await.status, 303);
    assert!(
        pop3_login(&server, "new-password-1")
            .await
            .starts_with("+OK")
    );

    let made = submit(
        &mut alice,
        page,
        "/account/app-passwords",
        &[("name", "phone")],
    )
    .await;
    assert_eq!(made.status, 200);
    let at = made
        .body
        .find("class=\"secret\">")
        .expect("the new password is shown");
    let secret = made.body[at + "class=\"secret\">".len()..][..19].to_owned();
    assert_eq!(secret.matches('-').count(), 3, "{secret}");
    let again = submit(
        &mut alice,
        page,
        "/account/app-passwords",
        &[("name", "phone")],
    )
    .await;
    assert_eq!(again.status, 422);
    assert!(again.body.contains("exists already"));
    // The app password opens POP3, never the web.
    assert!(pop3_login(&server, &secret).await.starts_with("+OK"));
    let mut web = Browser::new(server.http);
    assert_eq!(web.login("alice@example.test", &secret).await.status, 401);
    // Listed without the secret; revoked, it opens nothing.
    let listed = alice.get(page).await;
    assert!(listed.body.contains("phone") && !listed.body.contains(&secret));
    let user = server
        .store
        .user(&addr("alice@example.test"))
        .unwrap()
        .unwrap();
    let id = server.store.app_passwords(user.id).unwrap()[0]
        .id
        .to_string();
    let revoked = submit(
        &mut alice,
        page,
        "/account/app-passwords/revoke",
        &[("id", &id)],
    )
    .await;
    assert_eq!(revoked.status, 303);
    assert!(pop3_login(&server, &secret).await.starts_with("-ERR"));
    let gone = submit(
        &mut alice,
        page,
        "/account/app-passwords/revoke",
        &[("id", &id)],
    )
    .await;
    assert_eq!(gone.status, 404);
    server.stop().await;
}

#[tokio::test]
async fn vacation_and_rules_are_sieve_at_delivery() {
    let server = server().await;
    let mut alice = signed_in(&server, "alice@example.test", "alice-password").await;
    let page = "/account/vacation";
    let bad = submit(
        &mut alice,
        page,
        page,
        &[("enabled", "on"), ("from", "soon"), ("text", "Away")],
    )
    .await;
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains("YYYY-MM-DD"), "{}", bad.body);
    let saved = submit(
        &mut alice,
        page,
        page,
        &[
            ("enabled", "on"),
            ("subject", "Out of office"),
            ("text", "I am away until Monday."),
        ],
    )
    .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let rule = submit(
        &mut alice,
        page,
        "/account/rules",
        &[
            ("field", "subject"),
            ("value", "[news]"),
            ("action", "fileinto"),
            ("folder", "News"),
        ],
    )
    .await;
    assert_eq!(rule.status, 303, "{}", rule.body);
    let shown = alice.get(page).await;
    assert!(shown.body.contains("I am away until Monday."));
    assert!(shown.body.contains("[news]") && shown.body.contains("News"));

    server.deliver("alice@example.test", "From: sender@remote.test\r\nTo: alice@example.test\r\nSubject: hello\r\nMessage-ID: <1@remote.test>\r\n\r\nHi\r\n").await;
    server.deliver("alice@example.test", "From: sender@remote.test\r\nTo: alice@example.test\r\nSubject: [news] today\r\nMessage-ID: <2@remote.test>\r\n\r\nNews\r\n").await;
    assert_eq!(server.inbox("alice@example.test").len(), 1);
    assert_eq!(server.messages("alice@example.test", "News").len(), 1);
    // The vacation reply waits in the queue for the remote sender.
    let queue = server.store.queue().unwrap();
    assert!(
        queue
            .iter()
            .any(|e| e.recipients.iter().any(|r| r.0 == "sender@remote.test")),
        "{queue:?}"
    );

    let removed = submit(&mut alice, page, "/account/rules/remove", &[("index", "0")]).await;
    assert_eq!(removed.status, 303);
    let off = submit(
        &mut alice,
        page,
        page,
        &[("text", "I am away until Monday.")],
    )
    .await;
    assert_eq!(off.status, 303);
    let user = server
        .store
        .user(&addr("alice@example.test"))
        .unwrap()
        .unwrap();
    assert!(
        server.store.sieve_list(user.id).unwrap().is_empty(),
        "nothing set: no script"
    );
    server.stop().await;
}

#[tokio::test]
async fn administrators_manage_accounts() {
    let server = server().await;
    let mut root = signed_in(&server, "root@example.test", "root-password").await;
    let dashboard = root.get("/admin").await;
    assert_eq!(dashboard.status, 200);
    for needle in ["messages queued", "failed logins", "Valid until", "imaps"] {
        assert!(dashboard.body.contains(needle), "{needle}");
    }
    let page = "/admin/accounts";
    let added = submit(
        &mut root,
        page,
        page,
        &[
            ("address", "bob@example.test"),
            ("password", "bob-password"),
            ("quota", "5"),
        ],
    )
    .await;
    assert_eq!(added.status, 303, "{}", added.body);
    let bob = server
        .store
        .user(&addr("bob@example.test"))
        .unwrap()
        .unwrap();
    assert_eq!(bob.quota, Some(5 * 1024 * 1024));
    let unknown = submit(
        &mut root,
        page,
        page,
        &[("address", "x@elsewhere.test"), ("password", "12345678")],
    )
    .await;
    assert_eq!(unknown.status, 422);
    assert!(unknown.body.contains("unknown domain"), "{}", unknown.body);
    let taken = submit(
        &mut root,
        page,
        page,
        &[("address", "bob@example.test"), ("password", "12345678")],
    )
    .await;
    assert_eq!(taken.status, 422);

    let change = "/admin/accounts/change";
    for op in ["freeze", "bulk-allow", "admin-on"] {
        let reply = submit(
            &mut root,
            page,
            change,
            &[("address", "bob@example.test"), ("op", op)],
        )
        .await;
        assert_eq!(reply.status, 303, "{op}: {}", reply.body);
    }
    let bob = server
        .store
        .user(&addr("bob@example.test"))
        .unwrap()
        .unwrap();
    assert!(bob.frozen.is_some() && bob.bulk_allowed);
    assert!(server.store.is_admin(&addr("bob@example.test")).unwrap());
    for op in ["unfreeze", "bulk-guard", "admin-off"] {
        submit(
            &mut root,
            page,
            change,
            &[("address", "bob@example.test"), ("op", op)],
        )
        .await;
    }
    let bob = server
        .store
        .user(&addr("bob@example.test"))
        .unwrap()
        .unwrap();
    assert!(bob.frozen.is_none() && !bob.bulk_allowed);
    assert!(!server.store.is_admin(&addr("bob@example.test")).unwrap());
    let reset = submit(
        &mut root,
        page,
        change,
        &[
            ("address", "bob@example.test"),
            ("op", "password"),
            ("password", "reset-password"),
        ],
    )
    .await;
    assert_eq!(reset.status, 303);
    signed_in(&server, "bob@example.test", "reset-password").await;
    let senders = [
        ("address", "bob@example.test"),
        ("op", "send-as"),
        ("send_as", "@Example.test boss@corp.test"),
    ];
    assert_eq!(submit(&mut root, page, change, &senders).await.status, 303);
    let bob = server
        .store
        .user(&addr("bob@example.test"))
        .unwrap()
        .unwrap();
    assert_eq!(bob.send_as, ["@example.test", "boss@corp.test"]);
    let bad = [
        ("address", "bob@example.test"),
        ("op", "send-as"),
        ("send_as", "@@"),
    ];
    assert_eq!(submit(&mut root, page, change, &bad).await.status, 422);
    let quota = submit(
        &mut root,
        page,
        change,
        &[
            ("address", "bob@example.test"),
            ("op", "quota"),
            ("quota", ""),
        ],
    )
    .await;
    assert_eq!(quota.status, 303);
    assert_eq!(
        server
            .store
            .user(&addr("bob@example.test"))
            .unwrap()
            .unwrap()
            .quota,
        None
    );
    let own = submit(
        &mut root,
        page,
        change,
        &[("address", "root@example.test"), ("op", "admin-off")],
    )
    .await;
    assert_eq!(own.status, 422);
    assert!(server.store.is_admin(&addr("root@example.test")).unwrap());
    server.stop().await;
}

#[tokio::test]
async fn administrators_manage_domains_aliases_and_the_queue() {
    let server = server().await;
    let mut root = signed_in(&server, "root@example.test", "root-password").await;
    let page = "/admin/domains";
    let added = submit(&mut root, page, page, &[("domain", "Other.TEST")]).await;
    assert_eq!(added.status, 303);
    let shown = root.get(page).await;
    assert!(
        shown.body.contains("hermod-ed25519._domainkey.other.test."),
        "{}",
        shown.body
    );
    assert_eq!(
        server
            .store
            .dkim_keys(&hermod_types::Domain::parse("other.test").unwrap())
            .unwrap()
            .len(),
        2
    );
    let rotate = "/admin/domains/dkim-rotate";
    let rotated = submit(&mut root, page, rotate, &[("domain", "other.test")]).await;
    assert_eq!(rotated.status, 303, "{}", rotated.body);
    let other = hermod_types::Domain::parse("other.test").unwrap();
    let keys = server.store.dkim_keys(&other).unwrap();
    let selectors: Vec<_> = keys.iter().map(|k| k.selector.as_str()).collect();
    assert_eq!(
        selectors,
        [
            "hermod-ed25519",
            "hermod-ed25519-2",
            "hermod-rsa",
            "hermod-rsa-2"
        ]
    );
    let signing = hermod_core::dkim::signing_keys(&keys);
    assert_eq!(signing[0].selector, "hermod-ed25519-2");
    let shown = root.get(page).await.body;
    assert!(
        shown.contains("hermod-rsa-2._domainkey.other.test.")
            && shown.contains("hermod-rsa no longer signs"),
        "{shown}"
    );
    let unknown = submit(&mut root, page, rotate, &[("domain", "nowhere.test")]).await;
    assert_eq!(unknown.status, 422);
    // Without the form's token, and for an account that is no administrator: refused.
    assert_eq!(
        root.post(rotate, &[("domain", "other.test")]).await.status,
        403
    );
    let mut alice = signed_in(&server, "alice@example.test", "alice-password").await;
    let refused = submit(&mut alice, "/account", rotate, &[("domain", "other.test")]).await;
    assert_eq!(refused.status, 403);
    assert_eq!(server.store.dkim_keys(&other).unwrap().len(), 4);

    let in_use = submit(
        &mut root,
        page,
        "/admin/domains/remove",
        &[("domain", "example.test")],
    )
    .await;
    assert_eq!(in_use.status, 422);
    let removed = submit(
        &mut root,
        page,
        "/admin/domains/remove",
        &[("domain", "other.test")],
    )
    .await;
    assert_eq!(removed.status, 303);

    let page = "/admin/aliases";
    let added = submit(
        &mut root,
        page,
        page,
        &[
            ("alias", "team@example.test"),
            ("targets", "alice@example.test, root@example.test"),
        ],
    )
    .await;
    assert_eq!(added.status, 303, "{}", added.body);
    assert!(
        root.get(page)
            .await
            .body
            .contains("alice@example.test, root@example.test")
    );
    let remote = submit(
        &mut root,
        page,
        page,
        &[("alias", "out@example.test"), ("targets", "x@far.test")],
    )
    .await;
    assert_eq!(remote.status, 422);
    let removed = submit(
        &mut root,
        page,
        "/admin/aliases/remove",
        &[("alias", "team@example.test")],
    )
    .await;
    assert_eq!(removed.status, 303);
    assert!(server.store.aliases().unwrap().is_empty());

    // The vacation reply to a remote sender waits in the queue (no DNS for it here).
    let mut alice = signed_in(&server, "alice@example.test", "alice-password").await;
    let page = "/account/vacation";
    submit(
        &mut alice,
        page,
        page,
        &[("enabled", "on"), ("text", "Away")],
    )
    .await;
    let mail = "From: sender@remote.test\r\nTo: alice@example.test\r\nSubject: hi\r\n\r\nHi\r\n";
    server.deliver("alice@example.test", mail).await;
    let queue = server.store.queue().unwrap();
    assert_eq!(queue.len(), 1, "the vacation reply to sender@remote.test");
    let id = queue[0].id.to_string();
    let page = "/admin/queue";
    let listed = root.get(page).await;
    assert!(
        listed.body.contains("sender@remote.test"),
        "{}",
        listed.body
    );
    let retry = submit(
        &mut root,
        page,
        "/admin/queue/act",
        &[("id", &id), ("op", "retry")],
    )
    .await;
    assert_eq!(retry.status, 303);
    let release = submit(
        &mut root,
        page,
        "/admin/queue/act",
        &[("id", &id), ("op", "release")],
    )
    .await;
    assert_eq!(release.status, 422, "not held");
    let deleted = submit(
        &mut root,
        page,
        "/admin/queue/act",
        &[("id", &id), ("op", "delete")],
    )
    .await;
    assert_eq!(deleted.status, 303);
    assert!(server.store.queue().unwrap().is_empty());
    let missing = submit(
        &mut root,
        page,
        "/admin/queue/act",
        &[("id", &id), ("op", "bounce")],
    )
    .await;
    assert_eq!(missing.status, 422);
    server.stop().await;
}

#[tokio::test]
async fn administrators_run_mailing_lists() {
    let server = server().await;
    let mut root = signed_in(&server, "root@example.test", "root-password").await;
    let page = "/admin/lists";
    let bad = submit(
        &mut root,
        page,
        page,
        &[("list", "team"), ("owner", "root@example.test")],
    )
    .await;
    assert_eq!(bad.status, 422);
    let created = submit(
        &mut root,
        page,
        page,
        &[
            ("list", "team@example.test"),
            ("owner", "root@example.test"),
            ("mode", "discussion"),
        ],
    )
    .await;
    assert_eq!(created.status, 303, "{}", created.body);
    let taken = submit(
        &mut root,
        page,
        page,
        &[
            ("list", "alice@example.test"),
            ("owner", "root@example.test"),
        ],
    )
    .await;
    assert_eq!(taken.status, 422, "an account's address");
    let act = "/admin/lists/act";
    let added = submit(
        &mut root,
        page,
        act,
        &[
            ("list", "team@example.test"),
            ("op", "add"),
            ("address", "alice@example.test"),
        ],
    )
    .await;
    assert_eq!(added.status, 303);
    // A non-member's post waits for a moderator; approved, it reaches the member.
    for n in 1..=2 {
        let post = format!(
            "From: sender@remote.test\r\nTo: team@example.test\r\nSubject: post {n}\r\nMessage-ID: <p{n}@remote.test>\r\n\r\nHello\r\n"
        );
        server.deliver("team@example.test", &post).await;
    }
    let listed = root.get(page).await;
    assert!(
        listed.body.contains("post 1") && listed.body.contains("post 2"),
        "{}",
        listed.body
    );
    let list = server.store.list("team@example.test").unwrap().unwrap();
    let held = server.store.list_held(list.id, false).unwrap();
    let (first, second) = (held[0].id.to_string(), held[1].id.to_string());
    let approved = submit(
        &mut root,
        page,
        act,
        &[
            ("list", "team@example.test"),
            ("op", "approve"),
            ("id", &first),
        ],
    )
    .await;
    assert_eq!(approved.status, 303, "{}", approved.body);
    let inbox = server.inbox("alice@example.test");
    assert_eq!(inbox.len(), 1);
    assert!(String::from_utf8_lossy(&inbox[0]).contains("post 1"));
    let rejected = submit(
        &mut root,
        page,
        act,
        &[
            ("list", "team@example.test"),
            ("op", "reject"),
            ("id", &second),
        ],
    )
    .await;
    assert_eq!(rejected.status, 303);
    assert!(server.store.list_held(list.id, false).unwrap().is_empty());
    let again = submit(
        &mut root,
        page,
        act,
        &[
            ("list", "team@example.test"),
            ("op", "reject"),
            ("id", &second),
        ],
    )
    .await;
    assert_eq!(again.status, 422);
    let removed = submit(
        &mut root,
        page,
        act,
        &[
            ("list", "team@example.test"),
            ("op", "remove"),
            ("address", "alice@example.test"),
        ],
    )
    .await;
    assert_eq!(removed.status, 303);
    assert!(server.store.list_members(list.id).unwrap().is_empty());
    let deleted = submit(
        &mut root,
        page,
        act,
        &[("list", "team@example.test"), ("op", "delete")],
    )
    .await;
    assert_eq!(deleted.status, 303);
    assert!(server.store.lists().unwrap().is_empty());
    // An account is refused here too.
    let mut alice = signed_in(&server, "alice@example.test", "alice-password").await;
    assert_eq!(alice.get(page).await.status, 403);
    server.stop().await;
}
