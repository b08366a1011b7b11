//! The Fields calls of the contract: the product types Mailroom declares,
//! its setup fields and their check, and what it is.

use mailroom::domain::operator::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{spawn_app, Backend, TestApp};

both_backends!(
    service_definition_declares_the_seeded_types,
    setup_fields_are_declared_with_the_plans_on_sale,
    validate_answers_one_message_per_problem,
    additional_info_names_version_and_endpoints
);

fn by_id<'a>(list: &'a Value, id: &str) -> &'a Value {
    list.as_array()
        .unwrap_or_else(|| panic!("a list: {list}"))
        .iter()
        .find(|item| item["ID"] == id)
        .unwrap_or_else(|| panic!("{id} in {list}"))
}

async fn service_definition_declares_the_seeded_types(backend: Backend) {
    let app = spawn_app(backend).await;
    // The path in any case, as ASP.NET routes it.
    let answer = TestApp::send(app.tracked(Method::GET, "/API/fields/SERVICEDEFINITION")).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    assert_eq!(answer.code(), 0);
    let types = &answer.body["ProductTypes"];
    assert_eq!(types.as_array().map(Vec::len), Some(2), "{types}");

    let mailbox = by_id(types, "hosted_mailbox");
    assert_eq!(mailbox["Name"], "Hosted mailbox");
    assert_eq!(mailbox["Scope"], "Customer");
    assert_eq!(mailbox["AllowMultipleSubscriptions"], true);
    assert!(
        mailbox.get("QuantityLimit").is_none(),
        "no limit: {mailbox}"
    );
    let attributes = &mailbox["AttributeList"];
    let storage = by_id(attributes, "storage_gb");
    assert_eq!(
        storage,
        &json!({
            "ID": "storage_gb", "SortOrder": 0, "Name": "Storage per mailbox (GB)",
            "Description": "The mailbox quota; the subscription's storage is this times its seats.",
            "Usage": "ProductCharacteristic", "Kind": "Numeric", "IsRequired": true,
            "LinkedToQuantity": true, "AllowUnlimited": false, "PredefinedValues": []
        })
    );
    let mailbox_type = by_id(attributes, "mailbox_type");
    assert_eq!(mailbox_type["Kind"], "PredefinedChooseOne");
    assert_eq!(mailbox_type["LinkedToQuantity"], false);
    assert_eq!(
        mailbox_type["PredefinedValues"][0],
        json!({"ID": "standard", "Code": "standard", "Name": "Standard", "IsDefault": true})
    );

    let archiving = by_id(types, "archiving");
    assert_eq!(archiving["AllowMultipleSubscriptions"], false);
    let retention = by_id(&archiving["AttributeList"], "retention_years");
    assert_eq!(retention["Kind"], "Slider");
    assert_eq!(
        (
            &retention["SliderMin"],
            &retention["SliderMax"],
            &retention["SliderStep"]
        ),
        (&json!(1), &json!(10), &json!(1))
    );

    // Credentials are checked as on every contract call.
    let anonymous = TestApp::send(app.client.get(app.url("/api/Fields/ServiceDefinition"))).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}

async fn create_plan(app: &TestApp, token: &str, name: &str) -> String {
    let created = app
        .operator_call(
            Method::POST,
            "/plans",
            token,
            Some(
                &json!({"product_type": "hosted_mailbox", "name": name, "code": "MBX",
                "attribute_values": {"storage_gb": "50"}, "unit_price_minor": 499,
                "currency": "EUR", "billing_period_count": 1, "billing_period_unit": "months",
                "visible": true}),
            ),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    created.body["id"].as_str().unwrap().to_owned()
}

async fn setup_fields_are_declared_with_the_plans_on_sale(backend: Backend) {
    let app = spawn_app(backend).await;
    let answer = app.get("Fields/Get").await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    let fields = &answer.body;
    let ids: Vec<&str> = fields
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["ID"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["notification_mode", "default_plan", "support_email"]);
    let mode = by_id(fields, "notification_mode");
    assert_eq!(mode["Kind"], 4, "PredefinedChooseOne, as a number");
    assert_eq!(mode["IsRequired"], true);
    assert_eq!(mode["InitialValue"], "mailroom");
    assert_eq!(
        mode["PredefinedValues"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["bss", "mailroom"]
    );
    let support = by_id(fields, "support_email");
    assert_eq!(support["Kind"], 0);
    assert_eq!(support["MaxLength"], 254);
    assert_eq!(by_id(fields, "default_plan")["PredefinedValues"], json!({}));

    // A plan on sale becomes a choice; a deprecated one is not offered.
    let admin = app.sign_in_as(Role::Admin).await;
    let sold = create_plan(&app, &admin, "Mailbox 50").await;
    let retired = create_plan(&app, &admin, "Mailbox 10").await;
    let deprecated = app
        .operator_call(
            Method::PATCH,
            &format!("/plans/{retired}"),
            &admin,
            Some(&json!({"deprecated": true})),
        )
        .await;
    assert_eq!(deprecated.status, StatusCode::OK, "{:?}", deprecated.body);
    let answer = app.get("Fields/Get").await;
    assert_eq!(
        by_id(&answer.body, "default_plan")["PredefinedValues"],
        json!({ sold: "Mailbox 50 (MBX)" })
    );
}

async fn validate_answers_one_message_per_problem(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.sign_in_as(Role::Admin).await;
    let plan = create_plan(&app, &admin, "Mailbox 50").await;
    let validate = |fields: Value| {
        let app = &app;
        async move {
            let answer = app
                .post("Fields/Validate", &json!({ "Fields": fields }))
                .await;
            assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
            answer.body
        }
    };
    let valid = validate(json!([
        {"ID": "notification_mode", "Value": "bss",
         "Definition": {"ID": "notification_mode", "Kind": 4}},
        {"id": "default_plan", "value": plan},
        {"ID": "support_email", "Value": "help@example.com"},
        {"ID": "not_ours", "Value": "ignored"}
    ]))
    .await;
    assert_eq!(valid, json!([]));

    assert_eq!(
        validate(json!([])).await,
        json!(["Notification mode is required."])
    );
    assert_eq!(
        validate(json!([
            {"ID": "notification_mode", "Value": "pigeon"},
            {"ID": "default_plan", "Value": "plan_unknown"},
            {"ID": "support_email", "Value": "help(at)example.com"}
        ]))
        .await,
        json!([
            "Notification mode: pigeon is not one of the choices (mailroom, bss).",
            format!(
                "Default plan for new customers: plan_unknown is not one of the choices ({plan})."
            ),
            "Support address: help(at)example.com is not an email address."
        ])
    );
    // A body that is not JSON is refused as on every call.
    let not_json = TestApp::send(
        app.tracked(Method::POST, "/api/Fields/Validate")
            .header("Content-Type", "application/json")
            .body("{"),
    )
    .await;
    assert_eq!(not_json.status, StatusCode::BAD_REQUEST);
    assert_eq!(not_json.code(), -9);
}

async fn additional_info_names_version_and_endpoints(backend: Backend) {
    let app = spawn_app(backend).await;
    let answer = app.get("fields/additionalinfo").await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    assert_eq!(answer.body["Name"], "Mailroom");
    assert_eq!(answer.body["Version"], env!("CARGO_PKG_VERSION"));
    let endpoints: Vec<&str> = answer.body["SupportedEndpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    for action in [
        "Accounts/SyncOptions",
        "Accounts/Synchronize",
        "Accounts/Exists",
        "Accounts/Delete",
        "Fields/Get",
        "Fields/Validate",
        "Fields/AdditionalInfo",
        "Fields/ServiceDefinition",
        "Subscriptions/Create",
        "Subscriptions/UpgradeDowngrade",
        "Addons/Create",
        "Addons/Update",
        "Addons/Cancel",
    ] {
        assert!(endpoints.contains(&action), "{action} in {endpoints:?}");
    }

    // Audited like every contract call, under the action's own spelling.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let entries = app
            .with_store(|conn| mailroom::store::audit::recent(conn, None, 100))
            .await;
        if let Some(entry) = entries
            .iter()
            .find(|e| e.endpoint == "Fields/AdditionalInfo")
        {
            assert_eq!(entry.result_code, 0);
            assert_eq!(entry.http_status, 200);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no audit entry: {entries:#?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
