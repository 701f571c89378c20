//! `hermod import` and NUL octets: stored as SMTP and APPEND store them (the parts holding
//! one in base64), or, where no encoding can carry the NUL, skipped and reported by name
//! while the rest of the import goes on.

mod common;
use common::*;
use std::path::Path;

fn config_with_alice(dir: &Path) -> std::path::PathBuf {
    let config = write_config(dir);
    ok(&config, &["domain", "add", "example.test"], None);
    let add = ["user", "add", "alice@example.test", "--password-stdin"];
    ok(&config, &add, Some("pw\n"));
    config
}

/// Runs `hermod import` into alice's account, which must succeed; returns its stderr.
fn import(config: &Path, path: &Path) -> String {
    let args = ["import", "alice@example.test", path.to_str().unwrap()];
    let out = hermod(config, &args, None);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "import failed: {stderr}");
    stderr
}

/// Alice's INBOX, as `hermod export` writes it.
fn exported_inbox(config: &Path, dir: &Path) -> Vec<String> {
    let out = dir.join("out");
    let args = ["export", "alice@example.test", out.to_str().unwrap()];
    ok(config, &args, None);
    let mut inbox = maildir_messages(&out);
    inbox.sort();
    inbox
}

/// RFC 4648 base64, whitespace ignored (the test's own decoder, independent of hermod's).
fn base64_decoded(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in text
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b'=')
    {
        let value = ALPHABET.iter().position(|&a| a == c).expect("base64") as u32;
        acc = (acc << 6) | value;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

const TEXT_WITH_NUL: &str =
    "From: a@b.test\nSubject: nul in text\nContent-Type: text/plain\n\nbefore\0after\nline two\n";
const HEADER_WITH_NUL: &str = "From: a@b.test\nSubject: nul\0here\n\nbody\n";
const PLAIN: &str = "From: a@b.test\nSubject: plain\n\nfine\n";

#[test]
fn a_maildir_message_with_a_nul_is_stored_in_base64_or_skipped_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with_alice(dir.path());
    let maildir = dir.path().join("in-maildir");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    std::fs::write(maildir.join("cur/1.a.host:2,S"), TEXT_WITH_NUL).unwrap();
    std::fs::write(maildir.join("cur/2.b.host:2,S"), HEADER_WITH_NUL).unwrap();
    std::fs::write(maildir.join("cur/3.c.host:2,S"), PLAIN).unwrap();

    let stderr = import(&config, &maildir);
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("skipped")).collect();
    assert_eq!(warnings.len(), 2, "one warning and the summary: {stderr}");
    assert!(
        warnings[0].contains("2.b.host:2,S") && warnings[0].contains("NUL"),
        "{stderr}"
    );
    assert!(
        warnings[1].contains("imported 2 message(s)") && warnings[1].contains("skipped 1"),
        "{stderr}"
    );

    let inbox = exported_inbox(&config, dir.path());
    assert_eq!(inbox.len(), 2, "{inbox:?}");
    let converted = &inbox[0];
    assert!(!converted.contains('\0'), "{converted:?}");
    let (header, body) = converted.split_once("\n\n").unwrap();
    assert!(
        header.contains("Subject: nul in text")
            && header.contains("Content-Transfer-Encoding: base64")
            && header.contains("MIME-Version: 1.0"),
        "{header}"
    );
    // Stored with CRLF line ends, as every imported message is.
    assert_eq!(base64_decoded(body), b"before\0after\r\nline two\r\n");
    assert_eq!(inbox[1], PLAIN);
}

#[test]
fn an_mbox_message_with_a_nul_in_a_header_is_skipped_and_the_others_kept() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with_alice(dir.path());
    let mbox = dir.path().join("in.mbox");
    let separator = "From a@b.test Sat Jan  1 00:00:00 2000\n";
    let content = format!("{separator}{PLAIN}\n{separator}{HEADER_WITH_NUL}\n{separator}{PLAIN}");
    std::fs::write(&mbox, content).unwrap();

    let stderr = import(&config, &mbox);
    let named = format!("message 2 of {}", mbox.display());
    assert!(stderr.contains(&named), "{stderr}");
    assert!(
        stderr.contains("imported 2 message(s)") && stderr.contains("skipped 1"),
        "{stderr}"
    );
    assert_eq!(exported_inbox(&config, dir.path()), [PLAIN, PLAIN]);
}
