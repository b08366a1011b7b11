//! Every contract call lands in the audit log.

use std::time::{Duration, Instant};

use mailroom::store::audit::{self, AuditEntry};
use serde_json::json;

use crate::helpers::{account, spawn_app, Backend, TestApp};

/// Entries are written in batches off the request path: wait for them.
async fn audit_entries(app: &TestApp, at_least: usize) -> Vec<AuditEntry> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let entries = app.with_store(|conn| audit::recent(conn, None, 100)).await;
        if entries.len() >= at_least {
            return entries;
        }
        assert!(
            Instant::now() < deadline,
            "fewer than {at_least} audit entries were written: {entries:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn contract_calls_are_audited_with_secrets_masked(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut body = account("77", "audit.example");
    body["RandomPassword"] = json!("s3cr3t-value");
    let response = app
        .request(reqwest::Method::POST, "/API/accounts/synchronize")
        .header("X-CloudPlatform-TrackId", "track-audit-1")
        .json(&body)
        .send()
        .await
        .unwrap();
    let created: serde_json::Value = response.json().await.unwrap();
    let external_id = created["Result"].as_str().unwrap().to_owned();
    app.post("Accounts/Exists", &json!({"ExternalID": external_id}))
        .await;
    let refused = app
        .client
        .post(app.url("/api/Accounts/Delete"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);

    let entries = audit_entries(&app, 3).await;
    let sync = entries
        .iter()
        .find(|e| e.endpoint == "Accounts/Synchronize")
        .expect("synchronize audited");
    assert_eq!(sync.track_id.as_deref(), Some("track-audit-1"));
    assert_eq!(sync.bss_account_id.as_deref(), Some("77"));
    assert_eq!(sync.external_id.as_deref(), Some(external_id.as_str()));
    assert_eq!((sync.result_code, sync.http_status), (0, 200));
    let app_id = app.app_id.clone();
    let application = app
        .with_store(move |conn| mailroom::store::applications::find_by_app_id(conn, &app_id))
        .await
        .expect("the calling application");
    assert_eq!(sync.application_id, Some(application.id));
    assert!(sync.duration_us > 0);
    let logged = sync.request_body.as_deref().unwrap();
    assert!(!logged.contains("s3cr3t-value"), "{logged}");
    assert!(logged.contains("\"RandomPassword\":\"***\""), "{logged}");
    assert!(logged.contains("audit.example"));

    let exists = entries
        .iter()
        .find(|e| e.endpoint == "Accounts/Exists")
        .unwrap();
    assert_eq!(
        (exists.result_code, exists.external_id.as_deref()),
        (1, Some(external_id.as_str()))
    );
    let refusal = entries
        .iter()
        .find(|e| e.endpoint == "Accounts/Delete")
        .unwrap();
    assert_eq!(
        (
            refusal.result_code,
            refusal.http_status,
            refusal.application_id
        ),
        (-4, 401, None)
    );

    let for_customer = app
        .with_store(move |conn| audit::recent(conn, Some(&external_id), 10))
        .await;
    assert_eq!(
        for_customer.len(),
        2,
        "the customer's trail: Synchronize and Exists"
    );
}

crate::both_backends!(contract_calls_are_audited_with_secrets_masked);
