//! Writes audit entries in batches, off the request path.
//!
//! Handlers hand entries to a bounded queue; one task drains it and writes
//! whatever has accumulated in one transaction. When the writer falls
//! behind, the queue fills and callers wait: entries are delayed, not
//! dropped. Entries still queued when the process is killed are lost; a
//! graceful stop drains the queue first.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::store::audit::{insert_batch, NewAuditEntry};
use crate::store::Store;
use crate::telemetry::error_chain;

const QUEUE_CAPACITY: usize = 8192;
const MAX_BATCH: usize = 2000;
const MAX_ATTEMPTS: u32 = 8;

/// The sending side, cloned into every worker.
#[derive(Clone)]
pub struct AuditSink {
    sender: mpsc::Sender<NewAuditEntry>,
}

impl AuditSink {
    /// Queues an entry, waiting while the queue is full.
    pub async fn record(&self, entry: NewAuditEntry) {
        if self.sender.send(entry).await.is_err() {
            tracing::error!("the audit writer has stopped; an audit entry was not written");
        }
    }
}

/// Starts the writer. It stops once every [`AuditSink`] clone is dropped
/// and the queue is empty.
pub fn start(store: Store) -> (AuditSink, JoinHandle<()>) {
    let (sender, receiver) = mpsc::channel(QUEUE_CAPACITY);
    let handle = tokio::spawn(drain(store, receiver));
    (AuditSink { sender }, handle)
}

async fn drain(store: Store, mut receiver: mpsc::Receiver<NewAuditEntry>) {
    while let Some(first) = receiver.recv().await {
        let mut batch = Vec::with_capacity(64);
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(entry) => batch.push(entry),
                Err(_) => break,
            }
        }
        write(&store, Arc::new(batch)).await;
    }
}

async fn write(store: &Store, batch: Arc<Vec<NewAuditEntry>>) {
    let mut delay = Duration::from_millis(100);
    for attempt in 1..=MAX_ATTEMPTS {
        let entries = Arc::clone(&batch);
        match store.run(move |conn| insert_batch(conn, &entries)).await {
            Ok(()) => return,
            Err(error) if error.is_unavailable() && attempt < MAX_ATTEMPTS => {
                tracing::warn!(error = %error_chain(&error), attempt, "audit batch not written yet; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(error) => {
                tracing::error!(error = %error_chain(&error), entries = batch.len(), "audit batch could not be written");
                break;
            }
        }
    }
    // Keep what could not be stored in the log rather than nowhere.
    for entry in batch.iter() {
        tracing::error!(
            endpoint = %entry.endpoint,
            track_id = entry.track_id.as_deref().unwrap_or("-"),
            bss_account_id = entry.bss_account_id.as_deref().unwrap_or("-"),
            external_id = entry.external_id.as_deref().unwrap_or("-"),
            result_code = entry.result_code,
            "unwritten audit entry"
        );
    }
}
