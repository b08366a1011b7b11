//! The outbox handle: queues mail in the store and wakes this instance's
//! delivery worker, so that no caller forgets the second half.

use std::sync::Arc;

use tokio::sync::Notify;

use crate::store::outbox::{self, OutboxRow, RetryOutcome};
use crate::store::{Store, StoreError};

/// Mail waiting to go out. Cheap to clone.
#[derive(Clone)]
pub struct Outbox {
    store: Store,
    wake: Arc<Notify>,
}

impl Outbox {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            wake: Arc::new(Notify::new()),
        }
    }

    /// Tells the delivery worker that mail is due now. Mail queued inside
    /// another unit of work (a new customer's, in its own transaction) is
    /// announced with this once that work has committed.
    pub fn wake_worker(&self) {
        self.wake.notify_one();
    }

    /// What the delivery worker waits on between rounds.
    pub fn wake_signal(&self) -> Arc<Notify> {
        Arc::clone(&self.wake)
    }

    /// Queues a test mail of a template to an address.
    pub async fn queue_test(
        &self,
        template_name: String,
        recipient: String,
    ) -> Result<OutboxRow, StoreError> {
        let row = self
            .store
            .run(move |conn| outbox::queue_test(conn, &template_name, &recipient))
            .await?;
        self.wake_worker();
        Ok(row)
    }

    /// Queues a failed or cancelled mail again (an operator's retry).
    pub async fn retry(&self, id: i64) -> Result<RetryOutcome, StoreError> {
        let outcome = self.store.run(move |conn| outbox::retry(conn, id)).await?;
        if matches!(outcome, RetryOutcome::Queued(_)) {
            self.wake_worker();
        }
        Ok(outcome)
    }
}
