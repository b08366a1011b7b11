//! An integration's run history page: each run's start, end, outcome,
//! counts and failed items with their reasons; "Run now"; and the schedule
//! form. Super Admins only, through the operator API's units.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use super::pages::{display_time, render, render_status, see_other};
use super::{ConsoleError, ConsoleSession};
use crate::domain::operator::Permission;
use crate::http::operator::error::OperatorApiError;
use crate::http::operator::integration_runs::{
    change_schedule, job_in_path, load_job, request_run, runs_page,
};
use crate::http::operator::OperatorState;
use crate::integrations::IntegrationKind;

pub const VIEWS: &[(&str, &str)] = &[(
    "integration_runs",
    include_str!("../../../templates/console/integration_runs.hbs"),
)];

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/integrations/{kind}/runs", web::get().to(show))
        .route("/integrations/{kind}/runs", web::post().to(run_now))
        .route(
            "/integrations/{kind}/schedule",
            web::post().to(save_schedule),
        );
}

fn page_path(kind: IntegrationKind) -> String {
    format!("/console/integrations/{}/runs", kind.key())
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ShowQuery {
    page: String,
    notice: String,
}

#[derive(Serialize)]
struct FailureRow {
    item: String,
    reason: String,
}

#[derive(Serialize)]
struct CountCell {
    name: String,
    value: u64,
}

#[derive(Serialize)]
struct RunRow {
    id: i64,
    trigger: String,
    attempt: i32,
    started: String,
    finished: Option<String>,
    outcome: String,
    outcome_label: &'static str,
    counts: Vec<CountCell>,
    error: Option<String>,
    failures: Vec<FailureRow>,
}

#[derive(Serialize)]
struct ScheduleView {
    cron: String,
    timezone: String,
    next_run: String,
    run_requested: bool,
    running: bool,
    attempt: i32,
}

#[derive(Serialize)]
struct PageView {
    kind: &'static str,
    label: &'static str,
    runs: Vec<RunRow>,
    schedule: ScheduleView,
    run_action: String,
    schedule_action: String,
    notice: Option<String>,
    problem: Option<String>,
    total: i64,
    page: i64,
    newer_href: Option<String>,
    older_href: Option<String>,
}

pub(super) fn outcome_label(outcome: &str) -> &'static str {
    match outcome {
        "running" => "Running",
        "succeeded" => "Succeeded",
        "completed_with_failures" => "Completed with failures",
        _ => "Failed",
    }
}

/// The form's values when it is shown again with a problem.
struct Submitted {
    cron: String,
    timezone: String,
    problem: String,
}

async fn page_view(
    state: &OperatorState,
    kind: &str,
    page: i64,
    notice: Option<String>,
    submitted: Option<Submitted>,
) -> Result<(&'static str, PageView), ConsoleError> {
    let (integration, job) = job_in_path(kind)?;
    let runs = runs_page(&state.store, job.name, page).await?;
    let row = load_job(&state.store, job.name).await?;
    let now = chrono::Utc::now().naive_utc();
    let path = page_path(integration);
    let pages = (runs.total + runs.per_page - 1) / runs.per_page;
    let mut schedule = ScheduleView {
        running: row.lease_until.is_some_and(|until| until > now),
        run_requested: row.run_requested_at.is_some(),
        next_run: format!("{} UTC", display_time(row.next_run_at)),
        cron: row.cron,
        timezone: row.timezone,
        attempt: row.attempt,
    };
    let problem = submitted.map(|submitted| {
        schedule.cron = submitted.cron;
        schedule.timezone = submitted.timezone;
        submitted.problem
    });
    let view = PageView {
        kind: integration.key(),
        label: integration.label(),
        runs: runs
            .runs
            .into_iter()
            .map(|run| RunRow {
                id: run.id,
                outcome_label: outcome_label(&run.outcome),
                trigger: run.trigger,
                attempt: run.attempt,
                started: display_time(run.started_at),
                finished: run.finished_at.map(display_time),
                outcome: run.outcome,
                counts: run
                    .counts
                    .into_iter()
                    .map(|(name, value)| CountCell { name, value })
                    .collect(),
                error: run.error,
                failures: run
                    .failures
                    .into_iter()
                    .map(|failure| FailureRow {
                        item: failure.item,
                        reason: failure.reason,
                    })
                    .collect(),
            })
            .collect(),
        schedule,
        run_action: path.clone(),
        schedule_action: format!("/console/integrations/{}/schedule", integration.key()),
        notice,
        problem,
        total: runs.total,
        page: runs.page,
        newer_href: (runs.page > 1).then(|| format!("{path}?page={}", runs.page - 1)),
        older_href: (runs.page < pages).then(|| format!("{path}?page={}", runs.page + 1)),
    };
    Ok((integration.label(), view))
}

async fn show(
    state: web::Data<OperatorState>,
    session: ConsoleSession,
    kind: web::Path<String>,
    query: web::Query<ShowQuery>,
) -> Result<HttpResponse, ConsoleError> {
    session.require(Permission::ManageIntegrations)?;
    let page = query.page.trim().parse::<i64>().unwrap_or(1).max(1);
    let notice = match query.notice.as_str() {
        "requested" => {
            Some("The run is asked for: it starts within the scheduler's next tick.".to_owned())
        }
        "scheduled" => Some("The schedule is saved.".to_owned()),
        _ => None,
    };
    let (label, view) = page_view(&state, &kind, page, notice, None).await?;
    render(
        "integration_runs",
        &session.chrome(format!("{label}: runs"), "integrations"),
        &view,
    )
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CsrfForm {
    csrf: String,
}

async fn run_now(
    state: web::Data<OperatorState>,
    session: ConsoleSession,
    kind: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, ConsoleError> {
    session.check_csrf(&form.csrf)?;
    session.require(Permission::ManageIntegrations)?;
    let (integration, job) = job_in_path(&kind)?;
    match request_run(&state.store, integration, job.name).await {
        Ok(_) => {
            tracing::info!(job = job.name, operator = %session.email, "run asked for");
            Ok(see_other(format!(
                "{}?notice=requested",
                page_path(integration)
            )))
        }
        Err(OperatorApiError::Conflict(problem)) => {
            let (label, mut view) = page_view(&state, &kind, 1, None, None).await?;
            view.problem = Some(problem);
            render_status(
                StatusCode::CONFLICT,
                "integration_runs",
                Some(&session.chrome(format!("{label}: runs"), "integrations")),
                &view,
            )
        }
        Err(other) => Err(other.into()),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ScheduleForm {
    csrf: String,
    cron: String,
    timezone: String,
}

async fn save_schedule(
    state: web::Data<OperatorState>,
    session: ConsoleSession,
    kind: web::Path<String>,
    form: web::Form<ScheduleForm>,
) -> Result<HttpResponse, ConsoleError> {
    session.check_csrf(&form.csrf)?;
    session.require(Permission::ManageIntegrations)?;
    let (integration, job) = job_in_path(&kind)?;
    match change_schedule(&state.store, job.name, &form.cron, &form.timezone).await {
        Ok(schedule) => {
            tracing::info!(job = job.name, cron = %schedule.cron, timezone = %schedule.timezone, operator = %session.email, "schedule changed");
            Ok(see_other(format!(
                "{}?notice=scheduled",
                page_path(integration)
            )))
        }
        Err(OperatorApiError::BadRequest(problem)) => {
            let submitted = Submitted {
                cron: form.cron.clone(),
                timezone: form.timezone.clone(),
                problem,
            };
            let (label, view) = page_view(&state, &kind, 1, None, Some(submitted)).await?;
            render_status(
                StatusCode::BAD_REQUEST,
                "integration_runs",
                Some(&session.chrome(format!("{label}: runs"), "integrations")),
                &view,
            )
        }
        Err(other) => Err(other.into()),
    }
}
