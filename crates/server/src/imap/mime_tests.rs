use super::*;

const MIXED: &[u8] = b"From: Ann <ann@example.test>\r\n\
To: bob@example.test, \"C. Dee\" <c@example.test>\r\n\
Subject: parts\r\n\
Message-ID: <m1@example.test>\r\n\
Content-Type: multipart/mixed; boundary=\"XX\"\r\n\
\r\n\
preamble\r\n\
--XX\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
hello\r\nworld\r\n\
--XX\r\n\
Content-Type: message/rfc822\r\n\
\r\n\
Subject: inner\r\n\
\r\n\
inner body\r\n\
--XX--\r\n\
epilogue\r\n";

fn sec(part: &[u32], text: Option<SectionText>) -> Section {
    Section {
        part: part.to_vec(),
        text,
    }
}

fn get(part: &[u32], text: Option<SectionText>) -> Option<String> {
    let root = parse(MIXED);
    section(MIXED, &root, &sec(part, text)).map(|b| String::from_utf8(b).unwrap())
}

#[test]
fn sections_name_the_right_octets() {
    assert_eq!(get(&[], None).unwrap().len(), MIXED.len());
    assert!(
        get(&[], Some(SectionText::Header))
            .unwrap()
            .ends_with("\"XX\"\r\n\r\n")
    );
    assert!(
        get(&[], Some(SectionText::Text))
            .unwrap()
            .starts_with("preamble")
    );
    assert_eq!(get(&[1], None).unwrap(), "hello\r\nworld");
    assert_eq!(
        get(&[1], Some(SectionText::Mime)).unwrap(),
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
    );
    assert_eq!(get(&[2], None).unwrap(), "Subject: inner\r\n\r\ninner body");
    assert_eq!(
        get(&[2], Some(SectionText::Header)).unwrap(),
        "Subject: inner\r\n\r\n"
    );
    assert_eq!(get(&[2, 1], None).unwrap(), "inner body");
    assert_eq!(get(&[3], None), None);
    let fields = SectionText::HeaderFields(vec!["subject".into(), "TO".into()]);
    assert_eq!(
        get(&[], Some(fields)).unwrap(),
        "To: bob@example.test, \"C. Dee\" <c@example.test>\r\nSubject: parts\r\n\r\n"
    );
}

#[test]
fn a_plain_message_is_its_own_part_one() {
    let raw = b"Subject: x\r\n\r\nbody\r\n";
    let root = parse(raw);
    assert_eq!(section(raw, &root, &sec(&[1], None)).unwrap(), b"body\r\n");
    let BodyStructure::Single {
        media_type,
        subtype,
        fields,
        kind,
        ..
    } = structure(raw, &root)
    else {
        panic!("single part")
    };
    assert_eq!((media_type.as_str(), subtype.as_str()), ("text", "plain"));
    assert_eq!((fields.size, fields.encoding.as_str()), (6, "7bit"));
    assert_eq!(kind, SingleKind::Text { lines: 1 });
}

#[test]
fn structure_and_envelope_of_a_multipart_message() {
    let root = parse(MIXED);
    let BodyStructure::Multi { parts, subtype, .. } = structure(MIXED, &root) else {
        panic!("multipart")
    };
    assert_eq!((subtype.as_str(), parts.len()), ("mixed", 2));
    assert!(matches!(
        &parts[1],
        BodyStructure::Single {
            kind: SingleKind::Message { .. },
            ..
        }
    ));
    let env = envelope(MIXED, &root);
    assert_eq!(env.subject.as_deref(), Some(&b"parts"[..]));
    assert_eq!(env.from[0].mailbox.as_deref(), Some(&b"ann"[..]));
    assert_eq!(env.from[0].name.as_deref(), Some(&b"Ann"[..]));
    assert_eq!(env.sender, env.from, "Sender defaults to From");
    assert_eq!(env.to.len(), 2);
    assert_eq!(env.to[1].host.as_deref(), Some(&b"example.test"[..]));
    assert_eq!(env.message_id.as_deref(), Some(&b"<m1@example.test>"[..]));
    assert_eq!(env.cc, Vec::new());
}

/// A message whose whole body is another message, itself a digest of two messages.
const FORWARDED: &[u8] = b"From: outer@example.test\r\n\
Content-Type: message/rfc822\r\n\
\r\n\
From: inner@example.test\r\n\
Subject: digest\r\n\
Content-Type: multipart/digest; boundary=\"d\"\r\n\
\r\n\
--d\r\n\
\r\n\
Subject: first\r\n\
\r\n\
first body\r\n\
--d\r\n\
X-Part: two\r\n\
\r\n\
Subject: second\r\n\
\r\n\
second body\r\n\
--d--\r\n";

#[test]
fn a_message_rfc822_message_has_the_enclosed_message_as_part_one() {
    let root = parse(FORWARDED);
    let get = |part: &[u32], text| {
        let octets = section(FORWARDED, &root, &sec(part, text)).unwrap();
        String::from_utf8(octets).unwrap()
    };
    let enclosed = get(&[1], None);
    assert!(
        enclosed.starts_with("From: inner@example.test\r\n") && enclosed.ends_with("--d--\r\n"),
        "{enclosed}"
    );
    assert!(get(&[1], Some(SectionText::Header)).starts_with("From: inner"));
    assert!(get(&[1], Some(SectionText::Text)).starts_with("--d\r\n"));
    // Part 1.1 is the digest's first part, a message/rfc822 without MIME header fields.
    assert_eq!(get(&[1, 1], None), "Subject: first\r\n\r\nfirst body");
    assert_eq!(get(&[1, 1], Some(SectionText::Mime)), "\r\n");
    assert_eq!(
        get(&[1, 1], Some(SectionText::Header)),
        "Subject: first\r\n\r\n"
    );
    assert_eq!(get(&[1, 1], Some(SectionText::Text)), "first body");
    assert_eq!(get(&[1, 2], Some(SectionText::Mime)), "X-Part: two\r\n\r\n");
    assert_eq!(get(&[1, 2, 1], None), "second body");
}

/// `(name adl mailbox host)` of each address, `-` for NIL.
fn shown(list: &[Address]) -> Vec<String> {
    let text = |v: &Option<Vec<u8>>| match v {
        Some(b) => String::from_utf8_lossy(b).into_owned(),
        None => "-".into(),
    };
    list.iter()
        .map(|a| [&a.name, &a.adl, &a.mailbox, &a.host].map(text).join(" "))
        .collect()
}

#[test]
fn an_envelope_holds_the_addresses_and_no_comments() {
    let groups = addresses_in(b"group:;, group2: (foo) ;");
    assert_eq!(
        shown(&groups),
        ["- - group -", "- - - -", "- - group2 -", "- - - -"],
        "a comment alone in a group is no member"
    );
    let list = addresses_in(b"a@b.example, (note), c@d.example (Cee)");
    assert_eq!(
        shown(&list),
        ["- - a b.example", "Cee - c d.example"],
        "a comment after an address is its name; alone it is nothing"
    );
    let phrase = addresses_in(b"Real Name");
    assert_eq!(
        shown(&phrase),
        ["Real Name -  "],
        "a phrase is kept as before"
    );
    let routed = addresses_in(b"<@route:user@domain>");
    assert_eq!(shown(&routed), ["- @route user domain"]);
    assert_eq!(
        without_comments(b"a (b (c) \\) d) \"(e)\" f"),
        b"a  \"(e)\" f"
    );
}
