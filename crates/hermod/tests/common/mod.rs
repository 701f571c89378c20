//! Shared helpers for tests that run the real `hermod` binary.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_hermod");

/// A config listening for SMTP on a loopback port the OS picks, nothing else. The spam
/// filter's DNS checks are off (these tests have no DNS server; the block list still works).
pub fn write_config(dir: &Path) -> PathBuf {
    let path = dir.join("hermod.toml");
    let text = "hostname = \"mx.example.test\"\ndata_dir = \".\"\n[listen]\nsmtp = [\"127.0.0.1:0\"]\nsubmission = []\nsubmissions = []\npop3 = []\npop3s = []\nimap = []\nimaps = []\nmanagesieve = []\nhttp = []\nhttps = []\nmetrics = []\n[spam]\nenabled = false\nblocklist_file = \"blocklist.txt\"\n";
    std::fs::write(dir.join("blocklist.txt"), "# networks refused at connect\n").unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

pub fn hermod(config: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(config)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run hermod");
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

/// Runs a management command that must succeed; returns its stdout.
pub fn ok(config: &Path, args: &[&str], stdin: Option<&str>) -> String {
    let out = hermod(config, args, stdin);
    assert!(
        out.status.success(),
        "hermod {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

pub struct Running {
    pub child: Child,
    pub smtp: SocketAddr,
    /// Every listener by service name (`smtp`, `pop3`, ...).
    pub addrs: std::collections::HashMap<String, SocketAddr>,
    pub log: mpsc::Receiver<String>,
    /// Log lines up to and including the listening line.
    pub startup: Vec<String>,
}

/// Starts `hermod serve` and waits for its SMTP listener's address in the log.
pub fn serve(config: &Path) -> Running {
    serve_services(config, &["smtp"])
}

/// Starts `hermod serve` and waits until every service in `services` reports its address.
pub fn serve_services(config: &Path, services: &[&str]) -> Running {
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(config)
        .arg("serve")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start hermod serve");
    let stderr = child.stderr.take().unwrap();
    let (tx, log) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut startup = Vec::new();
    let mut addrs = std::collections::HashMap::new();
    loop {
        let line = log.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()));
        let Ok(line) = line else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("hermod did not report its SMTP listener in time");
        };
        startup.push(line.clone());
        if let Some((service, addr)) = listening(&line) {
            addrs.insert(service, addr);
        }
        if services.iter().all(|s| addrs.contains_key(*s)) {
            let smtp = addrs
                .get("smtp")
                .copied()
                .unwrap_or_else(|| ([127, 0, 0, 1], 0).into());
            return Running {
                child,
                smtp,
                addrs,
                log,
                startup,
            };
        }
    }
}

/// `... listening service=smtp addr=127.0.0.1:1234` -> ("smtp", address)
fn listening(line: &str) -> Option<(String, SocketAddr)> {
    if !line.contains("listening") {
        return None;
    }
    let field = |name: &str| line.split(name).nth(1)?.split_whitespace().next();
    Some((field("service=")?.to_owned(), field("addr=")?.parse().ok()?))
}

/// A blocking line-based SMTP client.
pub struct Smtp {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Smtp {
    pub fn connect(addr: SocketAddr) -> std::io::Result<Smtp> {
        let stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(20)))?;
        let mut smtp = Smtp {
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
        };
        smtp.reply()?;
        Ok(smtp)
    }

    pub fn reply(&mut self) -> std::io::Result<u16> {
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line)? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            if line.as_bytes().get(3) != Some(&b'-') {
                return line
                    .get(..3)
                    .and_then(|c| c.parse().ok())
                    .ok_or_else(|| std::io::Error::other(line));
            }
        }
    }

    pub fn cmd(&mut self, line: &str) -> std::io::Result<u16> {
        self.writer.write_all(format!("{line}\r\n").as_bytes())?;
        self.reply()
    }

    /// One transaction; the reply code to the end of data.
    pub fn send(&mut self, from: &str, to: &str, body: &str) -> std::io::Result<u16> {
        self.cmd(&format!("MAIL FROM:<{from}>"))?;
        self.cmd(&format!("RCPT TO:<{to}>"))?;
        if self.cmd("DATA")? != 354 {
            return Ok(0);
        }
        self.writer.write_all(body.as_bytes())?;
        self.cmd(".")
    }
}

/// Reads every file of an exported Maildir folder.
pub fn maildir_messages(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for sub in ["cur", "new"] {
        let Ok(entries) = std::fs::read_dir(dir.join(sub)) else {
            continue;
        };
        for entry in entries {
            let mut text = String::new();
            std::fs::File::open(entry.unwrap().path())
                .unwrap()
                .read_to_string(&mut text)
                .unwrap();
            out.push(text);
        }
    }
    out
}
