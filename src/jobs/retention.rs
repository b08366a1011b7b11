//! Erases the personal data of deleted customers once their retention
//! period has passed (see `store::customers::erase_expired_tombstones`).
//! Every instance runs it; the erasing is one transaction per batch and
//! erasing twice changes nothing, so instances need no coordination.

use std::time::Duration;

use chrono::Utc;
use tokio::task::JoinHandle;

use crate::store::customers::erase_expired_tombstones;
use crate::store::Store;
use crate::telemetry::error_chain;

/// Tombstones erased per transaction.
const BATCH: i64 = 500;

/// How long personal data is kept, and how often the job looks.
#[derive(Debug, Clone, Copy)]
pub struct RetentionPolicy {
    pub keep_deleted_for: chrono::Duration,
    pub interval: Duration,
}

/// Starts the job; it runs until the task is aborted.
pub fn start(store: Store, policy: RetentionPolicy) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(policy.interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if let Err(error) = run_once(&store, policy).await {
                tracing::warn!(error = %error_chain(&error), "erasing expired tombstones failed; will try again");
            }
        }
    })
}

/// Erases every tombstone due now, a batch at a time.
pub async fn run_once(
    store: &Store,
    policy: RetentionPolicy,
) -> Result<usize, crate::store::StoreError> {
    let mut erased = 0;
    loop {
        let now = Utc::now().naive_utc();
        let deleted_before = now - policy.keep_deleted_for;
        let count = store
            .run(move |conn| erase_expired_tombstones(conn, deleted_before, now, BATCH))
            .await?;
        erased += count;
        if count < BATCH as usize {
            if erased > 0 {
                tracing::info!(erased, "erased the personal data of deleted customers");
            }
            return Ok(erased);
        }
    }
}
