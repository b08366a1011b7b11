//! Subscriptions/*: the seed-shaped Create, CheckOnly, each refusal, races,
//! the quantity history and the seats-on-date query, status changes, and
//! what a customer's delete or suspension does to its subscriptions; and the
//! review's bugs: kept and changed attributes, no plan left by a refused
//! order, out-of-range and textual quantities, a new SubscriptionID on an
//! upgrade. The helpers are shared with `addons.rs`.

use std::time::Duration;

use chrono::{NaiveDateTime, Utc};
use futures::future::join_all;
use mailroom::domain::customer::StatusAction as CustomerAction;
use mailroom::store::subscriptions::{self, ChangeRow, SubscriptionRow};
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{account, spawn_app, Answer, Backend, TestApp};

/// A customer synchronized; returns its ExternalID.
pub(crate) async fn customer(app: &TestApp, id: &str, domain: &str) -> String {
    app.synchronize(&account(id, domain))
        .await
        .result()
        .to_owned()
}

/// A Create as the BSS sends it.
pub(crate) fn create_body(external_id: &str, subscription_id: &str, quantity: i64) -> Value {
    json!({
        "ID": "",
        "SubscriptionID": subscription_id,
        "Name": "Hosted mailbox Business",
        "ServiceType": "hosted_mailbox",
        "ProductID": "1207",
        "ActionType": "Provision",
        "Quantity": quantity,
        "Status": "Active",
        "Account": {"ID": "", "ExternalID": external_id, "Name": "Customer"},
        "BillingAccountID": 3000,
        "AttributeList": {
            "storage_gb": {"ID": "storage_gb", "Name": "Storage", "Value": "50", "QuantityLinked": true, "DataType": 1},
            "mailbox_type": {"ID": "mailbox_type", "Name": "Mailbox type", "Value": "business", "QuantityLinked": false, "DataType": 0}
        },
        "BillingCycle": {"Duration": "1", "DurationType": "Months"},
        "IsTest": false, "IsTrial": false, "IsFromOrder": true,
        "AllowMultipleSubscriptions": true, "CheckOnly": false,
        "ExtraDetails": {},
        "RequestedBy": {"ID": 12, "FirstName": "Pat", "LastName": "Jones", "Type": "Storefront"},
        "SomethingNewer": {"ignored": true}
    })
}

pub(crate) async fn post_tracked(app: &TestApp, action: &str, body: &Value, track: &str) -> Answer {
    TestApp::send(
        app.request(reqwest::Method::POST, &format!("/api/{action}"))
            .header("X-CloudPlatform-TrackId", track)
            .json(body),
    )
    .await
}

pub(crate) async fn stored(app: &TestApp, public_id: &str) -> (SubscriptionRow, Vec<ChangeRow>) {
    let public_id = public_id.to_owned();
    app.with_store(move |conn| {
        let row = subscriptions::by_public_id(conn, &public_id)?.expect("stored");
        let history = subscriptions::history(conn, row.id)?;
        Ok((row, history))
    })
    .await
}

pub(crate) async fn counts(app: &TestApp) -> (i64, i64, usize) {
    app.with_store(|conn| {
        let (subs, changes) = subscriptions::counts(conn)?;
        let plans = mailroom::store::catalog::plans(conn)?.len();
        Ok((subs, changes, plans))
    })
    .await
}

pub(crate) fn ok(answer: &Answer) -> String {
    assert_eq!(answer.code(), 0, "{}", answer.body);
    answer.result().to_owned()
}

async fn a_seed_shaped_create_round_trips(backend: Backend) {
    let app = spawn_app(backend).await;
    let cus = customer(&app, "9000", "subs-round.example").await;
    let answer = app
        .post("subscriptions/CREATE", &create_body(&cus, "51234", 10))
        .await;
    let sub = ok(&answer);
    assert!(sub.starts_with("sub_"), "{}", answer.body);
    assert_eq!(answer.body["ExtraInfo"]["subscription_id"], sub.as_str());
    assert_eq!(answer.body["ExtraInfo"]["customer_id"], cus.as_str());
    assert_eq!(answer.body["AccountExtraInfo"]["customer_id"], cus.as_str());
    assert_eq!(answer.body["SendNotification"], false);
    assert_eq!(answer.body["ErrorCode"], 0);

    let (row, history) = stored(&app, &sub).await;
    assert_eq!(row.quantity, 10);
    assert_eq!(row.status, "active");
    assert_eq!(row.bss_subscription_id, "51234");
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].kind, "created");
    assert_eq!(history[0].new_quantity, 10);

    // The BSS's retry: same Result, nothing written.
    let again = app
        .post("Subscriptions/Create", &create_body(&cus, "51234", 10))
        .await;
    assert_eq!(ok(&again), sub);
    assert_eq!(stored(&app, &sub).await.1.len(), 1);
    // The unknown ProductID became one recorded plan.
    let plans = app.with_store(mailroom::store::catalog::plans).await;
    assert_eq!(
        plans
            .iter()
            .filter(|p| p.product_id.as_deref() == Some("1207"))
            .count(),
        1
    );
}

async fn check_only_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let cus = customer(&app, "9010", "subs-check.example").await;
    let before = counts(&app).await;
    let mut body = create_body(&cus, "60001", 5);
    body["CheckOnly"] = json!(true);
    let answer = app.post("Subscriptions/Create", &body).await;
    assert_eq!(answer.code(), 0, "{}", answer.body);
    assert!(answer.result_opt().is_none(), "{}", answer.body);
    assert_eq!(
        counts(&app).await,
        before,
        "no subscription, history or plan"
    );

    // A refusal is the same with CheckOnly.
    body["Quantity"] = json!(0);
    assert_eq!(app.post("Subscriptions/Create", &body).await.code(), -80062);

    // CheckOnly on an existing subscription changes nothing either.
    let sub = ok(&app
        .post("Subscriptions/Create", &create_body(&cus, "60001", 5))
        .await);
    let before = counts(&app).await;
    for (action, mut body) in [
        ("Subscriptions/Update", create_body(&cus, "60001", 9)),
        ("Subscriptions/Cancel", json!({"ID": sub})),
    ] {
        body["CheckOnly"] = json!(true);
        let answer = app.post(action, &body).await;
        assert_eq!(answer.code(), 0, "{action}: {}", answer.body);
    }
    assert_eq!(counts(&app).await, before);
    let (row, _) = stored(&app, &sub).await;
    assert_eq!((row.quantity, row.status.as_str()), (5, "active"));
}

async fn each_refusal_has_its_code(backend: Backend) {
    let app = spawn_app(backend).await;
    let cus = customer(&app, "9020", "subs-refuse.example").await;

    let answer = app
        .post(
            "Subscriptions/Create",
            &create_body("cus_nobody", "70001", 5),
        )
        .await;
    assert_eq!(answer.code(), -20, "{}", answer.body);

    let mut body = create_body(&cus, "70002", 5);
    body["ServiceType"] = json!("fax_machine");
    assert_eq!(app.post("Subscriptions/Create", &body).await.code(), -21);

    for quantity in [0, -3] {
        let answer = app
            .post(
                "Subscriptions/Create",
                &create_body(&cus, "70003", quantity),
            )
            .await;
        assert_eq!(answer.code(), -80062, "{}", answer.body);
        assert!(!answer.message().is_empty());
    }

    let mut body = create_body(&cus, "70004", 5);
    body["ProductID"] = json!("1300");
    body["AttributeList"] = json!({"storage_gb": {"ID": "storage_gb", "Value": "50"}});
    let answer = app.post("Subscriptions/Create", &body).await;
    assert_eq!(answer.code(), -80063, "{}", answer.body);
    assert!(answer.message().contains("Mailbox type"), "{}", answer.body);

    // A deprecated plan is not sold.
    let mut body = create_body(&cus, "70005", 5);
    body["ProductID"] = json!("1400");
    body["CheckOnly"] = json!(false);
    ok(&app.post("Subscriptions/Create", &body).await);
    app.with_store(|conn| {
        let plan = mailroom::store::catalog::plans(conn)?
            .into_iter()
            .find(|p| p.product_id.as_deref() == Some("1400"))
            .expect("recorded");
        mailroom::store::catalog::update_plan(conn, &plan.public_id, |d| d.deprecated = true)
    })
    .await;
    body["SubscriptionID"] = json!("70006");
    assert_eq!(app.post("Subscriptions/Create", &body).await.code(), -80061);

    // One archiving subscription only.
    let archiving = |sid: &str| {
        let mut body = create_body(&cus, sid, 1);
        body["ServiceType"] = json!("archiving");
        body["ProductID"] = json!("2000");
        body["AttributeList"] = json!({"retention_years": {"ID": "retention_years", "Value": 5}});
        body
    };
    ok(&app.post("Subscriptions/Create", &archiving("70007")).await);
    let answer = app.post("Subscriptions/Create", &archiving("70008")).await;
    assert_eq!(answer.code(), -80064, "{}", answer.body);

    // Updating what does not exist.
    let answer = app
        .post(
            "Subscriptions/Update",
            &json!({"ID": "sub_nope", "Quantity": 3}),
        )
        .await;
    assert_eq!(answer.code(), -22, "{}", answer.body);

    // A suspended customer orders nothing.
    let target = cus.clone();
    app.with_store(move |conn| {
        mailroom::store::customers::apply_status_action(conn, &target, CustomerAction::Suspend)
    })
    .await;
    let answer = app
        .post("Subscriptions/Create", &create_body(&cus, "70009", 5))
        .await;
    assert_eq!(answer.code(), -80060, "{}", answer.body);
}

async fn concurrent_creates_make_one_subscription(backend: Backend) {
    let app = spawn_app(backend).await;
    let cus = customer(&app, "9030", "subs-race.example").await;
    let body = create_body(&cus, "80001", 7);
    let answers = join_all((0..20).map(|_| app.post("Subscriptions/Create", &body))).await;
    let results: std::collections::BTreeSet<String> = answers.iter().map(ok).collect();
    assert_eq!(results.len(), 1, "{results:?}");
    let (subs, changes, _) = counts(&app).await;
    assert_eq!((subs, changes), (1, 1));
}

async fn an_update_is_a_history_row_and_seats_follow_the_dates(backend: Backend) {
    let app = spawn_app(backend).await;
    let cus = customer(&app, "9040", "subs-history.example").await;
    let before_create = Utc::now().naive_utc();
    tokio::time::sleep(Duration::from_millis(30)).await;
    let sub = ok(&app
        .post("Subscriptions/Create", &create_body(&cus, "90001", 10))
        .await);
    tokio::time::sleep(Duration::from_millis(30)).await;
    let between = Utc::now().naive_utc();
    tokio::time::sleep(Duration::from_millis(30)).await;

    let mut update = create_body("", "90001", 12);
    update["ID"] = json!(sub);
    let answer = post_tracked(&app, "Subscriptions/Update", &update, "track-update-1").await;
    assert_eq!(ok(&answer), sub);
    tokio::time::sleep(Duration::from_millis(30)).await;
    let after = Utc::now().naive_utc();

    let (row, history) = stored(&app, &sub).await;
    assert_eq!(row.quantity, 12);
    let last = history.last().expect("history");
    assert_eq!(history.len(), 2);
    assert_eq!(last.kind, "quantity");
    assert_eq!((last.old_quantity, last.new_quantity), (Some(10), 12));
    assert_eq!(last.source, "bss");
    assert_eq!(last.track_id.as_deref(), Some("track-update-1"));

    let seats = |at: NaiveDateTime| {
        let (customer_id, plan_id) = (row.customer_id, row.plan_id);
        app.with_store(move |conn| subscriptions::seats_on(conn, customer_id, plan_id, at))
    };
    assert_eq!(seats(before_create).await, 0);
    assert_eq!(seats(between).await, 10);
    assert_eq!(seats(after).await, 12);

    // Cancelled: no seats from then on, the past unchanged.
    ok(&app.post("Subscriptions/Cancel", &json!({"ID": sub})).await);
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert_eq!(seats(Utc::now().naive_utc()).await, 0);
    assert_eq!(seats(after).await, 12);
}

async fn status_changes_and_cancelled_is_final(backend: Backend) {
    let app = spawn_app(backend).await;
    let cus = customer(&app, "9050", "subs-status.example").await;
    let sub = ok(&app
        .post("Subscriptions/Create", &create_body(&cus, "91001", 3))
        .await);
    // Named by the BSS's SubscriptionID, or by ExtraDetails.
    ok(&app
        .post("Subscriptions/Suspend", &json!({"SubscriptionID": "91001"}))
        .await);
    assert_eq!(stored(&app, &sub).await.0.status, "suspended");
    ok(&app
        .post(
            "Subscriptions/Activate",
            &json!({"ExtraDetails": {"subscription_id": sub}}),
        )
        .await);
    assert_eq!(stored(&app, &sub).await.0.status, "active");
    ok(&app.post("Subscriptions/Cancel", &json!({"ID": sub})).await);
    let (row, history) = stored(&app, &sub).await;
    assert_eq!(row.status, "cancelled");
    assert!(row.cancelled_at.is_some());
    let kinds: Vec<_> = history
        .iter()
        .map(|c| {
            (
                c.kind.as_str(),
                c.old_status.as_deref(),
                c.new_status.as_str(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("created", None, "active"),
            ("status", Some("active"), "suspended"),
            ("status", Some("suspended"), "active"),
            ("status", Some("active"), "cancelled"),
        ]
    );
    // Cancelling again is fine; anything else is refused.
    ok(&app.post("Subscriptions/Cancel", &json!({"ID": sub})).await);
    assert_eq!(
        app.post("Subscriptions/Activate", &json!({"ID": sub}))
            .await
            .code(),
        -23
    );
    let mut update = create_body(&cus, "91001", 4);
    update["ID"] = json!(sub);
    assert_eq!(app.post("Subscriptions/Update", &update).await.code(), -23);
    assert_eq!(app.post("Subscriptions/Create", &update).await.code(), -23);
}

async fn a_customers_delete_and_suspension_carry_over(backend: Backend) {
    let app = spawn_app(backend).await;
    let cus = customer(&app, "9060", "subs-cascade.example").await;
    let sub = ok(&app
        .post("Subscriptions/Create", &create_body(&cus, "92001", 3))
        .await);

    let target = cus.clone();
    app.with_store(move |conn| {
        mailroom::store::customers::apply_status_action(conn, &target, CustomerAction::Suspend)
    })
    .await;
    let (row, history) = stored(&app, &sub).await;
    assert_eq!(row.status, "suspended");
    assert_eq!(history.last().map(|c| c.source.as_str()), Some("console"));
    let target = cus.clone();
    app.with_store(move |conn| {
        mailroom::store::customers::apply_status_action(conn, &target, CustomerAction::Restore)
    })
    .await;
    assert_eq!(stored(&app, &sub).await.0.status, "active");

    let answer = post_tracked(
        &app,
        "Accounts/Delete",
        &json!({"ExternalID": cus}),
        "track-delete-1",
    )
    .await;
    assert_eq!(answer.code(), 0, "{}", answer.body);
    let (row, history) = stored(&app, &sub).await;
    assert_eq!(row.status, "cancelled");
    let last = history.last().expect("history");
    assert_eq!(
        (
            last.kind.as_str(),
            last.new_status.as_str(),
            last.source.as_str()
        ),
        ("status", "cancelled", "bss")
    );
    assert_eq!(last.track_id.as_deref(), Some("track-delete-1"));
}

async fn recorded_plans(app: &TestApp, product_id: &str) -> usize {
    let product_id = product_id.to_owned();
    app.with_store(mailroom::store::catalog::plans)
        .await
        .iter()
        .filter(|p| p.product_id.as_deref() == Some(product_id.as_str()))
        .count()
}

fn attributes(row: &SubscriptionRow) -> Value {
    serde_json::from_str(&row.attribute_values).expect("stored attributes are JSON")
}

/// An Update without `AttributeList` keeps the stored attributes; one with
/// it replaces them, and an attribute-only change is a history row.
async fn an_update_keeps_or_replaces_attributes_with_history(backend: Backend) {
    let app = spawn_app(backend).await;
    let cus = customer(&app, "9070", "subs-attrs.example").await;
    let sub = ok(&app
        .post("Subscriptions/Create", &create_body(&cus, "93001", 5))
        .await);

    let answer = app
        .post("Subscriptions/Update", &json!({"ID": sub, "Quantity": 6}))
        .await;
    assert_eq!(ok(&answer), sub);
    let (row, history) = stored(&app, &sub).await;
    assert_eq!(row.quantity, 6);
    assert_eq!(
        attributes(&row),
        json!({"storage_gb": "50", "mailbox_type": "business"}),
        "an Update without AttributeList keeps the stored attributes"
    );
    assert_eq!(history.len(), 2, "created, quantity");

    let mut update = create_body(&cus, "93001", 6);
    update["ID"] = json!(sub);
    update["AttributeList"]["storage_gb"]["Value"] = json!("100");
    let answer = post_tracked(&app, "Subscriptions/Update", &update, "track-attrs-1").await;
    assert_eq!(ok(&answer), sub);
    let (row, history) = stored(&app, &sub).await;
    assert_eq!(attributes(&row)["storage_gb"], "100");
    assert_eq!(
        history.len(),
        3,
        "an attribute-only change is a history row"
    );
    let last = history.last().expect("history");
    assert_eq!(
        (
            last.kind.as_str(),
            last.new_quantity,
            last.new_status.as_str()
        ),
        ("attributes", 6, "active")
    );
    assert_eq!(last.track_id.as_deref(), Some("track-attrs-1"));

    // The same attributes again: nothing to record.
    ok(&app.post("Subscriptions/Update", &update).await);
    assert_eq!(stored(&app, &sub).await.1.len(), 3);
}

/// A plan recorded for an unknown ProductID stays only when the order goes
/// through: a refused order leaves none.
async fn a_refused_order_records_no_plan(backend: Backend) {
    let app = spawn_app(backend).await;
    let cus = customer(&app, "9080", "subs-noplan.example").await;

    let mut body = create_body("cus_nobody", "94001", 5);
    body["ProductID"] = json!("5555");
    assert_eq!(app.post("Subscriptions/Create", &body).await.code(), -20);
    let mut body = create_body(&cus, "94002", 0);
    body["ProductID"] = json!("5555");
    assert_eq!(app.post("Subscriptions/Create", &body).await.code(), -80062);
    assert_eq!(recorded_plans(&app, "5555").await, 0, "refused: no plan");

    body["Quantity"] = json!(3);
    ok(&app.post("Subscriptions/Create", &body).await);
    assert_eq!(recorded_plans(&app, "5555").await, 1);
}

/// A quantity beyond what a subscription can hold is refused, not clamped;
/// one sent as text is read; garbage is a clear -2.
async fn quantities_are_read_liberally_and_refused_beyond_range(backend: Backend) {
    let app = spawn_app(backend).await;
    let cus = customer(&app, "9090", "subs-qty.example").await;
    let before = counts(&app).await;
    for quantity in [json!(2_147_483_648_i64), json!("99999999999999999999999")] {
        let mut body = create_body(&cus, "95001", 1);
        body["Quantity"] = quantity;
        let answer = app.post("Subscriptions/Create", &body).await;
        assert_eq!(answer.code(), -80062, "{}", answer.body);
        assert!(answer.message().contains("at most"), "{}", answer.body);
    }
    assert_eq!(counts(&app).await.0, before.0, "nothing created");

    let mut body = create_body(&cus, "95002", 1);
    body["Quantity"] = json!(" 5 ");
    let sub = ok(&app.post("Subscriptions/Create", &body).await);
    assert_eq!(stored(&app, &sub).await.0.quantity, 5);

    let mut update = json!({"ID": sub, "Quantity": "7"});
    ok(&app.post("Subscriptions/Update", &update).await);
    assert_eq!(stored(&app, &sub).await.0.quantity, 7);
    update["Quantity"] = json!("seven");
    let answer = app.post("Subscriptions/Update", &update).await;
    assert_eq!(answer.code(), -2, "{}", answer.body);
    assert!(answer.message().contains("Quantity"), "{}", answer.body);
    assert_eq!(stored(&app, &sub).await.0.quantity, 7);
}

/// An UpgradeDowngrade that carries a new SubscriptionID (the old one as
/// OriginalSubscriptionID) stores the new one: later calls by it find the
/// subscription, and the retried upgrade answers the same subscription.
async fn an_upgrade_with_a_new_subscription_id_stores_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let cus = customer(&app, "9100", "subs-upgrade.example").await;
    let sub = ok(&app
        .post("Subscriptions/Create", &create_body(&cus, "96001", 5))
        .await);

    let mut upgrade = create_body(&cus, "96002", 5);
    upgrade["OriginalSubscriptionID"] = json!("96001");
    upgrade["ProductID"] = json!("1208");
    upgrade["ActionType"] = json!("Upgrade");
    let answer = app.post("Subscriptions/UpgradeDowngrade", &upgrade).await;
    assert_eq!(ok(&answer), sub, "{}", answer.body);
    let (row, history) = stored(&app, &sub).await;
    assert_eq!(row.bss_subscription_id, "96002");
    assert_eq!(history.last().map(|c| c.kind.as_str()), Some("plan"));

    // The retry, and later calls by the new id, find the same subscription.
    assert_eq!(
        ok(&app.post("Subscriptions/UpgradeDowngrade", &upgrade).await),
        sub
    );
    assert_eq!(
        ok(&app
            .post("Subscriptions/Suspend", &json!({"SubscriptionID": "96002"}))
            .await),
        sub
    );
    let (row, history) = stored(&app, &sub).await;
    assert_eq!(row.status, "suspended");
    assert_eq!(history.len(), 3, "created, plan, status");
}

both_backends!(
    an_update_keeps_or_replaces_attributes_with_history,
    a_refused_order_records_no_plan,
    quantities_are_read_liberally_and_refused_beyond_range,
    an_upgrade_with_a_new_subscription_id_stores_it,
    a_seed_shaped_create_round_trips,
    check_only_changes_nothing,
    each_refusal_has_its_code,
    concurrent_creates_make_one_subscription,
    an_update_is_a_history_row_and_seats_follow_the_dates,
    status_changes_and_cancelled_is_final,
    a_customers_delete_and_suspension_carry_over,
);
