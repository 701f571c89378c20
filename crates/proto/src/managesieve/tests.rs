//! Table tests: every input is also fed byte by byte, cut in two everywhere and in random
//! pieces (`split::all_splits`), and must decode the same way.

use super::*;
use crate::split::all_splits;

/// Small limits, so the limit paths are short to write.
const SMALL: Limits = Limits {
    max_line: 64,
    max_literal: 16,
    max_command: 40,
    max_skip: 1000,
};

const ROOMY: Limits = Limits {
    max_line: 128,
    max_literal: 64,
    max_command: 256,
    max_skip: 1000,
};

type Outcome = Result<Command, String>;

fn decode(limits: Limits, pieces: &[&[u8]]) -> Vec<Outcome> {
    let mut decoder = Decoder::new(limits);
    let mut buf = Vec::new();
    let mut out = Vec::new();
    for piece in pieces {
        buf.extend_from_slice(piece);
        while let Some(frame) = decoder.next(&mut buf) {
            out.push(match frame {
                Ok(tokens) => parse_command(tokens).map_err(|e| format!("{e:?}")),
                Err(e) => Err(format!("{e:?}")),
            });
        }
        assert!(decoder.buffered() <= limits.max_command + limits.max_line);
    }
    out
}

fn check(limits: Limits, input: &[u8], expected: Vec<Outcome>) {
    let got = all_splits(input, |pieces| decode(limits, pieces));
    assert_eq!(got, expected, "{:?}", String::from_utf8_lossy(input));
}

fn name(s: &str) -> String {
    s.to_owned()
}

#[test]
fn parses_every_command() {
    let cases: Vec<(&[u8], Command)> = vec![
        (b"CAPABILITY\r\n", Command::Capability),
        (b"capability\r\n", Command::Capability),
        (b"STARTTLS\r\n", Command::StartTls),
        (b"Logout\r\n", Command::Logout),
        (b"LISTSCRIPTS\r\n", Command::ListScripts),
        (b"UNAUTHENTICATE\r\n", Command::Unauthenticate),
        (b"NOOP\r\n", Command::Noop { tag: None }),
        (
            b"NOOP \"STARTTLS-SYNC-42\"\r\n",
            Command::Noop {
                tag: Some(b"STARTTLS-SYNC-42".to_vec()),
            },
        ),
        (
            b"AUTHENTICATE \"plain\" \"AGFsaWNlAHB3\"\r\n",
            Command::Authenticate {
                mechanism: name("PLAIN"),
                initial: Some(b"AGFsaWNlAHB3".to_vec()),
            },
        ),
        (
            b"AUTHENTICATE \"PLAIN\" {12+}\r\nAGFsaWNlAHB3\r\n",
            Command::Authenticate {
                mechanism: name("PLAIN"),
                initial: Some(b"AGFsaWNlAHB3".to_vec()),
            },
        ),
        (
            b"AUTHENTICATE PLAIN\r\n",
            Command::Authenticate {
                mechanism: name("PLAIN"),
                initial: None,
            },
        ),
        (
            b"PUTSCRIPT \"foo\" {31+}\r\n#comment\r\nInvalidSieveCommand\r\n\r\n",
            Command::PutScript {
                name: name("foo"),
                script: b"#comment\r\nInvalidSieveCommand\r\n".to_vec(),
            },
        ),
        (
            b"PUTSCRIPT \"a b\" \"keep;\"\r\n",
            Command::PutScript {
                name: name("a b"),
                script: b"keep;".to_vec(),
            },
        ),
        (
            b"PUTSCRIPT {2+}\r\nab {5}\r\nkeep;\r\n",
            Command::PutScript {
                name: name("ab"),
                script: b"keep;".to_vec(),
            },
        ),
        (
            b"HAVESPACE \"myscript\" 999999\r\n",
            Command::HaveSpace {
                name: name("myscript"),
                size: 999_999,
            },
        ),
        (b"SETACTIVE \"\"\r\n", Command::SetActive { name: name("") }),
        (
            b"GETSCRIPT \"a\\\"b\\\\c\"\r\n",
            Command::GetScript {
                name: name("a\"b\\c"),
            },
        ),
        (
            "GETSCRIPT \"r\u{e8}gles\"\r\n".as_bytes(),
            Command::GetScript {
                name: name("r\u{e8}gles"),
            },
        ),
        (
            b"DELETESCRIPT {3+}\r\nabc\r\n",
            Command::DeleteScript { name: name("abc") },
        ),
        (
            b"RENAMESCRIPT \"a\"  \"b\" \r\n",
            Command::RenameScript {
                old: name("a"),
                new: name("b"),
            },
        ),
        (
            b"CHECKSCRIPT {0+}\r\n\r\n",
            Command::CheckScript { script: vec![] },
        ),
        // Blank lines between commands are no commands.
        (b"\r\n\r\nNOOP\r\n", Command::Noop { tag: None }),
    ];
    for (input, expected) in cases {
        check(ROOMY, input, vec![Ok(expected)]);
    }
}

#[test]
fn refuses_bad_commands_and_goes_on() {
    let syntax = |s: &str| Err(format!("Syntax({s:?})"));
    let decode_syntax = |s: &str| Err(format!("Syntax({s:?})"));
    let noop = || Ok(Command::Noop { tag: None });
    let cases: Vec<(&[u8], Vec<Outcome>)> = vec![
        (b"FOO\r\nNOOP\r\n", vec![Err("Unknown".into()), noop()]),
        (
            b"GETSCRIPT foo\r\n",
            vec![syntax("expected a quoted string or a literal")],
        ),
        (b"GETSCRIPT\r\n", vec![syntax("missing argument")]),
        (b"HAVESPACE \"a\" x\r\n", vec![syntax("expected a number")]),
        (
            b"HAVESPACE \"a\" 4294967296\r\n",
            vec![syntax("number too large")],
        ),
        (b"LOGOUT \"now\"\r\n", vec![syntax("too many arguments")]),
        (
            b"\"NOOP\"\r\n",
            vec![syntax("a command starts with its name")],
        ),
        (
            b"GETSCRIPT {2+}\r\n\xff\xfe\r\n",
            vec![syntax("script names are UTF-8")],
        ),
        (
            b"GETSCRIPT \"\xff\"\r\nNOOP\r\n",
            vec![decode_syntax("quoted string is not UTF-8"), noop()],
        ),
        (
            b"GETSCRIPT \"abc\r\nNOOP\r\n",
            vec![decode_syntax("unterminated quoted string"), noop()],
        ),
        (
            b"GETSCRIPT \"a\"b\r\n",
            vec![decode_syntax("expected a space between arguments")],
        ),
        (
            b"GETSCRIPT \"a\\n\"\r\n",
            vec![decode_syntax("only \\\" and \\\\ may be escaped")],
        ),
        (
            b"GETSCRIPT \"a\0\"\r\n",
            vec![decode_syntax("NUL in a quoted string")],
        ),
        (b"NO\x01OP\r\n", vec![decode_syntax("unexpected character")]),
        (
            b"NOOP\nNOOP\r\n",
            vec![Err("BareLineEnding".into()), noop()],
        ),
        (
            b"NO\rOP\r\nNOOP\r\n",
            vec![Err("BareLineEnding".into()), noop()],
        ),
        // A literal announced mid-line is an error; the literal is not read.
        (
            b"PUTSCRIPT {3+} \"a\"\r\nNOOP\r\n",
            vec![decode_syntax("a literal must end its line: {n+}"), noop()],
        ),
        // After a literal, the line goes on with a space; the bad line's literal is skipped.
        (
            b"PUTSCRIPT {2+}\r\nab\"x\" {7+}\r\nLOGOUT\n\r\nNOOP\r\n",
            vec![decode_syntax("expected a space after the literal"), noop()],
        ),
        (
            b"NOOP a b c d e f g h\r\nNOOP\r\n",
            vec![decode_syntax("too many arguments"), noop()],
        ),
    ];
    for (input, expected) in cases {
        check(SMALL, input, expected);
    }
}

#[test]
fn limits_skip_the_whole_command_and_nothing_more() {
    let noop = || Ok(Command::Noop { tag: None });
    let long = [b'x'; 100];
    let mut long_line = long.to_vec();
    long_line.extend_from_slice(b"\r\nNOOP\r\n");
    check(SMALL, &long_line, vec![Err("LineTooLong".into()), noop()]);

    // An over-long line announcing a literal: the literal (which looks like commands) is
    // skipped with it.
    let mut with_literal = b"PUTSCRIPT \"".to_vec();
    with_literal.extend_from_slice(&long);
    with_literal.extend_from_slice(b"\" {14+}\r\nLOGOUT\r\nLOGOUT\r\n\r\nNOOP\r\n");
    check(
        SMALL,
        &with_literal,
        vec![Err("LineTooLong".into()), noop()],
    );

    // A script over the literal limit: QUOTA/MAXSIZE, its octets dropped.
    let big = b"PUTSCRIPT \"s\" {20+}\r\nLOGOUT\r\nLOGOUT\r\nLOGOUT\r\n\r\nNOOP\r\n";
    check(
        SMALL,
        big,
        vec![Err("LiteralTooBig { script: true }".into()), noop()],
    );
    let check_big = b"CHECKSCRIPT {17}\r\n01234567890123456\r\nNOOP\r\n";
    check(
        SMALL,
        check_big,
        vec![Err("LiteralTooBig { script: true }".into()), noop()],
    );
    let big_name = b"GETSCRIPT {17+}\r\n01234567890123456\r\nNOOP\r\n";
    check(
        SMALL,
        big_name,
        vec![Err("LiteralTooBig { script: false }".into()), noop()],
    );
    // Two literals within the literal limit but over the command limit.
    let two = b"RENAMESCRIPT {16+}\r\n0123456789abcdef {16+}\r\n0123456789abcdef {16+}\r\n0123456789abcdef\r\nNOOP\r\n";
    check(SMALL, two, vec![Err("CommandTooBig".into()), noop()]);
    // Too big to skip: the session must end.
    check(
        SMALL,
        b"PUTSCRIPT \"s\" {1001+}\r\n",
        vec![Err("Overflow".into())],
    );
    check(
        SMALL,
        b"PUTSCRIPT \"s\" {99999999999999999999999+}\r\n",
        vec![Err("Overflow".into())],
    );
}

#[test]
fn skipping_holds_on_to_nothing() {
    let mut decoder = Decoder::new(SMALL);
    let mut buf = b"PUTSCRIPT \"s\" {900+}\r\n".to_vec();
    assert_eq!(
        decoder.next(&mut buf),
        Some(Err(DecodeError::LiteralTooBig { script: true }))
    );
    for _ in 0..9 {
        buf.extend_from_slice(&[b'y'; 100]);
        assert_eq!(decoder.next(&mut buf), None);
        assert!(buf.is_empty());
    }
    // The rest of the refused command's line, however long, is dropped as it comes.
    buf.extend_from_slice(&[b'z'; 5000]);
    assert_eq!(decoder.next(&mut buf), None);
    assert!(buf.is_empty() && decoder.buffered() == 0);
    buf.extend_from_slice(b"zz\r\nNOOP\r\n");
    assert_eq!(
        decoder.next(&mut buf).map(|f| f.map(parse_command)),
        Some(Ok(Ok(Command::Noop { tag: None })))
    );
}

#[test]
fn sasl_responses() {
    let frame = |input: &[u8]| {
        let mut decoder = Decoder::new(SMALL);
        let mut buf = input.to_vec();
        parse_sasl_response(decoder.next(&mut buf).unwrap().unwrap())
    };
    assert_eq!(frame(b"\"*\"\r\n"), Ok(SaslResponse::Cancel));
    assert_eq!(
        frame(b"{4+}\r\nAAAA\r\n"),
        Ok(SaslResponse::Data(b"AAAA".to_vec()))
    );
    assert_eq!(
        frame(b"\"AAAA\"\r\n"),
        Ok(SaslResponse::Data(b"AAAA".to_vec()))
    );
    assert!(frame(b"\"a\" \"b\"\r\n").is_err());
    assert!(frame(b"AAAA\r\n").is_err());
}

#[test]
fn responses() {
    let render = |status, code: Option<Code>, text: &str| {
        let mut out = Vec::new();
        render_response(status, code.as_ref(), text, &mut out);
        String::from_utf8(out).unwrap()
    };
    assert_eq!(render(Status::Ok, None, ""), "OK\r\n");
    assert_eq!(
        render(Status::No, Some(Code::NonExistent), "no such script"),
        "NO (NONEXISTENT) \"no such script\"\r\n"
    );
    assert_eq!(
        render(Status::No, Some(Code::QuotaMaxSize), "too big"),
        "NO (QUOTA/MAXSIZE) \"too big\"\r\n"
    );
    assert_eq!(
        render(Status::Ok, Some(Code::Tag(b"a\"b".to_vec())), "Done"),
        "OK (TAG \"a\\\"b\") \"Done\"\r\n"
    );
    assert_eq!(
        render(Status::Ok, Some(Code::Sasl("AAAA".into())), ""),
        "OK (SASL \"AAAA\")\r\n"
    );
    assert_eq!(
        render(Status::Bye, Some(Code::TryLater), "shutting down"),
        "BYE (TRYLATER) \"shutting down\"\r\n"
    );
    // Text that cannot be quoted goes as a literal.
    assert_eq!(
        render(Status::No, None, "line 1\r\nline 2"),
        "NO {14}\r\nline 1\r\nline 2\r\n"
    );
    let mut out = Vec::new();
    render_listing("vacation \"x\"", true, &mut out);
    render_listing("r\u{e8}gles", false, &mut out);
    render_capability("SIEVE", Some("fileinto vacation"), &mut out);
    render_capability("STARTTLS", None, &mut out);
    render_script(b"keep;\r\n", &mut out);
    render_challenge("", &mut out);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "\"vacation \\\"x\\\"\" ACTIVE\r\n\"r\u{e8}gles\"\r\n\"SIEVE\" \"fileinto vacation\"\r\n\
         \"STARTTLS\"\r\n{7}\r\nkeep;\r\n\r\n\"\"\r\n"
    );
    let mut long = Vec::new();
    render_string(&[b'a'; MAX_QUOTED + 1], &mut long);
    assert!(long.starts_with(b"{1025}\r\naaa"));
}

#[test]
fn what_the_encoder_writes_the_decoder_reads() {
    // Strings of every kind survive a round trip (server strings parse as client strings).
    let samples: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"plain".to_vec(),
        b"with \"quotes\" and \\".to_vec(),
        "ünïcödé".as_bytes().to_vec(),
        b"multi\r\nline".to_vec(),
        vec![0xff, 0x00, b'"'],
        vec![b'q'; 1500],
    ];
    for sample in samples {
        let mut wire = b"GETSCRIPT ".to_vec();
        render_string(&sample, &mut wire);
        // The server writes `{n}`; clients send `{n+}` or `{n}`: both are read.
        wire.extend_from_slice(b"\r\n");
        let mut decoder = Decoder::new(Limits::default());
        let tokens = decoder.next(&mut wire).unwrap().unwrap();
        assert_eq!(tokens[1], Token::String(sample));
    }
}

/// A literal being read counts once toward the command's size (it is reserved when
/// announced), so what the decoder reports it holds stays within `max_command` at every
/// byte (found by the fuzz target: the literal's bytes were counted twice).
#[test]
fn a_literal_counts_once_while_it_arrives() {
    let limits = Limits {
        max_line: 64,
        max_literal: 64,
        max_command: 96,
        max_skip: 512,
    };
    let mut decoder = Decoder::new(limits);
    let mut buf = Vec::new();
    let input = [
        b"PUTSCRIPT \"s\" {60+}\r\n".as_slice(),
        &[b'x'; 60],
        b"\r\n",
    ]
    .concat();
    let mut frames = 0;
    for &byte in &input {
        buf.push(byte);
        while let Some(frame) = decoder.next(&mut buf) {
            assert!(frame.is_ok(), "{frame:?}");
            frames += 1;
        }
        assert!(
            decoder.buffered() <= limits.max_command,
            "{}",
            decoder.buffered()
        );
    }
    assert_eq!(frames, 1);
}
