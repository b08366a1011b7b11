//! The audit log of contract calls.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::connection::{write_transaction, DbConnection};
use super::schema::audit_log;
use super::StoreError;

/// Rows per INSERT statement; keeps SQLite well under its bound-variable limit.
const ROWS_PER_STATEMENT: usize = 500;

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = audit_log)]
pub struct NewAuditEntry {
    pub occurred_at: NaiveDateTime,
    pub application_id: Option<i64>,
    pub track_id: Option<String>,
    pub endpoint: String,
    pub bss_account_id: Option<String>,
    pub external_id: Option<String>,
    pub result_code: i32,
    pub http_status: i32,
    pub duration_us: i64,
    /// The request body with secrets masked.
    pub request_body: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_log)]
pub struct AuditEntry {
    pub id: i64,
    pub occurred_at: NaiveDateTime,
    pub application_id: Option<i64>,
    pub track_id: Option<String>,
    pub endpoint: String,
    pub bss_account_id: Option<String>,
    pub external_id: Option<String>,
    pub result_code: i32,
    pub http_status: i32,
    pub duration_us: i64,
    pub request_body: Option<String>,
}

/// Writes a batch of entries in one transaction, many rows per statement.
pub fn insert_batch(conn: &mut DbConnection, entries: &[NewAuditEntry]) -> Result<(), StoreError> {
    write_transaction(conn, |conn| {
        for chunk in entries.chunks(ROWS_PER_STATEMENT) {
            // Multi-row INSERTs are built per backend: the shared backend
            // type of the connection enum cannot express them.
            match conn {
                DbConnection::Sqlite(sqlite) => diesel::insert_into(audit_log::table)
                    .values(chunk)
                    .execute(sqlite)?,
                DbConnection::Postgres(pg) => diesel::insert_into(audit_log::table)
                    .values(chunk)
                    .execute(pg)?,
            };
        }
        Ok(())
    })
}

/// The most recent entries, newest first; `external_id` narrows them to one customer.
pub fn recent(
    conn: &mut DbConnection,
    external_id: Option<&str>,
    limit: i64,
) -> Result<Vec<AuditEntry>, StoreError> {
    let mut query = audit_log::table
        .select(AuditEntry::as_select())
        .order(audit_log::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(external_id) = external_id {
        query = query.filter(audit_log::external_id.eq(external_id.to_owned()));
    }
    Ok(query.load(conn)?)
}
