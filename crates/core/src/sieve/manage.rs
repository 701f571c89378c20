//! Storing a user's scripts, with the checks every way in (the CLI, ManageSieve) shares:
//! a sane name, the size and count limits, and a script that compiles with hermod's
//! extensions.

use super::{ScriptError, SieveEngine};
use hermod_store::{Scripts, StoreError, UserId};

/// Why a script was not stored.
#[derive(Debug, thiserror::Error)]
pub enum PutError {
    #[error("invalid script name {0:?}: 1 to 128 characters, no control characters")]
    BadName(String),
    #[error("the script is {size} bytes; the limit is {max}")]
    TooBig { size: usize, max: usize },
    #[error("{user} already has {max} scripts: delete one first")]
    TooMany { user: String, max: usize },
    #[error("the script does not compile: {0}")]
    Invalid(#[from] ScriptError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// RFC 5804 1.6: names are UTF-8 without control characters (nor the line and paragraph
/// separators U+2028, U+2029); hermod also bounds them.
pub fn valid_name(name: &str) -> bool {
    let chars = name.chars().count();
    let forbidden = |c: char| c.is_control() || c == '\u{2028}' || c == '\u{2029}';
    (1..=128).contains(&chars) && !name.chars().any(forbidden)
}

/// Checks and stores `text` as the user's script `name` (replacing one of that name).
pub async fn put_script(
    scripts: &dyn Scripts,
    engine: &SieveEngine,
    user: UserId,
    user_name: &str,
    name: &str,
    text: &[u8],
) -> Result<(), PutError> {
    if !valid_name(name) {
        return Err(PutError::BadName(name.to_owned()));
    }
    let limits = engine.limits();
    if text.len() > limits.max_script_size {
        return Err(PutError::TooBig {
            size: text.len(),
            max: limits.max_script_size,
        });
    }
    let existing = scripts.sieve_list(user).await?;
    if existing.len() >= limits.max_scripts && !existing.iter().any(|s| s.name == name) {
        return Err(PutError::TooMany {
            user: user_name.to_owned(),
            max: limits.max_scripts,
        });
    }
    engine.check(text)?;
    scripts.sieve_put(user, name, text).await?;
    Ok(())
}
