//! An integration's scheduled job as operators see it: its run history
//! (counts and failed items), "Run now", and its schedule. Super Admins
//! only (`Permission::ManageIntegrations`).

use std::collections::BTreeMap;

use actix_web::{web, HttpResponse};
use chrono::{NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ErrorBody, OperatorApiError};
use super::session::SignedIn;
use super::OperatorState;
use crate::domain::operator::Permission;
use crate::domain::schedule::Schedule;
use crate::integrations::IntegrationKind;
use crate::jobs::scheduler::{self, JobDefinition};
use crate::store::jobs::{self as jobs_store, JobRow, RunRecord};
use crate::store::{integrations, Store, StoreError};

/// Runs per page of the history.
pub const RUNS_PER_PAGE: i64 = 20;

#[derive(Debug, Serialize, ToSchema)]
pub struct RunFailure {
    /// What failed, e.g. `customer Contoso (agreement 12)`.
    pub item: String,
    pub reason: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobRun {
    pub id: i64,
    /// `schedule`, `manual` (Run now) or `retry`.
    pub trigger: String,
    /// 1 for a first attempt; higher for retries of a transient failure.
    pub attempt: i32,
    /// The instance that ran it.
    pub instance: String,
    #[serde(with = "super::utc")]
    pub started_at: NaiveDateTime,
    #[serde(with = "super::utc::option")]
    pub finished_at: Option<NaiveDateTime>,
    /// `running`, `succeeded`, `completed_with_failures` or `failed`.
    pub outcome: String,
    /// Counts by name, e.g. `customers`, `patched`, `created`, `unchanged`, `failed`.
    pub counts: BTreeMap<String, u64>,
    /// Why the run failed as a whole.
    pub error: Option<String>,
    pub failures: Vec<RunFailure>,
}

impl From<RunRecord> for JobRun {
    fn from(run: RunRecord) -> Self {
        Self {
            id: run.id,
            trigger: run.trigger,
            attempt: run.attempt,
            instance: run.instance,
            started_at: run.started_at,
            finished_at: run.finished_at,
            outcome: run.outcome.as_str().to_owned(),
            counts: run.counts,
            error: run.error,
            failures: run
                .failures
                .into_iter()
                .map(|(item, reason)| RunFailure { item, reason })
                .collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobRuns {
    pub job: String,
    pub page: i64,
    pub per_page: i64,
    /// Runs in all.
    pub total: i64,
    /// Newest first.
    pub runs: Vec<JobRun>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct RunsQuery {
    /// Page, from 1 (1).
    pub page: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobSchedule {
    pub job: String,
    /// Five fields: minute hour day-of-month month day-of-week.
    pub cron: String,
    /// The IANA timezone the expression is read in.
    pub timezone: String,
    /// In UTC.
    #[serde(with = "super::utc")]
    pub next_run_at: NaiveDateTime,
    /// "Run now" was asked and has not started yet.
    pub run_requested: bool,
    /// An instance holds the job's lease (a run is under way).
    pub running: bool,
    /// Retries so far of a transiently failed run.
    pub attempt: i32,
}

impl JobSchedule {
    fn new(row: JobRow) -> Self {
        let now = Utc::now().naive_utc();
        Self {
            running: row.lease_until.is_some_and(|until| until > now),
            run_requested: row.run_requested_at.is_some(),
            job: row.name,
            cron: row.cron,
            timezone: row.timezone,
            next_run_at: row.next_run_at,
            attempt: row.attempt,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ScheduleUpdate {
    /// e.g. `0 2 * * *`
    pub cron: String,
    /// e.g. `Europe/Athens`
    pub timezone: String,
}

/// The job of the integration in the path.
pub fn job_in_path(kind: &str) -> Result<(IntegrationKind, JobDefinition), OperatorApiError> {
    let integration = IntegrationKind::parse(kind)
        .ok_or_else(|| OperatorApiError::NotFound(format!("There is no integration {kind:?}.")))?;
    let job = scheduler::job_of(integration).ok_or_else(|| {
        OperatorApiError::NotFound(format!("{} has no scheduled job.", integration.label()))
    })?;
    Ok((integration, job))
}

/// The stored job, or 404 (jobs are registered when the service starts).
pub async fn load_job(store: &Store, job: &'static str) -> Result<JobRow, OperatorApiError> {
    store
        .run(move |conn| jobs_store::find(conn, job))
        .await?
        .ok_or_else(|| OperatorApiError::NotFound(format!("The job {job} is not registered yet.")))
}

/// A page of the run history, newest first.
pub async fn runs_page(store: &Store, job: &'static str, page: i64) -> Result<JobRuns, StoreError> {
    let page = page.max(1);
    let loaded = store
        .run(move |conn| jobs_store::runs(conn, job, page, RUNS_PER_PAGE))
        .await?;
    Ok(JobRuns {
        job: job.to_owned(),
        page,
        per_page: RUNS_PER_PAGE,
        total: loaded.total,
        runs: loaded.runs.into_iter().map(JobRun::from).collect(),
    })
}

/// "Run now": refused while the integration is disabled (its job would be
/// skipped).
pub async fn request_run(
    store: &Store,
    integration: IntegrationKind,
    job: &'static str,
) -> Result<JobSchedule, OperatorApiError> {
    let enabled = store.run(integrations::enabled_kinds).await?;
    if !enabled.iter().any(|kind| kind == integration.key()) {
        return Err(OperatorApiError::Conflict(format!(
            "{} is disabled; enable it before running its job.",
            integration.label()
        )));
    }
    let requested = store
        .run(move |conn| jobs_store::request_run(conn, job, Utc::now()))
        .await?;
    if !requested {
        return Err(OperatorApiError::NotFound(format!(
            "The job {job} is not registered yet."
        )));
    }
    Ok(JobSchedule::new(load_job(store, job).await?))
}

/// A new schedule, validated: 400 with what is wrong.
pub async fn change_schedule(
    store: &Store,
    job: &'static str,
    cron: &str,
    timezone: &str,
) -> Result<JobSchedule, OperatorApiError> {
    let schedule = Schedule::parse(cron, timezone).map_err(|error| {
        OperatorApiError::BadRequest(format!("{}.", capitalized(&error.to_string())))
    })?;
    store
        .run(move |conn| jobs_store::set_schedule(conn, job, &schedule, Utc::now()))
        .await?
        .map(JobSchedule::new)
        .ok_or_else(|| OperatorApiError::NotFound(format!("The job {job} is not registered yet.")))
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The integration's job runs, newest first, with their counts and failed items.
#[utoipa::path(get, path = "/operator/api/integrations/{kind}/runs", tag = "Integrations",
    params(("kind" = String, Path, description = "e.g. `connectwise`"), RunsQuery),
    responses((status = 200, body = JobRuns), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("OperatorSession" = [])))]
pub async fn list_runs(
    state: web::Data<OperatorState>,
    operator: SignedIn,
    kind: web::Path<String>,
    query: web::Query<RunsQuery>,
) -> Result<HttpResponse, OperatorApiError> {
    operator.require(Permission::ManageIntegrations)?;
    let (_, job) = job_in_path(&kind)?;
    let page = runs_page(&state.store, job.name, query.page.unwrap_or(1)).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// "Run now": the job runs at the next tick of an instance's scheduler,
/// never on this request.
#[utoipa::path(post, path = "/operator/api/integrations/{kind}/runs", tag = "Integrations",
    params(("kind" = String, Path, description = "e.g. `connectwise`")),
    responses(
        (status = 202, description = "The run is asked for.", body = JobSchedule),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The integration is disabled.", body = ErrorBody),
    ),
    security(("OperatorSession" = [])))]
pub async fn run_now(
    state: web::Data<OperatorState>,
    operator: SignedIn,
    kind: web::Path<String>,
) -> Result<HttpResponse, OperatorApiError> {
    operator.require(Permission::ManageIntegrations)?;
    let (integration, job) = job_in_path(&kind)?;
    let schedule = request_run(&state.store, integration, job.name).await?;
    tracing::info!(job = job.name, operator = %operator.email, "run asked for");
    Ok(HttpResponse::Accepted().json(schedule))
}

/// The integration's job schedule.
#[utoipa::path(get, path = "/operator/api/integrations/{kind}/schedule", tag = "Integrations",
    params(("kind" = String, Path, description = "e.g. `connectwise`")),
    responses((status = 200, body = JobSchedule), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("OperatorSession" = [])))]
pub async fn get_schedule(
    state: web::Data<OperatorState>,
    operator: SignedIn,
    kind: web::Path<String>,
) -> Result<HttpResponse, OperatorApiError> {
    operator.require(Permission::ManageIntegrations)?;
    let (_, job) = job_in_path(&kind)?;
    let row = load_job(&state.store, job.name).await?;
    Ok(HttpResponse::Ok().json(JobSchedule::new(row)))
}

/// Changes the schedule: a five-field cron expression in an IANA timezone.
#[utoipa::path(put, path = "/operator/api/integrations/{kind}/schedule", tag = "Integrations",
    params(("kind" = String, Path, description = "e.g. `connectwise`")),
    request_body = ScheduleUpdate,
    responses(
        (status = 200, body = JobSchedule),
        (status = 400, description = "The expression or timezone is not valid.", body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ),
    security(("OperatorSession" = [])))]
pub async fn put_schedule(
    state: web::Data<OperatorState>,
    operator: SignedIn,
    kind: web::Path<String>,
    body: web::Json<ScheduleUpdate>,
) -> Result<HttpResponse, OperatorApiError> {
    operator.require(Permission::ManageIntegrations)?;
    let (_, job) = job_in_path(&kind)?;
    let schedule = change_schedule(&state.store, job.name, &body.cron, &body.timezone).await?;
    tracing::info!(job = job.name, cron = %schedule.cron, timezone = %schedule.timezone, operator = %operator.email, "schedule changed");
    Ok(HttpResponse::Ok().json(schedule))
}
