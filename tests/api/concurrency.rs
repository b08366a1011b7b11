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
    let names: Vec<String> = (0..20).map(|i| format!("Name {i}")).collect();
    let answers = join_all(names.iter().map(|name| {
        let mut body = account("77", "updates.example");
        body["Name"] = json!(name);
        async move { app.post("Accounts/Synchronize", &body).await }
    }))
    .await;
    for answer in &answers {
        assert_eq!(
            (answer.code(), answer.result()),
            (0, created.result()),
            "{:?}",
            answer.body
        );
    }
    let external_id = created.result().to_owned();
    let details = app
        .with_store(move |conn| customers::load_details(conn, &external_id))
        .await
        .unwrap();
    assert!(
        names.contains(&details.customer.name),
        "the last writer's name is kept"
    );
    assert_eq!(app.with_store(customers::count).await, 1);
}

crate::both_backends!(
    concurrent_different_updates_all_apply,
    fifty_concurrent_synchronize_calls_create_one_customer,
    concurrent_accounts_with_one_domain_get_one_owner,
);
