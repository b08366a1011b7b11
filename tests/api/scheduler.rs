//! The integrations' job scheduler over real HTTP and a real database:
//! one run per due job across instances, Run now, catch-up after downtime
//! once, disabled integrations skipped, the schedule API, and who may use it.

use std::time::{Duration, Instant};

use chrono::Utc;
use mailroom::config::Settings;
use mailroom::domain::operator::Role;
use mailroom::integrations::connectwise::QUANTITY_SYNC_JOB;
use mailroom::store::jobs::{self, RunRecord};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::both_backends;
use crate::helpers::{spawn_app_with, spawn_instance_of, Backend, TestApp};

both_backends!(
    two_instances_run_a_due_job_once,
    run_now_from_the_api_runs_the_job_once,
    a_catch_up_after_downtime_runs_once,
    a_disabled_integrations_job_is_skipped_and_run_now_refused,
    schedules_are_validated_and_kept,
    only_super_admins_reach_runs_and_schedules,
    the_console_shows_the_history_and_runs_now,
    a_run_whose_instance_stopped_is_closed_when_its_lease_expires,
);

/// A scheduler that ticks often, with short retries.
pub fn quick_scheduler(settings: &mut Settings) {
    settings.scheduler.tick_interval_ms = 50;
    settings.scheduler.lease_secs = 30;
    settings.scheduler.backoff_base_ms = 300;
    settings.scheduler.backoff_cap_ms = 1_000;
    settings.scheduler.max_attempts = 3;
}

/// Turns an integration on in its stored row (what its settings page does).
pub async fn enable_integration(app: &TestApp, kind: &'static str) {
    use diesel::{ExpressionMethods, RunQueryDsl};
    use mailroom::store::schema::integrations;
    app.with_store(move |conn| {
        let now = Utc::now().naive_utc();
        diesel::insert_into(integrations::table)
            .values((
                integrations::kind.eq(kind),
                integrations::enabled.eq(true),
                integrations::settings.eq("{}"),
                integrations::enabled_at.eq(now),
                integrations::updated_at.eq(now),
            ))
            .execute(conn)?;
        Ok(())
    })
    .await;
}

pub async fn all_runs(app: &TestApp) -> Vec<RunRecord> {
    app.with_store(|conn| jobs::runs(conn, QUANTITY_SYNC_JOB, 1, 200))
        .await
        .runs
}

/// Waits until `count` runs have finished; then a little longer, so that a
/// run that should not happen has its chance to.
pub async fn wait_for_finished_runs(app: &TestApp, count: usize) -> Vec<RunRecord> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let runs = all_runs(app).await;
        let finished = runs.iter().filter(|run| run.finished_at.is_some()).count();
        if finished >= count {
            tokio::time::sleep(Duration::from_millis(400)).await;
            return all_runs(app).await;
        }
        assert!(
            Instant::now() < deadline,
            "{count} finished runs never came: {runs:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Makes the job due `ago` in the past (as if the service had been down).
pub async fn make_due(app: &TestApp, ago: chrono::Duration) {
    let at = (Utc::now() - ago).naive_utc();
    let moved = app
        .with_store(move |conn| jobs::set_next_run_at(conn, QUANTITY_SYNC_JOB, at))
        .await;
    assert!(moved, "the job is registered at start");
}

async fn job_row(app: &TestApp) -> jobs::JobRow {
    app.with_store(|conn| jobs::find(conn, QUANTITY_SYNC_JOB))
        .await
        .expect("the job is registered")
}

async fn two_instances_run_a_due_job_once(backend: Backend) {
    let first = spawn_app_with(backend, quick_scheduler).await;
    let second = spawn_instance_of(&first, quick_scheduler).await;
    enable_integration(&first, "connectwise").await;
    make_due(&first, chrono::Duration::minutes(1)).await;

    let runs = wait_for_finished_runs(&first, 1).await;
    assert_eq!(runs.len(), 1, "one run for one due slot: {runs:#?}");
    assert_eq!(runs[0].trigger, "schedule");
    let job = job_row(&second).await;
    assert!(job.next_run_at > Utc::now().naive_utc(), "{job:?}");
    assert!(
        job.lease_owner.is_none(),
        "the lease is given back: {job:?}"
    );
}

async fn run_now_from_the_api_runs_the_job_once(backend: Backend) {
    let app = spawn_app_with(backend, quick_scheduler).await;
    let second = spawn_instance_of(&app, quick_scheduler).await;
    enable_integration(&app, "connectwise").await;
    let token = app.sign_in_as(Role::SuperAdmin).await;
    let before = job_row(&app).await;

    let answer = app
        .operator_call(Method::POST, "/integrations/connectwise/runs", &token, None)
        .await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{:?}", answer.body);
    assert_eq!(answer.body["job"], QUANTITY_SYNC_JOB);

    let runs = wait_for_finished_runs(&second, 1).await;
    assert_eq!(runs.len(), 1, "{runs:#?}");
    assert_eq!(runs[0].trigger, "manual");
    let after = job_row(&app).await;
    assert!(after.run_requested_at.is_none(), "{after:?}");
    assert_eq!(
        after.next_run_at, before.next_run_at,
        "Run now leaves the nightly slot where it was"
    );

    let history = app
        .operator_call(
            Method::GET,
            "/integrations/connectwise/runs?page=1",
            &token,
            None,
        )
        .await;
    assert_eq!(history.status, StatusCode::OK, "{:?}", history.body);
    assert_eq!(history.body["total"], 1);
    let run = &history.body["runs"][0];
    assert_eq!(run["trigger"], "manual");
    assert!(run["finished_at"].is_string(), "{run}");
    assert!(
        run["outcome"].is_string() && run["outcome"] != "running",
        "{run}"
    );
}

async fn a_catch_up_after_downtime_runs_once(backend: Backend) {
    let app = spawn_app_with(backend, |settings| {
        quick_scheduler(settings);
        // Down: no instance runs jobs while the slots pass.
        settings.scheduler.enabled = false;
    })
    .await;
    let token = app.sign_in_as(Role::SuperAdmin).await;
    let hourly = app
        .operator_call(
            Method::PUT,
            "/integrations/connectwise/schedule",
            &token,
            Some(&json!({"cron": "0 * * * *", "timezone": "UTC"})),
        )
        .await;
    assert_eq!(hourly.status, StatusCode::OK, "{:?}", hourly.body);
    enable_integration(&app, "connectwise").await;
    // Three hourly slots missed.
    make_due(&app, chrono::Duration::minutes(185)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(all_runs(&app).await.is_empty(), "no scheduler, no run");

    // Back up: an instance with the scheduler on.
    let back = spawn_instance_of(&app, quick_scheduler).await;
    let runs = wait_for_finished_runs(&back, 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(all_runs(&app).await.len(), 1, "one catch-up run: {runs:#?}");
    let job = job_row(&app).await;
    let now = Utc::now().naive_utc();
    assert!(job.next_run_at > now, "the next slot is ahead: {job:?}");
    assert!(
        job.next_run_at <= now + chrono::Duration::hours(1),
        "the next hourly slot, not a later one: {job:?}"
    );
}

async fn a_disabled_integrations_job_is_skipped_and_run_now_refused(backend: Backend) {
    let app = spawn_app_with(backend, quick_scheduler).await;
    let token = app.sign_in_as(Role::SuperAdmin).await;
    make_due(&app, chrono::Duration::minutes(5)).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while job_row(&app).await.next_run_at < Utc::now().naive_utc() {
        assert!(
            Instant::now() < deadline,
            "the due slot was never passed over"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        all_runs(&app).await.is_empty(),
        "a disabled integration's job does not run"
    );

    let refused = app
        .operator_call(Method::POST, "/integrations/connectwise/runs", &token, None)
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{:?}", refused.body);
    assert!(
        refused.body["message"]
            .as_str()
            .unwrap()
            .contains("disabled"),
        "{:?}",
        refused.body
    );
    let unknown = app
        .operator_call(Method::GET, "/integrations/nowhere/runs", &token, None)
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

async fn schedules_are_validated_and_kept(backend: Backend) {
    let app = spawn_app_with(backend, |settings| {
        quick_scheduler(settings);
        settings.scheduler.timezone = "Europe/Athens".into();
    })
    .await;
    let token = app.sign_in_as(Role::SuperAdmin).await;
    let default = app
        .operator_call(
            Method::GET,
            "/integrations/connectwise/schedule",
            &token,
            None,
        )
        .await;
    assert_eq!(default.status, StatusCode::OK, "{:?}", default.body);
    assert_eq!(default.body["cron"], "0 2 * * *");
    assert_eq!(
        default.body["timezone"], "Europe/Athens",
        "read in the operator's timezone"
    );

    for (body, says) in [
        (
            json!({"cron": "0 25 * * *", "timezone": "UTC"}),
            "0 25 * * *",
        ),
        (json!({"cron": "nightly", "timezone": "UTC"}), "five fields"),
        (
            json!({"cron": "0 2 * * *", "timezone": "Mars/Olympus"}),
            "Mars/Olympus",
        ),
    ] {
        let refused = app
            .operator_call(
                Method::PUT,
                "/integrations/connectwise/schedule",
                &token,
                Some(&body),
            )
            .await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{body}");
        let message = refused.body["message"].as_str().unwrap();
        assert!(message.contains(says), "{body}: {message}");
    }

    let changed = app
        .operator_call(
            Method::PUT,
            "/integrations/connectwise/schedule",
            &token,
            Some(&json!({"cron": "30 3 * * 1-5", "timezone": "America/New_York"})),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{:?}", changed.body);
    assert_eq!(changed.body["cron"], "30 3 * * 1-5");

    // A restart keeps the operator's schedule.
    let restarted = spawn_instance_of(&app, quick_scheduler).await;
    let kept = job_row(&restarted).await;
    assert_eq!(
        (kept.cron.as_str(), kept.timezone.as_str()),
        ("30 3 * * 1-5", "America/New_York")
    );
}

async fn only_super_admins_reach_runs_and_schedules(backend: Backend) {
    let app = spawn_app_with(backend, quick_scheduler).await;
    let calls = [
        (Method::GET, "/integrations/connectwise/runs", None),
        (Method::POST, "/integrations/connectwise/runs", None),
        (Method::GET, "/integrations/connectwise/schedule", None),
        (
            Method::PUT,
            "/integrations/connectwise/schedule",
            Some(json!({"cron": "0 1 * * *", "timezone": "UTC"})),
        ),
    ];
    for role in [Role::MailAdmin, Role::Admin] {
        let token = app.sign_in_as(role).await;
        for (method, path, body) in &calls {
            let answer = app
                .operator_call(method.clone(), path, &token, body.as_ref())
                .await;
            assert_eq!(
                answer.status,
                StatusCode::FORBIDDEN,
                "{role:?} {method} {path}"
            );
        }
    }
    for (method, path, _) in &calls {
        let anonymous = app
            .client
            .request(method.clone(), app.url(&format!("/operator/api{path}")))
            .send()
            .await
            .unwrap();
        assert_eq!(
            anonymous.status(),
            StatusCode::UNAUTHORIZED,
            "{method} {path}"
        );
    }
    let admin = app.create_operator(Role::Admin).await;
    let console = app.console_sign_in(&admin).await;
    let page = console.get("/console/integrations/connectwise/runs").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(job_row(&app).await.run_requested_at.is_none());
}

async fn the_console_shows_the_history_and_runs_now(backend: Backend) {
    let app = spawn_app_with(backend, quick_scheduler).await;
    enable_integration(&app, "connectwise").await;
    let owner = app.create_operator(Role::SuperAdmin).await;
    let console = app.console_sign_in(&owner).await;
    let empty = console.get("/console/integrations/connectwise/runs").await;
    assert_eq!(empty.status, StatusCode::OK);
    assert!(empty.html.contains("No runs yet."), "{}", empty.html);

    let asked = console
        .post_form("/console/integrations/connectwise/runs", &[])
        .await;
    assert_eq!(asked.status, StatusCode::SEE_OTHER);
    let runs = wait_for_finished_runs(&app, 1).await;
    let page = console.get("/console/integrations/connectwise/runs").await;
    assert!(
        page.html
            .contains(&format!("data-run-id=\"{}\"", runs[0].id)),
        "{}",
        page.html
    );
    assert!(page.html.contains("manual"), "{}", page.html);

    let refused = console
        .post_form(
            "/console/integrations/connectwise/schedule",
            &[("cron", "0 2 * *"), ("timezone", "UTC")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.html.contains("id=\"problem\""), "{}", refused.html);
    assert!(
        refused.html.contains("value=\"0 2 * *\""),
        "the form keeps what was typed"
    );
    let saved = console
        .post_form(
            "/console/integrations/connectwise/schedule",
            &[("cron", "15 4 * * *"), ("timezone", "Europe/Athens")],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER);
    assert_eq!(job_row(&app).await.cron, "15 4 * * *");
}

async fn a_run_whose_instance_stopped_is_closed_when_its_lease_expires(backend: Backend) {
    let app = spawn_app_with(backend, |settings| {
        quick_scheduler(settings);
        settings.scheduler.enabled = false;
    })
    .await;
    enable_integration(&app, "connectwise").await;
    make_due(&app, chrono::Duration::minutes(1)).await;
    // An instance claims the job and stops mid-run: its run stays
    // "running" and its lease runs out.
    let claimed = app
        .with_store(|conn| {
            jobs::claim_due(
                conn,
                Utc::now(),
                "crashed-instance",
                Duration::from_millis(1),
                &|_| true,
            )
        })
        .await;
    assert_eq!(claimed.len(), 1);
    tokio::time::sleep(Duration::from_millis(20)).await;

    let survivor = spawn_instance_of(&app, quick_scheduler).await;
    let runs = wait_for_finished_runs(&survivor, 2).await;
    assert_eq!(runs.len(), 2, "{runs:#?}");
    let abandoned = runs
        .iter()
        .find(|run| run.id == claimed[0].run_id)
        .expect("the abandoned run");
    assert_eq!(abandoned.outcome, jobs::RunOutcome::Failed);
    assert_eq!(abandoned.error.as_deref(), Some(jobs::INSTANCE_STOPPED));
    assert_eq!(abandoned.instance, "crashed-instance");
    let rerun = runs.iter().find(|run| run.id != claimed[0].run_id).unwrap();
    assert_ne!(rerun.instance, "crashed-instance");
    assert!(rerun.finished_at.is_some());
}
