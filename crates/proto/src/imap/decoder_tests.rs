use super::*;
use crate::imap::command::CommandBody;
use crate::imap::types::{Date, SequenceSet};
use crate::split::all_splits;

/// Feeds pieces as a server would; adjacent `AppendData` chunks are joined, since where
/// they are cut depends on the split.
pub(in crate::imap) fn run(limits: Limits, pieces: &[&[u8]]) -> Vec<Event> {
    let mut decoder = ImapDecoder::new(limits);
    let mut out: Vec<Event> = Vec::new();
    for piece in pieces {
        let mut rest = *piece;
        loop {
            let (used, event) = decoder.decode(rest);
            rest = &rest[used..];
            assert!(decoder.buffered() <= limits.max_line + limits.max_command);
            let Some(event) = event else {
                assert!(rest.is_empty(), "no event but input left");
                break;
            };
            match (out.last_mut(), event) {
                (Some(Event::AppendData(prev)), Event::AppendData(more)) => prev.extend(more),
                (_, event) => out.push(event),
            }
        }
    }
    out
}

fn events(input: &[u8]) -> Vec<Event> {
    all_splits(input, |p| run(Limits::default(), p))
}

fn cmd(tag: &str, body: CommandBody) -> Event {
    Event::Command(Command {
        tag: tag.into(),
        body,
    })
}

fn err(tag: Option<&str>, kind: ErrorKind) -> Event {
    Event::Error(DecodeError {
        tag: tag.map(str::to_owned),
        kind,
    })
}

fn msg(size: u64) -> AppendMessage {
    AppendMessage {
        flags: vec![],
        date: None,
        size,
        binary: false,
        utf8: false,
    }
}

#[test]
fn literals_in_commands() {
    let login = |u: &str, p: &str| CommandBody::Login {
        username: u.into(),
        password: p.into(),
    };
    assert_eq!(
        events(b"a1 LOGIN {5}\r\nalice {3}\r\npw \r\na2 NOOP\r\n"),
        vec![
            Event::Continue,
            Event::Continue,
            cmd("a1", login("alice", "pw ")),
            cmd("a2", CommandBody::Noop)
        ]
    );
    assert_eq!(
        events(b"a LOGIN {5+}\r\nalice \"p\\\"w\"\r\n"),
        vec![cmd("a", login("alice", "p\"w"))]
    );
    assert_eq!(
        events(b"a LOGIN {0}\r\n {0+}\r\n\r\n"),
        vec![Event::Continue, cmd("a", login("", ""))]
    );
    // A literal may hold CRLF and anything but NUL.
    assert_eq!(
        events(b"a LOGIN u {4+}\r\n\r\n{}\r\n"),
        vec![cmd("a", login("u", "\r\n{}"))]
    );
    assert_eq!(
        events(b"a LOGIN u {1+}\r\n\0\r\n"),
        vec![err(Some("a"), ErrorKind::Syntax("NUL in a literal"))]
    );
}

#[test]
fn append_streams_messages() {
    let input =
        b"A003 APPEND saved-messages (\\Seen $Forwarded) \" 7-Feb-1994 21:52:25 -0800\" {12}\r\n\
Hello\r\nJoe\r\n\r\nA004 NOOP\r\n";
    let date = DateTime {
        date: Date {
            year: 1994,
            month: 2,
            day: 7,
        },
        hour: 21,
        minute: 52,
        second: 25,
        zone_minutes: -480,
    };
    assert_eq!(
        events(input),
        vec![
            Event::AppendStart {
                tag: "A003".into(),
                mailbox: Mailbox::new("saved-messages")
            },
            Event::AppendMessage(AppendMessage {
                flags: vec![Flag::Seen, Flag::Keyword("$Forwarded".into())],
                date: Some(date),
                ..msg(12)
            }),
            Event::Continue,
            Event::AppendData(b"Hello\r\nJoe\r\n".to_vec()),
            Event::AppendEnd,
            cmd("A004", CommandBody::Noop),
        ]
    );
    // MULTIAPPEND, a mailbox sent as a literal, binary and UTF8 forms, an empty message.
    let input = b"t APPEND {5+}\r\ninbox {2+}\r\nab (\\Draft) ~{3+}\r\na\0c UTF8 (~{0+}\r\n)\r\n";
    assert_eq!(
        events(input),
        vec![
            Event::AppendStart {
                tag: "t".into(),
                mailbox: Mailbox::new("INBOX")
            },
            Event::AppendMessage(msg(2)),
            Event::AppendData(b"ab".to_vec()),
            Event::AppendMessage(AppendMessage {
                flags: vec![Flag::Draft],
                binary: true,
                ..msg(3)
            }),
            Event::AppendData(b"a\0c".to_vec()),
            Event::AppendMessage(AppendMessage {
                binary: true,
                utf8: true,
                ..msg(0)
            }),
            Event::AppendEnd,
        ]
    );
}

#[test]
fn append_is_never_buffered() {
    let mut limits = Limits {
        max_command: 100,
        ..Limits::default()
    };
    limits.max_append = 1 << 20;
    let mut input = b"a APPEND INBOX {1000000+}\r\n".to_vec();
    input.extend(std::iter::repeat_n(b'x', 1_000_000));
    input.extend_from_slice(b"\r\n");
    let mut decoder = ImapDecoder::new(limits);
    let mut total = 0;
    for piece in input.chunks(4096) {
        let mut rest = piece;
        while let (used, Some(event)) = decoder.decode(rest) {
            rest = &rest[used..];
            assert!(decoder.buffered() < 200);
            if let Event::AppendData(d) = event {
                total += d.len();
            }
        }
    }
    assert_eq!(total, 1_000_000);
}

#[test]
fn append_refusals() {
    let limits = Limits {
        max_append: 10,
        ..Limits::default()
    };
    let got = all_splits(b"a APPEND INBOX {11}\r\nb NOOP\r\n", |p| run(limits, p));
    assert_eq!(
        got,
        vec![
            err(Some("a"), ErrorKind::MessageTooBig),
            cmd("b", CommandBody::Noop)
        ]
    );
    // A non-synchronizing literal is read and dropped, with the rest of the command.
    let got = all_splits(
        b"a APPEND INBOX {11+}\r\n01234567890 {2+}\r\nxy\r\nb NOOP\r\n",
        |p| run(limits, p),
    );
    assert_eq!(
        got,
        vec![
            err(Some("a"), ErrorKind::MessageTooBig),
            cmd("b", CommandBody::Noop)
        ]
    );
    // LITERAL-: {n+} up to 4096 only.
    let minus = Limits {
        literal_plus: LiteralPlus::Minus,
        ..Limits::default()
    };
    let mut input = b"a APPEND INBOX {4097+}\r\n".to_vec();
    input.extend([b'x'; 4097]);
    input.extend_from_slice(b"\r\nb LOGIN {4097+}\r\n");
    input.extend([b'x'; 4097]);
    input.extend_from_slice(b" p\r\nc APPEND INBOX {4096+}\r\n");
    input.extend([b'x'; 4096]);
    input.extend_from_slice(b"\r\n");
    let got = all_splits(&input, |p| run(minus, p));
    assert_eq!(
        got[..2],
        [
            err(Some("a"), ErrorKind::LiteralMinus),
            err(Some("b"), ErrorKind::LiteralMinus)
        ]
    );
    assert_eq!(
        got[2..3],
        [Event::AppendStart {
            tag: "c".into(),
            mailbox: Mailbox::new("INBOX")
        }]
    );
    assert_eq!(got.last(), Some(&Event::AppendEnd));
    // The server refuses the message itself (say, over quota).
    for (input, after) in [
        (&b"a APPEND INBOX {3}\r\nb NOOP\r\n"[..], 3),
        (b"a APPEND INBOX {3+}\r\nxyz\r\nb NOOP\r\n", 3),
    ] {
        let mut decoder = ImapDecoder::new(Limits::default());
        let mut rest = input;
        let mut seen = Vec::new();
        while let (used, Some(event)) = decoder.decode(rest) {
            rest = &rest[used..];
            if matches!(event, Event::AppendMessage(_)) {
                decoder.refuse_literal();
            }
            seen.push(event);
        }
        assert_eq!(seen.len(), after, "{seen:?}");
        assert_eq!(seen.last(), Some(&cmd("b", CommandBody::Noop)));
    }
    // Broken MULTIAPPEND tail: the APPEND is aborted with its tag.
    assert_eq!(
        events(b"a APPEND INBOX {1+}\r\nx junk\r\n")[3..],
        [err(
            Some("a"),
            ErrorKind::Syntax("expected another message or the end")
        )]
    );
}

#[test]
fn limits_and_framing_errors() {
    let limits = Limits {
        max_line: 30,
        max_command: 60,
        ..Limits::default()
    };
    let cases: &[(&[u8], Vec<Event>)] = &[
        (b"a NOOP\r\n", vec![cmd("a", CommandBody::Noop)]),
        (
            b"a LOGIN 0123456789012345678901234567890 x\r\nb NOOP\r\n",
            vec![
                err(Some("a"), ErrorKind::LineTooLong),
                cmd("b", CommandBody::Noop),
            ],
        ),
        // The over-long line ends in a non-synchronizing literal: it is skipped too.
        (
            b"a LOGIN 0123456789012345678901234567890 {3+}\r\n{3}\r\nb NOOP\r\n",
            vec![
                err(Some("a"), ErrorKind::LineTooLong),
                cmd("b", CommandBody::Noop),
            ],
        ),
        (
            b"0123456789012345678901234567890123\r\nb NOOP\r\n",
            vec![
                err(None, ErrorKind::LineTooLong),
                cmd("b", CommandBody::Noop),
            ],
        ),
        (
            b"a LOGIN {50}\r\nb NOOP\r\n",
            vec![
                err(Some("a"), ErrorKind::CommandTooBig),
                cmd("b", CommandBody::Noop),
            ],
        ),
        (
            b"a LOGIN {20+}\r\n01234567890123456789 {20+}\r\n01234567890123456789\r\nb NOOP\r\n",
            vec![
                err(Some("a"), ErrorKind::CommandTooBig),
                cmd("b", CommandBody::Noop),
            ],
        ),
        (
            b"a NOOP\nb NOOP\r\n",
            vec![
                err(Some("a"), ErrorKind::BareLineEnding),
                cmd("b", CommandBody::Noop),
            ],
        ),
        (
            b"a NO\rOP\r\n",
            vec![err(Some("a"), ErrorKind::BareLineEnding)],
        ),
        (
            b"a LOGIN ~{1}\r\n",
            vec![err(Some("a"), ErrorKind::Syntax("literal8 outside APPEND"))],
        ),
        (
            b"+ NOOP\r\n",
            vec![err(None, ErrorKind::Syntax("expected a tag"))],
        ),
        (
            b"a FOO\r\n",
            vec![err(Some("a"), ErrorKind::Syntax("unknown command"))],
        ),
        (
            b"a APPEND INBOX\r\n",
            vec![err(
                Some("a"),
                ErrorKind::Syntax("APPEND needs a message literal"),
            )],
        ),
    ];
    for (input, expected) in cases {
        let got = all_splits(input, |p| run(limits, p));
        assert_eq!(&got, expected, "{:?}", String::from_utf8_lossy(input));
    }
    // A size past u64 is refused like any other too-large size.
    assert_eq!(
        events(b"a LOGIN {99999999999999999999999+}\r\nb NOOP\r\n"),
        vec![err(Some("a"), ErrorKind::CommandTooBig)]
    );
    let off = Limits {
        literal_plus: LiteralPlus::Off,
        ..Limits::default()
    };
    assert_eq!(
        all_splits(b"a LOGIN {1+}\r\nx y\r\n", |p| run(off, p)),
        vec![err(
            Some("a"),
            ErrorKind::Syntax("non-synchronizing literals are not supported")
        )]
    );
}

#[test]
fn authenticate_and_idle_lines() {
    let mut decoder = ImapDecoder::new(Limits::default());
    let input = b"a AUTHENTICATE PLAIN\r\nAGEAYg==\r\nb IDLE\r\nDONE\r\nc FETCH 1 UID\r\n";
    let mut rest = &input[..];
    let mut seen = Vec::new();
    while let (used, Some(event)) = decoder.decode(rest) {
        rest = &rest[used..];
        match &event {
            Event::Command(c) if matches!(c.body, CommandBody::Authenticate { .. }) => {
                decoder.expect_auth_response()
            }
            Event::Command(c) if c.body == CommandBody::Idle => decoder.expect_idle_done(),
            _ => {}
        }
        seen.push(event);
    }
    assert_eq!(seen[1], Event::AuthResponse("AGEAYg==".into()));
    assert_eq!(seen[3], Event::IdleDone);
    assert!(
        matches!(&seen[4], Event::Command(Command { body: CommandBody::Fetch { set, .. }, .. })
        if *set == SequenceSet::range(1, 1))
    );
    decoder.expect_idle_done();
    assert_eq!(
        decoder.decode(b"NOOP\r\n").1,
        Some(err(None, ErrorKind::ExpectedDone))
    );
}

/// `tag ID (...)` with `pairs` pairs of a 30-octet field and a `value`-octet value.
fn id_command(tag: &str, pairs: usize, value: usize) -> (Vec<u8>, Vec<(String, Option<String>)>) {
    let fields: Vec<(String, Option<String>)> = (0..pairs)
        .map(|n| (format!("{n:0>30}"), Some("v".repeat(value))))
        .collect();
    let quoted: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("\"{k}\" \"{}\"", v.as_deref().unwrap_or_default()))
        .collect();
    let line = format!("{tag} ID ({})\r\n", quoted.join(" "));
    (line.into_bytes(), fields)
}

#[test]
fn an_id_command_within_rfc_2971_limits_is_never_too_long() {
    let limits = Limits::default();
    let (line, fields) = id_command("a", 30, 1024);
    assert!(line.len() > 3 * limits.max_line, "{}", line.len());
    let mut input = line.clone();
    input.extend_from_slice(b"b NOOP\r\n");
    let pieces: Vec<&[u8]> = input.chunks(1000).collect();
    assert_eq!(
        run(limits, &pieces),
        [
            cmd("a", CommandBody::Id(Some(fields))),
            cmd("b", CommandBody::Noop)
        ]
    );
    // The allowance is ID's alone: another command of that length is still too long.
    let other = String::from_utf8(line)
        .unwrap()
        .replacen(" ID ", " XID ", 1);
    let other = format!("{other}b NOOP\r\n");
    assert_eq!(
        run(limits, &[other.as_bytes()]),
        [
            err(Some("a"), ErrorKind::LineTooLong),
            cmd("b", CommandBody::Noop)
        ]
    );
    // Past what RFC 2971 allows, an ID line has its bound too.
    let (huge, _) = id_command("a", 80, 1024);
    let huge = [huge, b"b NOOP\r\n".to_vec()].concat();
    assert_eq!(
        run(limits, &[&huge]),
        [
            err(Some("a"), ErrorKind::LineTooLong),
            cmd("b", CommandBody::Noop)
        ]
    );
}

/// Whether a line is an ID command is told from its first `max_line` octets, so a tag that
/// fills them gives the same answer whole and split (a fuzz finding).
#[test]
fn an_id_told_from_the_first_max_line_octets_whole_or_split() {
    let limits = Limits {
        max_line: 64,
        max_command: 256,
        max_append: 512,
        literal_plus: LiteralPlus::Plus,
    };
    let tag = "K".repeat(70);
    let input = format!("{tag} ID NIL\r\nb NOOP\r\n");
    let expected = [
        err(None, ErrorKind::LineTooLong),
        cmd("b", CommandBody::Noop),
    ];
    assert_eq!(all_splits(input.as_bytes(), |p| run(limits, p)), expected);
    // A short tag leaves the ID allowance in view: a long ID line is answered.
    let (line, fields) = id_command("a", 2, 100);
    assert!(line.len() > limits.max_line);
    assert_eq!(
        all_splits(&line, |p| run(limits, p)),
        [cmd("a", CommandBody::Id(Some(fields)))]
    );
}
