//! Reply rendering (RFC 5321 4.2, enhanced status codes RFC 2034 / RFC 3463).

use std::io::Write;

/// Renders a reply: every line but the last as `code-`, the last as `code `, each with the
/// enhanced status code when given. No lines renders the bare code and a space.
///
/// A CR or LF inside a line becomes a space: reply text may quote what a client sent, and
/// must never let it end the reply early or forge another one.
pub fn render_reply(
    code: u16,
    enhanced: Option<(u8, u16, u16)>,
    lines: &[&str],
    out: &mut Vec<u8>,
) {
    let lines: &[&str] = if lines.is_empty() { &[""] } else { lines };
    for (i, line) in lines.iter().enumerate() {
        let sep = if i + 1 == lines.len() { ' ' } else { '-' };
        // Writing to a Vec cannot fail.
        let _ = match enhanced {
            Some((class, subject, detail)) => write!(out, "{code}{sep}{class}.{subject}.{detail} "),
            None => write!(out, "{code}{sep}"),
        };
        let start = out.len();
        out.extend_from_slice(line.as_bytes());
        for b in &mut out[start..] {
            if *b == b'\r' || *b == b'\n' {
                *b = b' ';
            }
        }
        out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(code: u16, enhanced: Option<(u8, u16, u16)>, lines: &[&str]) -> String {
        let mut out = Vec::new();
        render_reply(code, enhanced, lines, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn renders_single_and_multi_line_replies() {
        type Case<'a> = (u16, Option<(u8, u16, u16)>, &'a [&'a str], &'a str);
        let cases: &[Case] = &[
            (
                250,
                Some((2, 1, 0)),
                &["Sender OK"],
                "250 2.1.0 Sender OK\r\n",
            ),
            (
                250,
                None,
                &["mx greets you", "PIPELINING", "SIZE 10"],
                "250-mx greets you\r\n250-PIPELINING\r\n250 SIZE 10\r\n",
            ),
            (
                550,
                Some((5, 7, 1)),
                &["Rejected", "see the docs"],
                "550-5.7.1 Rejected\r\n550 5.7.1 see the docs\r\n",
            ),
            (354, None, &[], "354 \r\n"),
            (
                354,
                None,
                &["End data with <CR><LF>.<CR><LF>"],
                "354 End data with <CR><LF>.<CR><LF>\r\n",
            ),
            (421, Some((4, 3, 2)), &[], "421 4.3.2 \r\n"),
            (
                553,
                Some((5, 1, 3)),
                &["bad <ü@x>"],
                "553 5.1.3 bad <ü@x>\r\n",
            ),
            (
                501,
                None,
                &["a\r\n250 forged", "b\nc"],
                "501-a  250 forged\r\n501 b c\r\n",
            ),
        ];
        for (code, enhanced, lines, expected) in cases {
            assert_eq!(render(*code, *enhanced, lines), *expected);
        }
    }
}
