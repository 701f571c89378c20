//! Secrets every node of one store must share (the SRS key, the web session key). The
//! embedded store keeps each as a file in its data directory (so backups carry it, and an
//! operator can read or replace it); PostgreSQL keeps them in its `secrets` table.

use crate::{Result, StoreError};
use std::path::Path;

/// The length of a new secret: 256 bits.
pub(crate) const SECRET_LEN: usize = 32;
/// A shorter file is no key (an empty or truncated file must not become a weak key).
const MIN_LEN: usize = 16;

/// A new random secret.
pub(crate) fn new_secret() -> Result<Vec<u8>> {
    let mut key = vec![0u8; SECRET_LEN];
    getrandom::fill(&mut key)
        .map_err(|e| StoreError::Unavailable(format!("no randomness: {e}")))?;
    Ok(key)
}

/// Secret `name` as file `dir/name`: read, or made (mode 0600) when there is none yet. Of two
/// processes making it at once, the second reads what the first wrote.
pub(crate) fn secret_file(dir: &Path, name: &str) -> Result<Vec<u8>> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join(name);
    let context = |e: std::io::Error| StoreError::io(&path)(e);
    match std::fs::read(&path) {
        Ok(key) if key.len() >= MIN_LEN => return Ok(key),
        Ok(_) => {
            let short = std::io::Error::other("too short to be a key");
            return Err(context(short));
        }
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(context(e)),
        Err(_) => {}
    }
    let key = new_secret()?;
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path);
    let mut file = match created {
        // Another process (the CLI, the server) made it first: use theirs. It writes the
        // whole key in one call, so wait a moment for a file still empty.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return read_made_elsewhere(&path).map_err(context);
        }
        other => other.map_err(context)?,
    };
    file.write_all(&key)
        .and_then(|()| file.sync_all())
        .map_err(context)?;
    Ok(key)
}

fn read_made_elsewhere(path: &Path) -> std::io::Result<Vec<u8>> {
    for _ in 0..50 {
        let key = std::fs::read(path)?;
        if key.len() >= MIN_LEN {
            return Ok(key);
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    Err(std::io::Error::other("too short to be a key"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_file_is_made_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let first = secret_file(dir.path(), "x.key").unwrap();
        assert_eq!(first.len(), SECRET_LEN);
        assert_eq!(secret_file(dir.path(), "x.key").unwrap(), first);
        std::fs::write(dir.path().join("short.key"), b"abc").unwrap();
        assert!(secret_file(dir.path(), "short.key").is_err());
    }
}
