//! `hermod check`: the report of `hermod_server::selfcheck` (shared with the web
//! interface's dashboard), printed line by line, each problem with its fix.

use anyhow::{Result, anyhow};
use clap::Args;
use hermod_config::Config;
use hermod_store::Store;
use hermod_types::Domain;
use std::net::IpAddr;

#[derive(Args)]
pub struct CheckArgs {
    /// The server's public address (repeatable); default: what the host name resolves to.
    #[arg(long)]
    public_ip: Vec<IpAddr>,
}

pub async fn run(config: &Config, store: &dyn Store, args: CheckArgs) -> Result<()> {
    match check(config, store, &args.public_ip, true).await? {
        0 => Ok(()),
        1 => Err(anyhow!("1 problem found")),
        n => Err(anyhow!("{n} problems found")),
    }
}

/// Prints the report; returns how many problems it found. `ports`: also connect to every
/// listener (pointless before the server runs).
pub async fn check(
    config: &Config,
    store: &dyn Store,
    public_ips: &[IpAddr],
    ports: bool,
) -> Result<usize> {
    let mut domains = Vec::new();
    for name in store.domains().await? {
        let domain = Domain::parse(&name).map_err(|e| anyhow!("stored domain {name}: {e}"))?;
        let keys = store.dkim_keys(&domain).await?;
        domains.push((domain, keys));
    }
    let findings = hermod_server::selfcheck::run(config, &domains, public_ips, ports)
        .await
        .map_err(|e| anyhow!(e))?;
    for finding in &findings {
        println!("{:<8} {}", finding.kind, finding.what);
        for line in finding.fix.iter().flat_map(|fix| fix.lines()) {
            println!("         fix: {line}");
        }
    }
    Ok(findings.iter().filter(|f| f.is_problem()).count())
}
