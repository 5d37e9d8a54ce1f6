//! The store's one error type, and the class of each error: what a caller can do
//! about it (retry, run again, give up).

use std::path::PathBuf;

/// Why the store could not do what was asked. Per-event outcomes (duplicate, rejected)
/// are not errors: see [`ItemOutcome`].
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("the write queue is full")]
    Busy,
    #[error("the writer has stopped")]
    WriterGone,
    #[error(
        "the database was written by a newer Waybill (schema {found}, this build knows {known})"
    )]
    SchemaTooNew { found: i64, known: i64 },
    /// The batch this submission was committed with failed and was rolled back; the
    /// class is its cause's (each caller of the batch gets its own copy).
    #[error("the batch failed and was rolled back: {reason}")]
    RolledBack { class: ErrorClass, reason: String },
    /// A stored row no longer reads: written by a build with other names or rules.
    #[error("a stored row no longer reads: {0}")]
    Unreadable(String),
    /// The log no longer replays under this build's rules.
    #[error("event seq {seq} no longer applies: {outcome}")]
    Diverged { seq: i64, outcome: String },
    /// The disk refused to make a commit durable; the embedded store stops writing.
    #[error("fsync failed: {0}")]
    NotDurable(String),
    /// A task of the store's own (a read, a submission) died.
    #[error("{0}")]
    TaskFailed(String),
    #[error("{0} is in use by another Waybill process (stop it first)")]
    Locked(PathBuf),
    #[error("postgres: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("the database cannot be reached: {0}")]
    Unavailable(String),
}

/// What a caller can do about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Try again as it is: the database or the writer was unreachable or busy.
    Transient,
    /// Another writer got there first: run the same work again.
    Conflict,
    /// Refused for good in this state: a newer schema, a directory another process
    /// holds.
    Refused,
    /// Something is wrong with the store or this build: retrying will not help.
    Broken,
    /// The disk is full: nothing was written; try again once there is space.
    Full,
}

impl StoreError {
    pub fn class(&self) -> ErrorClass {
        if let Self::RolledBack { class, .. } = self {
            *class
        } else if self.is_disk_full() {
            ErrorClass::Full
        } else if self.is_conflict() {
            ErrorClass::Conflict
        } else if self.is_transient() {
            ErrorClass::Transient
        } else if matches!(self, Self::SchemaTooNew { .. } | Self::Locked(_)) {
            ErrorClass::Refused
        } else {
            ErrorClass::Broken
        }
    }

    /// Worth trying again as it is: the database or the writer could not be reached, was
    /// busy, or another writer got there first. Anything else (a value the database
    /// refuses, a row that no longer reads) fails the same way every time.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Busy | Self::WriterGone | Self::Unavailable(_) | Self::Io(_) => true,
            Self::RolledBack { class, .. } => *class == ErrorClass::Transient,
            Self::Postgres(e) => {
                let io = std::error::Error::source(e)
                    .is_some_and(|s| s.downcast_ref::<std::io::Error>().is_some());
                let code = e.code().map(|c| c.code());
                e.is_closed()
                    || io
                    || self.is_conflict()
                    || code.is_some_and(|c| {
                        // connection exceptions, insufficient resources, operator
                        // intervention (a restart), lock not available
                        c.starts_with("08")
                            || c.starts_with("53")
                            || c.starts_with("57P")
                            || c == "55P03"
                    })
            }
            _ => false,
        }
    }

    /// The disk (or the database's quota) is full: SQLite's `SQLITE_FULL`, an I/O
    /// error saying so, PostgreSQL's `disk_full`.
    pub fn is_disk_full(&self) -> bool {
        match self {
            Self::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => {
                e.code == rusqlite::ErrorCode::DiskFull
            }
            Self::Io(e) => e.kind() == std::io::ErrorKind::StorageFull,
            Self::RolledBack { class, .. } => *class == ErrorClass::Full,
            Self::Postgres(e) => e.code() == Some(&tokio_postgres::error::SqlState::DISK_FULL),
            _ => false,
        }
    }

    /// Another writer got there first (a lock wait that ended in a deadlock, or a row
    /// both inserted): the same work, run again, will see what it committed.
    pub fn is_conflict(&self) -> bool {
        use tokio_postgres::error::SqlState;
        match self {
            Self::Postgres(e) => e.code().is_some_and(|c| {
                *c == SqlState::T_R_DEADLOCK_DETECTED
                    || *c == SqlState::T_R_SERIALIZATION_FAILURE
                    || *c == SqlState::UNIQUE_VIOLATION
            }),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_have_a_class() {
        assert_eq!(StoreError::Busy.class(), ErrorClass::Transient);
        assert_eq!(StoreError::WriterGone.class(), ErrorClass::Transient);
        assert_eq!(
            StoreError::Unavailable("down".into()).class(),
            ErrorClass::Transient
        );
        assert_eq!(
            StoreError::SchemaTooNew { found: 9, known: 6 }.class(),
            ErrorClass::Refused
        );
        assert_eq!(StoreError::Locked("/d".into()).class(), ErrorClass::Refused);
        assert_eq!(
            StoreError::Unreadable("x".into()).class(),
            ErrorClass::Broken
        );
        assert_eq!(
            StoreError::NotDurable("x".into()).class(),
            ErrorClass::Broken
        );
        let rolled = |class| StoreError::RolledBack {
            class,
            reason: "x".into(),
        };
        assert_eq!(rolled(ErrorClass::Transient).class(), ErrorClass::Transient);
        assert!(rolled(ErrorClass::Transient).is_transient());
        assert_eq!(rolled(ErrorClass::Broken).class(), ErrorClass::Broken);
    }
}
