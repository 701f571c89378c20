//! Just enough header reading for the SMTP path: where the header section ends and how many
//! times a field occurs. Full MIME parsing lives elsewhere.

/// The header section of a message including its final CRLF, or everything given if no blank
/// line was found (a message may be all headers, or the caller may hold only a prefix).
pub fn header_section(message: &[u8]) -> &[u8] {
    if message.starts_with(b"\r\n") {
        return &message[..0];
    }
    match message.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(pos) => &message[..pos + 2],
        None => message,
    }
}

/// Counts header fields named `name` (case-insensitive); continuation lines are not fields.
pub fn count_header(headers: &[u8], name: &str) -> usize {
    headers
        .split(|&b| b == b'\n')
        .filter(|line| {
            line.len() > name.len()
                && line[..name.len()].eq_ignore_ascii_case(name.as_bytes())
                && line[name.len()..].trim_ascii_start().starts_with(b":")
        })
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_header_section() {
        let msg = b"A: 1\r\nB: 2\r\n\r\nbody\r\n";
        assert_eq!(header_section(msg), b"A: 1\r\nB: 2\r\n");
        assert_eq!(header_section(b"\r\nbody"), b"");
        assert_eq!(header_section(b"A: 1\r\n"), b"A: 1\r\n");
    }

    #[test]
    fn counts_fields_not_continuations_or_body() {
        let headers =
            b"Received: from a\r\n\tby b\r\nreceived : x\r\nX-Received: no\r\nReceivedX: no\r\n";
        assert_eq!(count_header(headers, "Received"), 2);
        let msg = b"Received: a\r\n\r\nReceived: in body\r\n";
        assert_eq!(count_header(header_section(msg), "received"), 1);
    }
}
