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
    statement_timeout: Duration,
}

impl ConnectionManager {
    pub fn new(target: DbTarget, options: &PoolOptions) -> Self {
        Self {
            target,
            sqlite_busy_timeout: options.sqlite_busy_timeout,
            statement_timeout: options.statement_timeout,
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
            DbTarget::Postgres(url) => {
                PgConnection::establish(&with_connection_deadlines(url, self.statement_timeout))
                    .map(DbConnection::Postgres)
                    .map_err(r2d2::Error::ConnectionError)
            }
        }
    }
}

/// `url` with the deadlines it does not set itself: libpq's connect timeout
/// (a server that accepts the TCP connection and never answers would hold a
/// connection attempt forever), keepalives (a peer gone from the network),
/// and the session's `statement_timeout` (the server cancels a statement past
/// it, so a slow query frees its connection; a hung server is left to
/// `Store::run`'s deadline). Given in the startup packet, the statement
/// timeout is what `RESET` returns to.
fn with_connection_deadlines(url: &str, statement_timeout: Duration) -> String {
    // libpq counts connect_timeout in whole seconds and treats less than 2 as 2.
    let connect_secs = statement_timeout.as_secs().clamp(2, 30);
    let defaults = [
        (
            "options",
            format!("-c%20statement_timeout%3D{}", statement_timeout.as_millis()),
        ),
        ("connect_timeout", connect_secs.to_string()),
        ("keepalives", "1".to_owned()),
        ("keepalives_idle", "30".to_owned()),
        ("keepalives_interval", "10".to_owned()),
        ("keepalives_count", "3".to_owned()),
    ];
    let query = url.split_once('?').map_or("", |(_, query)| query);
    let given = |name: &str| {
        query
            .split('&')
            .any(|pair| pair.split('=').next() == Some(name))
    };
    let mut out = url.to_owned();
    for (name, value) in defaults {
        if given(name) {
            continue;
        }
        out.push(if out.contains('?') { '&' } else { '?' });
        out.push_str(name);
        out.push('=');
        out.push_str(&value);
    }
    out
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
    /// The longest a unit of work may run once it has its connection
    /// (PostgreSQL also cancels any one statement past it).
    pub statement_timeout: Duration,
}

impl PoolOptions {
    /// How long a caller waits for a unit of work in all before the
    /// database counts as unavailable: a connection, then the work.
    pub fn deadline(&self) -> Duration {
        self.checkout_timeout + self.statement_timeout
    }
}

pub fn build_pool(target: DbTarget, options: &PoolOptions) -> Result<DbPool, r2d2::PoolError> {
    let manager = ConnectionManager::new(target, options);
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

/// A row written in the same transaction as whatever a unit of work
/// commits: the operator audit trail's row of the action being done.
pub trait PendingRow: Send + Sync {
    fn write(&self, conn: &mut DbConnection) -> Result<(), diesel::result::Error>;
}

/// Where a pending row waits until a write transaction takes it; shared by
/// the store calls of one operator action (see `Store::recording`).
pub type PendingSlot = std::sync::Arc<std::sync::Mutex<Option<std::sync::Arc<dyn PendingRow>>>>;

thread_local! {
    /// The slot of the action this blocking thread is working for, if any.
    static PENDING: std::cell::RefCell<Option<PendingSlot>> = const { std::cell::RefCell::new(None) };
}

/// Runs `work` with `slot` as this thread's pending row.
pub(crate) fn with_pending_slot<T>(slot: Option<PendingSlot>, work: impl FnOnce() -> T) -> T {
    struct Reset(Option<PendingSlot>);
    impl Drop for Reset {
        fn drop(&mut self) {
            let previous = self.0.take();
            PENDING.with(|pending| *pending.borrow_mut() = previous);
        }
    }
    let previous = PENDING.with(|pending| std::mem::replace(&mut *pending.borrow_mut(), slot));
    let _reset = Reset(previous);
    work()
}

fn has_pending_row() -> bool {
    PENDING.with(|pending| {
        pending.borrow().as_ref().is_some_and(|slot| {
            slot.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .is_some()
        })
    })
}

#[derive(diesel::QueryableByName)]
struct Changes {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    changes: i64,
}

fn sqlite_total_changes(conn: &mut SqliteConnection) -> Result<i64, diesel::result::Error> {
    use diesel::RunQueryDsl;
    Ok(diesel::sql_query("SELECT total_changes() AS changes")
        .get_result::<Changes>(conn)?
        .changes)
}

/// Whether the open transaction has written a row.
fn transaction_wrote(
    conn: &mut DbConnection,
    sqlite_changes_at_start: Option<i64>,
) -> Result<bool, diesel::result::Error> {
    use diesel::RunQueryDsl;
    match conn {
        DbConnection::Sqlite(sqlite) => {
            Ok(sqlite_total_changes(sqlite)? != sqlite_changes_at_start.unwrap_or(0))
        }
        // A transaction id is assigned at the first write.
        DbConnection::Postgres(pg) => Ok(diesel::sql_query(
            "SELECT CAST(count(*) AS BIGINT) AS changes \
             WHERE pg_current_xact_id_if_assigned() IS NOT NULL",
        )
        .get_result::<Changes>(pg)?
        .changes
            > 0),
    }
}

fn take_pending_row() -> Option<std::sync::Arc<dyn PendingRow>> {
    PENDING.with(|pending| {
        pending.borrow().as_ref().and_then(|slot| {
            slot.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take()
        })
    })
}

/// Puts a row back when its transaction did not commit (a retry takes it again).
fn restore_pending_row(row: Option<std::sync::Arc<dyn PendingRow>>) {
    let Some(row) = row else { return };
    PENDING.with(|pending| {
        if let Some(slot) = pending.borrow().as_ref() {
            *slot
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(row);
        }
    });
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
    // SQLite tells whether the transaction wrote by its change counter.
    let changes_at_start = match conn {
        DbConnection::Sqlite(sqlite) if has_pending_row() => Some(sqlite_total_changes(sqlite)?),
        _ => None,
    };
    match work(conn) {
        Ok(value) => {
            // The row an operator's action asked for (see `Store::recording`)
            // goes in with the action's first transaction that writes
            // anything (one that only read, or refused, leaves it waiting).
            let pending = match has_pending_row() && transaction_wrote(conn, changes_at_start)? {
                true => take_pending_row(),
                false => None,
            };
            if let Some(row) = &pending {
                if let Err(error) = row.write(conn) {
                    restore_pending_row(pending);
                    let _ =
                        <DbConnection as TransactionManager<DbConnection>>::rollback_transaction(
                            conn,
                        );
                    return Err(error.into());
                }
            }
            if let Err(error) =
                <DbConnection as TransactionManager<DbConnection>>::commit_transaction(conn)
            {
                restore_pending_row(pending);
                return Err(error.into());
            }
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

    #[test]
    fn postgres_urls_get_deadlines_they_do_not_set() {
        let url = with_connection_deadlines("postgres://u@h/db", Duration::from_secs(15));
        assert_eq!(
            url,
            "postgres://u@h/db?options=-c%20statement_timeout%3D15000&connect_timeout=15\
             &keepalives=1&keepalives_idle=30&keepalives_interval=10&keepalives_count=3"
        );
        let url = with_connection_deadlines(
            "postgres://u@h/db?sslmode=disable&connect_timeout=60&keepalives=0",
            Duration::from_millis(500),
        );
        assert_eq!(
            url,
            "postgres://u@h/db?sslmode=disable&connect_timeout=60&keepalives=0\
             &options=-c%20statement_timeout%3D500\
             &keepalives_idle=30&keepalives_interval=10&keepalives_count=3"
        );
        assert!(
            with_connection_deadlines("postgres://h/db", Duration::from_millis(500))
                .contains("connect_timeout=2&")
        );
    }
}
