//! Runs the interop suites (Python's smtplib, poplib and imaplib, swaks, msmtp, fetchmail,
//! mbsync, curl, getmail6, neomutt, dkimpy, sieve-connect, chromium with selenium) against
//! the built binary. They fail, never skip, when a client is missing: `scripts/test`
//! installs them.

fn run_suite(script: &str) {
    run_suite_with("python3", script);
}

fn run_suite_with(python: &str, script: &str) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let status = std::process::Command::new(python)
        .arg(root.join("tests/interop").join(script))
        .env("HERMOD_BIN", env!("CARGO_BIN_EXE_hermod"))
        .env("WEB_SCREENSHOTS", root.join("target/web-screenshots"))
        .status()
        .expect("python3 is needed for the interop tests");
    assert!(status.success(), "{script} failed (see output above)");
}

#[test]
fn smtp_clients_interoperate() {
    run_suite("smtp_interop.py");
}

#[test]
fn relayed_mail_is_dkim_signed_and_verifies() {
    run_suite("outbound_interop.py");
}

#[test]
fn a_list_members_copy_is_dkim_signed_by_the_list_domain() {
    run_suite("lists_interop.py");
}

#[test]
fn two_servers_relay_through_dns_on_loopback() {
    run_suite("two_servers_interop.py");
}

#[test]
fn pop3_clients_interoperate() {
    run_suite("pop3_interop.py");
}

#[test]
fn imap_clients_interoperate() {
    run_suite("imap_interop.py");
}

#[test]
fn imap_programs_interoperate() {
    run_suite("imap_clients_interop.py");
}

#[test]
fn managesieve_clients_interoperate() {
    run_suite("managesieve_interop.py");
}

/// The web interface in headless chromium. Debian's python3-selenium is a package of the
/// system's Python, which a `python3` earlier on PATH (pyenv, a venv) may not see.
#[test]
fn web_interface_in_a_browser() {
    let system = "/usr/bin/python3";
    let python = if std::path::Path::new(system).exists() {
        system
    } else {
        "python3"
    };
    run_suite_with(python, "web_browser.py");
}
