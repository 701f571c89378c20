//! The real binary serving: delivery, graceful stop, and crash safety under SIGKILL.

mod common;
use common::*;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn setup(dir: &std::path::Path) -> std::path::PathBuf {
    let config = write_config(dir);
    ok(&config, &["domain", "add", "example.test"], None);
    ok(
        &config,
        &["user", "add", "alice@example.test", "--password-stdin"],
        Some("pw\n"),
    );
    config
}

fn export_inbox(config: &std::path::Path, dir: &std::path::Path, name: &str) -> Vec<String> {
    let out = dir.join(name);
    ok(
        config,
        &["export", "alice@example.test", out.to_str().unwrap()],
        None,
    );
    maildir_messages(&out)
}

#[test]
fn serves_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let config = setup(dir.path());
    let mut server = serve(&config);
    let mut smtp = Smtp::connect(server.smtp).unwrap();
    smtp.cmd("EHLO client.test").unwrap();
    // The store is shared with management commands while the server runs.
    ok(
        &config,
        &["user", "add", "bob@example.test", "--password-stdin"],
        Some("pw\n"),
    );
    assert_eq!(
        smtp.send(
            "x@remote.test",
            "bob@example.test",
            "Subject: live\r\n\r\nhi\r\n"
        )
        .unwrap(),
        250
    );
    assert_eq!(
        smtp.send(
            "x@remote.test",
            "alice@example.test",
            "Subject: a\r\n\r\nhi\r\n"
        )
        .unwrap(),
        250
    );
    nix_kill(server.child.id(), "TERM");
    let status = server.child.wait().unwrap();
    assert!(status.success(), "exit status {status:?}");
    let logged: Vec<String> = server.log.try_iter().collect();
    assert!(
        logged.iter().any(|l| l.contains("message accepted")),
        "one log line per message: {logged:?}"
    );
    assert_eq!(export_inbox(&config, dir.path(), "out").len(), 1);
}

fn nix_kill(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

/// 32 senders, SIGKILL in the middle, restart: every message that got a 250 is in the
/// mailbox exactly once.
#[test]
fn sigkill_under_load_loses_no_acknowledged_mail() {
    let dir = tempfile::tempdir().unwrap();
    let config = setup(dir.path());
    let mut server = serve(&config);
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop_at = Instant::now() + Duration::from_secs(20);
    let senders: Vec<_> = (0..32)
        .map(|t| {
            let (addr, acked) = (server.smtp, acked.clone());
            std::thread::spawn(move || {
                let Ok(mut smtp) = Smtp::connect(addr) else {
                    return;
                };
                if smtp.cmd("EHLO load.test").is_err() {
                    return;
                }
                for n in 0.. {
                    let tag = format!("crash-{t}-{n}");
                    let body = format!(
                        "Subject: {tag}\r\nMessage-ID: <{tag}@load.test>\r\n\r\n{}\r\n",
                        "x".repeat(2000)
                    );
                    match smtp.send("load@remote.test", "alice@example.test", &body) {
                        Ok(250) => acked.lock().unwrap().push(tag),
                        _ => return,
                    }
                    if Instant::now() > stop_at {
                        return;
                    }
                }
            })
        })
        .collect();
    // Kill once a good number of messages is in flight and acknowledged.
    while acked.lock().unwrap().len() < 200 && Instant::now() < stop_at {
        std::thread::sleep(Duration::from_millis(20));
    }
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    for s in senders {
        s.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 50,
        "load did not get going: {} acknowledged",
        acked.len()
    );

    // Restart (the sweep runs), then stop, then look.
    let mut again = serve(&config);
    assert_eq!(Smtp::connect(again.smtp).unwrap().cmd("QUIT").unwrap(), 221);
    nix_kill(again.child.id(), "TERM");
    again.child.wait().unwrap();
    let mut counts: HashMap<String, usize> = HashMap::new();
    for message in export_inbox(&config, dir.path(), "after") {
        let subject = message
            .lines()
            .find_map(|l| l.strip_prefix("Subject: "))
            .unwrap()
            .to_owned();
        *counts.entry(subject).or_default() += 1;
    }
    for tag in &acked {
        assert_eq!(
            counts.get(tag),
            Some(&1),
            "{tag} was acknowledged, so it must be stored exactly once"
        );
    }
    assert!(counts.values().all(|&n| n == 1), "no message stored twice");
}

/// `run_as`: as root, hermod binds, then runs as the unprivileged user; otherwise it says
/// why it cannot switch and keeps going.
#[test]
fn run_as_drops_privileges_after_binding() {
    let dir = tempfile::tempdir().unwrap();
    let config = setup(dir.path());
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("run_as = \"nobody\"\n{text}")).unwrap();
    let root = nix::unistd::Uid::effective().is_root();
    if root {
        let status = std::process::Command::new("chown")
            .args(["-R", "nobody"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(status.success());
    }
    let mut server = serve(&config);
    let mut smtp = Smtp::connect(server.smtp).unwrap();
    smtp.cmd("EHLO client.test").unwrap();
    assert_eq!(
        smtp.send(
            "x@remote.test",
            "alice@example.test",
            "Subject: as nobody\r\n\r\nhi\r\n"
        )
        .unwrap(),
        250
    );
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id())).unwrap();
    let uid_line = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .unwrap()
        .to_owned();
    nix_kill(server.child.id(), "TERM");
    server.child.wait().unwrap();
    let logged: Vec<String> = server
        .startup
        .iter()
        .cloned()
        .chain(server.log.try_iter())
        .collect();
    if root {
        let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap().uid;
        assert!(
            uid_line
                .split_whitespace()
                .skip(1)
                .all(|u| u == nobody.to_string()),
            "{uid_line}"
        );
        assert!(
            logged.iter().any(|l| l.contains("dropped privileges")),
            "{logged:?}"
        );
    } else {
        assert!(
            logged.iter().any(|l| l.contains("cannot switch users")),
            "{logged:?}"
        );
    }
}

/// A blocking POP3 exchange: log in, return the UIDL listing, quit.
fn uidl_listing(addr: std::net::SocketAddr) -> Vec<String> {
    use std::io::{BufRead, BufReader, Write};
    let stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    let mut line = String::new();
    let mut next = |reader: &mut BufReader<std::net::TcpStream>| {
        line.clear();
        reader.read_line(&mut line).unwrap();
        line.trim_end().to_owned()
    };
    assert!(next(&mut reader).starts_with("+OK"));
    writer
        .write_all(b"USER alice@example.test\r\nPASS pw\r\nUIDL\r\n")
        .unwrap();
    for _ in 0..3 {
        let status = next(&mut reader);
        assert!(status.starts_with("+OK"), "{status}");
    }
    let mut listing = Vec::new();
    loop {
        let l = next(&mut reader);
        if l == "." {
            break;
        }
        listing.push(l);
    }
    writer.write_all(b"QUIT\r\n").unwrap();
    listing
}

#[test]
fn uidl_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = setup(dir.path());
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("pop3 = []", "pop3 = [\"127.0.0.1:0\"]");
    std::fs::write(&config, text).unwrap();
    let mut server = serve_services(&config, &["smtp", "pop3"]);
    let mut smtp = Smtp::connect(server.smtp).unwrap();
    smtp.cmd("EHLO client.test").unwrap();
    for n in 0..3 {
        assert_eq!(
            smtp.send(
                "x@remote.test",
                "alice@example.test",
                &format!("Subject: {n}\r\n\r\nx\r\n")
            )
            .unwrap(),
            250
        );
    }
    let before = uidl_listing(server.addrs["pop3"]);
    assert_eq!(before.len(), 3);
    nix_kill(server.child.id(), "TERM");
    server.child.wait().unwrap();

    let mut again = serve_services(&config, &["smtp", "pop3"]);
    assert_eq!(
        uidl_listing(again.addrs["pop3"]),
        before,
        "UIDL is stable across restarts"
    );
    nix_kill(again.child.id(), "TERM");
    again.child.wait().unwrap();
}

/// The greeting's code of a fresh connection.
fn greeting_code(addr: std::net::SocketAddr) -> String {
    use std::io::BufRead;
    let stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(stream)
        .read_line(&mut line)
        .unwrap();
    line
}

#[test]
fn sighup_reloads_the_block_list() {
    let dir = tempfile::tempdir().unwrap();
    let config = setup(dir.path());
    let mut server = serve(&config);
    assert!(greeting_code(server.smtp).starts_with("220 "));
    std::fs::write(dir.path().join("blocklist.txt"), "127.0.0.0/8 # us\n").unwrap();
    nix_kill(server.child.id(), "HUP");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let line = greeting_code(server.smtp);
        if line.starts_with("554 5.7.1") {
            assert!(line.contains("block list"), "{line}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still greeted after SIGHUP: {line}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // A broken list file is reported and the old lists stay.
    std::fs::write(dir.path().join("blocklist.txt"), "not-a-network\n").unwrap();
    nix_kill(server.child.id(), "HUP");
    std::thread::sleep(Duration::from_millis(300));
    assert!(greeting_code(server.smtp).starts_with("554 "));
    nix_kill(server.child.id(), "TERM");
    assert!(server.child.wait().unwrap().success());
    let logged: Vec<String> = server.log.try_iter().collect();
    assert!(
        logged
            .iter()
            .any(|l| l.contains("lists not reloaded") && l.contains("blocklist.txt:1")),
        "{logged:?}"
    );
}
