//! Trace fields (RFC 5321 section 4.4): `Return-Path:` and `Received:`.

use crate::date::push_rfc5322_date;
use std::fmt::Write;
use std::net::IpAddr;
use std::time::SystemTime;

/// The `with` protocol of a Received field (RFC 3848, RFC 6531 section 4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Protocol {
    pub extended: bool,
    pub tls: bool,
    pub authenticated: bool,
    pub utf8: bool,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match (self.utf8, self.extended, self.tls, self.authenticated) {
            (true, _, false, false) => "UTF8SMTP",
            (true, _, false, true) => "UTF8SMTPA",
            (true, _, true, false) => "UTF8SMTPS",
            (true, _, true, true) => "UTF8SMTPSA",
            (false, false, _, _) => "SMTP",
            (false, true, false, false) => "ESMTP",
            (false, true, false, true) => "ESMTPA",
            (false, true, true, false) => "ESMTPS",
            (false, true, true, true) => "ESMTPSA",
        }
    }
}

/// What a `Received:` field records about one hop.
#[derive(Debug, Clone)]
pub struct Received<'a> {
    pub helo: &'a str,
    /// `None` when the submission settings hide the client's address.
    pub peer_ip: Option<IpAddr>,
    pub peer_name: Option<&'a str>,
    pub by: &'a str,
    pub protocol: Protocol,
    pub id: &'a str,
    /// Named only for a single recipient: listing several would disclose Bcc recipients.
    pub for_rcpt: Option<&'a str>,
    pub tls: Option<&'a str>,
    /// The account of an authenticated submission (RFC 4954 / RFC 6409).
    pub authenticated_as: Option<&'a str>,
    /// When this hop received the message.
    pub date: SystemTime,
}

impl Received<'_> {
    /// The folded field, ending in CRLF. Built in one string sized up front: it is
    /// rendered for every message received.
    pub fn render(&self) -> String {
        let optional = [
            self.peer_name,
            self.tls,
            self.authenticated_as,
            self.for_rcpt,
        ];
        let variable: usize = [self.helo, self.by, self.id]
            .iter()
            .chain(optional.iter().flatten())
            .map(|s| s.len())
            .sum();
        // The fixed text, an IPv6 literal and the date come to less than 192 octets.
        let mut out = String::with_capacity(variable + 192);
        out.extend(["Received: from ", self.helo]);
        if let Some(ip) = self.peer_ip {
            out.push_str(" (");
            if let Some(name) = self.peer_name {
                out.extend([name, " "]);
            }
            push_address_literal(&mut out, ip);
            out.push(')');
        }
        let protocol = self.protocol.name();
        out.extend([
            "\r\n\tby ",
            self.by,
            " (hermod) with ",
            protocol,
            " id ",
            self.id,
        ]);
        if let Some(tls) = self.tls {
            out.extend(["\r\n\t(using ", tls, ")"]);
        }
        if let Some(user) = self.authenticated_as {
            out.extend(["\r\n\t(authenticated as ", user, ")"]);
        }
        if let Some(rcpt) = self.for_rcpt {
            out.extend(["\r\n\tfor <", rcpt, ">"]);
        }
        out.push_str(";\r\n\t");
        push_rfc5322_date(&mut out, self.date);
        out.push_str("\r\n");
        out
    }
}

/// `[192.0.2.7]` or `[IPv6:2001:db8::7]` (RFC 5321 section 4.1.3).
fn push_address_literal(out: &mut String, ip: IpAddr) {
    // Writing to a String cannot fail.
    let _ = match ip {
        IpAddr::V4(v4) => write!(out, "[{v4}]"),
        IpAddr::V6(v6) => write!(out, "[IPv6:{v6}]"),
    };
}

/// `Return-Path: <sender>` (empty for the null sender), added at final delivery.
pub fn return_path(sender: Option<&str>) -> String {
    ["Return-Path: <", sender.unwrap_or(""), ">\r\n"].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_names() {
        let p = |extended, tls, authenticated, utf8| {
            Protocol {
                extended,
                tls,
                authenticated,
                utf8,
            }
            .name()
        };
        assert_eq!(p(false, false, false, false), "SMTP");
        assert_eq!(p(true, false, false, false), "ESMTP");
        assert_eq!(p(true, true, false, false), "ESMTPS");
        assert_eq!(p(true, true, true, false), "ESMTPSA");
        assert_eq!(p(true, true, false, true), "UTF8SMTPS");
        assert_eq!(p(true, false, true, false), "ESMTPA");
        assert_eq!(p(false, true, true, false), "SMTP");
        assert_eq!(p(false, false, false, true), "UTF8SMTP");
        assert_eq!(p(false, false, true, true), "UTF8SMTPA");
        assert_eq!(p(true, true, true, true), "UTF8SMTPSA");
    }

    #[test]
    fn renders_a_folded_received_field() {
        let r = Received {
            helo: "client.test",
            peer_ip: Some("192.0.2.7".parse().unwrap()),
            peer_name: None,
            by: "mx.example.test",
            protocol: Protocol {
                extended: true,
                tls: false,
                authenticated: false,
                utf8: false,
            },
            id: "abc123",
            for_rcpt: Some("alice@example.test"),
            tls: None,
            authenticated_as: None,
            date: SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_795_898_542),
        };
        assert_eq!(
            r.render(),
            "Received: from client.test ([192.0.2.7])\r\n\tby mx.example.test (hermod) with ESMTP id abc123\r\n\tfor <alice@example.test>;\r\n\tSat, 28 Nov 2026 20:42:22 +0000\r\n"
        );
        assert_eq!(return_path(None), "Return-Path: <>\r\n");
    }

    #[test]
    fn renders_every_clause_and_hides_a_hidden_address() {
        let mut r = Received {
            helo: "[2001:db8::7]",
            peer_ip: Some("2001:db8::7".parse().unwrap()),
            peer_name: Some("client.example.test"),
            by: "mx.example.test",
            protocol: Protocol {
                extended: true,
                tls: true,
                authenticated: true,
                utf8: false,
            },
            id: "abc123",
            for_rcpt: None,
            tls: Some("TLSv1.3 with cipher TLS13_AES_128_GCM_SHA256"),
            authenticated_as: Some("alice@example.test"),
            date: SystemTime::UNIX_EPOCH,
        };
        assert_eq!(
            r.render(),
            "Received: from [2001:db8::7] (client.example.test [IPv6:2001:db8::7])\r\n\t\
             by mx.example.test (hermod) with ESMTPSA id abc123\r\n\t\
             (using TLSv1.3 with cipher TLS13_AES_128_GCM_SHA256)\r\n\t\
             (authenticated as alice@example.test);\r\n\t\
             Thu, 1 Jan 1970 00:00:00 +0000\r\n"
        );
        r.peer_ip = None;
        assert!(
            r.render()
                .starts_with("Received: from [2001:db8::7]\r\n\tby mx.example.test"),
            "{}",
            r.render()
        );
    }
}
