//! Reading back hermod's own `Authentication-Results:` field (known senders): any message
//! and any host name give an answer without panicking, and an author it names is a
//! lowercase address with a domain.
#![no_main]

use hermod_spam::authorship::authenticated_author_of;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first line is the host name, the rest the stored message.
    let cut = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let hostname = String::from_utf8_lossy(&data[..cut]);
    let message = data.get(cut + 1..).unwrap_or_default();
    if let Some(author) = authenticated_author_of(message, hostname.trim()) {
        assert_eq!(author, author.to_ascii_lowercase());
        assert!(author.rsplit_once('@').is_some_and(|(_, domain)| !domain.is_empty()));
    }
});
