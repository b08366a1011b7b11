//! Addons/*: an add-on's lifecycle under its parent subscription, CheckOnly,
//! each refusal, concurrent Creates, and how a parent's (or its customer's)
//! status carries over to its add-ons.

use futures::future::join_all;
use mailroom::domain::customer::StatusAction as CustomerAction;
use mailroom::domain::operator::Role;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{spawn_app, Backend, TestApp};
use crate::subscriptions::{counts, create_body, customer, ok, post_tracked, stored};

/// An Addons/* body: the parent named by our id, one add-on.
fn addon_body(parent: &str, product_id: &str, action: &str, quantity: Value) -> Value {
    json!({
        "ID": parent,
        "SubscriptionID": "",
        "ServiceType": "hosted_mailbox",
        "Addons": [
            {"ID": "", "ParentID": "51234", "Name": "Archive", "ProductID": "9999", "ActionType": "None"},
            {"ID": "", "ParentID": "51234", "Name": "Mail archiving 5 years", "ProductID": product_id,
             "ActionType": action, "Quantity": quantity,
             "AttributeList": {"retention_years": {"ID": "retention_years", "Value": "5"}},
             "ExtraDetails": {}}
        ],
        "CheckOnly": false
    })
}

/// A customer with a mailbox subscription; returns (customer, subscription).
async fn parent(app: &TestApp, id: &str, sid: &str) -> (String, String) {
    let cus = customer(app, id, &format!("addons-{id}.example")).await;
    let sub = ok(&app
        .post("Subscriptions/Create", &create_body(&cus, sid, 10))
        .await);
    (cus, sub)
}

async fn status_of(app: &TestApp, public_id: &str) -> String {
    stored(app, public_id).await.0.status
}

async fn an_addon_lives_under_its_subscription(backend: Backend) {
    let app = spawn_app(backend).await;
    let (cus, sub) = parent(&app, "9500", "60500").await;
    let body = addon_body(&sub, "2010", "Provision", json!(10));
    let answer = post_tracked(&app, "ADDONS/create", &body, "track-addon-1").await;
    let addon = ok(&answer);
    assert!(addon.starts_with("sub_") && addon != sub, "{}", answer.body);
    assert_eq!(answer.body["ExtraInfo"]["addon_id"], addon.as_str());
    assert_eq!(answer.body["ExtraInfo"]["subscription_id"], sub.as_str());
    assert_eq!(answer.body["ExtraInfo"]["customer_id"], cus.as_str());

    let (parent_row, _) = stored(&app, &sub).await;
    let (row, history) = stored(&app, &addon).await;
    assert_eq!(row.parent_subscription_id, Some(parent_row.id));
    assert_eq!(row.product_type_id, "archiving");
    assert_eq!((row.quantity, row.status.as_str()), (10, "active"));
    assert_eq!(history.len(), 1);
    assert_eq!(
        (history[0].kind.as_str(), history[0].source.as_str()),
        ("created", "bss")
    );
    assert_eq!(history[0].track_id.as_deref(), Some("track-addon-1"));

    // The retried Create answers the same add-on and writes nothing.
    let before = counts(&app).await;
    assert_eq!(ok(&app.post("Addons/Create", &body).await), addon);
    assert_eq!(counts(&app).await, before);
    // Subscriptions/* calls do not act on an add-on.
    assert_eq!(
        app.post("Subscriptions/Cancel", &json!({"ID": addon}))
            .await
            .code(),
        -22
    );

    // Update by our id (in ExtraDetails): a quantity row.
    let mut update = addon_body(&sub, "2010", "Provision", json!("12"));
    update["Addons"][1]["ExtraDetails"] = json!({"addon_id": addon});
    let answer = post_tracked(&app, "Addons/Update", &update, "track-addon-2").await;
    assert_eq!(ok(&answer), addon);
    let (row, history) = stored(&app, &addon).await;
    assert_eq!(row.quantity, 12);
    let last = history.last().expect("history");
    assert_eq!(
        (last.kind.as_str(), last.old_quantity, last.new_quantity),
        ("quantity", Some(10), 12)
    );
    assert_eq!(last.track_id.as_deref(), Some("track-addon-2"));

    // Cancel (by ProductID), again, and nothing after.
    let cancel = addon_body(&sub, "2010", "Cancel", json!(null));
    assert_eq!(ok(&app.post("Addons/Cancel", &cancel).await), addon);
    assert_eq!(status_of(&app, &addon).await, "cancelled");
    assert_eq!(status_of(&app, &sub).await, "active", "the parent stays");
    assert_eq!(ok(&app.post("Addons/Cancel", &cancel).await), addon);
    let mut update = addon_body(&sub, "2010", "Provision", json!(3));
    update["Addons"][1]["ID"] = json!(addon);
    assert_eq!(app.post("Addons/Update", &update).await.code(), -23);
    // A cancelled add-on may be ordered again: a new one.
    let again = ok(&app
        .post(
            "Addons/Create",
            &addon_body(&sub, "2010", "Provision", json!(1)),
        )
        .await);
    assert_ne!(again, addon);
}

async fn addon_check_only_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, sub) = parent(&app, "9510", "60510").await;
    let before = counts(&app).await;
    let plans_before = app.with_store(mailroom::store::catalog::plans).await.len();
    let mut body = addon_body(&sub, "2020", "Provision", json!(5));
    body["CheckOnly"] = json!(true);
    let answer = app.post("Addons/Create", &body).await;
    assert_eq!(answer.code(), 0, "{}", answer.body);
    assert!(answer.result_opt().is_none(), "{}", answer.body);
    body["Addons"][1]["Quantity"] = json!(0);
    assert_eq!(app.post("Addons/Create", &body).await.code(), -80062);
    assert_eq!(counts(&app).await, before);
    assert_eq!(
        app.with_store(mailroom::store::catalog::plans).await.len(),
        plans_before,
        "no plan recorded"
    );
}

async fn each_addon_refusal_has_its_code(backend: Backend) {
    let app = spawn_app(backend).await;
    let (cus, sub) = parent(&app, "9520", "60520").await;

    // A mailbox plan is not an add-on.
    let mut body = addon_body(&sub, "1207", "Provision", json!(1));
    body["Addons"][1]["AttributeList"] =
        json!({"storage_gb": {"Value": "50"}, "mailbox_type": {"Value": "business"}});
    let answer = app.post("Addons/Create", &body).await;
    assert_eq!(answer.code(), -80066, "{}", answer.body);
    assert!(!answer.message().is_empty());

    let answer = app
        .post(
            "Addons/Create",
            &addon_body("sub_nope", "2030", "Provision", json!(1)),
        )
        .await;
    assert_eq!(answer.code(), -22, "{}", answer.body);

    let answer = app
        .post(
            "Addons/Create",
            &addon_body(&sub, "2030", "Provision", json!(-1)),
        )
        .await;
    assert_eq!(answer.code(), -80062, "{}", answer.body);

    let mut body = addon_body(&sub, "2030", "Provision", json!(1));
    body["Addons"][1]["AttributeList"] = json!({});
    let answer = app.post("Addons/Create", &body).await;
    assert_eq!(answer.code(), -80063, "{}", answer.body);

    // Archiving allows one add-on of its type per subscription.
    ok(&app
        .post(
            "Addons/Create",
            &addon_body(&sub, "2030", "Provision", json!(1)),
        )
        .await);
    let answer = app
        .post(
            "Addons/Create",
            &addon_body(&sub, "2031", "Provision", json!(1)),
        )
        .await;
    assert_eq!(answer.code(), -80064, "{}", answer.body);

    // Nothing to act on, or an add-on that does not exist.
    let answer = app
        .post("Addons/Create", &json!({"ID": sub, "Addons": []}))
        .await;
    assert_eq!(answer.code(), -2, "{}", answer.body);
    let answer = app
        .post(
            "Addons/Update",
            &addon_body(&sub, "2099", "Provision", json!(1)),
        )
        .await;
    assert_eq!(answer.code(), -22, "{}", answer.body);

    // A suspended parent takes no new add-on.
    ok(&app.post("Subscriptions/Suspend", &json!({"ID": sub})).await);
    let other = ok(&app
        .post("Subscriptions/Create", &create_body(&cus, "60521", 2))
        .await);
    ok(&app
        .post("Subscriptions/Suspend", &json!({"ID": other}))
        .await);
    let answer = app
        .post(
            "Addons/Create",
            &addon_body(&other, "2030", "Provision", json!(1)),
        )
        .await;
    assert_eq!(answer.code(), -80065, "{}", answer.body);
}

async fn concurrent_addon_creates_make_one_addon(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, sub) = parent(&app, "9530", "60530").await;
    let before = counts(&app).await;
    let body = addon_body(&sub, "2040", "Provision", json!(4));
    let answers = join_all((0..20).map(|_| app.post("Addons/Create", &body))).await;
    let results: std::collections::BTreeSet<String> = answers.iter().map(ok).collect();
    assert_eq!(results.len(), 1, "{results:?}");
    let after = counts(&app).await;
    assert_eq!((after.0 - before.0, after.1 - before.1), (1, 1));
}

async fn a_parents_status_carries_its_addons(backend: Backend) {
    let app = spawn_app(backend).await;
    let (cus, sub) = parent(&app, "9540", "60540").await;
    let addon = ok(&app
        .post(
            "Addons/Create",
            &addon_body(&sub, "2050", "Provision", json!(1)),
        )
        .await);

    ok(&app
        .post("Subscriptions/Suspend", &json!({"SubscriptionID": "60540"}))
        .await);
    assert_eq!(status_of(&app, &addon).await, "suspended");
    ok(&app
        .post("Subscriptions/Activate", &json!({"ID": sub}))
        .await);
    assert_eq!(status_of(&app, &addon).await, "active");

    // The customer's suspension and restore carry over to both.
    for (action, status) in [
        (CustomerAction::Suspend, "suspended"),
        (CustomerAction::Restore, "active"),
    ] {
        let target = cus.clone();
        app.with_store(move |conn| {
            mailroom::store::customers::apply_status_action(conn, &target, action)
        })
        .await;
        assert_eq!(status_of(&app, &sub).await, status);
        assert_eq!(status_of(&app, &addon).await, status);
    }

    // Cancelling the parent cancels its add-ons, with a history row each.
    let answer = post_tracked(
        &app,
        "Subscriptions/Cancel",
        &json!({"ID": sub}),
        "track-cancel-parent",
    )
    .await;
    ok(&answer);
    let (row, history) = stored(&app, &addon).await;
    assert_eq!(row.status, "cancelled");
    let last = history.last().expect("history");
    assert_eq!(
        (last.kind.as_str(), last.new_status.as_str()),
        ("status", "cancelled")
    );
    assert_eq!(last.track_id.as_deref(), Some("track-cancel-parent"));

    // A customer's delete cancels add-ons too.
    let (cus, sub) = parent(&app, "9541", "60541").await;
    let addon = ok(&app
        .post(
            "Addons/Create",
            &addon_body(&sub, "2050", "Provision", json!(1)),
        )
        .await);
    let answer = app
        .post("Accounts/Delete", &json!({"ExternalID": cus}))
        .await;
    assert_eq!(answer.code(), 0, "{}", answer.body);
    assert_eq!(status_of(&app, &addon).await, "cancelled");
}

both_backends!(
    operators_see_addons_under_their_subscription,
    an_addon_lives_under_its_subscription,
    addon_check_only_changes_nothing,
    each_addon_refusal_has_its_code,
    concurrent_addon_creates_make_one_addon,
    a_parents_status_carries_its_addons,
);

async fn operators_see_addons_under_their_subscription(backend: Backend) {
    let app = spawn_app(backend).await;
    let (cus, sub) = parent(&app, "9560", "60560").await;
    let addon = ok(&app
        .post(
            "Addons/Create",
            &addon_body(&sub, "2010", "Provision", json!(2)),
        )
        .await);
    let reader = app.sign_in_as(Role::MailAdmin).await;

    let detail = app
        .operator_call(
            reqwest::Method::GET,
            &format!("/subscriptions/{sub}"),
            &reader,
            None,
        )
        .await;
    assert_eq!(detail.status, reqwest::StatusCode::OK, "{}", detail.body);
    assert_eq!(detail.body["parent"], Value::Null);
    let addons = detail.body["addons"].as_array().expect("addons");
    assert_eq!(addons.len(), 1, "{}", detail.body);
    assert_eq!(addons[0]["id"], addon.as_str());
    assert_eq!(addons[0]["parent"], sub.as_str());
    assert_eq!(addons[0]["product_type"], "archiving");

    // The add-on's own detail names its parent; the customer's list holds both.
    let own = app
        .operator_call(
            reqwest::Method::GET,
            &format!("/subscriptions/{addon}"),
            &reader,
            None,
        )
        .await;
    assert_eq!(own.body["parent"], sub.as_str(), "{}", own.body);
    let listed = app
        .operator_call(
            reqwest::Method::GET,
            &format!("/subscriptions?customer={cus}&status=active"),
            &reader,
            None,
        )
        .await;
    assert_eq!(listed.body["total"], 2, "{}", listed.body);
}
