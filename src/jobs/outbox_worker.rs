//! Delivers the outbox. Each round claims due mail with a lease (so several
//! instances over one database share the work and never send a mail twice),
//! renders it, sends it and records the outcome. A failed attempt is tried
//! again after an exponentially growing delay; a mail whose worker died is
//! taken up again when its lease runs out.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use rand::Rng;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::notify::mailer::{compose, Mailer};
use crate::notify::{Notifier, Preparation};
use crate::store::outbox::{self, OutboxRow};
use crate::store::{Store, StoreError};
use crate::telemetry::error_chain;

#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub from: String,
    pub poll_interval: Duration,
    pub retry_base: Duration,
    pub retry_max: Duration,
    pub max_attempts: i32,
    /// How long a claimed mail stays this worker's; longer than any send.
    pub lease: Duration,
}

const BATCH: i64 = 20;

pub struct OutboxWorker {
    store: Store,
    notifier: Arc<Notifier>,
    mailer: Mailer,
    settings: WorkerSettings,
    /// Identifies this worker's leases.
    owner: String,
}

/// Starts the worker; it stops when `shutdown` turns true, after the mail
/// in hand.
pub fn start(
    store: Store,
    notifier: Arc<Notifier>,
    mailer: Mailer,
    settings: WorkerSettings,
    wakeup: Arc<Notify>,
    shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let worker = OutboxWorker {
        store,
        notifier,
        mailer,
        settings,
        owner: format!("worker-{}", uuid::Uuid::new_v4().simple()),
    };
    tracing::info!(
        transport = worker.mailer.describe(),
        "outbox worker started"
    );
    tokio::spawn(worker.run(wakeup, shutdown))
}

impl OutboxWorker {
    async fn run(self, wakeup: Arc<Notify>, mut shutdown: watch::Receiver<bool>) {
        let mut failures = 0u32;
        while !*shutdown.borrow() {
            let pause = match self.round(&shutdown).await {
                // More may be due at once.
                Ok(handled) if handled as i64 == BATCH => continue,
                Ok(_) => {
                    failures = 0;
                    self.settings.poll_interval
                }
                Err(error) => {
                    failures += 1;
                    tracing::warn!(error = %error_chain(&error), "outbox round failed; will try again");
                    (self.settings.poll_interval * failures.min(10)).min(Duration::from_secs(60))
                }
            };
            tokio::select! {
                _ = wakeup.notified() => {}
                _ = tokio::time::sleep(pause) => {}
                _ = shutdown.changed() => {}
            }
        }
        tracing::info!("outbox worker stopped");
    }

    /// Claims due mail and handles it; returns how many.
    async fn round(&self, shutdown: &watch::Receiver<bool>) -> Result<usize, StoreError> {
        let owner = self.owner.clone();
        let lease_until = Utc::now().naive_utc()
            + chrono::Duration::from_std(self.settings.lease).unwrap_or(chrono::Duration::MAX);
        let claimed = self
            .store
            .run(move |conn| outbox::claim_due(conn, &owner, lease_until, BATCH))
            .await?;
        let count = claimed.len();
        for row in claimed {
            if *shutdown.borrow() {
                // Unsent claims become due again when their lease ends.
                break;
            }
            self.deliver(row).await?;
        }
        Ok(count)
    }

    async fn deliver(&self, row: OutboxRow) -> Result<(), StoreError> {
        let span =
            tracing::info_span!("deliver", outbox_id = row.id, template = %row.template_name);
        self.deliver_in_span(row).instrument(span).await
    }

    async fn deliver_in_span(&self, row: OutboxRow) -> Result<(), StoreError> {
        let prepared = match self.notifier.prepare(&row).await {
            Ok(preparation) => preparation,
            Err(error) if error.is_transient() => {
                return self.record_failure(&row, &error_chain(&error), true).await
            }
            Err(error) => Preparation::Fail(error_chain(&error)),
        };
        let mail = match prepared {
            Preparation::Send(mail) => mail,
            Preparation::Cancel(reason) => {
                tracing::info!(%reason, "mail cancelled");
                let (id, owner) = (row.id, self.owner.clone());
                return self
                    .store
                    .run(move |conn| outbox::cancel(conn, id, &owner, &reason))
                    .await;
            }
            Preparation::Fail(reason) => return self.record_failure(&row, &reason, false).await,
        };
        let message_id = message_id(&row, &self.settings.from);
        let message = match compose(
            &self.settings.from,
            &mail.recipient,
            &message_id,
            &mail.rendered,
        ) {
            Ok(message) => message,
            Err(error) => return self.record_failure(&row, &error_chain(&error), false).await,
        };
        match self.mailer.send(message).await {
            Ok(()) => {
                tracing::info!(attempt = row.attempts + 1, "mail sent");
                let (id, owner) = (row.id, self.owner.clone());
                let subject = mail.rendered.subject;
                self.store
                    .run(move |conn| {
                        outbox::record_sent(
                            conn,
                            id,
                            &owner,
                            &mail.recipient,
                            &subject,
                            &message_id,
                        )
                    })
                    .await
            }
            Err(failure) => {
                self.record_failure(&row, &failure.message, !failure.permanent)
                    .await
            }
        }
    }

    async fn record_failure(
        &self,
        row: &OutboxRow,
        reason: &str,
        transient: bool,
    ) -> Result<(), StoreError> {
        let attempts = row.attempts + 1;
        let retry_at = (transient && attempts < self.settings.max_attempts).then(|| {
            Utc::now().naive_utc()
                + chrono::Duration::from_std(self.retry_delay(row.attempts))
                    .unwrap_or(chrono::Duration::MAX)
        });
        match retry_at {
            Some(at) => {
                tracing::warn!(attempt = attempts, %reason, retry_at = %at, "mail not sent yet")
            }
            None => {
                tracing::error!(attempt = attempts, %reason, "mail failed; an operator may retry it")
            }
        }
        let (id, owner, reason) = (row.id, self.owner.clone(), reason.to_owned());
        self.store
            .run(move |conn| outbox::record_failure(conn, id, &owner, &reason, retry_at))
            .await
    }

    fn retry_delay(&self, previous_attempts: i32) -> Duration {
        retry_delay(
            self.settings.retry_base,
            self.settings.retry_max,
            previous_attempts,
        )
    }
}

/// How much of the nominal delay a retry waits: up to 20 % less, drawn
/// afresh each time, so that many mails failing together do not all come
/// back at the same moment, and never more, so `retry_max` is a real bound.
const JITTER: std::ops::RangeInclusive<f64> = 0.8..=1.0;

/// The delay before the next attempt after `previous_attempts` failed ones,
/// with a random jitter.
fn retry_delay(base: Duration, max: Duration, previous_attempts: i32) -> Duration {
    backoff(
        base,
        max,
        previous_attempts,
        rand::thread_rng().gen_range(JITTER),
    )
}

/// `base · 2^previous_attempts`, capped at `max`, times `jitter` (in [`JITTER`]).
fn backoff(base: Duration, max: Duration, previous_attempts: i32, jitter: f64) -> Duration {
    let exponent = previous_attempts.clamp(0, 20) as u32;
    base.saturating_mul(2u32.saturating_pow(exponent))
        .min(max)
        .mul_f64(jitter.clamp(*JITTER.start(), *JITTER.end()))
}

/// Stable for a mail across attempts, so a receiver can spot the duplicate
/// a crash between sending and recording might cause.
fn message_id(row: &OutboxRow, from: &str) -> String {
    let domain = from
        .rsplit_once('@')
        .map(|(_, domain)| domain.trim_end_matches('>').trim())
        .filter(|domain| !domain.is_empty())
        .unwrap_or("mailroom.invalid");
    format!(
        "<mailroom.{}.{}@{domain}>",
        row.id,
        row.created_at.and_utc().timestamp()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: Duration = Duration::from_secs(10);
    const MAX: Duration = Duration::from_secs(3600);

    fn secs(values: &[u64]) -> Vec<Duration> {
        values.iter().map(|&s| Duration::from_secs(s)).collect()
    }

    #[test]
    fn retry_delays_double_from_the_base_and_stop_at_the_max() {
        let nominal: Vec<_> = (0..13).map(|n| backoff(BASE, MAX, n, 1.0)).collect();
        assert_eq!(
            nominal,
            secs(&[10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600, 3600, 3600])
        );
        // Far past the largest exponent, and a count that cannot be, stay sane.
        assert_eq!(backoff(BASE, MAX, i32::MAX, 1.0), MAX);
        assert_eq!(backoff(BASE, MAX, -1, 1.0), BASE);
        // A max below the base wins.
        assert_eq!(
            backoff(BASE, Duration::from_secs(3), 0, 1.0),
            Duration::from_secs(3)
        );
        // The jitter takes up to a fifth off, and never adds.
        assert_eq!(backoff(BASE, MAX, 0, 0.8), Duration::from_secs(8));
        assert_eq!(backoff(BASE, MAX, 12, 0.8), Duration::from_secs(2880));
        assert_eq!(backoff(BASE, MAX, 12, 1.5), MAX);
        assert_eq!(backoff(BASE, MAX, 1, 0.1), Duration::from_secs(16));
    }

    #[test]
    fn drawn_retry_delays_stay_within_the_jitter_and_spread() {
        for attempts in 0..14 {
            let nominal = backoff(BASE, MAX, attempts, 1.0);
            let drawn: Vec<_> = (0..200).map(|_| retry_delay(BASE, MAX, attempts)).collect();
            for delay in &drawn {
                assert!(
                    *delay <= nominal && *delay >= nominal.mul_f64(0.8),
                    "attempt {attempts}: {delay:?} outside [0.8, 1] x {nominal:?}"
                );
                assert!(*delay <= MAX);
            }
            let distinct: std::collections::HashSet<_> = drawn.iter().collect();
            assert!(distinct.len() > 100, "attempt {attempts}: {distinct:?}");
        }
    }
}
