//! `hermod check` and the dashboard's check: looks at the configuration as the internet
//! will, and says line by line what is right and what is missing, each problem with its
//! fix. DNS is asked through the configured `[dns] nameservers` (the resolver the server
//! itself uses).

mod cert;

use cert::CertInfo;
use hermod_config::Config;
use hermod_store::DkimKeyRecord;
use hermod_types::Domain;
use mail_auth::hickory_resolver::TokioResolver;
use mail_auth::hickory_resolver::proto::rr::RData;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// How long a port may take to answer before it counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// A certificate closer than this to its end is reported.
const EXPIRY_WARNING_DAYS: i64 = 14;

/// One line of the report: `ok`, or a problem (`MISSING`, `WRONG`) with its fix.
#[derive(Debug, Clone)]
pub struct Finding {
    pub kind: &'static str,
    pub what: String,
    pub fix: Option<String>,
}

impl Finding {
    pub fn is_problem(&self) -> bool {
        self.fix.is_some()
    }
}

/// Checks the setup of `domains` (with their DKIM keys) as the internet sees it, through
/// the configured resolver. `ports`: also connect to every listener.
pub async fn run(
    config: &Config,
    domains: &[(Domain, Vec<DkimKeyRecord>)],
    public_ips: &[IpAddr],
    ports: bool,
) -> Result<Vec<Finding>, String> {
    let auth = crate::spam::authenticator(&config.dns.nameservers)
        .map_err(|e| format!("DNS resolver: {e}"))?;
    let mut checker = Checker {
        auth: &auth,
        dns: auth.resolver(),
        config,
        findings: Vec::new(),
    };
    checker.run(domains, public_ips, ports).await;
    Ok(checker.findings)
}

struct Checker<'a> {
    /// SPF is evaluated by mail-auth, as the server evaluates it for incoming mail.
    auth: &'a mail_auth::MessageAuthenticator,
    dns: &'a TokioResolver,
    config: &'a Config,
    findings: Vec<Finding>,
}

impl Checker<'_> {
    fn ok(&mut self, what: String) {
        self.findings.push(Finding {
            kind: "ok",
            what,
            fix: None,
        });
    }

    fn problem(&mut self, kind: &'static str, what: String, fix: String) {
        self.findings.push(Finding {
            kind,
            what,
            fix: Some(fix),
        });
    }

    async fn run(
        &mut self,
        domains: &[(Domain, Vec<DkimKeyRecord>)],
        public_ips: &[IpAddr],
        ports: bool,
    ) {
        let ips = self.hostname(public_ips).await;
        for ip in &ips {
            self.reverse_dns(*ip).await;
        }
        if domains.is_empty() {
            let fix = "hermod domain add DOMAIN".to_owned();
            self.problem("MISSING", "no local domain".into(), fix);
        }
        for (domain, keys) in domains {
            self.domain(domain.as_str(), keys, &ips).await;
        }
        self.certificate(domains);
        if ports {
            self.ports(&ips).await;
        }
    }

    /// The host name's addresses; with `public_ips`, they must be among them.
    async fn hostname(&mut self, public_ips: &[IpAddr]) -> Vec<IpAddr> {
        let host = self.config.hostname.clone();
        let found = match self.dns.lookup_ip(format!("{host}.")).await {
            Ok(lookup) => lookup.iter().collect::<Vec<_>>(),
            Err(_) => Vec::new(),
        };
        let example = public_ips
            .first()
            .map_or("SERVER-IP".to_owned(), IpAddr::to_string);
        if found.is_empty() {
            let fix = format!("publish {host}. A {example} (and AAAA for IPv6)");
            self.problem("MISSING", format!("{host} does not resolve"), fix);
            return public_ips.to_vec();
        }
        let listed: Vec<String> = found.iter().map(IpAddr::to_string).collect();
        self.ok(format!("{host} resolves to {}", listed.join(", ")));
        for ip in public_ips.iter().filter(|ip| !found.contains(ip)) {
            let kind = if ip.is_ipv4() { "A" } else { "AAAA" };
            let fix = format!("publish {host}. {kind} {ip}");
            self.problem("WRONG", format!("{host} does not resolve to {ip}"), fix);
        }
        if public_ips.is_empty() {
            found
        } else {
            public_ips.to_vec()
        }
    }

    async fn reverse_dns(&mut self, ip: IpAddr) {
        let host = self.config.hostname.clone();
        let names: Vec<String> = match self.dns.reverse_lookup(arpa_name(ip)).await {
            Ok(lookup) => lookup
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    RData::PTR(ptr) => Some(trim_dot(&ptr.0.to_ascii())),
                    _ => None,
                })
                .collect(),
            Err(_) => Vec::new(),
        };
        if names.iter().any(|n| n.eq_ignore_ascii_case(&host)) {
            self.ok(format!("reverse DNS of {ip} is {host}"));
        } else {
            let what = match names.is_empty() {
                true => format!("{ip} has no reverse DNS"),
                false => format!("reverse DNS of {ip} is {}, not {host}", names.join(", ")),
            };
            let fix = format!("ask your hosting provider to set the PTR of {ip} to {host}");
            self.problem("WRONG", what, fix);
        }
    }

    async fn domain(&mut self, domain: &str, keys: &[DkimKeyRecord], ips: &[IpAddr]) {
        self.mx(domain).await;
        self.spf(domain, ips).await;
        // Oldest first, so a rotation's new key is checked after the keys it replaces: while
        // its record is missing, its finding can say which published key signs meanwhile
        // (`outbound::dkim`).
        let mut keys: Vec<&DkimKeyRecord> = keys.iter().collect();
        keys.sort_by_key(|k| hermod_core::dkim::generation(&k.selector));
        let mut published: Vec<&DkimKeyRecord> = Vec::new();
        for key in keys {
            let meanwhile = (published.iter().rev())
                .find(|k| k.algorithm == key.algorithm)
                .map(|k| k.selector.clone());
            if self.dkim(domain, key, meanwhile).await {
                published.push(key);
            }
        }
        let dmarc = format!("_dmarc.{domain}");
        let want = hermod_core::selfhost::dmarc_txt(domain);
        self.txt_present(&dmarc, "v=DMARC1", "DMARC record", &want)
            .await;
        let tlsrpt = format!("_smtp._tls.{domain}");
        let want = format!("v=TLSRPTv1; rua=mailto:postmaster@{domain}");
        self.txt_present(&tlsrpt, "v=TLSRPTv1", "TLS-RPT record", &want)
            .await;
        self.mta_sts(domain).await;
    }

    async fn mx(&mut self, domain: &str) {
        let host = self.config.hostname.clone();
        let exchanges: Vec<String> = match self.dns.mx_lookup(format!("{domain}.")).await {
            Ok(lookup) => lookup
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    RData::MX(mx) => Some(trim_dot(&mx.exchange.to_ascii())),
                    _ => None,
                })
                .collect(),
            Err(_) => Vec::new(),
        };
        let fix = format!("publish {domain}. MX 10 {host}.");
        if exchanges.iter().any(|e| e.eq_ignore_ascii_case(&host)) {
            self.ok(format!("MX of {domain} points to {host}"));
        } else if exchanges.is_empty() {
            self.problem("MISSING", format!("MX record of {domain}"), fix);
        } else {
            let what = format!("MX of {domain} is {}, not {host}", exchanges.join(", "));
            self.problem("WRONG", what, fix);
        }
    }

    /// SPF is evaluated as receivers will: mail from `postmaster@domain` sent from each of
    /// the server's addresses must pass.
    async fn spf(&mut self, domain: &str, ips: &[IpAddr]) {
        let records = self.txt(domain).await;
        let Some(record) = records.iter().find(|t| t.starts_with("v=spf1")) else {
            let fix = format!(
                "publish {domain}. TXT \"{}\"",
                hermod_core::selfhost::spf_txt(ips)
            );
            self.problem("MISSING", format!("SPF record of {domain}"), fix);
            return;
        };
        let mut failed = Vec::new();
        for ip in ips {
            if !self.spf_allows(domain, *ip).await {
                failed.push(ip.to_string());
            }
        }
        if failed.is_empty() {
            self.ok(format!("SPF of {domain} ({record}) allows this server"));
        } else {
            let what = format!("SPF of {domain} does not allow {}", failed.join(", "));
            let fix = format!(
                "publish {domain}. TXT \"{}\"",
                hermod_core::selfhost::spf_txt(ips)
            );
            self.problem("WRONG", what, fix);
        }
    }

    async fn spf_allows(&self, domain: &str, ip: IpAddr) -> bool {
        use mail_auth::spf::verify::SpfParameters;
        let sender = format!("postmaster@{domain}");
        let host = &self.config.hostname;
        let output = self
            .auth
            .verify_spf(SpfParameters::verify_mail_from(ip, host, host, &sender))
            .await;
        output.result() == mail_auth::SpfResult::Pass
    }

    /// Checks one key's record; whether DNS publishes that key. `meanwhile`: an older key
    /// of the same algorithm whose record is published, which signs until this one's is.
    async fn dkim(&mut self, domain: &str, key: &DkimKeyRecord, meanwhile: Option<String>) -> bool {
        let name = format!("{}._domainkey.{domain}", key.selector);
        let want = hermod_core::dkim::dkim_txt(key);
        let found = self.txt(&name).await;
        let fix = format!("publish {name}. TXT \"{want}\" (split into strings of 255 characters)");
        let until = |what: String| match &meanwhile {
            Some(older) => format!("{what} ({older} signs until it is published)"),
            None => what,
        };
        match found
            .iter()
            .find(|t| t.contains("v=DKIM1") || t.contains("p="))
        {
            None => self.problem("MISSING", until(format!("DKIM record {name}")), fix),
            Some(text) if hermod_core::dkim::record_matches(text, key) => {
                let what = format!("DKIM record {name} matches the {} key", key.algorithm);
                self.ok(what);
                return true;
            }
            Some(_) => {
                let what = until(format!("DKIM record {name} holds another key"));
                self.problem("WRONG", what, fix);
            }
        }
        false
    }

    async fn mta_sts(&mut self, domain: &str) {
        let sts = &self.config.mta_sts;
        if self.config.listen.https.is_empty() || sts.mode == hermod_config::MtaStsMode::None {
            return;
        }
        let policy = crate::mta_sts_policy(self.config);
        let want = format!("v=STSv1; id={}", hermod_core::selfhost::mta_sts_id(&policy));
        let name = format!("_mta-sts.{domain}");
        let found = self.txt(&name).await;
        let fix = format!("publish {name}. TXT \"{want}\"");
        match found.iter().find(|t| t.starts_with("v=STSv1")) {
            None => self.problem("MISSING", format!("MTA-STS record {name}"), fix),
            Some(text) if text.replace(' ', "") == want.replace(' ', "") => self.ok(format!(
                "MTA-STS record {name} announces the current policy"
            )),
            Some(_) => {
                let what = format!("MTA-STS record {name} has an old policy id");
                self.problem("WRONG", what, fix);
            }
        }
    }

    async fn txt_present(&mut self, name: &str, prefix: &str, what: &str, want: &str) {
        let found = self.txt(name).await;
        if found.iter().any(|t| t.starts_with(prefix)) {
            self.ok(format!("{what} {name} is published"));
        } else {
            let fix = format!("publish {name}. TXT \"{want}\"");
            self.problem("MISSING", format!("{what} {name}"), fix);
        }
    }

    /// Each TXT record of `name`, its strings joined.
    async fn txt(&self, name: &str) -> Vec<String> {
        match self.dns.txt_lookup(format!("{name}.")).await {
            Ok(lookup) => lookup
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    RData::TXT(txt) => Some(
                        txt.txt_data
                            .iter()
                            .map(|s| String::from_utf8_lossy(s).into_owned())
                            .collect(),
                    ),
                    _ => None,
                })
                .collect(),
            Err(_) => Vec::new(),
        }
    }
}

/// The PTR name of an address (in-addr.arpa or ip6.arpa).
fn arpa_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            format!("{d}.{c}.{b}.{a}.in-addr.arpa.")
        }
        IpAddr::V6(v6) => {
            let mut name = String::new();
            for byte in v6.octets().iter().rev() {
                name.push_str(&format!("{:x}.{:x}.", byte & 0xf, byte >> 4));
            }
            name + "ip6.arpa."
        }
    }
}

fn trim_dot(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl Checker<'_> {
    /// The certificate every TLS listener presents: valid for the names clients ask for,
    /// and not about to expire.
    fn certificate(&mut self, domains: &[(Domain, Vec<DkimKeyRecord>)]) {
        let config = self.config;
        // The order the server picks: an ACME certificate once issued, [tls], generated.
        let acme = config.data_dir.join("acme/cert.pem");
        let path = match &config.tls.cert {
            _ if config.acme.directory.is_some() && acme.exists() => acme,
            Some(path) => path.clone(),
            None => config.data_dir.join("tls/cert.pem"),
        };
        let fix_names = "get a certificate for these names (e.g. certbot certonly --standalone)\nand set [tls] cert and key";
        let info = match CertInfo::load(&path) {
            Ok(info) => info,
            Err(e) if config.tls.cert.is_none() => {
                let what =
                    format!("no certificate yet ({e}); hermod makes a self-signed one at start");
                self.problem("MISSING", what, fix_names.into());
                return;
            }
            Err(e) => {
                self.problem(
                    "WRONG",
                    format!("certificate: {e}"),
                    "fix [tls] cert".into(),
                );
                return;
            }
        };
        let mut names = vec![config.hostname.clone()];
        if !config.listen.https.is_empty() {
            for (domain, _) in domains {
                names.push(format!("mta-sts.{}", domain.as_str()));
                names.push(format!("autoconfig.{}", domain.as_str()));
            }
        }
        let (valid, invalid): (Vec<_>, Vec<_>) = names.iter().partition(|n| info.valid_for(n));
        if info.self_signed {
            let what = format!(
                "the certificate {} is self-signed: programs will warn, and MTA-STS needs a trusted one",
                path.display()
            );
            self.problem("WRONG", what, fix_names.into());
        }
        if !valid.is_empty() {
            let list: Vec<&str> = valid.iter().map(|n| n.as_str()).collect();
            self.ok(format!("certificate valid for {}", list.join(", ")));
        }
        if !invalid.is_empty() {
            let list: Vec<&str> = invalid.iter().map(|n| n.as_str()).collect();
            let what = format!("certificate not valid for {}", list.join(", "));
            self.problem("WRONG", what, fix_names.into());
        }
        let days = (info.not_after - hermod_message::unix_now()) / 86_400;
        if days < 0 {
            self.problem(
                "WRONG",
                "the certificate has expired".into(),
                "renew it".into(),
            );
        } else if days < EXPIRY_WARNING_DAYS {
            let what = format!("the certificate expires in {days} days");
            self.problem("WRONG", what, "renew it".into());
        } else {
            self.ok(format!("certificate valid for {days} more days"));
        }
    }

    /// Every listener, connected to as a client would: at the server's addresses when
    /// known, else at the address it listens on.
    async fn ports(&mut self, ips: &[IpAddr]) {
        for (service, addrs) in listeners(self.config) {
            let Some(first) = addrs.first() else {
                continue;
            };
            let port = first.port();
            let targets: Vec<SocketAddr> = match ips.is_empty() || !is_public(first) {
                true => vec![connectable(*first)],
                false => ips.iter().map(|ip| SocketAddr::new(*ip, port)).collect(),
            };
            for target in targets {
                let connect = tokio::net::TcpStream::connect(target);
                match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
                    Ok(Ok(_)) => self.ok(format!("{service} answers on {target}")),
                    _ => {
                        let what = format!("{service} does not answer on {target}");
                        let fix = format!(
                            "start hermod (hermod serve), and open TCP port {port} in the firewall"
                        );
                        self.problem("WRONG", what, fix);
                    }
                }
            }
        }
    }
}

/// The listeners the server runs and clients from outside use (not metrics).
fn listeners(config: &Config) -> Vec<(&'static str, &Vec<SocketAddr>)> {
    use crate::Service;
    Service::configured(config)
        .into_iter()
        .filter(|(service, _)| *service != Service::Metrics)
        .map(|(service, addrs)| (service.name(), addrs))
        .collect()
}

/// Listening on every address (or a public one): reachable from outside, worth trying at
/// the public addresses.
fn is_public(addr: &SocketAddr) -> bool {
    !addr.ip().is_loopback()
}

/// A wildcard address is reached through loopback from this machine.
fn connectable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => SocketAddr::from(([127, 0, 0, 1], addr.port())),
        IpAddr::V6(v6) if v6.is_unspecified() => {
            SocketAddr::new(std::net::Ipv6Addr::LOCALHOST.into(), addr.port())
        }
        _ => addr,
    }
}
