//! FETCH attributes (RFC 9051 6.4.5, BINARY RFC 3516, CONDSTORE/QRESYNC RFC 7162).

use super::lexer::{PResult, Parser, Syntax};

/// The text part of a section: `HEADER`, `HEADER.FIELDS (...)`, `TEXT`, `MIME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionText {
    Header,
    HeaderFields(Vec<String>),
    HeaderFieldsNot(Vec<String>),
    Text,
    /// Only after a part number.
    Mime,
}

/// `BODY[1.2.HEADER]`: the part path (empty for the whole message) and what of it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Section {
    pub part: Vec<u32>,
    pub text: Option<SectionText>,
}

/// `<origin.length>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partial {
    pub origin: u32,
    pub length: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchAttr {
    Envelope,
    Flags,
    InternalDate,
    Rfc822Size,
    /// rev1: `RFC822` (= `BODY[]`), `RFC822.HEADER` (= `BODY.PEEK[HEADER]`), `RFC822.TEXT`.
    Rfc822,
    Rfc822Header,
    Rfc822Text,
    /// `BODY` without a section: the structure without extension data.
    Body,
    BodyStructure,
    Uid,
    ModSeq,
    BodySection {
        peek: bool,
        section: Section,
        partial: Option<Partial>,
    },
    Binary {
        peek: bool,
        part: Vec<u32>,
        partial: Option<Partial>,
    },
    BinarySize {
        part: Vec<u32>,
    },
}

/// The attributes, with the macros `ALL`, `FAST` and `FULL` expanded.
pub fn fetch_attrs(p: &mut Parser) -> PResult<Vec<FetchAttr>> {
    use FetchAttr as A;
    if p.peek() == Some(b'(') {
        return p.list(false, fetch_attr);
    }
    let fast = [A::Flags, A::InternalDate, A::Rfc822Size];
    if p.keyword("ALL") {
        return Ok([&fast[..], &[A::Envelope]].concat());
    }
    if p.keyword("FAST") {
        return Ok(fast.to_vec());
    }
    if p.keyword("FULL") {
        return Ok([&fast[..], &[A::Envelope, A::Body]].concat());
    }
    Ok(vec![fetch_attr(p)?])
}

/// The attribute name: letters, digits and dots, up to `[`, `<`, SP or `)`.
fn attr_name(p: &mut Parser) -> PResult<String> {
    let start = p.rest();
    while p
        .peek()
        .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'.')
    {
        p.pos += 1;
    }
    let len = start.len() - p.rest().len();
    if len == 0 {
        return Err(Syntax("expected a fetch attribute"));
    }
    Ok(String::from_utf8_lossy(&start[..len]).to_ascii_uppercase())
}

pub fn fetch_attr(p: &mut Parser) -> PResult<FetchAttr> {
    use FetchAttr as A;
    let word_text = attr_name(p)?;
    Ok(match word_text.as_str() {
        "ENVELOPE" => A::Envelope,
        "FLAGS" => A::Flags,
        "INTERNALDATE" => A::InternalDate,
        "RFC822.SIZE" => A::Rfc822Size,
        "RFC822" => A::Rfc822,
        "RFC822.HEADER" => A::Rfc822Header,
        "RFC822.TEXT" => A::Rfc822Text,
        "BODYSTRUCTURE" => A::BodyStructure,
        "UID" => A::Uid,
        "MODSEQ" => A::ModSeq,
        "BODY" if p.peek() != Some(b'[') => A::Body,
        "BODY" | "BODY.PEEK" => A::BodySection {
            peek: word_text == "BODY.PEEK",
            section: section(p)?,
            partial: partial(p)?,
        },
        "BINARY" | "BINARY.PEEK" => A::Binary {
            peek: word_text == "BINARY.PEEK",
            part: binary_part(p)?,
            partial: partial(p)?,
        },
        "BINARY.SIZE" => A::BinarySize {
            part: binary_part(p)?,
        },
        _ => return Err(Syntax("unknown fetch attribute")),
    })
}

fn part_path(p: &mut Parser) -> PResult<Vec<u32>> {
    let mut part = Vec::new();
    while p.peek().is_some_and(|b| b.is_ascii_digit()) {
        part.push(p.nz_number()?);
        // A dot either continues the path or leads to the section text.
        if !(p.rest().len() >= 2 && p.rest()[0] == b'.' && p.rest()[1].is_ascii_digit()) {
            break;
        }
        p.pos += 1;
    }
    Ok(part)
}

fn binary_part(p: &mut Parser) -> PResult<Vec<u32>> {
    p.expect(b'[', "expected [")?;
    let part = part_path(p)?;
    p.expect(b']', "expected ]")?;
    Ok(part)
}

pub fn section(p: &mut Parser) -> PResult<Section> {
    p.expect(b'[', "expected [")?;
    let part = part_path(p)?;
    if !part.is_empty() && !p.eat(b'.') {
        p.expect(b']', "expected ]")?;
        return Ok(Section { part, text: None });
    }
    if p.eat(b']') {
        return Ok(Section { part, text: None });
    }
    let start = p.rest();
    while p
        .peek()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'.')
    {
        p.pos += 1;
    }
    let word = String::from_utf8_lossy(&start[..start.len() - p.rest().len()]).to_ascii_uppercase();
    let text = match word.as_str() {
        "HEADER" => SectionText::Header,
        "TEXT" => SectionText::Text,
        "MIME" if !part.is_empty() => SectionText::Mime,
        "HEADER.FIELDS" | "HEADER.FIELDS.NOT" => {
            p.sp()?;
            let names = p.list(false, Parser::astring_utf8)?;
            if word == "HEADER.FIELDS" {
                SectionText::HeaderFields(names)
            } else {
                SectionText::HeaderFieldsNot(names)
            }
        }
        _ => return Err(Syntax("bad section")),
    };
    p.expect(b']', "expected ]")?;
    Ok(Section {
        part,
        text: Some(text),
    })
}

fn partial(p: &mut Parser) -> PResult<Option<Partial>> {
    if !p.eat(b'<') {
        return Ok(None);
    }
    let origin = p.number()?;
    p.expect(b'.', "bad partial")?;
    let length = p.nz_number()?;
    p.expect(b'>', "bad partial")?;
    Ok(Some(Partial { origin, length }))
}

/// FETCH modifiers: `(CHANGEDSINCE n [VANISHED])` (RFC 7162 3.1.4, 3.2.6).
pub fn fetch_modifiers(p: &mut Parser) -> PResult<(Option<u64>, bool)> {
    let (mut since, mut vanished) = (None, false);
    p.list(false, |p| {
        if p.keyword("CHANGEDSINCE") {
            p.sp()?;
            since = Some(p.number64()?);
        } else if p.keyword("VANISHED") {
            vanished = true;
        } else {
            return Err(Syntax("unknown FETCH modifier"));
        }
        Ok(())
    })?;
    if vanished && since.is_none() {
        return Err(Syntax("VANISHED needs CHANGEDSINCE"));
    }
    Ok((since, vanished))
}
