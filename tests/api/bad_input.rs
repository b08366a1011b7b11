//! Bad input: a clear 4xx (or storefront) answer, nothing stored, and the
//! service keeps serving.

use futures::stream;
use mailroom::store::customers;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{account, spawn_app, spawn_app_with, Backend, TestApp};

async fn raw(
    app: &TestApp,
    action: &str,
    body: impl Into<reqwest::Body>,
) -> crate::helpers::Answer {
    TestApp::send(
        app.request(reqwest::Method::POST, &format!("/api/{action}"))
            .header("Content-Type", "application/json")
            .body(body),
    )
    .await
}

/// A body that is not JSON is a transport-level failure (HTTP 400, -9);
/// JSON that is not an account is a business outcome (HTTP 200, -2), which
/// the BSS reads and shows to its staff.
async fn malformed_bodies_get_400(backend: Backend) {
    let app = spawn_app(backend).await;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "truncated",
            br#"{"ID": "1", "Name": "#.to_vec(),
            "The request body is not valid JSON",
        ),
        ("empty", Vec::new(), "The request body is not valid JSON"),
        (
            "not JSON",
            b"ID=1&Name=x".to_vec(),
            "The request body is not valid JSON",
        ),
        (
            "invalid UTF-8",
            b"{\"Name\": \"\xff\xfe\"}".to_vec(),
            "The request body is not valid JSON",
        ),
        (
            "an array",
            b"[1, 2]".to_vec(),
            "The request body does not fit",
        ),
        (
            "a string",
            b"\"hello\"".to_vec(),
            "The request body does not fit",
        ),
        (
            "trailing garbage",
            br#"{"ID": "1"} {"ID": "2"}"#.to_vec(),
            "The request body is not valid JSON",
        ),
    ];
    for action in ["Accounts/Synchronize", "Accounts/Exists", "Accounts/Delete"] {
        for (case, body, message) in &cases {
            let answer = raw(&app, action, body.clone()).await;
            let expected = if message.starts_with("The request body is not valid JSON") {
                (StatusCode::BAD_REQUEST, -9)
            } else {
                (StatusCode::OK, -2)
            };
            assert_eq!(
                (answer.status, answer.code()),
                expected,
                "{action} {case}: {:?}",
                answer.body
            );
            assert!(
                answer.message().starts_with(message),
                "{action} {case}: {}",
                answer.message()
            );
        }
    }
    app.assert_serving().await;
}

async fn wrong_types_name_the_field(backend: Backend) {
    let app = spawn_app(backend).await;
    let cases = [
        (
            json!({"ID": "1", "Name": 5}),
            "Field Name: invalid type: integer `5`, expected a string.",
        ),
        (
            json!({"ID": 3000, "Name": "x"}),
            "Field ID: invalid type: integer `3000`, expected a string.",
        ),
        (
            json!({"ID": "1", "ContactDetails": "Pat"}),
            "Field ContactDetails: invalid type: string \"Pat\", expected struct ContactDetails.",
        ),
        (
            json!({"ID": "1", "Address": {"State": ["CA"]}}),
            "Field Address.State: invalid type: sequence, expected struct Region.",
        ),
        (
            json!({"ID": "1", "IsTest": "yes"}),
            "Field IsTest: invalid type: string \"yes\", expected a boolean.",
        ),
        (
            json!({"ID": "1", "SyncOptions": ["domain"]}),
            "Field SyncOptions: invalid type: sequence, expected a map.",
        ),
        (
            json!({"ID": "1", "ExtraDetails": 5}),
            "Field ExtraDetails: invalid type: integer `5`, expected a map.",
        ),
        (
            json!({"ID": "1", "Name": "x", "SyncOptions": {"domain": {"name": "a.example"}}}),
            "SyncOptions.domain must be text, a number, a boolean or a list of those.",
        ),
    ];
    for (body, message) in cases {
        let answer = app.post("Accounts/Synchronize", &body).await;
        assert_eq!(
            (answer.status, answer.code()),
            (StatusCode::OK, -2),
            "{body}"
        );
        assert_eq!(answer.message(), message, "{body}");
    }
    assert_eq!(app.with_store(customers::count).await, 0);
}

async fn nulls_anywhere(backend: Backend) {
    let app = spawn_app(backend).await;
    let all_null = json!({
        "ID": null, "ExternalID": null, "ResellerID": null, "ResellerExternalID": null, "Name": null,
        "Code": null, "Phone": null, "Fax": null, "WebSite": null, "Email": null, "Description": null,
        "ExtraDetails": null, "SyncOptions": null, "ContactDetails": null, "Address": null, "IsTest": null
    });
    let answer = app.post("Accounts/Synchronize", &all_null).await;
    assert_eq!((answer.status, answer.code()), (StatusCode::OK, -2));
    assert_eq!(answer.message(), "ID (the BSS account id) is required.");
    let answer = app.post("Accounts/Exists", &all_null).await;
    assert_eq!((answer.status, answer.code()), (StatusCode::OK, 0));
    let answer = app.post("Accounts/Delete", &all_null).await;
    assert_eq!((answer.status, answer.code()), (StatusCode::OK, -2));

    let mut only_id = all_null.clone();
    only_id["ID"] = json!("1");
    let answer = app.post("Accounts/Synchronize", &only_id).await;
    assert_eq!((answer.status, answer.code()), (StatusCode::OK, -80001));

    // Nulls inside nested objects and maps are fine.
    let mut nested = account("2", "nulls.example");
    nested["ContactDetails"] = json!({"ID": null, "FirstName": null, "LastName": "Solo", "Phone": null, "Fax": null, "Email": null});
    nested["Address"] =
        json!({"Address1": null, "State": null, "Country": {"Code": null, "Name": "Greece"}});
    nested["SyncOptions"]["role"] = Value::Null;
    nested["ExtraDetails"] = json!({"empty": null});
    app.synchronize(&nested).await;
    app.assert_serving().await;
}

async fn oversized_bodies_get_413(backend: Backend) {
    let app = spawn_app_with(backend, |settings| settings.body_limit_bytes = 64 * 1024).await;
    let mut huge = account("1", "huge.example");
    huge["Description"] = json!("x".repeat(100 * 1024));
    let answer = app.post("Accounts/Synchronize", &huge).await;
    assert_eq!(
        (answer.status, answer.code()),
        (StatusCode::PAYLOAD_TOO_LARGE, -3)
    );
    assert_eq!(
        answer.message(),
        "The request body is larger than 65536 bytes."
    );

    // Without a Content-Length (chunked), the limit holds while reading.
    let text = serde_json::to_vec(&huge).unwrap();
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        text.chunks(8192).map(|c| Ok(c.to_vec())).collect();
    let answer = raw(
        &app,
        "Accounts/Synchronize",
        reqwest::Body::wrap_stream(stream::iter(chunks)),
    )
    .await;
    assert_eq!(
        (answer.status, answer.code()),
        (StatusCode::PAYLOAD_TOO_LARGE, -3)
    );
    assert_eq!(app.with_store(customers::count).await, 0);
    app.assert_serving().await;
}

async fn huge_strings_under_the_limit_are_storefront_errors(backend: Backend) {
    let app = spawn_app(backend).await;
    for field in ["Name", "Code", "Phone", "WebSite", "Description"] {
        let mut body = account("1", "long.example");
        body[field] = json!("é".repeat(50_000));
        let answer = app.post("Accounts/Synchronize", &body).await;
        assert_eq!(
            (answer.status, answer.code()),
            (StatusCode::OK, -80002),
            "{field}"
        );
    }
    let mut contact = account("1", "long.example");
    contact["ContactDetails"]["LastName"] = json!("z".repeat(10_000));
    let answer = app.post("Accounts/Synchronize", &contact).await;
    assert_eq!(
        answer.message(),
        "The contact's last name is too long: use at most 100 characters."
    );
    let mut long_id = account("1", "long.example");
    long_id["ID"] = json!("9".repeat(5_000));
    let answer = app.post("Accounts/Synchronize", &long_id).await;
    assert_eq!((answer.status, answer.code()), (StatusCode::OK, -2));
    assert_eq!(app.with_store(customers::count).await, 0);
}

async fn unicode_and_control_characters(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut body = account("1", "bücher.example");
    body["Name"] = json!("Ελληνική Εταιρεία 株式会社 🚀");
    body["Email"] = json!("info@xn--bcher-kva.example");
    body["ContactDetails"] =
        json!({"FirstName": "Zoë", "LastName": "Łukasiewicz-Ñúñez", "Email": "zoe@example.com"});
    body["Description"] = json!("Line one\nLine two\tand a tab");
    body["ExtraDetails"] = json!({"note": "kept \u{0} as sent", "emoji": "📬"});
    let created = app.synchronize(&body).await;
    assert_eq!(
        created.body["AccountExtraInfo"]["domain"],
        "xn--bcher-kva.example"
    );
    let external_id = created.result().to_owned();
    let details = app
        .with_store(move |conn| customers::load_details(conn, &external_id))
        .await
        .unwrap();
    assert_eq!(details.customer.name, "Ελληνική Εταιρεία 株式会社 🚀");
    assert_eq!(
        details.contact.unwrap().last_name.as_deref(),
        Some("Łukasiewicz-Ñúñez")
    );
    let extra: Value = serde_json::from_str(&details.customer.extra_details).unwrap();
    assert_eq!(extra["note"], "kept \u{0} as sent");
    let exists = app
        .post(
            "Accounts/Exists",
            &json!({"SyncOptions": {"domain": "BÜCHER.example"}}),
        )
        .await;
    assert_eq!((exists.code(), exists.result()), (1, created.result()));

    for (field, value, code) in [
        ("Name", "nul\u{0}byte", -80003),
        ("Phone", "tab\there", -80003),
        ("Description", "bell\u{7}", -80003),
    ] {
        let mut bad = account("2", "control.example");
        bad[field] = json!(value);
        let answer = app.post("Accounts/Synchronize", &bad).await;
        assert_eq!(
            (answer.status, answer.code()),
            (StatusCode::OK, code),
            "{field}"
        );
    }
    let mut bad_option = account("2", "control.example");
    bad_option["SyncOptions"]["username"] = json!("user\u{0}name");
    assert_eq!(
        app.post("Accounts/Synchronize", &bad_option).await.code(),
        -80003
    );
    let mut bad_id = account("2\u{0}", "control.example");
    bad_id["Name"] = json!("fine");
    let answer = app.post("Accounts/Synchronize", &bad_id).await;
    assert_eq!((answer.status, answer.code()), (StatusCode::OK, -2));
    assert_eq!(app.with_store(customers::count).await, 1);
    app.assert_serving().await;
}

async fn sql_looking_text_is_just_text(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut body = account("1'; DROP TABLE customers; --", "sql.example");
    body["Name"] = json!("Robert'); DROP TABLE customers;--");
    body["Description"] = json!("\" OR 1=1 --");
    body["SyncOptions"]["username"] = json!("o'neil");
    let created = app.synchronize(&body).await;
    let external_id = created.result().to_owned();
    let details = app
        .with_store(move |conn| customers::load_details(conn, &external_id))
        .await
        .unwrap();
    assert_eq!(details.customer.name, "Robert'); DROP TABLE customers;--");
    assert_eq!(
        details.customer.bss_account_id.as_deref(),
        Some("1'; DROP TABLE customers; --")
    );

    let mut bad_domain = account("2", "x.com'; DROP TABLE customers; --");
    bad_domain["Email"] = json!("dba@sql.example");
    bad_domain["ContactDetails"]["Email"] = json!("dba@sql.example");
    bad_domain["SyncOptions"]["username"] = json!("dba");
    let answer = app.post("Accounts/Synchronize", &bad_domain).await;
    assert_eq!(answer.code(), -80020);
    let answer = app
        .post("Accounts/Exists", &json!({"ExternalID": "' OR '1'='1"}))
        .await;
    assert_eq!(answer.code(), 0);
    assert_eq!(app.with_store(customers::count).await, 1);
    let again = app.synchronize(&body).await;
    assert_eq!(again.result(), created.result());
}

crate::both_backends!(
    malformed_bodies_get_400,
    wrong_types_name_the_field,
    nulls_anywhere,
    oversized_bodies_get_413,
    huge_strings_under_the_limit_are_storefront_errors,
    unicode_and_control_characters,
    sql_looking_text_is_just_text,
);
