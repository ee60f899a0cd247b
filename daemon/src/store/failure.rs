//! Storage failures: what went wrong, and whether it was the disk.

use super::faces::FaceError;
use super::members::LinkError;

/// A failure of the storage engine itself (I/O, corruption), as opposed to a
/// request that names something absent: those are `Option`s and enums.
#[derive(Debug)]
pub struct StoreError {
    message: String,
    cause: Cause,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cause {
    /// The filesystem of the data directory has no space left (or the
    /// user's quota is spent).
    DiskFull,
    /// Another I/O error. Either one latches redb's failure flag: every
    /// later operation fails until the database is re-opened.
    Io,
    /// Corruption, a broken invariant, a codec error.
    Other,
    /// In site mode, the site cannot be reached, so nothing was written.
    SiteUnreachable,
    /// In site mode, another door changed the record meanwhile.
    SiteConflict,
    /// In site mode, the write is larger than the site takes at once.
    SiteTooLarge,
    /// In site mode, the site did not confirm the write: it may hold all
    /// of it (which then reaches this door through the watch) or none.
    SiteUnconfirmed,
}

impl StoreError {
    pub(crate) fn other(message: String) -> StoreError {
        StoreError {
            message,
            cause: Cause::Other,
        }
    }

    pub(crate) fn site(cause: Cause, message: String) -> StoreError {
        StoreError { message, cause }
    }

    pub fn cause(&self) -> Cause {
        self.cause
    }

    /// The same failure, with `context` before its message.
    pub(crate) fn context(self, context: &str) -> StoreError {
        StoreError {
            message: format!("{context}: {}", self.message),
            ..self
        }
    }

    pub(crate) fn latches_engine(&self) -> bool {
        matches!(self.cause, Cause::DiskFull | Cause::Io)
    }
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StoreError {}

/// What an I/O error means to the store. ENOSPC and EDQUOT are matched by
/// number as well as by kind, whatever the standard library maps them to.
pub(crate) fn io_cause(error: &std::io::Error) -> Cause {
    let disk_full = error.kind() == std::io::ErrorKind::StorageFull
        || error.kind() == std::io::ErrorKind::QuotaExceeded
        || matches!(error.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT));
    match disk_full {
        true => Cause::DiskFull,
        false => Cause::Io,
    }
}

fn storage_cause(error: &redb::StorageError) -> Cause {
    match error {
        redb::StorageError::Io(io) => io_cause(io),
        redb::StorageError::PreviousIo | redb::StorageError::DatabaseClosed => Cause::Io,
        _ => Cause::Other,
    }
}

/// The storage error inside each of redb's error types, if any.
pub(crate) trait StorageSource {
    fn storage(&self) -> Option<&redb::StorageError>;
}

macro_rules! storage_source {
    ($($error:ty),*) => {$(
        impl StorageSource for $error {
            fn storage(&self) -> Option<&redb::StorageError> {
                match self {
                    Self::Storage(e) => Some(e),
                    _ => None,
                }
            }
        }
    )*};
}
storage_source!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::CommitError
);

impl StorageSource for redb::StorageError {
    fn storage(&self) -> Option<&redb::StorageError> {
        Some(self)
    }
}

impl StorageSource for redb::SetDurabilityError {
    fn storage(&self) -> Option<&redb::StorageError> {
        None
    }
}

impl StorageSource for postcard::Error {
    fn storage(&self) -> Option<&redb::StorageError> {
        None
    }
}

pub(crate) fn from_engine<E: StorageSource + std::fmt::Display>(error: E) -> StoreError {
    StoreError {
        message: error.to_string(),
        cause: error.storage().map_or(Cause::Other, storage_cause),
    }
}

/// Every storage-engine and codec error converts the same way (keep the
/// message and the cause), into `StoreError` and into the domain errors
/// that wrap it.
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
                $crate::store::failure::from_engine(e).into()
            }
        }
    )*};
}
pub(crate) use engine_errors_into;
engine_errors_into!(StoreError);

/// Errors a write transaction may end with, so that `Store::write` sees a
/// storage failure inside a domain error.
pub(crate) trait WriteFailure: From<StoreError> {
    fn storage_failure(&self) -> Option<&StoreError>;
}

impl WriteFailure for StoreError {
    fn storage_failure(&self) -> Option<&StoreError> {
        Some(self)
    }
}

impl WriteFailure for FaceError {
    fn storage_failure(&self) -> Option<&StoreError> {
        match self {
            FaceError::Store(e) => Some(e),
            _ => None,
        }
    }
}

impl WriteFailure for LinkError {
    fn storage_failure(&self) -> Option<&StoreError> {
        match self {
            LinkError::Store(e) => Some(e),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_is_told_apart_from_other_io_errors() {
        let full = std::io::Error::from_raw_os_error(libc::ENOSPC);
        assert_eq!(io_cause(&full), Cause::DiskFull);
        let quota = std::io::Error::from_raw_os_error(libc::EDQUOT);
        assert_eq!(io_cause(&quota), Cause::DiskFull);
        let failed = std::io::Error::from_raw_os_error(libc::EIO);
        assert_eq!(io_cause(&failed), Cause::Io);
        let commit = redb::CommitError::Storage(redb::StorageError::Io(full));
        assert_eq!(from_engine(commit).cause(), Cause::DiskFull);
        let latched = redb::TransactionError::Storage(redb::StorageError::PreviousIo);
        assert!(from_engine(latched).latches_engine());
        let corrupt = redb::StorageError::Corrupted("x".into());
        assert!(!from_engine(corrupt).latches_engine());
    }
}
