//! Several `hermod serve` nodes on one PostgreSQL database (`HERMOD_TEST_POSTGRES`, or a
//! cluster of this process's own): a node killed mid-load loses nothing and stores nothing
//! twice, a dead node's queue entries go out through another once its claims run out, IDLE
//! on one node hears a delivery through the other, and the POP3 lock holds across nodes.
//!
//! Accounts are made through the store API on the test database (the management commands
//! work on the embedded store only).

mod common;
#[path = "../../store/tests/support/postgres.rs"]
mod postgres;

use common::{Running, Smtp, serve_services};
use hermod_store::{Directory, PostgresOptions, PostgresStore};
use hermod_testkit::{ImapClient, Pop3Client};
use hermod_types::{Address, Domain};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PASSWORD: &str = "correct-horse";

/// One `hermod serve` process; killed (SIGKILL) when dropped, so a failing test leaves none.
struct Node {
    running: Running,
    _dir: tempfile::TempDir,
}

impl Node {
    /// A node named `name` on database `url`, with SMTP, POP3 and IMAP on loopback ports
    /// and its own data directory; `extra` is appended to its config.
    fn start(name: &str, url: &str, extra: &str) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let config = write_node_config(dir.path(), name, url, extra);
        let running = serve_services(&config, &["smtp", "pop3", "imap"]);
        Node { running, _dir: dir }
    }

    fn addr(&self, service: &str) -> SocketAddr {
        self.running.addrs[service]
    }

    /// What the node logged so far (for a failing assertion's message).
    fn log(&self) -> String {
        let mut lines = self.running.startup.clone();
        lines.extend(self.running.log.try_iter());
        lines.join("\n")
    }

    fn kill(&mut self) {
        let _ = self.running.child.kill();
        let _ = self.running.child.wait();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

fn write_node_config(dir: &Path, name: &str, url: &str, extra: &str) -> PathBuf {
    std::fs::write(dir.join("blocklist.txt"), "# none\n").unwrap();
    let text = format!(
        "hostname = \"{name}.example.test\"\ndata_dir = \".\"\n\
         [listen]\nsmtp = [\"127.0.0.1:0\"]\nsubmission = []\nsubmissions = []\n\
         pop3 = [\"127.0.0.1:0\"]\npop3s = []\nimap = [\"127.0.0.1:0\"]\nimaps = []\n\
         managesieve = []\nhttp = []\nhttps = []\nmetrics = []\n\
         [spam]\nenabled = false\nblocklist_file = \"blocklist.txt\"\n\
         [store]\nbackend = \"postgres\"\nurl = \"{url}\"\n{extra}"
    );
    let path = dir.join("hermod.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// A fresh database with the schema, domain `example.test` and the given users (all with
/// [`PASSWORD`]); returns its URL.
async fn database_with_users(users: &[&str]) -> String {
    let url = postgres::fresh_database().await;
    let tmp = tempfile::tempdir().unwrap();
    let mut options = PostgresOptions::new(url.clone());
    options.tmp_dir = tmp.path().join("tmp");
    let store = PostgresStore::connect(&options).await.unwrap();
    store
        .add_domain(&Domain::parse("example.test").unwrap())
        .await
        .unwrap();
    for user in users {
        let address = Address::parse(user).unwrap();
        hermod_core::accounts::add_user(&store, &address, PASSWORD, None)
            .await
            .unwrap();
    }
    url
}

async fn sql(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect to the test database");
    tokio::spawn(connection);
    client
}

/// Every stored message as (user, mailbox, uid, subject), by mailbox and UID.
async fn stored_messages(url: &str) -> Vec<(String, String, i64, String)> {
    let rows = sql(url)
        .await
        .query(
            "SELECT u.address, b.name, m.uid, c.data FROM messages m \
             JOIN mailboxes b ON b.id = m.mailbox_id JOIN users u ON u.id = b.user_id \
             JOIN blob_chunks c ON c.blob_id = m.blob_id AND c.seq = 0 \
             ORDER BY b.id, m.uid",
            &[],
        )
        .await
        .unwrap();
    rows.iter()
        .map(|row| {
            let data: Vec<u8> = row.get(3);
            (row.get(0), row.get(1), row.get(2), subject(&data))
        })
        .collect()
}

fn subject(message: &[u8]) -> String {
    String::from_utf8_lossy(message)
        .lines()
        .find_map(|l| l.strip_prefix("Subject: "))
        .unwrap_or("")
        .trim()
        .to_owned()
}

// ---------------------------------------------------------------------------------------
// a. Two nodes under load, one killed.

const USERS: [&str; 4] = [
    "u0@example.test",
    "u1@example.test",
    "u2@example.test",
    "u3@example.test",
];
const SENDERS: usize = 32;
const PER_SENDER: usize = 12;

/// What the senders saw: per message, its token, recipient, sender and node, by outcome.
#[derive(Default)]
struct Outcomes {
    /// Answered 250: (token, user, sender, node index).
    accepted: Vec<(String, String, usize, usize)>,
    /// The connection broke before an answer to the final dot: stored at most once.
    in_doubt: Vec<String>,
    /// Refused with a code: never stored.
    refused: Vec<String>,
}

fn message(token: &str, to: &str) -> String {
    format!(
        "From: <load@sender.test>\r\nTo: <{to}>\r\nSubject: {token}\r\n\
         Message-ID: <{token}@sender.test>\r\n\r\nload {token}\r\n"
    )
}

fn connect(addr: SocketAddr) -> std::io::Result<Smtp> {
    let mut smtp = Smtp::connect(addr)?;
    match smtp.cmd("EHLO load.sender.test")? {
        250 => Ok(smtp),
        code => Err(std::io::Error::other(format!("EHLO answered {code}"))),
    }
}

/// One sender: `PER_SENDER` messages to the users in turn, starting on node `index % 2`;
/// odd senders use one connection per message. A broken connection moves it to node B.
fn run_sender(index: usize, nodes: [SocketAddr; 2], out: &Mutex<Outcomes>, done: &AtomicUsize) {
    let one_per_connection = index % 2 == 1;
    let mut node = index % 2;
    let mut session: Option<Smtp> = None;
    for n in 0..PER_SENDER {
        let token = format!("s{index}m{n}");
        let user = USERS[(index + n) % USERS.len()];
        if session.is_none() {
            session = connect(nodes[node])
                .or_else(|_| {
                    node = 1;
                    connect(nodes[node])
                })
                .ok();
        }
        let Some(smtp) = session.as_mut() else {
            out.lock().unwrap().refused.push(token);
            continue;
        };
        let answer = smtp.send("load@sender.test", user, &message(&token, user));
        let mut outcomes = out.lock().unwrap();
        match answer {
            Ok(250) => outcomes
                .accepted
                .push((token, user.to_owned(), index, node)),
            Ok(_) => outcomes.refused.push(token),
            Err(_) => {
                outcomes.in_doubt.push(token);
                session = None;
                node = 1;
            }
        }
        drop(outcomes);
        done.fetch_add(1, Ordering::Relaxed);
        if one_per_connection && let Some(mut smtp) = session.take() {
            let _ = smtp.cmd("QUIT");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_killed_mid_load_loses_nothing_and_duplicates_nothing() {
    let url = database_with_users(&USERS).await;
    let mut a = Node::start("a", &url, "");
    let b = Node::start("b", &url, "");
    let nodes = [a.addr("smtp"), b.addr("smtp")];
    let outcomes = Arc::new(Mutex::new(Outcomes::default()));
    let done = Arc::new(AtomicUsize::new(0));
    let senders: Vec<_> = (0..SENDERS)
        .map(|i| {
            let (outcomes, done) = (outcomes.clone(), done.clone());
            std::thread::spawn(move || run_sender(i, nodes, &outcomes, &done))
        })
        .collect();
    // Kill node A with about a third of the load answered, every sender still busy.
    let deadline = Instant::now() + Duration::from_secs(30);
    while done.load(Ordering::Relaxed) < SENDERS * PER_SENDER / 3 {
        assert!(Instant::now() < deadline, "the load did not get going");
        std::thread::sleep(Duration::from_millis(2));
    }
    a.kill();
    for sender in senders {
        sender.join().unwrap();
    }
    let outcomes = std::mem::take(&mut *outcomes.lock().unwrap());
    let through_a = outcomes.accepted.iter().filter(|m| m.3 == 0).count();
    assert!(through_a > 0, "nothing went through node A before it died");
    eprintln!(
        "answered 250: {} ({through_a} by A), in doubt: {}, refused: {}",
        outcomes.accepted.len(),
        outcomes.in_doubt.len(),
        outcomes.refused.len()
    );
    let stored = stored_messages(&url).await;
    check_exactly_once(&outcomes, &stored);
    check_uids_ascend_per_sender(&outcomes, &stored);
    check_pop3_on_b(b.addr("pop3"), &outcomes, &stored).await;
}

/// Every 250 stored once, in its recipient's INBOX; in-doubt ones at most once; refused
/// ones and anything not sent never.
fn check_exactly_once(outcomes: &Outcomes, stored: &[(String, String, i64, String)]) {
    let mut copies: HashMap<&str, Vec<&str>> = HashMap::new();
    for (user, mailbox, _, token) in stored {
        assert_eq!(mailbox, "INBOX");
        copies.entry(token).or_default().push(user);
    }
    for (token, user, _, _) in &outcomes.accepted {
        assert_eq!(
            copies.remove(token.as_str()),
            Some(vec![user.as_str()]),
            "message {token}, answered 250, must be stored exactly once for {user}"
        );
    }
    for token in &outcomes.in_doubt {
        let count = copies.remove(token.as_str()).map_or(0, |c| c.len());
        assert!(
            count <= 1,
            "message {token} (in doubt) stored {count} times"
        );
    }
    assert!(
        copies.is_empty(),
        "stored but refused or never sent: {:?}",
        copies.keys().collect::<Vec<_>>()
    );
}

/// A sender's messages to one user were answered one after another, so their UIDs must
/// ascend in that order (UIDs come in commit order on every node).
fn check_uids_ascend_per_sender(outcomes: &Outcomes, stored: &[(String, String, i64, String)]) {
    let uid_of: HashMap<&str, i64> = stored.iter().map(|m| (m.3.as_str(), m.2)).collect();
    let mut last: HashMap<(usize, &str), i64> = HashMap::new();
    for (token, user, sender, _) in &outcomes.accepted {
        let uid = uid_of[token.as_str()];
        if let Some(previous) = last.insert((*sender, user), uid) {
            assert!(
                uid > previous,
                "{token}: UID {uid} after {previous} for {user}"
            );
        }
    }
}

/// POP3 on node B lists and retrieves every message of a user, those that came through A
/// included.
async fn check_pop3_on_b(
    pop3: SocketAddr,
    outcomes: &Outcomes,
    stored: &[(String, String, i64, String)],
) {
    let via_a = outcomes
        .accepted
        .iter()
        .find(|m| m.3 == 0)
        .expect("a message through A");
    let user = via_a.1.as_str();
    let expected: Vec<&str> = stored
        .iter()
        .filter(|m| m.0 == user)
        .map(|m| m.3.as_str())
        .collect();
    let mut client = Pop3Client::connect(pop3).await;
    let login = client.login(user, PASSWORD).await;
    assert!(login.starts_with("+OK"), "{login}");
    let stat = client.cmd("STAT").await;
    assert!(
        stat.starts_with(&format!("+OK {} ", expected.len())),
        "{stat}"
    );
    let mut retrieved = Vec::new();
    for n in 1..=expected.len() {
        let reply = client.cmd(&format!("RETR {n}")).await;
        assert!(reply.starts_with("+OK"), "{reply}");
        retrieved.push(subject(&client.message().await));
    }
    assert_eq!(retrieved, expected, "POP3 on B, in UID order");
    assert!(retrieved.contains(&via_a.0), "{} came through A", via_a.0);
    assert!(client.cmd("QUIT").await.starts_with("+OK"));
}

// ---------------------------------------------------------------------------------------
// c. IDLE on one node, delivery through the other.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idle_on_one_node_sees_a_delivery_through_the_other_within_a_second() {
    let url = database_with_users(&["idle@example.test"]).await;
    let a = Node::start("a", &url, "");
    let b = Node::start("b", &url, "");
    let mut imap = ImapClient::connect(a.addr("imap")).await;
    imap.login("idle@example.test", PASSWORD).await;
    imap.ok("SELECT INBOX").await;
    let tag = imap.tag();
    imap.send(format!("{tag} IDLE\r\n").as_bytes()).await;
    assert!(imap.line().await.starts_with('+'), "IDLE continuation");
    // The first delivery warms node B's connections; IDLE on A must see both.
    for (n, subject) in ["warm-up", "timed"].iter().enumerate() {
        let addr = b.addr("smtp");
        let code = tokio::task::spawn_blocking(move || {
            let mut smtp = connect(addr).unwrap();
            smtp.send(
                "x@sender.test",
                "idle@example.test",
                &message(subject, "idle@example.test"),
            )
            .unwrap()
        })
        .await
        .unwrap();
        assert_eq!(code, 250);
        // From B's 250 (the commit) to A's untagged EXISTS.
        let committed = Instant::now();
        // An IMAP4rev1 session hears `* N RECENT` after each EXISTS: the warm-up's comes
        // first on the second round.
        let mut line = imap.line().await;
        while line.ends_with(" RECENT") {
            line = imap.line().await;
        }
        let waited = committed.elapsed();
        assert_eq!(line, format!("* {} EXISTS", n + 1));
        eprintln!("{subject}: EXISTS on A {waited:?} after B's 250");
        assert!(
            waited < Duration::from_secs(1),
            "IDLE on A heard of the delivery through B after {waited:?}"
        );
    }
    imap.send(b"DONE\r\n").await;
    assert!(imap.until_tagged(&tag).await.last().unwrap().contains("OK"));
}

// ---------------------------------------------------------------------------------------
// d. The POP3 maildrop lock across nodes.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_pop3_lock_holds_across_nodes() {
    let url = database_with_users(&["pop@example.test"]).await;
    let a = Node::start("a", &url, "");
    let b = Node::start("b", &url, "");
    let mut first = Pop3Client::connect(a.addr("pop3")).await;
    let login = first.login("pop@example.test", PASSWORD).await;
    assert!(login.starts_with("+OK"), "{login}");
    let mut second = Pop3Client::connect(b.addr("pop3")).await;
    let refused = second.login("pop@example.test", PASSWORD).await;
    assert!(refused.starts_with("-ERR [IN-USE]"), "{refused}");
    assert!(first.cmd("QUIT").await.starts_with("+OK"));
    // QUIT's answer comes after the lock is released: B may have it now.
    let mut third = Pop3Client::connect(b.addr("pop3")).await;
    let login = third.login("pop@example.test", PASSWORD).await;
    assert!(login.starts_with("+OK"), "{login}");
    assert!(third.cmd("QUIT").await.starts_with("+OK"));
}

// ---------------------------------------------------------------------------------------
// b. The relay: a dead node's queue entries.

/// A remote server that holds every transaction at RCPT while `stalled`, and records who
/// (EHLO name) delivered what, and any recipient in two open transactions at once.
#[derive(Default)]
struct StallingMta {
    stalled: std::sync::atomic::AtomicBool,
    /// Recipient -> transactions open on it now.
    open: Mutex<HashMap<String, usize>>,
    /// Recipients seen in two transactions at once.
    overlaps: Mutex<Vec<String>>,
    /// Completed deliveries: (recipient, EHLO name).
    delivered: Mutex<Vec<(String, String)>>,
    /// Transactions that reached RCPT: (recipient, EHLO name).
    attempts: Mutex<Vec<(String, String)>>,
}

impl StallingMta {
    fn opened(&self, rcpt: &str, helo: &str) {
        self.attempts
            .lock()
            .unwrap()
            .push((rcpt.to_owned(), helo.to_owned()));
        let mut open = self.open.lock().unwrap();
        let count = open.entry(rcpt.to_owned()).or_default();
        *count += 1;
        if *count > 1 {
            self.overlaps.lock().unwrap().push(rcpt.to_owned());
        }
    }

    fn closed(&self, rcpts: &mut Vec<String>) {
        let mut open = self.open.lock().unwrap();
        for rcpt in rcpts.drain(..) {
            *open.get_mut(&rcpt).unwrap() -= 1;
        }
    }
}

async fn serve_stalling_mta() -> (SocketAddr, Arc<StallingMta>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mta = Arc::new(StallingMta::default());
    mta.stalled.store(true, Ordering::SeqCst);
    let shared = mta.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let mta = shared.clone();
            tokio::spawn(async move {
                let mut rcpts = Vec::new();
                let _ = mta_session(stream, &mta, &mut rcpts).await;
                mta.closed(&mut rcpts);
            });
        }
    });
    (addr, mta)
}

async fn mta_session(
    stream: tokio::net::TcpStream,
    mta: &StallingMta,
    rcpts: &mut Vec<String>,
) -> std::io::Result<()> {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    write.write_all(b"220 remote.test ESMTP\r\n").await?;
    let mut helo = String::new();
    while let Some(line) = lines.next_line().await? {
        let upper = line.to_ascii_uppercase();
        let reply = if upper.starts_with("EHLO") {
            helo = line[4..].trim().to_owned();
            "250-remote.test\r\n250 8BITMIME\r\n"
        } else if upper.starts_with("MAIL FROM:") || upper.starts_with("RSET") {
            mta.closed(rcpts);
            "250 2.1.0 ok\r\n"
        } else if upper.starts_with("RCPT TO:") {
            let rcpt = line[8..].trim().trim_matches(['<', '>']).to_owned();
            mta.opened(&rcpt, &helo);
            rcpts.push(rcpt);
            while mta.stalled.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            "250 2.1.5 ok\r\n"
        } else if upper.starts_with("DATA") {
            write.write_all(b"354 go ahead\r\n").await?;
            while let Some(data) = lines.next_line().await? {
                if data == "." {
                    break;
                }
            }
            let mut delivered = mta.delivered.lock().unwrap();
            delivered.extend(rcpts.iter().map(|r| (r.clone(), helo.clone())));
            drop(delivered);
            mta.closed(rcpts);
            "250 2.0.0 queued\r\n"
        } else if upper.starts_with("QUIT") {
            write.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            "250 ok\r\n"
        };
        write.write_all(reply.as_bytes()).await?;
    }
    Ok(())
}

/// Queues a message for each of `recipients` (remote) directly in the store.
async fn queue_remote(url: &str, recipients: &[String]) {
    use hermod_store::{Mail, Outbound, OutboundRecipient};
    let tmp = tempfile::tempdir().unwrap();
    let mut options = PostgresOptions::new(url.to_owned());
    options.tmp_dir = tmp.path().join("tmp");
    let store = PostgresStore::connect(&options).await.unwrap();
    for rcpt in recipients {
        let body = message(&format!("to {rcpt}"), rcpt);
        let (writer, _) = store
            .blob_writer()
            .unwrap()
            .append(body.into_bytes())
            .await
            .unwrap();
        let outbound = Outbound {
            sender: Some("u0@example.test".into()),
            recipients: vec![OutboundRecipient {
                address: rcpt.clone(),
                notify: None,
                orcpt: None,
            }],
            ..Outbound::default()
        };
        let blob = writer.seal_async().await.unwrap();
        store.submit(blob, &[], Some(&outbound)).await.unwrap();
    }
}

/// Each queued recipient as "recipient status attempts claimed_by last_error".
async fn queue_state(url: &str) -> Vec<String> {
    let rows = sql(url)
        .await
        .query(
            "SELECT r.recipient || ' ' || r.status || ' ' || r.attempts || ' ' || \
             coalesce(q.claimed_by, '-') || ' ' || coalesce(r.last_error, '-') \
             FROM queue q JOIN queue_recipients r ON r.queue_id = q.id ORDER BY q.id",
            &[],
        )
        .await
        .unwrap();
    rows.iter().map(|row| row.get(0)).collect()
}

/// Waits up to `limit` for `done`; whether it came true.
async fn eventually_or_not(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while !done() {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dead_nodes_queue_entries_go_out_through_another_once_its_claims_expire() {
    let url = database_with_users(&["u0@example.test"]).await;
    let recipients: Vec<String> = (0..6).map(|i| format!("r{i}@remote.test")).collect();
    queue_remote(&url, &recipients).await;
    let (mta_addr, mta) = serve_stalling_mta().await;
    let relay = format!(
        "[outbound]\nsmarthost = \"{mta_addr}\"\nclaim_lease = \"3s\"\nmax_per_domain = 16\n"
    );
    let mut a = Node::start("a", &url, &relay);
    let stalled = eventually_or_not(Duration::from_secs(15), || {
        !mta.attempts.lock().unwrap().is_empty()
    })
    .await;
    assert!(
        stalled,
        "node A did not start delivering: {:?}\n{}",
        queue_state(&url).await,
        a.log()
    );
    let held_by_a: i64 = sql(&url)
        .await
        .query_one(
            "SELECT count(*) FROM queue WHERE claimed_by LIKE 'a.example.test/%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(held_by_a, recipients.len() as i64, "A claims every entry");
    // B runs beside A for longer than a lease: A renews its claims, so B must not touch them.
    let b = Node::start("b", &url, &relay);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let by_b = |mta: &StallingMta| {
        let attempts = mta.attempts.lock().unwrap();
        attempts
            .iter()
            .filter(|(_, h)| h == "b.example.test")
            .count()
    };
    assert_eq!(by_b(&mta), 0, "B took entries A still held");
    a.kill();
    mta.stalled.store(false, Ordering::SeqCst);
    let delivered = eventually_or_not(Duration::from_secs(20), || {
        mta.delivered.lock().unwrap().len() >= recipients.len()
    })
    .await;
    assert!(delivered, "B did not deliver A's entries:\n{}", b.log());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut delivered: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (rcpt, helo) in mta.delivered.lock().unwrap().iter() {
        delivered
            .entry(rcpt.clone())
            .or_default()
            .push(helo.clone());
    }
    for rcpt in &recipients {
        assert_eq!(
            delivered.get(rcpt),
            Some(&vec!["b.example.test".to_owned()]),
            "{rcpt}: delivered once, by B"
        );
    }
    assert!(
        mta.overlaps.lock().unwrap().is_empty(),
        "one entry in two transactions at once: {:?}",
        mta.overlaps.lock().unwrap()
    );
    let left: i64 = sql(&url)
        .await
        .query_one("SELECT count(*) FROM queue", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0, "B finished every entry");
    drop(b);
}
