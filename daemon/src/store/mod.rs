//! Durable storage of Facegate's records in one redb file.
//!
//! Records are postcard-encoded values keyed by id. Secondary index tables
//! keep each collection in creation order, which is the order paged lists
//! use. Every mutation is one redb write transaction, committed with
//! immediate durability before the API acknowledges it; redb serialises
//! write transactions, so read-modify-write sequences never lose updates.

mod events;
mod faces;
pub(crate) mod failure;
mod legacy;
mod members;
mod paging;
mod queries;
mod records;
mod schema;
mod site;
mod space;
#[cfg(test)]
pub mod testing;
mod watchlists;

pub use events::{Event, Retention};
pub use faces::{FaceError, Registered};
pub(crate) use failure::engine_errors_into;
pub use failure::{Cause, StoreError};
pub use members::{LinkError, MemberFields};
pub use paging::{Page, PageRequest};
pub use queries::{FaceScope, MemberScope};
pub use records::{Face, Label, Member, StoredImage, Timestamp, Watchlist};
pub use schema::{SchemaInfo, SCHEMA_VERSION};
pub use site::{
    Applied, MemberRecord, RecordKey, Refusal, Replica, SiteChange, SiteRecord, SiteWrite,
};
pub use space::free_space;
pub use watchlists::WatchlistFields;

use failure::WriteFailure;
use redb::{
    Database, DatabaseError, ReadTransaction, ReadableDatabase, ReadableTable,
    ReadableTableMetadata, TableDefinition, WriteTransaction,
};
use serde::de::DeserializeOwned;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{RwLock, RwLockReadGuard};

/// File name of the database inside the data directory.
pub const DATABASE_FILE: &str = "facegate.redb";

pub struct Store {
    path: PathBuf,
    /// Every transaction holds this shared, so the database can be closed
    /// and re-opened in place between them; `None` when a re-open failed.
    db: RwLock<Option<Database>>,
    /// An I/O error (a full disk, say) latched redb's failure flag, which
    /// only closing and re-opening the file clears: the next transaction
    /// does that first.
    needs_reopen: AtomicBool,
    /// The site's store, in site mode: replicated changes go there first.
    replica: std::sync::OnceLock<std::sync::Arc<dyn Replica>>,
}

/// A read transaction, which keeps the database from being re-opened
/// under it.
pub(crate) struct Reading<'a> {
    txn: ReadTransaction,
    _db: RwLockReadGuard<'a, Option<Database>>,
}

impl Deref for Reading<'_> {
    type Target = ReadTransaction;

    fn deref(&self) -> &ReadTransaction {
        &self.txn
    }
}

/// redb's page cache. Its default, 1 GiB, keeps every page the integrity
/// check reads at start, so a daemon's memory grew with its database file
/// (144 MiB idle with 10,000 faces, most of it the 74 MiB file); a door
/// board has 1 to 4 GiB. Reads after start are few and small (a member, a
/// face, an image by id), and the search index is in memory anyway.
const CACHE_BYTES: usize = 16 << 20;

impl Store {
    /// Opens `facegate.redb` in `data_dir` (creating the directory and an
    /// empty database when there is none) and brings its schema to the
    /// current version. An existing file that is not a sound database is
    /// refused, never replaced: the error names it and what to do.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            StoreError::other(format!(
                "cannot create data directory {}: {e}",
                data_dir.display()
            ))
        })?;
        let path = data_dir.join(DATABASE_FILE);
        let mut builder = Database::builder();
        builder.set_cache_size(CACHE_BYTES);
        let db = match path.exists() {
            // Every page's checksum is verified, so damage anywhere in the
            // file is found now rather than by some later request.
            true => builder.set_check_integrity_on_open(true).open(&path),
            false => builder.create(&path),
        }
        .map_err(|e| open_error(&path, e))?;
        let store = Store {
            path,
            db: RwLock::new(Some(db)),
            needs_reopen: AtomicBool::new(false),
            replica: Default::default(),
        };
        store.write(schema::prepare)?;
        Ok(store)
    }

    /// The directory holding the database file.
    pub fn data_dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    pub fn schema_info(&self) -> Result<SchemaInfo, StoreError> {
        schema::info(&*self.read()?)
    }

    /// The camera's stream id in access notifications: a UUID made on the
    /// first call and kept, so connectors see the same camera across
    /// restarts. The meta table holds numbers, so it is kept in two halves.
    pub fn camera_stream_id(&self) -> Result<uuid::Uuid, StoreError> {
        const HALVES: [&str; 2] = ["camera_stream_id_high", "camera_stream_id_low"];
        // Read first: a start that finds the id commits (and syncs) nothing.
        let kept = {
            let reading = self.read()?;
            let meta = reading.txn.open_table(schema::META)?;
            (meta.get(HALVES[0])?.map(|v| v.value())).zip(meta.get(HALVES[1])?.map(|v| v.value()))
        };
        if let Some((high, low)) = kept {
            return Ok(uuid::Uuid::from_u64_pair(high, low));
        }
        self.write(|txn| {
            let mut meta = txn.open_table(schema::META)?;
            let kept = (meta.get(HALVES[0])?.map(|v| v.value()))
                .zip(meta.get(HALVES[1])?.map(|v| v.value()));
            if let Some((high, low)) = kept {
                return Ok(uuid::Uuid::from_u64_pair(high, low));
            }
            let made = uuid::Uuid::new_v4();
            let (high, low) = made.as_u64_pair();
            meta.insert(HALVES[0], high)?;
            meta.insert(HALVES[1], low)?;
            Ok(made)
        })
    }

    fn read(&self) -> Result<Reading<'_>, StoreError> {
        let db = self.usable_database()?;
        let txn = db
            .as_ref()
            .ok_or_else(|| self.closed())?
            .begin_read()
            .map_err(|e| self.noticed(e.into()))?;
        Ok(Reading { txn, _db: db })
    }

    /// Runs `change` in one write transaction and commits it durably; an
    /// error from `change` aborts the transaction, leaving nothing behind.
    fn write<T, E: WriteFailure>(
        &self,
        change: impl FnOnce(&WriteTransaction) -> Result<T, E>,
    ) -> Result<T, E> {
        let db = self.usable_database()?;
        let db = db.as_ref().ok_or_else(|| self.closed())?;
        let result: Result<T, E> = (|| {
            let mut txn = db.begin_write().map_err(StoreError::from)?;
            txn.set_durability(redb::Durability::Immediate)
                .map_err(StoreError::from)?;
            let value = change(&txn)?;
            txn.commit().map_err(StoreError::from)?;
            Ok(value)
        })();
        if let Err(e) = &result {
            if let Some(failure) = e.storage_failure() {
                self.noticed_ref(failure);
            }
        }
        result
    }

    /// Marks the database for re-opening when `error` latched redb.
    fn noticed_ref(&self, error: &StoreError) {
        if error.latches_engine() {
            log::warn!("storage failed ({error}); the database will be re-opened");
            self.needs_reopen.store(true, Ordering::Release);
        }
    }

    fn noticed(&self, error: StoreError) -> StoreError {
        self.noticed_ref(&error);
        error
    }

    fn closed(&self) -> StoreError {
        StoreError::other(format!(
            "the database {} is closed after an I/O error",
            self.path.display()
        ))
    }

    /// The database, re-opened first if an I/O error latched it. redb
    /// refuses a second handle on the file, so the old one is closed first;
    /// its committed transactions are all in the file, so nothing
    /// acknowledged is lost.
    fn usable_database(&self) -> Result<RwLockReadGuard<'_, Option<Database>>, StoreError> {
        if self.needs_reopen.load(Ordering::Acquire) {
            let mut db = self.db.write().unwrap_or_else(|e| e.into_inner());
            // Another thread may have re-opened it while this one waited.
            if self.needs_reopen.load(Ordering::Acquire) {
                drop(db.take());
                let reopened = Database::create(&self.path).map_err(|e| {
                    failure::from_engine(e).context(&format!(
                        "cannot re-open the database {}",
                        self.path.display()
                    ))
                })?;
                *db = Some(reopened);
                self.needs_reopen.store(false, Ordering::Release);
                log::info!("database {} re-opened", self.path.display());
            }
        }
        Ok(self.db.read().unwrap_or_else(|e| e.into_inner()))
    }
}

/// Why the database file at `path` cannot be opened, and what to do.
fn open_error(path: &Path, error: DatabaseError) -> StoreError {
    let damaged = match &error {
        DatabaseError::Storage(redb::StorageError::Corrupted(_)) => true,
        DatabaseError::Storage(redb::StorageError::Io(io)) => matches!(
            io.kind(),
            std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof
        ),
        _ => false,
    };
    match damaged {
        true => StoreError::other(format!(
            "the database file {} is damaged ({error}); Facegate does not replace it. \
             Restore it from a backup, or move it aside to start with an empty database",
            path.display()
        )),
        false => failure::from_engine(error)
            .context(&format!("cannot open the database {}", path.display())),
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
                .ok_or_else(|| StoreError::other(format!("an index names the missing record {id}")))
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
