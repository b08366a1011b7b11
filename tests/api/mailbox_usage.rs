//! The mailboxes in use per subscription, kept as a history beside the
//! quantity history: every seat taken or given back, a mailbox's status and
//! a subscription's cancellation move it, and `in_use_on` reads it for a
//! past date the way `seats_on` reads the quantities.

use std::time::Duration;

use chrono::Utc;
use mailroom::domain::operator::Role;
use mailroom::store::{mailbox_usage, subscriptions};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::both_backends;
use crate::helpers::{spawn_app, Backend, TestApp};
use crate::seats::{ok, user};
use crate::subscriptions::{create_body, customer};

/// The in-use counts of a subscription's history rows, oldest first, and
/// the ids of its customer and plan.
async fn usage_history(app: &TestApp, sub: &str) -> (Vec<i32>, i64, i64) {
    let sub = sub.to_owned();
    app.with_store(move |conn| {
        let row = subscriptions::by_public_id(conn, &sub)?.expect("the subscription");
        let rows = mailbox_usage::history(conn, row.id)?;
        Ok((
            rows.iter().map(|r| r.in_use).collect(),
            row.customer_id,
            row.plan_id,
        ))
    })
    .await
}

async fn in_use_on(
    app: &TestApp,
    customer_id: i64,
    plan_id: i64,
    at: chrono::NaiveDateTime,
) -> i64 {
    app.with_store(move |conn| mailbox_usage::in_use_on(conn, customer_id, plan_id, at))
        .await
}

/// Adds, a disable and re-activation, a service removed, a deprovision, a
/// delete and the cancellation each write the new count once; a retried
/// add writes nothing; a past date reads the count of its time.
async fn usage_follows_every_seat_and_status(backend: Backend) {
    let app = spawn_app(backend).await;
    let cus = customer(&app, "9400", "usage.example").await;
    let sub = ok(&app
        .post("Subscriptions/Create", &create_body(&cus, "94001", 10))
        .await);
    assert_eq!(usage_history(&app, &sub).await.0, Vec::<i32>::new());

    let mut ids = Vec::new();
    for n in 0..4 {
        let body = user(&cus, &format!("user{n}@usage.example"), &sub);
        ids.push(ok(&app.post("Users/Add", &body).await));
    }
    // The BSS's retry of an add changes nothing.
    ok(&app
        .post("Users/Add", &user(&cus, "user0@usage.example", &sub))
        .await);
    let (history, customer_id, plan_id) = usage_history(&app, &sub).await;
    assert_eq!(history, vec![1, 2, 3, 4]);
    tokio::time::sleep(Duration::from_millis(30)).await;
    let with_four = Utc::now().naive_utc();
    tokio::time::sleep(Duration::from_millis(30)).await;

    ok(&app.post("Users/Disable", &json!({"ID": ids[0]})).await);
    ok(&app.post("Users/Activate", &json!({"ID": ids[0]})).await);
    let service = json!({"ServiceID": sub, "User": {"ID": ids[1]}});
    ok(&app.post("Users/Service/Delete", &service).await);
    ok(&app.post("Users/DeProvision", &json!({"ID": ids[2]})).await);
    ok(&app.post("Users/Delete", &json!({"ID": ids[3]})).await);
    assert_eq!(
        usage_history(&app, &sub).await.0,
        vec![1, 2, 3, 4, 3, 4, 3, 2, 1]
    );
    assert_eq!(in_use_on(&app, customer_id, plan_id, with_four).await, 4);
    assert_eq!(
        in_use_on(&app, customer_id, plan_id, Utc::now().naive_utc()).await,
        1
    );

    // Operators read it on the subscription's detail.
    let token = app.sign_in_as(Role::MailAdmin).await;
    let detail = app
        .operator_call(Method::GET, &format!("/subscriptions/{sub}"), &token, None)
        .await;
    assert_eq!(detail.status, StatusCode::OK, "{:?}", detail.body);
    let in_use: Vec<i64> = detail.body["usage"]
        .as_array()
        .expect("usage")
        .iter()
        .map(|point| point["in_use"].as_i64().unwrap())
        .collect();
    assert_eq!(in_use, vec![1, 2, 3, 4, 3, 4, 3, 2, 1]);

    ok(&app.post("Subscriptions/Cancel", &json!({"ID": sub})).await);
    let (history, ..) = usage_history(&app, &sub).await;
    assert_eq!(history.last(), Some(&0), "{history:?}");
    assert_eq!(
        in_use_on(&app, customer_id, plan_id, Utc::now().naive_utc()).await,
        0
    );
    // Before the cancellation the history still says what was in use.
    assert_eq!(in_use_on(&app, customer_id, plan_id, with_four).await, 4);
}

/// A deleted customer's mailboxes leave its subscriptions with none in use.
async fn a_deleted_customer_ends_with_none_in_use(backend: Backend) {
    let app = spawn_app(backend).await;
    let cus = customer(&app, "9401", "usage-gone.example").await;
    let sub = ok(&app
        .post("Subscriptions/Create", &create_body(&cus, "94011", 5))
        .await);
    for n in 0..2 {
        let body = user(&cus, &format!("user{n}@usage-gone.example"), &sub);
        ok(&app.post("Users/Add", &body).await);
    }
    let delete = json!({"ExternalID": cus});
    ok(&app.post("Accounts/Delete", &delete).await);
    let (history, ..) = usage_history(&app, &sub).await;
    assert_eq!(history.first(), Some(&1));
    assert_eq!(history.last(), Some(&0), "{history:?}");
}

both_backends!(
    usage_follows_every_seat_and_status,
    a_deleted_customer_ends_with_none_in_use,
);
