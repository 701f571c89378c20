//! Reads: what changed since a MODSEQ (CONDSTORE/QRESYNC) and STATUS counts.

use super::log::Kind;
use crate::sqlite::mailbox::{MAILBOX_COLUMNS, canonical, mailbox_from_row, parse_flags, to_info};
use crate::{Changes, MailboxId, MailboxStatus, MessageState, Result, StoreError, UidSet, UserId};
use hermod_types::{MailboxName, Uid};
use rusqlite::{Connection, OptionalExtension, params};

/// Messages appended or changed after `since` and UIDs expunged after it, optionally only
/// within `uids`. The caller runs this in one read transaction (a consistent snapshot).
pub(crate) fn changes_since(
    conn: &Connection,
    mailbox: MailboxId,
    since: u64,
    uids: Option<&UidSet>,
) -> Result<Changes> {
    let (highest, floor, uid_next): (i64, i64, u32) = conn
        .prepare_cached(
            "SELECT highestmodseq, vanished_floor, uidnext FROM mailboxes WHERE id = ?1",
        )?
        .query_row(params![mailbox.0], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?
        .ok_or_else(|| StoreError::UnknownMailbox(format!("id {}", mailbox.0)))?;
    let mut changes = Changes {
        highest_modseq: highest as u64,
        ..Changes::default()
    };
    logged_since(conn, mailbox, since, uids, &mut changes)?;
    changes.changed.sort_by_key(|m| m.uid);
    if (since as i64) < floor {
        changes.vanished = missing_uids(conn, mailbox, uid_next)?;
        if let Some(set) = uids {
            changes.vanished = intersect(&changes.vanished, set);
        }
    }
    Ok(changes)
}

/// Adds the change-log rows after `since` (within `uids`) to `changes`: changed messages
/// with their state now, expunged UIDs as vanished.
fn logged_since(
    conn: &Connection,
    mailbox: MailboxId,
    since: u64,
    uids: Option<&UidSet>,
    changes: &mut Changes,
) -> Result<()> {
    // The log's key starts (mailbox, modseq): this is a range read of the changes only.
    let mut stmt = conn.prepare_cached(
        "SELECT c.uid, c.kind, m.flags, m.keywords, m.modseq FROM changelog c
         LEFT JOIN messages m ON m.mailbox_id = c.mailbox_id AND m.uid = c.uid
         WHERE c.mailbox_id = ?1 AND c.modseq > ?2",
    )?;
    let rows = stmt.query_map(params![mailbox.0, since as i64], |r| {
        Ok((
            r.get::<_, u32>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, Option<u8>>(2)?,
            r.get::<_, Option<String>>(3)?,
            r.get::<_, Option<i64>>(4)?,
        ))
    })?;
    let wanted = |uid: Uid| uids.is_none_or(|set| set.contains(uid));
    for row in rows {
        let (uid, kind, bits, keywords, modseq) = row?;
        let Some(uid) = Uid::new(uid).filter(|u| wanted(*u)) else {
            continue;
        };
        match (bits, keywords, modseq) {
            (Some(bits), Some(keywords), Some(modseq)) if kind != Kind::Expunged as i64 => {
                changes.changed.push(MessageState {
                    uid,
                    flags: parse_flags(bits, &keywords),
                    modseq: modseq as u64,
                })
            }
            // Expunged, or a row whose message is gone (logged before the log kept one row
            // per UID): vanished either way.
            _ => changes.vanished.insert(uid),
        }
    }
    Ok(())
}

/// Every UID below `uid_next` without a message: what may have been expunged when the log
/// cannot say.
fn missing_uids(conn: &Connection, mailbox: MailboxId, uid_next: u32) -> Result<UidSet> {
    let mut stmt =
        conn.prepare_cached("SELECT uid FROM messages WHERE mailbox_id = ?1 ORDER BY uid")?;
    let mut missing = UidSet::new();
    let mut expected = 1u32;
    for uid in stmt.query_map(params![mailbox.0], |r| r.get::<_, u32>(0))? {
        let uid = uid?;
        if uid > expected {
            missing.insert_range(expected, uid - 1);
        }
        expected = uid.saturating_add(1);
    }
    if uid_next > expected {
        missing.insert_range(expected, uid_next - 1);
    }
    Ok(missing)
}

fn intersect(a: &UidSet, b: &UidSet) -> UidSet {
    let mut out = UidSet::new();
    for &(a_lo, a_hi) in a.ranges() {
        for &(b_lo, b_hi) in b.ranges() {
            let (lo, hi) = (a_lo.max(b_lo), a_hi.min(b_hi));
            if lo <= hi {
                out.insert_range(lo, hi);
            }
        }
    }
    out
}

/// STATUS in one statement: the mailbox row joined with an aggregate over its messages
/// (the mailbox and message tables share no column names).
pub(crate) fn status(
    conn: &Connection,
    user: UserId,
    name: &MailboxName,
) -> Result<Option<MailboxStatus>> {
    let sql = format!(
        "SELECT {MAILBOX_COLUMNS}, count(x.uid), total((x.flags & 1) = 0),
                total((x.flags & 8) != 0), total(x.size)
         FROM mailboxes LEFT JOIN messages x ON x.mailbox_id = id
         WHERE user_id = ?1 AND name = ?2 GROUP BY id"
    );
    let found = conn
        .prepare_cached(&sql)?
        .query_row(params![user.0, canonical(name).as_str()], |r| {
            let counts = (
                r.get::<_, u32>(6)?,
                r.get::<_, f64>(7)?,
                r.get::<_, f64>(8)?,
                r.get::<_, f64>(9)?,
            );
            Ok((mailbox_from_row(r)?, counts))
        })
        .optional()?;
    let Some((raw, (messages, unseen, deleted, size))) = found else {
        return Ok(None);
    };
    // total() is a float: exact for any count or size a mailbox reaches (below 2^53).
    Ok(Some(MailboxStatus {
        mailbox: to_info(raw)?,
        messages,
        unseen: unseen as u32,
        deleted: deleted as u32,
        size: size as u64,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intersection_of_range_sets() {
        let mut a = UidSet::range(1, 10);
        a.insert_range(20, 30);
        let mut b = UidSet::range(5, 22);
        b.insert_range(29, 40);
        assert_eq!(intersect(&a, &b).to_string(), "5:10,20:22,29:30");
        assert!(intersect(&a, &UidSet::new()).is_empty());
    }

    /// A store from before the change log: its messages enter the log as appends, and a
    /// client resynchronizing from before the upgrade is told every missing UID vanished.
    #[test]
    fn upgrading_logs_existing_messages_and_reports_older_expunges_conservatively() {
        use crate::sqlite::schema;
        let mut conn = Connection::open_in_memory().unwrap();
        schema::migrate_partially(&conn, 7).unwrap();
        conn.execute_batch(
            "INSERT INTO domains VALUES ('example.test', 0);
             INSERT INTO users (id, address, domain, password)
                 VALUES (1, 'a@example.test', 'example.test', 'h');
             INSERT INTO mailboxes (id, user_id, name, uidvalidity, uidnext, highestmodseq)
                 VALUES (1, 1, 'INBOX', 1, 6, 9);
             INSERT INTO blobs (id, size) VALUES ('b', 3);
             INSERT INTO messages (mailbox_id, uid, blob_id, size, internal_date, modseq)
                 VALUES (1, 1, 'b', 3, 0, 2), (1, 3, 'b', 3, 0, 8);",
        )
        .unwrap();
        schema::migrate(&mut conn).unwrap();
        let mailbox = MailboxId(1);
        let old = changes_since(&conn, mailbox, 0, None).unwrap();
        let uids: Vec<u32> = old.changed.iter().map(|m| m.uid.get()).collect();
        assert_eq!(
            (uids, old.vanished.to_string()),
            (vec![1, 3], "2,4:5".into())
        );
        let within = changes_since(&conn, mailbox, 2, Some(&UidSet::range(3, 4))).unwrap();
        assert_eq!(within.vanished.to_string(), "4");
        let recent = changes_since(&conn, mailbox, 9, None).unwrap();
        assert!(recent.changed.is_empty() && recent.vanished.is_empty());
        assert_eq!(recent.highest_modseq, 9);
        // The rebuilt triggers keep the quota and now count mail changes too.
        conn.execute(
            "INSERT INTO messages (mailbox_id, uid, blob_id, size, internal_date, modseq)
             VALUES (1, 6, 'b', 3, 0, 10)",
            [],
        )
        .unwrap();
        let (used, generation): (i64, i64) = conn
            .query_row("SELECT used, mail_generation FROM users", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((used, generation), (9, 1));
    }
}
