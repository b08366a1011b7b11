//! The console home's aggregates, each read from a small table or an index,
//! so the page costs the same at a million customers: customers per status
//! from `customer_status_counts` plus the deltas not folded in yet, contract
//! calls from the hourly `contract_call_hours`, new customers and mail from
//! indexes (`customers_created_at`, `outbox_due`).

use chrono::NaiveDateTime;
use diesel::dsl::count_star;
use diesel::prelude::*;

use super::connection::write_transaction;
use super::connection::DbConnection;
use super::schema::{
    contract_call_hours, customer_status_counts, customer_status_deltas, customers, outbox,
};
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
/// calls in the hours from `calls_since` (the start of an hour) on.
pub fn load(
    conn: &mut DbConnection,
    new_since: NaiveDateTime,
    calls_since: NaiveDateTime,
) -> Result<Dashboard, StoreError> {
    let counted = customer_status_counts::table
        .select((
            customer_status_counts::status,
            customer_status_counts::customers,
        ))
        .load::<(String, i64)>(conn)?;
    let pending = customer_status_deltas::table
        .group_by(customer_status_deltas::status)
        .select((
            customer_status_deltas::status,
            diesel::dsl::sum(customer_status_deltas::delta),
        ))
        .load::<(String, Option<i64>)>(conn)?;
    let mut by_status: std::collections::BTreeMap<String, i64> = counted.into_iter().collect();
    for (status, delta) in pending {
        *by_status.entry(status).or_default() += delta.unwrap_or(0);
    }
    let customers_by_status = by_status
        .into_iter()
        .filter(|(_, customers)| *customers > 0)
        .collect();
    let new_customers = customers::table
        .filter(customers::created_at.ge(new_since))
        .count()
        .get_result(conn)?;
    let calls = contract_call_hours::table
        .filter(contract_call_hours::hour.ge(calls_since))
        .group_by((
            contract_call_hours::endpoint,
            contract_call_hours::result_code,
        ))
        .select((
            contract_call_hours::endpoint,
            contract_call_hours::result_code,
            // SUM of a BIGINT is NUMERIC on PostgreSQL: read it back as one.
            diesel::dsl::sql::<diesel::sql_types::BigInt>("CAST(SUM(calls) AS BIGINT)"),
        ))
        .order((
            contract_call_hours::endpoint,
            contract_call_hours::result_code,
        ))
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

/// Folds the customer status deltas written so far into the counts, in one
/// transaction (on PostgreSQL a snapshot: deltas committed meanwhile are
/// neither summed nor deleted, and wait for the next fold). Answers how many
/// deltas it folded.
pub fn fold_customer_status_deltas(conn: &mut DbConnection) -> Result<usize, StoreError> {
    write_transaction(conn, |conn| {
        let last: Option<i64> = customer_status_deltas::table
            .select(diesel::dsl::max(customer_status_deltas::id))
            .first(conn)?;
        let Some(last) = last else {
            return Ok(0);
        };
        let sums: Vec<(String, Option<i64>)> = customer_status_deltas::table
            .filter(customer_status_deltas::id.le(last))
            .group_by(customer_status_deltas::status)
            .select((
                customer_status_deltas::status,
                diesel::dsl::sum(customer_status_deltas::delta),
            ))
            .load(conn)?;
        for (status, delta) in sums {
            let delta = delta.unwrap_or(0);
            let updated = diesel::update(customer_status_counts::table.find(&status))
                .set(
                    customer_status_counts::customers.eq(customer_status_counts::customers + delta),
                )
                .execute(conn)?;
            if updated == 0 {
                diesel::insert_into(customer_status_counts::table)
                    .values((
                        customer_status_counts::status.eq(status),
                        customer_status_counts::customers.eq(delta),
                    ))
                    .execute(conn)?;
            }
        }
        let folded = diesel::delete(
            customer_status_deltas::table.filter(customer_status_deltas::id.le(last)),
        )
        .execute(conn)?;
        Ok(folded)
    })
}
