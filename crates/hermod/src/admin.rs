//! Domain, user and alias management against the store (safe while the server runs).

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use hermod_config::Config;
use hermod_core::accounts;
use hermod_store::{AliasKey, Store};
use hermod_types::{Address, Domain};
use std::io::BufRead;

#[derive(Subcommand)]
pub enum DomainAction {
    /// Receive mail for DOMAIN.
    Add { domain: String },
    /// Stop receiving mail for DOMAIN (it must have no users or aliases left).
    Remove { domain: String },
    /// List the local domains.
    List,
    /// Make new DKIM keys for DOMAIN under new selectors and print their DNS records; they
    /// sign once the server sees those in DNS. The old keys stay published (mail they
    /// signed may still be verified).
    DkimRotate { domain: String },
    /// Print the DNS records DOMAIN needs (MX, SPF, DKIM, DMARC, MTA-STS, TLS-RPT, SRV,
    /// autoconfig), ready for a zone file.
    Dns {
        domain: String,
        /// The server's public address (repeatable): A/AAAA records and the SPF list it.
        #[arg(long)]
        public_ip: Vec<std::net::IpAddr>,
    },
}

#[derive(Subcommand)]
pub enum UserAction {
    /// Create an account; the password is read from the first line of standard input.
    Add {
        address: String,
        #[arg(long, required = true)]
        password_stdin: bool,
        /// Mailbox quota in bytes (default: unlimited).
        #[arg(long)]
        quota: Option<u64>,
    },
    /// Change a password, read from the first line of standard input.
    Passwd {
        address: String,
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Delete an account with all its mail.
    Remove { address: String },
    /// Let an account submit as more senders: addresses, or `@domain` for a whole domain.
    /// With no PATTERN, back to its own address and its aliases only.
    SendAs {
        address: String,
        patterns: Vec<String>,
    },
    /// List accounts with their usage and quota.
    List,
    /// Stop an account's submission (`450 4.7.1` at MAIL) until it is unfrozen.
    Freeze { address: String },
    /// Let a frozen account submit again (its held mail stays held: see `queue held`).
    Unfreeze { address: String },
    /// `allow`: the bulk guard lets the account send one text to many (a newsletter
    /// sender); `guard`: back under the guard (the default).
    Bulk { address: String, policy: BulkPolicy },
    /// Change an account's quota: bytes, or `unlimited`.
    Quota { address: String, quota: String },
    /// `on`: ADDRESS may use the web interface's administration (`/admin`); `off`: no more.
    Admin { address: String, state: OnOff },
    /// The spam score from which ADDRESS's mail is filed into Junk: a number (at most the
    /// server's `[spam] reject_threshold`), or `default` for the server's `junk_threshold`.
    SpamThreshold { address: String, threshold: String },
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum BulkPolicy {
    Allow,
    Guard,
}

#[derive(Subcommand)]
pub enum AliasAction {
    /// Deliver mail for ALIAS to every TARGET (`@domain` as ALIAS: catch-all).
    Add {
        alias: String,
        #[arg(required = true)]
        targets: Vec<String>,
    },
    /// Delete an alias.
    Remove { alias: String },
    /// List aliases with their targets.
    List,
}

fn parse_domain(s: &str) -> Result<Domain> {
    Domain::parse(s).with_context(|| format!("invalid domain {s:?}"))
}

pub fn parse_address(s: &str) -> Result<Address> {
    Address::parse(s).with_context(|| format!("invalid address {s:?}"))
}

pub async fn domain(config: &Config, store: &dyn Store, action: DomainAction) -> Result<()> {
    match action {
        DomainAction::Add { domain } => {
            accounts::add_domain(store, &parse_domain(&domain)?).await?;
        }
        DomainAction::Dns { domain, public_ip } => {
            let domain = parse_domain(&domain)?;
            let records =
                crate::selfhost::records::domain_records(config, store, &domain, &public_ip)
                    .await?;
            print!("{records}");
        }
        DomainAction::DkimRotate { domain } => {
            let domain = parse_domain(&domain)?;
            let keys = accounts::rotate_dkim(store, &domain).await?;
            print!(
                "{}",
                hermod_core::selfhost::dkim_rotation_notice(domain.as_str(), &keys)
            );
        }
        DomainAction::Remove { domain } => store.remove_domain(&parse_domain(&domain)?).await?,
        DomainAction::List => store.domains().await?.iter().for_each(|d| println!("{d}")),
    }
    Ok(())
}

fn read_password() -> Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    let password = line.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        bail!("empty password on standard input");
    }
    Ok(password.to_owned())
}

pub async fn user(config: &Config, store: &dyn Store, action: UserAction) -> Result<()> {
    match action {
        UserAction::Add { address, quota, .. } => {
            let address = parse_address(&address)?;
            let password = read_password()?;
            accounts::add_user(store, &address, &password, quota).await?;
        }
        UserAction::Passwd { address, .. } => {
            let address = parse_address(&address)?;
            let password = read_password()?;
            accounts::set_password(store, &address, &password).await?;
        }
        UserAction::Quota { address, quota } => {
            let address = parse_address(&address)?;
            let quota = match quota.as_str() {
                "unlimited" => None,
                bytes => Some(bytes.parse::<u64>().with_context(|| {
                    format!("invalid quota {bytes:?}: a number of bytes, or unlimited")
                })?),
            };
            accounts::set_quota(store, &address, quota).await?;
        }
        UserAction::Admin { address, state } => {
            let address = parse_address(&address)?;
            let on = matches!(state, OnOff::On);
            accounts::set_admin(store, &address, on).await?;
        }
        UserAction::SpamThreshold { address, threshold } => {
            let address = parse_address(&address)?;
            let threshold = match threshold.as_str() {
                "default" => None,
                number => Some(number.parse::<f64>().with_context(|| {
                    format!("invalid threshold {number:?}: a number, or default")
                })?),
            };
            let reject = config.spam.reject_threshold;
            accounts::set_junk_threshold(store, &address, threshold, reject).await?;
        }
        UserAction::Remove { address } => store.remove_user(&parse_address(&address)?).await?,
        UserAction::SendAs { address, patterns } => {
            let address = parse_address(&address)?;
            accounts::set_send_as(store, &address, &patterns).await?;
        }
        UserAction::List => {
            let admins = store.admins().await?;
            for u in store.users().await? {
                let quota = u.quota.map_or("unlimited".to_owned(), |q| q.to_string());
                let send_as = if u.send_as.is_empty() {
                    String::new()
                } else {
                    format!("\tsend_as={}", u.send_as.join(","))
                };
                let bulk = if u.bulk_allowed { "\tbulk=allow" } else { "" };
                let frozen = if u.frozen.is_some() { "\tfrozen" } else { "" };
                let admin = if admins.contains(&u.address) {
                    "\tadmin"
                } else {
                    ""
                };
                let junk = u
                    .junk_threshold
                    .map_or(String::new(), |t| format!("\tjunk_threshold={t}"));
                println!(
                    "{}\tused={}\tquota={quota}{send_as}{bulk}{frozen}{admin}{junk}",
                    u.address, u.used
                );
            }
        }
        UserAction::Freeze { address } => {
            let reason = "frozen by the administrator";
            if !store
                .set_frozen(&parse_address(&address)?, Some(reason))
                .await?
            {
                println!("{address} was frozen already");
            }
        }
        UserAction::Unfreeze { address } => {
            if !store.set_frozen(&parse_address(&address)?, None).await? {
                println!("{address} was not frozen");
            }
        }
        UserAction::Bulk { address, policy } => {
            let allowed = matches!(policy, BulkPolicy::Allow);
            store
                .set_bulk_allowed(&parse_address(&address)?, allowed)
                .await?;
        }
    }
    Ok(())
}

pub async fn alias(store: &dyn Store, action: AliasAction) -> Result<()> {
    match action {
        AliasAction::Add { alias, targets } => {
            let key =
                AliasKey::parse(&alias).with_context(|| format!("invalid alias {alias:?}"))?;
            let parsed = targets
                .iter()
                .map(|t| parse_address(t))
                .collect::<Result<Vec<_>>>()?;
            accounts::add_alias(store, &key, &parsed).await?;
        }
        AliasAction::Remove { alias } => {
            let key =
                AliasKey::parse(&alias).with_context(|| format!("invalid alias {alias:?}"))?;
            store.remove_alias(&key).await?;
        }
        AliasAction::List => {
            for (alias, targets) in store.aliases().await? {
                println!("{alias}\t{}", targets.join(" "));
            }
        }
    }
    Ok(())
}
