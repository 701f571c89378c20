//! Command line framing shared by SMTP and POP3: only CRLF ends a line (RFC 5321 2.3.8,
//! RFC 1939 3).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineError {
    /// Longer than the limit (RFC 5321 4.5.3.1.4); the rest of it was discarded.
    TooLong,
    /// A CR or LF that is not part of a CRLF pair (SMTP smuggling defence).
    BareLineEnding,
}

/// Cuts command lines off the front of an input buffer.
#[derive(Debug)]
pub struct LineFramer {
    max_len: usize,
    /// Inside an over-long line already reported: drop bytes up to its LF.
    discarding: bool,
}

impl LineFramer {
    /// `max_len` counts the CRLF.
    pub fn new(max_len: usize) -> LineFramer {
        LineFramer {
            max_len: max_len.max(3),
            discarding: false,
        }
    }

    /// Removes one line from the front of `buf` and returns it without its CRLF. `None`
    /// means more input is needed. An error line is consumed through its LF.
    pub fn next_line(&mut self, buf: &mut Vec<u8>) -> Option<Result<Vec<u8>, LineError>> {
        loop {
            let lf = buf.iter().position(|&b| b == b'\n');
            if self.discarding {
                match lf {
                    Some(i) => {
                        buf.drain(..=i);
                        self.discarding = false;
                        continue;
                    }
                    None => {
                        buf.clear();
                        return None;
                    }
                }
            }
            let Some(i) = lf else {
                if buf.len() > self.max_len {
                    buf.clear();
                    self.discarding = true;
                    return Some(Err(LineError::TooLong));
                }
                return None;
            };
            let line: Vec<u8> = buf.drain(..=i).collect();
            if line.len() > self.max_len {
                return Some(Err(LineError::TooLong));
            }
            let content = match line.strip_suffix(b"\r\n") {
                Some(content) if !content.contains(&b'\r') => content,
                _ => return Some(Err(LineError::BareLineEnding)),
            };
            return Some(Ok(content.to_vec()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::split::all_splits;

    fn frame(max: usize, pieces: &[&[u8]]) -> Vec<Result<String, LineError>> {
        let mut framer = LineFramer::new(max);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        for piece in pieces {
            buf.extend_from_slice(piece);
            while let Some(line) = framer.next_line(&mut buf) {
                out.push(line.map(|l| String::from_utf8_lossy(&l).into_owned()));
            }
        }
        out
    }

    #[test]
    fn frames_crlf_lines_and_rejects_everything_else() {
        type Case<'a> = (&'a [u8], Vec<Result<&'a str, LineError>>);
        let cases: &[Case] = &[
            (b"EHLO a\r\nNOOP\r\n", vec![Ok("EHLO a"), Ok("NOOP")]),
            (b"\r\n", vec![Ok("")]),
            (b"\r\n\r\n", vec![Ok(""), Ok("")]),
            (b"a\x00\xff\tb\r\n", vec![Ok("a\u{0}\u{fffd}\tb")]),
            // Need more data, including a CR that may be the start of a CRLF.
            (b"", vec![]),
            (b"NOOP", vec![]),
            (b"NOOP\r", vec![]),
            (b"NOOP\r\nQU", vec![Ok("NOOP")]),
            // Bare line endings: the line is consumed through its LF.
            (
                b"NOOP\nQUIT\r\n",
                vec![Err(LineError::BareLineEnding), Ok("QUIT")],
            ),
            (b"\n", vec![Err(LineError::BareLineEnding)]),
            (b"NO\rOP\r\n", vec![Err(LineError::BareLineEnding)]),
            (b"NOOP\r\r\n", vec![Err(LineError::BareLineEnding)]),
            (b"\rNOOP\r\n", vec![Err(LineError::BareLineEnding)]),
            (b"NOOP\r\rQUIT", vec![]),
            (
                b"NO\rOP\nQUIT\r\n",
                vec![Err(LineError::BareLineEnding), Ok("QUIT")],
            ),
            // Limits: 11 octets with the CRLF.
            (b"012345678\r\n", vec![Ok("012345678")]),
            (b"0123456789\r\n", vec![Err(LineError::TooLong)]),
            (b"0123456789\n", vec![Err(LineError::BareLineEnding)]),
            (b"01234567890\n", vec![Err(LineError::TooLong)]),
            (
                b"0123456789012\r\nOK\r\n",
                vec![Err(LineError::TooLong), Ok("OK")],
            ),
            (
                b"0123456789012\nOK\r\n",
                vec![Err(LineError::TooLong), Ok("OK")],
            ),
            (
                b"0123456789\r\r\nOK\r\n",
                vec![Err(LineError::TooLong), Ok("OK")],
            ),
            (b"0123456789abcdef", vec![Err(LineError::TooLong)]),
            (
                b"0123456789abcdef\r\n\r\n",
                vec![Err(LineError::TooLong), Ok("")],
            ),
        ];
        for (input, expected) in cases {
            let expected: Vec<Result<String, LineError>> =
                expected.iter().map(|r| r.map(str::to_owned)).collect();
            let got = all_splits(input, |pieces| frame(11, pieces));
            assert_eq!(got, expected, "{:?}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn an_endless_line_is_reported_once_and_dropped() {
        let mut input = vec![b'x'; 5000];
        input.extend_from_slice(b"\r\nQUIT\r\n");
        let got = all_splits(&input, |pieces| frame(100, pieces));
        assert_eq!(got, vec![Err(LineError::TooLong), Ok("QUIT".to_owned())]);
    }

    #[test]
    fn discarding_does_not_hold_on_to_input() {
        let mut framer = LineFramer::new(100);
        let mut buf = vec![b'x'; 1000];
        assert_eq!(framer.next_line(&mut buf), Some(Err(LineError::TooLong)));
        for _ in 0..10 {
            buf.extend_from_slice(&[b'y'; 1000]);
            assert_eq!(framer.next_line(&mut buf), None);
            assert!(buf.is_empty());
        }
        buf.extend_from_slice(b"yy\r\nQUIT\r\n");
        assert_eq!(framer.next_line(&mut buf), Some(Ok(b"QUIT".to_vec())));
    }
}
