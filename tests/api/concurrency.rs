//! Concurrent duplicates settle on one customer.

use futures::future::join_all;
use mailroom::store::customers;
use serde_json::json;

use crate::helpers::{account, spawn_app, Backend};

async fn fifty_concurrent_synchronize_calls_create_one_customer(backend: Backend) {
    let app = spawn_app(backend).await;
    let body = account("4242", "race.example");
    let answers = join_all((0..50).map(|_| app.post("Accounts/Synchronize", &body))).await;
    let external_ids: std::collections::BTreeSet<String> = answers
        .iter()
        .map(|answer| {
            assert_eq!(answer.code(), 0, "{:?}", answer.body);
            answer.result().to_owned()
        })
        .collect();
    assert_eq!(
        external_ids.len(),
        1,
        "one ExternalID for all: {external_ids:?}"
    );
    let created = answers
        .iter()
        .filter(|a| a.message() == "Customer created.")
        .count();
    assert_eq!(created, 1, "exactly one call created the customer");
    assert_eq!(app.with_store(customers::count).await, 1);
}

async fn concurrent_accounts_with_one_domain_get_one_owner(backend: Backend) {
    let app = &spawn_app(backend).await;
    let answers = join_all((0..20).map(|i| {
        let mut body = account(&format!("bss-{i}"), "contested.example");
        body["SyncOptions"]["username"] = json!(format!("user{i}"));
        async move { app.post("Accounts/Synchronize", &body).await }
    }))
    .await;
    let winners = answers.iter().filter(|a| a.code() == 0).count();
    let refused = answers.iter().filter(|a| a.code() == -80021).count();
    assert_eq!(
        (winners, refused),
        (1, 19),
        "{:?}",
        answers.iter().map(|a| a.code()).collect::<Vec<_>>()
    );
    assert_eq!(app.with_store(customers::count).await, 1);
}

async fn concurrent_different_updates_all_apply(backend: Backend) {
    let app = &spawn_app(backend).await;
    let created = app.synchronize(&account("77", "updates.example")).await;
    let external_id = created.result().to_owned();
    // Twenty different submissions of the account; submission i carries i
    // in several fields, stored in several tables.
    let submission = |i: usize| {
        let mut body = account("77", "updates.example");
        body["Name"] = json!(format!("Name {i}"));
        body["Code"] = json!(format!("CODE-{i}"));
        body["Phone"] = json!(format!("+30 210 000 {i:04}"));
        body["ContactDetails"]["FirstName"] = json!(format!("First {i}"));
        body["Address"] = json!({"City": format!("City {i}")});
        body["SyncOptions"]["username"] = json!(format!("user{i}"));
        body["ExtraDetails"] = json!({"submission": i});
        body
    };
    let answers = join_all((0..20).map(|i| {
        let body = submission(i);
        async move { app.post("Accounts/Synchronize", &body).await }
    }))
    .await;
    for answer in &answers {
        assert_eq!(
            (answer.code(), answer.result(), answer.message()),
            (0, external_id.as_str(), "Customer updated."),
            "{:?}",
            answer.body
        );
    }

    // One customer for the account, holding one whole submission: the
    // last writer's, not a mix of two.
    let rows_of_account = app
        .with_store(|conn| {
            use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
            use mailroom::store::schema::customers as table;
            Ok(table::table
                .filter(table::bss_account_id.eq("77"))
                .count()
                .get_result::<i64>(conn)?)
        })
        .await;
    assert_eq!(rows_of_account, 1);
    assert_eq!(app.with_store(customers::count).await, 1);
    let lookup = external_id.clone();
    let details = app
        .with_store(move |conn| customers::load_details(conn, &lookup))
        .await
        .unwrap();
    let winner: usize = details
        .customer
        .name
        .strip_prefix("Name ")
        .and_then(|i| i.parse().ok())
        .unwrap_or_else(|| panic!("a submitted name: {}", details.customer.name));
    assert!(winner < 20);
    let customer = &details.customer;
    assert_eq!(
        customer.code.as_deref(),
        Some(format!("CODE-{winner}").as_str())
    );
    assert_eq!(
        customer.phone.as_deref(),
        Some(format!("+30 210 000 {winner:04}").as_str())
    );
    let extra: serde_json::Value = serde_json::from_str(&customer.extra_details).unwrap();
    assert_eq!(extra, json!({"submission": winner}));
    assert_eq!(
        details.contact.as_ref().unwrap().first_name.as_deref(),
        Some(format!("First {winner}").as_str())
    );
    assert_eq!(
        details.address.as_ref().unwrap().city.as_deref(),
        Some(format!("City {winner}").as_str())
    );
    assert_eq!(
        details.options,
        vec![
            ("domain".to_owned(), "updates.example".to_owned()),
            ("username".to_owned(), format!("user{winner}"))
        ]
    );
    // Its identities are that submission's only: the other usernames are free.
    let identities = app
        .with_store(|conn| {
            use diesel::{QueryDsl, RunQueryDsl};
            use mailroom::store::schema::customer_identities as table;
            Ok(table::table
                .select((table::option_id, table::normalized_value))
                .order(table::option_id)
                .load::<(String, String)>(conn)?)
        })
        .await;
    assert_eq!(
        identities,
        vec![
            ("domain".to_owned(), "updates.example".to_owned()),
            ("username".to_owned(), format!("user{winner}"))
        ]
    );
    // The stored fingerprint is that submission's: sending it again is an
    // identical retry, which writes nothing.
    let before = customer.updated_at;
    app.synchronize(&submission(winner)).await;
    let lookup = external_id.clone();
    let after = app
        .with_store(move |conn| customers::load_details(conn, &lookup))
        .await
        .unwrap()
        .customer
        .updated_at;
    assert_eq!(after, before, "the fingerprint is of submission {winner}");
}

crate::both_backends!(
    concurrent_different_updates_all_apply,
    fifty_concurrent_synchronize_calls_create_one_customer,
    concurrent_accounts_with_one_domain_get_one_owner,
);
