//! Keeps the dashboard's customer counts small to read: every minute, the
//! status deltas the customers' triggers appended are folded into
//! `customer_status_counts` (see `store::dashboard`). Every instance runs
//! it; a fold is one transaction and two folds at once cannot count a delta
//! twice, so instances need no coordination.

use std::time::Duration;

use tokio::task::JoinHandle;

use crate::store::dashboard::fold_customer_status_deltas;
use crate::store::Store;
use crate::telemetry::error_chain;

/// How often the deltas are folded.
pub const FOLD_INTERVAL: Duration = Duration::from_secs(60);

/// Starts the job; it runs until the task is aborted.
pub fn start(store: Store) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(FOLD_INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match store.run(fold_customer_status_deltas).await {
                Ok(0) => {}
                Ok(folded) => tracing::debug!(folded, "customer status deltas folded"),
                Err(error) => {
                    tracing::warn!(error = %error_chain(&error), "folding customer status deltas failed; will try again")
                }
            }
        }
    })
}
