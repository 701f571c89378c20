//! `hermod check`: the report of `hermod_server::selfcheck` (shared with the web
//! interface's dashboard), printed line by line, each problem with its fix.

use anyhow::{Result, anyhow};
use clap::Args;
use hermod_config::Config;
use hermod_store::BlockingStore;
use hermod_types::Domain;
use std::net::IpAddr;

#[derive(Args)]
pub struct CheckArgs {
    /// The server's public address (repeatable); default: what the host name resolves to.
    #[arg(long)]
    public_ip: Vec<IpAddr>,
}

pub fn run(config: &Config, args: CheckArgs) -> Result<()> {
    match check(config, &args.public_ip, true)? {
        0 => Ok(()),
        1 => Err(anyhow!("1 problem found")),
        n => Err(anyhow!("{n} problems found")),
    }
}

/// Prints the report; returns how many problems it found. `ports`: also connect to every
/// listener (pointless before the server runs).
pub fn check(config: &Config, public_ips: &[IpAddr], ports: bool) -> Result<usize> {
    let store = crate::admin::open_store(config)?;
    let mut domains = Vec::new();
    for name in store.domains()? {
        let domain = Domain::parse(&name).map_err(|e| anyhow!("stored domain {name}: {e}"))?;
        let keys = store.dkim_keys(&domain)?;
        domains.push((domain, keys));
    }
    drop(store);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let findings = runtime
        .block_on(hermod_server::selfcheck::run(
            config, &domains, public_ips, ports,
        ))
        .map_err(|e| anyhow!(e))?;
    for finding in &findings {
        println!("{:<8} {}", finding.kind, finding.what);
        for line in finding.fix.iter().flat_map(|fix| fix.lines()) {
            println!("         fix: {line}");
        }
    }
    Ok(findings.iter().filter(|f| f.is_problem()).count())
}
