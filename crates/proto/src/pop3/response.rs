//! POP3 responses: status lines and dot-stuffed multi-line bodies.

/// `+OK text`
pub fn render_ok(text: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(b"+OK");
    if !text.is_empty() {
        out.push(b' ');
        out.extend_from_slice(text.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

/// `-ERR [CODE] text` (RFC 2449 8 response codes, RFC 3206 SYS and AUTH).
pub fn render_err(code: Option<&str>, text: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(b"-ERR ");
    if let Some(code) = code {
        out.push(b'[');
        out.extend_from_slice(code.as_bytes());
        out.extend_from_slice(b"] ");
    }
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Streams a multi-line body (POP3 RETR/TOP, and SMTP DATA when relaying): a `.` starting a
/// line is doubled, the body ends with CRLF and the `.` terminator (RFC 1939 3, RFC 5321
/// 4.5.2). Every line ending goes out as CRLF: a bare CR or LF in a stored message (an
/// imported mbox, an old store) becomes one, so what we send can never hold a `\r.\r` or
/// `\n.\n` that another program would take for the end (SMTP smuggling). Feed it any split
/// of the message.
#[derive(Debug)]
pub struct DotStuffer {
    at_line_start: bool,
    /// The last byte was a CR; its LF may start the next chunk.
    pending_cr: bool,
}

impl Default for DotStuffer {
    fn default() -> Self {
        DotStuffer {
            at_line_start: true,
            pending_cr: false,
        }
    }
}

impl DotStuffer {
    pub fn encode(&mut self, mut chunk: &[u8], out: &mut Vec<u8>) {
        out.reserve(chunk.len() + 16);
        if std::mem::take(&mut self.pending_cr) {
            out.push(b'\n');
            self.at_line_start = true;
            if chunk.first() == Some(&b'\n') {
                chunk = &chunk[1..];
            }
        }
        while !chunk.is_empty() {
            if self.at_line_start && chunk[0] == b'.' {
                out.push(b'.');
            }
            let Some(at) = crate::smtp::find_cr_or_lf(chunk) else {
                out.extend_from_slice(chunk);
                self.at_line_start = false;
                return;
            };
            out.extend_from_slice(&chunk[..at]);
            out.extend_from_slice(b"\r\n");
            self.at_line_start = true;
            chunk = match (chunk[at], chunk.get(at + 1)) {
                (b'\r', Some(b'\n')) => &chunk[at + 2..],
                (b'\r', None) => {
                    // Already written as CRLF; an LF starting the next chunk is its own.
                    out.pop();
                    self.pending_cr = true;
                    self.at_line_start = false;
                    return;
                }
                _ => &chunk[at + 1..],
            };
        }
    }

    /// Ends the body; a last line without its CRLF gets one.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if std::mem::take(&mut self.pending_cr) {
            out.push(b'\n');
            self.at_line_start = true;
        }
        if !self.at_line_start {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b".\r\n");
        self.at_line_start = true;
    }
}

/// Cuts a message after its header section and the first `lines` body lines (TOP).
#[derive(Debug)]
pub struct TopLimiter {
    lines_left: u32,
    in_body: bool,
    /// The current line has something besides CR.
    line_has_content: bool,
    done: bool,
}

impl TopLimiter {
    pub fn new(lines: u32) -> TopLimiter {
        TopLimiter {
            lines_left: lines,
            in_body: false,
            line_has_content: false,
            done: false,
        }
    }

    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The part of `chunk` to send.
    pub fn take<'a>(&mut self, chunk: &'a [u8]) -> &'a [u8] {
        if self.done {
            return &chunk[..0];
        }
        for (i, &b) in chunk.iter().enumerate() {
            match b {
                b'\n' => {
                    if self.in_body {
                        self.lines_left -= 1;
                    } else if !self.line_has_content {
                        self.in_body = true;
                    }
                    self.line_has_content = false;
                    if self.in_body && self.lines_left == 0 {
                        self.done = true;
                        return &chunk[..=i];
                    }
                }
                b'\r' => {}
                _ => self.line_has_content = true,
            }
        }
        chunk
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::split::all_splits;

    fn stuff(pieces: &[&[u8]]) -> Vec<u8> {
        let (mut s, mut out) = (DotStuffer::default(), Vec::new());
        pieces.iter().for_each(|p| s.encode(p, &mut out));
        s.finish(&mut out);
        out
    }

    #[test]
    fn dot_stuffing() {
        assert_eq!(
            all_splits(b"a\r\n.b\r\n..\r\n", stuff),
            b"a\r\n..b\r\n...\r\n.\r\n"
        );
        assert_eq!(
            all_splits(b".start\r\nno end", stuff),
            b"..start\r\nno end\r\n.\r\n"
        );
        assert_eq!(all_splits(b"", stuff), b".\r\n");
    }

    /// Whatever line endings a stored message has, only CRLF goes out: no `\r.\r` or
    /// `\n.\n` reaches another server (SMTP smuggling through the relay).
    #[test]
    fn bare_line_endings_go_out_as_crlf() {
        let cases: &[(&[u8], &[u8])] = &[
            (
                b"hello\r.\rMAIL FROM:<x@y>\r\n",
                b"hello\r\n..\r\nMAIL FROM:<x@y>\r\n.\r\n",
            ),
            (
                b"hello\n.\nRCPT TO:<x@y>\n",
                b"hello\r\n..\r\nRCPT TO:<x@y>\r\n.\r\n",
            ),
            (b"a\r\n.\nb", b"a\r\n..\r\nb\r\n.\r\n"),
            (b"a\n\r.\r", b"a\r\n\r\n..\r\n.\r\n"),
            (b"ends in CR\r", b"ends in CR\r\n.\r\n"),
            (b"\r\r\n\n", b"\r\n\r\n\r\n.\r\n"),
        ];
        for (input, expected) in cases {
            let got = all_splits(input, stuff);
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(expected),
                "{:?}",
                String::from_utf8_lossy(input)
            );
            let body = &got[..got.len() - 3];
            let bare = body.windows(2).enumerate().any(|(i, w)| {
                (w[0] == b'\r' && w[1] != b'\n')
                    || (w[1] == b'\n' && w[0] != b'\r')
                    || (i == 0 && w[0] == b'\n')
            });
            assert!(!bare, "{:?}", String::from_utf8_lossy(&got));
        }
    }

    fn top(lines: u32) -> impl Fn(&[&[u8]]) -> Vec<u8> {
        move |pieces| {
            let mut limiter = TopLimiter::new(lines);
            let mut out = Vec::new();
            for p in pieces {
                out.extend_from_slice(limiter.take(p));
            }
            out
        }
    }

    #[test]
    fn top_limits_body_lines() {
        let msg = b"A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\nl3\r\n";
        assert_eq!(all_splits(msg, top(0)), b"A: 1\r\nB: 2\r\n\r\n");
        assert_eq!(all_splits(msg, top(2)), b"A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\n");
        assert_eq!(all_splits(msg, top(10)), msg);
        assert_eq!(all_splits(b"A: 1\r\n", top(0)), b"A: 1\r\n");
    }

    #[test]
    fn status_lines() {
        let mut out = Vec::new();
        render_ok("2 320", &mut out);
        render_err(Some("IN-USE"), "maildrop locked", &mut out);
        render_err(None, "no such message", &mut out);
        assert_eq!(
            out,
            b"+OK 2 320\r\n-ERR [IN-USE] maildrop locked\r\n-ERR no such message\r\n"
        );
    }
}
