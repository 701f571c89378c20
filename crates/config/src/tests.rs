//! Parsing, defaults, the bad-config corpus and the default file.
use super::*;

#[test]
fn the_default_file_is_the_defaults() {
    let path = Path::new("/srv/hermod/hermod.toml");
    let parsed = parse(&default_file_text(), path).unwrap();
    assert_eq!(parsed, Config::defaults(path.into(), "/srv/hermod".into()));
}

#[test]
fn relative_paths_follow_the_config_file() {
    let text = "data_dir = \"data\"\n[tls]\ncert = \"c.pem\"\nkey = \"/abs/k.pem\"\n";
    let config = parse(text, Path::new("/etc/hermod/hermod.toml")).unwrap();
    assert_eq!(config.data_dir, Path::new("/etc/hermod/data"));
    assert_eq!(
        config.tls.cert.as_deref(),
        Some(Path::new("/etc/hermod/c.pem"))
    );
    assert_eq!(config.tls.key.as_deref(), Some(Path::new("/abs/k.pem")));
}

#[test]
fn values_are_read() {
    let text = "hostname = \"MX.Example.ORG\"\nrecipient_delimiter = \"-\"\nrun_as = \"mail\"\n[listen]\nsmtp = [\"0.0.0.0:25\", \"[::]:25\"]\nimap = []\n[limits]\nmax_message_size = \"10MiB\"\ncommand_timeout = 60\ndata_timeout = \"2m\"\n";
    let c = parse(text, Path::new("x/hermod.toml")).unwrap();
    assert_eq!(c.hostname, "mx.example.org");
    assert_eq!(
        (c.recipient_delimiter, c.run_as.as_deref()),
        (Some('-'), Some("mail"))
    );
    assert_eq!(c.listen.smtp.len(), 2);
    assert!(c.listen.imap.is_empty());
    assert_eq!(c.limits.max_message_size, 10 << 20);
    assert_eq!(
        (
            c.limits.command_timeout.as_secs(),
            c.limits.data_timeout.as_secs()
        ),
        (60, 120)
    );
    assert!(c.data_dir.is_absolute());
    let strict = parse(
        "allow_plaintext_auth_on_loopback = false",
        Path::new("h.toml"),
    )
    .unwrap();
    assert!(!strict.pop3.allow_plaintext_auth_on_loopback);
    assert!(!strict.imap.allow_plaintext_auth_on_loopback);
    let imap = parse(
        "allow_plaintext_auth_on_loopback = false\n[imap]\nallow_plaintext_auth_on_loopback = true\nidle_timeout = \"1h\"\nmax_append_size = \"1MiB\"\n",
        Path::new("h.toml"),
    )
    .unwrap();
    assert!(
        imap.imap.allow_plaintext_auth_on_loopback && !imap.pop3.allow_plaintext_auth_on_loopback
    );
    assert_eq!(imap.imap.idle_timeout.as_secs(), 3600);
    assert_eq!(imap.imap.append_limit(&imap.limits), 1 << 20);
    assert_eq!(
        strict.imap.append_limit(&strict.limits),
        strict.limits.max_message_size
    );
    assert!(!strict.managesieve.allow_plaintext_auth_on_loopback);
    // A section's own key wins over the top-level one.
    let mixed = parse(
        "allow_plaintext_auth_on_loopback = false\n[managesieve]\nallow_plaintext_auth_on_loopback = true\nidle_timeout = \"30m\"\n[listen]\nmanagesieve = []\n",
        Path::new("h.toml"),
    )
    .unwrap();
    assert!(!mixed.pop3.allow_plaintext_auth_on_loopback);
    assert!(mixed.managesieve.allow_plaintext_auth_on_loopback);
    assert_eq!(mixed.managesieve.idle_timeout.as_secs(), 1800);
    assert!(mixed.listen.managesieve.is_empty());
    let off = parse("recipient_delimiter = \"\"", Path::new("h.toml")).unwrap();
    assert_eq!(off.recipient_delimiter, None);
}

/// Each file in testdata/config/bad has a sibling `.expected` with one expected error per
/// line: `key.path: message fragment`. All must be reported, and nothing else.
#[test]
fn bad_config_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/config/bad");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 8, "corpus missing in {}", dir.display());
    for case in cases {
        let text = std::fs::read_to_string(&case).unwrap();
        let expected = std::fs::read_to_string(case.with_extension("expected")).unwrap();
        let errors = parse(&text, &case)
            .expect_err(&format!("{} should fail", case.display()))
            .errors;
        let expected: Vec<&str> = expected.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(
            errors.len(),
            expected.len(),
            "{}: got {errors:?}",
            case.display()
        );
        for (error, want) in errors.iter().zip(&expected) {
            let (key, fragment) = want.split_once(": ").unwrap_or((want, ""));
            assert_eq!(error.key, key, "{}", case.display());
            assert!(
                error.message.contains(fragment),
                "{}: {error} lacks {fragment:?}",
                case.display()
            );
        }
    }
}

#[test]
fn store_settings_are_read() {
    let path = Path::new("/etc/hermod/hermod.toml");
    let defaults = parse("", path).unwrap();
    assert_eq!(defaults.store.backend, StoreBackend::Sqlite);
    let url = "postgres://hermod:pw@db1.example.org:5432,db2.example.org/hermod\
               ?target_session_attrs=read-write&sslmode=require";
    let text = format!(
        "[store]\nbackend = \"postgres\"\nurl = \"{url}\"\npool_size = 4\n\
         connect_timeout = \"3s\"\nca_file = \"ca.pem\"\n"
    );
    let store = parse(&text, path).unwrap().store;
    assert_eq!(store.backend, StoreBackend::Postgres);
    assert_eq!(store.url.as_deref(), Some(url));
    assert_eq!((store.pool_size, store.connect_timeout.as_secs()), (4, 3));
    assert_eq!(
        store.ca_file.as_deref(),
        Some(Path::new("/etc/hermod/ca.pem"))
    );
    let libpq = "[store]\nbackend = \"postgres\"\nurl = \"host=db user=hermod dbname=hermod\"\n";
    assert!(parse(libpq, path).is_ok(), "libpq's key=value form");
    // A URL that does not parse is reported without its text: it may hold a password.
    let bad = "[store]\nbackend = \"postgres\"\nurl = \"postgres://u:hunter2@db:notaport/x\"\n";
    let shown = parse(bad, path).unwrap_err().to_string();
    assert!(
        shown.contains("store.url") && !shown.contains("hunter2"),
        "{shown}"
    );
}

#[test]
fn write_default_creates_folders_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a/b/hermod.toml");
    write_default(&path).unwrap();
    assert!(load(&path).is_ok());
    assert!(write_default(&path).is_err());
}

/// The default file with every `# key = value` line turned into a real setting.
fn uncommented_default_file() -> String {
    fn setting(l: &str) -> Option<&str> {
        let (key, _) = l.split_once(" = ")?;
        let is_key = key.starts_with(|c: char| c.is_ascii_lowercase())
            && key
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        is_key.then_some(l)
    }
    default_file_text()
        .lines()
        .map(|l| l.strip_prefix("# ").and_then(setting).unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Commented-out keys must be real keys showing their default, except the few whose
/// default is "none" and which show an example instead.
#[test]
fn commented_out_keys_show_their_defaults() {
    let path = Path::new("/srv/hermod/hermod.toml");
    let text = uncommented_default_file();
    assert_ne!(text, default_file_text(), "no commented-out keys found");
    let parsed = parse(&text, path).unwrap_or_else(|e| panic!("{e}"));
    let mut want = Config::defaults(path.into(), "/srv/hermod".into());
    want.run_as = parsed.run_as.clone();
    want.tls = parsed.tls.clone();
    want.dns = parsed.dns.clone();
    want.outbound.smarthost = parsed.outbound.smarthost.clone();
    want.outbound.smarthost_user = parsed.outbound.smarthost_user.clone();
    want.outbound.smarthost_password = parsed.outbound.smarthost_password.clone();
    // Its default follows limits.max_message_size; the file shows that value.
    assert_eq!(
        parsed.imap.max_append_size,
        Some(want.limits.max_message_size)
    );
    want.imap.max_append_size = parsed.imap.max_append_size;
    want.lists.unsubscribe_url = parsed.lists.unsubscribe_url.clone();
    assert!(parsed.lists.unsubscribe_url.is_some());
    want.acme.contact = parsed.acme.contact.clone();
    want.acme.directory_ca = parsed.acme.directory_ca.clone();
    want.store.url = parsed.store.url.clone();
    want.store.ca_file = parsed.store.ca_file.clone();
    assert!(parsed.store.url.is_some() && parsed.store.ca_file.is_some());
    want.outbound_tls.ca_file = parsed.outbound_tls.ca_file.clone();
    assert!(parsed.outbound_tls.ca_file.is_some());
    assert!(!parsed.acme.contact.is_empty() && parsed.acme.directory_ca.is_some());
    assert!(parsed.run_as.is_some() && parsed.tls.cert.is_some());
    assert!(!parsed.dns.nameservers.is_empty() && parsed.outbound.smarthost.is_some());
    assert_eq!(parsed, want);
}

/// Every key and section in the default file is described in CONFIG.md.
#[test]
fn the_reference_documents_every_key() {
    let doc = include_str!("../CONFIG.md");
    let table: toml::Table = uncommented_default_file().parse().unwrap();
    let mut missing = Vec::new();
    for (key, value) in &table {
        let Some(section) = value.as_table() else {
            if !doc.contains(&format!("`{key}`")) {
                missing.push(key.clone());
            }
            continue;
        };
        if !doc.contains(&format!("`[{key}]`")) {
            missing.push(format!("[{key}]"));
        }
        let undocumented = section.keys().filter(|k| !doc.contains(&format!("`{k}`")));
        missing.extend(undocumented.map(|k| format!("{key}.{k}")));
    }
    assert!(missing.is_empty(), "CONFIG.md lacks {missing:?}");
}

/// The example in CONFIG.md, verbatim.
#[test]
fn errors_display_one_per_line_under_the_file_name() {
    let text = "hostnme = \"x\"\n[listen]\nsmtp = [\"127.0.0.1:25\", \"127.0.0.1:99999\"]\n\
                smpt = []\n[limits]\nmax_recipients = 0\n";
    let errors = parse(text, Path::new("/etc/hermod/hermod.toml")).unwrap_err();
    let shown = format!("hermod: {errors}");
    assert!(include_str!("../CONFIG.md").contains(&shown), "{shown}");
    assert_eq!(errors.errors.len(), 4);
}

#[test]
fn an_unreadable_file_is_one_error_without_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing.toml");
    let errors = load(&path).unwrap_err();
    assert_eq!(errors.file, path);
    assert_eq!(errors.errors.len(), 1);
    assert_eq!(errors.errors[0].key, "");
    assert!(errors.errors[0].message.starts_with("cannot read"));
    assert!(errors.to_string().contains("missing.toml"));
}

#[test]
fn host_names() {
    let ok = |h: &str| validate_hostname(h).ok();
    assert_eq!(ok("MX1.Example.ORG.").as_deref(), Some("mx1.example.org"));
    assert_eq!(ok("localhost").as_deref(), Some("localhost"));
    let label63 = "a".repeat(63);
    assert!(ok(&format!("{label63}.example")).is_some());
    assert!(ok(&format!("a{label63}.example")).is_none());
    let long = vec!["abcdefghi"; 25].join("."); // 249 characters
    assert!(ok(&format!("{long}.abc")).is_some()); // 253
    assert!(ok(&format!("{long}.abcd")).is_none()); // 254
    for bad in [
        "",
        ".",
        "a..b",
        "-a.b",
        "a-.b",
        "a_b.c",
        "mx example",
        "mx.exämple.org",
    ] {
        assert!(ok(bad).is_none(), "{bad:?} accepted");
    }
}

#[test]
fn relative_config_path_still_gives_absolute_paths() {
    let config = parse(
        "[tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\n",
        Path::new("h.toml"),
    )
    .unwrap();
    let here = std::env::current_dir().unwrap();
    assert_eq!(config.path, Path::new("h.toml"));
    assert_eq!(config.data_dir, here);
    assert_eq!(config.tls.cert, Some(here.join("c.pem")));
}

#[test]
fn listeners_may_share_port_zero_and_other_families() {
    let text = "[listen]\nsmtp = [\"127.0.0.1:0\", \"0.0.0.0:25\"]\nsubmission = [\"127.0.0.1:0\", \"[::]:25\"]\n";
    let config = parse(text, Path::new("/h.toml")).unwrap();
    assert_eq!(config.listen.submission.len(), 2);
    let moved = "[listen]\nsmtp = [\"127.0.0.1:2587\"]\nsubmission = [\"127.0.0.1:2525\"]\n";
    assert!(
        parse(moved, Path::new("/h.toml")).is_ok(),
        "swapping ports is fine"
    );
}

#[test]
fn spam_section_parses() {
    let text = r#"
[spam]
blocklist = ["192.0.2.0/24", "2001:db8::1"]
dnsbl_zones = ["zen.spamhaus.org", "BL.Example.org.:2.5"]
pregreet = "score"
rdns = "off"
greet_delay = "0s"
junk_threshold = 4
blocklist_file = "lists/block.txt"
"#;
    let config = parse(text, Path::new("/etc/hermod/hermod.toml")).unwrap();
    let spam = &config.spam;
    assert_eq!(spam.blocklist.len(), 2);
    assert!(spam.blocklist[0].contains("192.0.2.9".parse().unwrap()));
    assert_eq!(spam.dnsbl_zones[0].score, None);
    assert_eq!(spam.dnsbl_zones[1].zone, "bl.example.org");
    assert_eq!(spam.dnsbl_zones[1].score, Some(2.5));
    assert_eq!(spam.pregreet, crate::CheckAction::Score);
    assert_eq!(spam.rdns, crate::CheckAction::Off);
    assert_eq!(spam.junk_threshold, 4.0);
    let file = Path::new("/etc/hermod/lists/block.txt");
    assert_eq!(spam.blocklist_file.as_deref(), Some(file));
}

#[test]
fn mta_sts_and_http_listeners_are_read() {
    let text = "hostname = \"mx.example.org\"\n[listen]\nhttp = [\"0.0.0.0:80\"]\nhttps = []\nmetrics = [\"127.0.0.1:9100\"]\n[mta_sts]\nmode = \"enforce\"\nmax_age = \"1d\"\nmx = [\"MX1.example.org\", \"*.backup.example.org\"]\n";
    let c = parse(text, Path::new("h.toml")).unwrap();
    assert_eq!(c.listen.http.len(), 1);
    assert!(c.listen.https.is_empty());
    assert_eq!(c.listen.metrics[0].port(), 9100);
    assert_eq!(c.mta_sts.mode, MtaStsMode::Enforce);
    assert_eq!(c.mta_sts.max_age.as_secs(), 86_400);
    assert_eq!(
        c.mta_sts.mx_names(&c.hostname),
        ["mx1.example.org", "*.backup.example.org"]
    );
    let defaults = parse("hostname = \"mx.example.org\"", Path::new("h.toml")).unwrap();
    assert_eq!(
        defaults.mta_sts.mx_names(&defaults.hostname),
        ["mx.example.org"]
    );
    let bad = parse(
        "[mta_sts]\nmode = \"strict\"\nmax_age = \"400d\"\nmx = [\"not a host\"]\n",
        Path::new("h.toml"),
    )
    .unwrap_err();
    let keys: Vec<&str> = bad.errors.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["mta_sts.mode", "mta_sts.max_age", "mta_sts.mx[0]"]);
}

#[test]
fn bulk_section_and_sending_limits_parse() {
    let text = r#"
[submission]
max_messages_per_day = 300
max_recipients_per_hour = 40
[bulk]
hold_after = 20
freeze_after = 80
window = "30m"
inbound_recipients = 0
"#;
    let config = parse(text, Path::new("/etc/hermod/hermod.toml")).unwrap();
    assert_eq!(config.submission.max_messages_per_day, 300);
    assert_eq!(config.submission.max_recipients_per_hour, 40);
    assert_eq!(config.submission.max_recipients_per_day, 5000);
    let bulk = &config.bulk;
    assert!(bulk.guard);
    assert_eq!((bulk.hold_after, bulk.freeze_after), (20, 80));
    assert_eq!(bulk.window, Duration::from_secs(1800));
    assert_eq!(bulk.inbound_recipients, 0);
    let bad = parse(
        "[bulk]\nhold_after = 50\nfreeze_after = 50\n",
        Path::new("x.toml"),
    );
    let errors = bad.unwrap_err().errors;
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].key, "bulk.freeze_after");
}

#[test]
fn acme_section() {
    let path = Path::new("/srv/hermod/hermod.toml");
    let text = "[acme]\ndirectory = \"https://127.0.0.1:14000/dir\"\n\
        contact = [\"mailto:a@example.org\"]\nnames = [\"MX.Example.org\"]\n\
        challenge = \"http-01\"\nrenew_before = \"10d\"\n";
    let acme = parse(text, path).unwrap().acme;
    assert_eq!(
        acme.directory.as_deref(),
        Some("https://127.0.0.1:14000/dir")
    );
    assert_eq!(acme.names, ["mx.example.org"]);
    assert_eq!(acme.challenge, crate::AcmeChallenge::Http01);
    assert_eq!(acme.renew_before, std::time::Duration::from_secs(864_000));
    let bad = "[acme]\ndirectory = \"http://x\"\ncontact = [\"a@b\"]\nchallenge = \"dns-01\"\n";
    let errors = parse(bad, path).unwrap_err().errors;
    let keys: Vec<_> = errors.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(
        keys,
        ["acme.directory", "acme.contact[0]", "acme.challenge"]
    );
}

#[test]
fn one_click_links_point_at_a_public_https_listener() {
    let path = Path::new("/srv/hermod/hermod.toml");
    let lists = Config::defaults(path.into(), "/srv/hermod".into()).lists;
    let public: std::net::SocketAddr = "192.0.2.1:443".parse().unwrap();
    let other: std::net::SocketAddr = "192.0.2.1:8443".parse().unwrap();
    let loopback: std::net::SocketAddr = "127.0.0.1:2443".parse().unwrap();
    let base =
        |l: &crate::Lists, https: &[std::net::SocketAddr]| l.one_click_base("mx.a.test", https);
    assert_eq!(base(&lists, &[loopback]), None);
    assert_eq!(
        base(&lists, &[loopback, public]).as_deref(),
        Some("https://mx.a.test")
    );
    assert_eq!(
        base(&lists, &[other]).as_deref(),
        Some("https://mx.a.test:8443")
    );
    let set = |text: &str| parse(&format!("[lists]\nunsubscribe_url = {text}\n"), path);
    let explicit = set("\"https://web.a.test:8443/\"").unwrap().lists;
    assert_eq!(
        base(&explicit, &[]).as_deref(),
        Some("https://web.a.test:8443")
    );
    assert_eq!(base(&set("\"\"").unwrap().lists, &[public]), None);
    assert!(set("\"http://a.test\"").is_err());
    assert!(set("\"https://a.test/path\"").is_err());
}
