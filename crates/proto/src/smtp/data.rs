//! DATA content decoding (RFC 5321 4.1.1.4, 4.5.2): dot-unstuffing and the end marker.
//!
//! Only `<CRLF>.<CRLF>` ends the data. Any CR or LF outside a CRLF pair is an error, and
//! after one no line start is assumed, so `\n.\n`, `\r.\r`, `\r\n.\n` and `\n.\r\n` never end
//! the data: a disagreement between servers about where data ends is what SMTP smuggling
//! (CVE-2023-51764 and relatives) exploits.

/// How the data ended. Anything but `Ok` means the message must be refused; the decoder
/// still read through to the real end marker, so the session stays in step with the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataEnd {
    Ok,
    /// The content exceeded `max_size` (RFC 1870 / RFC 5321 4.5.3.1.10: 552).
    TooBig,
    /// A CR or LF outside a CRLF pair.
    BareLineEnding,
    /// A line exceeded `max_line` octets, CRLF and any stuffed dot included.
    LineTooLong,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// After a CRLF, or at the very start: the 354 reply counts as a line end.
    LineStart,
    /// Inside a line.
    Mid,
    /// Inside a line, after a CR that was the last byte of the previous input.
    Cr,
    /// After a dot at a line start.
    Dot,
    /// After `.` and CR at a line start: one LF away from the end.
    DotCr,
}

/// Decodes the content of one DATA transaction; reusable after it reports an end.
#[derive(Debug, Clone)]
pub struct DataDecoder {
    state: State,
    max_size: u64,
    max_line: usize,
    /// Content octets delivered to `out` so far.
    size: u64,
    /// Octets of the current line on the wire so far.
    line_len: usize,
    /// The first error; once set nothing more is appended or counted.
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
    ///
    /// After an error nothing more is appended (the content will not be used, and a client
    /// must not make us buffer without bound); the decoder reads on to the end marker.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> (usize, Option<DataEnd>) {
        let mut i = 0;
        while let Some(&first) = input.get(i) {
            i += match self.state {
                State::LineStart if first == b'.' => {
                    self.state = State::Dot;
                    1
                }
                State::LineStart => {
                    self.state = State::Mid;
                    0
                }
                State::Mid => self.line_content(&input[i..], out),
                State::Cr if first == b'\n' => {
                    self.emit(b"\r\n", out);
                    self.end_line();
                    1
                }
                State::Dot if first == b'\r' => {
                    self.state = State::DotCr;
                    1
                }
                State::Dot => {
                    // A stuffed dot (RFC 5321 4.5.2): dropped, but it was on the wire.
                    self.line_len += 1;
                    self.state = State::Mid;
                    0
                }
                State::DotCr if first == b'\n' => return (i + 1, Some(self.finish())),
                State::Cr | State::DotCr => {
                    // The pending CR was bare; this byte is read again as line content.
                    self.fail(DataEnd::BareLineEnding);
                    self.state = State::Mid;
                    0
                }
            };
        }
        (i, None)
    }

    /// Consumes line content up to and including the next line ending, or all of `rest`.
    fn line_content(&mut self, rest: &[u8], out: &mut Vec<u8>) -> usize {
        let Some(at) = find_cr_or_lf(rest) else {
            self.emit(rest, out);
            return rest.len();
        };
        if rest[at..].starts_with(b"\r\n") {
            // The common case: the whole line, CRLF included, in one append.
            self.emit(&rest[..at + 2], out);
            self.end_line();
            return at + 2;
        }
        self.emit(&rest[..at], out);
        match (rest[at], rest.get(at + 1)) {
            // The LF may still come in the next input.
            (b'\r', None) => {
                self.state = State::Cr;
                at + 1
            }
            // A bare CR or LF. No line starts after it: that is the smuggling defence.
            _ => {
                self.fail(DataEnd::BareLineEnding);
                at + 1
            }
        }
    }

    fn end_line(&mut self) {
        self.line_len = 0;
        self.state = State::LineStart;
    }

    /// Appends content, or records which limit it breaks first.
    fn emit(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        if self.error.is_some() {
            return;
        }
        // Where in `bytes` each limit would be crossed: the earlier one is the error, so
        // the answer does not depend on how the input was split.
        let line_room = self.max_line.saturating_sub(self.line_len);
        let size_room = self.max_size.saturating_sub(self.size);
        let line_over = bytes.len() > line_room;
        let size_over = bytes.len() as u64 > size_room;
        if line_over && (!size_over || line_room as u64 <= size_room) {
            self.fail(DataEnd::LineTooLong);
        } else if size_over {
            self.fail(DataEnd::TooBig);
        } else {
            out.extend_from_slice(bytes);
            self.line_len += bytes.len();
            self.size += bytes.len() as u64;
        }
    }

    fn fail(&mut self, why: DataEnd) {
        self.error.get_or_insert(why);
    }

    /// The end marker was read: report, and get ready for the next transaction.
    fn finish(&mut self) -> DataEnd {
        let end = self.error.unwrap_or(DataEnd::Ok);
        *self = DataDecoder::new(self.max_size, self.max_line);
        end
    }
}

/// Checks BDAT content (RFC 3030) for the rule DATA enforces: every CR and LF is part of a
/// CRLF pair. BDAT needs no end marker, so a bare line ending there looks harmless, but the
/// message is relayed later with DATA, where another server may read `\r.\r` or `\n.\n` as
/// the end and run what follows as commands (SMTP smuggling). Feed it each chunk in order.
#[derive(Debug, Clone, Default)]
pub struct LineEndingCheck {
    /// The last byte seen was a CR whose LF may be the first byte of the next chunk.
    pending_cr: bool,
    bare: bool,
}

impl LineEndingCheck {
    pub fn feed(&mut self, mut input: &[u8]) {
        if self.bare || input.is_empty() {
            return;
        }
        if std::mem::take(&mut self.pending_cr) {
            if input[0] != b'\n' {
                self.bare = true;
                return;
            }
            input = &input[1..];
        }
        while let Some(at) = find_cr_or_lf(input) {
            match (input[at], input.get(at + 1)) {
                (b'\r', Some(b'\n')) => input = &input[at + 2..],
                (b'\r', None) => {
                    self.pending_cr = true;
                    return;
                }
                _ => {
                    self.bare = true;
                    return;
                }
            }
        }
    }

    /// Whether everything fed so far, taken as the whole message, keeps the rule. A CR at
    /// the very end is bare.
    pub fn is_clean(&self) -> bool {
        !self.bare && !self.pending_cr
    }

    /// Whether a bare CR or LF has been seen already (a CR at the end may still be paired).
    pub fn has_failed(&self) -> bool {
        self.bare
    }
}

/// The index of the first CR or LF. Mail is mostly text with lines of tens of bytes, so
/// this checks eight bytes per step (SWAR) and only looks byte by byte at the hit.
pub(crate) fn find_cr_or_lf(hay: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // Nonzero exactly when some byte of `v` is zero.
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS;
    let is_end = |b: &u8| *b == b'\r' || *b == b'\n';
    let mut chunks = hay.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let v = u64::from_le_bytes(word);
        if has_zero(v ^ (ONES * u64::from(b'\r'))) | has_zero(v ^ (ONES * u64::from(b'\n'))) != 0 {
            return chunk.iter().position(is_end).map(|i| offset + i);
        }
        offset += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(is_end)
        .map(|i| offset + i)
}

#[cfg(test)]
#[path = "data_tests.rs"]
mod tests;
