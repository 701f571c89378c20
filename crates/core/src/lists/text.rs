//! The messages a list writes itself: confirmations, welcomes, help, held-post notices.
//! They come from `LIST-request@` with the null sender and `Auto-Submitted:` set, so nothing
//! automatic answers them and no bounce of one comes back to a list address.

use hermod_store::ListRecord;

/// `team-request@example.test`.
pub(crate) fn request_address(list: &ListRecord) -> String {
    format!("{}-request@{}", list.local(), list.domain())
}

/// `team+WHAT@example.test`.
pub(crate) fn command_address(list: &ListRecord, what: &str) -> String {
    format!("{}+{what}@{}", list.local(), list.domain())
}

/// A plain-text message from the list's request address.
pub(crate) fn notice(
    hostname: &str,
    list: &ListRecord,
    to: &str,
    subject: &str,
    extra: &[(&str, String)],
    body: &str,
) -> Vec<u8> {
    let mut out = String::with_capacity(512 + body.len());
    let date = hermod_message::rfc5322_date(std::time::SystemTime::now());
    out.push_str(&format!(
        "From: {} <{}>\r\nTo: {to}\r\nSubject: {subject}\r\nDate: {date}\r\nMessage-ID: <{}@{hostname}>\r\n",
        quoted(&format!("{} list", list.local())),
        request_address(list),
        unique_id()
    ));
    out.push_str("Auto-Submitted: auto-replied\r\n");
    out.push_str(&format!("List-Id: {}\r\n", list_id(list)));
    for (name, value) in extra {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n");
    out.push_str("Content-Transfer-Encoding: 8bit\r\n\r\n");
    for line in body.lines() {
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.into_bytes()
}

/// RFC 2919: `<team.example.test>`, the label made of what a dot-atom allows.
pub(crate) fn list_id(list: &ListRecord) -> String {
    let label: String = list
        .local()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("<{label}.{}>", list.domain())
}

/// A quoted string (RFC 5322 3.2.4) for a display name, or an encoded word (RFC 2047) when
/// it is not ASCII.
pub(crate) fn quoted(name: &str) -> String {
    if name.is_ascii() {
        let escaped = name.replace('\\', "\\\\").replace('"', "\\\"");
        format!("\"{escaped}\"")
    } else {
        use base64::Engine;
        let encoded = base64::engine::general_purpose::STANDARD.encode(name.as_bytes());
        format!("=?utf-8?b?{encoded}?=")
    }
}

/// Sixteen random hex digits (a Message-ID's unique part).
pub(crate) fn unique_id() -> String {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 8];
    let now = hermod_message::unix_now() as u64;
    if ring::rand::SystemRandom::new().fill(&mut bytes).is_err() {
        bytes = now.to_be_bytes();
    }
    let random: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{now:x}.{random}")
}

pub(crate) fn help(list: &ListRecord) -> String {
    format!(
        "This is the mailing list {list}.\n\n\
         To join, send a message to {subscribe}\n\
         (or \"subscribe\" as the subject to {request}); you will be asked to confirm.\n\
         To leave, send a message to {unsubscribe}\n\
         (or \"unsubscribe\" to {request}).\n\
         To post, write to {list}.\n\
         The list's owner is {owner}.\n",
        list = list.address,
        subscribe = command_address(list, "subscribe"),
        unsubscribe = command_address(list, "unsubscribe"),
        request = request_address(list),
        owner = list.settings.owner,
    )
}
