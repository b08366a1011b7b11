//! Users/*: mailboxes over HTTP on both backends: every route, the seat
//! limit under concurrency, the address rules (case, IDN, foreign domain,
//! taken), idempotent adds, paging and search.

use std::time::{Duration, Instant};

use futures::future::join_all;
use mailroom::store::audit::{self, AuditEntry};
use mailroom::store::mailboxes;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{account, spawn_app, Answer, Backend, TestApp};

/// A customer synchronized; returns its ExternalID.
async fn customer(app: &TestApp, id: &str, domain: &str) -> String {
    app.synchronize(&account(id, domain))
        .await
        .result()
        .to_owned()
}

/// A subscription of `quantity` seats; returns its `sub_` id.
async fn subscription(app: &TestApp, external_id: &str, bss_id: &str, quantity: i64) -> String {
    let answer = app
        .post(
            "Subscriptions/Create",
            &json!({
                "SubscriptionID": bss_id,
                "Name": "Hosted mailbox Business",
                "ServiceType": "hosted_mailbox",
                "ProductID": "1207",
                "Quantity": quantity,
                "Account": {"ExternalID": external_id},
                "AttributeList": {
                    "storage_gb": {"ID": "storage_gb", "Value": "50"},
                    "mailbox_type": {"ID": "mailbox_type", "Value": "business"}
                }
            }),
        )
        .await;
    assert_eq!(answer.code(), 0, "{}", answer.body);
    answer.result().to_owned()
}

fn user(external_id: &str, address: &str) -> Value {
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
        "PercentageCompleted": 0,
        "TotalServices": 0,
        "SecondaryEmail": "pat@home.example"
    })
}

fn ok(answer: &Answer) -> String {
    assert_eq!(answer.code(), 0, "{}", answer.body);
    answer.result().to_owned()
}

async fn add(app: &TestApp, external_id: &str, address: &str) -> String {
    ok(&app.post("Users/Add", &user(external_id, address)).await)
}

async fn seats(app: &TestApp, sub: &str) -> (i64, i64) {
    let sub = sub.to_owned();
    let seats = app
        .with_store(move |conn| mailboxes::seats_of(conn, &sub))
        .await
        .expect("a subscription");
    (seats.quantity, seats.taken)
}

async fn every_route_round_trips(backend: Backend) {
    let app = spawn_app(backend).await;
    let cus = customer(&app, "7000", "users-round.example").await;
    let sub = subscription(&app, &cus, "70001", 5).await;

    let mut body = user(&cus, "Pat.Jones@Users-Round.example");
    body["ServiceID"] = json!(sub);
    body["Password"] = json!("correct horse 7");
    let added = app.post("USERS/add", &body).await;
    let mbx = ok(&added);
    assert!(mbx.starts_with("mbx_"), "{}", added.body);
    assert_eq!(added.body["ID"], mbx.as_str());
    assert_eq!(added.body["Username"], "Pat.Jones@Users-Round.example");
    assert_eq!(added.body["Status"], "Provisioned");
    assert_eq!(added.body["TotalServices"], 1);
    assert_eq!(added.body["Customer"]["ID"], cus.as_str());
    assert_eq!(added.body["Customer"]["AccountID"], "7000");
    assert_eq!(added.body["HasPassword"], true);
    assert!(added.body.get("Password").is_none(), "{}", added.body);
    assert!(!added.body.to_string().contains("correct horse"));
    let stored = {
        let mbx = mbx.clone();
        app.with_store(move |conn| mailboxes::by_public_id(conn, &mbx))
            .await
            .expect("stored")
    };
    assert_eq!(stored.normalized_address, "pat.jones@users-round.example");
    assert!(stored
        .password_hash
        .as_deref()
        .is_some_and(|h| h.starts_with("$argon2")));
    assert_eq!(seats(&app, &sub).await, (5, 1));
    // The audit names the call and its mailbox, with the password masked.
    let audited = audited(&app, "Users/Add").await;
    assert_eq!(audited.external_id.as_deref(), Some(mbx.as_str()));
    let logged = audited.request_body.unwrap_or_default();
    assert!(logged.contains("Pat.Jones@Users-Round.example"), "{logged}");
    assert!(!logged.contains("correct horse"), "{logged}");

    // Get by id, and by the address in another case.
    let got = app.post("Users/Get", &json!({"ID": mbx})).await;
    assert_eq!(ok(&got), mbx);
    let got = app
        .post(
            "Users/Get",
            &json!({"Username": "PAT.JONES@users-round.EXAMPLE"}),
        )
        .await;
    assert_eq!(ok(&got), mbx);
    assert_eq!(got.body["SecondaryEmail"], "pat@home.example");

    // Update: fields left out keep their value.
    let updated = app
        .post(
            "Users/Update",
            &json!({"ID": mbx, "DisplayName": "P. Jones", "Role": "Admin"}),
        )
        .await;
    ok(&updated);
    assert_eq!(updated.body["DisplayName"], "P. Jones");
    assert_eq!(updated.body["Role"], "Admin");
    assert_eq!(updated.body["FirstName"], "Pat");
    let again = app
        .post(
            "Users/Update",
            &json!({"ID": mbx, "DisplayName": "P. Jones"}),
        )
        .await;
    assert!(
        again.message().contains("nothing changed"),
        "{}",
        again.body
    );
    let weak = app
        .post("Users/Update", &json!({"ID": mbx, "Password": "short"}))
        .await;
    assert_eq!(weak.code(), -80076, "{}", weak.body);

    // Services.
    let services = app
        .post("Users/Service/Get/List", &json!({"ID": mbx}))
        .await;
    ok(&services);
    assert_eq!(services.body["Services"][0]["ID"], sub.as_str());
    assert_eq!(
        services.body["Services"][0]["Name"],
        "Hosted mailbox Business"
    );
    assert_eq!(services.body["Services"][0]["SeatsLeft"], 4);
    let removed = app
        .post(
            "Users/Service/Delete",
            &json!({"ServiceID": sub, "User": {"ID": mbx}}),
        )
        .await;
    ok(&removed);
    assert_eq!(removed.body["TotalServices"], 0);
    assert_eq!(seats(&app, &sub).await, (5, 0));
    let readded = app
        .post(
            "Users/Service/Add",
            &json!({"serviceid": sub, "user": {"id": mbx}}),
        )
        .await;
    ok(&readded);
    assert_eq!(readded.body["TotalServices"], 1);
    let held = app
        .post(
            "Users/Service/Add",
            &json!({"ServiceID": sub, "User": {"ID": mbx}}),
        )
        .await;
    assert!(held.message().contains("nothing changed"), "{}", held.body);
    assert_eq!(seats(&app, &sub).await, (5, 1));
    let unknown = app
        .post(
            "Users/Service/Add",
            &json!({"ServiceID": "sub_nope", "User": {"ID": mbx}}),
        )
        .await;
    assert_eq!(unknown.code(), -31, "{}", unknown.body);

    // Statuses.
    let disabled = app.post("Users/Disable", &json!({"ID": mbx})).await;
    ok(&disabled);
    assert_eq!(disabled.body["Status"], "Disabled");
    let provision = app.post("Users/Provision", &json!({"ID": mbx})).await;
    assert_eq!(provision.code(), -32, "{}", provision.body);
    let active = app.post("Users/Activate", &json!({"ID": mbx})).await;
    assert_eq!(active.body["Status"], "Provisioned", "{}", active.body);
    let gone = app.post("Users/DeProvision", &json!({"ID": mbx})).await;
    ok(&gone);
    assert_eq!(gone.body["Status"], "Deprovisioned");
    assert_eq!(
        gone.body["TotalServices"], 0,
        "deprovisioning gives seats back"
    );
    assert_eq!(seats(&app, &sub).await, (5, 0));
    let activate = app.post("Users/Activate", &json!({"ID": mbx})).await;
    assert_eq!(activate.code(), -32, "{}", activate.body);
    let mut seat_for_deprovisioned = user(&cus, "pat.jones@users-round.example");
    seat_for_deprovisioned["ServiceID"] = json!(sub);
    let refused = app.post("Users/Add", &seat_for_deprovisioned).await;
    assert_eq!(refused.code(), -32, "{}", refused.body);
    let back = app.post("Users/Provision", &json!({"ID": mbx})).await;
    assert_eq!(back.body["Status"], "Provisioned", "{}", back.body);

    // Lists.
    let list = app
        .post(
            "Users/Get/List",
            &json!({"CustomerID": cus, "PageID": 1, "PageSize": 10}),
        )
        .await;
    ok_list(&list);
    assert_eq!(list.body["TotalUsers"], 1);
    assert_eq!(list.body["Users"][0]["ID"], mbx.as_str());
    assert_eq!(list.body["AvailableServices"][0]["ID"], sub.as_str());
    assert_eq!(list.body["AvailableServices"][0]["TotalSeats"], 5);
    let customers = app
        .post("Users/Get/Customers", &json!({"SearchText": "users-round"}))
        .await;
    assert_eq!(customers.code(), 0, "{}", customers.body);
    assert_eq!(customers.body["TotalCustomers"], 1);
    assert_eq!(customers.body["Customers"][0]["ID"], cus.as_str());
    assert_eq!(
        customers.body["Customers"][0]["PrimaryDomain"],
        "users-round.example"
    );
    assert_eq!(customers.body["Customers"][0]["TotalUsers"], 1);
    assert_eq!(customers.body["Customers"][0]["Status"], "Provisioned");
    let one = app.post("Users/Get/Customer", &json!({"ID": "7000"})).await;
    assert_eq!(ok(&one), cus);
    assert_eq!(one.body["TotalUsers"], 1);
    assert_eq!(
        app.post("Users/Get/Customer", &json!({"ID": "nobody"}))
            .await
            .code(),
        -20
    );

    // Delete, and its retry.
    let deleted = app.post("Users/Delete", &json!({"ID": mbx})).await;
    assert_eq!(ok(&deleted), mbx);
    let retry = app.post("Users/Delete", &json!({"ID": mbx})).await;
    assert_eq!(retry.code(), 0, "{}", retry.body);
    assert_eq!(app.post("Users/Get", &json!({"ID": mbx})).await.code(), -30);
    // The address is free again.
    add(&app, &cus, "pat.jones@users-round.example").await;
}

/// The audit entry of the first call to `endpoint` (written off the
/// request path: waited for).
async fn audited(app: &TestApp, endpoint: &str) -> AuditEntry {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let entries = app.with_store(|conn| audit::recent(conn, None, 100)).await;
        if let Some(entry) = entries.into_iter().find(|e| e.endpoint == endpoint) {
            return entry;
        }
        assert!(Instant::now() < deadline, "{endpoint} was not audited");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn ok_list(answer: &Answer) {
    assert_eq!(answer.code(), 0, "{}", answer.body);
}

async fn refusals_name_what_is_wrong(backend: Backend) {
    let app = spawn_app(backend).await;
    let cus = customer(&app, "7100", "users-refuse.example").await;
    for (body, code) in [
        (json!({"Customer": {"ID": cus}}), -2),
        (json!({"Username": "a@users-refuse.example"}), -2),
        (user("cus_nobody", "a@users-refuse.example"), -20),
        (user(&cus, "not an address"), -80070),
        (user(&cus, "a..b@users-refuse.example"), -80070),
        (user(&cus, "a@elsewhere.example"), -80071),
        (user(&cus, "a@sub.users-refuse.example"), -80071),
    ] {
        let answer = app.post("Users/Add", &body).await;
        assert_eq!(answer.status, 200);
        assert_eq!(answer.code(), code, "{body}: {}", answer.body);
    }
    let mut bad_secondary = user(&cus, "b@users-refuse.example");
    bad_secondary["SecondaryEmail"] = json!("nope");
    assert_eq!(app.post("Users/Add", &bad_secondary).await.code(), -80075);
    let mut bad_service = user(&cus, "b@users-refuse.example");
    bad_service["ServiceID"] = json!("sub_unknown");
    assert_eq!(app.post("Users/Add", &bad_service).await.code(), -31);
    assert_eq!(
        app.post("Users/Get", &json!({"ID": "mbx_nope"}))
            .await
            .code(),
        -30
    );
    assert_eq!(
        app.post("Users/Get/List", &json!({"SearchText": "x"}))
            .await
            .code(),
        -2
    );
    assert_eq!(
        app.post(
            "Users/Get/List",
            &json!({"CustomerID": cus, "Statuses": ["Bogus"]})
        )
        .await
        .code(),
        -2
    );
    // Nothing was added by any refusal.
    let list = app
        .post("Users/Get/List", &json!({"CustomerID": cus}))
        .await;
    assert_eq!(list.body["TotalUsers"], 0, "{}", list.body);
    // Another application cannot see or touch this customer's mailboxes.
    let mbx = add(&app, &cus, "c@users-refuse.example").await;
    let other = app.second_application("other tenant").await;
    assert_eq!(
        app.post_as(&other, "Users/Get", &json!({"ID": mbx}))
            .await
            .code(),
        -30
    );
    assert_eq!(
        app.post_as(&other, "Users/Add", &user(&cus, "d@users-refuse.example"))
            .await
            .code(),
        -20
    );
}

async fn address_rules_case_idn_and_idempotency(backend: Backend) {
    let app = spawn_app(backend).await;
    let cus = customer(&app, "7200", "Bücher-Users.example").await;
    let first = app
        .post("Users/Add", &user(&cus, "Info@BÜCHER-users.example"))
        .await;
    let mbx = ok(&first);
    assert_eq!(
        first.body["Username"], "Info@BÜCHER-users.example",
        "kept as given"
    );
    let stored = {
        let mbx = mbx.clone();
        app.with_store(move |conn| mailboxes::by_public_id(conn, &mbx))
            .await
            .expect("stored")
    };
    let ascii = mailroom::domain::identity::DomainName::parse("bücher-users.example").unwrap();
    assert!(ascii.as_str().starts_with("xn--"), "{ascii}");
    assert_eq!(stored.normalized_address, format!("info@{ascii}"));
    // The same address in any spelling, for the same customer: that mailbox.
    for spelling in [
        "info@bücher-users.example".to_owned(),
        format!("INFO@{}", ascii.as_str().to_uppercase()),
        format!(" info@{ascii} "),
    ] {
        let again = app.post("Users/Add", &user(&cus, &spelling)).await;
        assert_eq!(ok(&again), mbx, "{spelling}");
    }
    let list = app
        .post("Users/Get/List", &json!({"CustomerID": cus}))
        .await;
    assert_eq!(list.body["TotalUsers"], 1);

    // Concurrent adds of one address give one mailbox.
    let adds = (0..6).map(|i| {
        let body = user(
            &cus,
            &format!("SAME@bücher-users.example{}", ["", " "][i % 2]),
        );
        let app = &app;
        async move { app.post("Users/Add", &body).await }
    });
    let answers = join_all(adds).await;
    let ids: std::collections::BTreeSet<String> = answers.iter().map(ok).collect();
    assert_eq!(ids.len(), 1, "{ids:?}");

    // An address another customer holds is taken: the first customer moves
    // to another domain and a new customer gets the old one.
    let mut moved = account("7200", "moved-users.example");
    moved["ExternalID"] = json!(cus);
    app.synchronize(&moved).await;
    let newcomer = customer(&app, "7201", "bücher-users.example").await;
    let taken = app
        .post("Users/Add", &user(&newcomer, "info@bücher-users.example"))
        .await;
    assert_eq!(taken.code(), -80072, "{}", taken.body);
    add(&app, &newcomer, "other@bücher-users.example").await;
}

async fn seats_hold_under_concurrency(backend: Backend) {
    let app = spawn_app(backend).await;
    let cus = customer(&app, "7300", "users-seats.example").await;
    let sub = subscription(&app, &cus, "73001", 10).await;
    let adds = (0..20).map(|i| {
        let mut body = user(&cus, &format!("user{i}@users-seats.example"));
        body["ServiceID"] = json!(sub);
        let app = &app;
        async move { app.post("Users/Add", &body).await }
    });
    let answers = join_all(adds).await;
    let codes: Vec<i64> = answers.iter().map(Answer::code).collect();
    assert_eq!(codes.iter().filter(|&&c| c == 0).count(), 10, "{codes:?}");
    assert_eq!(
        codes.iter().filter(|&&c| c == -80073).count(),
        10,
        "{codes:?}"
    );
    let refusal = answers
        .iter()
        .find(|a| a.code() == -80073)
        .expect("a refusal");
    assert!(
        refusal.message().contains("0 seats left of 10"),
        "{}",
        refusal.body
    );
    assert_eq!(seats(&app, &sub).await, (10, 10));
    // A refused add leaves no mailbox behind.
    let list = app
        .post("Users/Get/List", &json!({"CustomerID": cus}))
        .await;
    assert_eq!(list.body["TotalUsers"], 10, "{}", list.body);

    // Service/Add races for the seats freed: 8 mailboxes without a seat
    // race for 3 freed seats.
    let holders: Vec<String> = list.body["Users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["ID"].as_str().unwrap().to_owned())
        .collect();
    for holder in &holders[..3] {
        ok(&app
            .post(
                "Users/Service/Delete",
                &json!({"ServiceID": sub, "User": {"ID": holder}}),
            )
            .await);
    }
    let mut waiting = Vec::new();
    for i in 0..8 {
        waiting.push(add(&app, &cus, &format!("wait{i}@users-seats.example")).await);
    }
    let races = waiting.iter().map(|mbx| {
        let body = json!({"ServiceID": sub, "User": {"ID": mbx}});
        let app = &app;
        async move { app.post("Users/Service/Add", &body).await.code() }
    });
    let codes = join_all(races).await;
    assert_eq!(codes.iter().filter(|&&c| c == 0).count(), 3, "{codes:?}");
    assert_eq!(seats(&app, &sub).await, (10, 10));

    // Usage per customer and plan: provisioned mailboxes holding seats.
    let customer_id = {
        let cus = cus.clone();
        app.with_store(move |conn| {
            Ok(mailroom::store::customers::find_by_external_id(conn, &cus)?
                .expect("customer")
                .id)
        })
        .await
    };
    let usage = app
        .with_store(move |conn| mailboxes::usage(conn, Some(customer_id)))
        .await;
    assert_eq!(usage.len(), 1, "{usage:?}");
    assert_eq!(usage[0].mailboxes, 10);
    ok(&app.post("Users/Disable", &json!({"ID": waiting[0]})).await);
    ok(&app.post("Users/Disable", &json!({"ID": holders[5]})).await);
    let usage = app
        .with_store(move |conn| mailboxes::usage(conn, Some(customer_id)))
        .await;
    assert!(
        usage[0].mailboxes >= 8 && usage[0].mailboxes <= 9,
        "{usage:?}"
    );
}

async fn paging_search_and_filters(backend: Backend) {
    let app = spawn_app(backend).await;
    let cus = customer(&app, "7400", "users-pages.example").await;
    let sub = subscription(&app, &cus, "74001", 5).await;
    for i in 0..25 {
        let mut body = user(&cus, &format!("m{i:02}@users-pages.example"));
        if i % 5 == 0 {
            body["DisplayName"] = json!(format!("Zoë Müller {i}"));
            body["ServiceID"] = json!(sub);
        }
        ok(&app.post("Users/Add", &body).await);
    }
    let page = |id: i64, size: i64| json!({"CustomerID": cus, "PageID": id, "PageSize": size});
    let third = app.post("Users/Get/List", &page(3, 10)).await;
    ok_list(&third);
    assert_eq!(third.body["TotalUsers"], 25);
    let users = third.body["Users"].as_array().unwrap();
    assert_eq!(users.len(), 5);
    assert_eq!(users[0]["Username"], "m20@users-pages.example");
    let first = app.post("Users/Get/List", &page(0, 10)).await;
    assert_eq!(
        first.body["Users"][0]["Username"],
        "m00@users-pages.example"
    );
    assert_eq!(first.body["Users"].as_array().unwrap().len(), 10);
    let beyond = app.post("Users/Get/List", &page(9, 10)).await;
    assert_eq!(beyond.body["Users"].as_array().unwrap().len(), 0);
    assert_eq!(beyond.body["TotalUsers"], 25);

    // Search: address and names, case-insensitively.
    let search = |text: &str| json!({"CustomerID": cus, "SearchText": text});
    let found = app.post("Users/Get/List", &search("M1")).await;
    assert_eq!(found.body["TotalUsers"], 10, "{}", found.body);
    let found = app.post("Users/Get/List", &search("zoë")).await;
    assert_eq!(found.body["TotalUsers"], 5, "{}", found.body);
    let found = app.post("Users/Get/List", &search("100%")).await;
    assert_eq!(
        found.body["TotalUsers"], 0,
        "pattern characters are literal"
    );

    // Filters: by status and by service.
    let m03 = app
        .post("Users/Get", &json!({"Username": "m03@users-pages.example"}))
        .await;
    ok(&app.post("Users/Disable", &json!({"ID": ok(&m03)})).await);
    let disabled = app
        .post(
            "Users/Get/List",
            &json!({"CustomerID": cus, "Statuses": ["disabled"]}),
        )
        .await;
    assert_eq!(disabled.body["TotalUsers"], 1, "{}", disabled.body);
    assert_eq!(disabled.body["Users"][0]["Status"], "Disabled");
    let by_service = app
        .post(
            "Users/Get/List",
            &json!({"CustomerID": cus, "Services": [sub]}),
        )
        .await;
    assert_eq!(by_service.body["TotalUsers"], 5, "{}", by_service.body);
    let by_bss_id = app
        .post(
            "Users/Get/List",
            &json!({"CustomerID": "7400", "PageSize": 1}),
        )
        .await;
    assert_eq!(by_bss_id.body["TotalUsers"], 25);
    assert_eq!(by_bss_id.body["Users"].as_array().unwrap().len(), 1);

    // Customers: paging and statuses.
    for i in 0..4 {
        customer(&app, &format!("741{i}"), &format!("users-pages{i}.example")).await;
    }
    let customers = app
        .post(
            "Users/Get/Customers",
            &json!({"SearchText": "USERS-PAGES", "PageID": 2, "PageSize": 2}),
        )
        .await;
    assert_eq!(customers.code(), 0, "{}", customers.body);
    assert_eq!(customers.body["TotalCustomers"], 5, "{}", customers.body);
    assert_eq!(customers.body["Customers"].as_array().unwrap().len(), 2);
    let in_progress = app
        .post("Users/Get/Customers", &json!({"Statuses": ["InProgress"]}))
        .await;
    assert_eq!(in_progress.body["TotalCustomers"], 0);
    let one = app
        .post("Users/Get/Customers", &json!({"CustomerID": cus}))
        .await;
    assert_eq!(one.body["TotalCustomers"], 1);
    assert_eq!(one.body["Customers"][0]["TotalUsers"], 25);
}

both_backends!(
    every_route_round_trips,
    refusals_name_what_is_wrong,
    address_rules_case_idn_and_idempotency,
    seats_hold_under_concurrency,
    paging_search_and_filters,
);
