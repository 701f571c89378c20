//! Noticing mail changes committed by other processes (the CLI) or other store handles on
//! the same database: a poller thread per store, started with the first change subscription.
//!
//! Every `POLL` it asks SQLite whether anything was committed by another connection since its
//! last look (`PRAGMA data_version`, answered from shared memory without reading the
//! database). Only then does it read the mail generation of each watched user (one primary
//! key lookup per user) and announces those that moved. Writers in this process announce
//! their own commits directly, so for them the poller only repeats what was announced and
//! the notifier drops it.

use crate::notify::Notifier;
use crate::{Result, StoreError, UserId};
use rusqlite::{Connection, OptionalExtension, params};
use std::sync::Weak;
use std::time::Duration;

/// How late a change made elsewhere is noticed at worst. The idle cost is one pragma read.
pub(crate) const POLL: Duration = Duration::from_millis(200);

/// Starts the poller on its own connection. It ends when the notifier (the store) goes.
pub(crate) fn start(conn: Connection, notifier: Weak<Notifier>) -> Result<()> {
    std::thread::Builder::new()
        .name("store-watch".into())
        .spawn(move || run(conn, notifier))
        .map(drop)
        .map_err(|e| StoreError::Io {
            path: "store-watch thread".into(),
            source: e,
        })
}

fn run(conn: Connection, notifier: Weak<Notifier>) {
    let mut last_version = None;
    loop {
        std::thread::sleep(POLL);
        // Held only while polling: between polls the store may be dropped.
        let Some(notifier) = notifier.upgrade() else {
            return;
        };
        if let Err(e) = poll(&conn, &notifier, &mut last_version) {
            tracing::warn!(error = %e, "polling for mail changes failed");
        }
    }
}

fn poll(conn: &Connection, notifier: &Notifier, last_version: &mut Option<i64>) -> Result<()> {
    // Read before the generations: a commit after this read is seen by the next poll.
    let version: i64 = conn.query_row("PRAGMA data_version", [], |r| r.get(0))?;
    if last_version.replace(version) == Some(version) {
        return Ok(());
    }
    for (user, announced) in notifier.watched() {
        match generation(conn, user)? {
            Some(now) if now > announced => notifier.announce(user, now),
            _ => {}
        }
    }
    Ok(())
}

/// The mail generation of `user` (`None`: no such user).
pub(crate) fn generation(conn: &Connection, user: UserId) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached("SELECT mail_generation FROM users WHERE id = ?1")?
        .query_row(params![user.0], |r| r.get(0))
        .optional()?)
}
