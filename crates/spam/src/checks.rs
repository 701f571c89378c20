//! Checks on the connection and the envelope, before any content: the HELO name, reverse
//! DNS, DNS block lists. Pure functions; the server does the lookups.

use std::net::{IpAddr, Ipv4Addr};

/// What is wrong with a HELO/EHLO name, as a rule name: neither an address literal
/// (`[192.0.2.1]`) nor a host name with a dot.
pub fn helo_problem(name: &str) -> Option<&'static str> {
    if let Some(literal) = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        let literal = literal.strip_prefix("IPv6:").unwrap_or(literal);
        return match literal.parse::<IpAddr>() {
            Ok(_) => None,
            Err(_) => Some("HELO_INVALID"),
        };
    }
    if name.parse::<IpAddr>().is_ok() {
        return Some("HELO_BARE_IP");
    }
    let name = name.strip_suffix('.').unwrap_or(name);
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    let tld_ok = name
        .rsplit('.')
        .next()
        .is_some_and(|tld| tld.bytes().any(|b| b.is_ascii_alphabetic()));
    if name.contains('.') && name.split('.').all(label_ok) && tld_ok {
        None
    } else {
        Some("HELO_INVALID")
    }
}

/// The name to look up in `zone` for `ip`: reversed octets (IPv4) or nibbles (IPv6).
pub fn dnsbl_query(ip: IpAddr, zone: &str) -> String {
    match hermod_types::canonical_ip(ip) {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            format!("{d}.{c}.{b}.{a}.{zone}.")
        }
        IpAddr::V6(v6) => {
            let mut name = String::with_capacity(64 + zone.len());
            for byte in v6.octets().iter().rev() {
                name.push_str(&format!("{:x}.{:x}.", byte & 0xf, byte >> 4));
            }
            name.push_str(zone);
            name.push('.');
            name
        }
    }
}

/// What a block list's answer means; `None` when the answer is not a listing (outside
/// 127.0.0.0/8, or one of the error codes 127.255.255.x a list returns to refused or
/// over-quota resolvers: those must never refuse mail).
pub fn dnsbl_meaning(zone: &str, answer: Ipv4Addr) -> Option<String> {
    let [a, b, c, d] = answer.octets();
    if a != 127 || (b, c) == (255, 255) {
        return None;
    }
    let known = match (zone, d) {
        ("zen.spamhaus.org" | "sbl.spamhaus.org", 2) => "Spamhaus SBL: a known spam source",
        ("zen.spamhaus.org" | "sbl.spamhaus.org", 3) => "Spamhaus CSS: a snowshoe spam source",
        ("zen.spamhaus.org" | "xbl.spamhaus.org", 4..=7) => {
            "Spamhaus XBL: a hijacked or infected computer"
        }
        ("zen.spamhaus.org" | "sbl.spamhaus.org", 9) => "Spamhaus DROP: a hijacked network",
        ("zen.spamhaus.org" | "pbl.spamhaus.org", 10 | 11) => {
            "Spamhaus PBL: an address that should not send mail directly"
        }
        ("bl.spamcop.net", 2) => "SpamCop: reported as a spam source",
        ("b.barracudacentral.org", 2) => "Barracuda: poor reputation",
        _ => "",
    };
    Some(if known.is_empty() {
        format!("listed ({answer})")
    } else {
        format!("{known} ({answer})")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helo_names() {
        for good in [
            "mail.example.org",
            "mx1.example.org.",
            "[192.0.2.1]",
            "[IPv6:2001:db8::1]",
        ] {
            assert_eq!(helo_problem(good), None, "{good}");
        }
        for (bad, why) in [
            ("localhost", "HELO_INVALID"),
            ("user-pc", "HELO_INVALID"),
            ("192.0.2.1", "HELO_BARE_IP"),
            ("[999.1.1.1]", "HELO_INVALID"),
            ("bad_.-name.", "HELO_INVALID"),
            ("host.123", "HELO_INVALID"),
            ("", "HELO_INVALID"),
        ] {
            assert_eq!(helo_problem(bad), Some(why), "{bad}");
        }
    }

    #[test]
    fn query_names_reverse_the_address() {
        let v4: IpAddr = "192.0.2.99".parse().unwrap();
        assert_eq!(dnsbl_query(v4, "zen.example"), "99.2.0.192.zen.example.");
        let mapped: IpAddr = "::ffff:192.0.2.99".parse().unwrap();
        assert_eq!(
            dnsbl_query(mapped, "zen.example"),
            "99.2.0.192.zen.example."
        );
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        let name = dnsbl_query(v6, "bl.example");
        assert!(name.starts_with("1.0.0.0.0.0.0.0."), "{name}");
        assert!(name.ends_with(".8.b.d.0.1.0.0.2.bl.example."), "{name}");
        assert_eq!(name.split('.').count(), 32 + 3);
    }

    #[test]
    fn answers_and_error_codes() {
        let zen = "zen.spamhaus.org";
        let sbl = dnsbl_meaning(zen, Ipv4Addr::new(127, 0, 0, 2)).unwrap();
        assert!(sbl.contains("SBL") && sbl.contains("127.0.0.2"), "{sbl}");
        assert!(
            dnsbl_meaning(zen, Ipv4Addr::new(127, 0, 0, 11))
                .unwrap()
                .contains("PBL")
        );
        assert_eq!(dnsbl_meaning(zen, Ipv4Addr::new(127, 255, 255, 254)), None);
        assert_eq!(dnsbl_meaning(zen, Ipv4Addr::new(10, 0, 0, 2)), None);
        let other = dnsbl_meaning("bl.example", Ipv4Addr::new(127, 0, 0, 5)).unwrap();
        assert_eq!(other, "listed (127.0.0.5)");
    }
}
