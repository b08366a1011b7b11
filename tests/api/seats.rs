//! Seats against subscriptions: a quantity never drops below the mailboxes
//! holding the subscription (Update, UpgradeDowngrade, UpgradeToPaid,
//! CheckOnly included, and while mailboxes are added at the same time), and
//! a customer's Delete frees its mailboxes and their addresses.

use futures::future::join_all;
use mailroom::store::mailboxes;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{spawn_app, Answer, Backend, TestApp};
use crate::subscriptions::{create_body, customer, stored};

pub(crate) fn ok(answer: &Answer) -> String {
    assert_eq!(answer.code(), 0, "{}", answer.body);
    answer.result().to_owned()
}

pub(crate) fn user(external_id: &str, address: &str, service: &str) -> Value {
    json!({
        "ID": "",
        "Customer": {"ID": external_id, "AccountID": "", "Name": "Customer", "IsTest": false},
        "FirstName": "Pat",
        "LastName": "Jones",
        "DisplayName": "Pat Jones",
        "Username": address,
        "Email": address,
        "Password": "",
        "Status": "Provisioned",
        "Role": "User",
        "ServiceID": service
    })
}

async fn seats(app: &TestApp, sub: &str) -> (i64, i64) {
    let sub = sub.to_owned();
    let seats = app
        .with_store(move |conn| mailboxes::seats_of(conn, &sub))
        .await
        .expect("a subscription");
    (seats.quantity, seats.taken)
}

async fn mailbox_count(app: &TestApp) -> i64 {
    app.with_store(|conn| {
        use diesel::prelude::*;
        use mailroom::store::schema::mailboxes;
        Ok(mailboxes::table.count().get_result::<i64>(conn)?)
    })
    .await
}

/// Update, CheckOnly, UpgradeDowngrade and UpgradeToPaid below the seats in
/// use are refused with the storefront code that says how many mailboxes
/// use the subscription; down to exactly the seats in use is fine.
async fn a_quantity_below_the_seats_in_use_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let cus = customer(&app, "9300", "seats-lower.example").await;
    let sub = ok(&app
        .post("Subscriptions/Create", &create_body(&cus, "93001", 5))
        .await);
    for n in 0..3 {
        let address = format!("user{n}@seats-lower.example");
        ok(&app.post("Users/Add", &user(&cus, &address, &sub)).await);
    }
    assert_eq!(seats(&app, &sub).await, (5, 3));

    for action in [
        "Subscriptions/Update",
        "Subscriptions/UpgradeDowngrade",
        "Subscriptions/UpgradeToPaid",
    ] {
        for check_only in [true, false] {
            let mut body = create_body(&cus, "93001", 2);
            body["CheckOnly"] = json!(check_only);
            let answer = app.post(action, &body).await;
            assert_eq!(answer.code(), -80067, "{action}: {}", answer.body);
            assert!(
                answer
                    .message()
                    .contains("3 mailboxes use this subscription"),
                "{}",
                answer.body
            );
        }
    }
    let (row, history) = stored(&app, &sub).await;
    assert_eq!(row.quantity, 5);
    assert_eq!(history.len(), 1, "only the creation: {history:?}");

    // Down to the seats in use: allowed; then a mailbox fewer lets it drop.
    ok(&app
        .post("Subscriptions/Update", &create_body(&cus, "93001", 3))
        .await);
    assert_eq!(seats(&app, &sub).await, (3, 3));
    let answer = app
        .post("Subscriptions/Update", &create_body(&cus, "93001", 2))
        .await;
    assert_eq!(answer.code(), -80067, "{}", answer.body);
    ok(&app
        .post(
            "Users/DeProvision",
            &json!({"Username": "user0@seats-lower.example"}),
        )
        .await);
    ok(&app
        .post("Subscriptions/Update", &create_body(&cus, "93001", 2))
        .await);
    assert_eq!(seats(&app, &sub).await, (2, 2));
}

/// Mailboxes added while the quantity is lowered: whichever commits first,
/// the seats held never exceed the quantity.
async fn lowering_while_adding_never_overbooks(backend: Backend) {
    let app = spawn_app(backend).await;
    let cus = customer(&app, "9310", "seats-race.example").await;
    let sub = ok(&app
        .post("Subscriptions/Create", &create_body(&cus, "93101", 10))
        .await);
    for n in 0..4 {
        let address = format!("first{n}@seats-race.example");
        ok(&app.post("Users/Add", &user(&cus, &address, &sub)).await);
    }
    let adds = (0..6).map(|n| {
        let body = user(&cus, &format!("race{n}@seats-race.example"), &sub);
        let app = &app;
        async move { app.post("Users/Add", &body).await }
    });
    let lowering = create_body(&cus, "93101", 6);
    let lower = app.post("Subscriptions/Update", &lowering);
    let (added, lowered) = tokio::join!(join_all(adds), lower);
    let (quantity, taken) = seats(&app, &sub).await;
    assert!(taken <= quantity, "{taken} seats taken of {quantity}");
    let added_ok = added.iter().filter(|a| a.code() == 0).count() as i64;
    assert_eq!(taken, 4 + added_ok);
    for answer in &added {
        assert!(
            [0, -80073].contains(&answer.code()),
            "an add: {}",
            answer.body
        );
    }
    match lowered.code() {
        0 => assert_eq!(quantity, 6),
        -80067 => assert_eq!(quantity, 10),
        other => panic!("the update answered {other}: {}", lowered.body),
    }
}

/// Accounts/Delete removes the customer's mailboxes and their seats in its
/// transaction: a returning customer with the same domain adds the same
/// addresses.
async fn a_deleted_customer_frees_its_mailboxes(backend: Backend) {
    let app = spawn_app(backend).await;
    let cus = customer(&app, "9320", "seats-gone.example").await;
    let sub = ok(&app
        .post("Subscriptions/Create", &create_body(&cus, "93201", 5))
        .await);
    ok(&app
        .post("Users/Add", &user(&cus, "pat@seats-gone.example", &sub))
        .await);
    ok(&app
        .post("Users/Add", &user(&cus, "sam@seats-gone.example", &sub))
        .await);
    assert_eq!(mailbox_count(&app).await, 2);

    let deleted = app
        .post("Accounts/Delete", &json!({"ExternalID": cus}))
        .await;
    assert_eq!(deleted.code(), 0, "{}", deleted.body);
    assert_eq!(mailbox_count(&app).await, 0);
    assert_eq!(seats(&app, &sub).await, (5, 0));
    let gone = app
        .post("Users/Get", &json!({"Username": "pat@seats-gone.example"}))
        .await;
    assert_eq!(gone.code(), -30, "{}", gone.body);

    // The same domain comes back as a new customer with the same addresses.
    let again = customer(&app, "9321", "seats-gone.example").await;
    assert_ne!(again, cus);
    let sub2 = ok(&app
        .post("Subscriptions/Create", &create_body(&again, "93211", 5))
        .await);
    ok(&app
        .post("Users/Add", &user(&again, "Pat@Seats-Gone.example", &sub2))
        .await);
    assert_eq!(seats(&app, &sub2).await, (5, 1));
}

both_backends!(
    a_quantity_below_the_seats_in_use_is_refused,
    lowering_while_adding_never_overbooks,
    a_deleted_customer_frees_its_mailboxes,
);
