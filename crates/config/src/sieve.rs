//! `[sieve]`: server-side filtering at delivery (RFC 5228) and its limits.

use crate::walker::Section;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq)]
pub struct Sieve {
    /// A script every local delivery runs before the user's own (e.g. site-wide spam
    /// filing); its `keep`/`fileinto` stand unless the user's script cancels them.
    pub before: Option<PathBuf>,
    /// A script every local delivery runs after the user's own.
    pub after: Option<PathBuf>,
    /// The largest script a user may store (ManageSieve's and the CLI's limit).
    pub max_script_size: u64,
    /// Scripts one user may store.
    pub max_scripts: u64,
    /// Instructions one run may execute before it stops (the message is kept).
    pub max_cpu: u64,
    /// `redirect`s one run may make.
    pub max_redirects: u64,
    /// Messages (vacation replies, notifications) one run may send.
    pub max_replies: u64,
}

impl Default for Sieve {
    fn default() -> Sieve {
        Sieve {
            before: None,
            after: None,
            max_script_size: 64 * 1024,
            max_scripts: 32,
            max_cpu: 20_000,
            max_redirects: 4,
            max_replies: 3,
        }
    }
}

pub(crate) fn read_sieve(root: &mut Section<'_>, sieve: &mut Sieve, base: &Path) {
    let Some(mut s) = root.section("sieve") else {
        return;
    };
    sieve.before = s.path("before", base);
    sieve.after = s.path("after", base);
    if let Some(v) = s.size("max_script_size", 1) {
        sieve.max_script_size = v;
    }
    let counts = [
        ("max_scripts", &mut sieve.max_scripts),
        ("max_cpu", &mut sieve.max_cpu),
        ("max_redirects", &mut sieve.max_redirects),
        ("max_replies", &mut sieve.max_replies),
    ];
    for (key, field) in counts {
        if let Some(v) = s.integer(key, 0) {
            *field = v;
        }
    }
    root.absorb(s);
}
