//! The `Directory` role on PostgreSQL: domains, accounts, aliases, send-as, DKIM keys.
//!
//! An address is claimed by one account, one alias or one list. Two nodes claiming the same
//! address at once are serialized by a transaction-scoped advisory lock on the address
//! (`claim_address`), so the "is it taken?" checks and the insert see one order.

use super::prepared::Prepared;
use super::{PostgresStore, mail};
use crate::roles::Directory;
use crate::{
    AddressLookup, AliasKey, DEFAULT_MAILBOXES, DkimKeyRecord, Result, StoreError, UserId,
    UserRecord,
};
use async_trait::async_trait;
use hermod_types::{Address, Domain, MailboxName};
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{GenericClient, Row};

pub(super) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

const USER_COLUMNS: &str = "id, address, password, quota, used, send_as, sieve_script, bulk_allowed, frozen, junk_threshold";

fn user_from_row(r: &Row) -> UserRecord {
    let send_as: String = r.get(5);
    UserRecord {
        id: UserId(r.get(0)),
        address: r.get(1),
        password_hash: r.get(2),
        quota: r.get::<_, Option<i64>>(3).map(|q| q.max(0) as u64),
        used: r.get::<_, i64>(4).max(0) as u64,
        send_as: send_as.split_whitespace().map(str::to_owned).collect(),
        sieve_script: r.get(6),
        bulk_allowed: r.get(7),
        frozen: r.get(8),
        junk_threshold: r.get(9),
    }
}

async fn has_domain(c: &(impl GenericClient + Sync), domain: &Domain) -> Result<bool> {
    let row = c
        .query_typed_opt(
            "SELECT 1 FROM domains WHERE name = $1",
            &[(&domain.as_str(), Type::TEXT)],
        )
        .await?;
    Ok(row.is_some())
}

async fn require_domain(c: &(impl GenericClient + Sync), domain: &Domain) -> Result<()> {
    match has_domain(c, domain).await? {
        true => Ok(()),
        false => Err(StoreError::UnknownDomain(domain.to_string())),
    }
}

async fn user_by_address(c: &(impl GenericClient + Sync), key: &str) -> Result<Option<UserRecord>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE address = $1");
    Ok(c.query_opt(&sql, &[&key])
        .await?
        .as_ref()
        .map(user_from_row))
}

/// Serializes everyone claiming `key` (a user, an alias, a list) until the transaction ends.
pub(super) async fn claim_address(tx: &tokio_postgres::Transaction<'_>, key: &str) -> Result<()> {
    tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&key])
        .await?;
    Ok(())
}

async fn alias_exists(c: &(impl GenericClient + Sync), key: &str) -> Result<bool> {
    let row = c
        .query_opt("SELECT 1 FROM aliases WHERE alias = $1 LIMIT 1", &[&key])
        .await?;
    Ok(row.is_some())
}

async fn alias_targets(c: &(impl GenericClient + Sync), key: &str) -> Result<Vec<Address>> {
    let rows = c
        .query(
            "SELECT target FROM aliases WHERE alias = $1 ORDER BY target",
            &[&key],
        )
        .await?;
    rows.iter()
        .map(|r| {
            let target: String = r.get(0);
            Address::parse(&target)
                .map_err(|e| StoreError::Corrupt(format!("alias target {target}: {e}")))
        })
        .collect()
}

/// `UPDATE users SET <assignment> WHERE address = $1`, failing with `UnknownUser` when no
/// such user exists.
pub(super) async fn update_user(
    store: &PostgresStore,
    address: &Address,
    assignment: &str,
    value: &(dyn ToSql + Sync),
) -> Result<()> {
    let key = address.normalized();
    let sql = format!("UPDATE users SET {assignment} WHERE address = $1");
    let changed = store.client().await?.execute(&sql, &[&key, value]).await?;
    match changed {
        0 => Err(StoreError::UnknownUser(key)),
        _ => Ok(()),
    }
}

#[async_trait]
impl Directory for PostgresStore {
    async fn add_domain(&self, domain: &Domain) -> Result<()> {
        let inserted = self
            .client()
            .await?
            .execute(
                "INSERT INTO domains (name, created) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&domain.as_str(), &now()],
            )
            .await?;
        match inserted {
            0 => Err(StoreError::DomainExists(domain.to_string())),
            _ => Ok(()),
        }
    }

    async fn remove_domain(&self, domain: &Domain) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // Locks the domain: a user or alias added meanwhile waits, then fails on the key.
        let found = tx
            .query_opt(
                "SELECT 1 FROM domains WHERE name = $1 FOR UPDATE",
                &[&domain.as_str()],
            )
            .await?;
        if found.is_none() {
            return Err(StoreError::UnknownDomain(domain.to_string()));
        }
        let counts = tx
            .query_one(
                "SELECT (SELECT count(*) FROM users WHERE domain = $1),
                        (SELECT count(*) FROM aliases WHERE domain = $1)",
                &[&domain.as_str()],
            )
            .await?;
        let (users, aliases) = (
            counts.get::<_, i64>(0) as u64,
            counts.get::<_, i64>(1) as u64,
        );
        if users > 0 || aliases > 0 {
            return Err(StoreError::DomainInUse {
                domain: domain.to_string(),
                users,
                aliases,
            });
        }
        tx.execute("DELETE FROM domains WHERE name = $1", &[&domain.as_str()])
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn domains(&self) -> Result<Vec<String>> {
        let rows = self
            .client()
            .await?
            .query("SELECT name FROM domains ORDER BY name", &[])
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn is_local_domain(&self, domain: &Domain) -> Result<bool> {
        has_domain(&**self.client().await?, domain).await
    }

    async fn add_user(
        &self,
        address: &Address,
        password_hash: &str,
        quota: Option<u64>,
    ) -> Result<UserId> {
        let key = address.normalized();
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        claim_address(&tx, &key).await?;
        require_domain(&*tx, address.domain()).await?;
        if user_by_address(&*tx, &key).await?.is_some() {
            return Err(StoreError::UserExists(key));
        }
        if alias_exists(&*tx, &key).await? {
            return Err(StoreError::AddressIsAlias(key));
        }
        if super::lists::is_list_address(&tx, &key).await? {
            return Err(StoreError::AddressTaken(key));
        }
        let quota = quota.map(|q| i64::try_from(q).unwrap_or(i64::MAX));
        let row = tx
            .query_one(
                "INSERT INTO users (address, domain, password, quota) VALUES ($1, $2, $3, $4)
                 RETURNING id",
                &[&key, &address.domain().as_str(), &password_hash, &quota],
            )
            .await?;
        let id = UserId(row.get(0));
        for (name, special) in DEFAULT_MAILBOXES {
            let name = MailboxName::parse(name).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            mail::insert_mailbox(&tx, id, &name, special).await?;
            // Subscribed too, so clients that show subscribed folders show them.
            tx.execute(
                "INSERT INTO subscriptions (user_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&id.0, &name.as_str()],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(id)
    }

    async fn set_password(&self, address: &Address, password_hash: &str) -> Result<()> {
        update_user(self, address, "password = $2", &password_hash).await
    }

    async fn remove_user(&self, address: &Address) -> Result<()> {
        let key = address.normalized();
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let Some(row) = tx
            .query_opt(
                "SELECT id FROM users WHERE address = $1 FOR UPDATE",
                &[&key],
            )
            .await?
        else {
            return Err(StoreError::UnknownUser(key));
        };
        let user = UserId(row.get(0));
        let bodies = mail::bodies_of_user(&tx, user).await?;
        // Mailboxes, messages, the change log and subscriptions go by ON DELETE CASCADE; the
        // spam data's rows of the account (bulk clusters, Bayes counts) by a trigger.
        tx.execute("DELETE FROM users WHERE id = $1", &[&user.0])
            .await?;
        let bodies: Vec<&str> = bodies.iter().map(String::as_str).collect();
        mail::release_bodies(&tx, &bodies).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn users(&self) -> Result<Vec<UserRecord>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY id");
        let rows = self.client().await?.query(&sql, &[]).await?;
        Ok(rows.iter().map(user_from_row).collect())
    }

    async fn user(&self, address: &Address) -> Result<Option<UserRecord>> {
        user_by_address(&**self.client().await?, &address.normalized()).await
    }

    async fn first_user(&self, domain: Option<&Domain>) -> Result<Option<UserRecord>> {
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users WHERE $1::text IS NULL OR domain = $1
             ORDER BY id LIMIT 1"
        );
        let domain = domain.map(Domain::as_str);
        let row = self.client().await?.query_opt(&sql, &[&domain]).await?;
        Ok(row.as_ref().map(user_from_row))
    }

    async fn set_send_as(&self, address: &Address, patterns: &[String]) -> Result<()> {
        update_user(self, address, "send_as = $2", &patterns.join(" ")).await
    }

    async fn set_bulk_allowed(&self, address: &Address, allowed: bool) -> Result<()> {
        update_user(self, address, "bulk_allowed = $2", &allowed).await
    }

    async fn set_junk_threshold(&self, address: &Address, threshold: Option<f64>) -> Result<()> {
        update_user(self, address, "junk_threshold = $2", &threshold).await
    }

    async fn set_frozen(&self, address: &Address, reason: Option<&str>) -> Result<bool> {
        let key = address.normalized();
        let client = self.client().await?;
        // One statement: of two sessions freezing at once, the second finds it frozen (the
        // row lock makes it re-read), so exactly one learns it changed the state.
        let changed = client
            .execute(
                "UPDATE users SET frozen = $2
                 WHERE address = $1 AND (frozen IS NULL) = ($2::text IS NOT NULL)",
                &[&key, &reason],
            )
            .await?;
        if changed > 0 {
            return Ok(true);
        }
        match user_by_address(&**client, &key).await? {
            Some(_) => Ok(false),
            None => Err(StoreError::UnknownUser(key)),
        }
    }

    async fn add_alias(&self, alias: &AliasKey, targets: &[Address]) -> Result<()> {
        let key = alias.key();
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        claim_address(&tx, &key).await?;
        require_domain(&*tx, alias.domain()).await?;
        if user_by_address(&*tx, &key).await?.is_some() {
            return Err(StoreError::AliasShadowsUser(key));
        }
        if super::lists::is_list_address(&tx, &key).await? {
            return Err(StoreError::AddressTaken(key));
        }
        let targets: Vec<String> = targets.iter().map(Address::to_string).collect();
        tx.execute(
            "INSERT INTO aliases (alias, target, domain)
             SELECT $1, t, $3 FROM unnest($2::text[]) AS t ON CONFLICT DO NOTHING",
            &[&key, &targets, &alias.domain().as_str()],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn remove_alias(&self, alias: &AliasKey) -> Result<()> {
        let key = alias.key();
        let removed = self
            .client()
            .await?
            .execute("DELETE FROM aliases WHERE alias = $1", &[&key])
            .await?;
        match removed {
            0 => Err(StoreError::UnknownAlias(key)),
            _ => Ok(()),
        }
    }

    async fn aliases(&self) -> Result<Vec<(String, Vec<String>)>> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT alias, array_agg(target ORDER BY target) FROM aliases
                 GROUP BY alias ORDER BY alias",
                &[],
            )
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    async fn alias_targets(&self, alias: &AliasKey) -> Result<Vec<Address>> {
        alias_targets(&**self.client().await?, &alias.key()).await
    }

    async fn lookup_address(&self, address: &Address) -> Result<AddressLookup> {
        let client = self.client().await?;
        let key = address.normalized();
        // The domain and the account in one trip; aliases only when there is no account.
        let sql = format!(
            "SELECT u.* FROM domains d
             LEFT JOIN (SELECT {USER_COLUMNS} FROM users WHERE address = $2) u ON true
             WHERE d.name = $1"
        );
        let params: [(&(dyn ToSql + Sync), Type); 2] =
            [(&address.domain().as_str(), Type::TEXT), (&key, Type::TEXT)];
        let prepared = Prepared::client(&client);
        let Some(row) = prepared.query_opt(&sql, &params).await? else {
            return Ok(AddressLookup::default());
        };
        if row.get::<_, Option<i64>>(0).is_some() {
            return Ok(AddressLookup {
                local_domain: true,
                user: Some(user_from_row(&row)),
                ..AddressLookup::default()
            });
        }
        let catch_all = AliasKey::CatchAll(address.domain().clone()).key();
        let rows = prepared
            .query(
                "SELECT alias, target FROM aliases WHERE alias = $1 OR alias = $2
                 ORDER BY target",
                &[(&key, Type::TEXT), (&catch_all, Type::TEXT)],
            )
            .await?;
        let mut found = AddressLookup {
            local_domain: true,
            ..AddressLookup::default()
        };
        for row in rows {
            let (alias, target): (String, String) = (row.get(0), row.get(1));
            let target = Address::parse(&target)
                .map_err(|e| StoreError::Corrupt(format!("alias target {target}: {e}")))?;
            match alias == key {
                true => found.alias_targets.push(target),
                false => found.catch_all.push(target),
            }
        }
        Ok(found)
    }

    async fn set_dkim_key(&self, domain: &Domain, key: &DkimKeyRecord) -> Result<()> {
        let client = self.client().await?;
        require_domain(&**client, domain).await?;
        client
            .execute(
                "INSERT INTO dkim_keys
                     (domain, selector, algorithm, private_key, public_key, created)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (domain, selector) DO UPDATE SET algorithm = excluded.algorithm,
                     private_key = excluded.private_key, public_key = excluded.public_key,
                     created = excluded.created",
                &[
                    &domain.as_str(),
                    &key.selector,
                    &key.algorithm,
                    &key.private_key,
                    &key.public_key,
                    &now(),
                ],
            )
            .await?;
        Ok(())
    }

    async fn add_dkim_keys(&self, domain: &Domain, keys: &[DkimKeyRecord]) -> Result<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        require_domain(&*tx, domain).await?;
        for key in keys {
            // A concurrent rotation's uncommitted row makes this wait for its outcome; once
            // it committed, the conflict skips the row and the whole rotation rolls back.
            let inserted = tx
                .execute(
                    "INSERT INTO dkim_keys
                         (domain, selector, algorithm, private_key, public_key, created)
                     VALUES ($1, $2, $3, $4, $5, $6)
                     ON CONFLICT (domain, selector) DO NOTHING",
                    &[
                        &domain.as_str(),
                        &key.selector,
                        &key.algorithm,
                        &key.private_key,
                        &key.public_key,
                        &now(),
                    ],
                )
                .await?;
            if inserted == 0 {
                return Ok(false);
            }
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn dkim_keys(&self, domain: &Domain) -> Result<Vec<DkimKeyRecord>> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT selector, algorithm, private_key, public_key FROM dkim_keys
                 WHERE domain = $1 ORDER BY selector",
                &[&domain.as_str()],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| DkimKeyRecord {
                selector: r.get(0),
                algorithm: r.get(1),
                private_key: r.get(2),
                public_key: r.get(3),
            })
            .collect())
    }
}
