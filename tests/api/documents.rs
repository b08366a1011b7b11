//! Generated documents stay in step with the code, and are served.

use mailroom::domain::result_code::documentation_table;
use mailroom::http::openapi;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{self, spawn_app, spawn_app_with, Backend};

const OPENAPI_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");
const RESULT_CODES_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/result-codes.md");

/// Compares a committed file with its generated text, and fails with a diff
/// when they differ. With `UPDATE_SNAPSHOTS` on (set, not `0`/`false`) it
/// rewrites the file instead and says so on standard error, past libtest's
/// capture; under CI that is refused, so CI always compares.
fn assert_committed(path: &str, generated: &str, command: &str) {
    let committed = std::fs::read_to_string(path).ok();
    if helpers::env_flag("UPDATE_SNAPSHOTS") {
        assert!(
            !helpers::in_ci(),
            "UPDATE_SNAPSHOTS is refused under CI: CI compares the committed {path} with the \
             code, it never rewrites it. Unset UPDATE_SNAPSHOTS (or CI, locally)."
        );
        if committed.as_deref() == Some(generated) {
            helpers::say_loudly(&format!("SNAPSHOT unchanged: {path}"));
        } else {
            write_atomically(path, generated);
            helpers::say_loudly(&format!(
                "SNAPSHOT UPDATED: {path} was rewritten from the code; review `git diff {path}`"
            ));
        }
        return;
    }
    let Some(committed) = committed else {
        panic!("{path} is missing. Generate it with `{command}` or `UPDATE_SNAPSHOTS=1 cargo test documents`.");
    };
    if committed != generated {
        let diff = similar::TextDiff::from_lines(&committed, generated)
            .unified_diff()
            .context_radius(2)
            .header(path, "generated from the code")
            .to_string();
        let shown: Vec<&str> = diff.lines().take(80).collect();
        let more = diff.lines().count().saturating_sub(shown.len());
        panic!(
            "{path} differs from the code. Regenerate it with `{command}` or \
             `UPDATE_SNAPSHOTS=1 cargo test documents`, and review the diff.\n{}{}",
            shown.join("\n"),
            if more > 0 {
                format!("\n… and {more} more lines")
            } else {
                String::new()
            }
        );
    }
}

/// Replaces `path` in one step, so that a test reading it meanwhile (the
/// served document is compared with it) sees the old or the new text.
fn write_atomically(path: &str, text: &str) {
    let target = std::path::Path::new(path);
    let folder = target.parent().expect("the snapshot's folder");
    let mut temporary = tempfile::NamedTempFile::new_in(folder).expect("a temporary file");
    std::io::Write::write_all(&mut temporary, text.as_bytes()).expect("write the snapshot");
    if let Ok(metadata) = std::fs::metadata(target) {
        // A temporary file is private; the snapshot keeps its own mode.
        let _ = temporary.as_file().set_permissions(metadata.permissions());
    }
    temporary.persist(target).expect("replace the snapshot");
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
