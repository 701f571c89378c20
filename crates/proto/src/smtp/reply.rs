//! Reply rendering (RFC 5321 4.2, enhanced codes RFC 2034).

/// Renders a reply: every line but the last as `code-`, the last as `code `, each with the
/// enhanced status code when given. No lines renders the bare code.
pub fn render_reply(
    code: u16,
    enhanced: Option<(u8, u16, u16)>,
    lines: &[&str],
    out: &mut Vec<u8>,
) {
    use std::io::Write;
    let lines: &[&str] = if lines.is_empty() { &[""] } else { lines };
    for (i, line) in lines.iter().enumerate() {
        let sep = if i + 1 == lines.len() { ' ' } else { '-' };
        let _ = match enhanced {
            Some((a, b, c)) => write!(out, "{code}{sep}{a}.{b}.{c} {line}\r\n"),
            None if line.is_empty() => write!(out, "{code}{sep}\r\n"),
            None => write!(out, "{code}{sep}{line}\r\n"),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_single_and_multi_line_replies() {
        let mut out = Vec::new();
        render_reply(250, Some((2, 1, 0)), &["Sender OK"], &mut out);
        render_reply(
            250,
            None,
            &["mx greets you", "PIPELINING", "SIZE 10"],
            &mut out,
        );
        render_reply(354, None, &[], &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "250 2.1.0 Sender OK\r\n250-mx greets you\r\n250-PIPELINING\r\n250 SIZE 10\r\n354 \r\n"
        );
    }
}
