//! The real resolver: hickory, with the configured nameservers or the system's.

use hermod_core::outbound::{BoxFuture, Mx, Resolver, mx_from_records};
use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use std::net::{IpAddr, SocketAddr};

pub(crate) struct DnsResolver {
    inner: TokioResolver,
}

impl DnsResolver {
    pub fn new(nameservers: &[SocketAddr]) -> Result<DnsResolver, String> {
        let builder = if nameservers.is_empty() {
            match TokioResolver::builder_tokio() {
                Ok(builder) => builder,
                Err(e) => {
                    // No usable /etc/resolv.conf: serve anyway (local mail works); outbound
                    // mail waits in the queue until [dns] nameservers is set.
                    tracing::warn!(error = %e, "no system DNS configuration; set [dns] nameservers for outbound mail");
                    let empty = ResolverConfig::from_parts(None, Vec::new(), Vec::new());
                    TokioResolver::builder_with_config(empty, TokioRuntimeProvider::default())
                }
            }
        } else {
            let config = resolver_config(nameservers);
            TokioResolver::builder_with_config(config, TokioRuntimeProvider::default())
        };
        Ok(DnsResolver {
            inner: builder.build().map_err(|e| e.to_string())?,
        })
    }
}

/// A resolver configuration asking exactly these nameservers ("ip:port"), UDP then TCP.
pub(crate) fn resolver_config(nameservers: &[SocketAddr]) -> ResolverConfig {
    let servers = nameservers
        .iter()
        .map(|addr| {
            let mut server = NameServerConfig::udp_and_tcp(addr.ip());
            for connection in &mut server.connections {
                connection.port = addr.port();
            }
            server
        })
        .collect();
    ResolverConfig::from_parts(None, Vec::new(), servers)
}

impl Resolver for DnsResolver {
    fn mx<'a>(&'a self, domain: &'a str) -> BoxFuture<'a, Result<Mx, String>> {
        Box::pin(async move {
            match self.inner.mx_lookup(format!("{domain}.")).await {
                Ok(lookup) => {
                    let records = lookup
                        .answers()
                        .iter()
                        .filter_map(|r| match &r.data {
                            RData::MX(mx) => Some((mx.preference, mx.exchange.to_ascii())),
                            _ => None,
                        })
                        .collect();
                    Ok(mx_from_records(records))
                }
                Err(e) if e.is_no_records_found() || e.is_nx_domain() => Ok(Mx::None),
                Err(e) => Err(e.to_string()),
            }
        })
    }

    fn ips<'a>(&'a self, host: &'a str) -> BoxFuture<'a, Result<Vec<IpAddr>, String>> {
        Box::pin(async move {
            if let Ok(ip) = host.parse::<IpAddr>() {
                return Ok(vec![ip]);
            }
            match self.inner.lookup_ip(format!("{host}.")).await {
                Ok(lookup) => Ok(lookup.iter().collect()),
                Err(e) if e.is_no_records_found() || e.is_nx_domain() => Ok(Vec::new()),
                Err(e) => Err(e.to_string()),
            }
        })
    }
}
