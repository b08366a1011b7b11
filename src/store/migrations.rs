//! Schema migrations, one folder per backend, embedded in the binary.

use diesel::connection::SimpleConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::connection::DbConnection;

const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");

// Any constant will do: it keeps two instances that start together from
// running the same migration twice.
const MIGRATION_LOCK_KEY: i64 = 0x6d61_696c_726f_6f6d;

#[derive(Debug, thiserror::Error)]
#[error("running database migrations failed")]
pub struct MigrationError(#[source] Box<dyn std::error::Error + Send + Sync>);

/// Applies every pending migration and returns the versions it applied.
pub fn run_pending(conn: &mut DbConnection) -> Result<Vec<String>, MigrationError> {
    let applied = match conn {
        DbConnection::Sqlite(sqlite) => sqlite
            .run_pending_migrations(SQLITE)
            .map(|versions| versions.iter().map(ToString::to_string).collect())
            .map_err(MigrationError)?,
        DbConnection::Postgres(pg) => {
            let lock = |pg: &mut diesel::PgConnection, sql: &str| {
                pg.batch_execute(sql)
                    .map_err(|e| MigrationError(Box::new(e)))
            };
            // A migration (an index over a big table) and the wait for
            // another instance's may take longer than any request may.
            lock(
                pg,
                &format!(
                    "SET statement_timeout = 0; SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"
                ),
            )?;
            let result = pg
                .run_pending_migrations(POSTGRES)
                .map(|versions| versions.iter().map(ToString::to_string).collect())
                .map_err(MigrationError);
            lock(
                pg,
                &format!(
                    "SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY}); RESET statement_timeout"
                ),
            )?;
            result?
        }
    };
    Ok(applied)
}

/// Reverts every applied migration, newest first, and returns the versions
/// it reverted. The service never calls it; the tests of the `down.sql`
/// scripts do.
pub fn revert_all(conn: &mut DbConnection) -> Result<Vec<String>, MigrationError> {
    let reverted = match conn {
        DbConnection::Sqlite(sqlite) => sqlite
            .revert_all_migrations(SQLITE)
            .map(|versions| versions.iter().map(ToString::to_string).collect()),
        DbConnection::Postgres(pg) => pg
            .revert_all_migrations(POSTGRES)
            .map(|versions| versions.iter().map(ToString::to_string).collect()),
    };
    reverted.map_err(MigrationError)
}
