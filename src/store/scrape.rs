//! What `/metrics` reads from the database at scrape time: a few grouped
//! counts, each answered from an index (`outbox_due`, `job_runs_by_job`).

use chrono::NaiveDateTime;
use diesel::dsl::{count_star, min};
use diesel::prelude::*;

use super::connection::DbConnection;
use super::schema::{job_runs, outbox};
use super::StoreError;
use crate::telemetry::metrics::Snapshot;

/// The database's part of a scrape; the pool's part is left at zero.
pub fn read(conn: &mut DbConnection, now: NaiveDateTime) -> Result<Snapshot, StoreError> {
    let outbox = outbox::table
        .filter(outbox::status.eq_any(["queued", "failed"]))
        .group_by(outbox::status)
        .select((outbox::status, count_star()))
        .order(outbox::status)
        .load::<(String, i64)>(conn)?;
    let oldest_due: Option<NaiveDateTime> = outbox::table
        .filter(outbox::status.eq("queued"))
        .filter(outbox::next_attempt_at.le(now))
        .select(min(outbox::next_attempt_at))
        .first(conn)?;
    let job_runs = job_runs::table
        .group_by((job_runs::job_name, job_runs::outcome))
        .select((job_runs::job_name, job_runs::outcome, count_star()))
        .order((job_runs::job_name, job_runs::outcome))
        .load::<(String, String, i64)>(conn)?;
    Ok(Snapshot {
        outbox,
        outbox_oldest_due_seconds: oldest_due.map_or(0.0, |due| {
            (now - due).num_milliseconds().max(0) as f64 / 1000.0
        }),
        job_runs,
        ..Snapshot::default()
    })
}
