//! Editing the `[spam] blocklist_file`: the networks refused at SMTP connect that the
//! operator manages (the CLI's `hermod spam block` and the web interface's spam page). The
//! file keeps its comments; a change is written to a temporary file and renamed over it, so
//! the server never reads half a list.

use hermod_types::Cidr;
use std::path::{Path, PathBuf};

/// Why the block list could not be read or changed.
#[derive(Debug, thiserror::Error)]
pub enum BlocklistError {
    #[error("no [spam] blocklist_file is configured: name one to manage the block list")]
    NoFile,
    #[error("{path}:{line}: {text:?} is not an IP address or network")]
    BadLine {
        path: PathBuf,
        line: usize,
        text: String,
    },
    #[error("{0} is already on the block list")]
    Present(Cidr),
    #[error("{0} is not on the block list file")]
    Absent(Cidr),
    #[error("{}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BlocklistError + '_ {
    move |error| BlocklistError::Io {
        path: path.to_owned(),
        error,
    }
}

/// The file's lines; a missing file is an empty list (the first `add` makes it).
fn lines(path: &Path) -> Result<Vec<String>, BlocklistError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text.lines().map(str::to_owned).collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(io(path)(e)),
    }
}

/// The network a line names, if any (`#` starts a comment).
fn network_of(path: &Path, number: usize, line: &str) -> Result<Option<Cidr>, BlocklistError> {
    let text = line.split('#').next().unwrap_or("").trim();
    if text.is_empty() {
        return Ok(None);
    }
    Cidr::parse(text)
        .map(Some)
        .map_err(|_| BlocklistError::BadLine {
            path: path.to_owned(),
            line: number + 1,
            text: text.to_owned(),
        })
}

/// The networks in the block list file `path`, in file order.
pub fn list(path: &Path) -> Result<Vec<Cidr>, BlocklistError> {
    let mut out = Vec::new();
    for (number, line) in lines(path)?.iter().enumerate() {
        out.extend(network_of(path, number, line)?);
    }
    Ok(out)
}

/// Adds `network` at the end of the file (made when missing).
pub fn add(path: &Path, network: Cidr) -> Result<(), BlocklistError> {
    let mut lines = lines(path)?;
    if list(path)?.contains(&network) {
        return Err(BlocklistError::Present(network));
    }
    lines.push(network.to_string());
    write(path, &lines)
}

/// Removes every line naming `network` (as written or in another spelling of the same
/// network); comments and other networks stay.
pub fn remove(path: &Path, network: Cidr) -> Result<(), BlocklistError> {
    let lines = lines(path)?;
    let mut kept = Vec::with_capacity(lines.len());
    for (number, line) in lines.iter().enumerate() {
        if network_of(path, number, line)? != Some(network) {
            kept.push(line.clone());
        }
    }
    if kept.len() == lines.len() {
        return Err(BlocklistError::Absent(network));
    }
    write(path, &kept)
}

/// The configured file, or why there is none.
pub fn configured(file: Option<&Path>) -> Result<&Path, BlocklistError> {
    file.ok_or(BlocklistError::NoFile)
}

fn write(path: &Path, lines: &[String]) -> Result<(), BlocklistError> {
    let mut text = lines.join("\n");
    text.push('\n');
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".new");
    let temporary = PathBuf::from(temporary);
    std::fs::write(&temporary, text).map_err(io(&temporary))?;
    std::fs::rename(&temporary, path).map_err(io(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Cidr {
        Cidr::parse(s).unwrap()
    }

    #[test]
    fn adds_and_removes_keeping_comments() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("block.txt");
        add(&path, net("192.0.2.0/24")).unwrap();
        std::fs::write(&path, "# spammers\n192.0.2.0/24\n2001:db8::1 # one host\n").unwrap();
        assert!(matches!(
            add(&path, net("192.0.2.7/24")),
            Err(BlocklistError::Present(_))
        ));
        add(&path, net("198.51.100.0/24")).unwrap();
        assert_eq!(
            list(&path).unwrap(),
            [
                net("192.0.2.0/24"),
                net("2001:db8::1"),
                net("198.51.100.0/24")
            ]
        );
        remove(&path, net("2001:db8::1/128")).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "# spammers\n192.0.2.0/24\n198.51.100.0/24\n"
        );
        assert!(matches!(
            remove(&path, net("203.0.113.1")),
            Err(BlocklistError::Absent(_))
        ));
        std::fs::write(&path, "nonsense\n").unwrap();
        assert!(matches!(
            list(&path),
            Err(BlocklistError::BadLine { line: 1, .. })
        ));
    }
}
