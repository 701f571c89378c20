//! The command decoder: framing of lines and literals, limits, and APPEND streaming.
//!
//! A command is one or more lines joined by literals (`{n}` or `{n+}` at a line's end, then
//! n octets). The decoder gathers a whole command, bounded by `max_command`, and parses it.
//! APPEND's message literals are the exception: they go out as chunks while they arrive, so
//! a server can stream a message to the store without holding it.

use std::collections::VecDeque;

use super::command::{Command, parse_command};
use super::lexer::{Parser, Syntax};
use super::types::{DateTime, Flag, Mailbox};

/// Which non-synchronizing literals the server advertised (RFC 7888).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiteralPlus {
    /// `LITERAL+`: any size.
    Plus,
    /// `LITERAL-`: up to 4096 octets.
    Minus,
    /// Neither: `{n+}` is a syntax error.
    Off,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// One line, CRLF included. RFC 7162 4 asks for at least 8192.
    pub max_line: usize,
    /// A whole command with its literals, APPEND message literals excluded.
    pub max_command: usize,
    /// One APPEND message (the APPENDLIMIT the server advertises).
    pub max_append: u64,
    pub literal_plus: LiteralPlus,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_line: 8192,
            max_command: 64 * 1024,
            max_append: 64 * 1024 * 1024,
            literal_plus: LiteralPlus::Plus,
        }
    }
}

/// One message of an APPEND (several with MULTIAPPEND, RFC 3502).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendMessage {
    pub flags: Vec<Flag>,
    pub date: Option<DateTime>,
    pub size: u64,
    /// Sent as `~{n}` (RFC 3516 literal8): may hold NUL octets.
    pub binary: bool,
    /// Wrapped in `UTF8 (...)` (RFC 6855 4).
    pub utf8: bool,
}

/// What the decoder found. `None` from [`ImapDecoder::decode`] means "need more data".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Command(Command),
    /// The client announced a synchronizing literal and waits: send `+ ...` now. (To refuse
    /// an APPEND message instead, call [`ImapDecoder::refuse_literal`] and answer NO.)
    Continue,
    /// An APPEND begins: the messages follow as `AppendMessage`, chunks, ... `AppendEnd`.
    AppendStart {
        tag: String,
        mailbox: Mailbox,
    },
    AppendMessage(AppendMessage),
    /// The next piece of the current message, in order; together exactly `size` octets.
    AppendData(Vec<u8>),
    /// The APPEND command is complete: commit the messages and answer.
    AppendEnd,
    /// A SASL response line (after [`ImapDecoder::expect_auth_response`]); `*` cancels.
    AuthResponse(String),
    /// `DONE` ended an IDLE (after [`ImapDecoder::expect_idle_done`]).
    IdleDone,
    Error(DecodeError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    Syntax(&'static str),
    /// A line longer than `max_line`: tagged `BAD [TOOBIG]`.
    LineTooLong,
    /// A command longer than `max_command`: tagged `BAD [TOOBIG]`.
    CommandTooBig,
    /// An APPEND message over `max_append`: tagged `NO [TOOBIG]` (RFC 7889).
    MessageTooBig,
    /// `{n+}` over 4096 with only LITERAL- advertised: tagged `BAD [TOOBIG]` (RFC 7888 4).
    LiteralMinus,
    /// A CR or LF outside a CRLF pair.
    BareLineEnding,
    /// Something other than `DONE` during IDLE.
    ExpectedDone,
}

/// A command the server must answer with an error. If `tag` is known the answer is tagged
/// (see [`DecodeError::status`]); otherwise an untagged `BAD`. An APPEND that fails after
/// messages were announced is aborted: the server drops what it stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    pub tag: Option<String>,
    pub kind: ErrorKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Line,
    /// Octets of a literal inside the command, appended to `cmd`.
    Literal(u64),
    /// Octets of an APPEND message; `cont` is a `+` still to ask for.
    Append {
        left: u64,
        cont: bool,
        utf8: bool,
    },
    /// The line after an APPEND message: another message or the end.
    AppendTail {
        utf8: bool,
    },
    /// The rest of a refused command: literal octets, then lines until one ends the command.
    Skip(u64),
    SkipLine,
    AuthLine,
    IdleLine,
}

/// A literal announcement at the end of a line.
#[derive(Debug, Clone, Copy)]
struct Announce {
    /// Where `{` or `~{` starts.
    at: usize,
    size: u64,
    sync: bool,
    binary: bool,
}

/// What the current command has announced about itself, for errors and APPEND.
pub struct ImapDecoder {
    limits: Limits,
    utf8: bool,
    state: State,
    /// The current line without its LF (or, while skipping, its last octets).
    line: Vec<u8>,
    /// The command so far: finished lines with CRLF, and literals.
    cmd: Vec<u8>,
    /// The tag of the APPEND being streamed.
    append_tag: Option<String>,
    queue: VecDeque<Event>,
}

/// Enough of a skipped line's end to see a literal announcement (`~{` 20 digits `+}`).
const TAIL: usize = 32;

/// How long an ID command (RFC 2971) may be, whatever `max_line` and `max_command` say.
/// RFC 2971 3.3 lets a client send 30 pairs of a field of up to 30 octets and a value of up
/// to 1024. As quoted strings with every octet escaped, a pair takes 2114 octets with its
/// spaces, 63,420 for all 30, which leaves room for the tag. A client within those limits
/// is always answered; the allowance is for ID alone, every other command keeps the
/// configured limits.
pub const ID_COMMAND_MAX: usize = 64 * 1024;

/// How much of a command's start is read to tell an ID command: a tag of some hundred
/// octets is already unusual.
const ID_HEAD: usize = 1024;

impl ImapDecoder {
    pub fn new(limits: Limits) -> ImapDecoder {
        ImapDecoder {
            limits,
            utf8: false,
            state: State::Line,
            line: Vec::new(),
            cmd: Vec::new(),
            append_tag: None,
            queue: VecDeque::new(),
        }
    }

    /// After `ENABLE UTF8=ACCEPT` (or IMAP4rev2): names are UTF-8, not modified UTF-7.
    pub fn set_utf8(&mut self, on: bool) {
        self.utf8 = on;
    }

    /// The server sent a `+` challenge: the next line is the client's SASL response.
    pub fn expect_auth_response(&mut self) {
        self.state = State::AuthLine;
    }

    /// The server sent `+ idling`: the next line must be `DONE`.
    pub fn expect_idle_done(&mut self) {
        self.state = State::IdleLine;
    }

    /// Refuses the APPEND message just announced (over quota, no such mailbox...): the
    /// server answers NO and the command is over. A synchronizing literal was never sent;
    /// a non-synchronizing one is read and dropped.
    pub fn refuse_literal(&mut self) {
        if let State::Append { left, cont, .. } = self.state {
            self.state = if cont { State::Line } else { State::Skip(left) };
            self.cmd.clear();
            self.append_tag = None;
        }
    }

    /// Octets held for the command being gathered: never more than the limits allow.
    pub fn buffered(&self) -> usize {
        self.line.len() + self.cmd.len()
    }

    /// Decodes from `input`. Returns how many octets were used and the next event, if any.
    /// `None` means all of `input` was used and more is needed: the caller never has to
    /// keep unused input when there is no event, so it buffers nothing itself.
    pub fn decode(&mut self, input: &[u8]) -> (usize, Option<Event>) {
        let mut used = 0;
        loop {
            if let Some(event) = self.queue.pop_front() {
                return (used, Some(event));
            }
            if used == input.len() && !self.can_step_empty() {
                return (used, None);
            }
            let (n, event) = self.step(&input[used..]);
            used += n;
            if let Some(event) = event {
                return (used, Some(event));
            }
        }
    }

    /// States that can move without input: a pending `+`, an empty literal.
    fn can_step_empty(&self) -> bool {
        matches!(
            self.state,
            State::Append { cont: true, .. }
                | State::Append { left: 0, .. }
                | State::Literal(0)
                | State::Skip(0)
        )
    }

    fn step(&mut self, input: &[u8]) -> (usize, Option<Event>) {
        match self.state {
            State::Literal(left) => {
                let n = left.min(input.len() as u64) as usize;
                self.cmd.extend_from_slice(&input[..n]);
                self.state = if left == n as u64 {
                    State::Line
                } else {
                    State::Literal(left - n as u64)
                };
                (n, None)
            }
            State::Append {
                cont: true,
                left,
                utf8,
            } => {
                self.state = State::Append {
                    left,
                    cont: false,
                    utf8,
                };
                (0, Some(Event::Continue))
            }
            State::Append { left: 0, utf8, .. } => {
                self.state = State::AppendTail { utf8 };
                (0, None)
            }
            State::Append { left, utf8, .. } => {
                let n = left.min(input.len() as u64) as usize;
                self.state = State::Append {
                    left: left - n as u64,
                    cont: false,
                    utf8,
                };
                (n, Some(Event::AppendData(input[..n].to_vec())))
            }
            State::Skip(left) => {
                let n = left.min(input.len() as u64) as usize;
                self.state = if left == n as u64 {
                    State::SkipLine
                } else {
                    State::Skip(left - n as u64)
                };
                (n, None)
            }
            State::SkipLine => self.skip_line(input),
            _ => self.read_line(input),
        }
    }

    /// Gathers a line; when it is complete (or too long) acts on it.
    fn read_line(&mut self, input: &[u8]) -> (usize, Option<Event>) {
        let lf = input.iter().position(|&b| b == b'\n');
        let avail = &input[..lf.unwrap_or(input.len())];
        let long = self.line.len() + avail.len() >= self.limits.max_line;
        if long && self.line.len() + avail.len() >= self.line_limit(avail) {
            // The tag from the line's first octets, the same however the input was split.
            let room = self.limits.max_line.saturating_sub(self.line.len());
            let mut start = self.line.clone();
            start.extend_from_slice(&avail[..avail.len().min(room)]);
            let tag = self.tag_of(&start);
            let mut tail = std::mem::take(&mut self.line);
            tail.extend_from_slice(&avail[avail.len().saturating_sub(TAIL)..]);
            self.reset();
            self.line = tail;
            self.keep_tail();
            self.state = State::SkipLine;
            return (avail.len(), Some(self.error(tag, ErrorKind::LineTooLong)));
        }
        self.line.extend_from_slice(avail);
        let Some(lf) = lf else {
            return (input.len(), None);
        };
        let mut line = std::mem::take(&mut self.line);
        let event = if line.pop() != Some(b'\r') || line.contains(&b'\r') {
            let tag = self.tag_of(&line);
            self.reset();
            Some(self.error(tag, ErrorKind::BareLineEnding))
        } else {
            self.line_done(line)
        };
        (lf + 1, event)
    }

    /// The longest line the command being read may have: `max_line`, or for an ID command
    /// (told by the start of the command, `more` following the current line) the
    /// allowance RFC 2971 needs.
    fn line_limit(&self, more: &[u8]) -> usize {
        match self.is_id(more) {
            true => self.limits.max_line.max(ID_COMMAND_MAX),
            false => self.limits.max_line,
        }
    }

    /// `max_command`, or for an ID command the allowance RFC 2971 needs.
    fn command_limit(&self, line: &[u8]) -> usize {
        match self.is_id(line) {
            true => self.limits.max_command.max(ID_COMMAND_MAX),
            false => self.limits.max_command,
        }
    }

    /// Whether the command being read is an ID command: `tag SP ID SP`, read from the
    /// command's first line (`more` continues the current line when the command has no
    /// finished line yet). Only its first `max_line` octets count: a line is judged too
    /// long once that many have come, so they are all there however the input was split.
    fn is_id(&self, more: &[u8]) -> bool {
        if !matches!(self.state, State::Line) {
            return false;
        }
        let start: &[u8] = if self.cmd.is_empty() {
            &self.line
        } else {
            &self.cmd
        };
        let head_max = ID_HEAD.min(self.limits.max_line);
        let mut head = start[..start.len().min(head_max)].to_vec();
        if self.cmd.is_empty() {
            head.extend_from_slice(&more[..more.len().min(head_max - head.len())]);
        }
        let mut p = Parser::new(&head, false);
        p.tag().is_ok() && p.sp().is_ok() && p.keyword("ID") && p.sp().is_ok()
    }

    fn keep_tail(&mut self) {
        let cut = self.line.len().saturating_sub(TAIL);
        self.line.drain(..cut);
    }

    /// Discards a refused command's line, watching its end for a literal announcement.
    fn skip_line(&mut self, input: &[u8]) -> (usize, Option<Event>) {
        let lf = input.iter().position(|&b| b == b'\n');
        let avail = &input[..lf.unwrap_or(input.len())];
        self.line
            .extend_from_slice(&avail[avail.len().saturating_sub(TAIL)..]);
        self.keep_tail();
        let Some(lf) = lf else {
            return (input.len(), None);
        };
        let line = std::mem::take(&mut self.line);
        self.state = match line.strip_suffix(b"\r").and_then(announcement) {
            // A synchronizing literal is never sent once the command is refused.
            Some(a) if !a.sync => State::Skip(a.size),
            _ => State::Line,
        };
        (lf + 1, None)
    }

    fn line_done(&mut self, line: Vec<u8>) -> Option<Event> {
        match self.state {
            State::AuthLine => {
                self.state = State::Line;
                Some(match String::from_utf8(line) {
                    Ok(text) => Event::AuthResponse(text),
                    Err(_) => self.error(None, ErrorKind::Syntax("SASL response is not base64")),
                })
            }
            State::IdleLine => {
                self.state = State::Line;
                Some(if line.eq_ignore_ascii_case(b"DONE") {
                    Event::IdleDone
                } else {
                    self.error(None, ErrorKind::ExpectedDone)
                })
            }
            State::AppendTail { utf8 } => self.append_tail(line, utf8),
            _ => self.command_line(line),
        }
    }

    /// A complete line of an ordinary command (or the first line(s) of an APPEND).
    fn command_line(&mut self, line: Vec<u8>) -> Option<Event> {
        let Some(a) = announcement(&line) else {
            if self.cmd.len() + line.len() > self.command_limit(&line) {
                let tag = self.tag_of(&line);
                self.reset();
                return Some(self.error(tag, ErrorKind::CommandTooBig));
            }
            self.cmd.extend_from_slice(&line);
            let cmd = std::mem::take(&mut self.cmd);
            return Some(match parse_command(&cmd, self.utf8) {
                Ok(command) => Event::Command(command),
                Err((tag, Syntax(why))) => self.error(tag, ErrorKind::Syntax(why)),
            });
        };
        let mut head = std::mem::take(&mut self.cmd);
        head.extend_from_slice(&line[..a.at]);
        let tag = self.tag_of(&head);
        match append_head(&head, self.utf8) {
            Ok(Some((tag, mailbox, opts))) => {
                self.append_tag = Some(tag.clone());
                let first = self.start_message(opts, a);
                if let Some(Event::AppendMessage(_)) = first {
                    self.queue.push_back(Event::AppendStart { tag, mailbox });
                    self.queue.extend(first);
                    return None;
                }
                return first;
            }
            Ok(None) => {}
            Err(Syntax(why)) => return self.refuse(tag, ErrorKind::Syntax(why), a),
        }
        if let Some(kind) = self.literal_error(a) {
            return self.refuse(tag, kind, a);
        }
        let total = (head.len() + line.len() - a.at + 2) as u64;
        let total = total.saturating_add(a.size);
        if a.binary || total > self.command_limit(&line) as u64 {
            let kind = if a.binary {
                ErrorKind::Syntax("literal8 outside APPEND")
            } else {
                ErrorKind::CommandTooBig
            };
            return self.refuse(tag, kind, a);
        }
        self.cmd = head;
        self.cmd.extend_from_slice(&line[a.at..]);
        self.cmd.extend_from_slice(b"\r\n");
        self.state = State::Literal(a.size);
        a.sync.then_some(Event::Continue)
    }

    /// The checks every literal gets: LITERAL+/- rules.
    fn literal_error(&self, a: Announce) -> Option<ErrorKind> {
        match (a.sync, self.limits.literal_plus) {
            (false, LiteralPlus::Off) => Some(ErrorKind::Syntax(
                "non-synchronizing literals are not supported",
            )),
            (false, LiteralPlus::Minus) if a.size > 4096 => Some(ErrorKind::LiteralMinus),
            _ => None,
        }
    }

    fn start_message(&mut self, opts: AppendOpts, a: Announce) -> Option<Event> {
        if opts.utf8 && !a.binary {
            return self.refuse(
                self.append_tag.clone(),
                ErrorKind::Syntax("UTF8 needs a literal8"),
                a,
            );
        }
        let kind = self.literal_error(a);
        let kind = kind.or((a.size > self.limits.max_append).then_some(ErrorKind::MessageTooBig));
        if let Some(kind) = kind {
            return self.refuse(self.append_tag.clone(), kind, a);
        }
        self.state = State::Append {
            left: a.size,
            cont: a.sync,
            utf8: opts.utf8,
        };
        Some(Event::AppendMessage(AppendMessage {
            flags: opts.flags,
            date: opts.date,
            size: a.size,
            binary: a.binary,
            utf8: opts.utf8,
        }))
    }

    /// The line after an APPEND message: `)` closes a UTF8 wrapper, then either the end
    /// of the command or the next message's options and literal.
    fn append_tail(&mut self, line: Vec<u8>, utf8: bool) -> Option<Event> {
        let tag = self.append_tag.clone();
        let mut rest = &line[..];
        if utf8 {
            match rest.strip_prefix(b")") {
                Some(r) => rest = r,
                None => {
                    self.reset();
                    return Some(self.error(tag, ErrorKind::Syntax("expected )")));
                }
            }
        }
        if rest.is_empty() {
            self.reset();
            return Some(Event::AppendEnd);
        }
        let Some(a) = announcement(rest) else {
            self.reset();
            return Some(self.error(
                tag,
                ErrorKind::Syntax("expected another message or the end"),
            ));
        };
        let mut p = Parser::new(&rest[..a.at], self.utf8);
        match append_opts(&mut p) {
            Ok(opts) => self.start_message(opts, a),
            Err(Syntax(why)) => self.refuse(tag, ErrorKind::Syntax(why), a),
        }
    }

    /// Refuses the command whose line ended with announcement `a`: a synchronizing literal
    /// will not come; a non-synchronizing one is read and dropped with the rest.
    fn refuse(&mut self, tag: Option<String>, kind: ErrorKind, a: Announce) -> Option<Event> {
        self.reset();
        if !a.sync {
            self.state = State::Skip(a.size);
        }
        Some(self.error(tag, kind))
    }

    fn reset(&mut self) {
        self.state = State::Line;
        self.cmd.clear();
        self.line.clear();
        self.append_tag = None;
    }

    fn error(&self, tag: Option<String>, kind: ErrorKind) -> Event {
        Event::Error(DecodeError { tag, kind })
    }

    fn tag_of(&self, line: &[u8]) -> Option<String> {
        self.append_tag.clone().or_else(|| {
            if self.cmd.is_empty() {
                tag_at_start(line)
            } else {
                tag_at_start(&self.cmd)
            }
        })
    }
}

/// A tag followed by a space: only then is it surely the whole tag.
fn tag_at_start(buf: &[u8]) -> Option<String> {
    let mut p = Parser::new(buf, false);
    let tag = p.tag().ok()?;
    p.sp().ok()?;
    Some(tag.to_owned())
}

/// `{n}`, `{n+}`, `~{n}` or `~{n+}` ending a line. A size too large for u64 is `u64::MAX`,
/// which every limit refuses.
fn announcement(line: &[u8]) -> Option<Announce> {
    let body = line.strip_suffix(b"}")?;
    let (body, sync) = match body.strip_suffix(b"+") {
        Some(b) => (b, false),
        None => (body, true),
    };
    let digits = body.len() - body.iter().rev().take_while(|b| b.is_ascii_digit()).count();
    let open = digits.checked_sub(1)?;
    if digits == body.len() || body[open] != b'{' {
        return None;
    }
    let size = body[digits..]
        .iter()
        .try_fold(0u64, |n, &d| {
            n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        })
        .unwrap_or(u64::MAX);
    let binary = open > 0 && body[open - 1] == b'~';
    Some(Announce {
        at: open - usize::from(binary),
        size,
        sync,
        binary,
    })
}

struct AppendOpts {
    flags: Vec<Flag>,
    date: Option<DateTime>,
    utf8: bool,
}

/// `tag SP APPEND SP mailbox` then options, up to a message literal. `Ok(None)` if this is
/// not an APPEND, or its literal is the mailbox name rather than a message.
fn append_head(head: &[u8], utf8: bool) -> Result<Option<(String, Mailbox, AppendOpts)>, Syntax> {
    let mut p = Parser::new(head, utf8);
    let Ok(tag) = p.tag() else { return Ok(None) };
    if p.sp().is_err() || !p.keyword("APPEND") {
        return Ok(None);
    }
    p.sp()?;
    if p.at_end() {
        return Ok(None);
    }
    let mailbox = p.mailbox()?;
    Ok(Some((tag.to_owned(), mailbox, append_opts(&mut p)?)))
}

/// `[SP flag-list] [SP date-time] SP [UTF8 SP "("]`, up to the message literal.
fn append_opts(p: &mut Parser) -> Result<AppendOpts, Syntax> {
    let mut opts = AppendOpts {
        flags: Vec::new(),
        date: None,
        utf8: false,
    };
    p.sp()?;
    if p.peek() == Some(b'(') {
        opts.flags = p.flag_list()?;
        p.sp()?;
    }
    if p.peek() == Some(b'"') {
        opts.date = Some(p.date_time()?);
        p.sp()?;
    }
    if p.keyword("UTF8") {
        p.sp()?;
        p.expect(b'(', "expected (")?;
        opts.utf8 = true;
    }
    p.end()?;
    Ok(opts)
}

#[cfg(test)]
#[path = "decoder_tests.rs"]
pub(super) mod tests;
