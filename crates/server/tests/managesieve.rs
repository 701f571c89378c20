//! ManageSieve (RFC 5804) against a real listener on 127.0.0.1:0.

use hermod_proto::sasl::encode;
use hermod_store::BlockingStore;
use hermod_testkit::{SieveClient, TestServer, run_transcript};
use hermod_types::Address;
use std::time::Duration;

const USER: &str = "alice@example.test";
const FILE_LISTS: &str = "require [\"fileinto\", \"mailbox\"];\r\n\
    if header :contains \"List-Id\" \"dev.lists.test\" { fileinto :create \"Lists\"; }\r\n";

async fn server() -> TestServer {
    let server = TestServer::start().await;
    server.add_user(USER, "s3cret");
    server
}

async fn logged_in(server: &TestServer) -> SieveClient {
    let mut c = server.sieve_client().await;
    let r = c.login(USER, "s3cret").await;
    assert!(r.is_ok(), "{r:?}");
    c
}

fn literal(text: &str) -> String {
    format!("{{{}+}}\r\n{text}", text.len())
}

/// The user's scripts as the store has them: (name, active).
fn stored(server: &TestServer) -> Vec<(String, bool)> {
    let user = server.store.user(&Address::parse(USER).unwrap()).unwrap();
    let list = server.store.sieve_list(user.unwrap().id).unwrap();
    list.into_iter().map(|s| (s.name, s.active)).collect()
}

#[tokio::test]
async fn the_greeting_lists_the_capabilities() {
    let server = server().await;
    let mut c = server.sieve_client().await;
    let g = c.greeting.clone();
    assert!(g.is_ok(), "{g:?}");
    assert!(
        g.capability("IMPLEMENTATION")
            .unwrap()
            .starts_with("hermod")
    );
    // Loopback may log in without TLS by default.
    assert_eq!(g.capability("SASL").as_deref(), Some("PLAIN"));
    assert_eq!(g.capability("STARTTLS").as_deref(), Some(""));
    assert_eq!(g.capability("VERSION").as_deref(), Some("1.0"));
    assert_eq!(g.capability("MAXREDIRECTS").as_deref(), Some("4"));
    assert!(g.capability("OWNER").is_none(), "only after login");
    // Exactly the engine's extensions.
    let sieve = g.capability("SIEVE").unwrap();
    let engine = hermod_server::sieve_engine(&server.config).unwrap();
    assert_eq!(sieve, engine.extensions().join(" "));
    for ext in [
        "fileinto",
        "vacation",
        "imap4flags",
        "include",
        "regex",
        "editheader",
    ] {
        assert!(sieve.split(' ').any(|e| e == ext), "{ext} in {sieve}");
    }
    let again = c.cmd("CAPABILITY").await;
    assert_eq!(
        (again.lines, again.status.as_str()),
        (g.lines.clone(), "OK")
    );
    c.login(USER, "s3cret").await;
    let after = c.cmd("capability").await;
    assert_eq!(after.capability("OWNER").as_deref(), Some(USER));
    let r = c.cmd("LOGOUT").await;
    assert!(r.is_ok(), "{r:?}");
    assert!(c.closed().await);
}

#[tokio::test]
async fn passwords_wait_for_tls_when_loopback_is_not_trusted() {
    let server = TestServer::start_with(|c| {
        c.managesieve.allow_plaintext_auth_on_loopback = false;
    })
    .await;
    server.add_user(USER, "s3cret");
    let mut c = server.sieve_client().await;
    assert_eq!(c.greeting.capability("SASL").as_deref(), Some(""));
    let r = c.login(USER, "s3cret").await;
    assert!(r.status.starts_with("NO (ENCRYPT-NEEDED)"), "{r:?}");
    let r = c.cmd("AUTHENTICATE \"PLAIN\"").await;
    assert!(r.status.starts_with("NO (ENCRYPT-NEEDED)"), "{r:?}");

    // Pipelined after STARTTLS, before the handshake: discarded, never run.
    c.send(b"STARTTLS\r\nLOGOUT\r\n").await;
    let mut c = c.starttls_after_command().await;
    let caps = &c.greeting;
    assert!(caps.is_ok(), "capabilities again after TLS: {caps:?}");
    assert_eq!(caps.capability("SASL").as_deref(), Some("PLAIN"));
    assert!(caps.capability("STARTTLS").is_none());
    assert!(
        c.cmd("NOOP").await.is_ok(),
        "the pipelined LOGOUT was dropped"
    );
    assert!(c.cmd("STARTTLS").await.status.starts_with("NO"));
    assert!(c.login(USER, "s3cret").await.is_ok());
    assert!(c.cmd("LISTSCRIPTS").await.is_ok());
}

#[tokio::test]
async fn authenticate_with_a_continuation_cancel_and_failures() {
    let server = server().await;
    let mut c = server.sieve_client().await;
    assert!(c.cmd("LISTSCRIPTS").await.status.starts_with("NO"));
    let creds = encode(format!("\0{USER}\0s3cret").as_bytes());

    // Cancelled with "*".
    c.send(b"AUTHENTICATE \"PLAIN\"\r\n").await;
    assert_eq!(c.line().await, "\"\"", "an empty challenge");
    assert!(c.cmd("\"*\"").await.status.starts_with("NO"));

    // Wrong password, then unknown mechanism, then a good one as a literal response.
    assert!(c.login(USER, "wrong").await.status.starts_with("NO"));
    assert!(
        c.cmd("AUTHENTICATE \"LOGIN\"")
            .await
            .status
            .starts_with("NO")
    );
    c.send(b"AUTHENTICATE \"PLAIN\"\r\n").await;
    c.line().await;
    let r = c.cmd(&literal(&creds)).await;
    assert!(r.is_ok(), "{r:?}");
    assert!(
        c.cmd("AUTHENTICATE \"PLAIN\"")
            .await
            .status
            .starts_with("NO")
    );
    assert!(c.cmd("LISTSCRIPTS").await.is_ok());

    // UNAUTHENTICATE: back to the start, on the same connection.
    assert!(c.cmd("UNAUTHENTICATE").await.is_ok());
    assert!(c.cmd("LISTSCRIPTS").await.status.starts_with("NO"));
    assert!(c.cmd("UNAUTHENTICATE").await.status.starts_with("NO"));
    assert!(c.login(USER, "s3cret").await.is_ok());
}

#[tokio::test]
async fn scripts_are_put_listed_activated_renamed_and_deleted() {
    let server = server().await;
    let mut c = logged_in(&server).await;
    assert!(c.cmd("HAVESPACE \"lists\" 100").await.is_ok());
    let r = c
        .cmd(&format!("PUTSCRIPT \"lists\" {}", literal(FILE_LISTS)))
        .await;
    assert!(r.is_ok(), "{r:?}");
    assert!(c.cmd("PUTSCRIPT \"other\" \"keep;\"").await.is_ok());
    let list = c.cmd("LISTSCRIPTS").await;
    assert_eq!(list.lines, ["\"lists\"", "\"other\""]);

    assert!(c.cmd("SETACTIVE \"lists\"").await.is_ok());
    let r = c.cmd("SETACTIVE \"nope\"").await;
    assert!(r.status.starts_with("NO (NONEXISTENT)"), "{r:?}");
    assert_eq!(c.cmd("LISTSCRIPTS").await.lines[0], "\"lists\" ACTIVE");

    // GETSCRIPT gives back the exact bytes.
    let r = c.cmd("GETSCRIPT \"lists\"").await;
    assert!(r.is_ok(), "{r:?}");
    assert_eq!(r.lines, [FILE_LISTS.to_owned()]);
    assert!(
        c.cmd("GETSCRIPT \"nope\"")
            .await
            .status
            .starts_with("NO (NONEXISTENT)")
    );

    let r = c.cmd("DELETESCRIPT \"lists\"").await;
    assert!(r.status.starts_with("NO (ACTIVE)"), "{r:?}");
    let r = c.cmd("RENAMESCRIPT \"lists\" \"other\"").await;
    assert!(r.status.starts_with("NO (ALREADYEXISTS)"), "{r:?}");
    let r = c.cmd("RENAMESCRIPT \"nope\" \"x\"").await;
    assert!(r.status.starts_with("NO (NONEXISTENT)"), "{r:?}");
    assert!(c.cmd("RENAMESCRIPT \"lists\" \"filing\"").await.is_ok());
    assert_eq!(
        stored(&server),
        [("filing".to_owned(), true), ("other".to_owned(), false)],
        "the active script stays active under its new name"
    );
    assert!(
        c.cmd("RENAMESCRIPT \"other\" \"bad\u{7}\"")
            .await
            .status
            .starts_with("NO")
    );

    assert!(c.cmd("SETACTIVE \"\"").await.is_ok());
    assert!(c.cmd("DELETESCRIPT \"filing\"").await.is_ok());
    assert!(
        c.cmd("DELETESCRIPT \"filing\"")
            .await
            .status
            .starts_with("NO (NONEXISTENT)")
    );
    assert_eq!(stored(&server), [("other".to_owned(), false)]);
}

#[tokio::test]
async fn bad_scripts_are_refused_with_where_and_why() {
    let server = server().await;
    let mut c = logged_in(&server).await;
    assert!(
        c.cmd(&format!("CHECKSCRIPT {}", literal(FILE_LISTS)))
            .await
            .is_ok()
    );
    let broken = "require \"fileinto\";\r\nfileinto \"x\"\r\n";
    let r = c.cmd(&format!("CHECKSCRIPT {}", literal(broken))).await;
    assert!(
        r.status.starts_with("NO") && r.status.contains("line"),
        "{r:?}"
    );
    let r = c.cmd(&format!("PUTSCRIPT \"b\" {}", literal(broken))).await;
    assert!(
        r.status.starts_with("NO") && r.status.contains("line"),
        "{r:?}"
    );
    let unknown = "require \"enotify\";\r\nkeep;\r\n";
    let r = c
        .cmd(&format!("PUTSCRIPT \"u\" {}", literal(unknown)))
        .await;
    assert!(r.status.starts_with("NO"), "{r:?}");
    // Scripts are UTF-8 (RFC 5228 2.2); a literal carries any octets, so this is checked.
    c.send(b"PUTSCRIPT \"latin1\" {9+}\r\nkeep; #\xe9\n\r\n")
        .await;
    let r = c.response().await;
    assert!(
        r.status.starts_with("NO") && r.status.contains("UTF-8"),
        "{r:?}"
    );
    assert!(stored(&server).is_empty(), "nothing was stored");
    let r = c.cmd("PUTSCRIPT \"\" \"keep;\"").await;
    assert!(r.status.starts_with("NO"), "{r:?}");
    // CHECKSCRIPT stores nothing even when the script is fine.
    assert!(c.cmd("CHECKSCRIPT \"keep;\"").await.is_ok());
    assert!(stored(&server).is_empty());
}

#[tokio::test]
async fn quotas_on_size_and_count() {
    let server = TestServer::start_with(|c| {
        c.sieve.max_scripts = 2;
        c.sieve.max_script_size = 100;
    })
    .await;
    server.add_user(USER, "s3cret");
    let mut c = logged_in(&server).await;
    let r = c.cmd("HAVESPACE \"a\" 101").await;
    assert!(r.status.starts_with("NO (QUOTA/MAXSIZE)"), "{r:?}");
    let big = format!("# {}\r\nkeep;\r\n", "x".repeat(200));
    let r = c.cmd(&format!("PUTSCRIPT \"a\" {}", literal(&big))).await;
    assert!(r.status.starts_with("NO (QUOTA/MAXSIZE)"), "{r:?}");
    // A literal over what the session reads at all: skipped, its lines never run.
    let huge = "LOGOUT\r\n".repeat(300);
    let r = c.cmd(&format!("PUTSCRIPT \"a\" {}", literal(&huge))).await;
    assert!(r.status.starts_with("NO (QUOTA/MAXSIZE)"), "{r:?}");
    assert!(c.cmd("NOOP").await.is_ok());

    assert!(c.cmd("PUTSCRIPT \"a\" \"keep;\"").await.is_ok());
    assert!(c.cmd("PUTSCRIPT \"b\" \"keep;\"").await.is_ok());
    let r = c.cmd("HAVESPACE \"c\" 10").await;
    assert!(r.status.starts_with("NO (QUOTA/MAXSCRIPTS)"), "{r:?}");
    assert!(
        c.cmd("HAVESPACE \"b\" 10").await.is_ok(),
        "replacing adds none"
    );
    let r = c.cmd("PUTSCRIPT \"c\" \"keep;\"").await;
    assert!(r.status.starts_with("NO (QUOTA/MAXSCRIPTS)"), "{r:?}");
    assert!(c.cmd("PUTSCRIPT \"b\" \"discard;\"").await.is_ok());
    assert_eq!(stored(&server).len(), 2);
}

#[tokio::test]
async fn protocol_errors_get_no_and_too_many_get_bye() {
    let server = server().await;
    let mut c = server.sieve_client().await;
    let r = c.cmd("NOOP \"tag-1\"").await;
    assert_eq!(r.status, "OK (TAG \"tag-1\") \"done\"");
    assert!(c.cmd("FROB").await.status.starts_with("NO"));
    assert!(c.cmd("GETSCRIPT unquoted").await.status.starts_with("NO"));
    let long = format!("NOOP \"{}\"", "x".repeat(10_000));
    assert!(c.cmd(&long).await.status.starts_with("NO"));
    assert!(c.cmd("NOOP").await.is_ok(), "in step after a long line");
    for _ in 0..16 {
        assert!(c.cmd("FROB").await.status.starts_with("NO"));
    }
    let r = c.cmd("FROB").await;
    assert!(r.status.starts_with("NO"), "{r:?}");
    let bye = c.response().await;
    assert!(bye.status.starts_with("BYE"), "{bye:?}");
    assert!(c.closed().await);
}

#[tokio::test]
async fn a_literal_too_large_to_skip_ends_the_session() {
    let server = server().await;
    let mut c = logged_in(&server).await;
    let r = c.cmd("PUTSCRIPT \"s\" {4000000000+}").await;
    assert!(r.status.starts_with("BYE"), "{r:?}");
    assert!(c.closed().await);
}

#[tokio::test]
async fn idle_sessions_are_closed_and_connections_capped() {
    let server = TestServer::start_with(|c| {
        c.managesieve.idle_timeout = Duration::from_millis(300);
        c.limits.max_managesieve_connections = 1;
    })
    .await;
    let mut first = server.sieve_client().await;
    let second = SieveClient::connect(server.managesieve).await;
    assert!(
        second.greeting.status.starts_with("BYE (TRYLATER)"),
        "{:?}",
        second.greeting
    );
    let bye = first.response().await;
    assert!(bye.status.starts_with("BYE"), "{bye:?}");
    assert!(first.closed().await);
}

#[tokio::test]
async fn an_uploaded_script_files_mail_arriving_over_smtp() {
    let server = server().await;
    let mut c = logged_in(&server).await;
    let put = format!("PUTSCRIPT \"lists\" {}", literal(FILE_LISTS));
    assert!(c.cmd(&put).await.is_ok());
    assert!(c.cmd("SETACTIVE \"lists\"").await.is_ok());
    server
        .deliver(
            USER,
            "List-Id: <dev.lists.test>\r\nSubject: a list\r\n\r\nhi\r\n",
        )
        .await;
    server
        .deliver(USER, "Subject: personal\r\n\r\nhi\r\n")
        .await;
    let lists = server.messages(USER, "Lists");
    assert_eq!(lists.len(), 1);
    assert!(String::from_utf8_lossy(&lists[0]).contains("Subject: a list"));
    let inbox = server.inbox(USER);
    assert_eq!(inbox.len(), 1);
    assert!(String::from_utf8_lossy(&inbox[0]).contains("Subject: personal"));
}

#[tokio::test]
async fn managesieve_transcripts() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/transcripts/managesieve");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty());
    for file in files {
        let server = server().await;
        run_transcript(&file, server.managesieve).await;
        server.stop().await;
    }
}
