//! Self-hosting from the command line: quickstart on a scratch directory (its records must
//! be a valid zone and match `domain dns`), `check` against a DNS server on loopback, and
//! autoconfiguration fetched with curl as Thunderbird fetches it.

mod common;
use common::*;
use std::net::IpAddr;
use std::process::Command;

/// The records block of quickstart's output (between its heading and the next one).
fn records_block(output: &str) -> &str {
    let start = output
        .find("== DNS records to publish")
        .expect("a records section");
    let body = &output[start..];
    let body = &body[body.find('\n').unwrap() + 1..];
    &body[..body.find("\n== ").unwrap_or(body.len())]
}

/// A zone-file check of what hermod prints: absolute names, a TTL, class IN, and data that
/// is valid for each type (TXT strings at most 255 bytes each). Returns (name, type, data).
fn parse_zone(text: &str) -> Vec<(String, String, String)> {
    let mut records = Vec::new();
    for line in text.lines() {
        let line = line.trim_end();
        if line.is_empty() || line.starts_with(';') {
            continue;
        }
        let fields: Vec<&str> = line.splitn(5, '\t').collect();
        let [name, ttl, class, kind, data] = fields[..] else {
            panic!("not name/ttl/class/type/data: {line:?}");
        };
        assert!(name.ends_with('.') && !name.contains(' '), "{line}");
        assert!(ttl.parse::<u32>().is_ok() && class == "IN", "{line}");
        check_rdata(kind, data, line);
        records.push((name.to_owned(), kind.to_owned(), data.to_owned()));
    }
    records
}

fn check_rdata(kind: &str, data: &str, line: &str) {
    let words: Vec<&str> = data.split(' ').collect();
    let is_target = |t: &str| t == "." || (t.ends_with('.') && t.len() > 1);
    match kind {
        "A" => assert!(data.parse::<std::net::Ipv4Addr>().is_ok(), "{line}"),
        "AAAA" => assert!(data.parse::<std::net::Ipv6Addr>().is_ok(), "{line}"),
        "CNAME" => assert!(is_target(data), "{line}"),
        "MX" => assert!(
            words.len() == 2 && words[0].parse::<u16>().is_ok() && is_target(words[1]),
            "{line}"
        ),
        "SRV" => assert!(
            words.len() == 4
                && words[..3].iter().all(|w| w.parse::<u16>().is_ok())
                && is_target(words[3]),
            "{line}"
        ),
        "TXT" => {
            // One or more "..." strings separated by spaces, none longer than 255 bytes.
            let mut rest = data;
            while !rest.is_empty() {
                let inner = rest.strip_prefix('"').unwrap_or_else(|| panic!("{line}"));
                let end = inner.find('"').unwrap_or_else(|| panic!("{line}"));
                assert!(end <= 255, "string over 255 bytes: {line}");
                rest = inner[end + 1..].trim_start();
            }
        }
        other => panic!("unexpected type {other}: {line}"),
    }
}

#[test]
fn quickstart_sets_up_and_prints_a_valid_zone() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("srv/hermod.toml");
    let args = [
        "quickstart",
        "example.test",
        "--hostname",
        "mx.example.test",
        "--public-ip",
        "192.0.2.25",
        "--no-check",
    ];
    let output = ok(&config, &args, None);
    let password = output
        .lines()
        .find_map(|l| l.trim().strip_prefix("password: "))
        .expect("the password is printed");
    assert_eq!(password.len(), 20);
    assert!(output.contains("admin@example.test"), "{output}");
    assert!(
        output.contains("192.0.2.25 -> mx.example.test"),
        "reverse DNS: {output}"
    );
    assert!(
        output.contains("25   smtp") && output.contains("443  https"),
        "{output}"
    );

    let records = parse_zone(records_block(&output));
    let has = |name: &str, kind: &str, fragment: &str| {
        records
            .iter()
            .any(|(n, k, d)| n == name && k == kind && d.contains(fragment))
    };
    assert!(has("example.test.", "MX", "mx.example.test."));
    assert!(has("mx.example.test.", "A", "192.0.2.25"));
    assert!(has("example.test.", "TXT", "ip4:192.0.2.25"));
    assert!(has(
        "hermod-ed25519._domainkey.example.test.",
        "TXT",
        "k=ed25519"
    ));
    assert!(has("hermod-rsa._domainkey.example.test.", "TXT", "k=rsa"));
    assert!(has("_dmarc.example.test.", "TXT", "rua=mailto:"));
    assert!(has("_mta-sts.example.test.", "TXT", "v=STSv1; id="));
    assert!(has("mta-sts.example.test.", "CNAME", "mx.example.test."));
    assert!(has("_smtp._tls.example.test.", "TXT", "v=TLSRPTv1"));
    for srv in [
        "submissions",
        "submission",
        "imaps",
        "imap",
        "pop3s",
        "pop3",
    ] {
        assert!(
            has(&format!("_{srv}._tcp.example.test."), "SRV", ""),
            "{srv}"
        );
    }
    assert!(has(
        "_submissions._tcp.example.test.",
        "SRV",
        "465 mx.example.test."
    ));
    assert!(has("autoconfig.example.test.", "CNAME", "mx.example.test."));
    assert!(has(
        "autodiscover.example.test.",
        "CNAME",
        "mx.example.test."
    ));

    // A real zone parser agrees (dnslib, which scripts/test installs for the interop tests).
    assert_eq!(dnslib_count(records_block(&output)), records.len());

    // The same records as `domain dns` prints for the configuration quickstart wrote.
    let dns = ok(
        &config,
        &["domain", "dns", "example.test", "--public-ip", "192.0.2.25"],
        None,
    );
    assert_eq!(dns.trim(), records_block(&output).trim());

    let users = ok(&config, &["user", "list"], None);
    assert!(users.starts_with("admin@example.test\t"), "{users}");
    let aliases = ok(&config, &["alias", "list"], None);
    assert!(
        aliases.contains("postmaster@example.test\tadmin@example.test"),
        "{aliases}"
    );
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(
        text.contains("run_as = \"hermod\"") && text.contains("\"0.0.0.0:25\""),
        "{text}"
    );

    let again = hermod(&config, &args, None);
    assert!(!again.status.success());
    let err = String::from_utf8(again.stderr).unwrap();
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(std::fs::read_to_string(&config).unwrap(), text, "untouched");
}

/// How many records Python's dnslib reads from zone-file text.
fn dnslib_count(zone: &str) -> usize {
    use std::io::Write;
    let script = "import sys\nfrom dnslib import RR\nprint(len(RR.fromZone(sys.stdin.read())))\n";
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 (scripts/test installs it)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(zone.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "dnslib cannot parse the zone: {stderr}"
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn quickstart_refuses_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hermod.toml");
    for (args, message) in [
        (vec!["quickstart", "not a domain"], "invalid domain"),
        (
            vec!["quickstart", "example.test", "--admin", "boss@other.test"],
            "must be in example.test",
        ),
    ] {
        let out = hermod(&config, &args, None);
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.contains(message), "{args:?}: {err}");
        assert!(!config.exists(), "nothing written for {args:?}");
    }
}

/// `check` against a DNS server on loopback that has every record but one DKIM key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reports_a_missing_dkim_record() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let dns = hermod_testkit::DnsServer::start().await;
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!("[dns]\nnameservers = [\"{}\"]\n", dns.addr()));
    std::fs::write(&config, text).unwrap();
    ok(&config, &["domain", "add", "example.test"], None);
    let zone = ok(&config, &["domain", "dns", "example.test"], None);
    for (name, kind, data) in parse_zone(&zone) {
        let unquoted: String = data.split('"').skip(1).step_by(2).collect();
        match kind.as_str() {
            "TXT" if name.starts_with("hermod-rsa.") => {} // the one left out
            "TXT" => dns.add_txt(&name, &unquoted),
            "MX" => dns.add_mx(&name, 10, data.split(' ').nth(1).unwrap()),
            _ => {}
        }
    }
    // A documentation address: only DNS answers name it (resolvers answer loopback PTRs
    // themselves), and the listener is on loopback, so nothing connects to it.
    let public: IpAddr = "192.0.2.25".parse().unwrap();
    dns.add_a("mx.example.test", "192.0.2.25".parse().unwrap());
    dns.add_ptr(public, "mx.example.test");
    // SPF: "v=spf1 mx -all" through the MX to 192.0.2.25.
    // The CLI's own runtime must not run on the test's: a blocking thread runs it.
    let check = |config: std::path::PathBuf| {
        tokio::task::spawn_blocking(move || {
            hermod(&config, &["check", "--public-ip", "192.0.2.25"], None)
        })
    };
    let out = check(config.clone()).await.unwrap();
    let report = String::from_utf8(out.stdout).unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(!out.status.success(), "a problem means failure: {report}");
    for line in [
        "ok       mx.example.test resolves to 192.0.2.25",
        "ok       reverse DNS of 192.0.2.25 is mx.example.test",
        "ok       MX of example.test points to mx.example.test",
        "ok       SPF of example.test (v=spf1 mx -all) allows this server",
        "ok       DKIM record hermod-ed25519._domainkey.example.test matches the ed25519 key",
        "MISSING  DKIM record hermod-rsa._domainkey.example.test",
        "ok       DMARC record _dmarc.example.test is published",
    ] {
        assert!(report.contains(line), "{line:?} missing in\n{report}");
    }
    let fix = "         fix: publish hermod-rsa._domainkey.example.test. TXT \"v=DKIM1; k=rsa; p=";
    assert!(report.contains(fix), "{report}");
    assert!(
        err.contains("problems found") || err.contains("problem found"),
        "{err}"
    );

    // Rotated, new records not published yet: each says which key signs meanwhile, where
    // one does (the old RSA record is missing too, so none is named for RSA).
    ok(&config, &["domain", "dkim-rotate", "example.test"], None);
    let report = String::from_utf8(check(config).await.unwrap().stdout).unwrap();
    for line in [
        "MISSING  DKIM record hermod-ed25519-2._domainkey.example.test (hermod-ed25519 signs until it is published)\n",
        "MISSING  DKIM record hermod-rsa-2._domainkey.example.test\n",
    ] {
        assert!(report.contains(line), "{line:?} missing in\n{report}");
    }
}

/// Thunderbird asks https://autoconfig.DOMAIN/mail/config-v1.1.xml?emailaddress=...; curl
/// does the same against the real binary (the name pinned to loopback), and Python's XML
/// parser reads the answer.
#[test]
fn thunderbird_autoconfig_fetched_with_curl() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hermod.toml");
    let text = "hostname = \"mx.example.test\"\ndata_dir = \".\"\n[listen]\nsmtp = [\"127.0.0.1:0\"]\nsubmission = [\"127.0.0.1:0\"]\nsubmissions = [\"127.0.0.1:0\"]\npop3 = [\"127.0.0.1:0\"]\npop3s = [\"127.0.0.1:0\"]\nimap = []\nimaps = []\nhttp = [\"127.0.0.1:0\"]\nhttps = [\"127.0.0.1:0\"]\nmetrics = []\n[spam]\nenabled = false\n";
    std::fs::write(&config, text).unwrap();
    ok(&config, &["domain", "add", "example.test"], None);
    let services = [
        "smtp",
        "submission",
        "submissions",
        "pop3",
        "pop3s",
        "https",
    ];
    let mut server = serve_services(&config, &services);
    let https = server.addrs["https"];
    let url =
        "https://autoconfig.example.test/mail/config-v1.1.xml?emailaddress=alice%40example.test";
    let resolve = format!("autoconfig.example.test:443:{}", https.ip());
    let out = Command::new("curl")
        .args([
            "--silent",
            "--show-error",
            "--fail",
            "--insecure",
            "--max-time",
            "10",
        ])
        .args(["--resolve", &resolve, "--connect-to"])
        .arg(format!(
            "autoconfig.example.test:443:{}:{}",
            https.ip(),
            https.port()
        ))
        .args(["--user-agent", "Mozilla/5.0 Thunderbird/128.0", url])
        .output()
        .expect("curl is installed (scripts/test installs it)");
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let script = r#"
import sys, xml.etree.ElementTree as ET
root = ET.fromstring(sys.stdin.buffer.read())
assert root.tag == "clientConfig" and root.get("version") == "1.1", root.tag
provider = root.find("emailProvider")
assert provider.findtext("domain") == "example.test"
for server in provider.findall("incomingServer") + provider.findall("outgoingServer"):
    print(server.get("type"), server.findtext("hostname"), server.findtext("port"),
          server.findtext("socketType"), server.findtext("username"))
"#;
    let mut python = Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    python.stdin.take().unwrap().write_all(&out.stdout).unwrap();
    let parsed = python.wait_with_output().unwrap();
    let listing = String::from_utf8(parsed.stdout).unwrap();
    assert!(
        parsed.status.success(),
        "{}",
        String::from_utf8_lossy(&parsed.stderr)
    );
    let line = |kind: &str, service: &str, socket: &str| {
        format!(
            "{kind} mx.example.test {} {socket} %EMAILADDRESS%",
            server.addrs[service].port()
        )
    };
    let want = [
        line("pop3", "pop3s", "SSL"),
        line("pop3", "pop3", "STARTTLS"),
        line("smtp", "submissions", "SSL"),
        line("smtp", "submission", "STARTTLS"),
    ];
    assert_eq!(listing.lines().collect::<Vec<_>>(), want);
}
