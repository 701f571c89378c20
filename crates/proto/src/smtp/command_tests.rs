use super::*;
use crate::LineFramer;
use crate::split::all_splits;

type Parsed = Vec<Result<Command, CommandError>>;

/// Frames and parses a byte stream the way a session does.
fn parse_stream(pieces: &[&[u8]]) -> Parsed {
    let mut framer = LineFramer::new(2048);
    let (mut buf, mut out) = (Vec::new(), Vec::new());
    for piece in pieces {
        buf.extend_from_slice(piece);
        while let Some(line) = framer.next_line(&mut buf) {
            out.push(parse_command(&line.expect("test lines are well framed")));
        }
    }
    out
}

/// Parses one line, fed through the framer whole, byte by byte and in random pieces.
fn parse(line: &str) -> Result<Command, CommandError> {
    let input = format!("{line}\r\n");
    let mut got = all_splits(input.as_bytes(), parse_stream);
    assert_eq!(got.len(), 1, "{line}");
    got.remove(0)
}

fn addr(s: &str) -> Address {
    Address::parse(s).unwrap()
}

fn mail(from: ReversePath, params: MailParams) -> Command {
    Command::Mail { from, params }
}

fn mail_from(a: &str) -> Command {
    mail(ReversePath::Address(addr(a)), MailParams::default())
}

fn rcpt(to: ForwardPath, params: RcptParams) -> Command {
    Command::Rcpt { to, params }
}

fn rcpt_to(a: &str) -> Command {
    rcpt(ForwardPath::Address(addr(a)), RcptParams::default())
}

#[test]
fn parses_simple_commands() {
    let bdat = |size, last| Command::Bdat { size, last };
    let auth = |m: &str, r: Option<&str>| Command::Auth {
        mechanism: m.into(),
        initial_response: r.map(Into::into),
    };
    let cases: Vec<(&str, Command)> = vec![
        ("EHLO client.test", Command::Ehlo("client.test".into())),
        ("ehlo [127.0.0.1]", Command::Ehlo("[127.0.0.1]".into())),
        (
            "EhLo [IPv6:2001:db8::1]",
            Command::Ehlo("[IPv6:2001:db8::1]".into()),
        ),
        ("EHLO  spaced.test ", Command::Ehlo("spaced.test".into())),
        ("EHLO bücher.test", Command::Ehlo("bücher.test".into())),
        ("HELO x", Command::Helo("x".into())),
        ("DATA", Command::Data),
        ("data", Command::Data),
        ("BDAT 100", bdat(100, false)),
        ("BDAT 0 last", bdat(0, true)),
        ("bdat 1000 LAST", bdat(1000, true)),
        ("BDAT 18446744073709551615", bdat(u64::MAX, false)),
        ("RSET", Command::Rset),
        ("NOOP", Command::Noop),
        ("NOOP anything at all", Command::Noop),
        ("QUIT", Command::Quit),
        ("Quit", Command::Quit),
        ("VRFY alice", Command::Vrfy("alice".into())),
        (
            "VRFY <alice@x.test>",
            Command::Vrfy("<alice@x.test>".into()),
        ),
        ("EXPN list", Command::Expn("list".into())),
        ("HELP", Command::Help(None)),
        ("HELP MAIL", Command::Help(Some("MAIL".into()))),
        ("STARTTLS", Command::StartTls),
        ("starttls", Command::StartTls),
        ("AUTH plain AGEAYg==", auth("PLAIN", Some("AGEAYg=="))),
        ("AUTH LOGIN", auth("LOGIN", None)),
        ("AUTH PLAIN =", auth("PLAIN", Some("="))),
        ("AUTH SCRAM-SHA-256", auth("SCRAM-SHA-256", None)),
    ];
    for (line, expected) in cases {
        assert_eq!(parse(line), Ok(expected), "{line}");
    }
}

#[test]
fn parses_mail_from() {
    let params = |f: fn(&mut MailParams)| {
        let mut p = MailParams::default();
        f(&mut p);
        p
    };
    let cases: Vec<(&str, Command)> = vec![
        ("MAIL FROM:<a@b.test>", mail_from("a@b.test")),
        ("mail from:<a@b.test>", mail_from("a@b.test")),
        ("MAIL FROM: <a@b.test>", mail_from("a@b.test")),
        ("MAIL FROM:<a@b.test> ", mail_from("a@b.test")),
        (
            "MAIL FROM:<>",
            mail(ReversePath::Null, MailParams::default()),
        ),
        ("MAIL FROM:<@r1,@r2:a@b.test>", mail_from("a@b.test")),
        ("MAIL FROM:<@r1.test:a@b.test>", mail_from("a@b.test")),
        ("MAIL FROM:<\"a >b\"@b.test>", mail_from("\"a >b\"@b.test")),
        ("MAIL FROM:<用户@例子.广告>", mail_from("用户@例子.广告")),
        (
            "MAIL FROM:<a@B.Test> SIZE=123",
            mail(
                ReversePath::Address(addr("a@b.test")),
                params(|p| p.size = Some(123)),
            ),
        ),
        (
            "MAIL FROM:<> SIZE=99999999999999999999",
            mail(ReversePath::Null, params(|p| p.size = Some(u64::MAX))),
        ),
        (
            "MAIL FROM:<> BODY=7BIT",
            mail(ReversePath::Null, params(|p| p.body = Some(Body::SevenBit))),
        ),
        (
            "MAIL FROM:<> body=BinaryMIME",
            mail(
                ReversePath::Null,
                params(|p| p.body = Some(Body::BinaryMime)),
            ),
        ),
        (
            "MAIL FROM:<> smtputf8",
            mail(ReversePath::Null, params(|p| p.smtputf8 = true)),
        ),
        (
            "MAIL FROM:<> RET=full",
            mail(ReversePath::Null, params(|p| p.ret = Some(Ret::Full))),
        ),
        (
            "MAIL FROM:<> AUTH=<>",
            mail(ReversePath::Null, params(|p| p.auth = Some("<>".into()))),
        ),
        (
            "MAIL FROM:<> ENVID=QQ314159+2B",
            mail(
                ReversePath::Null,
                params(|p| p.envid = Some("QQ314159+2B".into())),
            ),
        ),
        (
            "MAIL FROM:<a@b.test>  SIZE=100 body=8bitmime SMTPUTF8 RET=HDRS ENVID=x+2B AUTH=a+2Bb@c.test",
            mail(
                ReversePath::Address(addr("a@b.test")),
                MailParams {
                    size: Some(100),
                    body: Some(Body::EightBitMime),
                    smtputf8: true,
                    ret: Some(Ret::Hdrs),
                    envid: Some("x+2B".into()),
                    auth: Some("a+2Bb@c.test".into()),
                },
            ),
        ),
    ];
    for (line, expected) in cases {
        assert_eq!(parse(line), Ok(expected), "{line}");
    }
}

#[test]
fn parses_rcpt_to() {
    let notify = |n: Vec<Notify>| RcptParams {
        notify: Some(n),
        orcpt: None,
    };
    let cases: Vec<(&str, Command)> = vec![
        ("RCPT TO:<c@d.test>", rcpt_to("c@d.test")),
        ("rcpt to: <c@d.test>", rcpt_to("c@d.test")),
        ("RCPT TO:<@hop.test:c@d.test>", rcpt_to("c@d.test")),
        (
            "RCPT TO:<Postmaster>",
            rcpt(ForwardPath::Postmaster, RcptParams::default()),
        ),
        (
            "RCPT TO:<postMASTER>",
            rcpt(ForwardPath::Postmaster, RcptParams::default()),
        ),
        ("RCPT TO:<postmaster@d.test>", rcpt_to("postmaster@d.test")),
        (
            "RCPT TO:<\"john doe\"@d.test>",
            rcpt_to("\"john doe\"@d.test"),
        ),
        (
            "RCPT TO:<c@d.test> NOTIFY=NEVER",
            rcpt(ForwardPath::Address(addr("c@d.test")), notify(vec![])),
        ),
        (
            "RCPT TO:<c@d.test> notify=failure,Delay",
            rcpt(
                ForwardPath::Address(addr("c@d.test")),
                notify(vec![Notify::Failure, Notify::Delay]),
            ),
        ),
        (
            "RCPT TO:<ü@bücher.test> NOTIFY=SUCCESS,DELAY,FAILURE ORCPT=rfc822;x+40y@z.test",
            rcpt(
                ForwardPath::Address(addr("ü@bücher.test")),
                RcptParams {
                    notify: Some(vec![Notify::Success, Notify::Delay, Notify::Failure]),
                    orcpt: Some("rfc822;x+40y@z.test".into()),
                },
            ),
        ),
    ];
    for (line, expected) in cases {
        assert_eq!(parse(line), Ok(expected), "{line}");
    }
}

#[test]
fn reports_syntax_errors() {
    let long_envid = format!("MAIL FROM:<> ENVID={}", "x".repeat(101));
    let long_orcpt = format!("RCPT TO:<a@b.test> ORCPT=rfc822;{}", "x".repeat(500));
    let lines = [
        "EHLO",
        "EHLO ",
        "HELO a b",
        "EHLO a\tb",
        "EHLO a\u{1}b",
        "MAIL",
        "MAIL FROM:",
        "MAIL FROM:a@b.test",
        "MAIL FROM:<a@b.test",
        "MAIL FROM:  <a@b.test>",
        "MAIL FROM <a@b.test>",
        "MAIL TO:<a@b.test>",
        "MAIL FROMAGE:<a@b.test>",
        "MAIL FROM:<a@b.test>SIZE=1",
        "MAIL FROM:<a@b.test> SIZE=x",
        "MAIL FROM:<a@b.test> SIZE=+1",
        "MAIL FROM:<a@b.test> SIZE=-1",
        "MAIL FROM:<a@b.test> SIZE=",
        "MAIL FROM:<a@b.test> SIZE",
        "MAIL FROM:<a@b.test> SIZE=123456789012345678901",
        "MAIL FROM:<a@b.test> SIZE=1 SIZE=2",
        "MAIL FROM:<a@b.test> BODY=9BIT",
        "MAIL FROM:<a@b.test> BODY=7BIT BODY=7BIT",
        "MAIL FROM:<a@b.test> SMTPUTF8=yes",
        "MAIL FROM:<a@b.test> SMTPUTF8 SMTPUTF8",
        "MAIL FROM:<a@b.test> RET=ALL",
        "MAIL FROM:<a@b.test> ENVID=a=b",
        "MAIL FROM:<a@b.test> =1",
        "MAIL FROM:<a@b.test> -X=1",
        "MAIL FROM:<a@b.test> X_Y=1",
        &long_envid,
        "RCPT",
        "RCPT TO:<>",
        "RCPT FROM:<a@b.test>",
        "RCPT TO:<a@b.test> NOTIFY=NEVER,SUCCESS",
        "RCPT TO:<a@b.test> NOTIFY=SUCCESS,SUCCESS",
        "RCPT TO:<a@b.test> NOTIFY=SOMETIMES",
        "RCPT TO:<a@b.test> NOTIFY=",
        "RCPT TO:<a@b.test> ORCPT=x@y.test",
        &long_orcpt,
        "DATA x",
        "RSET now",
        "QUIT now",
        "STARTTLS please",
        "BDAT",
        "BDAT x",
        "BDAT +1",
        "BDAT -1",
        "BDAT 18446744073709551616",
        "BDAT 1 FIRST",
        "BDAT 1 LAST more",
        "VRFY",
        "EXPN ",
        "AUTH",
        "AUTH PLAIN a b",
        "AUTH PL@IN",
        "AUTH THIS-NAME-IS-TOO-LONG-1",
    ];
    for line in lines {
        let got = parse(line);
        assert!(
            matches!(got, Err(CommandError::Syntax(_))),
            "{line}: {got:?}"
        );
    }
}

#[test]
fn reports_other_errors() {
    use hermod_types::AddressError::*;
    let cases: Vec<(&[u8], CommandError)> = vec![
        (b"", CommandError::UnknownCommand),
        (b" ", CommandError::UnknownCommand),
        (b"FOO", CommandError::UnknownCommand),
        (b"MAILFROM:<a@b.test>", CommandError::UnknownCommand),
        (b" NOOP", CommandError::UnknownCommand),
        (b"TURN", CommandError::UnknownCommand),
        (
            b"MAIL FROM:<a@b.test> XYZ=1",
            CommandError::UnknownParameter("XYZ".into()),
        ),
        (
            b"MAIL FROM:<a@b.test> size=1 x-flag",
            CommandError::UnknownParameter("X-FLAG".into()),
        ),
        (
            b"RCPT TO:<a@b.test> SIZE=1",
            CommandError::UnknownParameter("SIZE".into()),
        ),
        (b"RCPT TO:<a@@b>", CommandError::BadAddress(BadLocalPart)),
        (b"RCPT TO:<a>", CommandError::BadAddress(MissingAt)),
        (
            b"RCPT TO:<a@[192.0.2.1]>",
            CommandError::BadAddress(AddressLiteral),
        ),
        (
            b"MAIL FROM:<a b@x.test>",
            CommandError::BadAddress(BadLocalPart),
        ),
        (
            b"MAIL FROM:<a@x..test>",
            CommandError::BadAddress(EmptyLabel),
        ),
        (
            b"MAIL FROM:<@r.test>",
            CommandError::BadAddress(EmptyLocalPart),
        ),
        (b"NOOP \xff", CommandError::NotUtf8),
        (b"MAIL FROM:<\xc3\x28@x.test>", CommandError::NotUtf8),
    ];
    for (line, expected) in cases {
        let input = [line, b"\r\n"].concat();
        let got = all_splits(&input, parse_stream);
        assert_eq!(
            got,
            vec![Err(expected)],
            "{:?}",
            String::from_utf8_lossy(line)
        );
    }
}

#[test]
fn pipelined_commands_come_out_in_order() {
    let input = b"EHLO c.test\r\nMAIL FROM:<a@b.test> BODY=8BITMIME\r\nRCPT TO:<c@d.test>\r\n\
                  RCPT TO:<Postmaster>\r\nBDAT 5 LAST\r\n";
    let got = all_splits(input, parse_stream);
    let eight_bit = MailParams {
        body: Some(Body::EightBitMime),
        ..MailParams::default()
    };
    let expected: Parsed = vec![
        Ok(Command::Ehlo("c.test".into())),
        Ok(mail(ReversePath::Address(addr("a@b.test")), eight_bit)),
        Ok(rcpt_to("c@d.test")),
        Ok(rcpt(ForwardPath::Postmaster, RcptParams::default())),
        Ok(Command::Bdat {
            size: 5,
            last: true,
        }),
    ];
    assert_eq!(got, expected);
}

#[test]
fn paths_round_trip() {
    let addresses = [
        "a@b.test",
        "\"john doe\"@x.test",
        r#""a\"b"@x.test"#,
        "用户@例子.广告",
        "A.B+c@X.test",
    ];
    let mut reverse: Vec<ReversePath> = vec![ReversePath::Null];
    reverse.extend(addresses.iter().map(|a| ReversePath::Address(addr(a))));
    for from in reverse {
        let line = format!("MAIL FROM:{from}");
        assert_eq!(
            parse(&line),
            Ok(mail(from, MailParams::default())),
            "{line}"
        );
    }
    let mut forward: Vec<ForwardPath> = vec![ForwardPath::Postmaster];
    forward.extend(addresses.iter().map(|a| ForwardPath::Address(addr(a))));
    for to in forward {
        let line = format!("RCPT TO:{to}");
        assert_eq!(parse(&line), Ok(rcpt(to, RcptParams::default())), "{line}");
    }
}
