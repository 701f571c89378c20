//! Mailing lists end to end on loopback: subscribing by mail (double opt-in) for a local
//! and a remote member, posts with the list's header fields reaching local mailboxes and a
//! fake remote MTA (one VERP envelope per member, DKIM-signed by the list's domain), bounces
//! counted until a member is suspended, a non-member's post held then approved, a DMARC
//! p=reject author rewritten, automatic mail and loops never distributed.

use hermod_core::Router;
use hermod_core::lists::ListDeps;
use hermod_store::{BlockingStore, EmbeddedStore, ListMode, ListSettings, MemberState, Store};
use hermod_testkit::{FakeMta, SmtpClient, TestServer, eventually};
use hermod_types::Address;
use std::sync::Arc;
use std::time::Duration;

const LIST: &str = "team@example.test";

async fn start(adjust: impl FnOnce(&mut hermod_config::Config)) -> (FakeMta, TestServer, i64) {
    let mta = FakeMta::start().await;
    let port = mta.addr.port();
    let server = TestServer::start_with(|c| {
        c.outbound.port = port;
        adjust(c);
    })
    .await;
    server.add_user("owner@example.test", "s3cret");
    server.add_user("alice@example.test", "s3cret");
    let domain = hermod_types::Domain::parse("example.test").unwrap();
    for key in hermod_core::dkim::generate_keys().unwrap() {
        server.store.set_dkim_key(&domain, &key).unwrap();
    }
    let settings = ListSettings {
        owner: "owner@example.test".into(),
        mode: ListMode::Discussion,
        moderated: false,
        refuse_non_members: false,
        archive: false,
    };
    let list = server
        .store
        .list_create(&Address::parse(LIST).unwrap(), &settings)
        .unwrap();
    (mta, server, list)
}

fn mail(from: &str, to: &str, subject: &str, extra: &str) -> String {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: Mon, 30 Nov 2026 03:00:00 +0000\r\n\
         Message-ID: <{}@remote.test>\r\n{extra}\r\nHello everyone,\r\nthis is a message.\r\n",
        subject.replace(' ', ".")
    )
}

/// Over SMTP from another server; returns the reply to the data.
async fn send(server: &TestServer, sender: &str, to: &str, body: &str) -> u16 {
    let mut c = server.client().await;
    c.cmd("EHLO mx.remote.test").await;
    let reply = c.send_mail(sender, &[to], body).await;
    c.cmd("QUIT").await;
    reply.code
}

/// By submission, authenticated as `user`.
async fn submit(server: &TestServer, user: &str, to: &str, body: &str) {
    let mut c = SmtpClient::connect(server.submission).await;
    c.cmd("EHLO client.test").await;
    let (mut c, _) = c.starttls().await;
    c.cmd("EHLO client.test").await;
    assert_eq!(c.auth_plain(user, "s3cret").await.code, 235);
    let r = c.send_mail(user, &[to], body).await;
    assert_eq!(r.code, 250, "{r:?}");
}

fn text(message: &[u8]) -> String {
    String::from_utf8_lossy(message).into_owned()
}

/// The token of a confirmation's `Subject: confirm TOKEN`.
fn token_of(message: &str) -> String {
    let subject = message
        .lines()
        .find_map(|l| l.strip_prefix("Subject: confirm "))
        .unwrap_or_else(|| panic!("a confirmation: {message}"));
    subject.trim().to_owned()
}

fn state(server: &TestServer, list: i64, address: &str) -> Option<(MemberState, u32)> {
    let member = server.store.list_member(list, address).unwrap();
    member.map(|m| (m.state, m.bounces))
}

fn header_block(message: &str) -> &str {
    message.split("\r\n\r\n").next().unwrap()
}

#[tokio::test]
async fn members_subscribe_by_mail_and_get_posts_with_list_headers() {
    let (mta, server, list) = start(|_| {}).await;
    let bob = "bob@remote.test";

    // A remote subscriber: a confirmation with a token, answered at LIST+confirm-TOKEN@.
    let request = mail(bob, "team+subscribe@example.test", "join", "");
    assert_eq!(
        send(&server, bob, "team+subscribe@example.test", &request).await,
        250
    );
    eventually("the confirmation at the remote MTA", || {
        mta.messages().iter().any(|m| m.to == [bob])
    })
    .await;
    let confirmation = mta.messages().into_iter().find(|m| m.to == [bob]).unwrap();
    assert_eq!(confirmation.from, "", "list notices have the null sender");
    let token = token_of(&confirmation.data);
    assert!(
        confirmation
            .data
            .contains(&format!("Reply-To: <team+confirm-{token}@example.test>"))
    );
    assert_eq!(state(&server, list, bob), Some((MemberState::Pending, 0)));
    let answer_to = format!("team+confirm-{token}@example.test");
    let answer = mail(bob, &answer_to, &format!("Re: confirm {token}"), "");
    assert_eq!(send(&server, bob, &answer_to, &answer).await, 250);
    assert_eq!(state(&server, list, bob), Some((MemberState::Active, 0)));
    assert_eq!(send(&server, bob, &answer_to, &answer).await, 250);
    assert_eq!(
        state(&server, list, bob),
        Some((MemberState::Active, 0)),
        "used once"
    );

    // A local subscriber, by the -request address; the answer names the token in the subject.
    let alice = "alice@example.test";
    let request = mail(alice, "team-request@example.test", "subscribe", "");
    submit(&server, alice, "team-request@example.test", &request).await;
    let confirmation = text(&server.inbox(alice)[0]);
    let token = token_of(&confirmation);
    let answer = mail(
        alice,
        "team-request@example.test",
        &format!("Re: confirm {token}"),
        "",
    );
    submit(&server, alice, "team-request@example.test", &answer).await;
    assert_eq!(state(&server, list, alice), Some((MemberState::Active, 0)));
    let welcomed = server.inbox(alice).len();

    // Bob posts: alice's copy is filed, bob's goes out with his own VERP sender, signed.
    let post = mail("Bob <bob@remote.test>", LIST, "hello list", "");
    assert_eq!(send(&server, bob, LIST, &post).await, 250);
    let copy = text(server.inbox(alice).last().unwrap());
    assert_eq!(server.inbox(alice).len(), welcomed + 1);
    let head = header_block(&copy);
    for field in [
        "List-Id: <team.example.test>",
        "List-Post: <mailto:team@example.test>",
        "List-Help: <mailto:team-request@example.test?subject=help>",
        "List-Subscribe: <mailto:team+subscribe@example.test>",
        "List-Unsubscribe: <mailto:team+unsubscribe@example.test>",
        "Precedence: list",
        "From: Bob <bob@remote.test>",
        "Subject: hello list",
    ] {
        assert!(head.contains(field), "{field} in {head}");
    }
    eventually("bob's copy", || {
        mta.messages()
            .iter()
            .any(|m| m.data.contains("Subject: hello list"))
    })
    .await;
    let remote = mta
        .messages()
        .into_iter()
        .find(|m| m.data.contains("Subject: hello list"))
        .unwrap();
    assert_eq!(remote.from, "team+bounce-bob=remote.test@example.test");
    assert_eq!(remote.to, [bob]);
    assert!(
        remote.data.starts_with("DKIM-Signature: "),
        "{}",
        remote.data
    );
    assert!(remote.data.contains("d=example.test"));
    assert!(remote.data.contains("List-Id: <team.example.test>\r\n"));

    // Alice leaves from her own account: no confirmation needed.
    let leave = mail(alice, "team+unsubscribe@example.test", "bye", "");
    submit(&server, alice, "team+unsubscribe@example.test", &leave).await;
    assert_eq!(state(&server, list, alice), None);
    // Bob must confirm his unsubscription.
    let leave = mail(bob, "team+unsubscribe@example.test", "bye", "");
    assert_eq!(
        send(&server, bob, "team+unsubscribe@example.test", &leave).await,
        250
    );
    assert_eq!(state(&server, list, bob), Some((MemberState::Active, 0)));
}

#[tokio::test]
async fn bouncing_members_are_suspended_and_the_owner_told() {
    let (mta, server, list) = start(|c| c.lists.suspend_after_bounces = 2).await;
    for member in ["reject-me@remote.test", "fine@remote.test"] {
        server
            .store
            .list_set_member(list, member, MemberState::Active)
            .unwrap();
    }
    for n in 1..=3u32 {
        let post = mail("owner@example.test", LIST, &format!("news {n}"), "");
        submit(&server, "owner@example.test", LIST, &post).await;
        eventually("the post's bounce counted", || {
            state(&server, list, "reject-me@remote.test").unwrap().1 == n.min(2)
                && server.store.queue().unwrap().is_empty()
        })
        .await;
    }
    assert_eq!(
        state(&server, list, "reject-me@remote.test"),
        Some((MemberState::Suspended, 2))
    );
    let fine = mta
        .messages()
        .into_iter()
        .filter(|m| m.to == ["fine@remote.test"])
        .count();
    assert_eq!(fine, 3);
    let owner = server.inbox("owner@example.test");
    assert_eq!(owner.len(), 1, "one notice, no bounce reports");
    assert!(text(&owner[0]).contains("reject-me@remote.test bounced 2 posts"));
}

#[tokio::test]
async fn a_non_members_post_is_held_until_approved() {
    let (_mta, server, list) = start(|_| {}).await;
    let alice = "alice@example.test";
    server
        .store
        .list_set_member(list, alice, MemberState::Active)
        .unwrap();
    let post = mail("carol@remote.test", LIST, "may I", "");
    assert_eq!(send(&server, "carol@remote.test", LIST, &post).await, 250);
    assert!(server.inbox(alice).is_empty());
    let held = server.store.list_held(list, false).unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].subject, "may I");
    let notice = text(&server.inbox("owner@example.test")[0]);
    assert!(notice.contains(&format!(
        "hermod list approve team@example.test {}",
        held[0].id
    )));

    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::new(server.store.clone()));
    let router = Router::new(store.clone(), None).with_lists(store.clone());
    let sieve = hermod_server::sieve_engine(&server.config).unwrap();
    let engine = hermod_server::list_engine(&server.config, store.as_ref())
        .await
        .unwrap();
    let deps = ListDeps {
        store: store.as_ref(),
        sieve: &sieve,
        router: &router,
    };
    let record = server.store.list(LIST).unwrap().unwrap();
    assert_eq!(
        engine.approve(deps, &record, held[0].id).await.unwrap(),
        Some(1)
    );
    assert_eq!(
        engine.approve(deps, &record, held[0].id).await.unwrap(),
        None
    );
    let copy = text(&server.inbox(alice)[0]);
    assert!(copy.contains("List-Id: <team.example.test>") && copy.contains("Subject: may I"));
    assert!(server.store.list_held(list, false).unwrap().is_empty());

    // Moderation by mail: replying to the notice approves, the other address rejects.
    for subject in ["second", "third"] {
        let post = mail("carol@remote.test", LIST, subject, "");
        assert_eq!(send(&server, "carol@remote.test", LIST, &post).await, 250);
    }
    let notices: Vec<String> = server
        .inbox("owner@example.test")
        .iter()
        .map(|m| text(m))
        .collect();
    assert_eq!(notices.len(), 3);
    let reply_to = |notice: &str| -> String {
        let line = notice
            .lines()
            .find(|l| l.starts_with("Reply-To: <"))
            .unwrap();
        line.trim_start_matches("Reply-To: <")
            .trim_end_matches('>')
            .to_owned()
    };
    let approve = reply_to(&notices[1]);
    let answer = mail("owner@example.test", &approve, "Re: held", "");
    submit(&server, "owner@example.test", &approve, &answer).await;
    let reject = notices[2]
        .lines()
        .find_map(|l| l.strip_prefix("To reject it, send any message to "))
        .unwrap()
        .trim_end_matches('.')
        .to_owned();
    let answer = mail("owner@example.test", &reject, "no", "");
    submit(&server, "owner@example.test", &reject, &answer).await;
    let subjects: Vec<String> = server
        .inbox(alice)
        .iter()
        .map(|m| {
            text(m)
                .lines()
                .find(|l| l.starts_with("Subject: "))
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(subjects, ["Subject: may I", "Subject: second"]);
    assert!(server.store.list_held(list, false).unwrap().is_empty());
}

#[tokio::test]
async fn a_strict_dmarc_author_is_rewritten_to_the_list() {
    let (_mta, server, list) = start(|_| {}).await;
    server
        .dns
        .add_txt("strict.test", "v=spf1 ip4:127.0.0.1 -all");
    server
        .dns
        .add_txt("_dmarc.strict.test", "v=DMARC1; p=reject");
    let alice = "alice@example.test";
    for member in [alice, "dave@strict.test"] {
        server
            .store
            .list_set_member(list, member, MemberState::Active)
            .unwrap();
    }
    let post = mail("\"Dave D\" <dave@strict.test>", LIST, "strict", "");
    assert_eq!(send(&server, "dave@strict.test", LIST, &post).await, 250);
    let copy = text(&server.inbox(alice)[0]);
    let head = header_block(&copy);
    assert!(
        head.contains("From: \"Dave D via team\" <team@example.test>\r\n"),
        "{head}"
    );
    assert!(head.contains("Reply-To: <dave@strict.test>\r\n"), "{head}");
    assert!(
        !head.contains("From: \"Dave D\" <dave@strict.test>"),
        "{head}"
    );
}

#[tokio::test]
async fn automatic_mail_and_loops_are_not_distributed() {
    let (_mta, server, list) = start(|_| {}).await;
    let alice = "alice@example.test";
    let bob = "bob@remote.test";
    for member in [alice, bob] {
        server
            .store
            .list_set_member(list, member, MemberState::Active)
            .unwrap();
    }
    let auto = mail(
        bob,
        LIST,
        "out of office",
        "Auto-Submitted: auto-replied\r\n",
    );
    assert_eq!(send(&server, bob, LIST, &auto).await, 250);
    let bulk = mail(bob, LIST, "bulk", "Precedence: bulk\r\n");
    assert_eq!(send(&server, bob, LIST, &bulk).await, 250);
    let looped = mail(bob, LIST, "again", "List-Id: <team.example.test>\r\n");
    assert_eq!(send(&server, bob, LIST, &looped).await, 250);
    let own = mail(LIST, LIST, "from itself", "");
    assert_eq!(send(&server, bob, LIST, &own).await, 250);
    assert!(server.inbox(alice).is_empty());
    assert!(server.store.list_held(list, false).unwrap().is_empty());
    let fine = mail(bob, LIST, "real", "");
    assert_eq!(send(&server, bob, LIST, &fine).await, 250);
    assert_eq!(server.inbox(alice).len(), 1);
}

#[tokio::test]
async fn lists_refuse_non_members_when_told() {
    let (_mta, server, _) = start(|_| {}).await;
    let settings = ListSettings {
        owner: "owner@example.test".into(),
        mode: ListMode::Announce,
        moderated: false,
        refuse_non_members: true,
        archive: false,
    };
    let closed = Address::parse("closed@example.test").unwrap();
    server.store.list_create(&closed, &settings).unwrap();
    let post = mail("eve@remote.test", "closed@example.test", "hi", "");
    let mut c = server.client().await;
    c.cmd("EHLO mx.remote.test").await;
    c.cmd("MAIL FROM:<eve@remote.test>").await;
    assert_eq!(c.cmd("RCPT TO:<closed@example.test>").await.code, 250);
    assert_eq!(c.cmd("DATA").await.code, 354);
    c.send(post.as_bytes()).await;
    let reply = c.cmd(".").await;
    assert_eq!(reply.code, 550, "{reply:?}");
    assert!(reply.text().contains("only members may post"));
}

#[tokio::test]
async fn every_remote_member_gets_an_envelope_of_its_own() {
    let (mta, server, list) = start(|_| {}).await;
    let members: Vec<String> = (0..40).map(|n| format!("m{n}@remote.test")).collect();
    for member in &members {
        server
            .store
            .list_set_member(list, member, MemberState::Active)
            .unwrap();
    }
    let post = mail("owner@example.test", LIST, "to forty", "");
    submit(&server, "owner@example.test", LIST, &post).await;
    eventually("forty copies", || mta.messages().len() == 40).await;
    let mut senders: Vec<(String, Vec<String>)> =
        mta.messages().into_iter().map(|m| (m.from, m.to)).collect();
    senders.sort();
    let mut expected: Vec<(String, Vec<String>)> = members
        .iter()
        .map(|m| {
            let verp = format!("team+bounce-{}@example.test", m.replace('@', "="));
            (verp, vec![m.clone()])
        })
        .collect();
    expected.sort();
    assert_eq!(senders, expected);
}

/// A request over HTTPS to the server's web listener; the status and body.
async fn https(server: &TestServer, method: &str, path: &str, body: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let tcp = tokio::net::TcpStream::connect(server.https).await.unwrap();
    let connector =
        tokio_rustls::TlsConnector::from(hermod_server::tls::opportunistic_client_config());
    let name = rustls_pki_types::ServerName::try_from("mx.example.test").unwrap();
    let mut tls = connector.connect(name, tcp).await.unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: mx.example.test\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    let _ = tls.read_to_end(&mut raw).await;
    let raw = String::from_utf8(raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    (
        head.split(' ').nth(1).unwrap().parse().unwrap(),
        body.to_owned(),
    )
}

/// The path of the one-click link in a copy's `List-Unsubscribe`, checking the field's form.
fn one_click_path(copy: &str) -> String {
    let head = header_block(copy);
    assert!(
        head.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"),
        "{head}"
    );
    let field = head
        .lines()
        .find_map(|l| l.strip_prefix("List-Unsubscribe: <https://mx.example.test"))
        .unwrap_or_else(|| panic!("a one-click link in {head}"));
    let (path, rest) = field.split_once('>').unwrap();
    assert_eq!(rest, ", <mailto:team+unsubscribe@example.test>");
    path.to_owned()
}

#[tokio::test]
async fn one_click_unsubscribes_only_the_member_its_link_names() {
    let (mta, server, list) = start(|c| {
        c.lists.unsubscribe_url = Some("https://mx.example.test".into());
    })
    .await;
    let (alice, bob) = ("alice@example.test", "bob@remote.test");
    for member in [alice, bob] {
        server
            .store
            .list_set_member(list, member, MemberState::Active)
            .unwrap();
    }
    let post = mail(bob, LIST, "links", "");
    assert_eq!(send(&server, bob, LIST, &post).await, 250);
    let alices = one_click_path(&text(server.inbox(alice).last().unwrap()));
    eventually("bob's copy", || mta.messages().len() == 1).await;
    let remote = mta.messages().remove(0);
    let bobs = one_click_path(&remote.data);
    assert_ne!(alices, bobs, "each member's copy names its member");
    // RFC 8058 3.1: the signature covers both fields (its h= tag, unfolded).
    let signature: String = remote
        .data
        .split("\r\n")
        .skip_while(|l| !l.starts_with("DKIM-Signature:"))
        .enumerate()
        .take_while(|(i, l)| *i == 0 || l.starts_with([' ', '\t']))
        .map(|(_, l)| l.trim())
        .collect();
    let signed = signature
        .split(';')
        .find_map(|tag| tag.trim().strip_prefix("h="))
        .unwrap_or_default()
        .to_ascii_lowercase();
    let signed: Vec<&str> = signed.split(':').collect();
    assert!(
        signed.contains(&"list-unsubscribe") && signed.contains(&"list-unsubscribe-post"),
        "{signature}"
    );

    // A GET (a scanner following the link) only shows the button.
    let (status, page) = https(&server, "GET", &bobs, "").await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<form method=\"post\">") && page.contains("bob@remote.test"));
    assert_eq!(state(&server, list, bob), Some((MemberState::Active, 0)));
    let (status, _) = https(&server, "POST", &bobs, "something=else").await;
    assert_eq!(status, 400);
    // Alice's address under bob's MAC, or a link altered in one place: refused.
    let (alice_subject, _) = alices.split_once('.').unwrap();
    let (_, bob_mac) = bobs.split_once('.').unwrap();
    let forged = format!("{alice_subject}.{bob_mac}");
    let one_click = "List-Unsubscribe=One-Click";
    assert_eq!(https(&server, "POST", &forged, one_click).await.0, 404);
    let altered = format!("{}A", &bobs[..bobs.len() - 1]);
    let altered = if altered == bobs {
        format!("{}B", &bobs[..bobs.len() - 1])
    } else {
        altered
    };
    assert_eq!(https(&server, "POST", &altered, one_click).await.0, 404);
    assert_eq!(state(&server, list, alice), Some((MemberState::Active, 0)));

    // The POST of RFC 8058: no login, no cookie.
    let (status, page) = https(&server, "POST", &bobs, one_click).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(state(&server, list, bob), None);
    assert_eq!(state(&server, list, alice), Some((MemberState::Active, 0)));
    eventually("bob is told", || {
        mta.messages()
            .iter()
            .any(|m| m.to == [bob] && m.data.contains("You have left"))
    })
    .await;
    // Again: the same answer, nothing more happens.
    assert_eq!(https(&server, "POST", &bobs, one_click).await.0, 200);
    let (status, _) = https(&server, "POST", &alices, one_click).await;
    assert_eq!((status, state(&server, list, alice)), (200, None));
}

#[tokio::test]
async fn without_a_public_https_listener_posts_carry_mailto_only() {
    let (_mta, server, list) = start(|_| {}).await;
    let alice = "alice@example.test";
    server
        .store
        .list_set_member(list, alice, MemberState::Active)
        .unwrap();
    submit(
        &server,
        "owner@example.test",
        LIST,
        &mail("owner@example.test", LIST, "x", ""),
    )
    .await;
    let copy = text(server.inbox(alice).last().unwrap());
    let head = header_block(&copy);
    assert!(head.contains("List-Unsubscribe: <mailto:team+unsubscribe@example.test>\r\n"));
    assert!(!head.contains("List-Unsubscribe-Post"), "{head}");
    // The route answers nothing when the links are off.
    let (status, _) = https(
        &server,
        "POST",
        "/list-unsubscribe/x.y",
        "List-Unsubscribe=One-Click",
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_list_over_its_posting_rate_defers_posts() {
    let (_mta, server, list) = start(|c| {
        c.lists.max_posts_per_hour = 2;
    })
    .await;
    let (alice, bob) = ("alice@example.test", "bob@remote.test");
    for member in [alice, bob] {
        server
            .store
            .list_set_member(list, member, MemberState::Active)
            .unwrap();
    }
    for n in 0..2 {
        let post = mail(bob, LIST, &format!("post {n}"), "");
        assert_eq!(send(&server, bob, LIST, &post).await, 250);
    }
    let mut c = server.client().await;
    c.cmd("EHLO mx.remote.test").await;
    let reply = c
        .send_mail(bob, &[LIST], &mail(bob, LIST, "post 2", ""))
        .await;
    assert_eq!(reply.code, 451, "{reply:?}");
    assert!(reply.text().contains("2 posts per hour"), "{reply:?}");
    assert_eq!(
        server.inbox(alice).len(),
        2,
        "the deferred post reached nobody"
    );
}

#[tokio::test]
async fn members_suspended_too_long_are_removed_and_the_owner_told() {
    let (_mta, server, list) = start(|c| {
        c.lists.suspend_after_bounces = 1;
        c.lists.remove_suspended_after = Duration::from_secs(3600);
    })
    .await;
    for member in ["carol@remote.test", "dave@remote.test"] {
        server
            .store
            .list_set_member(list, member, MemberState::Active)
            .unwrap();
    }
    server
        .store
        .list_bounce(list, "carol@remote.test", 1)
        .unwrap();
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::new(server.store.clone()));
    let router = Router::new(store.clone(), None).with_lists(store.clone());
    let sieve = hermod_server::sieve_engine(&server.config).unwrap();
    let engine = hermod_server::list_engine(&server.config, store.as_ref())
        .await
        .unwrap();
    let deps = ListDeps {
        store: store.as_ref(),
        sieve: &sieve,
        router: &router,
    };
    let now = hermod_message::unix_now();
    assert_eq!(engine.remove_long_suspended(deps, now).await.unwrap(), 0);
    assert!(server.inbox("owner@example.test").is_empty());
    let later = now + 3601;
    assert_eq!(engine.remove_long_suspended(deps, later).await.unwrap(), 1);
    assert_eq!(state(&server, list, "carol@remote.test"), None);
    assert_eq!(
        state(&server, list, "dave@remote.test"),
        Some((MemberState::Active, 0))
    );
    let notice = text(&server.inbox("owner@example.test")[0]);
    assert!(notice.contains("carol@remote.test") && notice.contains("longer than 1 hour"));
}
