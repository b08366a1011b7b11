//! The audit log of contract calls.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::connection::{write_transaction, DbConnection};
use super::schema::{audit_log, contract_call_hours};
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
        count_calls_by_hour(conn, entries)
    })
}

/// The hour an instant falls in (the dashboard's rollup key).
pub fn hour_of(at: NaiveDateTime) -> NaiveDateTime {
    use chrono::{DurationRound, TimeDelta};
    at.duration_trunc(TimeDelta::hours(1)).unwrap_or(at)
}

/// Adds a batch's calls to `contract_call_hours`, one upsert per (hour,
/// endpoint, result code), in the batch's transaction.
fn count_calls_by_hour(
    conn: &mut DbConnection,
    entries: &[NewAuditEntry],
) -> Result<(), StoreError> {
    use diesel::upsert::excluded;
    let mut counts: std::collections::BTreeMap<(NaiveDateTime, &str, i32), i64> =
        std::collections::BTreeMap::new();
    for entry in entries {
        *counts
            .entry((
                hour_of(entry.occurred_at),
                &entry.endpoint,
                entry.result_code,
            ))
            .or_default() += 1;
    }
    for ((hour, endpoint, result_code), calls) in counts {
        let row = (
            contract_call_hours::hour.eq(hour),
            contract_call_hours::endpoint.eq(endpoint),
            contract_call_hours::result_code.eq(result_code),
            contract_call_hours::calls.eq(calls),
        );
        let add = contract_call_hours::calls
            .eq(contract_call_hours::calls + excluded(contract_call_hours::calls));
        let target = (
            contract_call_hours::hour,
            contract_call_hours::endpoint,
            contract_call_hours::result_code,
        );
        match conn {
            DbConnection::Sqlite(sqlite) => diesel::insert_into(contract_call_hours::table)
                .values(row)
                .on_conflict(target)
                .do_update()
                .set(add)
                .execute(sqlite)?,
            DbConnection::Postgres(pg) => diesel::insert_into(contract_call_hours::table)
                .values(row)
                .on_conflict(target)
                .do_update()
                .set(add)
                .execute(pg)?,
        };
    }
    Ok(())
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

/// Which of a customer's contract calls to show.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallFilter {
    pub endpoint: Option<String>,
    pub result_code: Option<i32>,
    /// Calls at or after this instant.
    pub from: Option<NaiveDateTime>,
    /// Calls before this instant.
    pub until: Option<NaiveDateTime>,
    /// Calls older than this entry (the next page).
    pub before_id: Option<i64>,
}

/// A page of a customer's calls, newest first.
#[derive(Debug, Clone)]
pub struct CallsPage {
    pub entries: Vec<AuditEntry>,
    /// The `before_id` of the next (older) page, when there is one.
    pub older: Option<i64>,
}

/// A customer's contract calls that match `filter`, newest first, `limit`
/// at a time (the `audit_log_external_id` index gives the customer's calls
/// in order; the other conditions are checked on those rows).
pub fn customer_calls(
    conn: &mut DbConnection,
    external_id: &str,
    filter: &CallFilter,
    limit: i64,
) -> Result<CallsPage, StoreError> {
    let limit = limit.clamp(1, 500);
    let mut query = audit_log::table
        .select(AuditEntry::as_select())
        .filter(audit_log::external_id.eq(external_id.to_owned()))
        .order(audit_log::id.desc())
        .limit(limit + 1)
        .into_boxed();
    if let Some(endpoint) = &filter.endpoint {
        query = query.filter(audit_log::endpoint.eq(endpoint.clone()));
    }
    if let Some(code) = filter.result_code {
        query = query.filter(audit_log::result_code.eq(code));
    }
    if let Some(from) = filter.from {
        query = query.filter(audit_log::occurred_at.ge(from));
    }
    if let Some(until) = filter.until {
        query = query.filter(audit_log::occurred_at.lt(until));
    }
    if let Some(before) = filter.before_id {
        query = query.filter(audit_log::id.lt(before));
    }
    let mut entries: Vec<AuditEntry> = query.load(conn)?;
    let older = if entries.len() as i64 > limit {
        entries.truncate(limit as usize);
        entries.last().map(|entry| entry.id)
    } else {
        None
    };
    Ok(CallsPage { entries, older })
}
