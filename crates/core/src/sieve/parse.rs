//! The arriving message as sieve-rs reads it (a `mail_parser::Message`), made for less than
//! `Runtime::filter`'s own parse costs while giving every script the same answers.
//!
//! Two savings, each where it cannot change what a script sees:
//! - The Received fields are left unparsed (`HeaderValue::Empty`) for chains that never read
//!   their structure (`${header.received.rcvd.*}`): sieve-rs reads every other use of them
//!   (header, address, date tests, `${header.received}`, loop counts) from the raw field or
//!   by name, and tokenizing the trace was a quarter of the parse.
//! - A message of one UTF-8 text/plain part is put together from mail-parser's header parse
//!   and a body checked with `str::from_utf8`: mail-parser checks the body with
//!   `String::from_utf8_lossy`, a byte at a time, which was half of the parse.
//!
//! Debug builds (every test) check each result against mail-parser's full parse.

use mail_parser::decoders::charsets::map::charset_decoder;
use mail_parser::{
    Encoding, GetHeader, HeaderName, HeaderValue, Message, MessageParser, MessagePart, PartType,
};
use std::borrow::Cow;
use std::sync::{LazyLock, OnceLock};

/// An arriving message, parsed at most once per shape for every recipient's chain and every
/// script in it (a message to ten users was parsed ten times before).
pub struct Parsed<'a> {
    raw: &'a [u8],
    /// Received fields left as `Empty`: what chains that never read their structure get.
    without_trace: OnceLock<Message<'a>>,
    /// Every field parsed as `Runtime::filter` would.
    whole: OnceLock<Message<'a>>,
}

impl<'a> Parsed<'a> {
    /// Parses nothing yet: the first chain to run asks for the shape it needs.
    pub fn new(raw: &'a [u8]) -> Parsed<'a> {
        Parsed {
            raw,
            without_trace: OnceLock::new(),
            whole: OnceLock::new(),
        }
    }

    /// The message for a chain; `reads_trace`: a script in it may read the Received fields'
    /// structure (see `Compiled::reads_trace`).
    pub(crate) fn message(&self, reads_trace: bool) -> &Message<'a> {
        if reads_trace {
            self.whole.get_or_init(|| parse(&WHOLE, self.raw))
        } else {
            self.without_trace
                .get_or_init(|| parse(&WITHOUT_TRACE, self.raw))
        }
    }
}

/// mail-parser's own choice of parser per field (an empty map selects it): what
/// `Runtime::filter` uses.
static WHOLE: LazyLock<MessageParser> = LazyLock::new(MessageParser::new);

/// The same choices, listed (a parser with any entry uses only its map and its default), with
/// Received skipped. Mirrors mail-parser 0.11's `parse_headers`; `tests` checks the two agree
/// on every field they name.
static WITHOUT_TRACE: LazyLock<MessageParser> = LazyLock::new(|| {
    use HeaderName::*;
    let mut parser = MessageParser::new();
    for name in [
        Subject,
        Comments,
        ContentDescription,
        ContentLocation,
        ContentTransferEncoding,
    ] {
        parser = parser.header_text(name);
    }
    for name in [
        From,
        To,
        Cc,
        Bcc,
        ReplyTo,
        Sender,
        ResentTo,
        ResentFrom,
        ResentBcc,
        ResentCc,
        ResentSender,
        ListArchive,
        ListHelp,
        ListId,
        ListOwner,
        ListPost,
        ListSubscribe,
        ListUnsubscribe,
    ] {
        parser = parser.header_address(name);
    }
    for name in [
        MessageId,
        References,
        InReplyTo,
        ReturnPath,
        ContentId,
        ResentMessageId,
    ] {
        parser = parser.header_id(name);
    }
    parser
        .header_date(Date)
        .header_date(ResentDate)
        .header_comma_separated(Keywords)
        .header_comma_separated(ContentLanguage)
        .header_content_type(ContentType)
        .header_content_type(ContentDisposition)
        .header_raw(MimeVersion)
        .ignore_header(Received)
        .default_header_raw()
});

fn parse<'a>(parser: &MessageParser, raw: &'a [u8]) -> Message<'a> {
    let message = single_text_part(parser, raw)
        .unwrap_or_else(|| parser.parse(raw).unwrap_or_else(unparsable));
    debug_assert!(
        message == parser.parse(raw).unwrap_or_else(unparsable),
        "the shortcut parse differs from mail-parser's"
    );
    message
}

/// sieve-rs's stand-in for a message its parser refuses: one empty text part.
fn unparsable<'a>() -> Message<'a> {
    Message {
        parts: vec![MessagePart {
            headers: vec![],
            is_encoding_problem: false,
            body: PartType::Text("".into()),
            encoding: Encoding::None,
            offset_header: 0,
            offset_body: 0,
            offset_end: 0,
        }],
        raw_message: b""[..].into(),
        ..Default::default()
    }
}

/// The commonest shape: one text/plain part, in UTF-8 (or no charset), not base64 or
/// quoted-printable, not an attachment. Built as mail-parser's `parse` builds it (one part,
/// listed as both the text and the HTML body), from its header parse and a word-at-a-time
/// UTF-8 check of the body; `None` for anything else, which the full parse handles.
fn single_text_part<'a>(parser: &MessageParser, raw: &'a [u8]) -> Option<Message<'a>> {
    let mut message = parser.parse_headers(raw)?;
    let [part] = message.parts.as_mut_slice() else {
        return None;
    };
    let body_start = body_offset(raw, part.headers.last()?.offset_end as usize)?;
    if !plain_text(part) {
        return None;
    }
    let text = std::str::from_utf8(&raw[body_start..]).ok()?;
    part.body = PartType::Text(Cow::Borrowed(text));
    part.is_encoding_problem = false;
    part.encoding = Encoding::None;
    part.offset_header = 0;
    part.offset_body = u32::try_from(body_start).ok()?;
    part.offset_end = u32::try_from(raw.len()).ok()?;
    message.text_body = vec![0];
    message.html_body = vec![0];
    message.attachments = Vec::new();
    Some(message)
}

/// Where the body starts when the header section ends right after its last field: blanks,
/// then the empty line's LF (mail-parser's rule). `None` when anything else follows.
fn body_offset(raw: &[u8], last_field_end: usize) -> Option<usize> {
    let rest = raw.get(last_field_end..)?;
    let newline = rest
        .iter()
        .position(|&b| b == b'\n' || !b.is_ascii_whitespace())?;
    (rest[newline] == b'\n').then_some(last_field_end + newline + 1)
}

/// The fields say one inline text/plain part whose octets are its text: no Content-Type
/// (mail-parser's default) or text/plain with a charset it decodes as UTF-8, no transfer
/// encoding to undo, no Content-Disposition (an attachment is listed differently).
fn plain_text(part: &MessagePart<'_>) -> bool {
    let headers = &part.headers;
    let content_type = headers
        .header_value(&HeaderName::ContentType)
        .and_then(|value| value.as_content_type());
    let plain = content_type.is_none_or(|ct| {
        ct.ctype() == "text"
            && ct.subtype() == Some("plain")
            && ct
                .attribute("charset")
                .and_then(|c| charset_decoder(c.as_bytes()))
                .is_none()
    });
    let encoded = match headers.header_value(&HeaderName::ContentTransferEncoding) {
        Some(HeaderValue::Text(encoding)) => {
            encoding.eq_ignore_ascii_case("base64")
                || encoding.eq_ignore_ascii_case("quoted-printable")
        }
        _ => false,
    };
    let disposition = headers
        .header_value(&HeaderName::ContentDisposition)
        .is_some();
    plain && !encoded && !disposition
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Messages of the shapes the shortcut takes and of shapes it must leave alone.
    const MESSAGES: &[&[u8]] = &[
        b"Received: from a.test by b.test with ESMTPS id 1; Mon, 30 Nov 2026 03:00:00 +0000\r\n\
          From: Carol <carol@remote.test>\r\nTo: alice@example.test\r\nSubject: hi\r\n\
          Date: Mon, 30 Nov 2026 03:00:00 +0000\r\nMessage-ID: <1@remote.test>\r\n\r\nBody\r\n",
        b"From: a@b.test\nSubject: LF only\n\nline one\nline two\n",
        b"From: a@b.test\r\nSubject: no body\r\n\r\n",
        b"From: a@b.test\r\nSubject: no empty line\r\n",
        // The blank-looking line folds into From; the next line is no field and ends nothing.
        // The blank-looking line folds into From; the next line is no field and ends nothing.
        b"From: a@b.test\r\n  \t\r\nBlank-looking line before the body\r\n",
        b"Subject: =?utf-8?q?caf=C3=A9?=\r\nContent-Type: text/plain; charset=\"UTF-8\"\r\n\
          Content-Transfer-Encoding: 8bit\r\n\r\ncaf\xc3\xa9\r\n",
        b"Subject: latin\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\ncaf\xe9\r\n",
        b"Subject: bad utf-8\r\n\r\ncaf\xe9\r\n",
        // mail-parser decodes US-ASCII as windows-1252: left to it.
        // mail-parser decodes US-ASCII as windows-1252: left to it.
        b"Subject: us-ascii\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nplain\r\n",
        b"Subject: qp\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\na=3Db\r\n",
        b"Subject: b64\r\nContent-Transfer-Encoding: BASE64\r\n\r\naGVsbG8=\r\n",
        b"Subject: html\r\nContent-Type: text/html\r\n\r\n<p>hi</p>\r\n",
        b"Subject: attached\r\nContent-Disposition: attachment; filename=a.txt\r\n\r\nfile\r\n",
        b"Subject: multi\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\n\
          Content-Type: text/plain\r\n\r\none\r\n--XX\r\nContent-Type: text/html\r\n\r\n\
          <b>two</b>\r\n--XX--\r\n",
        b"Subject: nested\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\nx\r\n",
        b"From garbage line without a colon\r\nSubject: mbox\r\n\r\nbody\r\n",
        b"Subject: junk after\r\nnot a field\r\n\r\nbody\r\n",
        b"Subject: folded\r\n continued\r\nReceived: from x\r\n\tby y; Mon, 30 Nov 2026\r\n\r\nb\r\n",
        b"",
        b"no header at all",
        b"\r\n\r\nbody only",
    ];

    #[test]
    fn each_shape_is_what_mail_parser_makes() {
        for raw in MESSAGES {
            // `parse` asserts the equality itself in debug builds; say it here for release.
            let expected = WHOLE.parse(*raw).unwrap_or_else(unparsable);
            assert!(
                parse(&WHOLE, raw) == expected,
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    #[test]
    fn the_shortcut_takes_plain_utf8_text_only() {
        let taken: Vec<bool> = MESSAGES
            .iter()
            .map(|raw| single_text_part(&WHOLE, raw).is_some())
            .collect();
        assert_eq!(
            taken,
            [
                true, true, true, false, false, true, false, false, false, false, false, false,
                false, false, false, true, false, true, false, false, false
            ]
        );
    }

    /// Without the trace, every field but Received is what mail-parser's own choice makes,
    /// at the same offsets; Received is `Empty` at its offsets.
    #[test]
    fn without_trace_differs_only_in_received() {
        let mut fields = String::new();
        for name in [
            "Subject",
            "Comments",
            "Content-Description",
            "Content-Location",
            "Content-Transfer-Encoding",
            "From",
            "To",
            "Cc",
            "Bcc",
            "Reply-To",
            "Sender",
            "Resent-To",
            "Resent-From",
            "Resent-Bcc",
            "Resent-Cc",
            "Resent-Sender",
            "List-Archive",
            "List-Help",
            "List-Id",
            "List-Owner",
            "List-Post",
            "List-Subscribe",
            "List-Unsubscribe",
            "Date",
            "Resent-Date",
            "Message-ID",
            "References",
            "In-Reply-To",
            "Return-Path",
            "Content-ID",
            "Resent-Message-ID",
            "Keywords",
            "Content-Language",
            "Received",
            "MIME-Version",
            "Content-Type",
            "Content-Disposition",
            "X-Other",
            "Auto-Submitted",
            "Delivered-To",
            "Comments",
        ] {
            fields.push_str(&format!(
                "{name}: \"Name\" <a@b.test>, =?utf-8?q?x?= (c) <id@x>; Mon, 30 Nov 2026 \
                 03:00:00 +0000 a, b\r\n"
            ));
        }
        let raw = format!("{fields}\r\nbody\r\n");
        let whole = parse(&WHOLE, raw.as_bytes());
        let mut light = parse(&WITHOUT_TRACE, raw.as_bytes());
        let mut received = 0;
        for (light, whole) in light.parts[0]
            .headers
            .iter_mut()
            .zip(&whole.parts[0].headers)
        {
            if light.name == HeaderName::Received {
                assert_eq!(light.value, HeaderValue::Empty);
                light.value = whole.value.clone();
                received += 1;
            }
        }
        assert_eq!(received, 1);
        assert!(light == whole);
    }

    #[test]
    fn each_shape_is_parsed_once() {
        let parsed = Parsed::new(MESSAGES[0]);
        let first: *const Message = parsed.message(false);
        assert!(std::ptr::eq(first, parsed.message(false)));
        assert!(!std::ptr::eq(first, parsed.message(true)));
        assert!(matches!(
            parsed.message(true).parts[0].headers[0].value,
            HeaderValue::Received(_)
        ));
        assert_eq!(
            parsed.message(false).parts[0].headers[0].value,
            HeaderValue::Empty
        );
    }
}
