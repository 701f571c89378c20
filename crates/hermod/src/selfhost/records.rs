//! The DNS records of a local domain as this configuration serves it: `hermod domain dns`
//! prints them, `hermod quickstart` prints them for the new domain, `hermod check` looks
//! them up.

use anyhow::{Result, bail};
use hermod_config::Config;
use hermod_store::Directory;
use hermod_types::Domain;
use std::net::IpAddr;

/// The zone-file text for `domain`, which must be local.
pub async fn domain_records(
    config: &Config,
    store: &dyn Directory,
    domain: &Domain,
    public_ips: &[IpAddr],
) -> Result<String> {
    if !store.is_local_domain(domain).await? {
        bail!("unknown domain {domain}: add it first with `hermod domain add {domain}`");
    }
    let keys = store.dkim_keys(domain).await?;
    Ok(hermod_server::domain_records(
        config, domain, &keys, public_ips,
    ))
}
