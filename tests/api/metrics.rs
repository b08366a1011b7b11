//! `GET /metrics`: contract calls counted by endpoint and result code with
//! their durations, the outbox and the pool as they are at scrape time.

use std::collections::BTreeMap;

use reqwest::{header, StatusCode};
use serde_json::json;

use crate::both_backends;
use crate::helpers::{account, spawn_app, spawn_app_with, Backend, TestApp};

/// Each sample of a scrape: `name{labels}` → value.
async fn scrape(app: &TestApp) -> BTreeMap<String, f64> {
    let answer = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    assert!(answer.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let text = answer.text().await.unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .map(|line| {
            let (name, value) = line.rsplit_once(' ').expect("a sample line");
            (name.to_owned(), value.parse().expect("a number"))
        })
        .collect()
}

fn sample(samples: &BTreeMap<String, f64>, name: &str) -> f64 {
    *samples
        .get(name)
        .unwrap_or_else(|| panic!("{name} missing from {samples:#?}"))
}

async fn contract_calls_are_counted_by_endpoint_and_code(backend: Backend) {
    // An SMTP server nobody listens on: the access mail stays in the outbox.
    let app = spawn_app_with(backend, |settings| {
        settings.mail.smtp = Some(mailroom::config::SmtpSettings {
            host: "127.0.0.1".into(),
            port: 9,
            tls: mailroom::config::SmtpTls::None,
            username: None,
            password: None,
        });
    })
    .await;
    let created = app.synchronize(&account("m1", "metrics.example")).await;
    for _ in 0..2 {
        let answer = app
            .post("Accounts/Exists", &json!({"ExternalID": created.result()}))
            .await;
        assert_eq!(answer.code(), 1);
    }
    let missing = app
        .post(
            "Accounts/Exists",
            &json!({"ExternalID": "no-such-customer"}),
        )
        .await;
    let missing_code = missing.code();
    app.post("Accounts/NoSuchAction", &json!({})).await;

    let samples = scrape(&app).await;
    let calls = |endpoint: &str, code: i64| {
        sample(
            &samples,
            &format!(r#"mailroom_contract_calls_total{{endpoint="{endpoint}",code="{code}"}}"#),
        )
    };
    assert_eq!(calls("Accounts/Synchronize", 0), 1.0);
    assert_eq!(calls("Accounts/Exists", 1), 2.0);
    assert_eq!(calls("Accounts/Exists", missing_code), 1.0);
    assert_eq!(calls("other", -1), 1.0);
    assert_eq!(
        sample(
            &samples,
            r#"mailroom_contract_call_duration_seconds_count{endpoint="Accounts/Exists"}"#
        ),
        3.0
    );
    assert!(
        sample(
            &samples,
            r#"mailroom_contract_call_duration_seconds_sum{endpoint="Accounts/Exists"}"#
        ) > 0.0
    );
    // The one access mail is waiting for its next attempt or has failed.
    let mails = |status: &str| {
        samples
            .get(&format!(r#"mailroom_outbox_mails{{status="{status}"}}"#))
            .copied()
            .unwrap_or(0.0)
    };
    assert_eq!(mails("queued") + mails("failed"), 1.0);
    assert!(sample(&samples, "mailroom_outbox_oldest_due_seconds") >= 0.0);
    let open = sample(&samples, "mailroom_db_pool_connections");
    assert!(open >= 1.0);
    assert!(sample(&samples, "mailroom_db_pool_idle_connections") <= open);
    assert_eq!(sample(&samples, "mailroom_db_pool_max_connections"), 8.0);

    // Counters only grow.
    app.post("Accounts/Exists", &json!({"ExternalID": created.result()}))
        .await;
    let again = scrape(&app).await;
    assert_eq!(
        sample(
            &again,
            r#"mailroom_contract_calls_total{endpoint="Accounts/Exists",code="1"}"#
        ),
        3.0
    );
}

async fn metrics_can_be_turned_off(backend: Backend) {
    let app = spawn_app_with(backend, |settings| settings.metrics_enabled = false).await;
    let answer = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::NOT_FOUND);
    let on = spawn_app(backend).await;
    assert!(scrape(&on)
        .await
        .contains_key("mailroom_db_pool_max_connections"));
}

both_backends!(
    contract_calls_are_counted_by_endpoint_and_code,
    metrics_can_be_turned_off
);
