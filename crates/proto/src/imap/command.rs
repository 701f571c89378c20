//! Typed commands and their grammar (RFC 9051 6, with the RFC 3501 and extension commands
//! IMAP clients use). APPEND is not here: its message literals stream through the decoder.

use super::fetch::{FetchAttr, fetch_attrs, fetch_modifiers};
use super::lexer::{PResult, Parser, Syntax};
use super::search::{
    SearchKey, SearchReturn, SortCriterion, charset_and_keys, search_program, search_returns,
    sort_criteria,
};
use super::types::{Flag, Mailbox, SequenceSet};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub tag: String,
    pub body: CommandBody,
}

/// SELECT/EXAMINE parameters (RFC 7162 3.1.8 CONDSTORE, 3.2.5 QRESYNC).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SelectParams {
    pub condstore: bool,
    pub qresync: Option<Qresync>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Qresync {
    pub uidvalidity: u32,
    pub modseq: u64,
    pub known_uids: Option<SequenceSet>,
    /// Known sequence numbers and the UIDs they map to.
    pub seq_match: Option<(SequenceSet, SequenceSet)>,
}

/// LIST-EXTENDED selection options (RFC 5258 3.1, RFC 6154 SPECIAL-USE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListSelect {
    Subscribed,
    Remote,
    RecursiveMatch,
    SpecialUse,
}

/// LIST RETURN options (RFC 5258 3.2, RFC 5819 LIST-STATUS, RFC 6154).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListReturn {
    Subscribed,
    Children,
    SpecialUse,
    Status(Vec<StatusItem>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusItem {
    Messages,
    UidNext,
    UidValidity,
    Unseen,
    Deleted,
    Size,
    HighestModSeq,
    AppendLimit,
    Recent,
    /// RFC 9208 4.2: octets (in KiB) an EXPUNGE would free.
    DeletedStorage,
}

impl StatusItem {
    pub fn name(self) -> &'static str {
        match self {
            StatusItem::Messages => "MESSAGES",
            StatusItem::UidNext => "UIDNEXT",
            StatusItem::UidValidity => "UIDVALIDITY",
            StatusItem::Unseen => "UNSEEN",
            StatusItem::Deleted => "DELETED",
            StatusItem::Size => "SIZE",
            StatusItem::HighestModSeq => "HIGHESTMODSEQ",
            StatusItem::AppendLimit => "APPENDLIMIT",
            StatusItem::Recent => "RECENT",
            StatusItem::DeletedStorage => "DELETED-STORAGE",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreMode {
    Replace,
    Add,
    Remove,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandBody {
    Capability,
    Noop,
    Logout,
    StartTls,
    /// The mechanism in upper case; `initial_response` is the SASL-IR text as sent (`=`
    /// means an empty response, RFC 4959).
    Authenticate {
        mechanism: String,
        initial_response: Option<String>,
    },
    Login {
        username: String,
        password: String,
    },
    Enable(Vec<String>),
    Select {
        mailbox: Mailbox,
        params: SelectParams,
    },
    Examine {
        mailbox: Mailbox,
        params: SelectParams,
    },
    Create {
        mailbox: Mailbox,
        /// RFC 6154 CREATE-SPECIAL-USE: `USE (\Sent)`, names without the backslash.
        special_use: Vec<String>,
    },
    Delete(Mailbox),
    Rename {
        from: Mailbox,
        to: Mailbox,
    },
    Subscribe(Mailbox),
    Unsubscribe(Mailbox),
    List {
        selection: Vec<ListSelect>,
        reference: String,
        patterns: Vec<String>,
        returns: Vec<ListReturn>,
    },
    Lsub {
        reference: String,
        pattern: String,
    },
    Namespace,
    Status {
        mailbox: Mailbox,
        items: Vec<StatusItem>,
    },
    Idle,
    Check,
    Close,
    Unselect,
    Expunge,
    UidExpunge(SequenceSet),
    Search {
        uid: bool,
        charset: Option<String>,
        /// `None`: a rev1 SEARCH answered with `* SEARCH`; `Some`: ESEARCH.
        returns: Option<Vec<SearchReturn>>,
        criteria: SearchKey,
    },
    Fetch {
        uid: bool,
        set: SequenceSet,
        attrs: Vec<FetchAttr>,
        changed_since: Option<u64>,
        vanished: bool,
    },
    Store {
        uid: bool,
        set: SequenceSet,
        unchanged_since: Option<u64>,
        mode: StoreMode,
        silent: bool,
        flags: Vec<Flag>,
    },
    Copy {
        uid: bool,
        set: SequenceSet,
        mailbox: Mailbox,
    },
    Move {
        uid: bool,
        set: SequenceSet,
        mailbox: Mailbox,
    },
    Sort {
        uid: bool,
        criteria: Vec<SortCriterion>,
        charset: String,
        search: SearchKey,
    },
    Thread {
        uid: bool,
        /// `REFERENCES`, `ORDEREDSUBJECT` or another algorithm, upper case.
        algorithm: String,
        charset: String,
        search: SearchKey,
    },
    /// RFC 2971: `NIL` or field/value pairs.
    Id(Option<Vec<(String, Option<String>)>>),
    GetQuota(String),
    GetQuotaRoot(Mailbox),
    SetQuota {
        root: String,
        limits: Vec<(String, u64)>,
    },
    /// RFC 4978: the mechanism, upper case (`DEFLATE`).
    Compress(String),
}

/// Parses one whole command (literals inline, final CRLF cut off). On error the tag is
/// given when it could be read, so the server can answer a tagged BAD.
pub fn parse_command(buf: &[u8], utf8: bool) -> Result<Command, (Option<String>, Syntax)> {
    let mut p = Parser::new(buf, utf8);
    let tag = p.tag().map_err(|e| (None, e))?.to_owned();
    let body = (|| {
        p.sp()?;
        let body = command_body(&mut p)?;
        p.end()?;
        Ok(body)
    })();
    match body {
        Ok(body) => Ok(Command { tag, body }),
        Err(e) => Err((Some(tag), e)),
    }
}

fn command_body(p: &mut Parser) -> PResult<CommandBody> {
    use CommandBody as C;
    let word = p.atom()?.to_ascii_uppercase();
    Ok(match word.as_str() {
        "CAPABILITY" => C::Capability,
        "NOOP" => C::Noop,
        "LOGOUT" => C::Logout,
        "STARTTLS" => C::StartTls,
        "AUTHENTICATE" => authenticate(p)?,
        "LOGIN" => {
            p.sp()?;
            let username = p.astring_utf8()?;
            p.sp()?;
            C::Login {
                username,
                password: p.astring_utf8()?,
            }
        }
        "ENABLE" => C::Enable(atoms(p)?),
        "SELECT" | "EXAMINE" | "CREATE" | "DELETE" | "RENAME" | "SUBSCRIBE" | "UNSUBSCRIBE"
        | "LIST" | "LSUB" | "NAMESPACE" | "STATUS" => mailbox_command(p, &word)?,
        "APPEND" => return Err(Syntax("APPEND needs a message literal")),
        "IDLE" => C::Idle,
        "CHECK" => C::Check,
        "CLOSE" => C::Close,
        "UNSELECT" => C::Unselect,
        "EXPUNGE" => C::Expunge,
        "UID" => {
            p.sp()?;
            uid_command(p)?
        }
        "SEARCH" | "FETCH" | "STORE" | "COPY" | "MOVE" | "SORT" | "THREAD" => {
            message_command(p, &word, false)?
        }
        "ID" => id(p)?,
        "GETQUOTA" => {
            p.sp()?;
            C::GetQuota(p.astring_utf8()?)
        }
        "GETQUOTAROOT" => C::GetQuotaRoot(sp_mailbox(p)?),
        "SETQUOTA" => setquota(p)?,
        "COMPRESS" => {
            p.sp()?;
            C::Compress(p.atom()?.to_ascii_uppercase())
        }
        _ => return Err(Syntax("unknown command")),
    })
}

/// Commands about mailboxes rather than messages; `word` is already read.
fn mailbox_command(p: &mut Parser, word: &str) -> PResult<CommandBody> {
    use CommandBody as C;
    Ok(match word {
        "SELECT" | "EXAMINE" => {
            p.sp()?;
            let mailbox = p.mailbox()?;
            let params = select_params(p)?;
            if word == "SELECT" {
                C::Select { mailbox, params }
            } else {
                C::Examine { mailbox, params }
            }
        }
        "CREATE" => create(p)?,
        "DELETE" => C::Delete(sp_mailbox(p)?),
        "RENAME" => C::Rename {
            from: sp_mailbox(p)?,
            to: sp_mailbox(p)?,
        },
        "SUBSCRIBE" => C::Subscribe(sp_mailbox(p)?),
        "UNSUBSCRIBE" => C::Unsubscribe(sp_mailbox(p)?),
        "LIST" => list(p)?,
        "LSUB" => {
            p.sp()?;
            let reference = p.list_mailbox()?;
            p.sp()?;
            C::Lsub {
                reference,
                pattern: p.list_mailbox()?,
            }
        }
        "NAMESPACE" => C::Namespace,
        "STATUS" => {
            let mailbox = sp_mailbox(p)?;
            p.sp()?;
            C::Status {
                mailbox,
                items: p.list(false, status_item)?,
            }
        }
        _ => C::Namespace,
    })
}

fn sp_mailbox(p: &mut Parser) -> PResult<Mailbox> {
    p.sp()?;
    p.mailbox()
}

/// `SP atom *(SP atom)`, for ENABLE.
fn atoms(p: &mut Parser) -> PResult<Vec<String>> {
    let mut out = Vec::new();
    while p.eat(b' ') {
        out.push(p.atom()?.to_owned());
    }
    if out.is_empty() {
        return Err(Syntax("expected at least one capability"));
    }
    Ok(out)
}

fn authenticate(p: &mut Parser) -> PResult<CommandBody> {
    p.sp()?;
    let mechanism = p.atom()?.to_ascii_uppercase();
    let mut initial_response = None;
    if p.eat(b' ') {
        let start = p.rest();
        while p
            .peek()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b))
        {
            p.pos += 1;
        }
        let len = start.len() - p.rest().len();
        if len == 0 {
            return Err(Syntax("bad initial response"));
        }
        initial_response = Some(String::from_utf8_lossy(&start[..len]).into_owned());
    }
    Ok(CommandBody::Authenticate {
        mechanism,
        initial_response,
    })
}

fn select_params(p: &mut Parser) -> PResult<SelectParams> {
    let mut params = SelectParams::default();
    if !p.eat(b' ') {
        return Ok(params);
    }
    p.list(false, |p| {
        if p.keyword("CONDSTORE") {
            params.condstore = true;
        } else if p.keyword("QRESYNC") {
            p.sp()?;
            params.qresync = Some(qresync(p)?);
        } else {
            return Err(Syntax("unknown SELECT parameter"));
        }
        Ok(())
    })?;
    Ok(params)
}

/// `(uidvalidity modseq [known-uids] [(seq-match-data)])`.
fn qresync(p: &mut Parser) -> PResult<Qresync> {
    p.expect(b'(', "expected (")?;
    let uidvalidity = p.nz_number()?;
    p.sp()?;
    let modseq = p.number64()?;
    let mut q = Qresync {
        uidvalidity,
        modseq,
        known_uids: None,
        seq_match: None,
    };
    if p.eat(b' ') && p.peek() != Some(b'(') {
        q.known_uids = Some(p.sequence_set()?);
        p.eat(b' ');
    }
    if p.eat(b'(') {
        let seqs = p.sequence_set()?;
        p.sp()?;
        let uids = p.sequence_set()?;
        p.expect(b')', "expected )")?;
        q.seq_match = Some((seqs, uids));
    }
    p.expect(b')', "expected )")?;
    Ok(q)
}

fn create(p: &mut Parser) -> PResult<CommandBody> {
    let mailbox = sp_mailbox(p)?;
    let mut special_use = Vec::new();
    if p.eat(b' ') {
        p.list(false, |p| {
            if !p.keyword("USE") {
                return Err(Syntax("unknown CREATE parameter"));
            }
            p.sp()?;
            special_use = p.list(false, |p| {
                p.expect(b'\\', "expected a special-use flag")?;
                Ok(p.atom()?.to_owned())
            })?;
            Ok(())
        })?;
    }
    Ok(CommandBody::Create {
        mailbox,
        special_use,
    })
}

fn list(p: &mut Parser) -> PResult<CommandBody> {
    p.sp()?;
    let mut selection = Vec::new();
    if p.peek() == Some(b'(') {
        selection = p.list(true, |p| {
            Ok(match p.atom()?.to_ascii_uppercase().as_str() {
                "SUBSCRIBED" => ListSelect::Subscribed,
                "REMOTE" => ListSelect::Remote,
                "RECURSIVEMATCH" => ListSelect::RecursiveMatch,
                "SPECIAL-USE" => ListSelect::SpecialUse,
                _ => return Err(Syntax("unknown LIST selection option")),
            })
        })?;
        p.sp()?;
    }
    let reference = p.list_mailbox()?;
    p.sp()?;
    let patterns = if p.peek() == Some(b'(') {
        p.list(false, Parser::list_mailbox)?
    } else {
        vec![p.list_mailbox()?]
    };
    let mut returns = Vec::new();
    if p.eat(b' ') {
        if !p.keyword("RETURN") {
            return Err(Syntax("expected RETURN"));
        }
        p.sp()?;
        returns = p.list(true, list_return)?;
    }
    Ok(CommandBody::List {
        selection,
        reference,
        patterns,
        returns,
    })
}

fn list_return(p: &mut Parser) -> PResult<ListReturn> {
    Ok(match p.atom()?.to_ascii_uppercase().as_str() {
        "SUBSCRIBED" => ListReturn::Subscribed,
        "CHILDREN" => ListReturn::Children,
        "SPECIAL-USE" => ListReturn::SpecialUse,
        "STATUS" => {
            p.sp()?;
            ListReturn::Status(p.list(false, status_item)?)
        }
        _ => return Err(Syntax("unknown LIST RETURN option")),
    })
}

fn status_item(p: &mut Parser) -> PResult<StatusItem> {
    use StatusItem as S;
    Ok(match p.atom()?.to_ascii_uppercase().as_str() {
        "MESSAGES" => S::Messages,
        "UIDNEXT" => S::UidNext,
        "UIDVALIDITY" => S::UidValidity,
        "UNSEEN" => S::Unseen,
        "DELETED" => S::Deleted,
        "SIZE" => S::Size,
        "HIGHESTMODSEQ" => S::HighestModSeq,
        "APPENDLIMIT" => S::AppendLimit,
        "RECENT" => S::Recent,
        "DELETED-STORAGE" => S::DeletedStorage,
        _ => return Err(Syntax("unknown STATUS item")),
    })
}

fn uid_command(p: &mut Parser) -> PResult<CommandBody> {
    let word = p.atom()?.to_ascii_uppercase();
    match word.as_str() {
        "EXPUNGE" => {
            p.sp()?;
            Ok(CommandBody::UidExpunge(p.sequence_set()?))
        }
        "SEARCH" | "FETCH" | "STORE" | "COPY" | "MOVE" | "SORT" | "THREAD" => {
            message_command(p, &word, true)
        }
        _ => Err(Syntax("unknown UID command")),
    }
}

/// The commands that come in a UID variant; `word` is already read.
fn message_command(p: &mut Parser, word: &str, uid: bool) -> PResult<CommandBody> {
    use CommandBody as C;
    p.sp()?;
    Ok(match word {
        "SEARCH" => {
            let mut returns = None;
            if p.keyword("RETURN") {
                p.sp()?;
                returns = Some(search_returns(p)?);
                p.sp()?;
            }
            let (charset, criteria) = search_program(p)?;
            C::Search {
                uid,
                charset,
                returns,
                criteria,
            }
        }
        "FETCH" => fetch(p, uid)?,
        "STORE" => store(p, uid)?,
        "COPY" | "MOVE" => {
            let set = p.sequence_set()?;
            let mailbox = sp_mailbox(p)?;
            if word == "COPY" {
                C::Copy { uid, set, mailbox }
            } else {
                C::Move { uid, set, mailbox }
            }
        }
        "SORT" => {
            let criteria = sort_criteria(p)?;
            p.sp()?;
            let (charset, search) = charset_and_keys(p)?;
            C::Sort {
                uid,
                criteria,
                charset,
                search,
            }
        }
        _ => {
            let algorithm = p.atom()?.to_ascii_uppercase();
            p.sp()?;
            let (charset, search) = charset_and_keys(p)?;
            C::Thread {
                uid,
                algorithm,
                charset,
                search,
            }
        }
    })
}

fn fetch(p: &mut Parser, uid: bool) -> PResult<CommandBody> {
    let set = p.sequence_set()?;
    p.sp()?;
    let attrs = fetch_attrs(p)?;
    let (changed_since, vanished) = if p.eat(b' ') {
        fetch_modifiers(p)?
    } else {
        (None, false)
    };
    if vanished && !uid {
        return Err(Syntax("VANISHED needs UID FETCH"));
    }
    Ok(CommandBody::Fetch {
        uid,
        set,
        attrs,
        changed_since,
        vanished,
    })
}

fn store(p: &mut Parser, uid: bool) -> PResult<CommandBody> {
    let set = p.sequence_set()?;
    p.sp()?;
    let mut unchanged_since = None;
    if p.eat(b'(') {
        if !p.keyword("UNCHANGEDSINCE") {
            return Err(Syntax("unknown STORE modifier"));
        }
        p.sp()?;
        unchanged_since = Some(p.number64()?);
        p.expect(b')', "expected )")?;
        p.sp()?;
    }
    let mode = if p.eat(b'+') {
        StoreMode::Add
    } else if p.eat(b'-') {
        StoreMode::Remove
    } else {
        StoreMode::Replace
    };
    let silent = if p.keyword("FLAGS") {
        false
    } else if p.keyword("FLAGS.SILENT") {
        true
    } else {
        return Err(Syntax("expected FLAGS"));
    };
    p.sp()?;
    // RFC 9051 allows the flags without parentheses too.
    let flags = if p.peek() == Some(b'(') {
        p.flag_list()?
    } else {
        let mut flags = vec![p.flag()?];
        while p.eat(b' ') {
            flags.push(p.flag()?);
        }
        flags
    };
    Ok(CommandBody::Store {
        uid,
        set,
        unchanged_since,
        mode,
        silent,
        flags,
    })
}

fn id(p: &mut Parser) -> PResult<CommandBody> {
    p.sp()?;
    if p.keyword("NIL") {
        return Ok(CommandBody::Id(None));
    }
    let mut fields = Vec::new();
    p.expect(b'(', "expected (")?;
    if !p.eat(b')') {
        loop {
            let key = String::from_utf8(p.string()?).map_err(|_| Syntax("bad ID field"))?;
            p.sp()?;
            let value = p
                .nstring()?
                .map(|v| String::from_utf8_lossy(&v).into_owned());
            fields.push((key, value));
            if p.eat(b')') {
                break;
            }
            p.sp()?;
        }
    }
    Ok(CommandBody::Id(Some(fields)))
}

fn setquota(p: &mut Parser) -> PResult<CommandBody> {
    p.sp()?;
    let root = p.astring_utf8()?;
    p.sp()?;
    let limits = p.list(true, |p| {
        let name = p.atom()?.to_ascii_uppercase();
        p.sp()?;
        Ok((name, p.number64()?))
    })?;
    Ok(CommandBody::SetQuota { root, limits })
}

#[cfg(test)]
#[path = "command_tests.rs"]
mod tests;
