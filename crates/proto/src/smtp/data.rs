//! DATA content decoding (RFC 5321 4.1.1.4, 4.5.2): dot-unstuffing and the end marker.
//!
//! Only `<CRLF>.<CRLF>` ends the data. Any CR or LF outside a CRLF pair is an error, and
//! after one no line start is assumed, so `\n.\n`, `\r.\r`, `\r\n.\n` and `\n.\r\n` never end
//! the data: that disagreement between servers is what SMTP smuggling exploits.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataEnd {
    Ok,
    TooBig,
    BareLineEnding,
    LineTooLong,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// After a CRLF (or at the very start).
    LineStart,
    /// Inside a line.
    Mid,
    /// After a CR inside a line.
    Cr,
    /// A line that began with a dot.
    Dot,
    /// `.` then CR at a line start: one LF away from the end.
    DotCr,
}

#[derive(Debug)]
pub struct DataDecoder {
    state: State,
    max_size: u64,
    max_line: usize,
    size: u64,
    line_len: usize,
    error: Option<DataEnd>,
}

impl DataDecoder {
    /// `max_size` bounds the decoded content, `max_line` one line including its CRLF.
    pub fn new(max_size: u64, max_line: usize) -> DataDecoder {
        DataDecoder {
            state: State::LineStart,
            max_size,
            max_line,
            size: 0,
            line_len: 0,
            error: None,
        }
    }

    /// Decodes as much of `input` as possible, appending content to `out`. Returns how many
    /// bytes were consumed and, once the end marker was read, how the data ended. Bytes after
    /// the marker are not consumed: they are the next pipelined command.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> (usize, Option<DataEnd>) {
        let mut i = 0;
        while i < input.len() {
            match self.state {
                State::LineStart if input[i] == b'.' => {
                    self.state = State::Dot;
                    i += 1;
                }
                State::LineStart => self.state = State::Mid,
                State::Mid => {
                    let rest = &input[i..];
                    let stop = rest.iter().position(|&b| b == b'\r' || b == b'\n');
                    let end = stop.unwrap_or(rest.len());
                    self.emit(&rest[..end], out);
                    i += end;
                    if stop.is_some() {
                        if input[i] == b'\r' {
                            self.state = State::Cr;
                        } else {
                            self.fail(DataEnd::BareLineEnding);
                            self.emit(b"\n", out);
                            self.line_len = 0;
                        }
                        i += 1;
                    }
                }
                State::Cr if input[i] == b'\n' => {
                    self.emit(b"\r\n", out);
                    self.line_len = 0;
                    self.state = State::LineStart;
                    i += 1;
                }
                State::Cr => {
                    self.fail(DataEnd::BareLineEnding);
                    self.emit(b"\r", out);
                    self.state = State::Mid;
                }
                State::Dot if input[i] == b'\r' => {
                    self.state = State::DotCr;
                    i += 1;
                }
                State::Dot => {
                    // A dot-stuffed line: the first dot is dropped (RFC 5321 4.5.2).
                    self.line_len += 1;
                    self.state = State::Mid;
                }
                State::DotCr if input[i] == b'\n' => {
                    // Too big wins over the other errors: it is what the sender must fix.
                    let too_big = self.size > self.max_size;
                    let end = if too_big {
                        DataEnd::TooBig
                    } else {
                        self.error.unwrap_or(DataEnd::Ok)
                    };
                    *self = DataDecoder::new(self.max_size, self.max_line);
                    return (i + 1, Some(end));
                }
                State::DotCr => {
                    self.fail(DataEnd::BareLineEnding);
                    self.emit(b"\r", out);
                    self.state = State::Mid;
                }
            }
        }
        (i, None)
    }

    fn emit(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        self.size += bytes.len() as u64;
        self.line_len += bytes.len();
        if self.line_len > self.max_line {
            self.fail(DataEnd::LineTooLong);
        }
        if self.size > self.max_size {
            self.fail(DataEnd::TooBig);
        }
        // After an error the content is never delivered: stop buffering it.
        if self.error.is_none() {
            out.extend_from_slice(bytes);
        }
    }

    fn fail(&mut self, why: DataEnd) {
        self.error.get_or_insert(why);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::split::all_splits;

    /// Decodes pieces; returns (content, end, bytes left after the marker).
    fn decode(
        max_size: u64,
        max_line: usize,
        pieces: &[&[u8]],
    ) -> (Vec<u8>, Option<DataEnd>, Vec<u8>) {
        let mut decoder = DataDecoder::new(max_size, max_line);
        let (mut out, mut buf, mut end) = (Vec::new(), Vec::new(), None);
        for piece in pieces {
            buf.extend_from_slice(piece);
            if end.is_none() {
                let (used, e) = decoder.feed(&buf, &mut out);
                buf.drain(..used);
                end = e;
            }
        }
        // Content of failed data is never used; how much of it was buffered may vary.
        if end != Some(DataEnd::Ok) {
            out.clear();
        }
        (out, end, buf)
    }

    fn check(input: &[u8], content: &[u8], end: Option<DataEnd>, rest: &[u8]) {
        let got = all_splits(input, |p| decode(1000, 100, p));
        let shown = String::from_utf8_lossy(input);
        assert_eq!(got.1, end, "end for {shown:?}");
        assert_eq!(got.2, rest, "rest for {shown:?}");
        if end == Some(DataEnd::Ok) {
            assert_eq!(got.0, content, "content for {shown:?}");
        }
    }

    #[test]
    fn unstuffs_and_finds_the_end() {
        check(
            b"a\r\nb\r\n.\r\nNOOP\r\n",
            b"a\r\nb\r\n",
            Some(DataEnd::Ok),
            b"NOOP\r\n",
        );
        check(b".\r\n", b"", Some(DataEnd::Ok), b"");
        check(
            b"..x\r\n..\r\n.\r\n",
            b".x\r\n.\r\n",
            Some(DataEnd::Ok),
            b"",
        );
        check(b".x\r\n.\r\n", b"x\r\n", Some(DataEnd::Ok), b"");
        check(
            b"a\x00\xff\r\n.\r\n",
            b"a\x00\xff\r\n",
            Some(DataEnd::Ok),
            b"",
        );
        check(b"a\r\n.", b"", None, b"");
        check(b"a\r\n.\r", b"", None, b"");
    }

    #[test]
    fn smuggling_variants_never_end_the_data() {
        for body in [
            &b"a\n.\nb"[..],
            b"a\r.\rb",
            b"a\r\n.\nb",
            b"a\n.\r\nb",
            b"a\r\n.\rb",
        ] {
            check(body, b"", None, b"");
            let mut finished = body.to_vec();
            finished.extend_from_slice(b"\r\n.\r\n");
            check(&finished, b"", Some(DataEnd::BareLineEnding), b"");
        }
    }

    #[test]
    fn limits_are_reported_at_the_end() {
        let long = [vec![b'x'; 150], b"\r\n.\r\nQUIT\r\n".to_vec()].concat();
        check(&long, b"", Some(DataEnd::LineTooLong), b"QUIT\r\n");
        let big: Vec<u8> = [b"0123456789\r\n".repeat(100), b".\r\n".to_vec()].concat();
        check(&big, b"", Some(DataEnd::TooBig), b"");
        // An exactly-full line and size are fine.
        let fits = [vec![b'y'; 98], b"\r\n.\r\n".to_vec()].concat();
        check(&fits, &fits[..100], Some(DataEnd::Ok), b"");
    }

    #[test]
    fn content_is_not_buffered_after_an_error() {
        let mut decoder = DataDecoder::new(10, 1000);
        let mut out = Vec::new();
        let input = [vec![b'z'; 5000], b"\r\n.\r\n".to_vec()].concat();
        let (used, end) = decoder.feed(&input, &mut out);
        assert_eq!((used, end), (input.len(), Some(DataEnd::TooBig)));
        assert!(out.len() <= 10);
    }
}
