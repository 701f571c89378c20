//! Reading what [`crate::ImapClient`] returned: a command's response lines, the tagged one
//! last.

/// Whether any response line contains `needle`.
pub fn has(lines: &[String], needle: &str) -> bool {
    lines.iter().any(|l| l.contains(needle))
}

/// The tagged completion line (the last one).
pub fn tagged(lines: &[String]) -> &str {
    lines.last().map(String::as_str).unwrap_or("")
}
