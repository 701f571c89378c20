//! Account settings for email programs, in each program's format: Thunderbird's autoconfig
//! (clientConfig 1.1), Outlook's autodiscover (POX, responseschema 2006a) and an Apple
//! configuration profile. Each lists only the services hermod listens on, implicit TLS
//! first (RFC 8314). Everything a client sent (its address) is escaped before it is written.

use hermod_core::selfhost::ClientService;
use hermod_types::Address;
use std::borrow::Cow;
use std::fmt::Write;

/// The services in the order programs should prefer them.
pub(crate) struct Offer<'a> {
    pub hostname: &'a str,
    pub services: &'a [ClientService],
}

impl Offer<'_> {
    fn find(&self, names: &[&str]) -> Vec<(ClientService, u16)> {
        let mut found = Vec::new();
        for name in names {
            let service = self.services.iter().find(|s| s.srv_name == *name);
            if let Some(s) = service
                && let Some(port) = s.port
            {
                found.push((*s, port));
            }
        }
        found
    }

    /// IMAP before POP3, implicit TLS before STARTTLS.
    fn incoming(&self) -> Vec<(ClientService, u16)> {
        self.find(&["imaps", "imap", "pop3s", "pop3"])
    }

    fn outgoing(&self) -> Vec<(ClientService, u16)> {
        self.find(&["submissions", "submission"])
    }
}

/// `&`, `<`, `>`, `"` and `'` as XML entities; control characters (which XML 1.0 cannot
/// carry at all) dropped.
pub(crate) fn xml_escape(text: &str) -> Cow<'_, str> {
    let special = |c: char| matches!(c, '&' | '<' | '>' | '"' | '\'') || c.is_control();
    if !text.contains(special) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn protocol(service: &ClientService) -> &'static str {
    match service.srv_name {
        "imap" | "imaps" => "imap",
        "pop3" | "pop3s" => "pop3",
        _ => "smtp",
    }
}

/// Thunderbird's format (the `%EMAILADDRESS%` placeholder is Thunderbird's own).
pub(crate) fn thunderbird(offer: &Offer<'_>, domain: &str) -> String {
    let (domain, host) = (xml_escape(domain), xml_escape(offer.hostname));
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str("<clientConfig version=\"1.1\">\n");
    let _ = writeln!(out, "  <emailProvider id=\"{domain}\">");
    let _ = writeln!(out, "    <domain>{domain}</domain>");
    let _ = writeln!(out, "    <displayName>{domain}</displayName>");
    let _ = writeln!(out, "    <displayShortName>{domain}</displayShortName>");
    let servers = offer
        .incoming()
        .into_iter()
        .map(|s| ("incomingServer", s))
        .chain(offer.outgoing().into_iter().map(|s| ("outgoingServer", s)));
    for (element, (service, port)) in servers {
        let socket = if service.implicit_tls {
            "SSL"
        } else {
            "STARTTLS"
        };
        let _ = writeln!(out, "    <{element} type=\"{}\">", protocol(&service));
        let _ = writeln!(out, "      <hostname>{host}</hostname>");
        let _ = writeln!(out, "      <port>{port}</port>");
        let _ = writeln!(out, "      <socketType>{socket}</socketType>");
        out.push_str("      <username>%EMAILADDRESS%</username>\n");
        out.push_str("      <authentication>password-cleartext</authentication>\n");
        let _ = writeln!(out, "    </{element}>");
    }
    out.push_str("  </emailProvider>\n</clientConfig>\n");
    out
}

/// The address in an Outlook autodiscover request (`<EMailAddress>` of the request schema),
/// its character references resolved; `None` without one, or with a reference that is not
/// XML.
pub(crate) fn autodiscover_address(body: &str) -> Option<String> {
    let start = body.find("<EMailAddress>")? + "<EMailAddress>".len();
    let len = body[start..].find("</EMailAddress>")?;
    xml_unescape(body[start..start + len].trim())
}

fn xml_unescape(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let semi = rest[amp..].find(';')? + amp;
        let c = match &rest[amp + 1..semi] {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            entity => {
                let code = match entity.strip_prefix("#x") {
                    Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                    None => entity.strip_prefix('#')?.parse().ok()?,
                };
                char::from_u32(code)?
            }
        };
        out.push(c);
        rest = &rest[semi + 1..];
    }
    out.push_str(rest);
    Some(out)
}

/// Outlook's "POX" autodiscover response for `address`.
pub(crate) fn autodiscover(offer: &Offer<'_>, address: &Address) -> String {
    let address = address.to_string();
    let login = xml_escape(&address);
    let host = xml_escape(offer.hostname);
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    out.push_str("<Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006\">\n");
    out.push_str("  <Response xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a\">\n");
    out.push_str(
        "    <Account>\n      <AccountType>email</AccountType>\n      <Action>settings</Action>\n",
    );
    // Outlook takes the first protocol of each kind: one incoming, one outgoing.
    let chosen = offer.incoming().into_iter().take(1);
    for (service, port) in chosen.chain(offer.outgoing().into_iter().take(1)) {
        let kind = protocol(&service).to_ascii_uppercase();
        let encryption = if service.implicit_tls { "SSL" } else { "TLS" };
        out.push_str("      <Protocol>\n");
        let _ = writeln!(out, "        <Type>{kind}</Type>");
        let _ = writeln!(out, "        <Server>{host}</Server>");
        let _ = writeln!(out, "        <Port>{port}</Port>");
        let _ = writeln!(out, "        <LoginName>{login}</LoginName>");
        out.push_str("        <DomainRequired>off</DomainRequired>\n        <SPA>off</SPA>\n");
        let _ = writeln!(out, "        <Encryption>{encryption}</Encryption>");
        out.push_str("        <AuthRequired>on</AuthRequired>\n      </Protocol>\n");
    }
    out.push_str("    </Account>\n  </Response>\n</Autodiscover>\n");
    out
}

/// A UUID-shaped name derived from `seed`: the same address always gets the same profile
/// identifiers, so installing it again replaces the old one instead of adding a twin.
fn stable_uuid(seed: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, seed.as_bytes());
    let hex: String = digest.as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

fn plist_string(out: &mut String, key: &str, value: &str) {
    let _ = writeln!(
        out,
        "      <key>{key}</key>\n      <string>{}</string>",
        xml_escape(value)
    );
}

fn plist_bool(out: &mut String, key: &str, value: bool) {
    let _ = writeln!(out, "      <key>{key}</key>\n      <{value}/>");
}

fn plist_int(out: &mut String, key: &str, value: u16) {
    let _ = writeln!(
        out,
        "      <key>{key}</key>\n      <integer>{value}</integer>"
    );
}

/// An Apple configuration profile with one mail account; `None` when hermod offers no
/// incoming or no outgoing service (a profile cannot describe half an account).
pub(crate) fn apple_profile(offer: &Offer<'_>, address: &Address) -> Option<String> {
    let (incoming, in_port) = *offer.incoming().first()?;
    let (outgoing, out_port) = *offer.outgoing().first()?;
    let addr = &address.to_string();
    let domain = address.domain().as_str();
    let reverse: Vec<&str> = domain.split('.').rev().collect();
    let identifier = format!("{}.hermod.mail", reverse.join("."));
    let kind = match protocol(&incoming) {
        "imap" => "EmailTypeIMAP",
        _ => "EmailTypePOP",
    };
    let mut out = String::from(concat!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
        "<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" ",
        "\"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n",
        "<plist version=\"1.0\">\n<dict>\n  <key>PayloadContent</key>\n  <array>\n    <dict>\n"
    ));
    plist_string(&mut out, "EmailAccountDescription", addr);
    plist_string(&mut out, "EmailAccountType", kind);
    plist_string(&mut out, "EmailAddress", addr);
    plist_string(
        &mut out,
        "IncomingMailServerAuthentication",
        "EmailAuthPassword",
    );
    plist_string(&mut out, "IncomingMailServerHostName", offer.hostname);
    plist_int(&mut out, "IncomingMailServerPortNumber", in_port);
    plist_bool(&mut out, "IncomingMailServerUseSSL", incoming.implicit_tls);
    plist_string(&mut out, "IncomingMailServerUsername", addr);
    plist_string(
        &mut out,
        "OutgoingMailServerAuthentication",
        "EmailAuthPassword",
    );
    plist_string(&mut out, "OutgoingMailServerHostName", offer.hostname);
    plist_int(&mut out, "OutgoingMailServerPortNumber", out_port);
    plist_bool(&mut out, "OutgoingMailServerUseSSL", outgoing.implicit_tls);
    plist_string(&mut out, "OutgoingMailServerUsername", addr);
    plist_bool(&mut out, "OutgoingPasswordSameAsIncomingPassword", true);
    plist_string(&mut out, "PayloadDisplayName", addr);
    plist_string(
        &mut out,
        "PayloadIdentifier",
        &format!("{identifier}.account"),
    );
    plist_string(&mut out, "PayloadType", "com.apple.mail.managed");
    plist_string(
        &mut out,
        "PayloadUUID",
        &stable_uuid(&format!("account {addr}")),
    );
    plist_int(&mut out, "PayloadVersion", 1);
    out.push_str("    </dict>\n  </array>\n");
    // The outer dictionary's keys, two spaces in.
    let outer = [
        ("PayloadDisplayName", format!("Mail for {addr}")),
        ("PayloadIdentifier", identifier),
        ("PayloadType", "Configuration".to_owned()),
        ("PayloadUUID", stable_uuid(&format!("profile {addr}"))),
    ];
    for (key, value) in outer {
        let _ = writeln!(
            out,
            "  <key>{key}</key>\n  <string>{}</string>",
            xml_escape(&value)
        );
    }
    out.push_str("  <key>PayloadVersion</key>\n  <integer>1</integer>\n</dict>\n</plist>\n");
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn services() -> Vec<ClientService> {
        let s = |srv_name, port, implicit_tls| ClientService {
            srv_name,
            port,
            implicit_tls,
        };
        vec![
            s("submissions", Some(465), true),
            s("submission", Some(587), false),
            s("imaps", None, true),
            s("imap", None, false),
            s("pop3s", Some(995), true),
            s("pop3", Some(110), false),
        ]
    }

    #[test]
    fn escapes_what_clients_send() {
        assert_eq!(xml_escape("plain"), "plain");
        assert_eq!(xml_escape("a<b>&\"c'\u{1}"), "a&lt;b&gt;&amp;&quot;c&apos;");
        let body =
            "<Request><EMailAddress> &quot;x&lt;y&#x26;&#64;&quot;@example.test </EMailAddress>";
        let address = autodiscover_address(body);
        assert_eq!(address.as_deref(), Some("\"x<y&@\"@example.test"));
        assert_eq!(
            autodiscover_address("<EMailAddress>a&bogus;b</EMailAddress>"),
            None
        );
        assert_eq!(autodiscover_address("<EMailAddress>x"), None);
    }

    #[test]
    fn formats_list_only_offered_services() {
        let services = services();
        let offer = Offer {
            hostname: "mx.example.test",
            services: &services,
        };
        let tb = thunderbird(&offer, "example.test");
        assert!(!tb.contains("type=\"imap\""), "{tb}");
        assert!(tb.contains("<port>995</port>\n      <socketType>SSL</socketType>"));
        assert!(tb.find("995").unwrap() < tb.find("110").unwrap());
        let address = Address::parse("al&ice@example.test").unwrap();
        let ad = autodiscover(&offer, &address);
        assert!(
            ad.contains("<Type>POP3</Type>") && ad.contains("<Port>465</Port>"),
            "{ad}"
        );
        assert!(ad.contains("<LoginName>al&amp;ice@example.test</LoginName>"));
        assert!(
            !ad.contains("<Port>110</Port>"),
            "only the preferred one: {ad}"
        );
        let apple = apple_profile(&offer, &address).unwrap();
        assert!(apple.contains("<string>EmailTypePOP</string>"), "{apple}");
        assert!(apple.contains("<string>test.example.hermod.mail</string>"));
        assert_eq!(apple, apple_profile(&offer, &address).unwrap());
        let none = Offer {
            hostname: "mx.example.test",
            services: &services[..2],
        };
        assert!(apple_profile(&none, &address).is_none());
    }
}
