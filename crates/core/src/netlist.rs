//! Network list files: `[spam] blocklist_file` (clients refused at SMTP connect) and `[spam]
//! allowlist_file` (clients never refused nor scored as spam), one address or CIDR network
//! per line, `#` starting a comment. The CLI (`hermod spam block|allow`), the web
//! interface's spam page and the server's filter all read and edit them here. A change
//! keeps the file's comments and is written to a temporary file renamed over it, so the
//! server never reads half a list.

use hermod_types::Cidr;
use std::fmt;
use std::path::{Path, PathBuf};

/// Which of the two lists a file is: only words its messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    Block,
    Allow,
}

impl ListKind {
    /// The configuration key naming the file.
    pub fn config_key(self) -> &'static str {
        match self {
            ListKind::Block => "blocklist_file",
            ListKind::Allow => "allowlist_file",
        }
    }
}

impl fmt::Display for ListKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ListKind::Block => "block list",
            ListKind::Allow => "allow list",
        })
    }
}

/// Why a network list could not be read or changed.
#[derive(Debug, thiserror::Error)]
pub enum NetListError {
    #[error("no [spam] {key} is configured: name one to manage the {0}", key = .0.config_key())]
    NoFile(ListKind),
    #[error("{path}:{line}: {text:?} is not an IP address or network")]
    BadLine {
        path: PathBuf,
        line: usize,
        text: String,
    },
    #[error("{0} is already on the {1}")]
    Present(Cidr, ListKind),
    #[error("{0} is not in the {1} file")]
    Absent(Cidr, ListKind),
    #[error("{}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
}

/// One configured list file, for editing.
#[derive(Debug, Clone, Copy)]
pub struct NetList<'a> {
    pub kind: ListKind,
    pub path: &'a Path,
}

impl<'a> NetList<'a> {
    /// The configured file of `kind`, or why there is none.
    pub fn configured(kind: ListKind, file: Option<&'a Path>) -> Result<NetList<'a>, NetListError> {
        let path = file.ok_or(NetListError::NoFile(kind))?;
        Ok(NetList { kind, path })
    }

    /// The networks in the file, in file order; a missing file is an empty list (the
    /// first `add` makes it).
    pub fn list(&self) -> Result<Vec<Cidr>, NetListError> {
        parse(self.path, &lines(self.path)?)
    }

    /// Adds `network` at the end of the file (made when missing).
    pub fn add(&self, network: Cidr) -> Result<(), NetListError> {
        let mut lines = lines(self.path)?;
        if parse(self.path, &lines)?.contains(&network) {
            return Err(NetListError::Present(network, self.kind));
        }
        lines.push(network.to_string());
        write(self.path, &lines)
    }

    /// Removes every line naming `network` (as written or in another spelling of the same
    /// network); comments and other networks stay.
    pub fn remove(&self, network: Cidr) -> Result<(), NetListError> {
        let lines = lines(self.path)?;
        let mut kept = Vec::with_capacity(lines.len());
        for (number, line) in lines.iter().enumerate() {
            if network_of(self.path, number, line)? != Some(network) {
                kept.push(line.clone());
            }
        }
        if kept.len() == lines.len() {
            return Err(NetListError::Absent(network, self.kind));
        }
        write(self.path, &kept)
    }
}

/// The networks of the file at `path`, for the filter: unlike [`NetList::list`], a missing
/// file is an error (a configured list that is not there is a mistake to report).
pub fn read(path: &Path) -> Result<Vec<Cidr>, NetListError> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    let lines: Vec<String> = text.lines().map(str::to_owned).collect();
    parse(path, &lines)
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> NetListError + '_ {
    move |error| NetListError::Io {
        path: path.to_owned(),
        error,
    }
}

/// The file's lines; a missing file has none.
fn lines(path: &Path) -> Result<Vec<String>, NetListError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text.lines().map(str::to_owned).collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(io(path)(e)),
    }
}

fn parse(path: &Path, lines: &[String]) -> Result<Vec<Cidr>, NetListError> {
    let mut out = Vec::new();
    for (number, line) in lines.iter().enumerate() {
        out.extend(network_of(path, number, line)?);
    }
    Ok(out)
}

/// The network a line names, if any (`#` starts a comment).
fn network_of(path: &Path, number: usize, line: &str) -> Result<Option<Cidr>, NetListError> {
    let text = line.split('#').next().unwrap_or("").trim();
    if text.is_empty() {
        return Ok(None);
    }
    Cidr::parse(text)
        .map(Some)
        .map_err(|_| NetListError::BadLine {
            path: path.to_owned(),
            line: number + 1,
            text: text.to_owned(),
        })
}

fn write(path: &Path, lines: &[String]) -> Result<(), NetListError> {
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
        let list = NetList::configured(ListKind::Block, Some(&path)).unwrap();
        list.add(net("192.0.2.0/24")).unwrap();
        std::fs::write(&path, "# spammers\n192.0.2.0/24\n2001:db8::1 # one host\n").unwrap();
        let twice = list.add(net("192.0.2.7/24")).unwrap_err();
        assert!(matches!(twice, NetListError::Present(..)));
        assert_eq!(
            twice.to_string(),
            "192.0.2.0/24 is already on the block list"
        );
        list.add(net("198.51.100.0/24")).unwrap();
        assert_eq!(
            list.list().unwrap(),
            [
                net("192.0.2.0/24"),
                net("2001:db8::1"),
                net("198.51.100.0/24")
            ]
        );
        list.remove(net("2001:db8::1/128")).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "# spammers\n192.0.2.0/24\n198.51.100.0/24\n"
        );
        assert!(matches!(
            list.remove(net("203.0.113.1")),
            Err(NetListError::Absent(..))
        ));
        std::fs::write(&path, "nonsense\n").unwrap();
        assert!(matches!(
            list.list(),
            Err(NetListError::BadLine { line: 1, .. })
        ));
    }

    #[test]
    fn the_allow_list_is_the_same_format_with_its_own_words() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("allow.txt");
        let none = NetList::configured(ListKind::Allow, None).unwrap_err();
        assert_eq!(
            none.to_string(),
            "no [spam] allowlist_file is configured: name one to manage the allow list"
        );
        // The filter wants the file that the configuration names; the editor makes it.
        assert!(matches!(read(&path), Err(NetListError::Io { .. })));
        let list = NetList::configured(ListKind::Allow, Some(&path)).unwrap();
        assert!(
            list.list().unwrap().is_empty(),
            "a missing file lists nothing"
        );
        list.add(net("2001:db8::/32")).unwrap();
        assert_eq!(read(&path).unwrap(), [net("2001:db8::/32")]);
        let absent = list.remove(net("192.0.2.1")).unwrap_err();
        assert_eq!(
            absent.to_string(),
            "192.0.2.1/32 is not in the allow list file"
        );
    }
}
