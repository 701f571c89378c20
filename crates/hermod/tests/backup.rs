//! `hermod backup` and `hermod restore`: a backup taken while mail is delivered (and other mail
//! expunged) restores every message acknowledged before it began, and bad input is refused.

mod common;
use common::*;
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A body bigger than the 64 KiB kept in the index, so it is stored as a file.
const LARGE_LINES: usize = 1200;

fn setup(dir: &Path) -> PathBuf {
    let config = write_config(dir);
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("pop3 = []", "pop3 = [\"127.0.0.1:0\"]");
    std::fs::write(&config, text).unwrap();
    ok(&config, &["domain", "add", "example.test"], None);
    for user in ["alice", "bob"] {
        ok(
            &config,
            &[
                "user",
                "add",
                &format!("{user}@example.test"),
                "--password-stdin",
            ],
            Some("pw\n"),
        );
    }
    config
}

/// A message whose subject names it; large ones end with a line that proves they are whole.
fn message(subject: &str, large: bool) -> String {
    let mut text = format!("Subject: {subject}\r\nFrom: <load@remote.test>\r\n\r\n");
    let lines = if large { LARGE_LINES } else { 3 };
    for n in 0..lines {
        text.push_str(&format!("{subject} line {n:05} {}\r\n", "x".repeat(60)));
    }
    text.push_str(&format!("end of {subject}\r\n"));
    text
}

/// A minimal POP3 client for one user.
struct Pop3 {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Pop3 {
    fn login(addr: SocketAddr, user: &str) -> Pop3 {
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut pop = Pop3 {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
        };
        pop.status();
        pop.cmd(&format!("USER {user}@example.test"));
        pop.cmd("PASS pw");
        pop
    }

    fn status(&mut self) -> String {
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        assert!(line.starts_with("+OK"), "POP3 said {line:?}");
        line
    }

    fn cmd(&mut self, line: &str) -> String {
        self.writer
            .write_all(format!("{line}\r\n").as_bytes())
            .unwrap();
        self.status()
    }

    /// A multi-line response's lines, unstuffed.
    fn lines(&mut self, command: &str) -> Vec<String> {
        self.cmd(command);
        let mut out = Vec::new();
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line).unwrap();
            let line = line.trim_end_matches("\r\n");
            if line == "." {
                return out;
            }
            out.push(line.strip_prefix('.').unwrap_or(line).to_owned());
        }
    }

    fn count(&mut self) -> usize {
        let stat = self.cmd("STAT");
        stat.split_whitespace().nth(1).unwrap().parse().unwrap()
    }
}

/// Every message in alice's maildrop by subject, checked whole.
fn maildrop(addr: SocketAddr) -> HashSet<String> {
    let mut pop = Pop3::login(addr, "alice");
    let mut subjects = HashSet::new();
    for n in 1..=pop.count() {
        let lines = pop.lines(&format!("RETR {n}"));
        let subject = lines
            .iter()
            .find_map(|l| l.strip_prefix("Subject: "))
            .expect("a subject")
            .to_owned();
        assert_eq!(
            lines.last().map(String::as_str),
            Some(format!("end of {subject}").as_str()),
            "{subject} is whole"
        );
        subjects.insert(subject);
    }
    pop.cmd("QUIT");
    subjects
}

/// Delivers to alice until stopped, small and large bodies in turn; records each message
/// acknowledged with a 250, when, and the longest wait for an acknowledgement.
fn deliver_until(addr: SocketAddr, thread: usize, stop: Arc<AtomicBool>, acked: Acked) {
    let mut smtp = Smtp::connect(addr).unwrap();
    assert_eq!(smtp.cmd("EHLO load.test").unwrap(), 250);
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        let large = n % 2 == 1;
        let subject = format!("t{thread}-m{n}-{}", if large { "large" } else { "small" });
        let sent = Instant::now();
        let code = smtp
            .send(
                "load@remote.test",
                "alice@example.test",
                &message(&subject, large),
            )
            .unwrap();
        assert_eq!(code, 250, "{subject}");
        acked
            .lock()
            .unwrap()
            .push((subject, Instant::now(), sent.elapsed()));
        n += 1;
    }
    smtp.cmd("QUIT").unwrap();
}

type Acked = Arc<Mutex<Vec<(String, Instant, Duration)>>>;

/// Fills bob's maildrop with large bodies and expunges them, so bodies the backup's snapshot
/// names are unlinked while it copies.
fn churn_until(addr: SocketAddr, pop3: SocketAddr, stop: Arc<AtomicBool>) {
    let mut smtp = Smtp::connect(addr).unwrap();
    smtp.cmd("EHLO churn.test").unwrap();
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        for _ in 0..3 {
            let body = message(&format!("churn-{n}"), true);
            assert_eq!(
                smtp.send("load@remote.test", "bob@example.test", &body)
                    .unwrap(),
                250
            );
            n += 1;
        }
        let mut pop = Pop3::login(pop3, "bob");
        for m in 1..=pop.count() {
            pop.cmd(&format!("DELE {m}"));
        }
        pop.cmd("QUIT");
    }
}

#[test]
fn a_backup_under_load_restores_every_acknowledged_message() {
    let dir = tempfile::tempdir().unwrap();
    let config = setup(dir.path());
    let mut server = serve_services(&config, &["smtp", "pop3"]);
    let (smtp, pop3) = (server.smtp, server.addrs["pop3"]);
    let stop = Arc::new(AtomicBool::new(false));
    let acked: Acked = Arc::default();
    let mut load: Vec<_> = (0..2)
        .map(|t| {
            let (stop, acked) = (stop.clone(), acked.clone());
            std::thread::spawn(move || deliver_until(smtp, t, stop, acked))
        })
        .collect();
    let churn_stop = stop.clone();
    load.push(std::thread::spawn(move || {
        churn_until(smtp, pop3, churn_stop)
    }));
    while acked.lock().unwrap().len() < 20 {
        std::thread::sleep(Duration::from_millis(20));
    }

    let started = Instant::now();
    let before: HashSet<String> = acked.lock().unwrap().iter().map(|a| a.0.clone()).collect();
    let backup = dir.path().join("backup");
    let out = ok(&config, &["backup", backup.to_str().unwrap()], None);
    let finished = Instant::now();
    // Keep delivering a little after the backup, then stop.
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::Relaxed);
    for thread in load {
        thread.join().unwrap();
    }
    stop_server(&mut server);
    assert!(
        out.contains("backed up") && out.contains("snapshot taken"),
        "{out}"
    );
    let during: Vec<_> = acked
        .lock()
        .unwrap()
        .iter()
        .filter(|a| a.1 > started && a.1 < finished)
        .map(|a| a.2)
        .collect();
    // Deliveries go on during the backup (the snapshot is one WAL read transaction).
    eprintln!(
        "backup took {:?}; {} deliveries acknowledged meanwhile, slowest {:?}; {out}",
        finished - started,
        during.len(),
        during.iter().max()
    );

    let restored = dir.path().join("restored");
    let restored_config = restored.join("hermod.toml");
    let out = ok(
        &restored_config,
        &["restore", backup.to_str().unwrap()],
        None,
    );
    assert!(
        out.contains("restored") && out.contains("every body checked"),
        "{out}"
    );
    let mut again = serve_services(&restored_config, &["smtp", "pop3"]);
    let found = maildrop(again.addrs["pop3"]);
    stop_server(&mut again);
    let lost: Vec<_> = before.difference(&found).collect();
    assert!(
        lost.is_empty(),
        "acknowledged before the backup, not restored: {lost:?}"
    );
    assert!(
        before.iter().any(|s| s.ends_with("large")) && before.iter().any(|s| s.ends_with("small"))
    );
    assert!(restored.join("srs.key").is_file(), "the SRS key comes back");
}

/// SIGTERM, and wait for a clean exit.
fn stop_server(server: &mut Running) {
    let status = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(server.child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    assert!(server.child.wait().unwrap().success());
}

/// A data directory with a little mail, stopped, and its backup.
fn small_backup(dir: &Path) -> (PathBuf, PathBuf) {
    let config = setup(dir);
    let mut server = serve(&config);
    let mut smtp = Smtp::connect(server.smtp).unwrap();
    smtp.cmd("EHLO client.test").unwrap();
    for (n, large) in [(0, false), (1, true)] {
        let body = message(&format!("m{n}"), large);
        assert_eq!(
            smtp.send("x@remote.test", "alice@example.test", &body)
                .unwrap(),
            250
        );
    }
    stop_server(&mut server);
    let backup = dir.join("backup");
    let out = ok(&config, &["backup", backup.to_str().unwrap()], None);
    assert!(out.starts_with("backed up 2 messages of 2 users"), "{out}");
    (config, backup)
}

fn fails(config: &Path, args: &[&str]) -> String {
    let out = hermod(config, args, None);
    assert!(!out.status.success(), "hermod {args:?} should fail");
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    err
}

#[test]
fn bad_backups_and_restores_are_refused_and_touch_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (config, backup) = small_backup(dir.path());

    // Backing up into a folder that holds something.
    let err = fails(&config, &["backup", backup.to_str().unwrap()]);
    assert!(err.contains("is not empty"), "{err}");

    // Restoring over the live data directory.
    let err = fails(&config, &["restore", backup.to_str().unwrap()]);
    assert!(err.contains("is not empty"), "{err}");

    // Restoring something that is not a backup.
    let target = dir.path().join("target").join("hermod.toml");
    let err = fails(
        &target,
        &["restore", dir.path().join("nothing").to_str().unwrap()],
    );
    assert!(err.contains("not a complete hermod backup"), "{err}");

    // A backup that lost a body is refused before anything is written.
    let shards: HashMap<_, _> = walk(&backup.join("blobs"));
    assert_eq!(shards.len(), 1, "one large body: {shards:?}");
    let (path, _) = shards.iter().next().unwrap();
    let saved = std::fs::read(path).unwrap();
    std::fs::write(path, &saved[..saved.len() / 2]).unwrap();
    let err = fails(&target, &["restore", backup.to_str().unwrap()]);
    assert!(err.contains("missing or damaged"), "{err}");
    assert!(!target.parent().unwrap().join("hermod.db").exists());

    // Made whole again, it restores beside an existing configuration, which is kept.
    std::fs::write(path, &saved).unwrap();
    let out = ok(&target, &["restore", backup.to_str().unwrap()], None);
    assert!(out.starts_with("restored 2 messages of 2 users"), "{out}");
    assert!(out.contains("configuration installed"), "{out}");
    let exported = dir.path().join("exported");
    ok(
        &target,
        &["export", "alice@example.test", exported.to_str().unwrap()],
        None,
    );
    assert_eq!(maildir_messages(&exported).len(), 2);

    // Into a data directory that holds only its own configuration and block list: kept.
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    let other_config = write_config(&other);
    let text = std::fs::read_to_string(&other_config).unwrap();
    let out = ok(&other_config, &["restore", backup.to_str().unwrap()], None);
    assert!(out.contains("kept the existing configuration"), "{out}");
    assert_eq!(std::fs::read_to_string(&other_config).unwrap(), text);
    assert!(other.join("hermod.db").is_file() && other.join("srs.key").is_file());
}

/// Files under `dir`, by path, with their sizes.
fn walk(dir: &Path) -> HashMap<PathBuf, u64> {
    let mut out = HashMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            out.extend(walk(&entry.path()));
        } else {
            out.insert(entry.path(), entry.metadata().unwrap().len());
        }
    }
    out
}
