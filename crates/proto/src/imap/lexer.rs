//! The grammar's building blocks (RFC 9051 9) over one complete command as it came off the
//! wire: literals sit inline as `{n}` CRLF and their n octets, already known to be whole.

use super::types::{Date, DateTime, Flag, MONTHS, Mailbox, SeqNum, SequenceSet};
use super::utf7::decode_mutf7;

/// Why a command is malformed; the server answers `BAD` with this as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Syntax(pub &'static str);

pub type PResult<T> = Result<T, Syntax>;

pub struct Parser<'a> {
    buf: &'a [u8],
    pub pos: usize,
    /// UTF8=ACCEPT is on: mailbox names are UTF-8, not modified UTF-7.
    pub utf8: bool,
}

/// ATOM-CHAR: any CHAR but atom-specials (`(){ %*"\]`, SP, CTL).
pub fn is_atom_char(b: u8) -> bool {
    b > 0x20 && b < 0x7f && !b"(){%*\"\\]".contains(&b)
}

fn is_astring_char(b: u8) -> bool {
    is_atom_char(b) || b == b']'
}

fn is_list_char(b: u8) -> bool {
    is_atom_char(b) || b"%*]".contains(&b)
}

impl<'a> Parser<'a> {
    pub fn new(buf: &'a [u8], utf8: bool) -> Parser<'a> {
        Parser { buf, pos: 0, utf8 }
    }

    pub fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    pub fn eat(&mut self, b: u8) -> bool {
        let hit = self.peek() == Some(b);
        self.pos += usize::from(hit);
        hit
    }

    pub fn expect(&mut self, b: u8, why: &'static str) -> PResult<()> {
        if self.eat(b) {
            Ok(())
        } else {
            Err(Syntax(why))
        }
    }

    pub fn sp(&mut self) -> PResult<()> {
        self.expect(b' ', "expected a space")
    }

    pub fn at_end(&self) -> bool {
        self.pos == self.buf.len()
    }

    /// The command must end here: the decoder has cut its CRLF off.
    pub fn end(&self) -> PResult<()> {
        if self.at_end() {
            Ok(())
        } else {
            Err(Syntax("unexpected text at the end of the command"))
        }
    }

    /// A word made of `pred` bytes, at least one.
    fn take(&mut self, pred: impl Fn(u8) -> bool, why: &'static str) -> PResult<&'a str> {
        let start = self.pos;
        while self.peek().is_some_and(&pred) {
            self.pos += 1;
        }
        if self.pos == start {
            return Err(Syntax(why));
        }
        // Every predicate used admits ASCII only.
        Ok(std::str::from_utf8(&self.buf[start..self.pos]).unwrap_or_default())
    }

    pub fn atom(&mut self) -> PResult<&'a str> {
        self.take(is_atom_char, "expected an atom")
    }

    /// The next atom if it is `word` (any case), consumed; otherwise nothing moves.
    pub fn keyword(&mut self, word: &str) -> bool {
        let end = self.pos + word.len();
        let hit = self
            .buf
            .get(self.pos..end)
            .is_some_and(|w| w.eq_ignore_ascii_case(word.as_bytes()))
            && !self.buf.get(end).is_some_and(|&b| is_atom_char(b));
        if hit {
            self.pos = end;
        }
        hit
    }

    /// The command tag: ASTRING-CHARs but `+`.
    pub fn tag(&mut self) -> PResult<&'a str> {
        self.take(|b| is_astring_char(b) && b != b'+', "expected a tag")
    }

    pub fn number64(&mut self) -> PResult<u64> {
        let digits = self.take(|b| b.is_ascii_digit(), "expected a number")?;
        digits.parse().map_err(|_| Syntax("number too large"))
    }

    pub fn number(&mut self) -> PResult<u32> {
        u32::try_from(self.number64()?).map_err(|_| Syntax("number too large"))
    }

    pub fn nz_number(&mut self) -> PResult<u32> {
        match self.number()? {
            0 => Err(Syntax("zero is not allowed here")),
            n => Ok(n),
        }
    }

    /// A quoted string; `\` escapes only `"` and `\`. UTF-8 is allowed (RFC 9051 QUOTED-CHAR).
    pub fn quoted(&mut self) -> PResult<Vec<u8>> {
        self.expect(b'"', "expected a quoted string")?;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                Some(b'"') => break,
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(c @ (b'"' | b'\\')) => out.push(c),
                        _ => return Err(Syntax("bad escape in quoted string")),
                    }
                }
                Some(b'\r' | b'\n' | 0) | None => return Err(Syntax("unterminated quoted string")),
                Some(c) => out.push(c),
            }
            self.pos += 1;
        }
        self.pos += 1;
        if std::str::from_utf8(&out).is_err() {
            return Err(Syntax("quoted string is not UTF-8"));
        }
        Ok(out)
    }

    /// `{n}` or `{n+}`, CRLF, n octets. The decoder has already checked size and presence.
    pub fn literal(&mut self) -> PResult<&'a [u8]> {
        self.expect(b'{', "expected a literal")?;
        let n = self.number64()?;
        self.eat(b'+');
        self.expect(b'}', "bad literal")?;
        self.expect(b'\r', "bad literal")?;
        self.expect(b'\n', "bad literal")?;
        let n = usize::try_from(n).map_err(|_| Syntax("literal too large"))?;
        let data = self
            .buf
            .get(self.pos..self.pos + n)
            .ok_or(Syntax("short literal"))?;
        if data.contains(&0) {
            return Err(Syntax("NUL in a literal"));
        }
        self.pos += n;
        Ok(data)
    }

    pub fn string(&mut self) -> PResult<Vec<u8>> {
        match self.peek() {
            Some(b'"') => self.quoted(),
            Some(b'{') => self.literal().map(<[u8]>::to_vec),
            _ => Err(Syntax("expected a string")),
        }
    }

    pub fn astring(&mut self) -> PResult<Vec<u8>> {
        match self.peek() {
            Some(b'"' | b'{') => self.string(),
            _ => Ok(self
                .take(is_astring_char, "expected a string")?
                .as_bytes()
                .to_vec()),
        }
    }

    /// An astring that must be UTF-8 text.
    pub fn astring_utf8(&mut self) -> PResult<String> {
        String::from_utf8(self.astring()?).map_err(|_| Syntax("expected UTF-8 text"))
    }

    /// `NIL` or a string.
    pub fn nstring(&mut self) -> PResult<Option<Vec<u8>>> {
        if self.keyword("NIL") {
            return Ok(None);
        }
        self.string().map(Some)
    }

    pub fn mailbox(&mut self) -> PResult<Mailbox> {
        let raw = self.astring()?;
        Ok(match self.mailbox_name(raw)? {
            Ok(name) => Mailbox::new(name),
            Err(ascii) => Mailbox::undecodable(ascii),
        })
    }

    /// Raw name to UTF-8: as is with UTF8=ACCEPT, else modified UTF-7. Raw UTF-8 from a
    /// rev1 client is taken too (some send it). Bytes that are not UTF-8 are a syntax
    /// error; ASCII that is not valid modified UTF-7 comes back as it is (`Err`).
    fn mailbox_name(&self, raw: Vec<u8>) -> PResult<Result<String, String>> {
        if self.utf8 || !raw.is_ascii() {
            let name = String::from_utf8(raw).map_err(|_| Syntax("mailbox name is not UTF-8"))?;
            return Ok(Ok(name));
        }
        Ok(decode_mutf7(&raw).ok_or_else(|| String::from_utf8_lossy(&raw).into_owned()))
    }

    /// LIST's `list-mailbox`: wildcards allowed unquoted. A pattern in broken modified
    /// UTF-7 is matched as written (so it matches no mailbox's decoded name).
    pub fn list_mailbox(&mut self) -> PResult<String> {
        let raw = match self.peek() {
            Some(b'"' | b'{') => self.string()?,
            _ => self
                .take(is_list_char, "expected a mailbox pattern")?
                .as_bytes()
                .to_vec(),
        };
        Ok(self.mailbox_name(raw)?.unwrap_or_else(|raw| raw))
    }

    /// `(` items separated by SP `)`; `item` parses one. Empty lists only if `empty_ok`.
    pub fn list<T>(
        &mut self,
        empty_ok: bool,
        mut item: impl FnMut(&mut Self) -> PResult<T>,
    ) -> PResult<Vec<T>> {
        self.expect(b'(', "expected (")?;
        let mut out = Vec::new();
        if !self.eat(b')') {
            loop {
                out.push(item(self)?);
                if self.eat(b')') {
                    break;
                }
                self.sp()?;
            }
        }
        if out.is_empty() && !empty_ok {
            return Err(Syntax("empty list"));
        }
        Ok(out)
    }

    pub fn flag(&mut self) -> PResult<Flag> {
        let start = self.pos;
        self.eat(b'\\');
        self.atom()?;
        let text = std::str::from_utf8(&self.buf[start..self.pos]).unwrap_or_default();
        Ok(Flag::parse(text))
    }

    pub fn flag_list(&mut self) -> PResult<Vec<Flag>> {
        self.list(true, Self::flag)
    }

    fn seq_num(&mut self) -> PResult<SeqNum> {
        if self.eat(b'*') {
            Ok(SeqNum::Star)
        } else {
            self.nz_number().map(SeqNum::Value)
        }
    }

    pub fn sequence_set(&mut self) -> PResult<SequenceSet> {
        if self.eat(b'$') {
            return Ok(SequenceSet::Saved);
        }
        let mut ranges = Vec::new();
        loop {
            let from = self.seq_num()?;
            let to = if self.eat(b':') {
                self.seq_num()?
            } else {
                from
            };
            ranges.push((from, to));
            if !self.eat(b',') {
                return Ok(SequenceSet::Ranges(ranges));
            }
        }
    }

    fn digits(&mut self, min: usize, max: usize) -> PResult<u32> {
        let start = self.pos;
        while self.pos - start < max && self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
        if self.pos - start < min {
            return Err(Syntax("bad date"));
        }
        Ok(self.buf[start..self.pos]
            .iter()
            .fold(0, |n, &d| n * 10 + u32::from(d - b'0')))
    }

    fn month(&mut self) -> PResult<u8> {
        let name = self
            .buf
            .get(self.pos..self.pos + 3)
            .ok_or(Syntax("bad month"))?;
        let m = MONTHS
            .iter()
            .position(|m| m.as_bytes().eq_ignore_ascii_case(name))
            .ok_or(Syntax("bad month"))?;
        self.pos += 3;
        Ok(m as u8 + 1)
    }

    fn date_text(&mut self, day_min: usize) -> PResult<Date> {
        let day = self.digits(day_min, 2)?;
        self.expect(b'-', "bad date")?;
        let month = self.month()?;
        self.expect(b'-', "bad date")?;
        let year = self.digits(4, 4)?;
        if !(1..=31).contains(&day) {
            return Err(Syntax("bad day"));
        }
        Ok(Date {
            year: year as u16,
            month,
            day: day as u8,
        })
    }

    /// SEARCH's `date`: `1-Feb-2024`, optionally quoted.
    pub fn date(&mut self) -> PResult<Date> {
        let quoted = self.eat(b'"');
        let date = self.date_text(1)?;
        if quoted {
            self.expect(b'"', "bad date")?;
        }
        Ok(date)
    }

    /// `"dd-Mon-yyyy hh:mm:ss +zzzz"`; the day may be space-padded.
    pub fn date_time(&mut self) -> PResult<DateTime> {
        self.expect(b'"', "expected a date-time")?;
        self.eat(b' ');
        let date = self.date_text(1)?;
        self.sp()?;
        let hour = self.digits(2, 2)?;
        self.expect(b':', "bad time")?;
        let minute = self.digits(2, 2)?;
        self.expect(b':', "bad time")?;
        let second = self.digits(2, 2)?;
        self.sp()?;
        let sign = match self.peek() {
            Some(b'+') => 1,
            Some(b'-') => -1,
            _ => return Err(Syntax("bad zone")),
        };
        self.pos += 1;
        let zone = self.digits(4, 4)?;
        self.expect(b'"', "bad date-time")?;
        if hour > 23 || minute > 59 || second > 60 || zone % 100 > 59 {
            return Err(Syntax("bad time"));
        }
        Ok(DateTime {
            date,
            hour: hour as u8,
            minute: minute as u8,
            second: second as u8,
            zone_minutes: sign * (zone / 100 * 60 + zone % 100) as i16,
        })
    }
}
