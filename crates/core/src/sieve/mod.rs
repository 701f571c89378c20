//! Sieve (RFC 5228) at delivery: each local copy of a message runs the site's `before`
//! script, its user's active script and the site's `after` script, which decide where the
//! copy is filed and with which flags, or discard, reject, redirect or answer it (vacation).
//!
//! The interpreter is sieve-rs; this module is its host: it compiles and caches scripts (by
//! the store's script id, which names one text forever), answers the interpreter's questions
//! (does a mailbox exist, was this vacation/duplicate id seen) from the store, and turns its
//! actions into a [`Verdict`] that the delivery pipeline files. Nothing here sends or stores
//! mail itself.

mod manage;
mod parse;
mod run;
pub mod settings;

pub use manage::{PutError, put_script, valid_name};
pub use parse::Parsed;
pub use run::{Arrival, Edited, Outgoing, Verdict};

use crate::srs::Srs;
use hermod_store::{Scripts, UserId};
use sieve::compiler::grammar::Capability;
use sieve::{Compiler, Runtime};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The extensions hermod's host implements. Anything else is refused at `require`, so a
/// script that checks (and `hermod sieve check`) is told at once.
fn supported() -> Vec<Capability> {
    use sieve::compiler::grammar::Comparator;
    vec![
        Capability::Envelope,
        Capability::FileInto,
        Capability::EncodedCharacter,
        Capability::Comparator(Comparator::AsciiCaseMap),
        Capability::Comparator(Comparator::Octet),
        Capability::Comparator(Comparator::AsciiNumeric),
        Capability::Body,
        Capability::Copy,
        Capability::Relational,
        Capability::Date,
        Capability::Index,
        Capability::Duplicate,
        Capability::Variables,
        Capability::Environment,
        Capability::Reject,
        Capability::Ereject,
        Capability::SubAddress,
        Capability::Vacation,
        Capability::VacationSeconds,
        Capability::Mailbox,
        Capability::SpecialUse,
        Capability::Imap4Flags,
        Capability::Ihave,
        Capability::Include,
        Capability::Regex,
        Capability::SpamTest,
        Capability::SpamTestPlus,
        Capability::Mime,
        Capability::ForEveryPart,
        Capability::ExtractText,
        Capability::EditHeader,
    ]
}

/// Header fields `addheader` and `deleteheader` leave alone (RFC 5293 5: attempts are
/// ignored silently). Received (the RFC's MUST) and Auto-Submitted keep the trace and
/// loop-prevention truthful; Delivered-To is hermod's redirect loop marker; Return-Path
/// and the signatures belong to the transport, not to the user's copy.
const PROTECTED_FIELDS: [&str; 9] = [
    "Received",
    "Auto-Submitted",
    "Delivered-To",
    "Return-Path",
    "DKIM-Signature",
    "ARC-Seal",
    "ARC-Message-Signature",
    "ARC-Authentication-Results",
    "Authentication-Results",
];

/// The limits of one run, from `[sieve]`.
#[derive(Debug, Clone)]
pub struct SieveLimits {
    pub max_cpu: usize,
    pub max_redirects: usize,
    pub max_replies: usize,
    pub max_script_size: usize,
    pub max_scripts: usize,
}

impl Default for SieveLimits {
    fn default() -> SieveLimits {
        SieveLimits {
            max_cpu: 20_000,
            max_redirects: 4,
            max_replies: 3,
            max_script_size: 64 * 1024,
            max_scripts: 32,
        }
    }
}

/// A script that does not compile, or asks for an extension hermod does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ScriptError {
    pub message: String,
}

/// Compiled scripts kept per process; a server has few distinct scripts per user.
const CACHE_MAX: usize = 4096;

/// A compiled script, with what hermod learns from it once, when it is compiled.
#[derive(Clone)]
pub(crate) struct Compiled {
    sieve: Arc<sieve::Sieve>,
    /// It may read the Received fields' structure (`${header.received.rcvd.from}` and the
    /// like), or includes scripts (compiled only when they run) that might: only then is
    /// the trace tokenized for it (see [`Parsed`]).
    reads_trace: bool,
}

impl Compiled {
    fn new(sieve: sieve::Sieve) -> Compiled {
        // sieve-rs keeps the compiled program private; its Debug form names each header
        // variable's part (`Received(From(Any))` for the trace's) and each `Include(...)`.
        // Anything else that happens to print so only costs the tokenizing.
        let program = format!("{sieve:?}");
        Compiled {
            reads_trace: program.contains("Received(") || program.contains("Include("),
            sieve: Arc::new(sieve),
        }
    }
}

/// The interpreter with hermod's settings, the site's scripts and the compiled-script cache.
pub struct SieveEngine {
    compiler: Compiler,
    runtime: Runtime,
    limits: SieveLimits,
    before: Option<Compiled>,
    after: Option<Compiled>,
    cache: Mutex<HashMap<i64, Compiled>>,
    srs: Option<Srs>,
    hostname: String,
}

impl SieveEngine {
    /// `before`/`after`: the site's scripts (their text), compiled now so a broken one stops
    /// the server at start, not at the first delivery.
    pub fn new(
        hostname: &str,
        limits: SieveLimits,
        before: Option<&[u8]>,
        after: Option<&[u8]>,
    ) -> Result<SieveEngine, ScriptError> {
        let compiler = Compiler::new().with_max_script_size(limits.max_script_size);
        let mut runtime = Runtime::new()
            .without_capabilities(Capability::all().iter().cloned())
            .with_cpu_limit(limits.max_cpu)
            .with_max_redirects(limits.max_redirects)
            .with_max_out_messages(limits.max_replies)
            .with_local_hostname(hostname.to_owned())
            .with_env_variable("name", "hermod")
            .with_env_variable("version", env!("CARGO_PKG_VERSION"))
            .with_env_variable("host", hostname.to_owned())
            .with_env_variable("domain", hostname.to_owned())
            .with_env_variable("phase", "during");
        for capability in supported() {
            runtime.set_capability(capability);
        }
        for field in PROTECTED_FIELDS {
            runtime.set_protected_header(field);
        }
        let mut engine = SieveEngine {
            compiler,
            runtime,
            limits,
            before: None,
            after: None,
            cache: Mutex::new(HashMap::new()),
            srs: None,
            hostname: hostname.to_owned(),
        };
        engine.before = before.map(|s| engine.site_script(s)).transpose()?;
        engine.after = after.map(|s| engine.site_script(s)).transpose()?;
        Ok(engine)
    }

    pub fn limits(&self) -> &SieveLimits {
        &self.limits
    }

    pub fn hostname(&self) -> &str {
        &self.hostname
    }

    /// Redirected mail leaves with an SRS sender in the user's domain (see [`crate::srs`]).
    pub fn with_srs(mut self, srs: Srs) -> SieveEngine {
        self.srs = Some(srs);
        self
    }

    /// The envelope sender of a message `user_address`'s script redirects: the null sender
    /// stays null, the user's own domain stays as it is, anyone else's is rewritten so the
    /// destination's SPF check sees hermod's domain.
    pub fn redirect_sender(&self, sender: Option<&str>, user_address: &str) -> Option<String> {
        let sender = sender?;
        let domain = user_address.rsplit_once('@').map_or("", |(_, d)| d);
        let same = sender
            .rsplit_once('@')
            .is_some_and(|(_, d)| d.eq_ignore_ascii_case(domain));
        match &self.srs {
            Some(srs) if !same && !domain.is_empty() => {
                Some(srs.forward(sender, domain, crate::srs::today()))
            }
            _ => Some(sender.to_owned()),
        }
    }

    /// The extensions a script may `require`, by their names in `require` (what ManageSieve's
    /// SIEVE capability lists).
    pub fn extensions(&self) -> Vec<String> {
        supported().iter().map(ToString::to_string).collect()
    }

    /// Compiles a script: errors carry the line and column.
    pub(crate) fn compile(&self, text: &[u8]) -> Result<Compiled, ScriptError> {
        match self.compiler.compile(text) {
            Ok(script) => Ok(Compiled::new(script)),
            Err(e) => Err(ScriptError {
                // sieve-rs says where: "... at line 3, column 7."
                message: e.to_string(),
            }),
        }
    }

    fn site_script(&self, text: &[u8]) -> Result<Compiled, ScriptError> {
        let script = self.compile(text)?;
        run::dry_run(&self.runtime, script.sieve.clone())?;
        Ok(script)
    }

    /// What `hermod sieve check`, `sieve put` and ManageSieve's PUTSCRIPT/CHECKSCRIPT ask: it
    /// compiles, and every extension it requires is one hermod has (found by a dry run on
    /// an empty message, which stops at the first `require` it cannot meet).
    pub fn check(&self, text: &[u8]) -> Result<(), ScriptError> {
        // RFC 5228 2.2: scripts are UTF-8. The compiler takes any octets, and a script in
        // Latin-1 would compare and file by garbled names.
        if let Err(e) = std::str::from_utf8(text) {
            let line = text[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count()
                + 1;
            return Err(ScriptError {
                message: format!("the script is not valid UTF-8 (line {line})"),
            });
        }
        let script = self.compile(text)?;
        run::dry_run(&self.runtime, script.sieve)
    }

    /// The user's script by its store id, compiled once per process.
    async fn user_script(
        &self,
        scripts: &dyn Scripts,
        id: i64,
    ) -> Result<Option<Compiled>, String> {
        if let Some(found) = self.lock_cache().get(&id) {
            return Ok(Some(found.clone()));
        }
        let Some(text) = scripts.sieve_script(id).await.map_err(|e| e.to_string())? else {
            // Replaced since the recipient was looked up: the next message gets the new one.
            return Ok(None);
        };
        let script = self.compile(&text).map_err(|e| e.message)?;
        let mut cache = self.lock_cache();
        if cache.len() >= CACHE_MAX {
            cache.clear();
        }
        cache.insert(id, script.clone());
        Ok(Some(script))
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Compiled>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether anything runs for a user with active script `script`.
    pub fn applies(&self, script: Option<i64>) -> bool {
        script.is_some() || self.before.is_some() || self.after.is_some()
    }
}

/// The site's script, the user's, the site's: in that order, as RFC 5228 has no notion of
/// several scripts, they run as one run each with the actions collected across them.
pub(crate) struct Chain {
    pub scripts: Vec<(String, Arc<sieve::Sieve>)>,
    /// One of them may read the Received fields' structure (see [`Compiled::reads_trace`]).
    pub reads_trace: bool,
}

impl SieveEngine {
    pub(crate) async fn chain(
        &self,
        scripts: &dyn Scripts,
        user: UserId,
        script: Option<i64>,
    ) -> Chain {
        let mut chain = Vec::new();
        if let Some(before) = &self.before {
            chain.push(("before", before.clone()));
        }
        if let Some(id) = script {
            match self.user_script(scripts, id).await {
                Ok(Some(found)) => chain.push(("personal", found)),
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(user = user.0, error, "the user's Sieve script is skipped")
                }
            }
        }
        if let Some(after) = &self.after {
            chain.push(("after", after.clone()));
        }
        Chain {
            reads_trace: chain.iter().any(|(_, script)| script.reads_trace),
            scripts: chain
                .into_iter()
                .map(|(name, script)| (name.to_owned(), script.sieve))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests;
