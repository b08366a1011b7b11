//! The operator audit trail: a row for each operator action, in the
//! console and the API, with secrets masked; none for a refused action;
//! filters, paging and the CSV export.

use mailroom::domain::operator::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{account, console_login, Backend, TestApp, OPERATOR_PASSWORD};

both_backends!(
    each_action_is_recorded_once_with_secrets_masked,
    refused_actions_leave_no_row,
    the_trail_is_filtered_paged_and_exported
);

/// Every row of the trail, newest first, as the API answers them.
async fn trail(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let answer = app
        .operator_call(Method::GET, &format!("/audit{query}"), token, None)
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    answer.body["entries"].as_array().expect("entries").clone()
}

fn actions(rows: &[Value]) -> Vec<String> {
    rows.iter()
        .map(|row| row["action"].as_str().unwrap().to_owned())
        .collect()
}

fn text_between(text: &str, start: &str, end: &str) -> String {
    let from = text
        .find(start)
        .unwrap_or_else(|| panic!("no {start} in {text}"))
        + start.len();
    text[from..from + text[from..].find(end).expect("the end")].to_owned()
}

async fn each_action_is_recorded_once_with_secrets_masked(backend: Backend) {
    let app = crate::helpers::spawn_app(backend).await;
    let owner_email = app.create_operator(Role::SuperAdmin).await;
    // A failed sign-in (its password is never kept), then a good one.
    let wrong_password = "Not the password 42";
    let failed = TestApp::send(
        app.client
            .post(app.url("/operator/api/sessions"))
            .json(&json!({"email": owner_email, "password": wrong_password})),
    )
    .await;
    assert_eq!(failed.status, StatusCode::UNAUTHORIZED);
    let signed_in = TestApp::send(
        app.client
            .post(app.url("/operator/api/sessions"))
            .json(&json!({"email": owner_email, "password": OPERATOR_PASSWORD})),
    )
    .await;
    let token = signed_in.body["token"].as_str().unwrap().to_owned();

    // API actions: a template saved and restored, a plan created and edited.
    let template = app
        .operator_call(Method::GET, "/templates/access_instructions", &token, None)
        .await;
    let base = template.body["revision"].as_i64().unwrap();
    let saved = app
        .operator_call(
            Method::PUT,
            "/templates/access_instructions",
            &token,
            Some(&json!({
                "subject": "Welcome to [#Account.Name#]",
                "text_body": template.body["text_body"],
                "html_body": template.body["html_body"],
                "base_revision": base,
            })),
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{:?}", saved.body);
    let restored = app
        .operator_call(
            Method::POST,
            &format!("/templates/access_instructions/revisions/{base}/restore"),
            &token,
            None,
        )
        .await;
    assert_eq!(restored.status, StatusCode::OK, "{:?}", restored.body);
    let types = app
        .operator_call(Method::GET, "/product-types", &token, None)
        .await;
    let product_type = types.body[0]["id"].as_str().unwrap().to_owned();
    let plan = app
        .operator_call(
            Method::POST,
            "/plans",
            &token,
            Some(
                &json!({"product_type": product_type, "name": "Audited", "code": "AUD-1",
                "unit_price_minor": 100, "currency": "EUR", "billing_period_count": 1,
                "billing_period_unit": "months", "visible": true}),
            ),
        )
        .await;
    let plan_id = plan.body["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{:?}", plan.body));
    let edited = app
        .operator_call(
            Method::PATCH,
            &format!("/plans/{plan_id}"),
            &token,
            Some(&json!({"name": "Audited 2"})),
        )
        .await;
    assert_eq!(edited.status, StatusCode::OK, "{:?}", edited.body);

    // Console actions: a key created and revoked, a customer suspended and restored.
    let console = app.console_sign_in(&owner_email).await;
    let created = console
        .post_form("/console/keys", &[("name", "Audited BSS")])
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.html);
    let key = text_between(
        &created.html,
        "<code id=\"new-key\" class=\"secret\">",
        "</code>",
    );
    let app_id = text_between(
        &created.html,
        "<code id=\"new-app-id\" class=\"secret\">",
        "</code>",
    );
    let revoked = console
        .post_form(&format!("/console/keys/{app_id}/revoke"), &[])
        .await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER, "{}", revoked.html);
    let external_id = app
        .synchronize(&account("77", "audited.example"))
        .await
        .result()
        .to_owned();
    let customer = format!("/console/customers/{external_id}");
    for action in ["suspend", "restore"] {
        let done = console
            .post_form(&format!("{customer}/{action}"), &[])
            .await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
    }

    let rows = trail(&app, &token, "?limit=100").await;
    let mut recorded = actions(&rows);
    recorded.reverse();
    assert_eq!(
        recorded,
        [
            "sign_in_failed",
            "signed_in",
            "template_saved",
            "template_restored",
            "plan_created",
            "plan_edited",
            "signed_in",
            "key_created",
            "key_revoked",
            "customer_suspended",
            "customer_restored",
        ],
        "{rows:#?}"
    );
    for row in &rows {
        assert_eq!(row["operator"], owner_email.as_str());
        assert_eq!(row["source_address"], "127.0.0.1", "{row}");
    }
    let find = |action: &str| {
        rows.iter()
            .find(|row| row["action"] == action)
            .unwrap_or_else(|| panic!("no {action}"))
            .clone()
    };
    assert_eq!(find("sign_in_failed")["after"]["reason"], "wrong_password");
    assert_eq!(find("key_created")["target"], app_id.as_str());
    assert_eq!(find("key_created")["after"]["name"], "Audited BSS");
    assert_eq!(find("key_revoked")["target"], app_id.as_str());
    assert_eq!(find("customer_suspended")["target"], external_id.as_str());
    assert_eq!(find("template_restored")["after"]["restored_from"], base);
    assert_eq!(find("plan_edited")["target"], plan_id);
    assert_eq!(find("plan_edited")["after"]["name"], "Audited 2");
    // No secret is in any row.
    let everything = serde_json::to_string(&rows).unwrap();
    for secret in [
        key.as_str(),
        wrong_password,
        OPERATOR_PASSWORD,
        token.as_str(),
    ] {
        assert!(
            !everything.contains(secret),
            "{secret} leaked: {everything}"
        );
    }
}

async fn refused_actions_leave_no_row(backend: Backend) {
    let app = crate::helpers::spawn_app(backend).await;
    let token = app.sign_in_as(Role::SuperAdmin).await;
    let console = console_login(&app, Role::SuperAdmin).await;
    let before = trail(&app, &token, "").await.len();
    // A key that does not exist, a stale template edit, an invalid plan.
    let unknown = console
        .post_form(
            &format!("/console/keys/{}/revoke", uuid::Uuid::new_v4()),
            &[],
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let stale = app
        .operator_call(
            Method::PUT,
            "/templates/access_instructions",
            &token,
            Some(
                &json!({"subject": "x", "text_body": "x", "html_body": "x", "base_revision": 999}),
            ),
        )
        .await;
    assert_eq!(stale.status, StatusCode::CONFLICT, "{:?}", stale.body);
    let invalid = app
        .operator_call(
            Method::POST,
            "/plans",
            &token,
            Some(&json!({"product_type": "no-such-type", "name": ""})),
        )
        .await;
    assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY);
    // Retrying mail that is not there.
    let retry = app
        .operator_call(Method::POST, "/outbox/424242/retry", &token, None)
        .await;
    assert_eq!(retry.status, StatusCode::NOT_FOUND);
    let rows = trail(&app, &token, "").await;
    assert_eq!(rows.len(), before, "{rows:#?}");

    // Only a Super Admin reads the trail.
    let admin = app.sign_in_as(Role::Admin).await;
    let refused = app.operator_call(Method::GET, "/audit", &admin, None).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let admin_console = console_login(&app, Role::Admin).await;
    assert_eq!(
        admin_console.get("/console/audit").await.status,
        StatusCode::FORBIDDEN
    );
}

async fn the_trail_is_filtered_paged_and_exported(backend: Backend) {
    let app = crate::helpers::spawn_app(backend).await;
    let token = app.sign_in_as(Role::SuperAdmin).await;
    // Failed sign-ins of an address a spreadsheet would run as a formula.
    let formula = "=HYPERLINK(\"http://evil\")@ops.example";
    for _ in 0..3 {
        let failed = TestApp::send(
            app.client
                .post(app.url("/operator/api/sessions"))
                .json(&json!({"email": formula, "password": "x"})),
        )
        .await;
        assert_eq!(failed.status, StatusCode::UNAUTHORIZED);
    }
    let by_action = trail(&app, &token, "?action=sign_in_failed").await;
    assert_eq!(by_action.len(), 3);
    assert!(by_action
        .iter()
        .all(|row| row["after"]["reason"] == "unknown_email"));
    let by_operator = trail(
        &app,
        &token,
        &format!("?operator={}", urlencode(&formula.to_uppercase())),
    )
    .await;
    assert_eq!(by_operator.len(), 3, "the operator filter ignores case");
    let today = chrono::Utc::now().date_naive();
    let tomorrow = today + chrono::Duration::days(1);
    assert_eq!(
        trail(&app, &token, &format!("?from={today}&until={today}"))
            .await
            .len(),
        4
    );
    assert!(trail(&app, &token, &format!("?from={tomorrow}"))
        .await
        .is_empty());
    let bad = app
        .operator_call(Method::GET, "/audit?action=dropped", &token, None)
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);

    // Pages of two, newest first, without overlap.
    let first = app
        .operator_call(Method::GET, "/audit?limit=2", &token, None)
        .await;
    let next = first.body["next_before"].as_i64().expect("a next page");
    let second = app
        .operator_call(
            Method::GET,
            &format!("/audit?limit=2&before={next}"),
            &token,
            None,
        )
        .await;
    let ids: Vec<i64> = first.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second.body["entries"].as_array().unwrap())
        .map(|row| row["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), 4);
    assert!(ids.windows(2).all(|pair| pair[0] > pair[1]), "{ids:?}");
    assert!(second.body["next_before"].is_null());

    // The console page and its CSV, with the same filter.
    let console = console_login(&app, Role::SuperAdmin).await;
    let page = console.get("/console/audit?action=sign_in_failed").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert_eq!(
        page.html.matches("data-action=\"sign_in_failed\"").count(),
        3
    );
    // Handlebars writes `=` in attributes as `&#x3D;`.
    assert!(page
        .html
        .contains("href=\"/console/audit.csv?action&#x3D;sign_in_failed\""));
    let csv = console
        .get("/console/audit.csv?action=sign_in_failed")
        .await;
    assert_eq!(csv.status, StatusCode::OK);
    let mut reader = csv::Reader::from_reader(csv.html.as_bytes());
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), 3, "{}", csv.html);
    for record in &records {
        assert_eq!(&record[3], "sign_in_failed");
        assert_eq!(
            &record[2],
            format!("'{}", formula.to_lowercase()),
            "formula guarded"
        );
    }
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}
