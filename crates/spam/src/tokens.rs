//! Turns a message into the features the Bayesian classifier counts: words of the decoded
//! text and HTML parts, the subject and sender, link targets, and the message's shape (header
//! names, MIME types, attachment kinds, the patterns of generated Message-IDs, MIME
//! boundaries and dates). Each feature is hashed to a `u64`, once per message.

use crate::bayes::IdentityHasher;
use mail_parser::{Message, MessagePart, MimeHeaders, PartType};
use std::collections::HashSet;
use std::hash::BuildHasherDefault;

/// Words shorter than this are noise (articles, "re", "to").
const MIN_WORD: usize = 3;
/// Longer "words" are encoded data or junk; they count only as a kind and a length.
const MAX_WORD: usize = 25;
/// Text beyond this per part is not read: the start of a message says what it is, and every
/// further KiB costs about 8 µs (measured with `examples/eval --time`).
const MAX_TEXT_PER_PART: usize = 64 * 1024;

/// Header fields that say where the message has been rather than what it is, or that
/// filters (ours or others') add: counting them would learn the route, not the mail.
const IGNORED_HEADERS: &[&str] = &[
    "received",
    "return-path",
    "delivered-to",
    "x-original-to",
    "envelope-to",
    "authentication-results",
    "received-spf",
    "status",
    "x-status",
    "x-keywords",
    "x-uid",
    "content-length",
    "lines",
    "x-uidl",
];
const IGNORED_HEADER_PREFIXES: &[&str] = &["x-spam", "arc-", "x-virus", "x-envelope"];

/// The distinct features of `message`, hashed.
pub fn tokenize(message: &Message<'_>) -> Vec<u64> {
    // The values are hashes already: no need to hash them again.
    let mut set: HashSet<u64, BuildHasherDefault<IdentityHasher>> =
        HashSet::with_capacity_and_hasher(1024, Default::default());
    each_token(message, &mut |kind, word| {
        set.insert(hash(kind, word));
    });
    set.into_iter().collect()
}

/// Calls `emit(kind, word)` for every feature of `message` (repeats included). `kind` is
/// empty for body words.
pub fn each_token(message: &Message<'_>, emit: &mut dyn FnMut(&str, &str)) {
    header_tokens(message, emit);
    for part in &message.parts {
        part_tokens(part, emit);
    }
}

/// FNV-1a over the kind, a separator and the word: stable across builds and machines, as
/// stored models need.
pub fn hash(kind: &str, word: &str) -> u64 {
    let step = |h: u64, b: u8| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in kind.as_bytes() {
        h = step(h, b);
    }
    h = step(h, 0);
    for &b in word.as_bytes() {
        h = step(h, b);
    }
    h
}

fn header_tokens(message: &Message<'_>, emit: &mut dyn FnMut(&str, &str)) {
    for (name, _) in message.headers_raw() {
        let name = name.to_ascii_lowercase();
        let ignored = IGNORED_HEADERS.contains(&name.as_str())
            || IGNORED_HEADER_PREFIXES.iter().any(|p| name.starts_with(p));
        if !ignored {
            emit("header", &name);
        }
    }
    if let Some(subject) = message.subject() {
        words(subject, &mut |w| emit("subject", w));
        if subject.chars().filter(|c| c.is_alphabetic()).count() > 8
            && !subject.chars().any(|c| c.is_lowercase())
        {
            emit("subject", "*all-caps*");
        }
    }
    for (name, value) in message.headers_raw() {
        if name.eq_ignore_ascii_case("received") {
            received_tokens(value, emit);
        }
    }
    for (kind, address) in [
        ("from", message.from()),
        ("reply-to", message.reply_to()),
        ("to", message.to()),
        ("cc", message.cc()),
    ] {
        for addr in address.into_iter().flat_map(|a| a.iter()) {
            if let Some(email) = addr.address() {
                let email = email.to_lowercase();
                emit(kind, &email);
                if let Some((_, domain)) = email.rsplit_once('@') {
                    emit(kind, domain);
                }
            }
            if kind == "from"
                && let Some(name) = addr.name()
            {
                words(name, &mut |w| emit("from-name", w));
            }
        }
    }
    let recipients =
        message.to().map_or(0, |a| a.iter().count()) + message.cc().map_or(0, |a| a.iter().count());
    emit("recipients", bucket(recipients));
    for name in ["x-mailer", "user-agent"] {
        if let Some(mailer) = message.header_raw(name) {
            words(mailer, &mut |w| emit("mailer", w));
        }
    }
    if let Some((local, domain)) = message.message_id().and_then(|id| id.rsplit_once('@')) {
        emit("message-id", &domain.to_lowercase());
        emit("message-id-shape", &shape_of(local));
    }
    if let Some(boundary) = message
        .content_type()
        .and_then(|ct| ct.attribute("boundary"))
    {
        emit("boundary-shape", &shape_of(boundary));
    }
    if let Some(date) = message.header_raw("date") {
        date_tokens(date, emit);
    }
}

/// Where the message came through: host names (their last two and three labels) and
/// address prefixes of each `Received:` field. Spam sources cluster in networks; so do the
/// relays of real correspondents.
fn received_tokens(value: &str, emit: &mut dyn FnMut(&str, &str)) {
    for word in value.split(|c: char| c.is_whitespace() || "()[];<>=,".contains(c)) {
        let word = word.trim_matches('.').to_ascii_lowercase();
        if let Ok(ip) = word.parse::<std::net::Ipv4Addr>() {
            let [a, b, c, _] = ip.octets();
            emit("received-ip", &format!("{a}.{b}"));
            emit("received-ip", &format!("{a}.{b}.{c}"));
            continue;
        }
        let labels: Vec<&str> = word.split('.').collect();
        let is_host = labels.len() >= 2
            && labels.iter().all(|l| {
                !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
            && labels
                .last()
                .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_alphabetic()));
        if is_host {
            for take in [2, 3] {
                if labels.len() >= take {
                    emit("received", &labels[labels.len() - take..].join("."));
                }
            }
        }
    }
}

/// How a generated string is built, not what it says: each run of digits, capitals or
/// small letters becomes one `9`, `A` or `a`, other characters stay (`3D2F1@x` and `9A9A`
/// alike). Mail programs and spamware each make their Message-IDs and MIME boundaries in
/// their own pattern.
fn shape_of(text: &str) -> String {
    let mut shape = String::new();
    for c in text.chars().take(40) {
        let class = match c {
            '0'..='9' => '9',
            'A'..='Z' => 'A',
            'a'..='z' => 'a',
            c if c.is_ascii_punctuation() => c,
            _ => '?',
        };
        if !shape.ends_with(class) || class.is_ascii_punctuation() {
            shape.push(class);
        }
    }
    shape
}

/// The `Date:` field's form: with or without the day's name, and its zone as written
/// (`-0700`, `EST`, none). Each mail program writes dates one way.
fn date_tokens(date: &str, emit: &mut dyn FnMut(&str, &str)) {
    let date = date.trim();
    let named_day = date
        .get(..3)
        .is_some_and(|d| d.bytes().all(|b| b.is_ascii_alphabetic()));
    emit("date-day", if named_day { "named" } else { "none" });
    let zone = date.rsplit(' ').next().unwrap_or("");
    let zone = if zone.contains(':') {
        "none".to_owned()
    } else {
        zone.to_ascii_lowercase()
    };
    emit("date-zone", &zone);
}

fn bucket(n: usize) -> &'static str {
    match n {
        0 => "0",
        1 => "1",
        2..=4 => "2-4",
        5..=20 => "5-20",
        _ => "many",
    }
}

fn part_tokens(part: &MessagePart<'_>, emit: &mut dyn FnMut(&str, &str)) {
    if let Some(ct) = part.content_type() {
        let mime = match &ct.c_subtype {
            Some(sub) => format!("{}/{}", ct.c_type, sub),
            None => ct.c_type.to_string(),
        };
        emit("mime", &mime.to_ascii_lowercase());
        if let Some(charset) = ct.attribute("charset") {
            emit("charset", &charset.to_ascii_lowercase());
        }
    }
    if let Some(encoding) = part.content_transfer_encoding() {
        emit("encoding", &encoding.to_ascii_lowercase());
    }
    if let Some(name) = part.attachment_name()
        && let Some((_, ext)) = name.rsplit_once('.')
    {
        emit("attachment", &ext.to_ascii_lowercase());
    }
    match &part.body {
        PartType::Text(text) => words(cap(text), &mut |w| emit("", w)),
        PartType::Html(html) => html_tokens(cap(html), emit),
        _ => {}
    }
}

fn cap(text: &str) -> &str {
    if text.len() <= MAX_TEXT_PER_PART {
        return text;
    }
    let mut end = MAX_TEXT_PER_PART;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Words of plain text: lowercased runs of letters and digits (with inner `'`, `-`, `.`),
/// links reduced to their host, long runs to their kind and length, numbers to their length.
fn words(text: &str, emit: &mut dyn FnMut(&str)) {
    // Pairs of neighbouring words too: "click here" says more than "click" and "here".
    // Buffers are reused: a 100 KiB message has some 15,000 words.
    let (mut previous, mut lower, mut pair) = (String::new(), String::new(), String::new());
    let separator = |c: char| {
        c.is_whitespace()
            || matches!(
                c,
                '<' | '>' | '(' | ')' | '[' | ']' | '{' | '}' | '"' | '|' | ',' | ';'
            )
    };
    for raw in text.split(separator) {
        if raw.is_empty() {
            continue;
        }
        if looks_like_link(raw) && link_tokens(raw, emit) {
            previous.clear();
            continue;
        }
        let word = raw.trim_matches(|c: char| !c.is_alphanumeric() && c != '$');
        if let Some((local, domain)) = word.split_once('@')
            && domain.contains('.')
            && !local.is_empty()
        {
            let domain = domain.trim_start_matches("mailto:").to_lowercase();
            emit(&format!("email-domain:{domain}"));
            let local = local.trim_start_matches("mailto:").to_lowercase();
            emit(&format!("email-name:{local}"));
            previous.clear();
            continue;
        }
        let length = if word.is_ascii() {
            word.len()
        } else {
            word.chars().count()
        };
        if length < MIN_WORD {
            if word.starts_with('$') && length > 1 {
                emit("$money");
            }
            continue;
        }
        if length > MAX_WORD {
            let first = word.chars().next().unwrap_or('?');
            let kind = if first.is_ascii() { first } else { '*' };
            emit(&format!("skip:{kind}{}", length / 10 * 10));
        } else if word.bytes().all(|b| b.is_ascii_digit()) {
            emit(&format!("number:{length}"));
        } else {
            if !word.chars().any(char::is_lowercase)
                && word.chars().filter(|c| c.is_alphabetic()).count() >= 3
            {
                emit(&format!("caps:{word}"));
            }
            lower.clear();
            if word.is_ascii() {
                lower.push_str(word);
                lower.make_ascii_lowercase();
            } else {
                lower.extend(word.chars().flat_map(char::to_lowercase));
            }
            if !previous.is_empty() {
                pair.clear();
                pair.push_str(&previous);
                pair.push(' ');
                pair.push_str(&lower);
                emit(&pair);
            }
            emit(&lower);
            std::mem::swap(&mut previous, &mut lower);
            continue;
        }
        previous.clear();
    }
}

/// A cheap test before the real one: most words are not links.
fn looks_like_link(word: &str) -> bool {
    word.len() > 7
        && (word.contains("://")
            || word
                .get(..4)
                .is_some_and(|p| p.eq_ignore_ascii_case("www.")))
}

/// A link's host, its registered domain (the last two labels) and its path words; false
/// when `word` is not a link.
fn link_tokens(word: &str, emit: &mut dyn FnMut(&str)) -> bool {
    let Some(host) = link_host(word) else {
        return false;
    };
    emit(&format!("url:{host}"));
    let labels: Vec<&str> = host.rsplitn(3, '.').collect();
    if labels.len() == 3 && host.parse::<std::net::IpAddr>().is_err() {
        emit(&format!("url-domain:{}.{}", labels[1], labels[0]));
    }
    for piece in link_path_pieces(word) {
        emit(&format!("url-path:{piece}"));
    }
    true
}

/// The lowercased host of `http://host/...`, `https://...` or `www.host...`.
fn link_host(word: &str) -> Option<String> {
    let lower = word.to_ascii_lowercase();
    let rest = ["http://", "https://"]
        .iter()
        .find_map(|scheme| lower.find(scheme).map(|at| &lower[at + scheme.len()..]))
        .or_else(|| lower.starts_with("www.").then_some(lower.as_str()))?;
    let host = rest
        .split(['/', '?', '#', ':', '"', '\''])
        .next()?
        .rsplit('@')
        .next()?;
    (!host.is_empty()).then(|| host.trim_end_matches('.').to_owned())
}

/// The words of a link's path and query (`/cgi-bin/click.php?id=3` gives `cgi-bin`,
/// `click`, `php`, `id`), at most a few.
fn link_path_pieces(link: &str) -> impl Iterator<Item = String> + '_ {
    let after_scheme = link.split_once("://").map_or(link, |(_, rest)| rest);
    let path = after_scheme.split_once('/').map_or("", |(_, p)| p);
    path.split(|c: char| !c.is_alphanumeric() && c != '-' && c != '_')
        .filter(|p| (2..=20).contains(&p.len()) && !p.bytes().all(|b| b.is_ascii_digit()))
        .take(8)
        .map(str::to_lowercase)
}

/// HTML: the visible text's words, link targets' hosts, and the tags that spam likes
/// (images, fonts, forms, scripts); style and script contents are skipped.
fn html_tokens(html: &str, emit: &mut dyn FnMut(&str, &str)) {
    let mut text = String::with_capacity(html.len() / 2);
    let mut rest = html;
    let mut skip_until: Option<&str> = None;
    while let Some(open) = rest.find('<') {
        if skip_until.is_none() {
            text.push_str(&rest[..open]);
            text.push(' ');
        }
        let after = &rest[open + 1..];
        let close = after.find('>').unwrap_or(after.len());
        let tag = &after[..close];
        rest = after.get(close + 1..).unwrap_or("");
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        match skip_until {
            Some(end) if tag.starts_with('/') && name == end => skip_until = None,
            Some(_) => continue,
            None if name == "style" || name == "script" => {
                skip_until = Some(if name == "style" { "style" } else { "script" })
            }
            None => {}
        }
        if matches!(
            name.as_str(),
            "img" | "font" | "form" | "input" | "script" | "iframe" | "table" | "a"
        ) && !tag.starts_with('/')
        {
            emit("html", &name);
        }
        for attribute in ["href=", "src="] {
            if let Some(at) = tag.to_ascii_lowercase().find(attribute) {
                let value = tag[at + attribute.len()..].trim_start_matches(['"', '\'']);
                let end = value.find(['"', '\'', ' ']).unwrap_or(value.len());
                link_tokens(&value[..end], &mut |t| emit("", t));
            }
        }
    }
    if skip_until.is_none() {
        text.push_str(rest);
    }
    let text = decode_entities(&text);
    words(&text, &mut |w| emit("", w));
}

fn decode_entities(text: &str) -> String {
    if !text.contains('&') {
        return text.to_owned();
    }
    text.replace("&nbsp;", " ")
        .replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_parser::MessageParser;

    fn tokens_of(raw: &str) -> Vec<String> {
        let message = MessageParser::default().parse(raw.as_bytes()).unwrap();
        let mut out = Vec::new();
        each_token(&message, &mut |kind, word| {
            out.push(format!("{kind}:{word}"))
        });
        out
    }

    #[test]
    fn text_words_are_normalised() {
        let tokens = tokens_of(
            "From: \"Cheap Meds\" <offers@pharma.example>\r\nSubject: BUY NOW, LIMITED OFFER\r\n\r\n\
             Visit http://pharma.example/buy?id=1 for $5 pills!!! Call 5551234 or e-mail us at \
             Sales@Pharma.example NOW. \
             aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n",
        );
        for want in [
            "subject:buy",
            "subject:*all-caps*",
            "from:offers@pharma.example",
            "from:pharma.example",
            "from-name:cheap",
            ":url:pharma.example",
            ":pills",
            ":$money",
            ":number:7",
            ":e-mail",
            ":skip:a40",
            ":for pills",
            ":url-path:buy",
            "header:subject",
            "recipients:0",
        ] {
            assert!(
                tokens.contains(&want.to_owned()),
                "{want} not in {tokens:?}"
            );
        }
        for want in [
            ":email-domain:pharma.example",
            ":email-name:sales",
            ":caps:NOW",
            ":now",
        ] {
            assert!(
                tokens.contains(&want.to_owned()),
                "{want} not in {tokens:?}"
            );
        }
        assert!(!tokens.iter().any(|t| t == ":or" || t == ":us"));
        assert!(
            !tokens.iter().any(|t| t == ":call number:7"),
            "numbers break pairs"
        );
    }

    #[test]
    fn html_text_links_and_tags_count_but_styles_do_not() {
        let tokens = tokens_of(
            "Subject: hi\r\nContent-Type: text/html; charset=iso-8859-1\r\n\r\n\
             <html><style>.secretclass { color: red }</style><body><font size=7>Winner&nbsp;\
             announced</font><a href=\"https://click.example/x\">here</a>\
             <img src=\"http://img.example/p.gif\"></body></html>\r\n",
        );
        for want in [
            ":winner",
            ":announced",
            ":url:click.example",
            ":url:img.example",
            "html:font",
            "html:img",
            "mime:text/html",
            "charset:iso-8859-1",
        ] {
            assert!(
                tokens.contains(&want.to_owned()),
                "{want} not in {tokens:?}"
            );
        }
        assert!(!tokens.iter().any(|t| t.contains("secretclass")));
    }

    #[test]
    fn generated_strings_count_by_their_shape() {
        assert_eq!(shape_of("3D2F1abc.Xy"), "9A9A9a.Aa");
        assert_eq!(shape_of("----=_NextPart_000_0012"), "----=_AaAa_9_9");
        let tokens = tokens_of(
            "Message-ID: <20020809.ABC123@mail.example>\r\nDate: 9 Aug 2002 10:46:18 -0400\r\n\
             Content-Type: multipart/alternative; boundary=\"b1_42\"\r\nSubject: s\r\n\r\n\
             --b1_42\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b1_42--\r\n",
        );
        for want in [
            "message-id-shape:9.A9",
            "boundary-shape:a9_9",
            "date-day:none",
            "date-zone:-0400",
        ] {
            assert!(
                tokens.contains(&want.to_owned()),
                "{want} not in {tokens:?}"
            );
        }
        let named = tokens_of("Date: Fri, 9 Aug 2002 10:46:18 EDT\r\nSubject: s\r\n\r\nx\r\n");
        assert!(named.contains(&"date-day:named".to_owned()), "{named:?}");
        assert!(named.contains(&"date-zone:edt".to_owned()), "{named:?}");
    }

    #[test]
    fn route_and_filter_headers_are_ignored() {
        let tokens = tokens_of(
            "Received: from x\r\nX-Spam-Status: Yes\r\nAuthentication-Results: a; spf=pass\r\n\
             X-Mailer: Outlook Express 6\r\nSubject: s\r\n\r\nbody\r\n",
        );
        assert!(tokens.contains(&"header:x-mailer".to_owned()));
        assert!(tokens.contains(&"mailer:outlook".to_owned()));
        for gone in ["received", "x-spam-status", "authentication-results"] {
            assert!(!tokens.contains(&format!("header:{gone}")), "{gone}");
        }
    }

    #[test]
    fn tokenize_is_distinct_and_stable() {
        let message = MessageParser::default()
            .parse(b"Subject: x\r\n\r\nhello hello hello world\r\n".as_slice())
            .unwrap();
        let tokens = tokenize(&message);
        let mut unique = tokens.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), tokens.len());
        assert!(tokens.contains(&hash("", "hello")));
        // Stored models depend on these values never changing.
        assert_eq!(hash("", "hello"), 0x3b6d_ba0d_6990_8e25);
        assert_ne!(hash("subject", "hello"), hash("", "hello"));
    }
}
