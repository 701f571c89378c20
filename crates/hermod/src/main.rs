//! The `hermod` command: run the server, manage domains, users and aliases, move mail in and
//! out as Maildir/mbox.

mod admin;
mod backup;
mod list;
mod logfields;
mod maildir;
mod migrate;
mod queue;
mod selfhost;
mod serve;
mod sieve;
mod spam;
mod store;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use hermod_config::Config;
use hermod_store::Store;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "hermod",
    version,
    about = "A complete mail server in one binary"
)]
struct Cli {
    /// Configuration file; written with commented defaults if it does not exist.
    #[arg(
        long,
        global = true,
        env = "HERMOD_CONFIG",
        default_value = "./hermod-data/hermod.toml"
    )]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the mail server until SIGTERM or SIGINT.
    Serve,
    /// Manage the domains hermod receives mail for.
    Domain {
        #[command(subcommand)]
        action: admin::DomainAction,
    },
    /// Manage mail accounts.
    User {
        #[command(subcommand)]
        action: admin::UserAction,
    },
    /// Manage aliases (`@example.test` is the catch-all of a domain).
    Alias {
        #[command(subcommand)]
        action: admin::AliasAction,
    },
    /// Look at and act on the outbound queue.
    Queue {
        #[command(subcommand)]
        action: queue::QueueAction,
    },
    /// Train and try the spam filter.
    Spam {
        #[command(subcommand)]
        action: spam::SpamAction,
    },
    /// Set up a new server for DOMAIN: configuration, domain, admin account, and the DNS
    /// records and other steps to take outside hermod.
    Quickstart(selfhost::quickstart::QuickstartArgs),
    /// Check the setup as the internet sees it (DNS, certificate, ports), with fixes.
    Check(selfhost::check::CheckArgs),
    /// Manage users' Sieve filters (run at every delivery into their mailboxes).
    Sieve {
        #[command(subcommand)]
        action: sieve::SieveAction,
    },
    /// Manage mailing lists, their members and moderators, and held posts.
    List {
        #[command(subcommand)]
        action: list::ListAction,
    },
    /// Write a user's folders as Maildir++ into DIR.
    Export { address: String, dir: PathBuf },
    /// Read a Maildir (with subfolders) or an mbox file into a user's folders.
    Import { address: String, path: PathBuf },
    /// Move the store: `migrate --to URL` copies the embedded store into PostgreSQL.
    Store {
        #[command(subcommand)]
        action: migrate::StoreAction,
    },
    /// Copy the store (safe while the server runs), its keys and the configuration into DIR,
    /// which must be new or empty.
    Backup { dir: PathBuf },
    /// Restore a backup made by `hermod backup` into an empty data directory (the backup's
    /// configuration is installed at --config when no file is there yet).
    Restore { dir: PathBuf },
}

fn main() {
    fixed_mmap_threshold();
    let cli = Cli::parse();
    if let Err(error) = run(cli) {
        // One clear line: the chain of causes joined, no backtrace.
        let causes: Vec<String> = error.chain().map(|c| c.to_string()).collect();
        eprintln!("hermod: {}", causes.join(": "));
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    // Restore must not write a default configuration first: the backup brings its own.
    if let Command::Restore { dir } = &cli.command {
        return backup::restore(&cli.config, dir);
    }
    // Quickstart writes the configuration; every other command reads it.
    let command = match cli.command {
        Command::Quickstart(args) => return selfhost::quickstart::quickstart(&cli.config, args),
        command => command,
    };
    let config = load_config(&cli.config)?;
    match command {
        Command::Serve => serve::serve(config),
        Command::Store { action } => migrate::store(&config, action),
        Command::Backup { dir } => {
            store::embedded_only(
                &config,
                "backup",
                "back up the database with its own tools (pg_dump, or the server's base \
                 backups and WAL archive)",
            )?;
            backup::backup(&config, &dir)
        }
        command => store::block_on(async {
            let store = store::open(&config, store::Opener::Command).await?;
            manage(&config, store, command).await
        }),
    }
}

/// A management command, run against the store `[store]` names.
async fn manage(config: &Config, store: Arc<dyn Store>, command: Command) -> Result<()> {
    let one = store.as_ref();
    match command {
        Command::Check(args) => selfhost::check::run(config, one, args).await,
        Command::Domain { action } => admin::domain(config, one, action).await,
        Command::User { action } => admin::user(config, one, action).await,
        Command::Alias { action } => admin::alias(one, action).await,
        Command::Queue { action } => queue::queue(config, store, action).await,
        Command::Spam { action } => spam::spam(config, one, action).await,
        Command::Sieve { action } => sieve::sieve(config, one, action).await,
        Command::List { action } => list::list(config, store, action).await,
        Command::Export { address, dir } => maildir::export(one, &address, &dir).await,
        Command::Import { address, path } => maildir::import(one, &address, &path).await,
        Command::Serve
        | Command::Store { .. }
        | Command::Backup { .. }
        | Command::Restore { .. }
        | Command::Quickstart(_) => unreachable!("handled before the store is opened"),
    }
}

/// Allocations of 1 MiB and more get their own mapping, returned to the system when freed.
///
/// glibc starts with a 128 KiB threshold but raises it to the size of any mapped block that is
/// freed (up to 32 MiB), so after the first argon2 check (about 19 MiB, see
/// `hermod_core::auth`) later ones come from heap arenas and stay resident: measured on a
/// fresh server, the second login added 19 MiB of RSS and eight more 150 MiB; with the fixed
/// threshold 42 logins add 1.4 MiB. Setting the threshold turns that adjustment off
/// (mallopt(3)). Smaller blocks come from the arenas, where glibc's raised threshold would
/// have put them anyway; a message buffer of 1 MiB or more now costs a fresh mapping.
#[allow(unsafe_code)]
fn fixed_mmap_threshold() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use nix::libc::{M_MMAP_THRESHOLD, mallopt};
        // SAFETY: mallopt only sets an allocator parameter; it runs first in `main`, before
        // any other thread exists, and a refusal (return 0) leaves glibc's default in place.
        unsafe {
            mallopt(M_MMAP_THRESHOLD, 1 << 20);
        }
    }
}

/// Loads the configuration, writing the commented default first if there is none, so the
/// very first `hermod` command leaves a working, documented setup behind.
fn load_config(path: &Path) -> Result<Config> {
    if !path.exists() {
        hermod_config::write_default(path).with_context(|| {
            format!("cannot write the default configuration {}", path.display())
        })?;
        eprintln!(
            "hermod: wrote a default configuration to {}",
            path.display()
        );
    }
    hermod_config::load(path).map_err(|errors| anyhow::anyhow!("{errors}"))
}
