//! Add-on types: `is_addon` shown to operators (API and console), set by
//! them, and what `Addons/*` then accepts; the contract's
//! ProductTypeDefinition has no such field, so the wire stays as it was.

use mailroom::domain::operator::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{console_login, spawn_app, Backend, TestApp};
use crate::subscriptions::{create_body, customer, ok};

fn archiving_addon(parent: &str) -> Value {
    json!({
        "ID": parent,
        "SubscriptionID": "",
        "ServiceType": "hosted_mailbox",
        "Addons": [
            {"ID": "", "ParentID": "61234", "Name": "Mail archiving 5 years", "ProductID": "2010",
             "ServiceType": "archiving",
             "ActionType": "Provision", "Quantity": 5,
             "AttributeList": {"retention_years": {"ID": "retention_years", "Value": "5"}},
             "ExtraDetails": {}}
        ],
        "CheckOnly": true
    })
}

async fn types(app: &TestApp, token: &str) -> Vec<Value> {
    let answer = app
        .operator_call(Method::GET, "/product-types", token, None)
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    answer.body.as_array().unwrap().clone()
}

fn of<'a>(types: &'a [Value], id: &str) -> &'a Value {
    types.iter().find(|t| t["id"] == id).expect(id)
}

async fn operators_see_and_set_addon_types(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.sign_in_as(Role::Admin).await;
    let listed = types(&app, &admin).await;
    assert_eq!(of(&listed, "archiving")["is_addon"], true);
    assert_eq!(of(&listed, "hosted_mailbox")["is_addon"], false);

    let cus = customer(&app, "9400", "addon-types.example").await;
    let sub = ok(&app
        .post("Subscriptions/Create", &create_body(&cus, "94001", 5))
        .await);
    assert_eq!(
        app.post("Addons/Create", &archiving_addon(&sub))
            .await
            .code(),
        0
    );

    // An operator takes archiving off the add-ons: Addons/* refuse it.
    let mut definition = of(&listed, "archiving").clone();
    definition.as_object_mut().unwrap().remove("id");
    definition["is_addon"] = json!(false);
    let saved = app
        .operator_call(
            Method::PUT,
            "/product-types/archiving",
            &admin,
            Some(&definition),
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{:?}", saved.body);
    assert_eq!(saved.body["is_addon"], false);
    assert_eq!(
        of(&types(&app, &admin).await, "archiving")["is_addon"],
        false
    );
    let refused = app.post("Addons/Create", &archiving_addon(&sub)).await;
    assert_eq!(refused.code(), -80066, "{}", refused.body);

    // A new type marked as an add-on is listed as one.
    let filter = json!({"name": "Spam filter", "scope": "Customer", "is_addon": true});
    let added = app
        .operator_call(
            Method::PUT,
            "/product-types/spam_filter",
            &admin,
            Some(&filter),
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{:?}", added.body);
    assert_eq!(added.body["is_addon"], true);
    // Left out of an input: not an add-on.
    let mut plain = filter.clone();
    plain.as_object_mut().unwrap().remove("is_addon");
    let replaced = app
        .operator_call(
            Method::PUT,
            "/product-types/spam_filter",
            &admin,
            Some(&plain),
        )
        .await;
    assert_eq!(replaced.body["is_addon"], false, "{:?}", replaced.body);

    // The wire is the contract's: no add-on field on ProductTypeDefinition.
    let declared = app.get("Fields/ServiceDefinition").await;
    for product_type in declared.body["ProductTypes"].as_array().unwrap() {
        let keys: Vec<&String> = product_type.as_object().unwrap().keys().collect();
        assert!(
            !keys.iter().any(|k| k.to_lowercase().contains("addon")),
            "{product_type}"
        );
    }
}

async fn the_console_shows_and_edits_addon_types(backend: Backend) {
    let app = spawn_app(backend).await;
    let console = console_login(&app, Role::Admin).await;
    let list = console.get("/console/plans").await;
    assert_eq!(list.status, StatusCode::OK);
    let row = |html: &str, id: &str| {
        let start = html.find(&format!("data-product-type=\"{id}\"")).expect(id);
        let end = start + html[start..].find("</tr>").unwrap();
        html[start..end].to_owned()
    };
    assert!(
        row(&list.html, "archiving").contains("Add-on"),
        "{}",
        list.html
    );
    assert!(row(&list.html, "hosted_mailbox").contains("Subscription"));

    // The editor's JSON carries the flag, and saving it sets it.
    let form = console.get("/console/product-types/hosted_mailbox").await;
    assert!(
        form.html.contains("&quot;is_addon&quot;: false"),
        "{}",
        form.html
    );
    let definition = json!({"name": "Extra storage", "scope": "Customer", "is_addon": true});
    let added = console
        .post_form(
            "/console/product-types",
            &[
                ("id", "extra_storage"),
                ("definition", &definition.to_string()),
            ],
        )
        .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.html);
    let stored = app
        .with_store(|conn| mailroom::store::catalog::product_type(conn, "extra_storage"))
        .await
        .expect("saved");
    assert!(stored.is_addon);
    let list = console.get("/console/plans").await;
    assert!(row(&list.html, "extra_storage").contains("Add-on"));
}

both_backends!(
    operators_see_and_set_addon_types,
    the_console_shows_and_edits_addon_types,
);
