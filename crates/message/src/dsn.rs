//! Delivery status notifications (RFC 3464): the bounce a sender gets for mail that could
//! not be delivered, as a multipart/report with a human part, the per-recipient status, and
//! the original headers.

use crate::rfc5322_date;
use std::time::SystemTime;

/// One recipient the report is about.
pub struct FailedRecipient<'a> {
    pub address: &'a str,
    pub orcpt: Option<&'a str>,
    /// The remote's reply or our own reason, e.g. `550 5.1.1 no such user`.
    pub diagnostic: &'a str,
    /// The host that said so, if any.
    pub remote_mta: Option<&'a str>,
}

/// Everything a bounce needs.
pub struct Bounce<'a> {
    pub hostname: &'a str,
    pub to: &'a str,
    pub id: &'a str,
    pub envid: Option<&'a str>,
    pub arrival: SystemTime,
    pub recipients: &'a [FailedRecipient<'a>],
    /// A delay notice (Action: delayed; still being retried) rather than a failure report.
    pub delayed: bool,
    /// The original header section (RET=HDRS is what we always return, it is enough to
    /// recognise the message and never resends a large body).
    pub original_headers: &'a [u8],
    /// The whole original message, returned instead of its headers (RET=FULL, or small).
    pub original_full: Option<&'a [u8]>,
}

/// An enhanced status code from the start of a diagnostic, else the generic one.
fn status_of(diagnostic: &str, delayed: bool) -> String {
    let code = diagnostic.split_whitespace().nth(1).unwrap_or("");
    let valid = code.split('.').count() == 3
        && code
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    match (valid, delayed) {
        (true, _) => code.to_owned(),
        (false, true) => "4.0.0".to_owned(),
        (false, false) => "5.0.0".to_owned(),
    }
}

impl Bounce<'_> {
    pub fn render(&self) -> Vec<u8> {
        let boundary = format!("{}/{}", self.id, self.hostname);
        let mut out = String::new();
        out.push_str(&format!(
            "From: Mail Delivery System <MAILER-DAEMON@{}>\r\n",
            self.hostname
        ));
        out.push_str(&format!("To: <{}>\r\n", self.to));
        out.push_str(if self.delayed {
            "Subject: Delayed Mail (still being retried)\r\n"
        } else {
            "Subject: Undelivered Mail Returned to Sender\r\n"
        });
        out.push_str(&format!("Date: {}\r\n", rfc5322_date(SystemTime::now())));
        out.push_str(&format!(
            "Message-ID: <{}.bounce@{}>\r\n",
            self.id, self.hostname
        ));
        out.push_str("Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n");
        out.push_str(&format!("Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"{boundary}\"\r\n\r\n"));
        out.push_str(&format!(
            "--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        ));
        let what = if self.delayed {
            "has not been delivered yet to these recipients; it is still being retried"
        } else {
            "could not be delivered to these recipients"
        };
        out.push_str(&format!(
            "This is the mail system at {}.\r\n\r\nYour message {what}:\r\n\r\n",
            self.hostname
        ));
        for r in self.recipients {
            out.push_str(&format!("<{}>: {}\r\n", r.address, r.diagnostic));
        }
        out.push_str(&format!(
            "\r\n--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n"
        ));
        out.push_str(&format!("Reporting-MTA: dns; {}\r\n", self.hostname));
        if let Some(envid) = self.envid {
            out.push_str(&format!("Original-Envelope-Id: {envid}\r\n"));
        }
        out.push_str(&format!("Arrival-Date: {}\r\n", rfc5322_date(self.arrival)));
        for r in self.recipients {
            out.push_str("\r\n");
            if let Some(orcpt) = r.orcpt {
                out.push_str(&format!("Original-Recipient: {orcpt}\r\n"));
            }
            out.push_str(&format!(
                "Final-Recipient: rfc822; {}\r\nAction: {}\r\nStatus: {}\r\n",
                r.address,
                if self.delayed { "delayed" } else { "failed" },
                status_of(r.diagnostic, self.delayed)
            ));
            if let Some(mta) = r.remote_mta {
                out.push_str(&format!("Remote-MTA: dns; {mta}\r\n"));
            }
            out.push_str(&format!("Diagnostic-Code: smtp; {}\r\n", r.diagnostic));
        }
        let mut bytes = out.into_bytes();
        match self.original_full {
            Some(full) => {
                let part = format!("\r\n--{boundary}\r\nContent-Type: message/rfc822\r\n\r\n");
                bytes.extend_from_slice(part.as_bytes());
                bytes.extend_from_slice(full);
            }
            None => {
                let part = format!("\r\n--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n");
                bytes.extend_from_slice(part.as_bytes());
                bytes.extend_from_slice(self.original_headers);
            }
        }
        bytes.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_multipart_report() {
        let failed = [FailedRecipient {
            address: "x@far.test",
            orcpt: Some("rfc822;x@far.test"),
            diagnostic: "550 5.1.1 no such user",
            remote_mta: Some("mx.far.test"),
        }];
        let bounce = Bounce {
            hostname: "mx.example.test",
            to: "alice@example.test",
            id: "q7",
            envid: Some("env-1"),
            arrival: SystemTime::UNIX_EPOCH,
            recipients: &failed,
            delayed: false,
            original_headers: b"Subject: hello\r\n",
            original_full: None,
        };
        let text = String::from_utf8(bounce.render()).unwrap();
        for needle in [
            "Content-Type: multipart/report; report-type=delivery-status;",
            "Final-Recipient: rfc822; x@far.test\r\nAction: failed\r\nStatus: 5.1.1\r\n",
            "Original-Envelope-Id: env-1",
            "Diagnostic-Code: smtp; 550 5.1.1 no such user",
            "Content-Type: text/rfc822-headers\r\n\r\nSubject: hello\r\n",
            "--q7/mx.example.test--\r\n",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
        assert_eq!(status_of("451 timeout", false), "5.0.0");
        assert_eq!(status_of("451 timeout", true), "4.0.0");
    }
}
