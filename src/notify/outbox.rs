//! The outbox handle: queues mail in the store and wakes this instance's
//! delivery worker, so that no caller forgets the second half.

use std::sync::Arc;

use tokio::sync::Notify;

use crate::domain::template::ACCESS_INSTRUCTIONS;
use crate::store::activation::{self, ResendCustomer, ResendOutcome};
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

    /// Queues a new access mail (a new activation link) for a customer who
    /// has not activated, expiring every earlier link; see
    /// [`activation::resend_access_mail`].
    pub async fn send_new_activation_link(
        &self,
        customer: ResendCustomer,
        not_within: Option<chrono::Duration>,
    ) -> Result<ResendOutcome, StoreError> {
        let outcome = self
            .store
            .run(move |conn| {
                activation::resend_access_mail(conn, &customer, ACCESS_INSTRUCTIONS, not_within)
            })
            .await?;
        if matches!(outcome, ResendOutcome::Queued { .. }) {
            self.wake_worker();
        }
        Ok(outcome)
    }
}
