use super::*;
use crate::imap::decoder::{Event, Limits};
use crate::imap::fetch::{Partial, Section, SectionText};
use crate::imap::search::{SearchKey as K, SortKey};
use crate::imap::types::{Date, SeqNum};
use crate::split::all_splits;

/// Decodes one command line through the decoder, fed in every split.
fn parse(line: &str) -> CommandBody {
    let input = format!("{line}\r\n");
    let events = all_splits(input.as_bytes(), |p| {
        crate::imap::decoder::tests::run(Limits::default(), p)
    });
    match events.as_slice() {
        [.., Event::Command(c)] => c.body.clone(),
        other => panic!("{line}: {other:?}"),
    }
}

fn mb(name: &str) -> Mailbox {
    Mailbox::new(name)
}

fn set(ranges: &[(u32, u32)]) -> SequenceSet {
    SequenceSet::Ranges(
        ranges
            .iter()
            .map(|&(a, b)| (SeqNum::Value(a), SeqNum::Value(b)))
            .collect(),
    )
}

fn star_from(n: u32) -> SequenceSet {
    SequenceSet::Ranges(vec![(SeqNum::Value(n), SeqNum::Star)])
}

#[test]
fn session_and_mailbox_commands() {
    use CommandBody as C;
    let cases = [
        ("a CAPABILITY", C::Capability),
        ("a noop", C::Noop),
        ("a LOGOUT", C::Logout),
        ("a STARTTLS", C::StartTls),
        (
            "a AUTHENTICATE plain AGFsaWNlAHB3",
            C::Authenticate {
                mechanism: "PLAIN".into(),
                initial_response: Some("AGFsaWNlAHB3".into()),
            },
        ),
        (
            "a AUTHENTICATE XOAUTH2",
            C::Authenticate {
                mechanism: "XOAUTH2".into(),
                initial_response: None,
            },
        ),
        (
            "a AUTHENTICATE PLAIN =",
            C::Authenticate {
                mechanism: "PLAIN".into(),
                initial_response: Some("=".into()),
            },
        ),
        (
            "a LOGIN alice \"pass word\"",
            C::Login {
                username: "alice".into(),
                password: "pass word".into(),
            },
        ),
        (
            "a ENABLE CONDSTORE UTF8=ACCEPT",
            C::Enable(vec!["CONDSTORE".into(), "UTF8=ACCEPT".into()]),
        ),
        (
            "a SELECT inbox",
            C::Select {
                mailbox: mb("INBOX"),
                params: SelectParams::default(),
            },
        ),
        (
            "a EXAMINE \"Sent Items\" (CONDSTORE)",
            C::Examine {
                mailbox: mb("Sent Items"),
                params: SelectParams {
                    condstore: true,
                    qresync: None,
                },
            },
        ),
        (
            "a SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541 (1,5 2,10)))",
            C::Select {
                mailbox: mb("INBOX"),
                params: SelectParams {
                    condstore: false,
                    qresync: Some(Qresync {
                        uidvalidity: 67890007,
                        modseq: 20050715194045000,
                        known_uids: Some(set(&[(41, 41), (43, 211), (214, 541)])),
                        seq_match: Some((set(&[(1, 1), (5, 5)]), set(&[(2, 2), (10, 10)]))),
                    }),
                },
            },
        ),
        (
            "a CREATE Entw&APw-rfe",
            C::Create {
                mailbox: mb("Entwürfe"),
                special_use: vec![],
            },
        ),
        (
            "a CREATE Sent (USE (\\Sent))",
            C::Create {
                mailbox: mb("Sent"),
                special_use: vec!["Sent".into()],
            },
        ),
        ("a DELETE foo", C::Delete(mb("foo"))),
        (
            "a RENAME foo {3+}\r\nbar",
            C::Rename {
                from: mb("foo"),
                to: mb("bar"),
            },
        ),
        ("a SUBSCRIBE foo", C::Subscribe(mb("foo"))),
        ("a UNSUBSCRIBE foo", C::Unsubscribe(mb("foo"))),
        (
            "a LIST \"\" *",
            C::List {
                selection: vec![],
                reference: "".into(),
                patterns: vec!["*".into()],
                returns: vec![],
            },
        ),
        (
            "a LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (INBOX% \"Other/*\") RETURN (CHILDREN SPECIAL-USE STATUS (MESSAGES UNSEEN))",
            C::List {
                selection: vec![ListSelect::Subscribed, ListSelect::RecursiveMatch],
                reference: "".into(),
                patterns: vec!["INBOX%".into(), "Other/*".into()],
                returns: vec![
                    ListReturn::Children,
                    ListReturn::SpecialUse,
                    ListReturn::Status(vec![StatusItem::Messages, StatusItem::Unseen]),
                ],
            },
        ),
        (
            "a LSUB \"\" %",
            C::Lsub {
                reference: "".into(),
                pattern: "%".into(),
            },
        ),
        ("a NAMESPACE", C::Namespace),
        (
            "a STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE HIGHESTMODSEQ APPENDLIMIT RECENT deleted-storage)",
            C::Status {
                mailbox: mb("INBOX"),
                items: vec![
                    StatusItem::Messages,
                    StatusItem::UidNext,
                    StatusItem::UidValidity,
                    StatusItem::Unseen,
                    StatusItem::Deleted,
                    StatusItem::Size,
                    StatusItem::HighestModSeq,
                    StatusItem::AppendLimit,
                    StatusItem::Recent,
                    StatusItem::DeletedStorage,
                ],
            },
        ),
        ("a IDLE", C::Idle),
        ("a CHECK", C::Check),
        ("a CLOSE", C::Close),
        ("a UNSELECT", C::Unselect),
        ("a EXPUNGE", C::Expunge),
        (
            "a UID EXPUNGE 3000:3002",
            C::UidExpunge(set(&[(3000, 3002)])),
        ),
        (
            "a ID (\"name\" \"Thunderbird\" \"version\" NIL)",
            C::Id(Some(vec![
                ("name".into(), Some("Thunderbird".into())),
                ("version".into(), None),
            ])),
        ),
        ("a ID NIL", C::Id(None)),
        ("a GETQUOTA \"\"", C::GetQuota("".into())),
        ("a GETQUOTAROOT INBOX", C::GetQuotaRoot(mb("INBOX"))),
        (
            "a SETQUOTA \"\" (STORAGE 512)",
            C::SetQuota {
                root: "".into(),
                limits: vec![("STORAGE".into(), 512)],
            },
        ),
        ("a COMPRESS DEFLATE", C::Compress("DEFLATE".into())),
    ];
    for (line, expected) in cases {
        assert_eq!(parse(line), expected, "{line}");
    }
}

#[test]
fn message_commands() {
    use CommandBody as C;
    use FetchAttr as A;
    let peek_fields = A::BodySection {
        peek: true,
        section: Section {
            part: vec![],
            text: Some(SectionText::HeaderFields(vec!["From".into(), "To".into()])),
        },
        partial: None,
    };
    let cases = [
        (
            "a FETCH 1:* (FLAGS UID RFC822.SIZE BODY.PEEK[HEADER.FIELDS (From To)])",
            C::Fetch {
                uid: false,
                set: star_from(1),
                attrs: vec![A::Flags, A::Uid, A::Rfc822Size, peek_fields],
                changed_since: None,
                vanished: false,
            },
        ),
        (
            "a UID FETCH 1,4:5 (BODY[1.2.MIME] BINARY.PEEK[1]<0.100> BINARY.SIZE[2] BODY[]<10.20>) (CHANGEDSINCE 12345 VANISHED)",
            C::Fetch {
                uid: true,
                set: set(&[(1, 1), (4, 5)]),
                attrs: vec![
                    A::BodySection {
                        peek: false,
                        section: Section {
                            part: vec![1, 2],
                            text: Some(SectionText::Mime),
                        },
                        partial: None,
                    },
                    A::Binary {
                        peek: true,
                        part: vec![1],
                        partial: Some(Partial {
                            origin: 0,
                            length: 100,
                        }),
                    },
                    A::BinarySize { part: vec![2] },
                    A::BodySection {
                        peek: false,
                        section: Section::default(),
                        partial: Some(Partial {
                            origin: 10,
                            length: 20,
                        }),
                    },
                ],
                changed_since: Some(12345),
                vanished: true,
            },
        ),
        (
            "a FETCH $ FULL",
            C::Fetch {
                uid: false,
                set: SequenceSet::Saved,
                attrs: vec![
                    A::Flags,
                    A::InternalDate,
                    A::Rfc822Size,
                    A::Envelope,
                    A::Body,
                ],
                changed_since: None,
                vanished: false,
            },
        ),
        (
            "a FETCH 2 BODYSTRUCTURE",
            C::Fetch {
                uid: false,
                set: set(&[(2, 2)]),
                attrs: vec![A::BodyStructure],
                changed_since: None,
                vanished: false,
            },
        ),
        (
            "a UID STORE 1:3 (UNCHANGEDSINCE 9) +FLAGS.SILENT (\\Seen $Junk)",
            C::Store {
                uid: true,
                set: set(&[(1, 3)]),
                unchanged_since: Some(9),
                mode: StoreMode::Add,
                silent: true,
                flags: vec![Flag::Seen, Flag::Keyword("$Junk".into())],
            },
        ),
        (
            "a STORE 1 -FLAGS \\Deleted",
            C::Store {
                uid: false,
                set: set(&[(1, 1)]),
                unchanged_since: None,
                mode: StoreMode::Remove,
                silent: false,
                flags: vec![Flag::Deleted],
            },
        ),
        (
            "a UID COPY 1:* Trash",
            C::Copy {
                uid: true,
                set: star_from(1),
                mailbox: mb("Trash"),
            },
        ),
        (
            "a UID MOVE 7 \"Deleted Items\"",
            C::Move {
                uid: true,
                set: set(&[(7, 7)]),
                mailbox: mb("Deleted Items"),
            },
        ),
        (
            "a MOVE 7 x",
            C::Move {
                uid: false,
                set: set(&[(7, 7)]),
                mailbox: mb("x"),
            },
        ),
        (
            "a SORT (REVERSE DATE SUBJECT) UTF-8 UNSEEN",
            C::Sort {
                uid: false,
                criteria: vec![
                    SortCriterion {
                        reverse: true,
                        key: SortKey::Date,
                    },
                    SortCriterion {
                        reverse: false,
                        key: SortKey::Subject,
                    },
                ],
                charset: "UTF-8".into(),
                search: K::Unseen,
            },
        ),
        (
            "a UID THREAD references US-ASCII ALL",
            C::Thread {
                uid: true,
                algorithm: "REFERENCES".into(),
                charset: "US-ASCII".into(),
                search: K::All,
            },
        ),
    ];
    for (line, expected) in cases {
        assert_eq!(parse(line), expected, "{line}");
    }
}

#[test]
fn search_keys() {
    let date = Date {
        year: 2024,
        month: 2,
        day: 1,
    };
    let cases = [
        ("a SEARCH ALL", None, None, K::All),
        (
            "a UID SEARCH RETURN (MIN COUNT SAVE) CHARSET UTF-8 UNDELETED SUBJECT {5+}\r\nJörg",
            Some(vec![
                SearchReturn::Min,
                SearchReturn::Count,
                SearchReturn::Save,
            ]),
            Some("UTF-8"),
            K::And(vec![K::Undeleted, K::Subject("Jörg".as_bytes().to_vec())]),
        ),
        (
            "a SEARCH RETURN () 1:5",
            Some(vec![]),
            None,
            K::SequenceSet(set(&[(1, 5)])),
        ),
        (
            "a SEARCH OR (FROM alice SINCE 1-Feb-2024) NOT (UID 5:* LARGER 100) HEADER X-Spam yes",
            None,
            None,
            K::And(vec![
                K::Or(
                    Box::new(K::And(vec![K::From(b"alice".to_vec()), K::Since(date)])),
                    Box::new(K::Not(Box::new(K::And(vec![
                        K::Uid(star_from(5)),
                        K::Larger(100),
                    ])))),
                ),
                K::Header("X-Spam".into(), b"yes".to_vec()),
            ]),
        ),
        (
            "a SEARCH MODSEQ \"/flags/\\\\draft\" all 620162338 KEYWORD $Junk BEFORE \"01-Feb-2024\" YOUNGER 60",
            None,
            None,
            K::And(vec![
                K::ModSeq {
                    entry: Some(("/flags/\\draft".into(), "all".into())),
                    modseq: 620162338,
                },
                K::Keyword("$Junk".into()),
                K::Before(date),
                K::Younger(60),
            ]),
        ),
        ("a SEARCH $", None, None, K::SequenceSet(SequenceSet::Saved)),
    ];
    for (line, returns, charset, criteria) in cases {
        let expected = CommandBody::Search {
            uid: line.starts_with("a UID"),
            charset: charset.map(Into::into),
            returns,
            criteria,
        };
        assert_eq!(parse(line), expected, "{line}");
    }
}

#[test]
fn rejects_malformed_commands() {
    let nested = format!("a SEARCH {}ALL", "NOT ".repeat(100));
    for line in [
        "a",
        "a ",
        "a NOOP x",
        "a LOGIN alice",
        "a SELECT",
        "a SELECT INBOX (FOO)",
        "a FETCH 0 FLAGS",
        "a FETCH 1 (FLAGS",
        "a FETCH 1 BODY[HEADER",
        "a FETCH 1 BODY[MIME]",
        "a FETCH 1 (FLAGS) (VANISHED)",
        "a FETCH 1 UID (CHANGEDSINCE 1 VANISHED)",
        "a STORE 1 FLAGS",
        "a STORE 1 XFLAGS (\\Seen)",
        "a SEARCH",
        "a SEARCH FOO",
        "a SEARCH SINCE 32-Feb-2024",
        "a SEARCH OR ALL",
        nested.as_str(),
        "a LIST \"\"",
        "a STATUS INBOX ()",
        "a UID FOO 1",
        "a LOGIN \"a\\b\" c",
        "a COPY 1:2",
    ] {
        assert!(parse_command(line.as_bytes(), false).is_err(), "{line}");
    }
    // Broken modified UTF-7 is well formed: the name is kept, marked as naming nothing,
    // and a LIST pattern in it is taken as written.
    let broken = parse_command(b"a CREATE &AGE-", false).unwrap();
    let CommandBody::Create { mailbox, .. } = broken.body else {
        panic!("{broken:?}")
    };
    assert_eq!((mailbox.as_str(), mailbox.is_decoded()), ("&AGE-", false));
    let CommandBody::Select { mailbox, .. } = parse("a SELECT a&'b").clone() else {
        panic!("select")
    };
    assert!(!mailbox.is_decoded());
    assert!(mb("&AGE-").is_decoded(), "only the decoder marks names");
    let CommandBody::List { patterns, .. } = parse("a LIST \"\" a&'%") else {
        panic!("list")
    };
    assert_eq!(patterns, ["a&'%"]);
    // UTF8=ACCEPT: names are taken as UTF-8, `&` included.
    let utf8 = parse_command(b"a SELECT Tom&Jerry", true).unwrap();
    assert_eq!(
        utf8.body,
        CommandBody::Select {
            mailbox: mb("Tom&Jerry"),
            params: SelectParams::default()
        }
    );
}
