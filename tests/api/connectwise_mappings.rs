//! ConnectWise's mappings as Super Admins set them, checked against a fake
//! ConnectWise: each plan and add-on plan mapped to a catalog item or Not
//! Assigned (deprecated plans listed but refused), and each customer's
//! company and agreement set and removed.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::fake_connectwise::FakeConnectWise;
use crate::helpers::{account, Backend, TestApp};
use crate::integrations::connected_app;

both_backends!(
    services_are_mapped_and_not_assigned,
    customers_get_an_agreement_and_lose_it,
);

/// Creates a plan of `product_type` (as an Admin would); returns its
/// public id.
pub async fn create_plan(app: &TestApp, token: &str, product_type: &str, name: &str) -> String {
    let attributes = match product_type {
        "archiving" => json!({"retention_years": "5"}),
        _ => json!({"storage_gb": "50", "mailbox_type": "business"}),
    };
    let created = app
        .operator_call(
            Method::POST,
            "/plans",
            token,
            Some(&json!({"product_type": product_type, "name": name,
                "attribute_values": attributes, "unit_price_minor": 499, "currency": "EUR",
                "billing_period_count": 1, "billing_period_unit": "months", "visible": true})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    created.body["id"].as_str().unwrap().to_owned()
}

pub async fn deprecate(app: &TestApp, token: &str, plan: &str) {
    let changed = app
        .operator_call(
            Method::PATCH,
            &format!("/plans/{plan}"),
            token,
            Some(&json!({"deprecated": true})),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{:?}", changed.body);
}

fn service<'a>(services: &'a Value, plan: &str) -> &'a Value {
    services
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["plan_public_id"] == plan)
        .unwrap_or_else(|| panic!("{plan} not in {services}"))
}

async fn services_are_mapped_and_not_assigned(backend: Backend) {
    let fake = FakeConnectWise::start().await;
    let filter = fake.add_catalog_item("MR-FILTER", "CloudFilter seat");
    let archive = fake.add_catalog_item("MR-ARCHIVE", "Archiving seat");
    let retired = fake.add_inactive_catalog_item("MR-OLD", "Retired");
    let (app, token) = connected_app(backend, &fake).await;
    let mailbox = create_plan(&app, &token, "hosted_mailbox", "CloudFilter").await;
    let addon = create_plan(&app, &token, "archiving", "SafeSend archive").await;
    let legacy = create_plan(&app, &token, "hosted_mailbox", "Exchange+ Basic").await;
    deprecate(&app, &token, &legacy).await;

    let listed = app
        .operator_call(
            Method::GET,
            "/integrations/connectwise/services",
            &token,
            None,
        )
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{:?}", listed.body);
    assert_eq!(service(&listed.body, &legacy)["deprecated"], true);
    assert_eq!(service(&listed.body, &addon)["is_addon"], true);
    assert!(service(&listed.body, &mailbox)["catalog_item"].is_null());

    for (plan, item) in [(&mailbox, filter), (&addon, archive)] {
        let mapped = app
            .operator_call(
                Method::PUT,
                &format!("/integrations/connectwise/services/{plan}"),
                &token,
                Some(&json!({"catalog_item_id": item})),
            )
            .await;
        assert_eq!(mapped.status, StatusCode::NO_CONTENT, "{:?}", mapped.body);
    }
    let listed = app
        .operator_call(
            Method::GET,
            "/integrations/connectwise/services",
            &token,
            None,
        )
        .await;
    let mapped = &service(&listed.body, &mailbox)["catalog_item"];
    assert_eq!(mapped["id"], filter);
    assert_eq!(mapped["identifier"], "MR-FILTER");
    assert_eq!(mapped["description"], "CloudFilter seat");
    assert_eq!(service(&listed.body, &addon)["catalog_item"]["id"], archive);

    // A deprecated plan is refused, before ConnectWise is asked.
    fake.clear_requests();
    let refused = app
        .operator_call(
            Method::PUT,
            &format!("/integrations/connectwise/services/{legacy}"),
            &token,
            Some(&json!({"catalog_item_id": filter})),
        )
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{:?}", refused.body);
    assert!(refused.body["message"]
        .as_str()
        .unwrap()
        .contains("deprecated"));
    assert!(fake.requests().is_empty());
    // An inactive or unknown catalog item is refused too.
    let inactive = app
        .operator_call(
            Method::PUT,
            &format!("/integrations/connectwise/services/{mailbox}"),
            &token,
            Some(&json!({"catalog_item_id": retired})),
        )
        .await;
    assert_eq!(inactive.status, StatusCode::UNPROCESSABLE_ENTITY);
    let unknown = app
        .operator_call(
            Method::PUT,
            &format!("/integrations/connectwise/services/{mailbox}"),
            &token,
            Some(&json!({"catalog_item_id": 999_999})),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{:?}", unknown.body);
    let no_plan = app
        .operator_call(
            Method::PUT,
            "/integrations/connectwise/services/plan_missing",
            &token,
            Some(&json!({"catalog_item_id": filter})),
        )
        .await;
    assert_eq!(no_plan.status, StatusCode::NOT_FOUND);

    // Not Assigned.
    let removed = app
        .operator_call(
            Method::DELETE,
            &format!("/integrations/connectwise/services/{mailbox}"),
            &token,
            None,
        )
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    let listed = app
        .operator_call(
            Method::GET,
            "/integrations/connectwise/services",
            &token,
            None,
        )
        .await;
    assert!(service(&listed.body, &mailbox)["catalog_item"].is_null());
    assert_eq!(service(&listed.body, &addon)["catalog_item"]["id"], archive);
}

async fn customers_get_an_agreement_and_lose_it(backend: Backend) {
    let fake = FakeConnectWise::start().await;
    let acme = fake.add_company("Acme Ltd");
    let other = fake.add_company("Other Co");
    fake.add_deleted_company("Acme Gone");
    let email = fake.add_agreement(acme, "Acme email services");
    let cancelled = fake.add_cancelled_agreement(acme, "Acme old");
    let foreign = fake.add_agreement(other, "Other's agreement");
    let (app, token) = connected_app(backend, &fake).await;
    let customer = app
        .synchronize(&account("9001", "acme.example"))
        .await
        .result()
        .to_owned();
    let path = format!("/customers/{customer}/connectwise");

    let none = app.operator_call(Method::GET, &path, &token, None).await;
    assert_eq!(none.status, StatusCode::OK, "{:?}", none.body);
    assert!(none.body["agreement"].is_null());

    let companies = app
        .operator_call(
            Method::GET,
            "/integrations/connectwise/companies?search=acme",
            &token,
            None,
        )
        .await;
    assert_eq!(companies.status, StatusCode::OK, "{:?}", companies.body);
    let names: Vec<&str> = companies.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Acme Ltd"], "deleted companies are left out");
    let agreements = app
        .operator_call(
            Method::GET,
            &format!("/integrations/connectwise/companies/{acme}/agreements"),
            &token,
            None,
        )
        .await;
    let ids: Vec<i64> = agreements
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [email], "cancelled agreements are left out");

    let set = app
        .operator_call(
            Method::PUT,
            &path,
            &token,
            Some(&json!({"company_id": acme, "agreement_id": email})),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{:?}", set.body);
    assert_eq!(set.body["company_name"], "Acme Ltd");
    assert_eq!(set.body["agreement_name"], "Acme email services");
    let shown = app.operator_call(Method::GET, &path, &token, None).await;
    assert_eq!(shown.body["agreement"]["agreement_id"], email);

    for (company, agreement) in [(acme, cancelled), (acme, foreign)] {
        let refused = app
            .operator_call(
                Method::PUT,
                &path,
                &token,
                Some(&json!({"company_id": company, "agreement_id": agreement})),
            )
            .await;
        assert_eq!(
            refused.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{:?}",
            refused.body
        );
    }
    let unknown = app
        .operator_call(
            Method::PUT,
            "/customers/no-such-customer/connectwise",
            &token,
            Some(&json!({"company_id": acme, "agreement_id": email})),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    let removed = app.operator_call(Method::DELETE, &path, &token, None).await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    let gone = app.operator_call(Method::GET, &path, &token, None).await;
    assert!(gone.body["agreement"].is_null());
    assert!(
        fake.writes().is_empty(),
        "choosing mappings never writes to ConnectWise"
    );
}
