//! Runs the interop suites (Python's smtplib, poplib and imaplib, swaks, msmtp, fetchmail,
//! mbsync, curl, getmail6, neomutt, dkimpy, sieve-connect) against the built binary. They
//! fail, never skip, when a client is missing: `scripts/test` installs them.

fn run_suite(script: &str) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let status = std::process::Command::new("python3")
        .arg(root.join("tests/interop").join(script))
        .env("HERMOD_BIN", env!("CARGO_BIN_EXE_hermod"))
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
