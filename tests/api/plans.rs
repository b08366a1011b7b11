//! Plans: operators create, change and deprecate them by role; a BSS call
//! naming an unknown ProductID records one plan, however many arrive at once.

use std::collections::BTreeMap;

use mailroom::domain::operator::Role;
use mailroom::store::catalog::{self, RecordedPlan};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::both_backends;
use crate::helpers::{console_login, spawn_app, Backend, TestApp};

both_backends!(
    operators_manage_plans_by_role,
    an_unknown_product_id_records_one_plan,
    the_console_lists_plans_and_product_types,
    operators_add_and_edit_product_types
);

async fn operators_manage_plans_by_role(backend: Backend) {
    let app = spawn_app(backend).await;
    let mail_admin = app.sign_in_as(Role::MailAdmin).await;
    let admin = app.sign_in_as(Role::Admin).await;
    let super_admin = app.sign_in_as(Role::SuperAdmin).await;

    // Every role reads the catalog.
    let types = app
        .operator_call(Method::GET, "/product-types", &mail_admin, None)
        .await;
    assert_eq!(types.status, StatusCode::OK, "{:?}", types.body);
    let mailbox = types
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "hosted_mailbox");
    let storage = &mailbox.expect("the seeded type")["attributes"][0];
    assert_eq!(storage["id"], "storage_gb");
    assert_eq!(storage["linked_to_quantity"], true);

    let plan = json!({"product_type": "hosted_mailbox", "name": "Mailbox 50", "code": "MBX-50",
        "attribute_values": {"storage_gb": "50", "mailbox_type": "business"},
        "unit_price_minor": 499, "currency": "eur", "billing_period_count": 1,
        "billing_period_unit": "months", "visible": true});
    // A Mail Admin cannot create one.
    let refused = app
        .operator_call(Method::POST, "/plans", &mail_admin, Some(&plan))
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{:?}", refused.body);
    assert_eq!(refused.body["error"], "forbidden");

    let created = app
        .operator_call(Method::POST, "/plans", &admin, Some(&plan))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("plan_"), "{id}");
    assert_eq!(created.body["currency"], "EUR");
    assert_eq!(created.body["unit_price_minor"], 499);
    assert_eq!(created.body["billing_period_unit"], "months");
    assert_eq!(created.body["source"], "console");
    assert_eq!(created.body["deprecated"], false);

    // Each rule is checked; every problem is named.
    let mut broken = plan.clone();
    broken["unit_price_minor"] = json!(-5);
    broken["currency"] = json!("EURO");
    broken["billing_period_unit"] = json!("weeks");
    let invalid = app
        .operator_call(Method::POST, "/plans", &admin, Some(&broken))
        .await;
    assert_eq!(
        invalid.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        invalid.body
    );
    let message = invalid.body["message"].as_str().unwrap();
    for expected in [
        "The unit price cannot be negative.",
        "The currency \"EURO\" is not a three-letter ISO 4217 code.",
        "The billing period unit \"weeks\" is not days, months or years.",
    ] {
        assert!(message.contains(expected), "{expected:?} in {message:?}");
    }
    let mut unknown_type = plan.clone();
    unknown_type["product_type"] = json!("fax_machine");
    let invalid = app
        .operator_call(Method::POST, "/plans", &admin, Some(&unknown_type))
        .await;
    assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Changes: a Mail Admin may not, an Admin and a Super Admin may.
    let path = format!("/plans/{id}");
    let refused = app
        .operator_call(
            Method::PATCH,
            &path,
            &mail_admin,
            Some(&json!({"deprecated": true})),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let repriced = app
        .operator_call(
            Method::PATCH,
            &path,
            &admin,
            Some(&json!({"unit_price_minor": 599})),
        )
        .await;
    assert_eq!(repriced.status, StatusCode::OK, "{:?}", repriced.body);
    assert_eq!(repriced.body["unit_price_minor"], 599);
    assert_eq!(repriced.body["name"], "Mailbox 50", "the rest is kept");
    let negative = app
        .operator_call(
            Method::PATCH,
            &path,
            &admin,
            Some(&json!({"unit_price_minor": -1})),
        )
        .await;
    assert_eq!(negative.status, StatusCode::UNPROCESSABLE_ENTITY);
    let deprecated = app
        .operator_call(
            Method::PATCH,
            &path,
            &super_admin,
            Some(&json!({"deprecated": true})),
        )
        .await;
    assert_eq!(deprecated.status, StatusCode::OK, "{:?}", deprecated.body);
    assert_eq!(deprecated.body["deprecated"], true);

    let listed = app
        .operator_call(Method::GET, "/plans", &mail_admin, None)
        .await;
    assert_eq!(listed.status, StatusCode::OK);
    let plans = listed.body.as_array().unwrap();
    assert_eq!(plans.len(), 1, "{plans:?}");
    assert_eq!(plans[0]["id"], id.as_str());
    assert_eq!(plans[0]["deprecated"], true);
    assert_eq!(plans[0]["unit_price_minor"], 599);
    let one = app
        .operator_call(Method::GET, &path, &mail_admin, None)
        .await;
    assert_eq!(one.body, plans[0]);
    let missing = app
        .operator_call(
            Method::PATCH,
            "/plans/plan_nope",
            &admin,
            Some(&json!({"visible": false})),
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    // Anonymous callers are refused.
    let anonymous = TestApp::send(app.client.get(app.url("/operator/api/plans"))).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}

async fn application_row_id(app: &TestApp, app_id: &str) -> i64 {
    let app_id = app_id.to_owned();
    app.with_store(move |conn| mailroom::store::applications::find_by_app_id(conn, &app_id))
        .await
        .expect("the application")
        .id
}

async fn an_unknown_product_id_records_one_plan(backend: Backend) {
    let app = spawn_app(backend).await;
    let application = application_row_id(&app, &app.app_id).await;
    let attributes: BTreeMap<String, String> = [
        ("storage_gb".to_owned(), "25".to_owned()),
        ("not_declared".to_owned(), "x".to_owned()),
    ]
    .into();

    // Ten calls at once for one BSS product: one plan, the same for all.
    let calls = (0..10).map(|_| {
        let store = app.store.clone();
        let attributes = attributes.clone();
        tokio::spawn(async move {
            store
                .run(move |conn| {
                    catalog::find_or_record_plan(
                        conn,
                        application,
                        "hosted_mailbox",
                        "PRD-1001",
                        "Mailbox 25",
                        &attributes,
                    )
                })
                .await
                .expect("find or record")
        })
    });
    let outcomes: Vec<RecordedPlan> = futures_util::future::join_all(calls)
        .await
        .into_iter()
        .map(|joined| joined.expect("the task ends"))
        .collect();
    let recorded = outcomes
        .iter()
        .filter(|o| matches!(o, RecordedPlan::Recorded(_)))
        .count();
    assert_eq!(recorded, 1, "{outcomes:?}");
    let ids: std::collections::BTreeSet<&str> = outcomes
        .iter()
        .map(|o| o.plan().expect("a plan").public_id.as_str())
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    let plan = outcomes[0].plan().unwrap();
    assert_eq!(plan.terms.name, "Mailbox 25");
    assert_eq!(plan.terms.price, None, "for an operator to complete");
    assert_eq!(plan.product_id.as_deref(), Some("PRD-1001"));
    assert_eq!(
        plan.terms.attribute_values,
        [("storage_gb".to_owned(), "25".to_owned())].into()
    );
    let all = app.with_store(catalog::plans).await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].source.as_str(), "bss");

    // Another BSS's product of the same id is another plan; an unknown
    // product type records nothing.
    let other = app.second_application("distributor-2").await;
    let other = application_row_id(&app, &other.app_id).await;
    let empty = BTreeMap::new();
    let theirs = app
        .with_store(move |conn| {
            catalog::find_or_record_plan(conn, other, "hosted_mailbox", "PRD-1001", "", &empty)
        })
        .await;
    let RecordedPlan::Recorded(theirs) = theirs else {
        panic!("a new plan: {theirs:?}");
    };
    assert_eq!(
        theirs.terms.name, "Hosted mailbox",
        "the type's name when none is given"
    );
    let empty = BTreeMap::new();
    let unknown = app
        .with_store(move |conn| {
            catalog::find_or_record_plan(conn, application, "fax_machine", "PRD-9", "Fax", &empty)
        })
        .await;
    assert!(
        matches!(unknown, RecordedPlan::UnknownProductType),
        "{unknown:?}"
    );
    assert_eq!(app.with_store(catalog::plans).await.len(), 2);

    // The recorded plan is the operator's to complete.
    let admin = app.sign_in_as(Role::Admin).await;
    let completed = app
        .operator_call(
            Method::PATCH,
            &format!("/plans/{}", plan.public_id),
            &admin,
            Some(&json!({"unit_price_minor": 250, "currency": "USD",
                "billing_period_count": 1, "billing_period_unit": "years"})),
        )
        .await;
    assert_eq!(completed.status, StatusCode::OK, "{:?}", completed.body);
    assert_eq!(completed.body["source"], "bss");
    assert_eq!(completed.body["product_id"], "PRD-1001");
}

async fn the_console_lists_plans_and_product_types(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.sign_in_as(Role::Admin).await;
    let created = app
        .operator_call(
            Method::POST,
            "/plans",
            &admin,
            Some(
                &json!({"product_type": "hosted_mailbox", "name": "<b>Mailbox</b> 50",
                "attribute_values": {"storage_gb": "50"}, "unit_price_minor": 499,
                "currency": "EUR", "billing_period_count": 1, "billing_period_unit": "months"}),
            ),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let id = created.body["id"].as_str().unwrap();

    let reader = console_login(&app, Role::MailAdmin).await;
    let page = reader.get("/console/plans").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(page
        .html
        .contains("href=\"/console/plans\" aria-current=\"page\""));
    assert!(page.html.contains(&format!("data-plan-id=\"{id}\"")));
    assert!(
        page.html.contains("&lt;b&gt;Mailbox&lt;/b&gt; 50"),
        "escaped"
    );
    assert!(!page.html.contains("<b>Mailbox</b>"));
    assert!(page.html.contains("4.99 EUR"));
    assert!(page.html.contains("every 1 months"));
    assert!(page.html.contains("storage_gb: 50"));
    assert!(page.html.contains("data-product-type=\"hosted_mailbox\""));
    assert!(page
        .html
        .contains("storage_gb (Numeric, ProductCharacteristic, per seat)"));
    assert!(page.html.contains("data-product-type=\"archiving\""));
}

async fn operators_add_and_edit_product_types(backend: Backend) {
    let app = spawn_app(backend).await;
    let mail_admin = app.sign_in_as(Role::MailAdmin).await;
    let admin = app.sign_in_as(Role::Admin).await;
    let shared = json!({"name": "Shared mailbox", "scope": "Both", "quantity_limit": 20,
        "allow_multiple_subscriptions": true, "attributes": [
            {"id": "storage_gb", "name": "Storage (GB)", "usage": "ProductCharacteristic",
             "kind": "Numeric", "is_required": true, "linked_to_quantity": true},
            {"id": "tier", "name": "Tier", "usage": "OrderCharacteristic",
             "kind": "PredefinedChooseOne", "predefined_values": [
                {"ID": "s", "Code": "S", "Name": "Small", "IsDefault": true}]}]});
    let refused = app
        .operator_call(
            Method::PUT,
            "/product-types/shared_mailbox",
            &mail_admin,
            Some(&shared),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let added = app
        .operator_call(
            Method::PUT,
            "/product-types/shared_mailbox",
            &admin,
            Some(&shared),
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{:?}", added.body);
    assert_eq!(added.body["attributes"][1]["sort_order"], 1);

    // Fields/ServiceDefinition declares it at once, in the contract's shape.
    let answer = app.get("Fields/ServiceDefinition").await;
    let declared = answer.body["ProductTypes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["ID"] == "shared_mailbox")
        .cloned()
        .expect("the new type");
    assert_eq!(declared["Scope"], "Both");
    assert_eq!(declared["QuantityLimit"], 20);
    assert_eq!(declared["AttributeList"][1]["Usage"], "OrderCharacteristic");
    assert_eq!(
        declared["AttributeList"][1]["PredefinedValues"][0]["Name"],
        "Small"
    );

    // Replacing it replaces its attributes.
    let mut edited = shared.clone();
    edited["name"] = json!("Shared mailbox (team)");
    edited["attributes"] = json!([edited["attributes"][0].clone()]);
    let replaced = app
        .operator_call(
            Method::PUT,
            "/product-types/shared_mailbox",
            &admin,
            Some(&edited),
        )
        .await;
    assert_eq!(replaced.status, StatusCode::OK, "{:?}", replaced.body);
    assert_eq!(replaced.body["name"], "Shared mailbox (team)");
    assert_eq!(replaced.body["attributes"].as_array().unwrap().len(), 1);

    // A broken type is refused with its problems; nothing changes.
    let mut broken = shared.clone();
    broken["attributes"][1]["predefined_values"] = json!([]);
    let invalid = app
        .operator_call(Method::PUT, "/product-types/Bad-Id", &admin, Some(&broken))
        .await;
    assert_eq!(
        invalid.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        invalid.body
    );
    let message = invalid.body["message"].as_str().unwrap();
    assert!(message.contains("\"Bad-Id\""), "{message}");
    assert!(
        message.contains("The attribute tier offers no values to choose from."),
        "{message}"
    );
    let types = app
        .operator_call(Method::GET, "/product-types", &mail_admin, None)
        .await;
    let ids: Vec<&str> = types
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["archiving", "hosted_mailbox", "shared_mailbox"]);
}
