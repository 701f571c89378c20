//! `hermod list`: mailing lists: create and delete them, manage members and moderators,
//! decide held posts. Members added here need no confirmation; people who subscribe by mail
//! confirm (see `hermod_core::lists`).

use crate::admin::parse_address;
use anyhow::{Context, Result, bail};
use clap::{Subcommand, ValueEnum};
use hermod_config::Config;
use hermod_core::Router;
use hermod_core::lists::ListDeps;
use hermod_store::{ListMode, ListRecord, ListSettings, MemberState, Store};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Clone, Copy, ValueEnum)]
pub enum Mode {
    /// Members post.
    Discussion,
    /// Only the owner and the moderators post.
    Announce,
}

#[derive(Subcommand)]
pub enum ListAction {
    /// Create a list (its address and LIST-request@ must be free).
    Create {
        list: String,
        /// Told of held posts and suspended members; may always post.
        #[arg(long)]
        owner: String,
        #[arg(long, value_enum, default_value = "discussion")]
        mode: Mode,
        /// Members' posts wait for a moderator too.
        #[arg(long)]
        moderated: bool,
        /// Refuse posts from non-members (550) instead of holding them for the moderators.
        #[arg(long)]
        refuse_non_members: bool,
        /// Keep every distributed post (`hermod list archive` writes them out).
        #[arg(long)]
        archive: bool,
    },
    /// Delete a list with its members, moderators and held posts.
    Delete { list: String },
    /// A list's settings, addresses and counts.
    Show { list: String },
    /// Every list.
    Lists,
    /// Add members (active at once, no confirmation; a suspended member starts over).
    Add {
        list: String,
        #[arg(required = true)]
        addresses: Vec<String>,
    },
    /// Remove members.
    Remove {
        list: String,
        #[arg(required = true)]
        addresses: Vec<String>,
    },
    /// Members with their state and bounce count.
    Members { list: String },
    /// Add moderators (`--remove`: remove them); without addresses, print them.
    Moderators {
        list: String,
        addresses: Vec<String>,
        #[arg(long)]
        remove: bool,
    },
    /// Posts waiting for a moderator.
    Held { list: String },
    /// Send a held post to the members.
    Approve { list: String, id: i64 },
    /// Write every archived post of a list (created with --archive) to FILE as an mbox.
    Archive { list: String, file: PathBuf },
    /// Drop a held post; with --reason, its sender is told why.
    Reject {
        list: String,
        id: i64,
        #[arg(long)]
        reason: Option<String>,
    },
}

pub async fn list(config: &Config, store: Arc<dyn Store>, action: ListAction) -> Result<()> {
    let store_ref = store.as_ref();
    match action {
        ListAction::Create {
            list,
            owner,
            mode,
            moderated,
            refuse_non_members,
            archive,
        } => {
            let settings = ListSettings {
                owner: parse_address(&owner)?.normalized(),
                mode: match mode {
                    Mode::Discussion => ListMode::Discussion,
                    Mode::Announce => ListMode::Announce,
                },
                moderated,
                refuse_non_members,
                archive,
            };
            let address = parse_address(&list)?;
            store.list_create(&address, &settings).await?;
            println!("created {}", address.normalized());
        }
        ListAction::Delete { list } => {
            let list = find(store_ref, &list).await?;
            store.list_delete(&list.address).await?;
            println!("deleted {}", list.address);
        }
        ListAction::Show { list } => show(store_ref, &find(store_ref, &list).await?).await?,
        ListAction::Lists => {
            for list in store.lists().await? {
                let members = store.list_members(list.id).await?;
                let active = members.iter().filter(|m| m.state == MemberState::Active);
                let mode = list.settings.mode.as_str();
                println!("{}\t{mode}\t{} active", list.address, active.count());
            }
        }
        ListAction::Add { list, addresses } => {
            let list = find(store_ref, &list).await?;
            for address in normalized(&addresses)? {
                store
                    .list_set_member(list.id, &address, MemberState::Active)
                    .await?;
                println!("added {address}");
            }
        }
        ListAction::Remove { list, addresses } => {
            remove(store_ref, &find(store_ref, &list).await?, &addresses).await?
        }
        ListAction::Members { list } => {
            let list = find(store_ref, &list).await?;
            for m in store.list_members(list.id).await? {
                println!("{}\t{}\t{} bounces", m.address, m.state.as_str(), m.bounces);
            }
        }
        ListAction::Moderators {
            list,
            addresses,
            remove,
        } => {
            moderators(
                store_ref,
                &find(store_ref, &list).await?,
                &addresses,
                remove,
            )
            .await?
        }
        ListAction::Held { list } => held(store_ref, &find(store_ref, &list).await?).await?,
        ListAction::Archive { list, file } => {
            write_archive(store_ref, &find(store_ref, &list).await?, &file).await?
        }
        ListAction::Approve { list, id } => moderate(config, store, &list, id, None).await?,
        ListAction::Reject { list, id, reason } => {
            let reason = Some(reason.unwrap_or_default());
            moderate(config, store, &list, id, reason).await?
        }
    }
    Ok(())
}

async fn moderators(
    store: &dyn Store,
    list: &ListRecord,
    addresses: &[String],
    remove: bool,
) -> Result<()> {
    if !addresses.is_empty() {
        store
            .list_set_moderators(list.id, &normalized(addresses)?, remove)
            .await?;
    }
    for moderator in store.list_moderators(list.id).await? {
        println!("{moderator}");
    }
    Ok(())
}

/// One line per held post: id, date, envelope sender, subject.
async fn held(store: &dyn Store, list: &ListRecord) -> Result<()> {
    for post in store.list_held(list.id, false).await? {
        let sender = post.sender.as_deref().unwrap_or("<>");
        let received = std::time::Duration::from_secs(post.received.max(0) as u64);
        let date = hermod_message::rfc5322_date(std::time::UNIX_EPOCH + received);
        println!("{}\t{date}\t{sender}\t{}", post.id, post.subject);
    }
    Ok(())
}

/// Every archived post as an mbox (mboxrd: a body line starting with `From ` or `>From `
/// gets one more `>`; LF line ends), written to a temporary file first and renamed, so an
/// interrupted run leaves no half file behind.
async fn write_archive(store: &dyn Store, list: &ListRecord, file: &Path) -> Result<()> {
    if !list.settings.archive {
        bail!(
            "{} keeps no archive (create it with --archive)",
            list.address
        );
    }
    let posts = store.list_posts(list.id).await?;
    let mut out = Vec::new();
    for post in &posts {
        let sender = post.sender.as_deref().unwrap_or("MAILER-DAEMON");
        let when =
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(post.received.max(0) as u64);
        out.extend_from_slice(format!("From {sender} {}\n", asctime(when)).as_bytes());
        for line in post.content.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let unquoted = line.iter().position(|&b| b != b'>').unwrap_or(line.len());
            if line[unquoted..].starts_with(b"From ") {
                out.push(b'>');
            }
            out.extend_from_slice(line);
            out.push(b'\n');
        }
    }
    let tmp = file.with_extension("tmp");
    std::fs::write(&tmp, &out).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, file).with_context(|| format!("cannot write {}", file.display()))?;
    println!(
        "wrote {} posts of {} to {}",
        posts.len(),
        list.address,
        file.display()
    );
    Ok(())
}

/// The date of an mbox `From ` line: `Mon Nov 30 03:00:00 2026` (UTC).
fn asctime(time: std::time::SystemTime) -> String {
    let secs = time
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let weekday = DAYS[days.rem_euclid(7) as usize];
    format!(
        "{weekday} {} {day:2} {:02}:{:02}:{:02} {year}",
        MONTHS[(month - 1) as usize],
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

async fn find(store: &dyn Store, list: &str) -> Result<ListRecord> {
    let address = parse_address(list)?.normalized();
    store
        .list(&address)
        .await?
        .with_context(|| format!("no such list: {address}"))
}

fn normalized(addresses: &[String]) -> Result<Vec<String>> {
    addresses
        .iter()
        .map(|a| parse_address(a).map(|a| a.normalized()))
        .collect()
}

async fn show(store: &dyn Store, list: &ListRecord) -> Result<()> {
    let s = &list.settings;
    let members = store.list_members(list.id).await?;
    let count = |state| members.iter().filter(|m| m.state == state).count();
    let (local, domain) = (list.local(), list.domain());
    println!("list: {}", list.address);
    println!("owner: {}", s.owner);
    println!("mode: {}", s.mode.as_str());
    println!("moderated: {}", if s.moderated { "yes" } else { "no" });
    let others = if s.refuse_non_members {
        "refused"
    } else {
        "held"
    };
    println!("non-members' posts: {others}");
    println!("archive: {}", if s.archive { "yes" } else { "no" });
    println!(
        "members: {} active, {} pending, {} suspended",
        count(MemberState::Active),
        count(MemberState::Pending),
        count(MemberState::Suspended)
    );
    println!(
        "moderators: {}",
        store.list_moderators(list.id).await?.join(", ")
    );
    println!(
        "held posts: {}",
        store.list_held(list.id, false).await?.len()
    );
    println!(
        "commands: {local}-request@{domain}, {local}+subscribe@{domain}, {local}+unsubscribe@{domain}"
    );
    Ok(())
}

async fn remove(store: &dyn Store, list: &ListRecord, addresses: &[String]) -> Result<()> {
    let mut strangers = Vec::new();
    for address in normalized(addresses)? {
        if store.list_remove_member(list.id, &address).await? {
            println!("removed {address}");
        } else {
            strangers.push(address);
        }
    }
    if !strangers.is_empty() {
        bail!("not members of {}: {}", list.address, strangers.join(", "));
    }
    Ok(())
}

/// Approves (`reject` is `None`) or rejects a held post from the command line. An approved
/// post's local copies go through the pipeline (members' Sieve scripts), remote ones to the
/// queue, which a running server picks up. `reject`: the reason ("" for none).
async fn moderate(
    config: &Config,
    store: Arc<dyn Store>,
    list: &str,
    id: i64,
    reject: Option<String>,
) -> Result<()> {
    let list = find(store.as_ref(), list).await?;
    let engine = hermod_server::list_engine(config, store.as_ref())
        .await
        .map_err(anyhow::Error::msg)?;
    let srs = hermod_server::srs_key(store.as_ref())
        .await
        .map_err(anyhow::Error::msg)?;
    let sieve = hermod_server::sieve_engine(config)
        .map_err(anyhow::Error::msg)?
        .with_srs(srs.clone());
    let router = Router::new(store.clone(), config.recipient_delimiter)
        .with_srs(srs)
        .with_lists(store.clone());
    let deps = ListDeps {
        store: store.as_ref(),
        sieve: &sieve,
        router: &router,
    };
    let Some(reason) = reject else {
        let Some(copies) = engine.approve(deps, &list, id).await? else {
            bail!("{} has no held post {id}", list.address);
        };
        println!("approved post {id} of {}: {copies} copies", list.address);
        return Ok(());
    };
    let reason = Some(reason.as_str()).filter(|r| !r.is_empty());
    if engine.reject(deps, &list, id, reason).await?.is_none() {
        bail!("{} has no held post {id}", list.address);
    }
    println!("rejected post {id} of {}", list.address);
    Ok(())
}
