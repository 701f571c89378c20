//! SEARCH keys (RFC 9051 6.4.4, CONDSTORE's MODSEQ, WITHIN's OLDER/YOUNGER), ESEARCH
//! return options (RFC 4731, SEARCHRES RFC 5182) and SORT/THREAD criteria (RFC 5256).

use super::lexer::{PResult, Parser, Syntax};
use super::types::{Date, SequenceSet};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchKey {
    All,
    Answered,
    Bcc(Vec<u8>),
    Before(Date),
    Body(Vec<u8>),
    Cc(Vec<u8>),
    Deleted,
    Draft,
    Flagged,
    From(Vec<u8>),
    Header(String, Vec<u8>),
    Keyword(String),
    Larger(u64),
    /// rev1 only: `\Recent` and not `\Seen`.
    New,
    Not(Box<SearchKey>),
    Old,
    On(Date),
    Or(Box<SearchKey>, Box<SearchKey>),
    Recent,
    Seen,
    SentBefore(Date),
    SentOn(Date),
    SentSince(Date),
    Since(Date),
    Smaller(u64),
    Subject(Vec<u8>),
    Text(Vec<u8>),
    To(Vec<u8>),
    Uid(SequenceSet),
    Unanswered,
    Undeleted,
    Undraft,
    Unflagged,
    Unkeyword(String),
    Unseen,
    SequenceSet(SequenceSet),
    /// A parenthesised list, or the top-level keys: all must match.
    And(Vec<SearchKey>),
    /// RFC 7162 3.1.5: the entry name and type (`"/flags/\\seen" all`) are kept as text.
    ModSeq {
        entry: Option<(String, String)>,
        modseq: u64,
    },
    /// RFC 5032: received at least / at most this many seconds ago.
    Older(u32),
    Younger(u32),
}

/// ESEARCH `RETURN (...)` options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchReturn {
    Min,
    Max,
    All,
    Count,
    Save,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Arrival,
    Cc,
    Date,
    From,
    Size,
    Subject,
    To,
    /// RFC 5957 DISPLAYFROM / DISPLAYTO.
    DisplayFrom,
    DisplayTo,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortCriterion {
    pub reverse: bool,
    pub key: SortKey,
}

/// How deep nested keys may go: `NOT NOT NOT ...` must not blow the stack.
const MAX_DEPTH: usize = 32;

/// `[CHARSET x] key *(SP key)` up to the end of the command. Keys apply with AND.
pub fn search_program(p: &mut Parser) -> PResult<(Option<String>, SearchKey)> {
    let mut charset = None;
    if p.keyword("CHARSET") {
        p.sp()?;
        charset = Some(p.astring_utf8()?);
        p.sp()?;
    }
    let mut keys = vec![search_key(p, 0)?];
    while !p.at_end() {
        p.sp()?;
        keys.push(search_key(p, 0)?);
    }
    Ok((charset, flatten(keys)))
}

fn flatten(mut keys: Vec<SearchKey>) -> SearchKey {
    if keys.len() == 1 {
        keys.remove(0)
    } else {
        SearchKey::And(keys)
    }
}

/// `RETURN (MIN MAX ...)` after SEARCH; an empty list means ALL (RFC 4731 3.1).
pub fn search_returns(p: &mut Parser) -> PResult<Vec<SearchReturn>> {
    p.list(true, |p| {
        let word = p.atom()?.to_ascii_uppercase();
        Ok(match word.as_str() {
            "MIN" => SearchReturn::Min,
            "MAX" => SearchReturn::Max,
            "ALL" => SearchReturn::All,
            "COUNT" => SearchReturn::Count,
            "SAVE" => SearchReturn::Save,
            _ => return Err(Syntax("unknown SEARCH RETURN option")),
        })
    })
}

fn astring_key(p: &mut Parser, make: fn(Vec<u8>) -> SearchKey) -> PResult<SearchKey> {
    p.sp()?;
    Ok(make(p.astring()?))
}

fn date_key(p: &mut Parser, make: fn(Date) -> SearchKey) -> PResult<SearchKey> {
    p.sp()?;
    Ok(make(p.date()?))
}

pub fn search_key(p: &mut Parser, depth: usize) -> PResult<SearchKey> {
    use SearchKey as K;
    if depth > MAX_DEPTH {
        return Err(Syntax("search keys nested too deep"));
    }
    match p.peek() {
        Some(b'(') => return p.list(false, |p| search_key(p, depth + 1)).map(K::And),
        Some(b'0'..=b'9' | b'*' | b'$') => return p.sequence_set().map(K::SequenceSet),
        _ => {}
    }
    let word = p.atom()?.to_ascii_uppercase();
    let key = match word.as_str() {
        "ALL" => K::All,
        "ANSWERED" => K::Answered,
        "BCC" => astring_key(p, K::Bcc)?,
        "BEFORE" => date_key(p, K::Before)?,
        "BODY" => astring_key(p, K::Body)?,
        "CC" => astring_key(p, K::Cc)?,
        "DELETED" => K::Deleted,
        "DRAFT" => K::Draft,
        "FLAGGED" => K::Flagged,
        "FROM" => astring_key(p, K::From)?,
        "HEADER" => {
            p.sp()?;
            let name = p.astring_utf8()?;
            p.sp()?;
            K::Header(name, p.astring()?)
        }
        "KEYWORD" | "UNKEYWORD" => {
            p.sp()?;
            let flag = p.atom()?.to_owned();
            if word == "KEYWORD" {
                K::Keyword(flag)
            } else {
                K::Unkeyword(flag)
            }
        }
        "LARGER" | "SMALLER" => {
            p.sp()?;
            let n = p.number64()?;
            if word == "LARGER" {
                K::Larger(n)
            } else {
                K::Smaller(n)
            }
        }
        "NEW" => K::New,
        "NOT" => {
            p.sp()?;
            K::Not(Box::new(search_key(p, depth + 1)?))
        }
        "OLD" => K::Old,
        "ON" => date_key(p, K::On)?,
        "OR" => {
            p.sp()?;
            let a = search_key(p, depth + 1)?;
            p.sp()?;
            K::Or(Box::new(a), Box::new(search_key(p, depth + 1)?))
        }
        "RECENT" => K::Recent,
        "SEEN" => K::Seen,
        "SENTBEFORE" => date_key(p, K::SentBefore)?,
        "SENTON" => date_key(p, K::SentOn)?,
        "SENTSINCE" => date_key(p, K::SentSince)?,
        "SINCE" => date_key(p, K::Since)?,
        "SUBJECT" => astring_key(p, K::Subject)?,
        "TEXT" => astring_key(p, K::Text)?,
        "TO" => astring_key(p, K::To)?,
        "UID" => {
            p.sp()?;
            K::Uid(p.sequence_set()?)
        }
        "UNANSWERED" => K::Unanswered,
        "UNDELETED" => K::Undeleted,
        "UNDRAFT" => K::Undraft,
        "UNFLAGGED" => K::Unflagged,
        "UNSEEN" => K::Unseen,
        "MODSEQ" => modseq_key(p)?,
        "OLDER" | "YOUNGER" => {
            p.sp()?;
            let n = p.nz_number()?;
            if word == "OLDER" {
                K::Older(n)
            } else {
                K::Younger(n)
            }
        }
        _ => return Err(Syntax("unknown search key")),
    };
    Ok(key)
}

/// `MODSEQ [entry-name SP entry-type-req] SP mod-sequence-valzer`.
fn modseq_key(p: &mut Parser) -> PResult<SearchKey> {
    p.sp()?;
    let mut entry = None;
    if p.peek() == Some(b'"') {
        let name = String::from_utf8(p.quoted()?).map_err(|_| Syntax("bad entry name"))?;
        p.sp()?;
        let kind = p.atom()?.to_ascii_lowercase();
        if !["priv", "shared", "all"].contains(&kind.as_str()) {
            return Err(Syntax("bad MODSEQ entry type"));
        }
        p.sp()?;
        entry = Some((name, kind));
    }
    Ok(SearchKey::ModSeq {
        entry,
        modseq: p.number64()?,
    })
}

pub fn sort_criteria(p: &mut Parser) -> PResult<Vec<SortCriterion>> {
    p.list(false, |p| {
        let reverse = p.keyword("REVERSE");
        if reverse {
            p.sp()?;
        }
        let key = match p.atom()?.to_ascii_uppercase().as_str() {
            "ARRIVAL" => SortKey::Arrival,
            "CC" => SortKey::Cc,
            "DATE" => SortKey::Date,
            "FROM" => SortKey::From,
            "SIZE" => SortKey::Size,
            "SUBJECT" => SortKey::Subject,
            "TO" => SortKey::To,
            "DISPLAYFROM" => SortKey::DisplayFrom,
            "DISPLAYTO" => SortKey::DisplayTo,
            _ => return Err(Syntax("unknown sort key")),
        };
        Ok(SortCriterion { reverse, key })
    })
}

/// SORT and THREAD take a charset without the CHARSET keyword, then the keys.
pub fn charset_and_keys(p: &mut Parser) -> PResult<(String, SearchKey)> {
    let charset = p.astring_utf8()?;
    p.sp()?;
    let mut keys = vec![search_key(p, 0)?];
    while !p.at_end() {
        p.sp()?;
        keys.push(search_key(p, 0)?);
    }
    Ok((charset, flatten(keys)))
}
