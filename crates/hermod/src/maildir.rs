//! `hermod export` (Maildir++) and `hermod import` (Maildir with subfolders, or mbox).
//!
//! Stored messages use CRLF line ends; Maildir and mbox files on Unix use LF, so lines are
//! converted on the way out and on the way in.

use crate::admin::parse_address;
use anyhow::{Context, Result, bail};
use hermod_core::pipeline;
use hermod_server::NotConvertible;
use hermod_store::{Flags, MailboxInfo, Store, UserRecord};
use hermod_types::MailboxName;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

async fn find_user(store: &dyn Store, address: &str) -> Result<UserRecord> {
    let address = parse_address(address)?;
    store
        .user(&address)
        .await?
        .with_context(|| format!("no such user: {}", address.normalized()))
}

/// INBOX is the Maildir itself; `A/B` is `.A.B` (Maildir++ uses `.` as the separator).
fn folder_dir(root: &Path, mailbox: &MailboxInfo) -> PathBuf {
    match mailbox.name.as_str() {
        "INBOX" => root.to_owned(),
        name => root.join(format!(".{}", name.replace('/', "."))),
    }
}

/// The export's root: an existing directory, or a new one whose parent exists. A mistyped
/// path must not become a tree of new directories.
fn export_root(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if dir.exists() {
        bail!("{} exists and is not a directory", dir.display());
    }
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !parent.is_dir() {
        bail!(
            "cannot export into {}: {} does not exist (create it first)",
            dir.display(),
            parent.display()
        );
    }
    fs::create_dir(dir).with_context(|| format!("cannot create {}", dir.display()))
}

pub async fn export(store: &dyn Store, address: &str, dir: &Path) -> Result<()> {
    let user = find_user(store, address).await?;
    export_root(dir)?;
    let mut count = 0;
    for mailbox in store.mailboxes(user.id).await? {
        let folder = folder_dir(dir, &mailbox);
        for sub in ["cur", "new", "tmp"] {
            fs::create_dir_all(folder.join(sub))
                .with_context(|| format!("cannot create {}", folder.display()))?;
        }
        if mailbox.name.as_str() != "INBOX" {
            fs::write(folder.join("maildirfolder"), b"")?;
        }
        for message in store.messages(mailbox.id).await? {
            let body = store.read_blob(&message.blob, None).await?;
            let name = format!(
                "{}.{}_{}.hermod:2,{}",
                message.internal_date,
                mailbox.uid_validity.get(),
                message.uid.get(),
                message.flags.maildir_letters()
            );
            fs::write(folder.join("cur").join(name), crlf_to_lf(&body))?;
            count += 1;
        }
    }
    eprintln!(
        "exported {count} message(s) of {} to {}",
        user.address,
        dir.display()
    );
    Ok(())
}

/// Files imported messages through the delivery pipeline, one at a time, and counts them.
struct Importer<'a> {
    store: &'a dyn Store,
    user: UserRecord,
    imported: usize,
    /// Messages with a NUL octet no encoding can carry, left out (each named on stderr).
    skipped: usize,
}

impl Importer<'_> {
    /// Files `content` (one message, read from `source`) into `mailbox`. A message holding
    /// NUL octets is stored as the network paths store it (`hermod_server::textual`: the
    /// parts holding one in base64); one whose NUL no encoding can carry (in a header, say)
    /// is skipped with a warning, and the import goes on.
    async fn store_one(
        &mut self,
        source: &str,
        mailbox: &MailboxName,
        content: &[u8],
        flags: Flags,
        date: i64,
    ) -> Result<()> {
        let mut content = lf_to_crlf(content);
        match hermod_server::textual(&content) {
            Ok(None) => {}
            Ok(Some(converted)) => content = converted,
            Err(NotConvertible) => {
                eprintln!(
                    "warning: skipped {source}: it holds a NUL octet outside any part's \
                     content (e.g. in a header), which no encoding can carry"
                );
                self.skipped += 1;
                return Ok(());
            }
        }
        let mut writer = self.store.blob_writer()?;
        writer.write_all(&content)?;
        let sealed = writer.seal_async().await?;
        let envelope = pipeline::Envelope {
            copies: vec![pipeline::Copy {
                user: self.user.id,
                folder: pipeline::Folder::Named(mailbox.clone()),
                flags,
                filter: None,
            }],
            outbound: None,
            internal_date: date,
        };
        pipeline::deliver(self.store, sealed, &envelope).await?;
        self.imported += 1;
        Ok(())
    }
}

pub async fn import(store: &dyn Store, address: &str, path: &Path) -> Result<()> {
    let user = find_user(store, address).await?;
    let meta = fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut importer = Importer {
        store,
        user,
        imported: 0,
        skipped: 0,
    };
    if meta.is_dir() {
        import_maildir(&mut importer, path).await?;
    } else {
        import_mbox(&mut importer, path).await?;
    }
    let (user, count) = (&importer.user, importer.imported);
    match importer.skipped {
        0 => eprintln!("imported {count} message(s) into {}", user.address),
        skipped => eprintln!(
            "imported {count} message(s) into {}; skipped {skipped} with NUL octets no \
             encoding can carry (named above)",
            user.address
        ),
    }
    Ok(())
}

async fn import_maildir(importer: &mut Importer<'_>, root: &Path) -> Result<()> {
    if !root.join("cur").is_dir() && !root.join("new").is_dir() {
        bail!(
            "{} is neither a Maildir (no cur/ or new/) nor an mbox file",
            root.display()
        );
    }
    import_folder(importer, root, &MailboxName::parse("INBOX")?).await?;
    let mut subfolders: Vec<_> = fs::read_dir(root)?.filter_map(|e| e.ok()).collect();
    subfolders.sort_by_key(|e| e.file_name());
    for entry in subfolders {
        let file_name = entry.file_name();
        let Some(name) = file_name.to_str().and_then(|n| n.strip_prefix('.')) else {
            continue;
        };
        if name.is_empty() || !entry.path().join("cur").is_dir() {
            continue;
        }
        let mailbox = MailboxName::parse(&name.replace('.', "/"))
            .with_context(|| format!("folder {name:?} is not a valid mailbox name"))?;
        import_folder(importer, &entry.path(), &mailbox).await?;
    }
    Ok(())
}

async fn import_folder(
    importer: &mut Importer<'_>,
    dir: &Path,
    mailbox: &MailboxName,
) -> Result<()> {
    let mut files = Vec::new();
    for sub in ["new", "cur"] {
        let Ok(entries) = fs::read_dir(dir.join(sub)) else {
            continue;
        };
        files.extend(
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.is_file()),
        );
    }
    files.sort();
    for file in &files {
        let content = fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let flags = name
            .split_once(":2,")
            .map_or_else(Flags::default, |(_, f)| Flags::from_maildir_letters(f));
        let date = file_date(file);
        let source = file.display().to_string();
        importer
            .store_one(&source, mailbox, &content, flags, date)
            .await?;
    }
    Ok(())
}

fn file_date(path: &Path) -> i64 {
    let modified = fs::metadata(path).and_then(|m| m.modified());
    modified
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs() as i64)
}

async fn import_mbox(importer: &mut Importer<'_>, path: &Path) -> Result<()> {
    let content = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if !content.starts_with(b"From ") {
        bail!(
            "{} is neither a Maildir nor an mbox file (no \"From \" line at the start)",
            path.display()
        );
    }
    let inbox = MailboxName::parse("INBOX")?;
    let date = file_date(path);
    let messages = split_mbox(&content);
    for (n, message) in messages.iter().enumerate() {
        let source = format!("message {} of {}", n + 1, path.display());
        importer
            .store_one(&source, &inbox, message, Flags::default(), date)
            .await?;
    }
    Ok(())
}

/// Splits an mbox at its `From ` separator lines and undoes `>From ` quoting (mboxrd).
pub(crate) fn split_mbox(content: &[u8]) -> Vec<Vec<u8>> {
    let mut messages: Vec<Vec<u8>> = Vec::new();
    for line in content.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b"From ") {
            messages.push(Vec::new());
            continue;
        }
        let Some(current) = messages.last_mut() else {
            continue;
        };
        let quoted = line
            .iter()
            .position(|&b| b != b'>')
            .is_some_and(|n| n > 0 && line[n..].starts_with(b"From "));
        current.extend_from_slice(if quoted { &line[1..] } else { line });
    }
    for message in &mut messages {
        // The blank line before each separator belongs to the mbox format, not the message.
        if message.ends_with(b"\n\n") {
            message.pop();
        }
    }
    messages
}

fn lf_to_crlf(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 40);
    let mut prev = 0u8;
    for &b in data {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    out
}

fn crlf_to_lf(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    for (i, &b) in data.iter().enumerate() {
        if !(b == b'\r' && data.get(i + 1) == Some(&b'\n')) {
            out.push(b);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_ends_convert_both_ways() {
        assert_eq!(lf_to_crlf(b"a\nb\r\nc"), b"a\r\nb\r\nc");
        assert_eq!(crlf_to_lf(b"a\r\nb\rc\r\n"), b"a\nb\rc\n");
    }

    #[test]
    fn splits_mboxrd() {
        let mbox = b"From a@b Sat Jan  1 00:00:00 2000\nSubject: one\n\n>From here\n\nFrom c@d Sat Jan  1 00:00:00 2000\nSubject: two\n\nbody\n";
        let messages = split_mbox(mbox);
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0], b"Subject: one\n\nFrom here\n");
        assert_eq!(messages[1], b"Subject: two\n\nbody\n");
    }
}
