//! The console home's aggregates: a few grouped counts, each answered from
//! an index (`customers_status`, `customers_created_at`,
//! `audit_log_occurred_at`, `outbox_due`).

use chrono::NaiveDateTime;
use diesel::dsl::count_star;
use diesel::prelude::*;

use super::connection::DbConnection;
use super::schema::{audit_log, customers, outbox};
use super::StoreError;

#[derive(Debug, Clone, Default)]
pub struct Dashboard {
    /// (status, customers) for each status that has any.
    pub customers_by_status: Vec<(String, i64)>,
    pub new_customers: i64,
    /// (endpoint, result code, calls) since `calls_since`.
    pub calls: Vec<(String, i32, i64)>,
    pub failed_mail: i64,
    pub queued_mail: i64,
}

/// The numbers of the dashboard: new customers since `new_since`, contract
/// calls since `calls_since`.
pub fn load(
    conn: &mut DbConnection,
    new_since: NaiveDateTime,
    calls_since: NaiveDateTime,
) -> Result<Dashboard, StoreError> {
    let customers_by_status = customers::table
        .group_by(customers::status)
        .select((customers::status, count_star()))
        .order(customers::status)
        .load::<(String, i64)>(conn)?;
    let new_customers = customers::table
        .filter(customers::created_at.ge(new_since))
        .count()
        .get_result(conn)?;
    let calls = audit_log::table
        .filter(audit_log::occurred_at.ge(calls_since))
        .group_by((audit_log::endpoint, audit_log::result_code))
        .select((audit_log::endpoint, audit_log::result_code, count_star()))
        .order((audit_log::endpoint, audit_log::result_code))
        .load::<(String, i32, i64)>(conn)?;
    let mail = outbox::table
        .filter(outbox::status.eq_any(["failed", "queued"]))
        .group_by(outbox::status)
        .select((outbox::status, count_star()))
        .load::<(String, i64)>(conn)?;
    let mail_count = |wanted: &str| {
        mail.iter()
            .find(|(status, _)| status == wanted)
            .map_or(0, |(_, count)| *count)
    };
    Ok(Dashboard {
        customers_by_status,
        new_customers,
        calls,
        failed_mail: mail_count("failed"),
        queued_mail: mail_count("queued"),
    })
}
