//! Liveness and readiness, unauthenticated.

use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use crate::store::Store;

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok`, `ready` or `unavailable`.
    pub status: &'static str,
    /// The database backend, on readiness.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<&'static str>,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "Health",
    responses((status = 200, description = "Up.", body = Health, example = json!({"status": "ok"}))))]
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok",
        database: None,
    })
}

/// The database answers.
#[utoipa::path(get, path = "/readyz", tag = "Health",
    responses(
        (status = 200, description = "Ready.", body = Health, example = json!({"status": "ready", "database": "sqlite"})),
        (status = 503, description = "The database does not answer.", body = Health,
            example = json!({"status": "unavailable", "database": "postgres"}))))]
pub async fn ready(store: web::Data<Store>) -> HttpResponse {
    let database = Some(store.backend_name());
    if store.is_ready().await {
        HttpResponse::Ok().json(Health {
            status: "ready",
            database,
        })
    } else {
        HttpResponse::ServiceUnavailable().json(Health {
            status: "unavailable",
            database,
        })
    }
}
