//! Durable storage of Facegate's records in one redb file.
//!
//! Records are postcard-encoded values keyed by id. Secondary index tables
//! keep each collection in creation order, which is the order paged lists
//! use. Every mutation is one redb write transaction, committed with
//! immediate durability before the API acknowledges it; redb serialises
//! write transactions, so read-modify-write sequences never lose updates.

mod events;
mod faces;
mod legacy;
mod members;
mod paging;
mod records;
mod schema;
#[cfg(test)]
pub mod testing;
mod watchlists;

pub use events::{Event, Retention};
pub use faces::{FaceError, Registered};
pub use members::{LinkError, MemberFields};
pub use paging::{Page, PageRequest};
pub use records::{Face, Label, Member, StoredImage, Timestamp, Watchlist};
pub use schema::{SchemaInfo, SCHEMA_VERSION};
pub use watchlists::WatchlistFields;

use redb::{
    Database, ReadTransaction, ReadableDatabase, ReadableTable, ReadableTableMetadata,
    TableDefinition, WriteTransaction,
};
use serde::de::DeserializeOwned;
use std::path::Path;

/// File name of the database inside the data directory.
pub const DATABASE_FILE: &str = "facegate.redb";

pub struct Store {
    db: Database,
}

/// A failure of the storage engine itself (I/O, corruption), as opposed to a
/// request that names something absent: those are `Option`s and enums.
#[derive(Debug)]
pub struct StoreError(pub(crate) String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StoreError {}

/// Every storage-engine and codec error converts the same way (keep the
/// message), into `StoreError` and into the domain errors that wrap it.
macro_rules! engine_errors_into {
    ($target:ty) => {
        $crate::store::engine_errors_into!(@each $target:
            redb::DatabaseError, redb::TransactionError, redb::TableError,
            redb::StorageError, redb::CommitError, redb::SetDurabilityError,
            postcard::Error);
    };
    (@each $target:ty: $($source:ty),*) => {$(
        impl From<$source> for $target {
            fn from(e: $source) -> Self {
                $crate::store::StoreError(e.to_string()).into()
            }
        }
    )*};
}
pub(crate) use engine_errors_into;
engine_errors_into!(StoreError);

impl Store {
    /// Opens (or creates) `facegate.redb` in `data_dir`, creating the
    /// directory, and brings its schema to the current version.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            StoreError(format!(
                "cannot create data directory {}: {e}",
                data_dir.display()
            ))
        })?;
        let path = data_dir.join(DATABASE_FILE);
        let db = Database::create(&path)
            .map_err(|e| StoreError(format!("cannot open database {}: {e}", path.display())))?;
        let store = Store { db };
        store.write(schema::prepare)?;
        Ok(store)
    }

    pub fn schema_info(&self) -> Result<SchemaInfo, StoreError> {
        schema::info(&self.read()?)
    }

    fn read(&self) -> Result<ReadTransaction, StoreError> {
        Ok(self.db.begin_read()?)
    }

    /// Runs `change` in one write transaction and commits it durably; an
    /// error from `change` aborts the transaction, leaving nothing behind.
    fn write<T, E>(&self, change: impl FnOnce(&WriteTransaction) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let mut txn = self.db.begin_write().map_err(StoreError::from)?;
        txn.set_durability(redb::Durability::Immediate)
            .map_err(StoreError::from)?;
        let value = change(&txn)?;
        txn.commit().map_err(StoreError::from)?;
        Ok(value)
    }
}

/// Reads and decodes the record stored under `id`.
fn get_record<T: DeserializeOwned>(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    id: &str,
) -> Result<Option<T>, StoreError> {
    match table.get(id)? {
        Some(bytes) => Ok(Some(records::decode(bytes.value())?)),
        None => Ok(None),
    }
}

/// Reads the records an index named; a missing one means the index and the
/// records disagree, which is corruption, not a client error.
fn get_records<T: DeserializeOwned>(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    ids: &[String],
) -> Result<Vec<T>, StoreError> {
    ids.iter()
        .map(|id| {
            get_record(table, id)?
                .ok_or_else(|| StoreError(format!("an index names the missing record {id}")))
        })
        .collect()
}

/// One page of a collection in creation order: `order` holds
/// (created_at, id) keys, `records` the records by id.
fn list_in_creation_order<T: DeserializeOwned>(
    txn: &ReadTransaction,
    order: TableDefinition<(u64, &str), ()>,
    records: TableDefinition<&str, &[u8]>,
    request: &PageRequest,
) -> Result<Page<T>, StoreError> {
    let order = txn.open_table(order)?;
    let keys = order.iter()?.map(|entry| {
        let (key, _) = entry?;
        Ok(key.value().1.to_string())
    });
    let (ids, has_next) = paging::window(keys, request)?;
    let records = txn.open_table(records)?;
    let total = match request.with_total {
        true => Some(records.len()?),
        false => None,
    };
    Ok(Page {
        items: get_records(&records, &ids)?,
        has_next,
        total,
    })
}

/// Every (owner, created_at, id) key of one owner in an index table. No
/// record is created at `u64::MAX`, so the exclusive end bound misses
/// nothing.
fn owned_by(owner: &str) -> std::ops::Range<(&str, u64, &str)> {
    (owner, 0, "")..(owner, u64::MAX, "")
}

/// One page of the records an index lists under `owner` (a watchlist's
/// members, a member's faces), in creation order; `None` when `parent`
/// has no record `owner`.
fn page_owned_by<T: DeserializeOwned>(
    txn: &ReadTransaction,
    parent: TableDefinition<&str, &[u8]>,
    index: TableDefinition<(&str, u64, &str), ()>,
    records: TableDefinition<&str, &[u8]>,
    owner: &str,
    request: &PageRequest,
) -> Result<Option<Page<T>>, StoreError> {
    if txn.open_table(parent)?.get(owner)?.is_none() {
        return Ok(None);
    }
    let index = txn.open_table(index)?;
    let keys = index.range(owned_by(owner))?.map(|entry| {
        let (key, _) = entry?;
        Ok(key.value().2.to_string())
    });
    let (ids, has_next) = paging::window(keys, request)?;
    let total = match request.with_total {
        true => Some(index.range(owned_by(owner))?.count() as u64),
        false => None,
    };
    Ok(Some(Page {
        items: get_records(&txn.open_table(records)?, &ids)?,
        has_next,
        total,
    }))
}
