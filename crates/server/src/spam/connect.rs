//! Checks made when a client connects, before the greeting: the block and allow lists, DNS
//! block lists and reverse DNS (in parallel, within `dnsbl_timeout`).

use super::SpamFilter;
use hermod_config::{CheckAction, DnsblZone, Spam};
use hermod_spam::checks::{dnsbl_meaning, dnsbl_query};
use hermod_spam::{Hit, verdict};
use mail_auth::hickory_resolver::proto::rr::RData;
use mail_auth::{IprevResult, MessageAuthenticator};
use std::net::IpAddr;

/// What the connection checks found.
#[derive(Debug, Default)]
pub(crate) struct ConnectOutcome {
    /// Refuse the session with this `554` text.
    pub refusal: Option<String>,
    /// Exempt from the checks and from content-based refusal.
    pub allowlisted: bool,
    pub hits: Vec<Hit>,
    /// The client's verified reverse DNS name.
    pub rdns: Option<String>,
}

impl SpamFilter {
    pub async fn check_connection(&self, spam: &Spam, ip: IpAddr) -> ConnectOutcome {
        let ip = hermod_types::canonical_ip(ip);
        let lists = self.lists();
        let mut outcome = ConnectOutcome::default();
        if lists.allowed(ip) {
            outcome.allowlisted = true;
            return outcome;
        }
        if lists.blocked(ip) {
            outcome.refusal = Some(format!("{ip} is on this server's block list"));
            return outcome;
        }
        if !spam.enabled {
            return outcome;
        }
        let lookups = async {
            tokio::join!(
                dnsbl_listings(&self.auth, ip, &spam.dnsbl_zones),
                reverse_dns(&self.auth, ip)
            )
        };
        let (listings, rdns) = match tokio::time::timeout(spam.dnsbl_timeout, lookups).await {
            Ok(found) => found,
            Err(_) => {
                tracing::info!(%ip, "connection DNS checks timed out; ignored");
                return outcome;
            }
        };
        for (zone, meaning) in listings {
            match zone.score {
                None => {
                    let why = format!("client [{ip}] is listed by {}: {meaning}", zone.zone);
                    outcome.refusal.get_or_insert(why);
                }
                Some(score) => outcome
                    .hits
                    .push(Hit::new(format!("DNSBL_{}", zone.zone), score)),
            }
        }
        match rdns {
            ReverseDns::Confirmed(name) => outcome.rdns = Some(name),
            ReverseDns::Unknown => {}
            ReverseDns::Problem(rule) => {
                let action = spam.rdns;
                if action == CheckAction::Reject {
                    let why = format!("client [{ip}] has no matching reverse DNS ({rule})");
                    outcome.refusal.get_or_insert(why);
                } else if action == CheckAction::Score {
                    outcome.hits.push(verdict::check(rule));
                }
            }
        }
        outcome
    }
}

/// Asks every zone at once; the zones listing `ip`, with what their answer means. Failed
/// lookups count as not listed.
async fn dnsbl_listings(
    auth: &MessageAuthenticator,
    ip: IpAddr,
    zones: &[DnsblZone],
) -> Vec<(DnsblZone, String)> {
    let mut lookups = tokio::task::JoinSet::new();
    for zone in zones.iter().cloned() {
        let resolver = auth.resolver().clone();
        lookups.spawn(async move {
            let name = dnsbl_query(ip, &zone.zone);
            let answers = match resolver.ipv4_lookup(name.as_str()).await {
                Ok(lookup) => lookup,
                Err(e) => {
                    if !e.is_nx_domain() && !e.is_no_records_found() {
                        tracing::info!(zone = %zone.zone, error = %e, "DNSBL lookup failed; ignored");
                    }
                    return None;
                }
            };
            let meaning = answers.answers().iter().find_map(|record| match &record.data {
                RData::A(a) => dnsbl_meaning(&zone.zone, a.0),
                _ => None,
            })?;
            Some((zone, meaning))
        });
    }
    let mut listed: Vec<(DnsblZone, String)> =
        lookups.join_all().await.into_iter().flatten().collect();
    // The configuration's order, whatever order the answers came in.
    listed.sort_by_key(|(zone, _)| zones.iter().position(|z| z == zone));
    listed
}

enum ReverseDns {
    /// A name whose addresses include the client's.
    Confirmed(String),
    /// The lookup failed: no judgement.
    Unknown,
    /// `RDNS_NONE` or `RDNS_MISMATCH`.
    Problem(&'static str),
}

async fn reverse_dns(auth: &MessageAuthenticator, ip: IpAddr) -> ReverseDns {
    let output = auth.verify_iprev(ip).await;
    let first_name = || {
        output
            .ptr
            .as_ref()
            .and_then(|names| names.first())
            .map(|n| n.trim_end_matches('.').to_ascii_lowercase())
    };
    match (&output.result, &output.ptr) {
        (IprevResult::Pass, _) => first_name().map_or(ReverseDns::Unknown, ReverseDns::Confirmed),
        (IprevResult::TempError(_), _) => ReverseDns::Unknown,
        (IprevResult::Fail(_) | IprevResult::PermError(_), Some(_)) => {
            ReverseDns::Problem("RDNS_MISMATCH")
        }
        (IprevResult::None, Some(_)) => ReverseDns::Unknown,
        (_, None) => ReverseDns::Problem("RDNS_NONE"),
    }
}

/// Reverse DNS and block lists for addresses other than loopback (which resolvers answer
/// themselves): the checks run against the testkit's DNS server.
#[cfg(test)]
mod tests {
    use super::*;
    use hermod_testkit::DnsServer;
    use std::net::Ipv4Addr;

    async fn filter(dns: &DnsServer) -> (SpamFilter, Spam, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let mut config =
            hermod_config::Config::defaults(dir.path().join("h.toml"), dir.path().into());
        config.dns.nameservers = vec![dns.addr()];
        let store = std::sync::Arc::new(hermod_store::EmbeddedStore::open(dir.path()).unwrap());
        let filter = SpamFilter::new(&config, store).unwrap();
        (filter, config.spam, dir)
    }

    #[tokio::test]
    async fn reverse_dns_none_mismatch_and_confirmed() {
        let dns = DnsServer::start().await;
        let (filter, spam, _dir) = filter(&dns).await;
        let names = |o: &ConnectOutcome| o.hits.iter().map(|h| h.name.clone()).collect::<Vec<_>>();

        let none = filter
            .check_connection(&spam, "192.0.2.10".parse().unwrap())
            .await;
        assert_eq!(names(&none), vec!["RDNS_NONE"]);

        dns.add_ptr("192.0.2.11".parse().unwrap(), "home-pc.isp.test");
        dns.add_a("home-pc.isp.test", Ipv4Addr::new(198, 51, 100, 1));
        let mismatch = filter
            .check_connection(&spam, "192.0.2.11".parse().unwrap())
            .await;
        assert_eq!(names(&mismatch), vec!["RDNS_MISMATCH"]);

        dns.add_ptr("2001:db8::25".parse().unwrap(), "mx.sender.test");
        dns.add_aaaa("mx.sender.test", "2001:db8::25".parse().unwrap());
        let good = filter
            .check_connection(&spam, "2001:db8::25".parse().unwrap())
            .await;
        assert!(good.hits.is_empty(), "{:?}", good.hits);
        assert_eq!(good.rdns.as_deref(), Some("mx.sender.test"));

        let strict = Spam {
            rdns: CheckAction::Reject,
            ..spam.clone()
        };
        let refused = filter
            .check_connection(&strict, "192.0.2.10".parse().unwrap())
            .await;
        assert!(refused.refusal.unwrap().contains("RDNS_NONE"));
    }

    #[tokio::test]
    async fn block_lists_match_ipv6_clients_by_nibbles() {
        let dns = DnsServer::start().await;
        let (filter, mut spam, _dir) = filter(&dns).await;
        spam.dnsbl_zones = vec![DnsblZone {
            zone: "bl.test".into(),
            score: None,
        }];
        let ip: IpAddr = "2001:db8::99".parse().unwrap();
        let name = dnsbl_query(ip, "bl.test");
        dns.add_a(&name, Ipv4Addr::new(127, 0, 0, 3));
        let listed = filter.check_connection(&spam, ip).await;
        assert!(listed.refusal.unwrap().contains("bl.test"));
        assert!(
            filter
                .check_connection(&spam, "2001:db8::98".parse().unwrap())
                .await
                .refusal
                .is_none()
        );
    }
}
