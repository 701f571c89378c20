//! Change notifications across nodes: LISTEN/NOTIFY.
//!
//! Every transaction that changes users' mail ends with [`changed`]: it bumps each user's
//! `mail_generation` and sends one `pg_notify` whose payload names the users with their new
//! generations (`id:generation,...`; `*` when that would not fit PostgreSQL's 8000-byte
//! payload). PostgreSQL delivers it when, and only if, the transaction commits. The writing
//! handle also announces its own commits at once; the generations make the echo a no-op.
//!
//! Each store handle listens on a connection of its own (not from the pool, which recycles
//! connections), opened with the first subscriber. When that connection is lost, the
//! listener wakes every subscriber (they catch up by MODSEQ: a spurious wake-up is cheap, a
//! lost one is not), reconnects with a growing pause, and wakes them all again once it
//! listens, for the changes made while it did not.

use super::super::connect::Target;
use crate::notify::Notifier;
use crate::postgres::prepared::Prepared;
use crate::{Result, UserId};
use std::sync::Weak;
use std::time::Duration;
use tokio::sync::{OnceCell, mpsc, watch};
use tokio_postgres::types::Type;
use tokio_postgres::{AsyncMessage, Client};

/// The channel every node listens on.
const CHANNEL: &str = "hermod_mail";
/// Payloads must stay below 8000 bytes.
const MAX_PAYLOAD: usize = 7900;

/// Marks `users`' mail as changed by `tx`: new generations, and one notification delivered
/// at commit. Returns the generations, for announcing locally after the commit.
pub(crate) async fn changed(tx: Prepared<'_>, users: &[UserId]) -> Result<Vec<(UserId, i64)>> {
    if users.is_empty() {
        return Ok(Vec::new());
    }
    let mut ids: Vec<i64> = users.iter().map(|u| u.0).collect();
    ids.sort_unstable();
    ids.dedup();
    // One statement: the new generations, and the notification naming them.
    let (filter, users) = super::one_or_many(&ids);
    let sql = format!(
        "WITH bumped AS (
             UPDATE users SET mail_generation = mail_generation + 1 WHERE {filter}
             RETURNING id, mail_generation),
         listed AS (
             SELECT array_agg(id) AS ids, array_agg(mail_generation) AS generations,
                    string_agg(id || ':' || mail_generation, ',') AS payload
             FROM bumped)
         SELECT ids, generations,
                pg_notify($2, CASE WHEN length(payload) > $3 THEN '*' ELSE payload END)
         FROM listed WHERE payload IS NOT NULL"
    );
    let row = tx
        .query_opt(
            &sql,
            &[
                users,
                (&CHANNEL, Type::TEXT),
                (&(MAX_PAYLOAD as i32), Type::INT4),
            ],
        )
        .await?;
    // No row: none of the users exists any more, nothing to announce.
    let Some(row) = row else {
        return Ok(Vec::new());
    };
    let (ids, generations): (Vec<i64>, Vec<i64>) = (row.get(0), row.get(1));
    Ok(ids.into_iter().map(UserId).zip(generations).collect())
}

/// A payload's users and generations; `None` for `*` (or anything unreadable): wake all.
fn parse_payload(payload: &str) -> Option<Vec<(UserId, i64)>> {
    payload
        .split(',')
        .map(|pair| {
            let (user, generation) = pair.split_once(':')?;
            Some((UserId(user.parse().ok()?), generation.parse().ok()?))
        })
        .collect()
}

/// The listening side, started by the first subscriber; it stops when the handle goes.
pub(crate) struct Listener {
    target: Target,
    notifier: Weak<Notifier>,
    started: OnceCell<()>,
    /// Dropped with the listener: the task sees its receiver close and ends.
    stop: watch::Sender<()>,
}

impl Listener {
    pub(crate) fn new(target: Target, notifier: Weak<Notifier>) -> Listener {
        Listener {
            target,
            notifier,
            started: OnceCell::new(),
            stop: watch::channel(()).0,
        }
    }

    /// Listens from now on: once this returns, every later commit's notification arrives.
    /// The first connection is made here, so a database that cannot be reached is the
    /// subscriber's error; later ones are the listener's to retry.
    pub(crate) async fn ensure_started(&self) -> Result<()> {
        self.started
            .get_or_try_init(|| async {
                let session = listen(&self.target).await?;
                let task = run(
                    self.target.clone(),
                    self.notifier.clone(),
                    session,
                    self.stop.subscribe(),
                );
                tokio::spawn(task);
                Ok::<(), crate::StoreError>(())
            })
            .await
            .map(drop)
    }
}

/// A listening connection: its client (the connection lives while it does) and the
/// payloads it receives; the receiver ends when the connection does.
type Session = (Client, mpsc::UnboundedReceiver<String>);

async fn listen(target: &Target) -> Result<Session> {
    let mut config = target.config.clone();
    // A connection that silently went away must be noticed: TCP keepalives.
    config
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(30))
        .keepalives_interval(Duration::from_secs(10))
        .keepalives_retries(3);
    let (client, mut connection) = config.connect(target.tls.clone()).await?;
    let (payloads, received) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(n))) => {
                    if payloads.send(n.payload().to_owned()).is_err() {
                        return;
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "the mail change listener lost its connection");
                    return;
                }
                None => return,
            }
        }
    });
    client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
    Ok((client, received))
}

async fn run(
    target: Target,
    notifier: Weak<Notifier>,
    mut session: Session,
    mut stop: watch::Receiver<()>,
) {
    loop {
        loop {
            let payload = tokio::select! {
                payload = session.1.recv() => payload,
                _ = stop.changed() => return,
            };
            let Some(notifier) = notifier.upgrade() else {
                return;
            };
            let Some(payload) = payload else {
                notifier.wake_all();
                break;
            };
            match parse_payload(&payload) {
                Some(changes) => {
                    for (user, generation) in changes {
                        notifier.announce(user, generation);
                    }
                }
                None => notifier.wake_all(),
            }
        }
        let mut pause = Duration::from_millis(250);
        session = loop {
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = stop.changed() => return,
            }
            match listen(&target).await {
                Ok(session) => break session,
                Err(e) => tracing::warn!(error = %e, "cannot listen for mail changes yet"),
            }
            pause = (pause * 2).min(Duration::from_secs(30));
        };
        tracing::info!("listening for mail changes again");
        match notifier.upgrade() {
            Some(notifier) => notifier.wake_all(),
            None => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_name_users_and_generations() {
        assert_eq!(
            parse_payload("7:12,9:3"),
            Some(vec![(UserId(7), 12), (UserId(9), 3)])
        );
        assert_eq!(parse_payload("*"), None);
        assert_eq!(parse_payload("7:x"), None);
    }
}
