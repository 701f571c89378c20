//! Framing (RFC 5804 4): a command is tokens separated by spaces on CRLF-ended lines; a
//! string is quoted (`"..."`, at most 1024 octets, `\"` and `\\` escaped) or a literal, whose
//! announcement `{n+}` (or `{n}`: there are no continuation requests in ManageSieve, so both
//! are read at once) ends a line and whose n octets follow. A command spans as many lines as
//! it has literals.
//!
//! Limits bound what one command can make the server hold. A refused command is skipped to
//! its end, literals included, so that none of its octets (a script saying `DELETESCRIPT`,
//! say) are ever taken for commands.

/// One element of a command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// A command name or a number.
    Atom(String),
    /// A quoted string (valid UTF-8) or a literal (any octets).
    String(Vec<u8>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// One line, CRLF included.
    pub max_line: usize,
    /// One literal (a script, usually).
    pub max_literal: usize,
    /// All the strings and atoms of one command together.
    pub max_command: usize,
    /// A literal over `max_literal` is read and dropped to keep the session in step, unless
    /// it is larger than this: then the session ends.
    pub max_skip: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_line: 8192,
            max_literal: 64 * 1024,
            max_command: 64 * 1024 + 4 * 8192,
            max_skip: 64 * 1024 * 1024,
        }
    }
}

/// Why a command was refused; its rest has been (or is being) skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    LineTooLong,
    /// A literal over `max_literal`; `script` when it is PUTSCRIPT's or CHECKSCRIPT's script
    /// (answered `NO (QUOTA/MAXSIZE)`).
    LiteralTooBig {
        script: bool,
    },
    CommandTooBig,
    /// A literal too large even to skip: the session must end (`BYE`).
    Overflow,
    /// A CR or LF outside a CRLF pair.
    BareLineEnding,
    Syntax(&'static str),
}

impl DecodeError {
    /// The session cannot go on after this one.
    pub fn is_fatal(self) -> bool {
        self == DecodeError::Overflow
    }
}

/// The most tokens a command may have: the longest has four.
const MAX_TOKENS: usize = 8;
/// RFC 5804 4: a quoted string holds at most 1024 octets.
pub const MAX_QUOTED: usize = 1024;
/// Enough of a skipped line's end to see a literal announcement (`{` 20 digits `+}` CR).
const TAIL: usize = 32;

#[derive(Debug)]
enum State {
    Line,
    /// Octets of a literal still to come, gathered into `literal`.
    Literal(usize),
    /// Octets of a refused command's literal still to drop.
    SkipLiteral(u64),
    /// Inside a refused command's line; `tail` is its end so far.
    SkipLine {
        tail: Vec<u8>,
    },
}

/// What one step of decoding came to.
enum Progress {
    NeedMore,
    Again,
    Frame(Result<Vec<Token>, DecodeError>),
}

/// Cuts whole commands (as tokens) off the front of an input buffer.
#[derive(Debug)]
pub struct Decoder {
    limits: Limits,
    state: State,
    /// The command so far, while it continues after a literal.
    tokens: Vec<Token>,
    /// Octets held in `tokens`.
    held: usize,
    literal: Vec<u8>,
}

impl Decoder {
    pub fn new(limits: Limits) -> Decoder {
        Decoder {
            limits,
            state: State::Line,
            tokens: Vec::new(),
            held: 0,
            literal: Vec::new(),
        }
    }

    /// Removes the next whole command from the front of `buf` and returns its tokens (or why
    /// it was refused). `None` means more input is needed; everything useful has been taken
    /// out of `buf` by then, so the caller may read more into it.
    pub fn next(&mut self, buf: &mut Vec<u8>) -> Option<Result<Vec<Token>, DecodeError>> {
        loop {
            let progress = match self.state {
                State::Line => self.line(buf),
                State::Literal(_) => self.literal_octets(buf),
                State::SkipLiteral(_) => self.skip_literal(buf),
                State::SkipLine { .. } => self.skip_line(buf),
            };
            match progress {
                Progress::NeedMore => return None,
                Progress::Again => {}
                Progress::Frame(frame) => return Some(frame),
            }
        }
    }

    fn line(&mut self, buf: &mut Vec<u8>) -> Progress {
        let Some(lf) = buf.iter().position(|&b| b == b'\n') else {
            if buf.len() < self.limits.max_line {
                return Progress::NeedMore;
            }
            let tail = keep_tail(Vec::new(), buf);
            buf.clear();
            self.reset();
            self.state = State::SkipLine { tail };
            return Progress::Frame(Err(DecodeError::LineTooLong));
        };
        let line: Vec<u8> = buf.drain(..=lf).collect();
        if line.len() > self.limits.max_line {
            return Progress::Frame(self.refuse(DecodeError::LineTooLong, &line));
        }
        match self.take_line(&line) {
            Ok(Some(tokens)) => Progress::Frame(Ok(tokens)),
            Ok(None) => Progress::Again,
            Err(e) => Progress::Frame(self.refuse(e, &line)),
        }
    }

    fn literal_octets(&mut self, buf: &mut Vec<u8>) -> Progress {
        let State::Literal(left) = &mut self.state else {
            return Progress::Again;
        };
        let n = (*left).min(buf.len());
        self.literal.extend(buf.drain(..n));
        *left -= n;
        if *left > 0 {
            return Progress::NeedMore;
        }
        let literal = std::mem::take(&mut self.literal);
        self.tokens.push(Token::String(literal));
        self.state = State::Line;
        Progress::Again
    }

    fn skip_literal(&mut self, buf: &mut Vec<u8>) -> Progress {
        let State::SkipLiteral(left) = &mut self.state else {
            return Progress::Again;
        };
        let n = usize::try_from(*left).unwrap_or(usize::MAX).min(buf.len());
        buf.drain(..n);
        *left -= n as u64;
        if *left > 0 {
            return Progress::NeedMore;
        }
        self.state = State::SkipLine { tail: Vec::new() };
        Progress::Again
    }

    /// Drops a refused command's line, however long; a literal it announces is dropped next.
    fn skip_line(&mut self, buf: &mut Vec<u8>) -> Progress {
        let State::SkipLine { tail } = &mut self.state else {
            return Progress::Again;
        };
        let Some(lf) = buf.iter().position(|&b| b == b'\n') else {
            *tail = keep_tail(std::mem::take(tail), buf);
            buf.clear();
            return Progress::NeedMore;
        };
        let end = keep_tail(std::mem::take(tail), &buf[..lf]);
        buf.drain(..=lf);
        self.state = State::Line;
        if let Some(n) = announcement(end.strip_suffix(b"\r").unwrap_or(&end)) {
            if n > self.limits.max_skip {
                return Progress::Frame(Err(DecodeError::Overflow));
            }
            self.state = State::SkipLiteral(n);
        }
        Progress::Again
    }

    /// Octets held for the command being gathered: never more than the limits allow.
    /// `held` already counts a literal being read at its announced size (it is reserved when
    /// announced), so the literal's bytes so far are not added again.
    pub fn buffered(&self) -> usize {
        debug_assert!(self.literal.len() <= self.held);
        self.held
    }

    fn reset(&mut self) {
        self.tokens.clear();
        self.held = 0;
        self.literal = Vec::new();
    }

    /// Ends the command over `line` (complete, LF included) with `error`: the rest of the
    /// command, from a literal `line` announces on, is skipped.
    fn refuse(&mut self, error: DecodeError, line: &[u8]) -> Result<Vec<Token>, DecodeError> {
        self.reset();
        self.state = State::Line;
        let content = line.strip_suffix(b"\n").unwrap_or(line);
        if let Some(n) = announcement(content.strip_suffix(b"\r").unwrap_or(content)) {
            if n > self.limits.max_skip {
                return Err(DecodeError::Overflow);
            }
            self.state = State::SkipLiteral(n);
        }
        Err(error)
    }

    /// Adds a complete line's tokens to the command: the command when it is whole, `None`
    /// when a literal follows (or the line was blank).
    fn take_line(&mut self, line: &[u8]) -> Result<Option<Vec<Token>>, DecodeError> {
        let content = match line.strip_suffix(b"\r\n") {
            Some(content) if !content.contains(&b'\r') => content,
            _ => return Err(DecodeError::BareLineEnding),
        };
        let continuing = !self.tokens.is_empty();
        if content.is_empty() && !continuing {
            // A blank line between commands is no command; nothing to answer.
            return Ok(None);
        }
        let (tokens, literal) = tokenize(content, continuing)?;
        self.held += tokens.iter().map(token_size).sum::<usize>();
        self.tokens.extend(tokens);
        if self.tokens.len() > MAX_TOKENS {
            return Err(DecodeError::Syntax("too many arguments"));
        }
        if self.held > self.limits.max_command {
            return Err(DecodeError::CommandTooBig);
        }
        let Some(size) = literal else {
            self.held = 0;
            return Ok(Some(std::mem::take(&mut self.tokens)));
        };
        if size > self.limits.max_literal as u64 {
            let script = self.script_comes_next();
            return Err(DecodeError::LiteralTooBig { script });
        }
        let size = size as usize;
        if self.held + size > self.limits.max_command {
            return Err(DecodeError::CommandTooBig);
        }
        self.held += size;
        self.literal = Vec::with_capacity(size);
        self.state = State::Literal(size);
        Ok(None)
    }

    /// Whether the next string is PUTSCRIPT's or CHECKSCRIPT's script.
    fn script_comes_next(&self) -> bool {
        let Some(Token::Atom(name)) = self.tokens.first() else {
            return false;
        };
        let at = self.tokens.len();
        (name.eq_ignore_ascii_case("PUTSCRIPT") && at == 2)
            || (name.eq_ignore_ascii_case("CHECKSCRIPT") && at == 1)
    }
}

fn token_size(token: &Token) -> usize {
    match token {
        Token::Atom(a) => a.len(),
        Token::String(s) => s.len(),
    }
}

/// The last `TAIL` octets of `tail` followed by `more`.
fn keep_tail(mut tail: Vec<u8>, more: &[u8]) -> Vec<u8> {
    let more = &more[more.len().saturating_sub(TAIL)..];
    tail.extend_from_slice(more);
    let excess = tail.len().saturating_sub(TAIL);
    tail.drain(..excess);
    tail
}

/// The size of a literal announced at the end of `content` (`{n+}` or `{n}`); sizes that
/// do not fit saturate, so they are refused rather than misread.
fn announcement(content: &[u8]) -> Option<u64> {
    let inner = content.strip_suffix(b"}")?;
    let inner = inner.strip_suffix(b"+").unwrap_or(inner);
    let open = inner.iter().rposition(|&b| b == b'{')?;
    let digits = &inner[open + 1..];
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(digits.iter().fold(0u64, |n, d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    }))
}

/// The tokens of one line (without CRLF), and the literal it announces at its end. After a
/// literal (`continuing`), the line is empty or starts with the space that separates it.
fn tokenize(content: &[u8], continuing: bool) -> Result<(Vec<Token>, Option<u64>), DecodeError> {
    let mut tokens = Vec::new();
    let mut at = 0;
    if continuing && !content.is_empty() && content[0] != b' ' {
        return Err(DecodeError::Syntax("expected a space after the literal"));
    }
    loop {
        while content.get(at) == Some(&b' ') {
            at += 1;
        }
        let Some(&first) = content.get(at) else {
            return Ok((tokens, None));
        };
        match first {
            b'"' => {
                let (string, next) = quoted(content, at + 1)?;
                tokens.push(Token::String(string));
                at = next;
            }
            b'{' => {
                return match announcement(&content[at..]) {
                    Some(n) if !content[at + 1..].contains(&b'{') => Ok((tokens, Some(n))),
                    _ => Err(DecodeError::Syntax("a literal must end its line: {n+}")),
                };
            }
            _ => {
                let end = content[at..]
                    .iter()
                    .position(|&b| b == b' ')
                    .map_or(content.len(), |n| at + n);
                tokens.push(Token::Atom(atom(&content[at..end])?));
                at = end;
            }
        }
        if at < content.len() && content[at] != b' ' {
            return Err(DecodeError::Syntax("expected a space between arguments"));
        }
    }
}

/// A quoted string starting after its opening quote at `at`: its value and where it ends.
fn quoted(content: &[u8], mut at: usize) -> Result<(Vec<u8>, usize), DecodeError> {
    let mut value = Vec::new();
    loop {
        match content.get(at) {
            None => return Err(DecodeError::Syntax("unterminated quoted string")),
            Some(b'"') => break,
            Some(b'\\') => match content.get(at + 1) {
                Some(&c @ (b'"' | b'\\')) => {
                    value.push(c);
                    at += 2;
                }
                _ => return Err(DecodeError::Syntax("only \\\" and \\\\ may be escaped")),
            },
            Some(0) => return Err(DecodeError::Syntax("NUL in a quoted string")),
            Some(&c) => {
                value.push(c);
                at += 1;
            }
        }
        if value.len() > MAX_QUOTED {
            return Err(DecodeError::Syntax(
                "quoted string over 1024 octets: send a literal",
            ));
        }
    }
    if std::str::from_utf8(&value).is_err() {
        return Err(DecodeError::Syntax("quoted string is not UTF-8"));
    }
    Ok((value, at + 1))
}

fn atom(bytes: &[u8]) -> Result<String, DecodeError> {
    let ok = |b: &u8| (0x21..=0x7e).contains(b) && !b"\"{}()\\".contains(b);
    if !bytes.iter().all(ok) {
        return Err(DecodeError::Syntax("unexpected character"));
    }
    Ok(String::from_utf8_lossy(bytes).into_owned())
}
