//! One connection type over SQLite and PostgreSQL, its pool, and the write
//! transaction every unit of work runs in.

use std::path::PathBuf;
use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::r2d2::{self, ManageConnection, R2D2Connection};
use diesel::{Connection, PgConnection, SqliteConnection};

/// A database connection of either backend. Queries written against it run
/// unchanged on both; code that needs a backend-specific statement matches on
/// the variant.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

/// Runs the same diesel expression on the concrete connection of either
/// backend. The connection enum builds each query's SQL again to find its
/// cached statement; a concrete connection finds it by type. Used on the
/// hot paths of contract calls, where that is a third of a lookup's cost.
#[macro_export]
macro_rules! on_backend {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            $crate::store::DbConnection::Sqlite($c) => $body,
            $crate::store::DbConnection::Postgres($c) => $body,
        }
    };
}

pub type DbPool = r2d2::Pool<ConnectionManager>;
pub type PooledConnection = r2d2::PooledConnection<ConnectionManager>;

/// Where the data lives, parsed from the database URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbTarget {
    Sqlite(PathBuf),
    Postgres(String),
}

#[derive(Debug, thiserror::Error)]
#[error("unsupported database URL `{0}`: use sqlite://PATH or postgres://...")]
pub struct UnsupportedDatabaseUrl(String);

impl DbTarget {
    /// `sqlite://data/mailroom.db` (relative), `sqlite:///var/lib/m.db`
    /// (absolute), `postgres://` or `postgresql://` URLs.
    pub fn parse(url: &str) -> Result<Self, UnsupportedDatabaseUrl> {
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            if path.is_empty() {
                return Err(UnsupportedDatabaseUrl(url.to_owned()));
            }
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(url.to_owned()));
        }
        Err(UnsupportedDatabaseUrl(url.to_owned()))
    }

    pub fn backend_name(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }
}

// Per-connection settings: WAL lets readers run beside the single writer,
// busy_timeout makes a writer wait for the lock instead of failing at once,
// and foreign keys are off by default in SQLite.
const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; \
     PRAGMA synchronous = NORMAL; \
     PRAGMA foreign_keys = ON;";

/// Opens connections of the configured backend; r2d2 pools them.
#[derive(Debug, Clone)]
pub struct ConnectionManager {
    target: DbTarget,
    sqlite_busy_timeout: Duration,
}

impl ConnectionManager {
    pub fn new(target: DbTarget, sqlite_busy_timeout: Duration) -> Self {
        Self {
            target,
            sqlite_busy_timeout,
        }
    }

    pub fn establish(&self) -> Result<DbConnection, r2d2::Error> {
        match &self.target {
            DbTarget::Sqlite(path) => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    // A missing folder would only surface as an opaque "unable to open".
                    std::fs::create_dir_all(parent).map_err(|e| {
                        r2d2::Error::ConnectionError(diesel::ConnectionError::BadConnection(
                            format!("cannot create {}: {e}", parent.display()),
                        ))
                    })?;
                }
                let mut conn = SqliteConnection::establish(&path.to_string_lossy())
                    .map_err(r2d2::Error::ConnectionError)?;
                conn.batch_execute(&format!(
                    "PRAGMA busy_timeout = {}; {SQLITE_PRAGMAS}",
                    self.sqlite_busy_timeout.as_millis()
                ))
                .map_err(r2d2::Error::QueryError)?;
                Ok(DbConnection::Sqlite(conn))
            }
            DbTarget::Postgres(url) => PgConnection::establish(url)
                .map(DbConnection::Postgres)
                .map_err(r2d2::Error::ConnectionError),
        }
    }
}

impl ManageConnection for ConnectionManager {
    type Connection = DbConnection;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<DbConnection, r2d2::Error> {
        self.establish()
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), r2d2::Error> {
        conn.ping().map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        conn.is_broken()
    }
}

/// Pool sizing and timeouts.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    pub max_size: u32,
    /// How long a request waits for a connection before the database counts
    /// as unavailable.
    pub checkout_timeout: Duration,
    pub sqlite_busy_timeout: Duration,
}

pub fn build_pool(target: DbTarget, options: &PoolOptions) -> Result<DbPool, r2d2::PoolError> {
    let manager = ConnectionManager::new(target, options.sqlite_busy_timeout);
    r2d2::Pool::builder()
        .max_size(options.max_size)
        .min_idle(Some(1))
        .connection_timeout(options.checkout_timeout)
        // A round trip per checkout would be paid by every request; a broken
        // connection is noticed by `has_broken` after the failed query instead.
        .test_on_check_out(false)
        .build(manager)
}

/// How many times in all a unit of work runs while it keeps losing races to
/// concurrent writers: the store's one retry budget. Each round of a race
/// has one winner, so the budget bounds how many concurrent writers of one
/// row are served (on PostgreSQL 20 concurrent updates of one customer used
/// up a budget of 10).
const RACE_ATTEMPTS: u32 = 40;

/// The store's one retry loop: runs `unit` again, after a short random pause
/// that grows with each attempt (so the contenders spread out), while it
/// fails with an error `lost_race` accepts, up to [`RACE_ATTEMPTS`] in all.
/// `unit` must be safe to repeat.
pub fn retry_lost_races<T, E>(
    lost_race: impl Fn(&E) -> bool,
    mut unit: impl FnMut() -> Result<T, E>,
) -> Result<T, E> {
    let mut attempt = 1;
    loop {
        match unit() {
            Err(error) if lost_race(&error) && attempt < RACE_ATTEMPTS => {
                let ceiling_ms = 1u64 << attempt.min(6);
                std::thread::sleep(Duration::from_millis(rand::Rng::gen_range(
                    &mut rand::thread_rng(),
                    1..=ceiling_ms,
                )));
                attempt += 1;
                tracing::debug!(attempt, "lost a race to a concurrent writer; running again");
            }
            result => return result,
        }
    }
}

/// Errors that can say whether they mean "a concurrent transaction won;
/// run again".
pub trait TransactionError: From<diesel::result::Error> {
    fn is_serialization_failure(&self) -> bool;
}

impl TransactionError for diesel::result::Error {
    fn is_serialization_failure(&self) -> bool {
        use diesel::result::DatabaseErrorKind;
        match self {
            Self::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => true,
            // PostgreSQL's deadlock_detected (40P01) reaches diesel unclassified.
            Self::DatabaseError(DatabaseErrorKind::Unknown, info) => {
                info.message().contains("deadlock detected")
            }
            _ => false,
        }
    }
}

/// Runs `work` in one transaction and commits it.
///
/// Every statement of the transaction sees one snapshot, so a check made
/// early still holds when the transaction writes: on SQLite the
/// transaction starts with `BEGIN IMMEDIATE` (the write lock is taken up
/// front, which also avoids SQLITE_BUSY on a read-to-write upgrade); on
/// PostgreSQL it runs at REPEATABLE READ, where a concurrent write to the
/// same rows aborts it with a serialization failure. Such a transaction
/// runs again, up to a few times, so `work` must be safe to repeat.
pub fn write_transaction<T, E, F>(conn: &mut DbConnection, mut work: F) -> Result<T, E>
where
    F: FnMut(&mut DbConnection) -> Result<T, E>,
    E: TransactionError,
{
    retry_lost_races(E::is_serialization_failure, || {
        run_once(conn, &mut work, Isolation::Snapshot)
    })
}

/// [`write_transaction`] without its retries, for a unit of work that
/// retries itself around more than the transaction (see
/// [`retry_lost_races`]).
pub fn write_transaction_once<T, E, F>(conn: &mut DbConnection, mut work: F) -> Result<T, E>
where
    F: FnMut(&mut DbConnection) -> Result<T, E>,
    E: TransactionError,
{
    run_once(conn, &mut work, Isolation::Snapshot)
}

/// [`write_transaction_once`] for a unit of work whose contenders meet on
/// one row they all lock before deciding (the seats of a subscription):
/// on PostgreSQL it runs at READ COMMITTED, so a transaction that waited
/// for the row's lock goes on with the row and the rows counted after it as
/// committed, instead of failing with a serialization failure and running
/// again (which, with several adders on one subscription, could fail for
/// good). SQLite is unchanged: its writers already take turns.
pub fn row_locked_transaction_once<T, E, F>(conn: &mut DbConnection, mut work: F) -> Result<T, E>
where
    F: FnMut(&mut DbConnection) -> Result<T, E>,
    E: TransactionError,
{
    run_once(conn, &mut work, Isolation::RowLocks)
}

/// How a PostgreSQL write transaction sees concurrent writers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Isolation {
    /// REPEATABLE READ: one snapshot; a concurrent write aborts it.
    Snapshot,
    /// READ COMMITTED: each statement sees what is committed; the unit of
    /// work serializes itself with row locks.
    RowLocks,
}

/// SQLite admits one writer at a time, and a writer that finds the lock
/// taken sleeps and polls (its busy handler), which under load turns into
/// long tail latencies. Writers of this process queue here instead and take
/// the lock in turn. A process opens one Mailroom database (the tests open
/// several and share the gate, which only orders their writes).
static SQLITE_WRITERS: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn run_once<T, E, F>(conn: &mut DbConnection, work: &mut F, isolation: Isolation) -> Result<T, E>
where
    F: FnMut(&mut DbConnection) -> Result<T, E>,
    E: TransactionError,
{
    // Held until the transaction ends; a panic in another writer only
    // poisons the lock, it protects no data.
    let _writer_turn = matches!(conn, DbConnection::Sqlite(_)).then(|| {
        SQLITE_WRITERS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    });
    match conn {
        DbConnection::Sqlite(sqlite) => {
            AnsiTransactionManager::begin_transaction_sql(sqlite, "BEGIN IMMEDIATE")?
        }
        DbConnection::Postgres(pg) => AnsiTransactionManager::begin_transaction_sql(
            pg,
            match isolation {
                Isolation::Snapshot => "BEGIN ISOLATION LEVEL REPEATABLE READ",
                Isolation::RowLocks => "BEGIN ISOLATION LEVEL READ COMMITTED",
            },
        )?,
    }
    match work(conn) {
        Ok(value) => {
            <DbConnection as TransactionManager<DbConnection>>::commit_transaction(conn)?;
            Ok(value)
        }
        Err(error) => {
            match <DbConnection as TransactionManager<DbConnection>>::rollback_transaction(conn) {
                Ok(()) | Err(diesel::result::Error::BrokenTransactionManager) => Err(error),
                Err(rollback_error) => Err(rollback_error.into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_database_urls() {
        assert_eq!(
            DbTarget::parse("sqlite://data/mailroom.db").unwrap(),
            DbTarget::Sqlite("data/mailroom.db".into())
        );
        assert_eq!(
            DbTarget::parse("sqlite:///var/lib/mailroom.db").unwrap(),
            DbTarget::Sqlite("/var/lib/mailroom.db".into())
        );
        assert!(matches!(
            DbTarget::parse("postgres://u@h/db").unwrap(),
            DbTarget::Postgres(_)
        ));
        assert!(DbTarget::parse("mysql://x").is_err());
        assert!(DbTarget::parse("sqlite://").is_err());
    }
}
