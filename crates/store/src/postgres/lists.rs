//! The `Lists` role on PostgreSQL: mailing lists, members, moderators, held and archived
//! posts, confirmation tokens. Addresses are stored normalized (`Address::normalized`).
//!
//! A list's address and its `-request` address are nobody else's. Whoever claims an address
//! (a list here; a user or an alias in the directory, which asks [`is_list_address`]) first
//! takes a transaction-scoped advisory lock on it, so a list and an account created at once
//! on two nodes for one address take turns and the second sees the first.

use super::PostgresStore;
use super::directory::now;
use crate::roles::Lists;
use crate::{
    Confirmed, ListMember, ListMode, ListPost, ListRecord, ListSettings, MemberState, Result,
    StoreError, TokenAction,
};
use async_trait::async_trait;
use hermod_types::Address;
use tokio_postgres::{Row, Transaction};

const LIST_COLUMNS: &str = "id, address, owner, mode, moderated, refuse_non_members, archive";
const POST_COLUMNS: &str = "id, sender, subject, received, content";

/// `team-request@d` for `team@d`: the list's command address, which no account or alias may
/// take either.
fn request_address(list: &str) -> String {
    match list.rsplit_once('@') {
        Some((local, domain)) => format!("{local}-request@{domain}"),
        None => list.to_owned(),
    }
}

/// Waits for, then holds until the transaction ends, the right to claim `address`. The same
/// lock as the directory's `claim_address` (one key: the address's `hashtext`, which never
/// reaches the migration lock's number), so users, aliases and lists take turns on one
/// address; taking it twice in one transaction is harmless.
async fn lock_address(tx: &Transaction<'_>, address: &str) -> Result<()> {
    tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&address])
        .await?;
    Ok(())
}

/// Whether `address` (normalized) is a list's address or its `-request` address: users and
/// aliases may not take it. Called by whoever is about to claim `address`: it takes the
/// address's lock first, held until that transaction ends, so a list created meanwhile on
/// another node either is seen here or sees the claim.
pub(super) async fn is_list_address(tx: &Transaction<'_>, address: &str) -> Result<bool> {
    lock_address(tx, address).await?;
    let base = address
        .rsplit_once('@')
        .and_then(|(local, domain)| Some(format!("{}@{domain}", local.strip_suffix("-request")?)));
    let found = tx
        .query_opt(
            "SELECT 1 FROM lists WHERE address = $1 OR address = $2",
            &[&address, &base.unwrap_or_default()],
        )
        .await?;
    Ok(found.is_some())
}

/// Whether a user or an alias has `address`.
async fn taken_by_account_or_alias(tx: &Transaction<'_>, address: &str) -> Result<bool> {
    let found = tx
        .query_opt(
            "SELECT 1 FROM users WHERE address = $1
             UNION ALL SELECT 1 FROM aliases WHERE alias = $1 LIMIT 1",
            &[&address],
        )
        .await?;
    Ok(found.is_some())
}

fn list_record(r: &Row) -> ListRecord {
    ListRecord {
        id: r.get(0),
        address: r.get(1),
        settings: ListSettings {
            owner: r.get(2),
            mode: ListMode::parse(r.get(3)).unwrap_or(ListMode::Discussion),
            moderated: r.get(4),
            refuse_non_members: r.get(5),
            archive: r.get(6),
        },
    }
}

fn member(r: &Row) -> ListMember {
    ListMember {
        address: r.get(0),
        state: MemberState::parse(r.get(1)),
        bounces: u32::try_from(r.get::<_, i64>(2)).unwrap_or(u32::MAX),
    }
}

fn post(r: &Row) -> ListPost {
    ListPost {
        id: r.get(0),
        sender: r.get(1),
        subject: r.get(2),
        received: r.get(3),
        content: r.get(4),
    }
}

impl PostgresStore {
    async fn require_list(&self, list: i64) -> Result<()> {
        match Lists::list_by_id(self, list).await? {
            Some(_) => Ok(()),
            None => Err(StoreError::UnknownList(format!("#{list}"))),
        }
    }

    /// Keeps a post in `table` (`list_held` or `list_posts`); its id.
    async fn keep_post(
        &self,
        table: &str,
        list: i64,
        sender: Option<&str>,
        subject: &str,
        content: &[u8],
    ) -> Result<i64> {
        self.require_list(list).await?;
        let client = self.client().await?;
        let row = client
            .query_one(
                &format!(
                    "INSERT INTO {table} (list_id, sender, subject, received, content)
                     VALUES ($1, $2, $3, $4, $5) RETURNING id"
                ),
                &[&list, &sender, &subject, &now(), &content],
            )
            .await?;
        Ok(row.get(0))
    }
}

#[async_trait]
impl Lists for PostgresStore {
    async fn list_create(&self, address: &Address, settings: &ListSettings) -> Result<i64> {
        let key = address.normalized();
        let request = request_address(&key);
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // Both addresses, always in this order (a list's before its -request's: no two
        // creators wait for each other in a circle).
        let mut claimed = [key.as_str(), request.as_str()];
        claimed.sort_unstable();
        for taken in claimed {
            lock_address(&tx, taken).await?;
        }
        let domain = address.domain().as_str();
        let known = tx
            .query_opt("SELECT 1 FROM domains WHERE name = $1", &[&domain])
            .await?;
        if known.is_none() {
            return Err(StoreError::UnknownDomain(domain.to_owned()));
        }
        let exists = tx
            .query_opt("SELECT 1 FROM lists WHERE address = $1", &[&key])
            .await?;
        if exists.is_some() {
            return Err(StoreError::ListExists(key));
        }
        for taken in [&key, &request] {
            if taken_by_account_or_alias(&tx, taken).await? || is_list_address(&tx, taken).await? {
                return Err(StoreError::AddressTaken(taken.clone()));
            }
        }
        let row = tx
            .query_one(
                "INSERT INTO lists
                     (address, domain, owner, mode, moderated, refuse_non_members, archive, created)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                &[
                    &key,
                    &domain,
                    &settings.owner,
                    &settings.mode.as_str(),
                    &settings.moderated,
                    &settings.refuse_non_members,
                    &settings.archive,
                    &now(),
                ],
            )
            .await?;
        tx.commit().await?;
        Ok(row.get(0))
    }

    async fn list_delete(&self, address: &str) -> Result<()> {
        let client = self.client().await?;
        let deleted = client
            .execute("DELETE FROM lists WHERE address = $1", &[&address])
            .await?;
        if deleted == 0 {
            return Err(StoreError::UnknownList(address.to_owned()));
        }
        Ok(())
    }

    async fn list(&self, address: &str) -> Result<Option<ListRecord>> {
        let client = self.client().await?;
        let sql = format!("SELECT {LIST_COLUMNS} FROM lists WHERE address = $1");
        let row = client.query_opt(&sql, &[&address]).await?;
        Ok(row.as_ref().map(list_record))
    }

    async fn list_by_id(&self, id: i64) -> Result<Option<ListRecord>> {
        let client = self.client().await?;
        let sql = format!("SELECT {LIST_COLUMNS} FROM lists WHERE id = $1");
        let row = client.query_opt(&sql, &[&id]).await?;
        Ok(row.as_ref().map(list_record))
    }

    async fn lists(&self) -> Result<Vec<ListRecord>> {
        let client = self.client().await?;
        let sql = format!("SELECT {LIST_COLUMNS} FROM lists ORDER BY address");
        let rows = client.query(&sql, &[]).await?;
        Ok(rows.iter().map(list_record).collect())
    }

    async fn list_members(&self, list: i64) -> Result<Vec<ListMember>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT address, state, bounces FROM list_members
                 WHERE list_id = $1 ORDER BY address",
                &[&list],
            )
            .await?;
        Ok(rows.iter().map(member).collect())
    }

    async fn list_member(&self, list: i64, address: &str) -> Result<Option<ListMember>> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT address, state, bounces FROM list_members
                 WHERE list_id = $1 AND address = $2",
                &[&list, &address],
            )
            .await?;
        Ok(row.as_ref().map(member))
    }

    async fn list_set_member(&self, list: i64, address: &str, state: MemberState) -> Result<()> {
        self.require_list(list).await?;
        let client = self.client().await?;
        // One statement decides against the row as it is: a pending request never demotes
        // an active member, whatever another node wrote a moment before.
        client
            .execute(
                "INSERT INTO list_members (list_id, address, state, bounces, since)
                 VALUES ($1, $2, $3, 0, $4)
                 ON CONFLICT (list_id, address) DO UPDATE
                     SET state = EXCLUDED.state, bounces = 0, since = EXCLUDED.since
                     WHERE NOT (EXCLUDED.state = 'pending' AND list_members.state = 'active')",
                &[&list, &address, &state.as_str(), &now()],
            )
            .await?;
        Ok(())
    }

    async fn list_remove_member(&self, list: i64, address: &str) -> Result<bool> {
        let client = self.client().await?;
        let removed = client
            .execute(
                "DELETE FROM list_members WHERE list_id = $1 AND address = $2",
                &[&list, &address],
            )
            .await?;
        Ok(removed > 0)
    }

    async fn list_bounce(
        &self,
        list: i64,
        address: &str,
        suspend_after: u32,
    ) -> Result<Option<ListMember>> {
        let client = self.client().await?;
        let threshold = i64::from(suspend_after.max(1));
        let counted = client
            .query_opt(
                "UPDATE list_members SET bounces = bounces + 1,
                     state = CASE WHEN bounces + 1 >= $3 THEN 'suspended' ELSE state END
                 WHERE list_id = $1 AND address = $2 AND state = 'active'
                 RETURNING address, state, bounces",
                &[&list, &address, &threshold],
            )
            .await?;
        match counted {
            Some(row) => Ok(Some(member(&row))),
            // Not active (pending, suspended) or not a member: it stays as it is.
            None => self.list_member(list, address).await,
        }
    }

    async fn list_remove_suspended(&self, list: i64, before: i64) -> Result<Vec<String>> {
        let rows = self
            .client()
            .await?
            .query(
                "DELETE FROM list_members
                 WHERE list_id = $1 AND state = 'suspended' AND since < $2
                 RETURNING address",
                &[&list, &before],
            )
            .await?;
        let mut removed: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
        removed.sort();
        Ok(removed)
    }

    async fn list_moderators(&self, list: i64) -> Result<Vec<String>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT address FROM list_moderators WHERE list_id = $1 ORDER BY address",
                &[&list],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn list_set_moderators(
        &self,
        list: i64,
        addresses: &[String],
        remove: bool,
    ) -> Result<()> {
        self.require_list(list).await?;
        let client = self.client().await?;
        let sql = if remove {
            "DELETE FROM list_moderators WHERE list_id = $1 AND address = ANY($2)"
        } else {
            "INSERT INTO list_moderators (list_id, address)
             SELECT $1, a FROM unnest($2::text[]) AS a
             ON CONFLICT DO NOTHING"
        };
        client.execute(sql, &[&list, &addresses]).await?;
        Ok(())
    }

    async fn list_hold(
        &self,
        list: i64,
        sender: Option<&str>,
        subject: &str,
        content: &[u8],
    ) -> Result<i64> {
        self.keep_post("list_held", list, sender, subject, content)
            .await
    }

    async fn list_held(&self, list: i64, with_content: bool) -> Result<Vec<ListPost>> {
        let client = self.client().await?;
        let content = if with_content { "content" } else { "''::bytea" };
        let sql = format!(
            "SELECT id, sender, subject, received, {content} FROM list_held
             WHERE list_id = $1 ORDER BY id"
        );
        let rows = client.query(&sql, &[&list]).await?;
        Ok(rows.iter().map(post).collect())
    }

    async fn list_take_held(&self, list: i64, id: i64) -> Result<Option<ListPost>> {
        let client = self.client().await?;
        // Deleting is taking: of two moderators deciding at once, one gets the post.
        let sql = format!(
            "DELETE FROM list_held WHERE list_id = $1 AND id = $2 RETURNING {POST_COLUMNS}"
        );
        let row = client.query_opt(&sql, &[&list, &id]).await?;
        Ok(row.as_ref().map(post))
    }

    async fn list_archive_post(
        &self,
        list: i64,
        sender: Option<&str>,
        subject: &str,
        content: &[u8],
    ) -> Result<i64> {
        self.keep_post("list_posts", list, sender, subject, content)
            .await
    }

    async fn list_posts(&self, list: i64) -> Result<Vec<ListPost>> {
        let client = self.client().await?;
        let sql = format!("SELECT {POST_COLUMNS} FROM list_posts WHERE list_id = $1 ORDER BY id");
        let rows = client.query(&sql, &[&list]).await?;
        Ok(rows.iter().map(post).collect())
    }

    async fn list_new_token(
        &self,
        list: i64,
        address: &str,
        action: TokenAction,
        expires: i64,
    ) -> Result<String> {
        self.require_list(list).await?;
        // 128 random bits from the operating system, hex: unguessable.
        let mut random = [0u8; 16];
        getrandom::fill(&mut random)
            .map_err(|e| StoreError::Unavailable(format!("no randomness: {e}")))?;
        let token: String = random.iter().map(|b| format!("{b:02x}")).collect();
        let client = self.client().await?;
        client
            .execute("DELETE FROM list_tokens WHERE expires < $1", &[&now()])
            .await?;
        client
            .execute(
                "INSERT INTO list_tokens (token, list_id, address, action, expires)
                 VALUES ($1, $2, $3, $4, $5)",
                &[&token, &list, &address, &action.as_str(), &expires],
            )
            .await?;
        Ok(token)
    }

    async fn list_take_token(&self, token: &str, at: i64) -> Result<Option<Confirmed>> {
        let client = self.client().await?;
        // Deleting is using: a token confirms once, even when two replies arrive at once.
        let row = client
            .query_opt(
                "DELETE FROM list_tokens WHERE token = $1
                 RETURNING list_id, address, action, expires",
                &[&token],
            )
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        if row.get::<_, i64>(3) < at {
            return Ok(None);
        }
        let action: &str = row.get(2);
        let Some(action) = TokenAction::parse(action) else {
            return Err(StoreError::Corrupt(format!("list token action {action:?}")));
        };
        Ok(Some(Confirmed {
            list: row.get(0),
            address: row.get(1),
            action,
        }))
    }
}
