//! `hermod quickstart DOMAIN`: a working server for one domain in one command. Writes the
//! configuration for the standard ports, adds the domain with its DKIM keys, creates the
//! admin account, and prints everything that must happen outside hermod (DNS records,
//! reverse DNS, ports to open, a certificate), then checks what it can.

use crate::store::{Opener, block_on, open};
use anyhow::{Context, Result, bail};
use clap::Args;
use hermod_store::{AliasKey, Store};
use hermod_types::{Address, Domain};
use std::fmt::Write;
use std::net::IpAddr;
use std::path::Path;

#[derive(Args)]
pub struct QuickstartArgs {
    /// The mail domain (the part after @).
    domain: String,
    /// The server's host name, which the MX record names (default: mail.DOMAIN).
    #[arg(long)]
    hostname: Option<String>,
    /// The administrator's account (default: admin@DOMAIN); postmaster@ and abuse@ lead to it.
    #[arg(long)]
    admin: Option<String>,
    /// The server's public address (repeatable for IPv4 and IPv6): A/AAAA, SPF, reverse DNS.
    #[arg(long)]
    public_ip: Vec<IpAddr>,
    /// Get certificates from Let's Encrypt by ACME (TLS-ALPN-01 on port 443), renewed by
    /// hermod itself.
    #[arg(long)]
    acme: bool,
    /// Skip the final look at DNS (for installs without network, and tests).
    #[arg(long)]
    no_check: bool,
}

/// The standard ports, in the order they are explained.
const PORTS: [(&str, u16, &str); 10] = [
    ("smtp", 25, "mail from other servers"),
    ("submission", 587, "mail from your programs (STARTTLS)"),
    ("submissions", 465, "mail from your programs (TLS)"),
    ("imap", 143, "IMAP (STARTTLS)"),
    ("imaps", 993, "IMAP (TLS)"),
    ("pop3", 110, "POP3 (STLS)"),
    ("pop3s", 995, "POP3 (TLS)"),
    (
        "managesieve",
        4190,
        "ManageSieve: filters from email programs (STARTTLS)",
    ),
    (
        "http",
        80,
        "autoconfiguration, MTA-STS, certificate challenges",
    ),
    ("https", 443, "autoconfiguration and MTA-STS over TLS"),
];

/// The account hermod switches to after binding its ports.
const RUN_AS: &str = "hermod";

pub fn quickstart(config_path: &Path, args: QuickstartArgs) -> Result<()> {
    if config_path.exists() {
        bail!(
            "{} already exists; quickstart never overwrites a configuration (use `hermod domain add` for another domain)",
            config_path.display()
        );
    }
    let domain =
        Domain::parse(&args.domain).with_context(|| format!("invalid domain {:?}", args.domain))?;
    let hostname = args
        .hostname
        .clone()
        .unwrap_or_else(|| format!("mail.{}", domain.as_str()));
    let hostname =
        Domain::parse(&hostname).with_context(|| format!("invalid host name {hostname:?}"))?;
    let admin = args
        .admin
        .clone()
        .unwrap_or_else(|| format!("admin@{}", domain.as_str()));
    let admin = crate::admin::parse_address(&admin)?;
    if admin.domain() != &domain {
        bail!("the admin account {admin} must be in {domain}, the domain hermod serves");
    }
    // Let's Encrypt writes to the admin about expiry problems.
    let acme_contact = args.acme.then(|| admin.to_string());
    let text = config_text(
        domain.as_str(),
        hostname.as_str(),
        ipv6_available(),
        acme_contact.as_deref(),
    );
    let config = hermod_config::parse(&text, config_path)
        .map_err(|e| anyhow::anyhow!("quickstart made a configuration that does not parse: {e}"))?;
    // data_dir is the configuration's folder ("."): make that folder.
    if let Some(folder) = config_path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(folder)
            .with_context(|| format!("cannot create {}", folder.display()))?;
    }
    let password = block_on(async {
        let store = open(&config, Opener::Command).await?;
        setup_store(store.as_ref(), &domain, &admin).await
    })?;
    write_new(config_path, &text)?;
    let parent = config_path.parent().filter(|p| !p.as_os_str().is_empty());
    let folder = std::path::absolute(parent.unwrap_or(Path::new(".")))
        .unwrap_or_else(|_| config.data_dir.clone());
    let owner = hand_over(&folder);
    let setup = Setup {
        config: &config,
        domain: &domain,
        admin: &admin,
        password: &password,
        owner,
    };
    block_on(print_setup(setup, &args))
}

/// What quickstart made, for the closing instructions.
struct Setup<'a> {
    config: &'a hermod_config::Config,
    domain: &'a Domain,
    admin: &'a Address,
    password: &'a str,
    owner: String,
}

/// The instructions with the domain's DNS records, and (unless `--no-check`) the check.
async fn print_setup(setup: Setup<'_>, args: &QuickstartArgs) -> Result<()> {
    let config = setup.config;
    let store = open(config, Opener::Command).await?;
    let records = crate::selfhost::records::domain_records(
        config,
        store.as_ref(),
        setup.domain,
        &args.public_ip,
    )
    .await?;
    let text = instructions(
        config,
        setup.admin,
        setup.password,
        &records,
        &args.public_ip,
        setup.owner,
    );
    print!("{text}");
    if !args.no_check {
        println!(
            "\n== What hermod can see from here (nothing may resolve yet: DNS takes a while)\n"
        );
        // The check reports; failures are expected on a fresh setup and are not errors.
        let _ = super::check::check(config, store.as_ref(), &args.public_ip, false).await;
    }
    Ok(())
}

/// The domain with DKIM keys, the admin account with a new password, and postmaster@ and
/// abuse@ (which DMARC and TLS-RPT reports and RFC 2142 expect) leading to it.
async fn setup_store(store: &dyn Store, domain: &Domain, admin: &Address) -> Result<String> {
    if !store.is_local_domain(domain).await? {
        let keys = hermod_core::dkim::generate_keys().map_err(anyhow::Error::msg)?;
        store.add_domain(domain).await?;
        for key in &keys {
            store.set_dkim_key(domain, key).await?;
        }
    }
    let password = generate_password()?;
    let hash = hermod_core::auth::hash_password(&password)?;
    store
        .add_user(admin, &hash, None)
        .await
        .with_context(|| format!("cannot create the account {admin}"))?;
    for role in ["postmaster", "abuse"] {
        let alias = format!("{role}@{}", domain.as_str());
        if alias.eq_ignore_ascii_case(&admin.to_string()) {
            continue;
        }
        let key = AliasKey::parse(&alias).with_context(|| format!("alias {alias}"))?;
        store.add_alias(&key, std::slice::from_ref(admin)).await?;
    }
    Ok(password)
}

/// 20 letters and digits (about 119 bits), from the system's random source.
fn generate_password() -> Result<String> {
    use ring::rand::{SecureRandom, SystemRandom};
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let rng = SystemRandom::new();
    let mut out = String::new();
    while out.len() < 20 {
        let mut byte = [0u8; 1];
        rng.fill(&mut byte)
            .map_err(|_| anyhow::anyhow!("no random numbers from the system"))?;
        // Rejection sampling keeps every character equally likely.
        let limit = 256 - 256 % ALPHABET.len();
        if usize::from(byte[0]) < limit {
            out.push(char::from(ALPHABET[usize::from(byte[0]) % ALPHABET.len()]));
        }
    }
    Ok(out)
}

/// Whether this machine can listen on IPv6 (a kernel without it would make `[::]` fail).
fn ipv6_available() -> bool {
    std::net::TcpListener::bind("[::1]:0").is_ok()
}

/// Let's Encrypt's production directory.
const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";

fn config_text(domain: &str, hostname: &str, ipv6: bool, acme_contact: Option<&str>) -> String {
    let mut out = format!(
        "# hermod configuration for {domain}, written by `hermod quickstart`.\n\
         # Every key is explained in CONFIG.md and in the file `hermod` writes when there is none.\n\
         hostname = \"{hostname}\"\n\
         # This folder holds the mail (hermod.db, blobs/) and the generated certificate (tls/).\n\
         data_dir = \".\"\n\
         # Started as root to bind ports below 1024, hermod then runs as this user.\n\
         run_as = \"{RUN_AS}\"\n\n[listen]\n"
    );
    for (name, port, what) in PORTS {
        let mut addrs = vec![format!("\"0.0.0.0:{port}\"")];
        if ipv6 {
            addrs.push(format!("\"[::]:{port}\""));
        }
        let _ = writeln!(out, "# {what}\n{name} = [{}]", addrs.join(", "));
    }
    out.push_str("# Prometheus metrics: keep them private.\nmetrics = [\"127.0.0.1:9425\"]\n\n");
    match acme_contact {
        Some(contact) => {
            let _ = write!(
                out,
                "[acme]\n\
                 # Certificates from Let's Encrypt for {hostname} and mta-sts., autoconfig. and\n\
                 # autodiscover. of each domain, renewed 30 days before they expire (data_dir/acme/).\n\
                 directory = \"{LETS_ENCRYPT}\"\n\
                 contact = [\"mailto:{contact}\"]\n\n"
            );
        }
        None => out.push_str(concat!(
            "[tls]\n",
            "# Until a certificate is set here, hermod uses a self-signed one (data_dir/tls/).\n",
            "# cert = \"/etc/letsencrypt/live/HOST/fullchain.pem\"\n",
            "# key = \"/etc/letsencrypt/live/HOST/privkey.pem\"\n\n",
        )),
    }
    out.push_str(concat!(
        "[mta_sts]\n",
        "# Switch to \"enforce\" once a real certificate is installed and TLS reports are clean.\n",
        "mode = \"testing\"\n",
    ));
    out
}

fn write_new(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    Ok(())
}

/// Gives the data folder to `run_as` when we are root and the user exists; says what was
/// done, or what the administrator must do.
fn hand_over(data_dir: &Path) -> String {
    use nix::unistd::{Uid, User};
    let user = match User::from_name(RUN_AS) {
        Ok(Some(user)) => user,
        _ => {
            return format!(
                "Create the user hermod runs as, and give it the data folder:\n  \
                 useradd --system --home-dir {dir} --shell /usr/sbin/nologin {RUN_AS}\n  \
                 chown -R {RUN_AS}: {dir}\n",
                dir = data_dir.display()
            );
        }
    };
    if !Uid::effective().is_root() {
        return format!(
            "Give the data folder to {RUN_AS}: chown -R {RUN_AS}: {}\n",
            data_dir.display()
        );
    }
    match chown_tree(data_dir, user.uid.as_raw(), user.gid.as_raw()) {
        Ok(()) => format!("{} now belongs to {RUN_AS}.\n", data_dir.display()),
        Err(e) => format!(
            "Could not give {} to {RUN_AS} ({e}): chown -R {RUN_AS}: {}\n",
            data_dir.display(),
            data_dir.display()
        ),
    }
}

fn chown_tree(path: &Path, uid: u32, gid: u32) -> std::io::Result<()> {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid))?;
    if path.symlink_metadata()?.is_dir() {
        for entry in std::fs::read_dir(path)? {
            chown_tree(&entry?.path(), uid, gid)?;
        }
    }
    Ok(())
}

fn instructions(
    config: &hermod_config::Config,
    admin: &Address,
    password: &str,
    records: &str,
    public_ips: &[IpAddr],
    owner: String,
) -> String {
    let host = &config.hostname;
    let mut out = format!(
        "hermod is set up: configuration {}\n\n\
         == The admin account (the password is shown only now: keep it)\n\n  \
         {admin}\n  password: {password}\n\n\
         == DNS records to publish (zone-file format)\n\n{records}\n",
        config.path.display()
    );
    out.push_str("== Reverse DNS (ask your hosting provider)\n\n");
    if public_ips.is_empty() {
        let _ = writeln!(out, "  the PTR record of the server's address -> {host}");
        out.push_str("  (run again with --public-ip to see the exact records)\n");
    }
    for ip in public_ips {
        let _ = writeln!(out, "  {ip} -> {host}  (PTR; must match the A/AAAA record)");
    }
    out.push_str("\n== Ports to open in the firewall (TCP, inbound)\n\n");
    for (name, port, what) in PORTS {
        let _ = writeln!(out, "  {port:<4} {name:<12} {what}");
    }
    out.push_str(
        "  Outbound TCP port 25 must be open too (many home and cloud providers block it).\n",
    );
    let d = admin.domain().as_str();
    let names = format!("{host}, mta-sts.{d}, autoconfig.{d} and autodiscover.{d}");
    let certificate = match config.acme.directory {
        Some(_) => format!(
            "hermod gets one from Let's Encrypt for {names}\n  \
             once the DNS records above resolve and port 443 is open (until then, and if an order\n  \
             fails, it retries and clients see a self-signed certificate)."
        ),
        None => format!(
            "Until one is installed, clients see a self-signed certificate. Get one for\n  \
             {names}\n  (run quickstart with --acme, or e.g. certbot certonly --standalone -d \
             {host} ...)\n  and set [tls] cert and key."
        ),
    };
    let _ = write!(
        out,
        "\n== Certificate\n\n  {certificate}\n\n\
         == Then\n\n{owner}  \
         Start the server: hermod --config {} serve\n  \
         Check it: hermod --config {} check\n",
        config.path.display(),
        config.path.display()
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configuration_parses_with_standard_ports() {
        let text = config_text("example.test", "mail.example.test", true, None);
        let config = hermod_config::parse(&text, Path::new("/srv/hermod/hermod.toml")).unwrap();
        assert_eq!(config.hostname, "mail.example.test");
        assert_eq!(config.run_as.as_deref(), Some(RUN_AS));
        assert_eq!(config.listen.smtp.len(), 2);
        assert_eq!(config.listen.https[1], "[::]:443".parse().unwrap());
        assert_eq!(config.listen.metrics, ["127.0.0.1:9425".parse().unwrap()]);
        assert_eq!(config.acme.directory, None);
        let v4 = config_text("example.test", "mail.example.test", false, None);
        let v4 = hermod_config::parse(&v4, Path::new("/srv/hermod/hermod.toml")).unwrap();
        assert_eq!(v4.listen.imaps, ["0.0.0.0:993".parse().unwrap()]);
        let acme = config_text(
            "example.test",
            "mail.example.test",
            true,
            Some("a@example.test"),
        );
        let acme = hermod_config::parse(&acme, Path::new("/srv/hermod/hermod.toml")).unwrap();
        assert_eq!(acme.acme.directory.as_deref(), Some(LETS_ENCRYPT));
        assert_eq!(acme.acme.contact, ["mailto:a@example.test"]);
    }

    #[test]
    fn passwords_are_long_and_differ() {
        let (a, b) = (generate_password().unwrap(), generate_password().unwrap());
        assert_eq!(a.len(), 20);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }
}
