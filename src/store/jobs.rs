//! Durable scheduled jobs: their schedules, the lease that lets exactly one
//! instance run a job at a time, and the run history (runs, their counts
//! and each item that failed).
//!
//! Leasing is a compare-and-set UPDATE (`lease_until` empty or past), the
//! same SQL on both backends; on PostgreSQL the due rows are read `FOR
//! UPDATE SKIP LOCKED` first, so instances claiming together skip each
//! other's jobs instead of waiting.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::connection::write_transaction;
use super::schema::{job_run_failures, job_runs, scheduled_jobs};
use super::{DbConnection, StoreError};
use crate::domain::schedule::{retry_backoff, Schedule};

/// Why a run ended as "failed" when its instance vanished mid-run.
pub const INSTANCE_STOPPED: &str = "instance stopped before the run finished";

#[derive(Debug, Clone, Queryable, Selectable, PartialEq, Eq)]
#[diesel(table_name = scheduled_jobs)]
pub struct JobRow {
    pub name: String,
    pub cron: String,
    pub timezone: String,
    pub next_run_at: NaiveDateTime,
    pub run_requested_at: Option<NaiveDateTime>,
    pub attempt: i32,
    pub lease_owner: Option<String>,
    pub lease_until: Option<NaiveDateTime>,
    pub updated_at: NaiveDateTime,
}

impl JobRow {
    pub fn schedule(&self) -> Result<Schedule, StoreError> {
        Schedule::parse(&self.cron, &self.timezone).map_err(|error| {
            StoreError::corrupt_because(format!("the schedule of job {}", self.name), error)
        })
    }
}

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunTrigger {
    Schedule,
    /// "Run now".
    Manual,
    /// Again after a transient failure.
    Retry,
}

impl RunTrigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Schedule => "schedule",
            Self::Manual => "manual",
            Self::Retry => "retry",
        }
    }
}

/// A job this instance now holds the lease of, with its run started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedRun {
    pub run_id: i64,
    pub job_name: String,
    pub trigger: RunTrigger,
    /// 1 for a first attempt.
    pub attempt: i32,
}

/// How a run ended, as the job's runner says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunResult {
    /// The run went through; some items may have failed.
    Completed {
        counts: BTreeMap<String, u64>,
        /// (item, reason)
        failures: Vec<(String, String)>,
    },
    /// The run failed as a whole; `transient` ones are retried.
    Failed { error: String, transient: bool },
}

/// The retries of a transiently failed run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
}

/// Adds the job with its default schedule if it is not there; an
/// operator's edited schedule is kept. Returns the job as stored.
pub fn ensure_job(
    conn: &mut DbConnection,
    name: &str,
    default_schedule: &Schedule,
    now: DateTime<Utc>,
) -> Result<JobRow, StoreError> {
    let first_slot = next_slot(default_schedule, now)?;
    // One statement; the primary key decides a race between instances.
    crate::on_backend!(conn, c => diesel::insert_into(scheduled_jobs::table)
        .values((
            scheduled_jobs::name.eq(name),
            scheduled_jobs::cron.eq(default_schedule.expression()),
            scheduled_jobs::timezone.eq(default_schedule.timezone()),
            scheduled_jobs::next_run_at.eq(first_slot),
            scheduled_jobs::attempt.eq(0),
            scheduled_jobs::updated_at.eq(now.naive_utc()),
        ))
        .on_conflict_do_nothing()
        .execute(c))?;
    find(conn, name)?.ok_or_else(|| StoreError::corrupt(format!("job {name} vanished")))
}

pub fn find(conn: &mut DbConnection, name: &str) -> Result<Option<JobRow>, StoreError> {
    Ok(scheduled_jobs::table
        .find(name)
        .select(JobRow::as_select())
        .first(conn)
        .optional()?)
}

/// Takes the lease of every due job (its slot has come, or "Run now" was
/// asked) whose lease is free or expired, and starts a run of each, in one
/// transaction. A due job `runnable` refuses (its integration is disabled)
/// is not run: its next slot is scheduled. A run left `running` by an
/// instance whose lease expired is closed as failed first.
pub fn claim_due(
    conn: &mut DbConnection,
    now: DateTime<Utc>,
    instance: &str,
    lease: Duration,
    runnable: &dyn Fn(&str) -> bool,
) -> Result<Vec<ClaimedRun>, StoreError> {
    let at = now.naive_utc();
    let lease_until = at + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX);
    write_transaction(conn, |conn| {
        macro_rules! due {
            () => {
                scheduled_jobs::table
                    .filter(
                        scheduled_jobs::next_run_at
                            .le(at)
                            .or(scheduled_jobs::run_requested_at.is_not_null()),
                    )
                    .filter(
                        scheduled_jobs::lease_until
                            .is_null()
                            .or(scheduled_jobs::lease_until.lt(at)),
                    )
                    .order(scheduled_jobs::name)
                    .select(JobRow::as_select())
            };
        }
        let jobs: Vec<JobRow> = match conn {
            DbConnection::Postgres(pg) => due!().for_update().skip_locked().load(pg)?,
            // SQLite: BEGIN IMMEDIATE already excludes other writers.
            DbConnection::Sqlite(sqlite) => due!().load(sqlite)?,
        };
        let mut claimed = Vec::new();
        for job in jobs {
            if !runnable(&job.name) {
                skip(conn, &job, now)?;
                continue;
            }
            // Compare-and-set: only a free or expired lease is taken.
            let won = diesel::update(
                scheduled_jobs::table
                    .filter(scheduled_jobs::name.eq(&job.name))
                    .filter(
                        scheduled_jobs::lease_until
                            .is_null()
                            .or(scheduled_jobs::lease_until.lt(at)),
                    ),
            )
            .set((
                scheduled_jobs::lease_owner.eq(instance),
                scheduled_jobs::lease_until.eq(lease_until),
                scheduled_jobs::run_requested_at.eq(None::<NaiveDateTime>),
                scheduled_jobs::updated_at.eq(at),
            ))
            .execute(conn)?
                == 1;
            if !won {
                continue;
            }
            if job.lease_owner.is_some() {
                close_abandoned_runs(conn, &job.name, at)?;
            }
            let trigger = if job.run_requested_at.is_some() {
                RunTrigger::Manual
            } else if job.attempt > 0 {
                RunTrigger::Retry
            } else {
                RunTrigger::Schedule
            };
            let attempt = job.attempt + 1;
            let run_id = diesel::insert_into(job_runs::table)
                .values((
                    job_runs::job_name.eq(&job.name),
                    job_runs::trigger.eq(trigger.as_str()),
                    job_runs::attempt.eq(attempt),
                    job_runs::instance.eq(instance),
                    job_runs::started_at.eq(at),
                    job_runs::outcome.eq(RunOutcome::Running.as_str()),
                    job_runs::counts.eq("{}"),
                ))
                .returning(job_runs::id)
                .get_result::<i64>(conn)?;
            claimed.push(ClaimedRun {
                run_id,
                job_name: job.name,
                trigger,
                attempt,
            });
        }
        Ok(claimed)
    })
}

/// A due job that may not run now: its next slot, no run.
fn skip(conn: &mut DbConnection, job: &JobRow, now: DateTime<Utc>) -> Result<(), StoreError> {
    let next = next_slot(&job.schedule()?, now)?;
    diesel::update(scheduled_jobs::table.find(&job.name))
        .set((
            scheduled_jobs::next_run_at.eq(next),
            scheduled_jobs::run_requested_at.eq(None::<NaiveDateTime>),
            scheduled_jobs::attempt.eq(0),
            scheduled_jobs::updated_at.eq(now.naive_utc()),
        ))
        .execute(conn)?;
    tracing::info!(job = %job.name, next_run_at = %next, "job skipped: its integration is disabled");
    Ok(())
}

fn close_abandoned_runs(
    conn: &mut DbConnection,
    job_name: &str,
    at: NaiveDateTime,
) -> Result<(), StoreError> {
    let closed = diesel::update(
        job_runs::table
            .filter(job_runs::job_name.eq(job_name))
            .filter(job_runs::outcome.eq(RunOutcome::Running.as_str())),
    )
    .set((
        job_runs::outcome.eq(RunOutcome::Failed.as_str()),
        job_runs::finished_at.eq(at),
        job_runs::error.eq(INSTANCE_STOPPED),
    ))
    .execute(conn)?;
    if closed > 0 {
        tracing::warn!(
            job = job_name,
            closed,
            "closed runs of an instance that stopped"
        );
    }
    Ok(())
}

/// Extends this instance's lease of a running job; false when it is no
/// longer ours (it expired and another instance took the job).
pub fn renew_lease(
    conn: &mut DbConnection,
    job_name: &str,
    instance: &str,
    lease: Duration,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let until =
        now.naive_utc() + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX);
    let renewed = diesel::update(
        scheduled_jobs::table
            .filter(scheduled_jobs::name.eq(job_name))
            .filter(scheduled_jobs::lease_owner.eq(instance)),
    )
    .set(scheduled_jobs::lease_until.eq(until))
    .execute(conn)?;
    Ok(renewed == 1)
}

/// Records how a run ended and schedules the job's next run: a transient
/// failure with attempts left is retried after a backoff; anything else
/// waits for the next slot after `now` (so a catch-up after downtime runs
/// once, not once per missed slot). Returns the next run's time.
pub fn finish(
    conn: &mut DbConnection,
    run: &ClaimedRun,
    instance: &str,
    result: &RunResult,
    retry: RetryPolicy,
    now: DateTime<Utc>,
) -> Result<NaiveDateTime, StoreError> {
    let at = now.naive_utc();
    write_transaction(conn, |conn| {
        let (outcome, counts, error) = match result {
            RunResult::Completed { counts, failures } if failures.is_empty() => {
                (RunOutcome::Succeeded, counts.clone(), None)
            }
            RunResult::Completed { counts, .. } => {
                (RunOutcome::CompletedWithFailures, counts.clone(), None)
            }
            RunResult::Failed { error, .. } => {
                (RunOutcome::Failed, BTreeMap::new(), Some(error.as_str()))
            }
        };
        let counts = serde_json::to_string(&counts)
            .map_err(|error| StoreError::corrupt_because("run counts", error))?;
        let recorded = diesel::update(
            job_runs::table
                .filter(job_runs::id.eq(run.run_id))
                .filter(job_runs::outcome.eq(RunOutcome::Running.as_str())),
        )
        .set((
            job_runs::outcome.eq(outcome.as_str()),
            job_runs::finished_at.eq(at),
            job_runs::counts.eq(&counts),
            job_runs::error.eq(error),
        ))
        .execute(conn)?;
        if let RunResult::Completed { failures, .. } = result {
            if recorded == 1 && !failures.is_empty() {
                let rows: Vec<_> = failures
                    .iter()
                    .map(|(item, reason)| {
                        (
                            job_run_failures::run_id.eq(run.run_id),
                            job_run_failures::item.eq(item),
                            job_run_failures::reason.eq(reason),
                        )
                    })
                    .collect();
                for chunk in rows.chunks(500) {
                    // Multi-row INSERTs are built per backend (see store::audit).
                    crate::on_backend!(conn, c => diesel::insert_into(job_run_failures::table)
                        .values(chunk)
                        .execute(c))?;
                }
            }
        }
        let job = scheduled_jobs::table
            .find(&run.job_name)
            .select(JobRow::as_select())
            .first(conn)?;
        let retry_at = match result {
            RunResult::Failed {
                transient: true, ..
            } if (run.attempt as u32) < retry.max_attempts => Some(
                at + chrono::Duration::from_std(retry_backoff(
                    retry.backoff_base,
                    retry.backoff_cap,
                    run.attempt as u32,
                ))
                .unwrap_or(chrono::Duration::MAX),
            ),
            _ => None,
        };
        let (next_run_at, attempt) = match retry_at {
            Some(retry_at) => (retry_at, run.attempt),
            None => (next_slot(&job.schedule()?, now)?, 0),
        };
        // The lease may have expired and been taken: then the job is not ours
        // to schedule.
        diesel::update(
            scheduled_jobs::table
                .filter(scheduled_jobs::name.eq(&run.job_name))
                .filter(scheduled_jobs::lease_owner.eq(instance)),
        )
        .set((
            scheduled_jobs::next_run_at.eq(next_run_at),
            scheduled_jobs::attempt.eq(attempt),
            scheduled_jobs::lease_owner.eq(None::<String>),
            scheduled_jobs::lease_until.eq(None::<NaiveDateTime>),
            scheduled_jobs::updated_at.eq(at),
        ))
        .execute(conn)?;
        Ok(next_run_at)
    })
}

/// "Run now": the job is due at its instances' next tick. False when there
/// is no such job.
pub fn request_run(
    conn: &mut DbConnection,
    job_name: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let at = now.naive_utc();
    let requested = diesel::update(scheduled_jobs::table.find(job_name))
        .set((
            scheduled_jobs::run_requested_at.eq(at),
            scheduled_jobs::updated_at.eq(at),
        ))
        .execute(conn)?;
    Ok(requested == 1)
}

/// A new schedule, from the next slot after `now` on (a retry waiting for
/// its backoff is replaced by the new slot). Returns the job, or None when
/// there is no such job.
pub fn set_schedule(
    conn: &mut DbConnection,
    job_name: &str,
    schedule: &Schedule,
    now: DateTime<Utc>,
) -> Result<Option<JobRow>, StoreError> {
    let next = next_slot(schedule, now)?;
    let updated = diesel::update(scheduled_jobs::table.find(job_name))
        .set((
            scheduled_jobs::cron.eq(schedule.expression()),
            scheduled_jobs::timezone.eq(schedule.timezone()),
            scheduled_jobs::next_run_at.eq(next),
            scheduled_jobs::attempt.eq(0),
            scheduled_jobs::updated_at.eq(now.naive_utc()),
        ))
        .execute(conn)?;
    if updated == 0 {
        return Ok(None);
    }
    find(conn, job_name)
}

fn next_slot(schedule: &Schedule, now: DateTime<Utc>) -> Result<NaiveDateTime, StoreError> {
    schedule
        .next_after(now)
        .map(|next| next.naive_utc())
        .ok_or_else(|| StoreError::corrupt(format!("the schedule {schedule} has no next slot")))
}

/// How a run ended (`job_runs.outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    Running,
    Succeeded,
    CompletedWithFailures,
    Failed,
}

impl RunOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::CompletedWithFailures => "completed_with_failures",
            Self::Failed => "failed",
        }
    }

    fn parse(stored: &str) -> Result<Self, StoreError> {
        match stored {
            "running" => Ok(Self::Running),
            "succeeded" => Ok(Self::Succeeded),
            "completed_with_failures" => Ok(Self::CompletedWithFailures),
            "failed" => Ok(Self::Failed),
            other => Err(StoreError::corrupt(format!("run outcome {other:?}"))),
        }
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = job_runs)]
struct RunRow {
    id: i64,
    trigger: String,
    attempt: i32,
    instance: String,
    started_at: NaiveDateTime,
    finished_at: Option<NaiveDateTime>,
    outcome: String,
    counts: String,
    error: Option<String>,
}

/// One run as the history shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRecord {
    pub id: i64,
    pub trigger: String,
    pub attempt: i32,
    pub instance: String,
    pub started_at: NaiveDateTime,
    pub finished_at: Option<NaiveDateTime>,
    pub outcome: RunOutcome,
    pub counts: BTreeMap<String, u64>,
    pub error: Option<String>,
    /// (item, reason)
    pub failures: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunsPage {
    pub runs: Vec<RunRecord>,
    pub total: i64,
}

/// A job's runs, newest first, a page at a time, with their failures (one
/// query for the page, one for all its failures, one count).
pub fn runs(
    conn: &mut DbConnection,
    job_name: &str,
    page: i64,
    per_page: i64,
) -> Result<RunsPage, StoreError> {
    let per_page = per_page.clamp(1, 200);
    let offset = (page.max(1) - 1).saturating_mul(per_page);
    let total = job_runs::table
        .filter(job_runs::job_name.eq(job_name))
        .count()
        .get_result::<i64>(conn)?;
    let rows: Vec<RunRow> = job_runs::table
        .filter(job_runs::job_name.eq(job_name))
        .order((job_runs::started_at.desc(), job_runs::id.desc()))
        .limit(per_page)
        .offset(offset)
        .select(RunRow::as_select())
        .load(conn)?;
    let ids: Vec<i64> = rows.iter().map(|row| row.id).collect();
    let mut failures: BTreeMap<i64, Vec<(String, String)>> = BTreeMap::new();
    if !ids.is_empty() {
        let loaded: Vec<(i64, String, String)> = job_run_failures::table
            .filter(job_run_failures::run_id.eq_any(&ids))
            .order((job_run_failures::run_id, job_run_failures::id))
            .select((
                job_run_failures::run_id,
                job_run_failures::item,
                job_run_failures::reason,
            ))
            .load(conn)?;
        for (run_id, item, reason) in loaded {
            failures.entry(run_id).or_default().push((item, reason));
        }
    }
    let runs = rows
        .into_iter()
        .map(|row| {
            let counts = serde_json::from_str(&row.counts).map_err(|error| {
                StoreError::corrupt_because(format!("the counts of run {}", row.id), error)
            })?;
            Ok(RunRecord {
                failures: failures.remove(&row.id).unwrap_or_default(),
                id: row.id,
                trigger: row.trigger,
                attempt: row.attempt,
                instance: row.instance,
                started_at: row.started_at,
                finished_at: row.finished_at,
                outcome: RunOutcome::parse(&row.outcome)?,
                counts,
                error: row.error,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(RunsPage { runs, total })
}

/// The latest run of a job, as the dashboard shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastRun {
    pub job_name: String,
    pub started_at: NaiveDateTime,
    pub finished_at: Option<NaiveDateTime>,
    pub outcome: RunOutcome,
    pub error: Option<String>,
}

/// Each job's latest run, by job name: one grouped query for the latest ids
/// (a job's runs are few a day) and one for their rows.
pub fn last_runs(conn: &mut DbConnection) -> Result<Vec<LastRun>, StoreError> {
    let latest: Vec<Option<i64>> = job_runs::table
        .group_by(job_runs::job_name)
        .select(diesel::dsl::max(job_runs::id))
        .load(conn)?;
    let ids: Vec<i64> = latest.into_iter().flatten().collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    #[derive(Queryable, Selectable)]
    #[diesel(table_name = job_runs)]
    struct LastRunRow {
        job_name: String,
        started_at: NaiveDateTime,
        finished_at: Option<NaiveDateTime>,
        outcome: String,
        error: Option<String>,
    }
    let rows: Vec<LastRunRow> = job_runs::table
        .filter(job_runs::id.eq_any(&ids))
        .order(job_runs::job_name)
        .select(LastRunRow::as_select())
        .load(conn)?;
    rows.into_iter()
        .map(|row| {
            Ok(LastRun {
                outcome: RunOutcome::parse(&row.outcome)?,
                job_name: row.job_name,
                started_at: row.started_at,
                finished_at: row.finished_at,
                error: row.error,
            })
        })
        .collect()
}

/// Moves a job's next slot (tests simulate downtime with it).
pub fn set_next_run_at(
    conn: &mut DbConnection,
    job_name: &str,
    next_run_at: NaiveDateTime,
) -> Result<bool, StoreError> {
    let updated = diesel::update(scheduled_jobs::table.find(job_name))
        .set(scheduled_jobs::next_run_at.eq(next_run_at))
        .execute(conn)?;
    Ok(updated == 1)
}
