//! imap-codec as an oracle: what our encoder writes must parse with its response codec,
//! and commands it re-encodes must mean the same to our decoder as the originals.

use imap_codec::decode::Decoder;
use imap_codec::encode::Encoder as _;
use imap_codec::{CommandCodec, GreetingCodec, ResponseCodec};

use super::command::StatusItem;
use super::decoder::{Event, Limits};
use super::encode::tests::{render, sample_body, sample_envelope};
use super::fetch::{Section, SectionText};
use super::response::*;
use super::types::{Date, DateTime, Flag, Mailbox, SequenceSet};

fn status(tag: Option<&str>, status: Status, code: Option<Code>) -> Response {
    Response::Status {
        tag: tag.map(Into::into),
        status,
        code,
        text: "text here".into(),
    }
}

/// Every kind of response imap-codec knows, in the forms our encoder writes.
fn responses() -> Vec<Response> {
    let set = SequenceSet::range(4, 9);
    let codes = [
        Code::Alert,
        Code::AlreadyExists,
        Code::AppendUid {
            uidvalidity: 7,
            uids: set.clone(),
        },
        Code::AuthenticationFailed,
        Code::AuthorizationFailed,
        Code::BadCharset(vec!["UTF-8".into(), "US-ASCII".into()]),
        Code::BadCharset(vec![]),
        Code::Cannot,
        Code::Capability(vec![
            "IMAP4rev1".into(),
            "IMAP4rev2".into(),
            "LITERAL+".into(),
        ]),
        Code::ClientBug,
        Code::Closed,
        Code::ContactAdmin,
        Code::CopyUid {
            uidvalidity: 7,
            source: set.clone(),
            dest: SequenceSet::range(20, 25),
        },
        Code::Corruption,
        Code::Expired,
        Code::ExpungeIssued,
        Code::HasChildren,
        Code::HighestModSeq(715194045007),
        Code::InUse,
        Code::Limit,
        Code::Modified(set.clone()),
        Code::NoModSeq,
        Code::NonExistent,
        Code::NoPerm,
        Code::OverQuota,
        Code::Parse,
        Code::PermanentFlags(vec![Flag::Seen, Flag::Keyword("$Junk".into())], true),
        Code::PermanentFlags(vec![], false),
        Code::PrivacyRequired,
        Code::ReadOnly,
        Code::ReadWrite,
        Code::ServerBug,
        Code::TooBig,
        Code::TryCreate,
        Code::UidNext(4392),
        Code::UidNotSticky,
        Code::UidValidity(3857529045),
        Code::Unavailable,
        Code::UnknownCte,
        Code::Unseen(12),
        Code::Other("X-SOMETHING".into(), Some("more".into())),
    ];
    let mut out: Vec<Response> = codes
        .into_iter()
        .map(|c| status(Some("a1"), Status::No, Some(c)))
        .collect();
    out.extend([
        status(None, Status::Ok, None),
        status(None, Status::PreAuth, None),
        status(None, Status::Bye, Some(Code::Alert)),
        status(Some("z"), Status::Bad, None),
        Response::Capability(vec!["IMAP4rev2".into(), "AUTH=PLAIN".into(), "ID".into()]),
        Response::Enabled(vec!["CONDSTORE".into(), "QRESYNC".into()]),
        Response::List(ListItem {
            attributes: vec!["\\HasChildren".into(), "\\Drafts".into()],
            delimiter: Some('.'),
            mailbox: Mailbox::new("Entwürfe \"x\""),
            childinfo: vec![],
            oldname: None,
        }),
        // LIST-EXTENDED: a subscription without its mailbox. (CHILDINFO is checked in
        // encode_tests only: imap-codec's LIST-EXTENDED is unfinished and refuses it.)
        Response::List(ListItem {
            attributes: vec!["\\NonExistent".into(), "\\Subscribed".into()],
            delimiter: Some('/'),
            mailbox: Mailbox::new("Gone"),
            childinfo: vec![],
            oldname: None,
        }),
        Response::Lsub(ListItem {
            attributes: vec![],
            delimiter: None,
            mailbox: Mailbox::new("inbox"),
            childinfo: vec![],
            oldname: None,
        }),
        Response::Namespace {
            personal: vec![Namespace {
                prefix: "".into(),
                delimiter: Some('/'),
            }],
            other: vec![Namespace {
                prefix: "~".into(),
                delimiter: Some('/'),
            }],
            shared: vec![],
        },
        Response::MailboxStatus {
            mailbox: Mailbox::new("blurdybloop"),
            items: vec![
                (StatusItem::Messages, 231),
                (StatusItem::UidNext, 44292),
                (StatusItem::UidValidity, 1),
                (StatusItem::Unseen, 3),
                (StatusItem::Deleted, 0),
                (StatusItem::Size, 123456),
                (StatusItem::HighestModSeq, 9),
                (StatusItem::Recent, 0),
                (StatusItem::DeletedStorage, 12),
            ],
        },
        Response::Search {
            ids: vec![2, 84, 882],
            modseq: None,
        },
        Response::Search {
            ids: vec![2, 84],
            modseq: Some(917162500),
        },
        Response::Search {
            ids: vec![],
            modseq: None,
        },
        Response::Flags(vec![
            Flag::Answered,
            Flag::Flagged,
            Flag::Deleted,
            Flag::Seen,
            Flag::Draft,
        ]),
        Response::Exists(23),
        Response::Recent(5),
        Response::Expunge(44),
        Response::Vanished {
            earlier: true,
            uids: set.clone(),
        },
        Response::Vanished {
            earlier: false,
            uids: set,
        },
        Response::Sort {
            ids: vec![2, 3, 6],
            modseq: None,
        },
        Response::Sort {
            ids: vec![2, 3, 6],
            modseq: Some(917162500),
        },
        Response::Sort {
            ids: vec![],
            modseq: None,
        },
        Response::Thread(vec![]),
        // A thread of two messages whose common parent is missing (RFC 5256 thread-nested).
        Response::Thread(vec![super::response::Thread {
            messages: vec![],
            children: vec![
                super::response::Thread {
                    messages: vec![9],
                    children: vec![],
                },
                super::response::Thread {
                    messages: vec![10],
                    children: vec![],
                },
            ],
        }]),
        Response::Thread(vec![
            super::response::Thread {
                messages: vec![2],
                children: vec![],
            },
            super::response::Thread {
                messages: vec![3, 6],
                children: vec![
                    super::response::Thread {
                        messages: vec![4, 23],
                        children: vec![],
                    },
                    super::response::Thread {
                        messages: vec![44, 7, 96],
                        children: vec![],
                    },
                ],
            },
        ]),
        Response::Quota {
            root: "".into(),
            resources: vec![QuotaResource {
                name: "STORAGE".into(),
                usage: 10,
                limit: 512,
            }],
        },
        Response::QuotaRoot {
            mailbox: Mailbox::new("INBOX"),
            roots: vec!["".into()],
        },
        Response::Id(Some(vec![
            ("name".into(), Some("hermod".into())),
            ("vendor".into(), None),
        ])),
        Response::Id(None),
        Response::Continue("Ready for literal".into()),
        fetch_all_items(),
    ]);
    out
}

fn fetch_all_items() -> Response {
    let date = DateTime {
        date: Date {
            year: 1996,
            month: 7,
            day: 17,
        },
        hour: 2,
        minute: 44,
        second: 25,
        zone_minutes: -420,
    };
    let section = |part: Vec<u32>, text| BodyName::Section {
        section: Section { part, text },
        origin: None,
    };
    Response::Fetch {
        seq: 12,
        items: vec![
            FetchItem::Flags(vec![Flag::Seen, Flag::Keyword("NonJunk".into())]),
            FetchItem::InternalDate(date),
            FetchItem::Rfc822Size(4286),
            FetchItem::Envelope(Box::new(sample_envelope())),
            FetchItem::Body(Box::new(sample_body())),
            FetchItem::BodyStructure(Box::new(sample_body())),
            FetchItem::Uid(4827313),
            FetchItem::ModSeq(12121231000),
            FetchItem::Data {
                name: section(vec![], None),
                data: Some(b"Subject: x\r\n\r\nbody\r\n".to_vec()),
            },
            FetchItem::Data {
                name: section(
                    vec![],
                    Some(SectionText::HeaderFields(vec!["From".into(), "To".into()])),
                ),
                data: Some(b"From: a\r\n".to_vec()),
            },
            FetchItem::Data {
                name: section(vec![1, 2], Some(SectionText::Mime)),
                data: None,
            },
            FetchItem::Data {
                name: BodyName::Section {
                    section: Section {
                        part: vec![1],
                        text: None,
                    },
                    origin: Some(0),
                },
                data: Some(b"abc".to_vec()),
            },
            FetchItem::Data {
                name: BodyName::Binary {
                    part: vec![1],
                    origin: None,
                },
                data: Some(b"a\0b".to_vec()),
            },
            FetchItem::BinarySize {
                part: vec![1],
                size: 3,
            },
            FetchItem::Data {
                name: BodyName::Rfc822Header,
                data: Some(b"X: y\r\n".to_vec()),
            },
        ],
    }
}

#[test]
fn every_response_parses_with_imap_codec() {
    for utf8 in [false, true] {
        for response in responses() {
            let text = render(utf8, &response);
            // PREAUTH only exists as a greeting.
            if matches!(
                response,
                Response::Status {
                    status: Status::PreAuth,
                    ..
                }
            ) {
                let (rest, _) = GreetingCodec::default().decode(text.as_bytes()).unwrap();
                assert!(rest.is_empty());
                continue;
            }
            match ResponseCodec::default().decode(text.as_bytes()) {
                Ok((rest, _)) => assert!(rest.is_empty(), "left over after {text:?}: {rest:?}"),
                Err(e) => panic!("imap-codec rejects {text:?}: {e:?}"),
            }
        }
    }
}

/// Our decoder on `input`, continuation requests left out.
fn ours(input: &[u8]) -> Vec<Event> {
    let events = super::decoder::tests::run(Limits::default(), &[input]);
    events
        .into_iter()
        .filter(|e| *e != Event::Continue)
        .collect()
}

#[test]
fn commands_mean_the_same_after_imap_codec_reencodes_them() {
    let samples = [
        "a CAPABILITY",
        "a LOGIN alice \"p a\\\"ss\"",
        "a AUTHENTICATE PLAIN AGFsaWNlAHB3",
        "a ENABLE CONDSTORE",
        "a SELECT INBOX",
        "a EXAMINE \"Sent Items\"",
        "a SELECT INBOX (CONDSTORE)",
        "a CREATE foo/bar",
        "a DELETE foo",
        "a RENAME foo bar",
        "a SUBSCRIBE foo",
        "a LIST \"\" \"*\"",
        "a LSUB \"\" %",
        "a NAMESPACE",
        "a STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE HIGHESTMODSEQ)",
        "a IDLE",
        "a CLOSE",
        "a UNSELECT",
        "a EXPUNGE",
        "a UID EXPUNGE 1:5",
        "a SEARCH CHARSET UTF-8 OR (FROM alice SINCE 1-Feb-2024) NOT UID 5:* UNSEEN",
        "a UID SEARCH HEADER X-Spam yes LARGER 1000 KEYWORD $Junk",
        "a FETCH 1:* (FLAGS UID BODY.PEEK[HEADER.FIELDS (From To)] BODYSTRUCTURE)",
        "a UID FETCH 1,4:* (BODY[1.2.MIME] BODY.PEEK[]<0.100> RFC822.SIZE ENVELOPE INTERNALDATE)",
        "a FETCH 1 FULL",
        "a FETCH 1:2 (BINARY.PEEK[1] BINARY.SIZE[1])",
        "a UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345)",
        "a STORE 1:3 +FLAGS.SILENT (\\Seen \\Flagged)",
        "a UID STORE 7 FLAGS (\\Deleted $Junk)",
        "a COPY 1:3 Trash",
        "a UID MOVE 7 Archive",
        "a ID (\"name\" \"Thunderbird\" \"version\" \"128\")",
        "a ID NIL",
        "a GETQUOTAROOT INBOX",
        "a GETQUOTA \"\"",
        "a COMPRESS DEFLATE",
        "a SORT (REVERSE DATE) UTF-8 ALL",
        "a UID THREAD REFERENCES UTF-8 ALL",
    ];
    for line in samples {
        let input = format!("{line}\r\n");
        let expected = ours(input.as_bytes());
        assert!(
            matches!(expected.as_slice(), [Event::Command(_)]),
            "{line}: {expected:?}"
        );
        let (rest, command) = CommandCodec::default()
            .decode(input.as_bytes())
            .unwrap_or_else(|e| panic!("imap-codec rejects {line}: {e:?}"));
        assert!(rest.is_empty());
        let reencoded = CommandCodec::default().encode(&command).dump();
        assert_eq!(
            ours(&reencoded),
            expected,
            "{line} -> {}",
            String::from_utf8_lossy(&reencoded)
        );
    }
}
