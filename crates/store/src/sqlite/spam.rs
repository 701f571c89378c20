//! The spam filter's memory: Bayesian token counts per owner (0: the server-wide model) and
//! the greylisting triplets.

use crate::{BayesCounts, GreylistState, Result};
use rusqlite::{Connection, OptionalExtension, params};

/// Greylist records not seen for this long are forgotten.
const GREYLIST_KEEP_SECS: i64 = 35 * 86_400;

pub(crate) fn load(conn: &Connection, owner: i64) -> Result<BayesCounts> {
    let totals: Option<(i64, i64)> = conn
        .query_row(
            "SELECT spam, ham FROM bayes_totals WHERE owner = ?1",
            [owner],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let (spam_messages, ham_messages) = totals.unwrap_or((0, 0));
    let mut stmt =
        conn.prepare_cached("SELECT token, spam, ham FROM bayes_tokens WHERE owner = ?1")?;
    let tokens = stmt
        .query_map([owner], |r| {
            Ok((r.get::<_, i64>(0)? as u64, r.get(1)?, r.get(2)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(BayesCounts {
        spam_messages,
        ham_messages,
        tokens,
    })
}

/// Adds `update` to the counts (negative numbers unlearn, never below zero).
pub(crate) fn learn(conn: &Connection, owner: i64, update: &BayesCounts) -> Result<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO bayes_tokens (owner, token, spam, ham) VALUES (?1, ?2, max(?3, 0), max(?4, 0))
         ON CONFLICT (owner, token) DO UPDATE SET
             spam = max(spam + ?3, 0), ham = max(ham + ?4, 0)",
    )?;
    for (token, spam, ham) in &update.tokens {
        stmt.execute(params![owner, *token as i64, spam, ham])?;
    }
    if update.tokens.iter().any(|(_, s, h)| *s < 0 || *h < 0) {
        conn.execute(
            "DELETE FROM bayes_tokens WHERE owner = ?1 AND spam = 0 AND ham = 0",
            [owner],
        )?;
    }
    conn.execute(
        "INSERT INTO bayes_totals (owner, spam, ham) VALUES (?1, max(?2, 0), max(?3, 0))
         ON CONFLICT (owner) DO UPDATE SET spam = max(spam + ?2, 0), ham = max(ham + ?3, 0)",
        params![owner, update.spam_messages, update.ham_messages],
    )?;
    conn.execute("UPDATE bayes_generation SET n = n + 1", [])?;
    Ok(())
}

pub(crate) fn record_seen(
    conn: &Connection,
    owner: i64,
    seen: &[crate::LearnedMessage],
) -> Result<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO bayes_seen (owner, digest, spam) VALUES (?1, ?2, ?3)
         ON CONFLICT (owner, digest) DO UPDATE SET spam = ?3",
    )?;
    for message in seen {
        stmt.execute(params![owner, message.digest, message.spam])?;
    }
    Ok(())
}

/// Refuses a lesson worked out from what another lesson has since changed (see
/// `SpamData::bayes_learn`); inside the write transaction, so nothing comes between.
pub(crate) fn check_unchanged(
    conn: &Connection,
    owner: i64,
    lessons: &[crate::LearnedMessage],
) -> Result<()> {
    let digests: Vec<Vec<u8>> = lessons.iter().map(|m| m.digest.clone()).collect();
    let now = seen(conn, owner, &digests)?;
    if lessons.iter().zip(now).any(|(m, now)| m.before != now) {
        return Err(crate::StoreError::LessonRaced);
    }
    Ok(())
}

pub(crate) fn seen(
    conn: &Connection,
    owner: i64,
    digests: &[Vec<u8>],
) -> Result<Vec<Option<bool>>> {
    let mut stmt =
        conn.prepare_cached("SELECT spam FROM bayes_seen WHERE owner = ?1 AND digest = ?2")?;
    digests
        .iter()
        .map(|d| Ok(stmt.query_row(params![owner, d], |r| r.get(0)).optional()?))
        .collect()
}

pub(crate) fn calibration(conn: &Connection) -> Result<Option<String>> {
    let params = conn
        .query_row(
            "SELECT params FROM bayes_calibration WHERE owner = 0",
            [],
            |r| r.get(0),
        )
        .optional()?;
    Ok(params)
}

/// Replaces the server-wide model's calibration; the generation moves, so servers reload.
pub(crate) fn set_calibration(conn: &Connection, params: &str) -> Result<()> {
    conn.execute(
        "INSERT INTO bayes_calibration (owner, params) VALUES (0, ?1)
         ON CONFLICT (owner) DO UPDATE SET params = ?1",
        [params],
    )?;
    conn.execute("UPDATE bayes_generation SET n = n + 1", [])?;
    Ok(())
}

pub(crate) fn generation(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row("SELECT n FROM bayes_generation", [], |r| r.get(0))?)
}

/// Records an attempt for `key`; it passes once `delay` seconds have gone by since the first.
pub(crate) fn greylist(
    conn: &Connection,
    key: &str,
    now: i64,
    delay: i64,
) -> Result<GreylistState> {
    let row: Option<(i64, Option<i64>)> = conn
        .query_row(
            "SELECT first_seen, passed FROM greylist WHERE key = ?1",
            [key],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let state = match row {
        None => {
            conn.execute(
                "DELETE FROM greylist WHERE last_seen < ?1",
                [now - GREYLIST_KEEP_SECS],
            )?;
            conn.execute(
                "INSERT INTO greylist (key, first_seen, last_seen) VALUES (?1, ?2, ?2)",
                params![key, now],
            )?;
            GreylistState::Wait(delay)
        }
        Some((_, Some(_))) => GreylistState::Known,
        Some((first, None)) if now - first >= delay => {
            conn.execute(
                "UPDATE greylist SET passed = ?2 WHERE key = ?1",
                params![key, now],
            )?;
            GreylistState::Passed
        }
        Some((first, None)) => GreylistState::Wait(delay - (now - first)),
    };
    conn.execute(
        "UPDATE greylist SET last_seen = ?2 WHERE key = ?1",
        params![key, now],
    )?;
    Ok(state)
}

#[cfg(test)]
mod tests {
    use crate::{BayesCounts, BlockingStore, GreylistState, SqliteStore, UserId};

    #[test]
    fn bayes_counts_add_up_and_unlearn() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let before = store.bayes_generation().unwrap();
        let learn = BayesCounts {
            spam_messages: 2,
            ham_messages: 1,
            tokens: vec![(u64::MAX, 2, 0), (7, 1, 1)],
        };
        store.bayes_learn(None, &learn, &[]).unwrap();
        store.bayes_learn(None, &learn, &[]).unwrap();
        assert!(store.bayes_generation().unwrap() > before);
        let mut model = store.bayes_load(None).unwrap();
        model.tokens.sort();
        assert_eq!((model.spam_messages, model.ham_messages), (4, 2));
        assert_eq!(model.tokens, vec![(7, 2, 2), (u64::MAX, 4, 0)]);
        let unlearn = BayesCounts {
            spam_messages: -1,
            ham_messages: 0,
            tokens: vec![(u64::MAX, -10, 0), (7, -1, 0)],
        };
        let moved = crate::LearnedMessage {
            digest: b"digest".to_vec(),
            spam: false,
            before: None,
        };
        assert_eq!(
            store
                .bayes_seen(None, std::slice::from_ref(&moved.digest))
                .unwrap(),
            [None]
        );
        store
            .bayes_learn(None, &unlearn, std::slice::from_ref(&moved))
            .unwrap();
        assert_eq!(
            store
                .bayes_seen(None, std::slice::from_ref(&moved.digest))
                .unwrap(),
            [Some(false)]
        );
        assert_eq!(
            store.bayes_seen(Some(UserId(1)), &[moved.digest]).unwrap(),
            [None]
        );
        let model = store.bayes_load(None).unwrap();
        assert_eq!(model.tokens, vec![(7, 1, 2)]);
        assert_eq!(model.spam_messages, 3);
        assert_eq!(
            store.bayes_load(Some(UserId(1))).unwrap(),
            BayesCounts::default()
        );
    }

    #[test]
    fn greylisting_waits_then_remembers() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let key = "192.0.2.0/24 a@b.example c@d.example";
        assert_eq!(
            store.greylist(key, 1000, 300).unwrap(),
            GreylistState::Wait(300)
        );
        assert_eq!(
            store.greylist(key, 1100, 300).unwrap(),
            GreylistState::Wait(200)
        );
        assert_eq!(
            store.greylist(key, 1300, 300).unwrap(),
            GreylistState::Passed
        );
        assert_eq!(
            store.greylist(key, 1301, 300).unwrap(),
            GreylistState::Known
        );
        // Forgotten after long silence: a new triplet elsewhere sweeps it.
        let later = 1301 + 36 * 86_400;
        store.greylist("other", later, 300).unwrap();
        assert_eq!(
            store.greylist(key, later, 300).unwrap(),
            GreylistState::Wait(300)
        );
    }
}
