//! Runs the interop suite (Python's smtplib, swaks) against the built binary. It fails, never
//! skips, when a client is missing: `scripts/test` installs them.

#[test]
fn real_clients_interoperate() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let status = std::process::Command::new("python3")
        .arg(root.join("tests/interop/smtp_interop.py"))
        .env("HERMOD_BIN", env!("CARGO_BIN_EXE_hermod"))
        .status()
        .expect("python3 is needed for the interop tests");
    assert!(status.success(), "interop tests failed (see output above)");
}
