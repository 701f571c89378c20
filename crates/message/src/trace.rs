//! Trace fields (RFC 5321 section 4.4): `Return-Path:` and `Received:`.

use std::net::IpAddr;

/// The `with` protocol of a Received field (RFC 3848, RFC 6531 section 4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Protocol {
    pub extended: bool,
    pub tls: bool,
    pub authenticated: bool,
    pub utf8: bool,
}

impl Protocol {
    pub fn name(self) -> String {
        let base = match (self.utf8, self.extended) {
            (true, _) => "UTF8SMTP",
            (false, true) => "ESMTP",
            (false, false) => return "SMTP".into(),
        };
        let tls = if self.tls { "S" } else { "" };
        let auth = if self.authenticated { "A" } else { "" };
        format!("{base}{tls}{auth}")
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
    pub date: String,
}

impl Received<'_> {
    /// The folded field, ending in CRLF.
    pub fn render(&self) -> String {
        let ip = self.peer_ip.map(|ip| match ip {
            IpAddr::V4(v4) => format!("[{v4}]"),
            IpAddr::V6(v6) => format!("[IPv6:{v6}]"),
        });
        let from = match (self.peer_name, ip) {
            (Some(name), Some(ip)) => format!("{} ({name} {ip})", self.helo),
            (None, Some(ip)) => format!("{} ({ip})", self.helo),
            (_, None) => self.helo.to_owned(),
        };
        let mut out = format!(
            "Received: from {from}\r\n\tby {} (hermod) with {} id {}",
            self.by,
            self.protocol.name(),
            self.id
        );
        if let Some(tls) = self.tls {
            out.push_str(&format!("\r\n\t(using {tls})"));
        }
        if let Some(user) = self.authenticated_as {
            out.push_str(&format!("\r\n\t(authenticated as {user})"));
        }
        if let Some(rcpt) = self.for_rcpt {
            out.push_str(&format!("\r\n\tfor <{rcpt}>"));
        }
        out.push_str(&format!(";\r\n\t{}\r\n", self.date));
        out
    }
}

/// `Return-Path: <sender>` (empty for the null sender), added at final delivery.
pub fn return_path(sender: Option<&str>) -> String {
    format!("Return-Path: <{}>\r\n", sender.unwrap_or(""))
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
            date: "Sat, 28 Nov 2026 20:42:22 +0000".into(),
        };
        assert_eq!(
            r.render(),
            "Received: from client.test ([192.0.2.7])\r\n\tby mx.example.test (hermod) with ESMTP id abc123\r\n\tfor <alice@example.test>;\r\n\tSat, 28 Nov 2026 20:42:22 +0000\r\n"
        );
        assert_eq!(return_path(None), "Return-Path: <>\r\n");
    }
}
