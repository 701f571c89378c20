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

/// Streams a multi-line body: a `.` starting a line is doubled, the body ends with CRLF and
/// the `.` terminator (RFC 1939 3). Feed it any split of the message.
#[derive(Debug)]
pub struct DotStuffer {
    at_line_start: bool,
}

impl Default for DotStuffer {
    fn default() -> Self {
        DotStuffer {
            at_line_start: true,
        }
    }
}

impl DotStuffer {
    pub fn encode(&mut self, mut chunk: &[u8], out: &mut Vec<u8>) {
        out.reserve(chunk.len() + 16);
        while !chunk.is_empty() {
            if self.at_line_start && chunk[0] == b'.' {
                out.push(b'.');
            }
            match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    out.extend_from_slice(&chunk[..=i]);
                    self.at_line_start = true;
                    chunk = &chunk[i + 1..];
                }
                None => {
                    out.extend_from_slice(chunk);
                    self.at_line_start = false;
                    return;
                }
            }
        }
    }

    /// Ends the body; a last line without its CRLF gets one.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
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
