//! SORT and THREAD (RFC 5256, RFC 5957) against a real listener.

use hermod_store::{BlockingStore, MailStore};
use hermod_testkit::imap_lines::tagged;
use hermod_testkit::{ImapClient, TestServer};
use hermod_types::{Address, MailboxName};

const ALICE: &str = "alice@example.test";

/// Five messages: two threads by references ("apples", with a reply whose References were
/// kept and one that quotes the thread), and a forward of "bananas" without a Date.
const MESSAGES: [&str; 5] = [
    "From: Zed <zed@a.test>\r\nTo: bob@b.test\r\nSubject: Re: Apples\r\n\
     Date: Mon, 2 Jan 2023 10:00:00 +0000\r\nMessage-ID: <m2@x>\r\nReferences: <m1@x>\r\n\r\nz\r\n",
    "From: \"Anna\" <yann@a.test>\r\nCc: carl@c.test\r\nSubject: apples\r\n\
     Date: Sun, 1 Jan 2023 12:00:00 +0200\r\nMessage-ID: <m1@x>\r\n\r\nyy\r\n",
    "From: bob@b.test\r\nSubject: [list] Bananas\r\n\
     Date: Tue, 3 Jan 2023 10:00:00 +0000\r\n\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n",
    "From: amy@a.test\r\nSubject: Fwd: bananas (fwd)\r\nMessage-ID: <m4@x>\r\n\r\nw\r\n",
    "From: yann@a.test\r\nSubject: Re: apples\r\nDate: Thu, 5 Jan 2023 10:00:00 +0000\r\n\
     Message-ID: <m5@x>\r\nReferences: <m1@x> <m2@x>\r\n\r\nv\r\n",
];

async fn selected() -> (TestServer, ImapClient) {
    let server = TestServer::start_imap().await;
    server.add_user(ALICE, "s3cret");
    for m in MESSAGES {
        server.deliver(ALICE, m).await;
    }
    let mut c = server.imap_client().await;
    c.login(ALICE, "s3cret").await;
    c.ok("SELECT INBOX").await;
    (server, c)
}

/// The body cache entry of every message of the INBOX, as the store keeps it.
fn cached(server: &TestServer) -> Vec<Option<Vec<u8>>> {
    let store = &server.store;
    let user = store
        .user(&Address::parse(ALICE).unwrap())
        .unwrap()
        .unwrap();
    let inbox = store
        .mailbox(user.id, &MailboxName::inbox())
        .unwrap()
        .unwrap();
    let listed = MailStore::messages_with_cache(&**store, inbox.id).unwrap();
    listed.into_iter().map(|(_, data)| data).collect()
}

#[tokio::test]
async fn sort_by_each_key_and_in_reverse() {
    let (server, mut c) = selected().await;
    let caps = c.ok("CAPABILITY").await;
    for cap in [
        " SORT ",
        " SORT=DISPLAY",
        " THREAD=ORDEREDSUBJECT",
        " THREAD=REFERENCES",
    ] {
        assert!(caps[0].contains(cap), "{cap}: {caps:?}");
    }
    let cases = [
        ("SUBJECT DATE", "2 1 5 3 4"),
        // Message 4 has no Date: its arrival (now) stands in.
        ("REVERSE DATE", "4 5 3 1 2"),
        ("FROM", "4 3 2 5 1"),
        ("DISPLAYFROM", "4 2 3 5 1"),
        ("CC", "1 3 4 5 2"),
        ("TO DISPLAYTO", "2 3 4 5 1"),
        // Delivered one after the other: arrival order is delivery order (ties go by
        // sequence number, which is the same).
        ("ARRIVAL", "1 2 3 4 5"),
    ];
    assert!(cached(&server).iter().all(Option::is_none));
    for (criteria, expected) in cases {
        let r = c.ok(&format!("SORT ({criteria}) UTF-8 ALL")).await;
        assert_eq!(r, [format!("* SORT {expected}")], "{criteria}");
    }
    // Sizes as stored (delivery added trace fields), largest first, ties by number.
    let mut by_size: Vec<(usize, usize)> = server
        .inbox(ALICE)
        .iter()
        .enumerate()
        .map(|(at, m)| (at + 1, m.len()))
        .collect();
    by_size.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let expected: Vec<String> = by_size.iter().map(|(n, _)| n.to_string()).collect();
    let r = c.ok("SORT (REVERSE SIZE) UTF-8 ALL").await;
    assert_eq!(r, [format!("* SORT {}", expected.join(" "))]);
    assert!(
        cached(&server).iter().all(Option::is_some),
        "the first SORT cached every message's keys"
    );
    let r = c.ok("UID SORT (SUBJECT DATE) US-ASCII FROM a.test").await;
    assert_eq!(r, ["* SORT 2 1 5 4"]);
    let r = c.ok("SORT (SUBJECT) UTF-8 3:4 SEEN").await;
    assert_eq!(r, ["* SORT"]);
    let r = c.cmd("SORT (SUBJECT) KOI8-R ALL").await;
    assert!(
        tagged(&r).contains("NO [BADCHARSET (UTF-8 US-ASCII)]"),
        "{r:?}"
    );
    let r = c.cmd("SORT (WEIGHT) UTF-8 ALL").await;
    assert!(tagged(&r).contains("BAD"), "{r:?}");
}

#[tokio::test]
async fn a_damaged_cache_entry_is_read_again() {
    let (server, mut c) = selected().await;
    c.ok("SORT (SUBJECT) UTF-8 ALL").await;
    let first = cached(&server)[0].clone().unwrap();
    let store = &server.store;
    let user = store
        .user(&Address::parse(ALICE).unwrap())
        .unwrap()
        .unwrap();
    let inbox = store
        .mailbox(user.id, &MailboxName::inbox())
        .unwrap()
        .unwrap();
    let blob = store.messages(inbox.id).unwrap()[0].blob.clone();
    MailStore::cache_bodies(&**store, &[(blob, b"\x01garbage".to_vec())]).unwrap();
    let r = c.ok("SORT (SUBJECT DATE) UTF-8 ALL").await;
    assert_eq!(r, ["* SORT 2 1 5 3 4"]);
    assert_eq!(cached(&server)[0], Some(first), "written again");
}

#[tokio::test]
async fn thread_by_subject_and_by_references() {
    let (_server, mut c) = selected().await;
    let r = c.ok("THREAD ORDEREDSUBJECT UTF-8 ALL").await;
    assert_eq!(r, ["* THREAD (2 (1)(5))(3 4)"]);
    let r = c.ok("THREAD REFERENCES UTF-8 ALL").await;
    assert_eq!(r, ["* THREAD (2 1 5)(3 4)"]);
    c.ok("STORE 2 +FLAGS.SILENT (\\Deleted)").await;
    c.ok("EXPUNGE").await;
    // Message 2 (UID 2) is gone: its replies are threaded under what is left of it.
    let r = c.ok("UID THREAD REFERENCES UTF-8 ALL").await;
    assert_eq!(r, ["* THREAD (1 5)(3 4)"]);
    let r = c.ok("THREAD REFERENCES UTF-8 NOT FROM bob").await;
    assert_eq!(r, ["* THREAD (1 4)(3)"]);
    let r = c.cmd("THREAD NEWEST UTF-8 ALL").await;
    assert!(tagged(&r).contains("BAD"), "{r:?}");
    c.ok("UNSELECT").await;
    let r = c.cmd("THREAD REFERENCES UTF-8 ALL").await;
    assert!(tagged(&r).contains("BAD"), "no mailbox selected: {r:?}");
}

/// Large bodies are read for their keys one by one, small ones many at a time: either way
/// each sorts where its header says.
#[tokio::test]
async fn large_and_small_bodies_sort_alike() {
    let (server, mut c) = selected().await;
    let line = format!("{}\r\n", "x".repeat(78));
    let big = format!("Subject: aardvark\r\n\r\n{}", line.repeat(2600));
    server.deliver(ALICE, &big).await;
    c.ok("NOOP").await;
    let r = c.ok("SORT (SUBJECT) UTF-8 ALL").await;
    assert_eq!(r, ["* SORT 6 1 2 5 3 4"]);
    assert!(cached(&server).iter().all(Option::is_some));
}

/// A search that reads the bodies anyway caches their keys: the SORT after it parses none.
#[tokio::test]
async fn a_text_search_caches_the_sort_keys() {
    let (server, mut c) = selected().await;
    c.ok("SEARCH SUBJECT apples").await;
    assert!(cached(&server).iter().all(Option::is_some));
    let r = c.ok("SORT (SUBJECT DATE) UTF-8 ALL").await;
    assert_eq!(r, ["* SORT 2 1 5 3 4"]);
}
