//! What a domain publishes so that other servers and email programs find hermod: the DNS
//! records (`hermod domain dns`, `hermod quickstart`) and the MTA-STS policy (RFC 8461) the
//! HTTP listener serves and whose id the `_mta-sts` record carries.

use crate::dkim::{dkim_txt, quoted, signing_keys};
use hermod_store::DkimKeyRecord;
use std::fmt::Write;
use std::net::IpAddr;

/// A service email programs connect to, as the SRV records of RFC 6186 and RFC 8314 name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientService {
    /// `submissions`, `submission`, `imaps`, `imap`, `pop3s`, `pop3`.
    pub srv_name: &'static str,
    /// The port it listens on; `None` when hermod does not offer it.
    pub port: Option<u16>,
    /// TLS from the first byte (preferred by RFC 8314 over STARTTLS).
    pub implicit_tls: bool,
}

/// Everything the records of one domain depend on.
pub struct DomainSetup<'a> {
    pub domain: &'a str,
    /// The server's host name: the MX target and the SRV targets.
    pub hostname: &'a str,
    pub dkim_keys: &'a [DkimKeyRecord],
    /// The server's public addresses, when known: A/AAAA records for `hostname` and the SPF.
    pub public_ips: &'a [IpAddr],
    pub services: &'a [ClientService],
    /// The MTA-STS policy served, for its id; `None` leaves the MTA-STS records out.
    pub mta_sts_policy: Option<&'a str>,
}

/// The owner name and zone-file TXT data of a DKIM key's record.
fn dkim_record(domain: &str, key: &DkimKeyRecord) -> (String, String) {
    (
        format!("{}._domainkey.{domain}", key.selector),
        quoted(&dkim_txt(key)),
    )
}

/// The zone-file records of `keys` (new keys from a rotation), with what to do about them.
pub fn dkim_rotation_notice(domain: &str, keys: &[DkimKeyRecord]) -> String {
    let mut out = format!(
        "; New DKIM keys for {domain}: publish these records now. They sign once hermod sees\n\
         ; them in DNS (it asks every 5 minutes); until then the current keys go on signing.\n\
         ; Keep the old selectors' records until mail they signed is a few days old.\n"
    );
    for key in keys {
        let (name, data) = dkim_record(domain, key);
        rr(&mut out, name, "TXT", data);
    }
    out
}

/// The MTA-STS policy file (RFC 8461 3.2), CRLF-terminated lines.
pub fn mta_sts_policy(mode: &str, mx: &[&str], max_age_secs: u64) -> String {
    let mut out = format!("version: STSv1\r\nmode: {mode}\r\n");
    for name in mx {
        let _ = write!(out, "mx: {name}\r\n");
    }
    let _ = write!(out, "max_age: {max_age_secs}\r\n");
    out
}

/// The `id=` of the `_mta-sts` TXT record: derived from the policy, so it changes exactly
/// when the policy does (senders refetch a policy whose id changed). RFC 8461 3.1: 1 to 32
/// letters and digits.
pub fn mta_sts_id(policy: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, policy.as_bytes());
    digest.as_ref()[..10]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The SPF record: the MX hosts, plus the public addresses when given (so mail sent before
/// the MX record has spread, or from an address the MX does not resolve to, still passes).
pub fn spf_txt(public_ips: &[IpAddr]) -> String {
    let mut spf = "v=spf1 mx".to_owned();
    for ip in public_ips {
        match ip {
            IpAddr::V4(v4) => {
                let _ = write!(spf, " ip4:{v4}");
            }
            IpAddr::V6(v6) => {
                let _ = write!(spf, " ip6:{v6}");
            }
        }
    }
    spf + " -all"
}

pub fn dmarc_txt(domain: &str) -> String {
    format!("v=DMARC1; p=quarantine; rua=mailto:postmaster@{domain}")
}

/// Appends one zone-file record.
fn rr(out: &mut String, name: String, kind: &str, data: String) {
    let _ = writeln!(out, "{name}.\t3600\tIN\t{kind}\t{data}");
}

/// Every record a domain needs for hermod to receive and send its mail and for programs to
/// find it, zone-file ready (absolute names, one record a line, `;` comments).
pub fn dns_records(setup: &DomainSetup<'_>) -> String {
    let (d, host) = (setup.domain, setup.hostname);
    let mut out = format!("; DNS records for {d}, served by {host}\n");
    rr(&mut out, d.to_owned(), "MX", format!("10 {host}."));
    for ip in setup.public_ips {
        let kind = if ip.is_ipv4() { "A" } else { "AAAA" };
        rr(&mut out, host.to_owned(), kind, ip.to_string());
    }
    rr(
        &mut out,
        d.to_owned(),
        "TXT",
        quoted(&spf_txt(setup.public_ips)),
    );
    let signing = signing_keys(setup.dkim_keys);
    for key in setup.dkim_keys {
        if !signing.contains(key) {
            // A rotated-out key: mail it signed may still be verified for a while.
            let _ = writeln!(
                out,
                "; {} no longer signs once the newer key is published: remove it once its \
                 mail is a few days old",
                key.selector
            );
        }
        let (name, data) = dkim_record(d, key);
        rr(&mut out, name, "TXT", data);
    }
    rr(
        &mut out,
        format!("_dmarc.{d}"),
        "TXT",
        quoted(&dmarc_txt(d)),
    );
    if let Some(policy) = setup.mta_sts_policy {
        let txt = format!("v=STSv1; id={}", mta_sts_id(policy));
        rr(&mut out, format!("_mta-sts.{d}"), "TXT", quoted(&txt));
        rr(
            &mut out,
            format!("mta-sts.{d}"),
            "CNAME",
            format!("{host}."),
        );
    }
    let tlsrpt = format!("v=TLSRPTv1; rua=mailto:postmaster@{d}");
    rr(&mut out, format!("_smtp._tls.{d}"), "TXT", quoted(&tlsrpt));
    for service in setup.services {
        let name = format!("_{}._tcp.{d}", service.srv_name);
        // RFC 6186 4: a target of "." says the service is not offered at this domain.
        let data = match service.port {
            Some(port) => {
                let priority = if service.implicit_tls { 0 } else { 10 };
                format!("{priority} 1 {port} {host}.")
            }
            None => "0 0 0 .".to_owned(),
        };
        rr(&mut out, name, "SRV", data);
    }
    rr(
        &mut out,
        format!("autoconfig.{d}"),
        "CNAME",
        format!("{host}."),
    );
    rr(
        &mut out,
        format!("autodiscover.{d}"),
        "CNAME",
        format!("{host}."),
    );
    let _ = writeln!(
        out,
        "_autodiscover._tcp.{d}.\t3600\tIN\tSRV\t0 1 443 {host}."
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_and_records() {
        let policy = mta_sts_policy("enforce", &["mx.example.test"], 604_800);
        assert_eq!(
            policy,
            "version: STSv1\r\nmode: enforce\r\nmx: mx.example.test\r\nmax_age: 604800\r\n"
        );
        let id = mta_sts_id(&policy);
        assert!(id.len() == 20 && id.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(id, mta_sts_id(&policy.replace("enforce", "testing")));
        let services = [
            ClientService {
                srv_name: "submissions",
                port: Some(465),
                implicit_tls: true,
            },
            ClientService {
                srv_name: "pop3",
                port: None,
                implicit_tls: false,
            },
        ];
        let ips: [IpAddr; 2] = ["192.0.2.7".parse().unwrap(), "2001:db8::7".parse().unwrap()];
        let text = dns_records(&DomainSetup {
            domain: "example.test",
            hostname: "mx.example.test",
            dkim_keys: &[],
            public_ips: &ips,
            services: &services,
            mta_sts_policy: Some(&policy),
        });
        for want in [
            "example.test.\t3600\tIN\tMX\t10 mx.example.test.\n",
            "mx.example.test.\t3600\tIN\tA\t192.0.2.7\n",
            "mx.example.test.\t3600\tIN\tAAAA\t2001:db8::7\n",
            "\"v=spf1 mx ip4:192.0.2.7 ip6:2001:db8::7 -all\"",
            &format!("_mta-sts.example.test.\t3600\tIN\tTXT\t\"v=STSv1; id={id}\"\n"),
            "_smtp._tls.example.test.\t3600\tIN\tTXT\t\"v=TLSRPTv1; rua=mailto:postmaster@example.test\"\n",
            "_submissions._tcp.example.test.\t3600\tIN\tSRV\t0 1 465 mx.example.test.\n",
            "_pop3._tcp.example.test.\t3600\tIN\tSRV\t0 0 0 .\n",
            "autoconfig.example.test.\t3600\tIN\tCNAME\tmx.example.test.\n",
        ] {
            assert!(text.contains(want), "{want:?} missing from\n{text}");
        }
    }
}
