//! The operator API's subscriptions: the filtered, paged list, one with its
//! history, a customer's, and who may read them. Subscriptions are made the
//! way a BSS makes them, through `Subscriptions/*` calls.

use mailroom::domain::operator::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{account, spawn_app, Backend, TestApp};

both_backends!(
    operators_list_and_filter_subscriptions,
    a_subscription_shows_its_history,
    a_customer_lists_its_subscriptions,
    reading_subscriptions_needs_a_session
);

/// A customer synchronized with `name`; returns its ExternalID.
pub(crate) async fn customer(app: &TestApp, id: &str, domain: &str, name: &str) -> String {
    let mut body = account(id, domain);
    body["Name"] = json!(name);
    let answer = app.synchronize(&body).await;
    assert_eq!(answer.code(), 0, "{}", answer.body);
    answer.result().to_owned()
}

/// A `Subscriptions/Create` as the BSS sends it, of `product_id` (a new
/// ProductID records a plan named `plan_name`).
pub(crate) fn create_body(
    external_id: &str,
    subscription_id: &str,
    product_id: &str,
    plan_name: &str,
    quantity: i64,
) -> Value {
    json!({
        "ID": "",
        "SubscriptionID": subscription_id,
        "Name": plan_name,
        "ServiceType": "hosted_mailbox",
        "ProductID": product_id,
        "ActionType": "Provision",
        "Quantity": quantity,
        "Status": "Active",
        "Account": {"ID": "", "ExternalID": external_id, "Name": "Customer"},
        "AttributeList": {
            "storage_gb": {"ID": "storage_gb", "Name": "Storage", "Value": "50", "QuantityLinked": true, "DataType": 1},
            "mailbox_type": {"ID": "mailbox_type", "Name": "Mailbox type", "Value": "business", "QuantityLinked": false, "DataType": 0}
        },
        "BillingCycle": {"Duration": "1", "DurationType": "Months"},
        "AllowMultipleSubscriptions": true, "CheckOnly": false,
        "ExtraDetails": {}
    })
}

/// Calls a contract action that must succeed; returns its Result.
pub(crate) async fn contract_ok(app: &TestApp, action: &str, body: &Value) -> String {
    let answer = app.post(action, body).await;
    assert_eq!(answer.code(), 0, "{action}: {}", answer.body);
    answer.result().to_owned()
}

/// Creates a subscription; returns our id.
pub(crate) async fn subscribe(
    app: &TestApp,
    external_id: &str,
    subscription_id: &str,
    product_id: &str,
    plan_name: &str,
    quantity: i64,
) -> String {
    contract_ok(
        app,
        "Subscriptions/Create",
        &create_body(
            external_id,
            subscription_id,
            product_id,
            plan_name,
            quantity,
        ),
    )
    .await
}

/// Sets a subscription's source in its row: only partner platforms (to
/// come) create subscriptions of other sources.
pub(crate) async fn set_source(app: &TestApp, public_id: &str, source: &'static str) {
    use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
    use mailroom::store::schema::subscriptions;
    let public_id = public_id.to_owned();
    let updated = app
        .with_store(move |conn| {
            Ok(
                diesel::update(subscriptions::table.filter(subscriptions::public_id.eq(public_id)))
                    .set(subscriptions::source.eq(source))
                    .execute(conn)?,
            )
        })
        .await;
    assert_eq!(updated, 1);
}

/// The public id of the plan recorded for `product_id`.
pub(crate) async fn plan_of(app: &TestApp, product_id: &str) -> String {
    let product_id = product_id.to_owned();
    app.with_store(mailroom::store::catalog::plans)
        .await
        .into_iter()
        .find(|p| p.product_id.as_deref() == Some(product_id.as_str()))
        .expect("a recorded plan")
        .public_id
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("a page: {page}"))
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn list(app: &TestApp, token: &str, query: &str) -> Value {
    let answer = app
        .operator_call(Method::GET, &format!("/subscriptions{query}"), token, None)
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{query}: {:?}", answer.body);
    answer.body
}

async fn operators_list_and_filter_subscriptions(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.sign_in_as(Role::MailAdmin).await;
    let acme = customer(&app, "7001", "acme-subs.example", "Acme").await;
    let globex = customer(&app, "7002", "globex-subs.example", "Globex").await;
    let a1 = subscribe(&app, &acme, "S-1", "P-BIZ", "Business", 10).await;
    let a2 = subscribe(&app, &acme, "S-2", "P-BASIC", "Basic", 3).await;
    let g1 = subscribe(&app, &globex, "S-3", "P-BIZ", "Business", 7).await;
    let g2 = subscribe(&app, &globex, "S-4", "P-BASIC", "Basic", 1).await;
    contract_ok(&app, "Subscriptions/Suspend", &json!({"ID": a2})).await;
    contract_ok(&app, "Subscriptions/Cancel", &json!({"ID": g2})).await;
    set_source(&app, &g1, "distributor").await;
    let business = plan_of(&app, "P-BIZ").await;

    // Everything, newest first, with its customer and plan.
    let all = list(&app, &token, "").await;
    assert_eq!(ids(&all), [g2.clone(), g1.clone(), a2.clone(), a1.clone()]);
    assert_eq!(all["total"], 4);
    assert_eq!(all["page"], 1);
    let first = &all["items"][3];
    assert_eq!(first["customer"]["external_id"], acme.as_str());
    assert_eq!(first["customer"]["name"], "Acme");
    assert_eq!(first["plan"]["id"], business.as_str());
    assert_eq!(first["plan"]["name"], "Business");
    assert_eq!(first["quantity"], 10);
    assert_eq!(first["status"], "active");
    assert_eq!(first["source"], "bss");
    assert_eq!(first["bss_subscription_id"], "S-1");
    assert_eq!(first["product_type"], "hosted_mailbox");

    // Each filter, and filters together.
    let by_plan = list(&app, &token, &format!("?plan={business}")).await;
    assert_eq!(ids(&by_plan), [g1.clone(), a1.clone()]);
    assert_eq!(by_plan["total"], 2);
    assert_eq!(
        ids(&list(&app, &token, "?status=suspended").await),
        [a2.as_str()]
    );
    assert_eq!(
        ids(&list(&app, &token, "?status=cancelled").await),
        [g2.as_str()]
    );
    assert_eq!(
        ids(&list(&app, &token, "?source=distributor").await),
        [g1.as_str()]
    );
    assert_eq!(
        ids(&list(&app, &token, &format!("?customer={acme}")).await),
        [a2.clone(), a1.clone()]
    );
    assert_eq!(
        ids(&list(
            &app,
            &token,
            &format!("?customer={globex}&status=active&plan={business}")
        )
        .await),
        [g1.as_str()]
    );
    let none = list(&app, &token, "?source=console").await;
    assert_eq!(none["total"], 0);
    assert!(ids(&none).is_empty());
    // Blank filters are no filters.
    assert_eq!(
        list(&app, &token, "?status=&source=&plan=").await["total"],
        4
    );

    // Paging: pages of 3, the total on each; past the end is empty.
    let page1 = list(&app, &token, "?per_page=3").await;
    let page2 = list(&app, &token, "?per_page=3&page=2").await;
    assert_eq!(ids(&page1), [g2.clone(), g1.clone(), a2.clone()]);
    assert_eq!(ids(&page2), [a1.as_str()]);
    assert_eq!(page2["total"], 4);
    assert_eq!(page2["per_page"], 3);
    assert!(ids(&list(&app, &token, "?per_page=3&page=3").await).is_empty());
    // Out-of-range sizes are clamped.
    assert_eq!(list(&app, &token, "?per_page=0").await["per_page"], 1);
    assert_eq!(
        list(&app, &token, "?per_page=100000").await["per_page"],
        500
    );

    // A filter that names nothing is refused with what it accepts.
    for query in ["?status=paused", "?source=partner"] {
        let refused = app
            .operator_call(Method::GET, &format!("/subscriptions{query}"), &token, None)
            .await;
        assert_eq!(
            refused.status,
            StatusCode::BAD_REQUEST,
            "{:?}",
            refused.body
        );
        let message = refused.body["message"].as_str().unwrap();
        assert!(message.contains("There is no"), "{message}");
    }
    let not_a_number = app
        .operator_call(Method::GET, "/subscriptions?page=two", &token, None)
        .await;
    assert_eq!(not_a_number.status, StatusCode::BAD_REQUEST);
}

async fn a_subscription_shows_its_history(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.sign_in_as(Role::MailAdmin).await;
    let cus = customer(&app, "7101", "history-subs.example", "Historic").await;
    let sub = subscribe(&app, &cus, "H-1", "P-BIZ", "Business", 5).await;
    // More seats, then another plan (a new ProductID), then suspended.
    let mut update = create_body(&cus, "H-1", "P-BIZ", "Business", 8);
    update["ID"] = json!(sub);
    contract_ok(&app, "Subscriptions/Update", &update).await;
    let mut downgrade = create_body(&cus, "H-1", "P-BASIC", "Basic", 8);
    downgrade["ID"] = json!(sub);
    contract_ok(&app, "Subscriptions/UpgradeDowngrade", &downgrade).await;
    contract_ok(&app, "Subscriptions/Suspend", &json!({"ID": sub})).await;
    let business = plan_of(&app, "P-BIZ").await;
    let basic = plan_of(&app, "P-BASIC").await;

    let answer = app
        .operator_call(Method::GET, &format!("/subscriptions/{sub}"), &token, None)
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    let detail = answer.body;
    assert_eq!(detail["id"], sub.as_str());
    assert_eq!(detail["status"], "suspended");
    assert_eq!(detail["quantity"], 8);
    assert_eq!(detail["plan"]["id"], basic.as_str());
    let history = detail["history"].as_array().unwrap();
    let kinds: Vec<&str> = history
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["created", "quantity", "plan", "status"],
        "{history:?}"
    );
    assert_eq!(history[0]["new_quantity"], 5);
    assert!(history[0]["old_quantity"].is_null());
    assert_eq!(history[1]["old_quantity"], 5);
    assert_eq!(history[1]["new_quantity"], 8);
    assert_eq!(history[2]["old_plan"]["id"], business.as_str());
    assert_eq!(history[2]["old_plan"]["name"], "Business");
    assert_eq!(history[2]["new_plan"]["id"], basic.as_str());
    assert_eq!(history[3]["old_status"], "active");
    assert_eq!(history[3]["new_status"], "suspended");
    assert!(history.iter().all(|c| c["source"] == "bss"));

    let missing = app
        .operator_call(Method::GET, "/subscriptions/sub_nothing", &token, None)
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{:?}", missing.body);
}

async fn a_customer_lists_its_subscriptions(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.sign_in_as(Role::MailAdmin).await;
    let acme = customer(&app, "7201", "acme-own.example", "Acme").await;
    let other = customer(&app, "7202", "other-own.example", "Other").await;
    let empty = customer(&app, "7203", "empty-own.example", "Empty").await;
    let s1 = subscribe(&app, &acme, "C-1", "P-BIZ", "Business", 2).await;
    let s2 = subscribe(&app, &acme, "C-2", "P-BASIC", "Basic", 4).await;
    subscribe(&app, &other, "C-3", "P-BIZ", "Business", 9).await;
    let mut update = create_body(&acme, "C-1", "P-BIZ", "Business", 3);
    update["ID"] = json!(s1);
    contract_ok(&app, "Subscriptions/Update", &update).await;

    let answer = app
        .operator_call(
            Method::GET,
            &format!("/customers/{acme}/subscriptions"),
            &token,
            None,
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    let list = answer.body.as_array().unwrap().clone();
    let listed: Vec<&str> = list.iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(listed, [s2.as_str(), s1.as_str()]);
    // Each with its own history only.
    assert_eq!(list[0]["history"].as_array().unwrap().len(), 1);
    let history = list[1]["history"].as_array().unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[1]["kind"], "quantity");
    assert_eq!(history[1]["new_quantity"], 3);

    let none = app
        .operator_call(
            Method::GET,
            &format!("/customers/{empty}/subscriptions"),
            &token,
            None,
        )
        .await;
    assert_eq!(none.status, StatusCode::OK);
    assert_eq!(none.body, json!([]));
    let missing = app
        .operator_call(
            Method::GET,
            "/customers/cus_nobody/subscriptions",
            &token,
            None,
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{:?}", missing.body);
}

async fn reading_subscriptions_needs_a_session(backend: Backend) {
    let app = spawn_app(backend).await;
    for path in [
        "/operator/api/subscriptions",
        "/operator/api/subscriptions/sub_x",
        "/operator/api/customers/cus_x/subscriptions",
    ] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    // Every role reads them.
    for role in Role::ALL {
        let token = app.sign_in_as(role).await;
        let answer = app
            .operator_call(Method::GET, "/subscriptions", &token, None)
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{role:?}");
    }
}
