//! `hermod queue`: look at the outbound queue and act on it (safe while the server runs;
//! the server's runner picks up changes within seconds).

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use hermod_config::Config;
use hermod_core::Router;
use hermod_core::bounce::{Deleted, delete_queued};
use hermod_message::unix_now;
use hermod_store::{QueueEntry, Store};
use std::sync::Arc;

#[derive(Subcommand)]
pub enum QueueAction {
    /// Every queued message with its recipients' states.
    List,
    /// The messages the bulk guard holds, with why.
    Held,
    /// Let a held message go to the relay now.
    Release { id: i64 },
    /// One message: its recipients and headers.
    Show { id: i64 },
    /// Try now the waiting recipients of ID, or of every message.
    Retry { id: Option<i64> },
    /// Drop a message from the queue; `--bounce` tells its sender first.
    Delete {
        id: i64,
        #[arg(long)]
        bounce: bool,
    },
}

fn print_entry(entry: &QueueEntry) {
    let sender = if entry.sender.is_empty() {
        "<>".to_owned()
    } else {
        format!("<{}>", entry.sender)
    };
    let date = hermod_message::rfc5322_date(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(entry.created.max(0) as u64),
    );
    println!(
        "{}\t{date}\t{sender}\t{} recipient(s)",
        entry.id,
        entry.recipients.len()
    );
    if let Some(reason) = &entry.held {
        println!("\theld: {reason}");
    }
    for (rcpt, status, attempts, error) in &entry.recipients {
        println!(
            "\t{rcpt}\t{status}\tattempts={attempts}\t{}",
            error.as_deref().unwrap_or("")
        );
    }
}

async fn find(store: &dyn Store, id: i64) -> Result<QueueEntry> {
    let entries = store.queue().await?;
    entries
        .into_iter()
        .find(|e| e.id == id)
        .with_context(|| format!("no queued message with ID {id}"))
}

pub async fn queue(config: &Config, store: Arc<dyn Store>, action: QueueAction) -> Result<()> {
    match action {
        QueueAction::List => {
            let entries = store.queue().await?;
            if entries.is_empty() {
                println!("the queue is empty");
            }
            entries.iter().for_each(print_entry);
        }
        QueueAction::Held => {
            let entries: Vec<QueueEntry> = store
                .queue()
                .await?
                .into_iter()
                .filter(|e| e.held.is_some())
                .collect();
            if entries.is_empty() {
                println!("nothing is held");
            }
            entries.iter().for_each(print_entry);
        }
        QueueAction::Release { id } => {
            let entry = find(store.as_ref(), id).await?;
            if entry.held.is_none() {
                bail!("message {id} is not held (`hermod queue retry {id}` tries it now)");
            }
            if !store.queue_release_held(id, unix_now()).await? {
                bail!("message {id} was released or removed meanwhile");
            }
            println!("released {id}: the relay sends it within seconds");
        }
        QueueAction::Show { id } => {
            let entry = find(store.as_ref(), id).await?;
            print_entry(&entry);
            let head = store.read_blob(&entry.blob, Some(64 * 1024)).await?;
            println!();
            print!(
                "{}",
                String::from_utf8_lossy(hermod_message::header_section(&head))
            );
        }
        QueueAction::Retry { id } => {
            if let Some(id) = id {
                find(store.as_ref(), id).await?;
            }
            let n = store.queue_retry_now(id, unix_now()).await?;
            println!("{n} recipient(s) will be tried now");
        }
        QueueAction::Delete { id, bounce } => delete(config, store, id, bounce).await?,
    }
    Ok(())
}

async fn delete(config: &Config, store: Arc<dyn Store>, id: i64, bounce: bool) -> Result<()> {
    let router = Router::new(store.clone(), config.recipient_delimiter).with_lists(store.clone());
    let deleted = delete_queued(store.as_ref(), &router, &config.hostname, id, bounce).await;
    match deleted.map_err(anyhow::Error::msg)? {
        Deleted::Missing => bail!("no queued message with ID {id}"),
        Deleted::Quietly => println!("deleted {id}"),
        Deleted::SenderTold => println!("deleted {id}; its sender was told"),
        Deleted::ListCopy => println!("deleted {id} (a mailing list's copy: nobody to tell)"),
    }
    Ok(())
}
