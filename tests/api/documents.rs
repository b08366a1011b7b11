//! Generated documents stay in step with the code, and are served.

use mailroom::domain::result_code::documentation_table;
use mailroom::http::openapi;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{spawn_app, spawn_app_with, Backend};

const OPENAPI_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");
const RESULT_CODES_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/result-codes.md");

/// Compares a committed file with its generated text; with
/// `UPDATE_SNAPSHOTS=1` rewrites the file instead.
fn assert_committed(path: &str, generated: &str, command: &str) {
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(path, generated).expect("write the snapshot");
        return;
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == generated,
        "{path} differs from the code. Regenerate it with `{command}` or `UPDATE_SNAPSHOTS=1 cargo test`."
    );
}

#[test]
fn openapi_document_is_committed() {
    assert_committed(
        OPENAPI_FILE,
        &openapi::document_json(),
        "cargo run -- openapi > openapi/openapi.json",
    );
}

#[test]
fn result_code_table_is_committed() {
    assert_committed(
        RESULT_CODES_FILE,
        &documentation_table(),
        "cargo run -- result-codes > docs/result-codes.md",
    );
}

async fn openapi_and_swagger_ui_are_served(backend: Backend) {
    let app = spawn_app(backend).await;
    let served: Value = app
        .client
        .get(app.url("/api-docs/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let committed: Value =
        serde_json::from_str(&std::fs::read_to_string(OPENAPI_FILE).unwrap()).unwrap();
    assert_eq!(served, committed);
    assert!(served["paths"]["/api/Accounts/Synchronize"]["post"].is_object());

    let page = app
        .client
        .get(app.url("/swagger-ui/"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("swagger-ui"));
    let landing = app.client.get(app.url("/")).send().await.unwrap();
    assert!(
        landing
            .text()
            .await
            .unwrap()
            .contains("href=\"/swagger-ui/\""),
        "the landing page leads to the API docs"
    );
}

async fn custom_prefix_moves_routes_and_document(backend: Backend) {
    let app = spawn_app_with(backend, |settings| {
        settings.route_prefix = "API/Example".into()
    })
    .await;
    let answer = crate::helpers::TestApp::send(
        app.request(reqwest::Method::GET, "/api/Example/Accounts/SyncOptions"),
    )
    .await;
    assert_eq!((answer.status, answer.code()), (StatusCode::OK, 0));
    let old = app
        .client
        .get(app.url("/api/Accounts/SyncOptions"))
        .send()
        .await
        .unwrap();
    assert_eq!(old.status(), StatusCode::NOT_FOUND);
    let served: Value = app
        .client
        .get(app.url("/api-docs/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(served["paths"]["/api/example/Accounts/Exists"]["post"].is_object());
}

async fn health_endpoints(backend: Backend) {
    let app = spawn_app(backend).await;
    let live: Value = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(live["status"], "ok");
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    let ready: Value = ready.json().await.unwrap();
    let expected = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    assert_eq!(
        ready,
        serde_json::json!({"status": "ready", "database": expected})
    );
}

crate::both_backends!(
    openapi_and_swagger_ui_are_served,
    custom_prefix_moves_routes_and_document,
    health_endpoints,
);
