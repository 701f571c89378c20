//! The submission check's reading of `From:`/`Sender:`/`Resent-*`: any header bytes, no
//! panic; when it accepts, it found at least one mailbox, and every `x@y` token of a From
//! field is among what it found (nothing hides from the ownership check).
#![no_main]

use hermod_message::{author_addresses, fields};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(found) = author_addresses(data) else {
        return;
    };
    assert!(!found.is_empty());
    for field in fields(data) {
        if !field.name.eq_ignore_ascii_case("from") {
            continue;
        }
        let value = String::from_utf8_lossy(&data[field.range]);
        for token in value.split(|c: char| c.is_whitespace() || "<>()\",;:[]".contains(c)) {
            let token = token.trim_matches(|c: char| c == '\\' || c == '\'' || c == '.');
            if token.len() > 2 && token.rfind('@').is_some_and(|at| at > 0 && at + 1 < token.len()) {
                assert!(
                    found.iter().any(|f| f.eq_ignore_ascii_case(token)),
                    "{token:?} not in {found:?}"
                );
            }
        }
    }
});
