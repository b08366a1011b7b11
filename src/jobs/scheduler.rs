//! Runs the integrations' scheduled jobs. Every instance runs a scheduler;
//! each tick claims the due jobs (a lease in the database, so exactly one
//! instance runs a job at a time, see `store::jobs`) and runs each on the
//! runtime, never on a request's path, renewing its lease while it runs.
//! How a run ended is recorded with its counts and failed items; a transient
//! failure is retried with backoff.

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tracing::Instrument;

use crate::config::SchedulerSettings;
use crate::domain::schedule::Schedule;
use crate::integrations::SettingValues;
use crate::integrations::{connectwise, IntegrationError, IntegrationKind, RunReport};
use crate::store::jobs::{self, ClaimedRun, RetryPolicy, RunResult};
use crate::store::{integrations, Store, StoreError};
use crate::telemetry::error_chain;

/// The future of one run of a job.
pub type RunFuture = Pin<Box<dyn Future<Output = Result<RunReport, IntegrationError>> + Send>>;

/// Runs a job once: the store, the integration's settings (secrets opened)
/// and the run's start.
pub type Runner = fn(Store, SettingValues, chrono::DateTime<Utc>) -> RunFuture;

/// A job the scheduler knows: its name (`scheduled_jobs.name`), the
/// integration it belongs to (not run while that is disabled), its default
/// schedule and how to run it.
#[derive(Clone, Copy)]
pub struct JobDefinition {
    pub name: &'static str,
    pub kind: IntegrationKind,
    pub default_cron: &'static str,
    pub run: Runner,
}

/// Every scheduled job.
pub fn registry() -> Vec<JobDefinition> {
    vec![JobDefinition {
        name: connectwise::QUANTITY_SYNC_JOB,
        kind: IntegrationKind::ConnectWise,
        default_cron: connectwise::QUANTITY_SYNC_DEFAULT_CRON,
        run: |store, settings, now| {
            Box::pin(async move { connectwise::run_quantity_sync(&store, &settings, now).await })
        },
    }]
}

/// The job of an integration, by its kind.
pub fn job_of(kind: IntegrationKind) -> Option<JobDefinition> {
    registry().into_iter().find(|job| job.kind == kind)
}

/// The future of an integration's settings, loaded for a run.
pub type SettingsFuture =
    Pin<Box<dyn Future<Output = Result<SettingValues, IntegrationError>> + Send>>;

/// Loads an integration's settings, secrets opened (the integrations'
/// settings service).
pub type SettingsLoader = Arc<dyn Fn(IntegrationKind) -> SettingsFuture + Send + Sync>;

/// The scheduler's timing, from [`SchedulerSettings`].
#[derive(Debug, Clone)]
pub struct Timing {
    pub tick: Duration,
    pub lease: Duration,
    pub retry: RetryPolicy,
}

impl From<&SchedulerSettings> for Timing {
    fn from(settings: &SchedulerSettings) -> Self {
        Self {
            tick: Duration::from_millis(settings.tick_interval_ms),
            lease: Duration::from_secs(settings.lease_secs),
            retry: RetryPolicy {
                max_attempts: settings.max_attempts,
                backoff_base: Duration::from_millis(settings.backoff_base_ms),
                backoff_cap: Duration::from_millis(settings.backoff_cap_ms),
            },
        }
    }
}

/// Adds every registered job that is not stored yet, with its default
/// schedule read in `timezone` (an edited schedule is kept). Run at start on
/// every instance, whether or not it runs the scheduler.
pub async fn register_jobs(store: &Store, timezone: &str) -> Result<(), StoreError> {
    let definitions: Vec<(&'static str, Schedule)> = registry()
        .into_iter()
        .map(|job| {
            let schedule = Schedule::parse(job.default_cron, timezone).map_err(|error| {
                StoreError::corrupt_because(format!("the default schedule of {}", job.name), error)
            })?;
            Ok((job.name, schedule))
        })
        .collect::<Result<_, StoreError>>()?;
    store
        .run(move |conn| {
            let now = Utc::now();
            for (name, schedule) in &definitions {
                jobs::ensure_job(conn, name, schedule, now)?;
            }
            Ok(())
        })
        .await
}

struct Scheduler {
    store: Store,
    settings: SettingsLoader,
    timing: Timing,
    jobs: Vec<JobDefinition>,
    /// Identifies this instance's leases and runs.
    instance: String,
}

/// Starts the scheduler; it stops when `shutdown` turns true, after the
/// runs in hand are recorded (a run cut short is retried).
pub fn start(
    store: Store,
    settings: SettingsLoader,
    timing: Timing,
    shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let scheduler = Scheduler {
        store,
        settings,
        timing,
        jobs: registry(),
        instance: format!("scheduler-{}", uuid::Uuid::new_v4().simple()),
    };
    tokio::spawn(scheduler.run(shutdown))
}

impl Scheduler {
    async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let scheduler = Arc::new(self);
        tracing::info!(instance = %scheduler.instance, "scheduler started");
        let mut running = JoinSet::new();
        while !*shutdown.borrow() {
            while running.try_join_next().is_some() {}
            match scheduler.claim().await {
                Ok(claimed) => {
                    for run in claimed {
                        let scheduler = Arc::clone(&scheduler);
                        let stop = shutdown.clone();
                        running.spawn(async move { scheduler.execute(run, stop).await });
                    }
                }
                Err(error) => {
                    tracing::warn!(error = %error_chain(&error), "claiming due jobs failed; will try again")
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(scheduler.timing.tick) => {}
                _ = shutdown.changed() => {}
            }
        }
        while running.join_next().await.is_some() {}
        tracing::info!("scheduler stopped");
    }

    async fn claim(&self) -> Result<Vec<ClaimedRun>, StoreError> {
        let instance = self.instance.clone();
        let lease = self.timing.lease;
        let jobs: Vec<(&'static str, &'static str)> = self
            .jobs
            .iter()
            .map(|job| (job.name, job.kind.key()))
            .collect();
        self.store
            .run(move |conn| {
                let enabled: BTreeSet<String> =
                    integrations::enabled_kinds(conn)?.into_iter().collect();
                let runnable = |name: &str| {
                    jobs.iter()
                        .any(|(job, kind)| *job == name && enabled.contains(*kind))
                };
                jobs::claim_due(conn, Utc::now(), &instance, lease, &runnable)
            })
            .await
    }

    async fn execute(&self, run: ClaimedRun, shutdown: watch::Receiver<bool>) {
        let span = tracing::info_span!(
            "job_run",
            run_id = run.run_id,
            job = %run.job_name,
            trigger = run.trigger.as_str(),
            attempt = run.attempt
        );
        self.execute_in_span(run, shutdown).instrument(span).await
    }

    async fn execute_in_span(&self, run: ClaimedRun, mut shutdown: watch::Receiver<bool>) {
        tracing::info!("job run started");
        let Some(job) = self
            .jobs
            .iter()
            .find(|job| job.name == run.job_name)
            .copied()
        else {
            return;
        };
        let work = async {
            let settings = (self.settings)(job.kind).await?;
            (job.run)(self.store.clone(), settings, Utc::now()).await
        };
        let result = tokio::select! {
            result = work => Some(result),
            lost = self.keep_lease(&run.job_name) => {
                let _: () = lost;
                tracing::warn!("the job's lease was lost to another instance; run abandoned");
                None
            }
            _ = shutdown.changed() => Some(Err(IntegrationError::Unavailable {
                platform: "Mailroom",
                message: "the instance stopped during the run".to_owned(),
            })),
        };
        let result = match result {
            None => return,
            Some(Ok(report)) => {
                tracing::info!(counts = ?report.counts, failures = report.failures.len(), "job run completed");
                RunResult::Completed {
                    counts: report.counts,
                    failures: report
                        .failures
                        .into_iter()
                        .map(|failure| (failure.item, failure.reason))
                        .collect(),
                }
            }
            Some(Err(error)) => {
                let transient = error.is_transient();
                tracing::warn!(error = %error_chain(&error), transient, "job run failed");
                RunResult::Failed {
                    error: error.to_string(),
                    transient,
                }
            }
        };
        let (instance, retry) = (self.instance.clone(), self.timing.retry);
        match self
            .store
            .run(move |conn| jobs::finish(conn, &run, &instance, &result, retry, Utc::now()))
            .await
        {
            Ok(next_run_at) => tracing::info!(%next_run_at, "job run recorded"),
            Err(error) => {
                // The lease runs out and the run is closed as failed by
                // whichever instance claims the job next.
                tracing::error!(error = %error_chain(&error), "cannot record the job run")
            }
        }
    }

    /// Renews the job's lease every third of it; returns when the lease is
    /// lost (another instance took the job).
    async fn keep_lease(&self, job_name: &str) {
        let every = self.timing.lease / 3;
        loop {
            tokio::time::sleep(every).await;
            let (name, instance, lease) = (
                job_name.to_owned(),
                self.instance.clone(),
                self.timing.lease,
            );
            match self
                .store
                .run(move |conn| jobs::renew_lease(conn, &name, &instance, lease, Utc::now()))
                .await
            {
                Ok(true) => {}
                Ok(false) => return,
                Err(error) => {
                    tracing::warn!(error = %error_chain(&error), "renewing the job's lease failed; will try again")
                }
            }
        }
    }
}
