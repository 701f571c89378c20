//! `hermod store migrate`: an embedded store copied into an empty PostgreSQL database.
//!
//! UIDs, MODSEQs, UIDVALIDITYs and every id must survive exactly (IMAP clients cache them),
//! so this copies rows, not API calls. The PostgreSQL tables mirror the embedded schema's
//! names and columns, so each table is copied column by column, converting each value to
//! the PostgreSQL column's type, in one transaction with the tables' triggers off (the
//! copied reference counts and quota usage are already right). Bodies go through this
//! backend's own body writer ([`super::mail::Bodies`]); identity sequences are moved past
//! the copied ids. Afterwards every table is compared (row count and a digest of its rows)
//! and every body is read back and compared by SHA-256.

use super::PostgresStore;
use super::prepared::Prepared;
use crate::blob::Body;
use crate::roles::Mail;
use crate::{BlobId, BlockingStore, Result, SealedBlob, SqliteStore, StoreError};
use ring::digest::{Context, SHA256};
use rusqlite::types::Value;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use tokio_postgres::types::ToSql;

/// The tables copied, parents before children (foreign keys).
const TABLES: &[&str] = &[
    "domains",
    "users",
    "aliases",
    "dkim_keys",
    "app_passwords",
    "mailboxes",
    "blobs",
    "messages",
    "changelog",
    "subscriptions",
    "body_cache",
    "queue",
    "queue_recipients",
    "bayes_tokens",
    "bayes_totals",
    "bayes_seen",
    "bayes_generation",
    "bayes_calibration",
    "greylist",
    "correspondents",
    "bulk_clusters",
    "bulk_bands",
    "bulk_recipients",
    "sieve_scripts",
    "sieve_seen",
    "lists",
    "list_members",
    "list_moderators",
    "list_held",
    "list_posts",
    "list_tokens",
    "meta",
];

/// Tables the schema fills at creation: emptied before the copy, not a sign of data.
const SEEDED: &[&str] = &["meta", "bayes_generation"];

/// Columns the embedded store has that PostgreSQL keeps elsewhere: `blobs.inline` says
/// whether the body is in `blob_data` (PostgreSQL: always in `blob_chunks`).
const LEFT_BEHIND: &[(&str, &str)] = &[("blobs", "inline")];

/// Secrets the embedded store keeps as files in its data directory.
const SECRET_FILES: &[&str] = &["srs.key", "web.key", "lists.key"];

/// What a migration copied and checked.
#[derive(Debug, Default)]
pub struct MigrationReport {
    /// (table, rows), in copy order; every one verified by count and digest.
    pub tables: Vec<(String, u64)>,
    /// Bodies copied, and their octets; every one read back and compared.
    pub bodies: u64,
    pub body_bytes: u64,
    /// The shared secrets copied (file names).
    pub secrets: Vec<String>,
}

/// One PostgreSQL column: name and `information_schema` data type.
struct Column {
    name: String,
    kind: String,
}

/// Copies the embedded store in `data_dir` into the empty database `target` (already
/// connected, so its schema is in place), then verifies the copy. The caller makes sure no
/// server uses `data_dir` meanwhile.
pub async fn migrate_embedded(data_dir: &Path, target: &PostgresStore) -> Result<MigrationReport> {
    let source = Arc::new(SqliteStore::open(data_dir)?);
    ensure_empty(target).await?;
    let mut report = MigrationReport::default();
    let mut client = target.client().await?;
    let tx = client.transaction().await?;
    for table in TABLES {
        let columns = pg_columns(&*tx, table).await?;
        let rows = copy_table(&source, &tx, table, &columns).await?;
        report.tables.push((table.to_string(), rows));
    }
    let (bodies, bytes) = copy_bodies(&source, target, &tx).await?;
    (report.bodies, report.body_bytes) = (bodies, bytes);
    for name in SECRET_FILES {
        let path = data_dir.join(name);
        if let Ok(secret) = std::fs::read(&path) {
            tx.execute(
                "INSERT INTO secrets (name, value) VALUES ($1, $2)",
                &[name, &secret],
            )
            .await?;
            report.secrets.push(name.to_string());
        }
    }
    move_sequences(&tx).await?;
    tx.commit().await?;
    drop(client);
    verify(&source, target, &report).await?;
    Ok(report)
}

/// Refuses a database that holds anything of a store already.
async fn ensure_empty(target: &PostgresStore) -> Result<()> {
    let client = target.client().await?;
    for table in TABLES.iter().chain(&["secrets"]) {
        if SEEDED.contains(table) {
            continue;
        }
        let query = format!("SELECT EXISTS (SELECT 1 FROM {table})");
        let used: bool = client.query_one(&query, &[]).await?.get(0);
        if used {
            return Err(StoreError::Unavailable(format!(
                "the database is not empty (table {table} has rows): migrate into a new, \
                 empty database"
            )));
        }
    }
    Ok(())
}

async fn pg_columns(
    client: &impl tokio_postgres::GenericClient,
    table: &str,
) -> Result<Vec<Column>> {
    let rows = client
        .query(
            "SELECT column_name::text, data_type::text FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
            &[&table],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| Column {
            name: r.get(0),
            kind: r.get(1),
        })
        .collect())
}

/// The embedded table's columns that PostgreSQL has too, in PostgreSQL's order; an
/// embedded column PostgreSQL lacks (and that is not known to live elsewhere) is an error,
/// so a schema change on one side cannot silently drop data.
fn common_columns<'a>(
    source: &SqliteStore,
    table: &str,
    columns: &'a [Column],
) -> Result<Vec<&'a Column>> {
    let conn = source.reader_of(table);
    let mut stmt = conn.prepare("SELECT name FROM pragma_table_info(?1)")?;
    let names: Vec<String> = stmt
        .query_map([table], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for name in &names {
        let known = columns.iter().any(|c| &c.name == name);
        if !known && !LEFT_BEHIND.contains(&(table, name.as_str())) {
            return Err(StoreError::Corrupt(format!(
                "{table}.{name} has no column to go to in PostgreSQL"
            )));
        }
    }
    Ok(columns.iter().filter(|c| names.contains(&c.name)).collect())
}

/// Every row of `table` in the embedded store, its `columns` only.
fn sqlite_rows(source: &SqliteStore, table: &str, columns: &[&Column]) -> Result<Vec<Vec<Value>>> {
    let list: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
    let conn = source.reader_of(table);
    let mut stmt = conn.prepare(&format!("SELECT {} FROM {table}", list.join(", ")))?;
    let rows = stmt
        .query_map([], |row| {
            (0..list.len()).map(|i| row.get::<_, Value>(i)).collect()
        })?
        .collect::<rusqlite::Result<Vec<Vec<Value>>>>()?;
    Ok(rows)
}

async fn copy_table(
    source: &Arc<SqliteStore>,
    tx: &tokio_postgres::Transaction<'_>,
    table: &str,
    columns: &[Column],
) -> Result<u64> {
    let common = common_columns(source, table, columns)?;
    let rows = sqlite_rows(source, table, &common)?;
    if SEEDED.contains(&table) {
        tx.execute(&format!("DELETE FROM {table}"), &[]).await?;
    }
    tx.batch_execute(&format!("ALTER TABLE {table} DISABLE TRIGGER USER"))
        .await?;
    let names: Vec<&str> = common.iter().map(|c| c.name.as_str()).collect();
    let params: Vec<String> = (1..=names.len()).map(|i| format!("${i}")).collect();
    let insert = tx
        .prepare(&format!(
            "INSERT INTO {table} ({}) OVERRIDING SYSTEM VALUE VALUES ({})",
            names.join(", "),
            params.join(", ")
        ))
        .await?;
    for row in &rows {
        let cells = row
            .iter()
            .zip(&common)
            .map(|(value, column)| Cell::from_sqlite(value, column, table))
            .collect::<Result<Vec<Cell>>>()?;
        let refs: Vec<&(dyn ToSql + Sync)> = cells.iter().map(Cell::as_sql).collect();
        tx.execute(&insert, &refs).await?;
    }
    tx.batch_execute(&format!("ALTER TABLE {table} ENABLE TRIGGER USER"))
        .await?;
    Ok(rows.len() as u64)
}

/// Every body, through this backend's body writer, in the copy's transaction.
async fn copy_bodies(
    source: &Arc<SqliteStore>,
    target: &PostgresStore,
    tx: &tokio_postgres::Transaction<'_>,
) -> Result<(u64, u64)> {
    let ids = blob_ids(source)?;
    let (mut count, mut bytes) = (0, 0);
    for (id, size) in ids {
        let sealed = sealed_copy(source, target, &id, size).await?;
        target.bodies.put(Prepared::uncached(tx), &sealed).await?;
        count += 1;
        bytes += size;
    }
    Ok((count, bytes))
}

fn blob_ids(source: &SqliteStore) -> Result<Vec<(BlobId, u64)>> {
    let conn = source.read();
    let mut stmt = conn.prepare("SELECT id, size FROM blobs ORDER BY id")?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter()
        .map(|(id, size)| {
            let id =
                BlobId::parse(&id).ok_or_else(|| StoreError::Corrupt(format!("blob id {id:?}")))?;
            Ok((id, size.max(0) as u64))
        })
        .collect()
}

/// A body as the writer takes it: small ones in memory, large ones through a file in this
/// node's tmp folder (deleted when the sealed body is dropped), so none is held whole.
async fn sealed_copy(
    source: &Arc<SqliteStore>,
    target: &PostgresStore,
    id: &BlobId,
    size: u64,
) -> Result<SealedBlob> {
    let (source, id, tmp_dir) = (source.clone(), id.clone(), target.tmp_dir.clone());
    tokio::task::spawn_blocking(move || {
        let mut body = source.open_blob(&id)?;
        if size <= crate::INLINE_MAX as u64 {
            let mut bytes = Vec::with_capacity(size as usize);
            body.read_to_end(&mut bytes)
                .map_err(|e| StoreError::Corrupt(format!("body {id}: {e}")))?;
            return Ok(SealedBlob::copied(id, size, Body::Inline(bytes)));
        }
        std::fs::create_dir_all(tmp_dir.as_path()).map_err(StoreError::io(tmp_dir.as_path()))?;
        let tmp = tmp_dir.join(format!("migrate-{id}"));
        let mut file = std::fs::File::create(&tmp).map_err(StoreError::io(&tmp))?;
        std::io::copy(&mut body, &mut file).map_err(StoreError::io(&tmp))?;
        let body = Body::File {
            tmp,
            installed: false,
        };
        Ok(SealedBlob::copied(id, size, body))
    })
    .await
    .map_err(|e| StoreError::TaskFailed(e.to_string()))?
}

/// Moves every identity sequence past the largest copied id, so new rows get new ids.
async fn move_sequences(tx: &tokio_postgres::Transaction<'_>) -> Result<()> {
    let identities = tx
        .query(
            "SELECT table_name::text, column_name::text FROM information_schema.columns
             WHERE table_schema = current_schema() AND is_identity = 'YES'",
            &[],
        )
        .await?;
    for row in identities {
        let (table, column): (String, String) = (row.get(0), row.get(1));
        tx.execute(
            &format!(
                "SELECT setval(pg_get_serial_sequence('{table}', '{column}'),
                               coalesce((SELECT max({column}) FROM {table}), 1),
                               (SELECT max({column}) FROM {table}) IS NOT NULL)"
            ),
            &[],
        )
        .await?;
    }
    Ok(())
}

/// Each table: the same number of rows and the same digest of their values on both sides;
/// each body: the same SHA-256.
async fn verify(
    source: &Arc<SqliteStore>,
    target: &PostgresStore,
    report: &MigrationReport,
) -> Result<()> {
    let client = target.client().await?;
    for (table, copied) in &report.tables {
        let columns = pg_columns(&**client, table).await?;
        let common = common_columns(source, table, &columns)?;
        let names: Vec<&str> = common.iter().map(|c| c.name.as_str()).collect();
        let mut expected = Vec::new();
        for row in sqlite_rows(source, table, &common)? {
            let cells = row
                .iter()
                .zip(&common)
                .map(|(value, column)| Cell::from_sqlite(value, column, table))
                .collect::<Result<Vec<Cell>>>()?;
            expected.push(row_digest(&cells));
        }
        let query = format!("SELECT {} FROM {table}", names.join(", "));
        let mut actual = Vec::new();
        for row in client.query(&query, &[]).await? {
            let cells = common
                .iter()
                .enumerate()
                .map(|(i, column)| Cell::from_postgres(&row, i, column))
                .collect::<Result<Vec<Cell>>>()?;
            actual.push(row_digest(&cells));
        }
        expected.sort();
        actual.sort();
        if actual.len() as u64 != *copied || expected != actual {
            return Err(StoreError::Corrupt(format!(
                "table {table}: the copy differs ({} rows in the embedded store, {} in \
                 PostgreSQL)",
                expected.len(),
                actual.len()
            )));
        }
    }
    for (id, size) in blob_ids(source)? {
        let original = {
            let (source, id) = (source.clone(), id.clone());
            tokio::task::spawn_blocking(move || -> Result<Vec<u8>> {
                let mut bytes = Vec::with_capacity(size as usize);
                let mut body = source.open_blob(&id)?;
                body.read_to_end(&mut bytes)
                    .map_err(|e| StoreError::Corrupt(format!("body {id}: {e}")))?;
                Ok(bytes)
            })
            .await
            .map_err(|e| StoreError::TaskFailed(e.to_string()))??
        };
        let copied = target.read_blob(&id, None).await?;
        if sha256(&original) != sha256(&copied) {
            return Err(StoreError::Corrupt(format!("body {id}: the copy differs")));
        }
    }
    Ok(())
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    ring::digest::digest(&SHA256, bytes).as_ref().to_vec()
}

/// A row's digest: each value with its kind and length, so no two rows collide by framing.
fn row_digest(cells: &[Cell]) -> Vec<u8> {
    let mut context = Context::new(&SHA256);
    for cell in cells {
        let (tag, bytes): (u8, Vec<u8>) = match cell {
            Cell::Null(_) => (0, Vec::new()),
            Cell::BigInt(n) => (1, n.to_be_bytes().to_vec()),
            Cell::Int(n) => (1, i64::from(*n).to_be_bytes().to_vec()),
            Cell::SmallInt(n) => (1, i64::from(*n).to_be_bytes().to_vec()),
            Cell::Bool(b) => (2, vec![u8::from(*b)]),
            Cell::Text(s) => (3, s.as_bytes().to_vec()),
            Cell::Bytes(b) => (4, b.clone()),
            Cell::Double(x) => (5, x.to_bits().to_be_bytes().to_vec()),
        };
        context.update(&[tag]);
        context.update(&(bytes.len() as u64).to_be_bytes());
        context.update(&bytes);
    }
    context.finish().as_ref().to_vec()
}

/// One value, typed as its PostgreSQL column.
enum Cell {
    /// NULL of the column's type (PostgreSQL checks a parameter's type even when NULL).
    Null(NullOf),
    BigInt(i64),
    Int(i32),
    SmallInt(i16),
    Bool(bool),
    Text(String),
    Bytes(Vec<u8>),
    Double(f64),
}

enum NullOf {
    BigInt(Option<i64>),
    Int(Option<i32>),
    SmallInt(Option<i16>),
    Bool(Option<bool>),
    Text(Option<String>),
    Bytes(Option<Vec<u8>>),
    Double(Option<f64>),
}

impl Cell {
    fn from_sqlite(value: &Value, column: &Column, table: &str) -> Result<Cell> {
        let bad = || {
            StoreError::Corrupt(format!(
                "{table}.{}: {value:?} does not fit PostgreSQL's {}",
                column.name, column.kind
            ))
        };
        Ok(match (value, column.kind.as_str()) {
            (Value::Null, kind) => Cell::Null(null_of(kind).ok_or_else(bad)?),
            (Value::Integer(n), "bigint") => Cell::BigInt(*n),
            (Value::Integer(n), "integer") => Cell::Int(i32::try_from(*n).map_err(|_| bad())?),
            (Value::Integer(n), "smallint") => {
                Cell::SmallInt(i16::try_from(*n).map_err(|_| bad())?)
            }
            (Value::Integer(n), "boolean") => Cell::Bool(*n != 0),
            (Value::Real(x), "double precision") => Cell::Double(*x),
            // SQLite may keep a whole REAL as an integer.
            (Value::Integer(n), "double precision") => Cell::Double(*n as f64),
            (Value::Text(s), "text") => Cell::Text(s.clone()),
            (Value::Text(s), "bytea") => Cell::Bytes(s.clone().into_bytes()),
            (Value::Blob(b), "bytea") => Cell::Bytes(b.clone()),
            (Value::Blob(b), "text") => {
                Cell::Text(String::from_utf8(b.clone()).map_err(|_| bad())?)
            }
            _ => return Err(bad()),
        })
    }

    fn from_postgres(row: &tokio_postgres::Row, i: usize, column: &Column) -> Result<Cell> {
        let cell = match column.kind.as_str() {
            "bigint" => row.try_get::<_, Option<i64>>(i)?.map(Cell::BigInt),
            "integer" => row.try_get::<_, Option<i32>>(i)?.map(Cell::Int),
            "smallint" => row.try_get::<_, Option<i16>>(i)?.map(Cell::SmallInt),
            "boolean" => row.try_get::<_, Option<bool>>(i)?.map(Cell::Bool),
            "text" => row.try_get::<_, Option<String>>(i)?.map(Cell::Text),
            "bytea" => row.try_get::<_, Option<Vec<u8>>>(i)?.map(Cell::Bytes),
            "double precision" => row.try_get::<_, Option<f64>>(i)?.map(Cell::Double),
            kind => {
                return Err(StoreError::Corrupt(format!(
                    "{}: no conversion for {kind}",
                    column.name
                )));
            }
        };
        Ok(cell.unwrap_or(Cell::Null(NullOf::BigInt(None))))
    }

    fn as_sql(&self) -> &(dyn ToSql + Sync) {
        match self {
            Cell::Null(NullOf::BigInt(n)) => n,
            Cell::Null(NullOf::Int(n)) => n,
            Cell::Null(NullOf::SmallInt(n)) => n,
            Cell::Null(NullOf::Bool(n)) => n,
            Cell::Null(NullOf::Text(n)) => n,
            Cell::Null(NullOf::Bytes(n)) => n,
            Cell::Null(NullOf::Double(n)) => n,
            Cell::BigInt(n) => n,
            Cell::Int(n) => n,
            Cell::SmallInt(n) => n,
            Cell::Bool(b) => b,
            Cell::Text(s) => s,
            Cell::Bytes(b) => b,
            Cell::Double(x) => x,
        }
    }
}

fn null_of(kind: &str) -> Option<NullOf> {
    Some(match kind {
        "bigint" => NullOf::BigInt(None),
        "integer" => NullOf::Int(None),
        "smallint" => NullOf::SmallInt(None),
        "boolean" => NullOf::Bool(None),
        "text" => NullOf::Text(None),
        "bytea" => NullOf::Bytes(None),
        "double precision" => NullOf::Double(None),
        _ => return None,
    })
}
