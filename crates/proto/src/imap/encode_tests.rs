use super::*;
use crate::imap::fetch::{Section, SectionText};
use crate::imap::response::*;
use crate::imap::types::Date;

pub(in crate::imap) fn render(utf8: bool, r: &Response) -> String {
    let mut out = Vec::new();
    Encoder { utf8 }.encode(&mut out, r);
    String::from_utf8(out).unwrap()
}

fn tagged(status: Status, code: Option<Code>, text: &str) -> Response {
    Response::Status {
        tag: Some("a1".into()),
        status,
        code,
        text: text.into(),
    }
}

fn addr(name: Option<&str>, mailbox: &str, host: &str) -> Address {
    Address {
        name: name.map(|n| n.as_bytes().to_vec()),
        adl: None,
        mailbox: Some(mailbox.as_bytes().to_vec()),
        host: Some(host.as_bytes().to_vec()),
    }
}

pub(in crate::imap) fn sample_envelope() -> Envelope {
    Envelope {
        date: Some(b"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)".to_vec()),
        subject: Some("Grüße \"quoted\"".as_bytes().to_vec()),
        from: vec![addr(Some("Terry Gray"), "gray", "cac.washington.edu")],
        to: vec![addr(None, "imap", "cac.washington.edu")],
        message_id: Some(b"<B27397-0100000@cac.washington.edu>".to_vec()),
        ..Envelope::default()
    }
}

pub(in crate::imap) fn sample_body() -> BodyStructure {
    let text = BodyStructure::Single {
        media_type: "TEXT".into(),
        subtype: "PLAIN".into(),
        fields: BodyFields {
            params: vec![("CHARSET".into(), "UTF-8".into())],
            encoding: "QUOTED-PRINTABLE".into(),
            size: 3028,
            ..BodyFields::default()
        },
        kind: SingleKind::Text { lines: 92 },
        ext: Some(BodyExt::default()),
    };
    let attached = BodyStructure::Single {
        media_type: "MESSAGE".into(),
        subtype: "RFC822".into(),
        fields: BodyFields {
            encoding: "7BIT".into(),
            size: 200,
            ..BodyFields::default()
        },
        kind: SingleKind::Message {
            envelope: Box::new(sample_envelope()),
            body: Box::new(BodyStructure::Single {
                media_type: "APPLICATION".into(),
                subtype: "PDF".into(),
                fields: BodyFields {
                    encoding: "BASE64".into(),
                    size: 100,
                    ..BodyFields::default()
                },
                kind: SingleKind::Basic,
                ext: None,
            }),
            lines: 10,
        },
        ext: Some(BodyExt {
            md5: None,
            disposition: Some((
                "attachment".into(),
                vec![("filename".into(), "a.eml".into())],
            )),
            language: vec!["en".into(), "de".into()],
            location: None,
        }),
    };
    BodyStructure::Multi {
        parts: vec![text, attached],
        subtype: "MIXED".into(),
        params: vec![("BOUNDARY".into(), "xyz".into())],
        ext: Some(BodyExt {
            language: vec!["en".into()],
            ..BodyExt::default()
        }),
    }
}

#[test]
fn status_responses_and_codes() {
    let cases = [
        (
            tagged(Status::Ok, None, "LOGIN completed"),
            "a1 OK LOGIN completed\r\n",
        ),
        (
            tagged(Status::No, Some(Code::TryCreate), ""),
            "a1 NO [TRYCREATE] done\r\n",
        ),
        (
            tagged(
                Status::Ok,
                Some(Code::AppendUid {
                    uidvalidity: 38505,
                    uids: SequenceSet::range(3955, 3955),
                }),
                "ok",
            ),
            "a1 OK [APPENDUID 38505 3955] ok\r\n",
        ),
        (
            tagged(
                Status::Ok,
                Some(Code::CopyUid {
                    uidvalidity: 38505,
                    source: SequenceSet::range(304, 306),
                    dest: SequenceSet::range(3956, 3958),
                }),
                "ok",
            ),
            "a1 OK [COPYUID 38505 304:306 3956:3958] ok\r\n",
        ),
        (
            Response::Status {
                tag: None,
                status: Status::Ok,
                code: Some(Code::PermanentFlags(vec![Flag::Deleted, Flag::Seen], true)),
                text: "Limited".into(),
            },
            "* OK [PERMANENTFLAGS (\\Deleted \\Seen \\*)] Limited\r\n",
        ),
        (
            tagged(
                Status::Ok,
                Some(Code::Capability(vec!["IMAP4rev2".into(), "IDLE".into()])),
                "hi",
            ),
            "a1 OK [CAPABILITY IMAP4rev2 IDLE] hi\r\n",
        ),
        (
            tagged(Status::Ok, Some(Code::ReadWrite), "x\r\ny"),
            "a1 OK [READ-WRITE] x  y\r\n",
        ),
        (
            tagged(
                Status::Bad,
                Some(Code::BadCharset(vec!["UTF-8".into()])),
                "no",
            ),
            "a1 BAD [BADCHARSET (UTF-8)] no\r\n",
        ),
        (
            tagged(
                Status::Ok,
                Some(Code::Modified(SequenceSet::range(7, 9))),
                "c",
            ),
            "a1 OK [MODIFIED 7:9] c\r\n",
        ),
        (Response::Continue("Ready".into()), "+ Ready\r\n"),
        (Response::Continue(String::new()), "+ \r\n"),
    ];
    for (response, expected) in cases {
        assert_eq!(render(false, &response), expected);
    }
}

#[test]
fn untagged_data() {
    let list = ListItem {
        attributes: vec!["\\HasNoChildren".into(), "\\Sent".into()],
        delimiter: Some('/'),
        mailbox: Mailbox::new("Gesendete Objekte/Entwürfe"),
        childinfo: vec![],
        oldname: None,
    };
    let extended = ListItem {
        childinfo: vec!["SUBSCRIBED".into()],
        oldname: Some(Mailbox::new("Old")),
        delimiter: None,
        ..list.clone()
    };
    let cases = [
        (
            Response::Capability(vec!["IMAP4rev2".into(), "AUTH=PLAIN".into()]),
            "* CAPABILITY IMAP4rev2 AUTH=PLAIN\r\n",
        ),
        (
            Response::Enabled(vec!["CONDSTORE".into()]),
            "* ENABLED CONDSTORE\r\n",
        ),
        (
            Response::List(list.clone()),
            "* LIST (\\HasNoChildren \\Sent) \"/\" \"Gesendete Objekte/Entw&APw-rfe\"\r\n",
        ),
        (
            Response::List(extended),
            "* LIST (\\HasNoChildren \\Sent) NIL \"Gesendete Objekte/Entw&APw-rfe\" (\"CHILDINFO\" (\"SUBSCRIBED\") \"OLDNAME\" (Old))\r\n",
        ),
        (
            Response::Namespace {
                personal: vec![Namespace {
                    prefix: "".into(),
                    delimiter: Some('/'),
                }],
                other: vec![],
                shared: vec![],
            },
            "* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n",
        ),
        (
            Response::MailboxStatus {
                mailbox: Mailbox::new("inbox"),
                items: vec![(StatusItem::Messages, 17), (StatusItem::UidNext, 4392)],
            },
            "* STATUS INBOX (MESSAGES 17 UIDNEXT 4392)\r\n",
        ),
        (
            Response::ESearch(ESearch {
                tag: Some("a2".into()),
                uid: true,
                min: Some(1),
                all: Some(SequenceSet::Ranges(vec![
                    (SeqNum::Value(1), SeqNum::Value(3)),
                    (SeqNum::Value(7), SeqNum::Value(7)),
                ])),
                count: Some(4),
                ..ESearch::default()
            }),
            "* ESEARCH (TAG \"a2\") UID MIN 1 ALL 1:3,7 COUNT 4\r\n",
        ),
        (
            Response::Search {
                ids: vec![2, 84, 882],
                modseq: Some(917162500),
            },
            "* SEARCH 2 84 882 (MODSEQ 917162500)\r\n",
        ),
        (
            Response::Search {
                ids: vec![],
                modseq: None,
            },
            "* SEARCH\r\n",
        ),
        (
            Response::Flags(vec![Flag::Answered, Flag::Keyword("$Junk".into())]),
            "* FLAGS (\\Answered $Junk)\r\n",
        ),
        (Response::Exists(23), "* 23 EXISTS\r\n"),
        (Response::Recent(1), "* 1 RECENT\r\n"),
        (Response::Expunge(44), "* 44 EXPUNGE\r\n"),
        (
            Response::Vanished {
                earlier: true,
                uids: SequenceSet::range(41, 94),
            },
            "* VANISHED (EARLIER) 41:94\r\n",
        ),
        (
            Response::Sort {
                ids: vec![2, 3, 6],
                modseq: None,
            },
            "* SORT 2 3 6\r\n",
        ),
        (
            Response::Sort {
                ids: vec![4],
                modseq: Some(9),
            },
            "* SORT 4 (MODSEQ 9)\r\n",
        ),
        (
            Response::Thread(vec![
                Thread {
                    messages: vec![2],
                    children: vec![],
                },
                Thread {
                    messages: vec![3, 6],
                    children: vec![
                        Thread {
                            messages: vec![4, 23],
                            children: vec![],
                        },
                        Thread {
                            messages: vec![44],
                            children: vec![Thread {
                                messages: vec![7, 96],
                                children: vec![],
                            }],
                        },
                    ],
                },
            ]),
            "* THREAD (2)(3 6 (4 23)(44 7 96))\r\n",
        ),
        (Response::Thread(vec![]), "* THREAD\r\n"),
        (
            Response::Quota {
                root: "".into(),
                resources: vec![QuotaResource {
                    name: "STORAGE".into(),
                    usage: 10,
                    limit: 512,
                }],
            },
            "* QUOTA \"\" (STORAGE 10 512)\r\n",
        ),
        (
            Response::QuotaRoot {
                mailbox: Mailbox::new("INBOX"),
                roots: vec!["".into()],
            },
            "* QUOTAROOT INBOX \"\"\r\n",
        ),
        (
            Response::Id(Some(vec![
                ("name".into(), Some("hermod".into())),
                ("os".into(), None),
            ])),
            "* ID (\"name\" \"hermod\" \"os\" NIL)\r\n",
        ),
        (Response::Id(None), "* ID NIL\r\n"),
    ];
    for (response, expected) in cases {
        assert_eq!(render(false, &response), expected);
    }
    // With UTF8=ACCEPT the name goes out as UTF-8.
    let utf8 = render(true, &Response::List(list));
    assert!(
        utf8.ends_with("\"Gesendete Objekte/Entwürfe\"\r\n"),
        "{utf8}"
    );
}

#[test]
fn fetch_items_and_streamed_bodies() {
    let date = DateTime {
        date: Date {
            year: 2024,
            month: 2,
            day: 1,
        },
        hour: 9,
        minute: 5,
        second: 0,
        zone_minutes: -90,
    };
    let r = Response::Fetch {
        seq: 12,
        items: vec![
            FetchItem::Flags(vec![Flag::Seen]),
            FetchItem::InternalDate(date),
            FetchItem::Rfc822Size(44827),
            FetchItem::Uid(4827313),
            FetchItem::ModSeq(65402),
            FetchItem::BinarySize {
                part: vec![1, 2],
                size: 10,
            },
            FetchItem::Data {
                name: BodyName::Section {
                    section: Section {
                        part: vec![],
                        text: Some(SectionText::HeaderFields(vec!["From".into()])),
                    },
                    origin: None,
                },
                data: Some(b"From: a@b\r\n\r\n".to_vec()),
            },
            FetchItem::Data {
                name: BodyName::Binary {
                    part: vec![1],
                    origin: Some(0),
                },
                data: Some(b"a\0b".to_vec()),
            },
            FetchItem::Data {
                name: BodyName::Rfc822Text,
                data: None,
            },
        ],
    };
    assert_eq!(
        render(false, &r),
        "* 12 FETCH (FLAGS (\\Seen) INTERNALDATE \"01-Feb-2024 09:05:00 -0130\" RFC822.SIZE 44827 \
UID 4827313 MODSEQ (65402) BINARY.SIZE[1.2] 10 BODY[HEADER.FIELDS (From)] {13}\r\nFrom: a@b\r\n\r\n \
BINARY[1]<0> ~{3}\r\na\0b RFC822.TEXT NIL)\r\n"
    );
    let env = render(
        false,
        &Response::Fetch {
            seq: 1,
            items: vec![FetchItem::Envelope(Box::new(sample_envelope()))],
        },
    );
    assert_eq!(
        env,
        "* 1 FETCH (ENVELOPE (\"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\" {16}\r\nGrüße \"quoted\" \
((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) NIL NIL ((NIL NIL \"imap\" \"cac.washington.edu\")) \
NIL NIL NIL \"<B27397-0100000@cac.washington.edu>\"))\r\n"
    );
    let body = render(
        true,
        &Response::Fetch {
            seq: 1,
            items: vec![FetchItem::Body(Box::new(sample_body()))],
        },
    );
    assert!(body.starts_with("* 1 FETCH (BODY ((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"UTF-8\") NIL NIL \"QUOTED-PRINTABLE\" 3028 92)"), "{body}");
    assert!(
        body.ends_with("\"APPLICATION\" \"PDF\" NIL NIL NIL \"BASE64\" 100) 10) \"MIXED\"))\r\n"),
        "{body}"
    );
    let full = render(
        true,
        &Response::Fetch {
            seq: 1,
            items: vec![FetchItem::BodyStructure(Box::new(sample_body()))],
        },
    );
    assert!(full.contains("3028 92 NIL NIL NIL NIL)"), "{full}");
    assert!(
        full.contains("10 NIL (\"attachment\" (\"filename\" \"a.eml\")) (\"en\" \"de\") NIL)"),
        "{full}"
    );
    assert!(
        full.ends_with("\"MIXED\" (\"BOUNDARY\" \"xyz\") NIL \"en\" NIL))\r\n"),
        "{full}"
    );

    // Streaming: the header of the literal, then the server copies the octets itself.
    let mut out = Vec::new();
    let mut writer = Encoder::default().fetch_start(&mut out, 3);
    writer.item(&mut out, &FetchItem::Uid(9));
    let name = BodyName::Section {
        section: Section::default(),
        origin: None,
    };
    writer.literal(&mut out, &name, 10);
    out.extend_from_slice(b"01234");
    out.extend_from_slice(b"56789");
    writer.finish(&mut out);
    assert_eq!(out, b"* 3 FETCH (UID 9 BODY[] {10}\r\n0123456789)\r\n");

    // Borrowed octets are written exactly as the owned item would be, quoted or literal.
    let large = b"x".repeat(2000);
    let binary = BodyName::Binary {
        part: vec![1],
        origin: None,
    };
    for (name, data) in [
        (name.clone(), &b"short"[..]),
        (name.clone(), &b"two\r\nlines"[..]),
        (name.clone(), &large[..]),
        (binary, &b"nul\0"[..]),
    ] {
        let (mut borrowed, mut owned) = (Vec::new(), Vec::new());
        let mut writer = Encoder::default().fetch_start(&mut borrowed, 1);
        writer.data(&mut borrowed, &name, data);
        writer.finish(&mut borrowed);
        let mut writer = Encoder::default().fetch_start(&mut owned, 1);
        let item = FetchItem::Data {
            name,
            data: Some(data.to_vec()),
        };
        writer.item(&mut owned, &item);
        writer.finish(&mut owned);
        assert_eq!(borrowed, owned);
    }
}

#[test]
fn strings_are_quoted_only_when_safe() {
    let e = Encoder::default();
    let cases: [(&[u8], &str); 6] = [
        (b"plain", "\"plain\""),
        (b"a\"b\\c", "\"a\\\"b\\\\c\""),
        (b"", "\"\""),
        (b"line\r\nbreak", "{11}\r\nline\r\nbreak"),
        ("Jörg".as_bytes(), "{5}\r\nJörg"),
        (b"\xff", "{1}\r\n\u{fffd}"),
    ];
    for (input, expected) in cases {
        let mut out = Vec::new();
        e.string(&mut out, input);
        assert_eq!(String::from_utf8_lossy(&out), expected);
    }
    let mut out = Vec::new();
    Encoder { utf8: true }.string(&mut out, "Jörg".as_bytes());
    assert_eq!(String::from_utf8(out).unwrap(), "\"Jörg\"");
    let long = vec![b'x'; 2000];
    let mut out = Vec::new();
    e.string(&mut out, &long);
    assert!(out.starts_with(b"{2000}\r\n"));
}

#[test]
fn decode_errors_say_what_to_answer() {
    use crate::imap::decoder::{DecodeError, ErrorKind};
    let err = |tag: Option<&str>, kind| DecodeError {
        tag: tag.map(Into::into),
        kind,
    };
    let cases = [
        (
            err(Some("a"), ErrorKind::MessageTooBig),
            "a NO [TOOBIG] message too big\r\n",
        ),
        (
            err(Some("a"), ErrorKind::LineTooLong),
            "a BAD [TOOBIG] line too long\r\n",
        ),
        (
            err(None, ErrorKind::MessageTooBig),
            "* BAD [TOOBIG] message too big\r\n",
        ),
        (
            err(Some("b"), ErrorKind::Syntax("unknown command")),
            "b BAD unknown command\r\n",
        ),
    ];
    for (error, expected) in cases {
        assert_eq!(render(false, &error.response()), expected);
    }
}

#[test]
fn strings_and_names_round_trip_through_the_parser() {
    use crate::imap::lexer::Parser;
    use crate::split::XorShift;
    let mut rng = XorShift(0x9e37_79b9);
    let alphabet: &[u8] = b"aZ09 \"\\{}()*%]\r\n\x7f\xc3\xa9\x01&+-~";
    for round in 0..2000 {
        let len = rng.below(12);
        let s: Vec<u8> = (0..len)
            .map(|_| alphabet[rng.below(alphabet.len())])
            .collect();
        let utf8 = round % 2 == 0;
        let mut out = Vec::new();
        Encoder { utf8 }.string(&mut out, &s);
        let mut p = Parser::new(&out, utf8);
        assert_eq!(
            p.string().unwrap(),
            s,
            "{:?}",
            String::from_utf8_lossy(&out)
        );
        assert!(p.at_end());
        // Mailbox names: valid UTF-8 only, as the store keeps them.
        let Ok(name) = String::from_utf8(s) else {
            continue;
        };
        let mailbox = Mailbox::new(name);
        let mut out = Vec::new();
        Encoder { utf8 }.mailbox(&mut out, &mailbox);
        let mut p = Parser::new(&out, utf8);
        assert_eq!(
            p.mailbox().unwrap(),
            mailbox,
            "{:?}",
            String::from_utf8_lossy(&out)
        );
        assert!(p.at_end());
    }
}
