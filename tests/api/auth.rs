//! Authentication of contract calls.

use std::time::{Duration, Instant};

use base64::Engine;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{account, spawn_app, spawn_app_with, Backend, Credentials, TestApp};

async fn refused_calls_get_401_with_a_result_body(backend: Backend) {
    let app = spawn_app(backend).await;
    let body = account("1", "auth.example");
    let cases = [
        ("no headers", None, None),
        ("no key", Some(app.app_id.clone()), None),
        (
            "wrong key",
            Some(app.app_id.clone()),
            Some("d3JvbmcgYnV0IHdlbGwtZm9ybWVk".to_owned()),
        ),
        (
            "unknown application",
            Some(uuid::Uuid::new_v4().to_string()),
            Some(app.api_key.clone()),
        ),
        (
            "not a uuid",
            Some("3000".to_owned()),
            Some(app.api_key.clone()),
        ),
        ("blank headers", Some(" ".to_owned()), Some(" ".to_owned())),
    ];
    for (case, app_id, key) in cases {
        let mut request = app
            .client
            .post(app.url("/api/Accounts/Synchronize"))
            .json(&body);
        if let Some(app_id) = app_id {
            request = request.header("X-CloudPlatform-ApplicationId", app_id);
        }
        if let Some(key) = key {
            request = request.header("X-CloudPlatform-APIKey", key);
        }
        let answer = TestApp::send(request).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{case}");
        assert_eq!(answer.code(), -4, "{case}");
        assert_eq!(
            answer.message(),
            "Missing or invalid X-CloudPlatform-ApplicationId or X-CloudPlatform-APIKey header.",
            "{case}"
        );
    }
    assert_eq!(app.with_store(mailroom::store::customers::count).await, 0);
    let options = TestApp::send(app.client.get(app.url("/api/Accounts/SyncOptions"))).await;
    assert_eq!(options.status, StatusCode::UNAUTHORIZED);
    let unsupported = TestApp::send(app.client.post(app.url("/api/Subscriptions/Create"))).await;
    assert_eq!(
        unsupported.status,
        StatusCode::UNAUTHORIZED,
        "unknown actions need credentials too"
    );
}

async fn key_is_accepted_as_issued_and_base64_encoded(backend: Backend) {
    let app = spawn_app(backend).await;
    let encoded = base64::engine::general_purpose::STANDARD.encode(app.api_key.as_bytes());
    let credentials = Credentials {
        app_id: app.app_id.to_uppercase(),
        key: encoded,
    };
    let answer = app
        .post_as(&credentials, "Accounts/Exists", &json!({"ID": "1"}))
        .await;
    assert_eq!(
        (answer.status, answer.code()),
        (StatusCode::OK, 0),
        "{:?}",
        answer.body
    );
}

async fn revoked_applications_are_refused(backend: Backend) {
    let app = spawn_app_with(backend, |settings| settings.cache_ttl_ms = 0).await;
    let second = app.second_application("to-revoke").await;
    assert_eq!(
        app.post_as(&second, "Accounts/Exists", &json!({}))
            .await
            .code(),
        0
    );
    let revoked = app
        .with_store(|conn| mailroom::store::applications::revoke(conn, "to-revoke"))
        .await
        .expect("revoked");
    assert!(revoked.revoked_at.is_some());
    let answer = app.post_as(&second, "Accounts/Exists", &json!({})).await;
    assert_eq!(
        (answer.status, answer.code()),
        (StatusCode::UNAUTHORIZED, -4)
    );
    // The first application is unaffected.
    assert_eq!(app.post("Accounts/Exists", &json!({})).await.code(), 0);
}

/// A key revoked by another process (the CLI, another instance: straight in
/// the database, so this app's cache is not told) is refused once the
/// cached row is older than `cache_ttl_ms`. Until then the cached row may
/// still let it in: the cache spares each call a database round trip.
async fn a_revocation_by_another_process_takes_effect_within_the_cache_ttl(backend: Backend) {
    const TTL: Duration = Duration::from_millis(1_500);
    let app = spawn_app_with(backend, |settings| {
        settings.cache_ttl_ms = TTL.as_millis() as u64
    })
    .await;
    let second = app.second_application("revoked-elsewhere").await;
    // The call that caches the application's row.
    let cached_from = Instant::now();
    let answer = app.post_as(&second, "Accounts/Exists", &json!({})).await;
    let cached_by = Instant::now();
    assert_eq!((answer.status, answer.code()), (StatusCode::OK, 0));

    let revoked = app
        .with_store(|conn| mailroom::store::applications::revoke(conn, "revoked-elsewhere"))
        .await
        .expect("revoked");
    assert!(revoked.revoked_at.is_some());
    let answer = app.post_as(&second, "Accounts/Exists", &json!({})).await;
    if cached_from.elapsed() < TTL {
        // The row was cached after `cached_from`, so it is still fresh.
        assert_eq!(
            (answer.status, answer.code()),
            (StatusCode::OK, 0),
            "served from the cache, with no database round trip"
        );
    }
    // Refused once the cached row is stale; a margin for a loaded machine.
    let deadline = cached_by + TTL + Duration::from_secs(2);
    loop {
        let answer = app.post_as(&second, "Accounts/Exists", &json!({})).await;
        if answer.status == StatusCode::UNAUTHORIZED {
            assert_eq!(answer.code(), -4);
            break;
        }
        assert_eq!((answer.status, answer.code()), (StatusCode::OK, 0));
        assert!(
            Instant::now() < deadline,
            "still accepted {:?} after the row was cached",
            cached_by.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The first application is unaffected.
    assert_eq!(app.post("Accounts/Exists", &json!({})).await.code(), 0);
}

crate::both_backends!(
    refused_calls_get_401_with_a_result_body,
    key_is_accepted_as_issued_and_base64_encoded,
    revoked_applications_are_refused,
    a_revocation_by_another_process_takes_effect_within_the_cache_ttl,
);
