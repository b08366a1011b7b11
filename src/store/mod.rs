//! Persistence with diesel: one code path over SQLite and PostgreSQL.
//!
//! Diesel is synchronous, so every unit of work runs on the blocking thread
//! pool through [`Store::run`], with a pooled connection.

pub mod activation;
pub mod applications;
pub mod audit;
pub mod catalog;
pub mod connection;
pub mod customers;
pub mod dashboard;
pub mod email_templates;
pub mod integrations;
pub mod jobs;
pub mod mailbox_usage;
pub mod mailboxes;
pub mod migrations;
pub mod operator_accounts;
pub mod operator_audit;
pub mod operator_totp;
pub mod operators;
pub mod outbox;
pub mod psa;
pub mod psa_quantities;
pub mod schema;
pub mod scrape;
pub mod subscriptions;
pub mod sync_options;

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::RunQueryDsl;

pub use connection::{DbConnection, DbPool, DbTarget, PendingRow, PoolOptions};

use std::future::Future;
use std::sync::Arc;

use connection::PendingSlot;

/// The error type of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached, or is too busy to answer in time.
    #[error("the database is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("database query failed")]
    Query(#[source] DieselError),
    /// Stored data that does not parse (for example a JSON column).
    #[error("stored data is corrupt: {what}")]
    Corrupt {
        what: String,
        #[source]
        cause: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    #[error(transparent)]
    Migration(#[from] migrations::MigrationError),
    #[error("the database task stopped unexpectedly")]
    TaskFailed(#[source] tokio::task::JoinError),
}

/// A unit of work that did not finish within the store's deadline: the
/// database hangs, or the work is far slower than any request may be.
#[derive(Debug, thiserror::Error)]
#[error("the database did not answer within {0:?}")]
pub struct DeadlineElapsed(pub std::time::Duration);

impl StoreError {
    /// Stored data that breaks a rule the code relies on.
    pub fn corrupt(what: impl Into<String>) -> Self {
        Self::Corrupt {
            what: what.into(),
            cause: None,
        }
    }

    /// Stored data that does not parse.
    pub fn corrupt_because(
        what: impl Into<String>,
        cause: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::Corrupt {
            what: what.into(),
            cause: Some(cause.into()),
        }
    }

    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }

    /// True for a transaction a concurrent writer made fail (serialization
    /// failure or deadlock): running it again can succeed.
    pub fn is_serialization_failure(&self) -> bool {
        connection::TransactionError::is_serialization_failure(self)
    }

    /// True for a unique-key race lost to a concurrent writer: the unit of
    /// work can run again and will then see the winner's row.
    pub fn is_retryable_conflict(&self) -> bool {
        self.is_serialization_failure()
            || matches!(
                self,
                Self::Query(DieselError::DatabaseError(
                    DatabaseErrorKind::UniqueViolation,
                    _
                ))
            )
    }
}

impl connection::TransactionError for StoreError {
    fn is_serialization_failure(&self) -> bool {
        match self {
            Self::Query(error) => connection::TransactionError::is_serialization_failure(error),
            _ => false,
        }
    }
}

impl From<DieselError> for StoreError {
    fn from(error: DieselError) -> Self {
        let unavailable = match &error {
            DieselError::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                _,
            ) => true,
            // SQLite reports a lock held past busy_timeout as a plain error.
            DieselError::DatabaseError(DatabaseErrorKind::Unknown, info) => {
                let message = info.message();
                message.contains("database is locked") || message.contains("database is busy")
            }
            DieselError::BrokenTransactionManager => true,
            _ => false,
        };
        if unavailable {
            Self::Unavailable(Box::new(error))
        } else {
            Self::Query(error)
        }
    }
}

impl From<diesel::r2d2::PoolError> for StoreError {
    fn from(error: diesel::r2d2::PoolError) -> Self {
        Self::Unavailable(Box::new(error))
    }
}

tokio::task_local! {
    /// The audit row of the operator action a task is doing: [`Store::recording`].
    static PENDING_ACTION: PendingSlot;
}

/// Handle to the database, cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: DbPool,
    target: DbTarget,
    deadline: std::time::Duration,
}

impl Store {
    /// Opens the pool. Fails when no connection can be made at all.
    pub fn connect(target: DbTarget, options: &PoolOptions) -> Result<Self, StoreError> {
        let pool = connection::build_pool(target.clone(), options)?;
        Ok(Self {
            pool,
            target,
            deadline: options.deadline(),
        })
    }

    pub fn backend_name(&self) -> &'static str {
        self.target.backend_name()
    }

    /// Runs `work` with a pooled connection on the blocking thread pool,
    /// inside the caller's tracing span. Past the store's deadline (waiting
    /// for a connection, then the work) the caller gets `Unavailable`; the
    /// work itself cannot be stopped and ends when the database answers (or
    /// is cut off by PostgreSQL's `statement_timeout`).
    pub async fn run<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let deadline = self.deadline;
        match tokio::time::timeout(deadline, self.run_unbounded(work)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(StoreError::Unavailable(Box::new(DeadlineElapsed(deadline)))),
        }
    }

    /// [`Store::run`] without the deadline, for work that may rightly take
    /// long (migrations).
    async fn run_unbounded<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        let span = tracing::Span::current();
        let pending = PENDING_ACTION.try_with(Clone::clone).ok();
        tokio::task::spawn_blocking(move || {
            span.in_scope(|| {
                connection::with_pending_slot(pending, || {
                    let mut conn = pool.get()?;
                    work(&mut conn)
                })
            })
        })
        .await
        .map_err(StoreError::TaskFailed)?
    }

    /// Runs an operator's action (`action`, whatever store calls it makes)
    /// and writes `row` (its audit row) in the first transaction of the
    /// action that writes anything, so that the action and its record stand
    /// or fall together. An action that succeeds without writing in a
    /// transaction (nothing to change, or a single statement) gets the row
    /// written right after; a failed one gets none.
    pub async fn recording<T, E, A>(&self, row: Arc<dyn PendingRow>, action: A) -> Result<T, E>
    where
        A: Future<Output = Result<T, E>>,
        E: From<StoreError>,
    {
        self.recording_when(row, action, |_| true).await
    }

    /// [`Store::recording`] for an action that answers `None` when there was
    /// nothing to act on (no such row): then no row is written.
    pub async fn recording_some<T, E, A>(
        &self,
        row: Arc<dyn PendingRow>,
        action: A,
    ) -> Result<Option<T>, E>
    where
        A: Future<Output = Result<Option<T>, E>>,
        E: From<StoreError>,
    {
        self.recording_when(row, action, Option::is_some).await
    }

    /// [`Store::recording`] for an action whose answer says whether it
    /// happened (`happened`); a refusal gets no row.
    pub async fn recording_when<T, E, A>(
        &self,
        row: Arc<dyn PendingRow>,
        action: A,
        happened: impl FnOnce(&T) -> bool,
    ) -> Result<T, E>
    where
        A: Future<Output = Result<T, E>>,
        E: From<StoreError>,
    {
        let slot: PendingSlot = Arc::new(std::sync::Mutex::new(Some(row)));
        let outcome = PENDING_ACTION.scope(slot.clone(), action).await;
        let unwritten = slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let (Ok(value), Some(row)) = (&outcome, unwritten) {
            if happened(value) {
                self.run(move |conn| {
                    connection::write_transaction(conn, |conn| {
                        Ok::<_, StoreError>(row.write(conn)?)
                    })
                })
                .await?;
            }
        }
        outcome
    }

    /// The same as [`Store::run`], for callers that are not async (the CLI).
    pub fn run_blocking<T>(
        &self,
        work: impl FnOnce(&mut DbConnection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.pool.get()?;
        work(&mut conn)
    }

    /// What `/metrics` shows of the database and the pool.
    pub async fn metrics_snapshot(
        &self,
    ) -> Result<crate::telemetry::metrics::Snapshot, StoreError> {
        let now = chrono::Utc::now().naive_utc();
        let mut snapshot = self.run(move |conn| scrape::read(conn, now)).await?;
        let state = self.pool.state();
        snapshot.pool_connections = state.connections;
        snapshot.pool_idle = state.idle_connections;
        snapshot.pool_max = self.pool.max_size();
        Ok(snapshot)
    }

    /// Applies pending migrations; returns the versions applied.
    pub async fn migrate(&self) -> Result<Vec<String>, StoreError> {
        self.run_unbounded(|conn| Ok(migrations::run_pending(conn)?))
            .await
    }

    /// True when the database answers a trivial query.
    pub async fn is_ready(&self) -> bool {
        self.run(|conn| {
            diesel::sql_query("SELECT 1").execute(conn)?;
            Ok(())
        })
        .await
        .is_ok()
    }
}
