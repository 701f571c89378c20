//! Heuristic rules on the message itself: each has a name, a score and a one-line reason.
//! They work from the first message on, trained or not.

use mail_parser::{Message, MimeHeaders, PartType};

pub struct Rule {
    pub name: &'static str,
    pub score: f64,
    pub about: &'static str,
    test: fn(&Message<'_>, i64) -> bool,
}

/// Every content rule, in the order they are reported.
pub const RULES: &[Rule] = &[
    Rule {
        name: "MISSING_FROM",
        score: 1.5,
        about: "no From: field",
        test: |m, _| m.header_raw("From").is_none(),
    },
    Rule {
        name: "MISSING_DATE",
        score: 1.0,
        about: "no Date: field",
        test: |m, _| m.header_raw("Date").is_none(),
    },
    Rule {
        name: "INVALID_DATE",
        score: 1.0,
        about: "a Date: field that is not a date",
        test: |m, _| m.header_raw("Date").is_some() && m.date().is_none(),
    },
    Rule {
        name: "DATE_IN_FUTURE",
        score: 1.5,
        about: "dated more than a day ahead",
        test: |m, now| m.date().is_some_and(|d| d.to_timestamp() > now + 86_400),
    },
    Rule {
        name: "MISSING_MESSAGE_ID",
        score: 1.0,
        about: "no Message-ID: field",
        test: |m, _| m.header_raw("Message-ID").is_none(),
    },
    Rule {
        name: "MISSING_SUBJECT",
        score: 0.5,
        about: "no Subject: field",
        test: |m, _| m.header_raw("Subject").is_none(),
    },
    Rule {
        name: "MISSING_TO",
        score: 0.3,
        about: "neither To: nor Cc:",
        test: |m, _| m.header_raw("To").is_none() && m.header_raw("Cc").is_none(),
    },
    Rule {
        name: "SUBJECT_ALL_CAPS",
        score: 1.0,
        about: "a subject in capitals only",
        test: |m, _| m.subject().is_some_and(shouts),
    },
    Rule {
        name: "SUBJECT_EXCESS_PUNCTUATION",
        score: 0.5,
        about: "!!! or $$$ in the subject",
        test: |m, _| {
            m.subject()
                .is_some_and(|s| s.contains("!!!") || s.contains("$$$"))
        },
    },
    Rule {
        name: "FROM_NAME_OTHER_ADDRESS",
        score: 2.0,
        about: "the From: name shows an address that is not the sender's",
        test: |m, _| from_name_shows_other_address(m),
    },
    Rule {
        name: "HTML_ONLY",
        score: 0.5,
        about: "HTML without a plain-text version",
        test: |m, _| html_only(m),
    },
    Rule {
        name: "URL_NUMERIC_HOST",
        score: 1.5,
        about: "a link to a bare IP address",
        test: |m, _| links_to_numeric_host(m),
    },
    Rule {
        name: "EXECUTABLE_ATTACHMENT",
        score: 4.0,
        about: "an attached program or script",
        test: |m, _| has_executable_attachment(m),
    },
];

/// The rules `message` triggers (`now` in Unix seconds).
pub fn content_hits(message: &Message<'_>, now: i64) -> Vec<&'static Rule> {
    RULES.iter().filter(|r| (r.test)(message, now)).collect()
}

fn shouts(subject: &str) -> bool {
    subject.chars().filter(|c| c.is_alphabetic()).count() >= 10
        && !subject.chars().any(char::is_lowercase)
}

/// `"support@bank.example" <x@elsewhere.example>`: the name claims one address, the mail
/// comes from another (a phishing staple).
fn from_name_shows_other_address(message: &Message<'_>) -> bool {
    let Some(from) = message.from().and_then(|a| a.first()) else {
        return false;
    };
    let (Some(name), Some(address)) = (from.name(), from.address()) else {
        return false;
    };
    name.split(|c: char| c.is_whitespace() || "<>()\"'".contains(c))
        .filter(|word| word.contains('@') && word.contains('.'))
        .any(|word| !word.eq_ignore_ascii_case(address))
}

fn html_only(message: &Message<'_>) -> bool {
    let html = message
        .parts
        .iter()
        .any(|p| matches!(p.body, PartType::Html(_)));
    let text = message
        .parts
        .iter()
        .any(|p| matches!(p.body, PartType::Text(_)) && p.attachment_name().is_none());
    html && !text
}

fn links_to_numeric_host(message: &Message<'_>) -> bool {
    message.parts.iter().any(|part| {
        let (PartType::Text(body) | PartType::Html(body)) = &part.body else {
            return false;
        };
        ["http://", "https://"].iter().any(|scheme| {
            body.match_indices(scheme).any(|(at, _)| {
                let host = body[at + scheme.len()..]
                    .split(['/', ':', '"', '\'', '>', ' ', '?'])
                    .next()
                    .unwrap_or("");
                host.parse::<std::net::Ipv4Addr>().is_ok()
            })
        })
    })
}

const EXECUTABLE_EXTENSIONS: &[&str] = &[
    "exe", "scr", "pif", "com", "bat", "cmd", "vbs", "vbe", "js", "jse", "jar", "lnk", "hta",
    "msi", "wsf", "ps1",
];

fn has_executable_attachment(message: &Message<'_>) -> bool {
    message.parts.iter().any(|part| {
        part.attachment_name()
            .and_then(|name| name.rsplit_once('.'))
            .is_some_and(|(_, ext)| {
                EXECUTABLE_EXTENSIONS.contains(&ext.to_ascii_lowercase().as_str())
            })
    })
}
