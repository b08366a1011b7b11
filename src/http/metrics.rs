//! `GET /metrics`: Prometheus (OpenMetrics text) for the whole service.

use actix_web::{web, HttpResponse};

use super::error::ServerError;
use crate::store::Store;
use crate::telemetry::metrics::{Metrics, CONTENT_TYPE};

/// Counters of this instance, and what the database and pool hold now.
#[utoipa::path(get, path = "/metrics", tag = "Health",
    responses(
        (status = 200, description = "Metrics in the OpenMetrics text format: contract calls by \
            endpoint and result code with their durations, outbox depth and the wait of its \
            oldest due mail, job runs by outcome, database pool use.",
            content_type = "application/openmetrics-text", body = String),
        (status = 500, description = "The metrics could not be read (logged)."),
        (status = 503, description = "The database does not answer.")))]
pub async fn scrape(metrics: web::Data<Metrics>, store: web::Data<Store>) -> HttpResponse {
    match store.metrics_snapshot().await {
        Ok(snapshot) => HttpResponse::Ok()
            .content_type(CONTENT_TYPE)
            .insert_header(("Cache-Control", "no-store"))
            .body(metrics.render(&snapshot)),
        Err(error) => {
            let error = ServerError::from(error);
            error.log();
            HttpResponse::build(error.status()).finish()
        }
    }
}
