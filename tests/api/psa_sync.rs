//! The nightly ConnectWise quantity sync, run by the scheduler ("Run now"
//! over the operator API) against a fake ConnectWise on loopback that
//! records every request: exact PATCH and POST bodies, quantities only, an
//! idempotent second run, Not Assigned, cancelled subscriptions, one failing
//! customer not stopping the rest, mailboxes as the quantity source,
//! transient failures retried with backoff, and the scale of a run.

use std::time::{Duration, Instant};

use mailroom::config::Settings;
use mailroom::domain::operator::Role;
use mailroom::store::jobs::{RunOutcome, RunRecord};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::fake_connectwise::{error_body, FakeConnectWise, RecordedRequest};
use crate::helpers::{spawn_app_with, Backend, TestApp};
use crate::integrations::save_connectwise;
use crate::scheduler::{all_runs, quick_scheduler, wait_for_finished_runs};
use crate::subscriptions::{create_body, customer, ok};

both_backends!(
    the_sync_patches_creates_and_then_has_nothing_to_do,
    not_assigned_products_are_left_alone,
    a_cancelled_subscription_bills_zero,
    one_failing_customer_does_not_stop_the_others,
    mailboxes_can_be_the_quantity_source,
    a_transient_failure_is_retried_with_backoff,
);

/// Quick retries of the scheduler and of the outgoing client.
fn quick(settings: &mut Settings) {
    quick_scheduler(settings);
    settings.integrations.http.max_attempts = 2;
    settings.integrations.http.backoff_base_ms = 10;
}

struct World {
    app: TestApp,
    token: String,
    fake: FakeConnectWise,
}

async fn world(backend: Backend, extra_settings: Value) -> World {
    let fake = FakeConnectWise::start().await;
    let app = spawn_app_with(backend, quick).await;
    let token = app.sign_in_as(Role::SuperAdmin).await;
    let mut settings = fake.settings();
    for (key, value) in extra_settings.as_object().unwrap() {
        settings[key] = value.clone();
    }
    let saved = save_connectwise(&app, &token, true, &settings).await;
    assert_eq!(saved.status, StatusCode::OK, "{:?}", saved.body);
    World { app, token, fake }
}

impl World {
    /// A customer with a company and agreement in ConnectWise, assigned;
    /// returns its ExternalID and the agreement's id.
    async fn customer_with_agreement(&self, id: &str, name: &str) -> (String, i64) {
        let external_id = customer(&self.app, id, &format!("{id}.example")).await;
        let company = self.fake.add_company(name);
        let agreement = self.fake.add_agreement(company, &format!("{name} email"));
        let set = self
            .app
            .operator_call(
                Method::PUT,
                &format!("/customers/{external_id}/connectwise"),
                &self.token,
                Some(&json!({"company_id": company, "agreement_id": agreement})),
            )
            .await;
        assert_eq!(set.status, StatusCode::OK, "{:?}", set.body);
        (external_id, agreement)
    }

    /// A subscription of the plan of BSS product `product_id`; returns the
    /// subscription's and the plan's public ids.
    async fn subscribe(
        &self,
        customer: &str,
        subscription_id: &str,
        product_id: &str,
        quantity: i64,
    ) -> (String, String) {
        let mut body = create_body(customer, subscription_id, quantity);
        body["ProductID"] = json!(product_id);
        let subscription = ok(&self.app.post("Subscriptions/Create", &body).await);
        let plan = plan_of(&self.app, &subscription).await;
        (subscription, plan)
    }

    async fn map(&self, plan: &str, catalog_item: i64) {
        let mapped = self
            .app
            .operator_call(
                Method::PUT,
                &format!("/integrations/connectwise/services/{plan}"),
                &self.token,
                Some(&json!({"catalog_item_id": catalog_item})),
            )
            .await;
        assert_eq!(mapped.status, StatusCode::NO_CONTENT, "{:?}", mapped.body);
    }

    /// "Run now" over the API, then the run once finished (with the runs
    /// before it, `runs_before`).
    async fn run_now(&self, runs_before: usize) -> RunRecord {
        self.fake.clear_requests();
        let asked = self
            .app
            .operator_call(
                Method::POST,
                "/integrations/connectwise/runs",
                &self.token,
                None,
            )
            .await;
        assert_eq!(asked.status, StatusCode::ACCEPTED, "{:?}", asked.body);
        let runs = wait_for_finished_runs(&self.app, runs_before + 1).await;
        assert_eq!(runs.len(), runs_before + 1, "{runs:#?}");
        runs.into_iter().next().unwrap()
    }
}

async fn plan_of(app: &TestApp, subscription: &str) -> String {
    let subscription = subscription.to_owned();
    app.with_store(move |conn| {
        use diesel::prelude::*;
        use mailroom::store::schema::{plans, subscriptions};
        Ok(subscriptions::table
            .inner_join(plans::table)
            .filter(subscriptions::public_id.eq(subscription))
            .select(plans::public_id)
            .first::<String>(conn)?)
    })
    .await
}

fn count(run: &RunRecord, name: &str) -> u64 {
    run.counts.get(name).copied().unwrap_or_default()
}

/// No key anywhere in a written body names a cost, price or description.
fn assert_quantities_only(writes: &[RecordedRequest]) {
    fn keys(value: &Value, found: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, inner) in map {
                    found.push(key.to_ascii_lowercase());
                    keys(inner, found);
                }
            }
            Value::Array(items) => items.iter().for_each(|item| keys(item, found)),
            _ => {}
        }
    }
    for write in writes {
        let mut found = Vec::new();
        keys(&write.json(), &mut found);
        for key in found {
            assert!(
                !["cost", "price", "description"]
                    .iter()
                    .any(|word| key.contains(word)),
                "{} {} sent {key}: {}",
                write.method,
                write.path,
                write.body
            );
        }
    }
}

async fn the_sync_patches_creates_and_then_has_nothing_to_do(backend: Backend) {
    let world = world(backend, json!({})).await;
    let filter = world.fake.add_catalog_item("MR-FILTER", "CloudFilter seat");
    let safesend = world.fake.add_catalog_item("MR-SAFESEND", "SafeSend seat");
    let (acme, agreement) = world.customer_with_agreement("7001", "Acme Ltd").await;
    let (_, filter_plan) = world.subscribe(&acme, "70011", "2001", 5).await;
    let (_, safesend_plan) = world.subscribe(&acme, "70012", "2002", 2).await;
    world.map(&filter_plan, filter).await;
    world.map(&safesend_plan, safesend).await;
    let existing = world.fake.add_addition(agreement, filter, 3.0);
    // A rate limit on the way is waited out within the run.
    world.fake.rate_limit_next(1);

    let run = world.run_now(0).await;
    assert_eq!(run.outcome, RunOutcome::Succeeded, "{run:#?}");
    assert_eq!(
        (
            count(&run, "customers"),
            count(&run, "patched"),
            count(&run, "created")
        ),
        (1, 1, 1),
        "{run:#?}"
    );
    let writes = world.fake.writes();
    assert_eq!(writes.len(), 2, "{writes:#?}");
    let patch = writes
        .iter()
        .find(|w| w.method == "PATCH")
        .expect("a PATCH");
    assert_eq!(
        patch.path,
        format!("finance/agreements/{agreement}/additions/{existing}")
    );
    assert_eq!(
        patch.json(),
        json!([{"op": "replace", "path": "quantity", "value": 5}])
    );
    let post = writes.iter().find(|w| w.method == "POST").expect("a POST");
    assert_eq!(
        post.path,
        format!("finance/agreements/{agreement}/additions")
    );
    assert_eq!(
        post.json(),
        json!({"product": {"id": safesend}, "quantity": 2, "billCustomer": "Billable"})
    );
    assert_quantities_only(&writes);
    let additions = world.fake.additions(agreement);
    let quantity_of = |product: i64| {
        additions
            .iter()
            .find(|a| a.product_id() == product)
            .map(|a| a.quantity)
    };
    assert_eq!(
        (quantity_of(filter), quantity_of(safesend)),
        (Some(5.0), Some(2.0))
    );

    // Nothing changed: the second run reads and writes nothing.
    let again = world.run_now(1).await;
    assert_eq!(again.outcome, RunOutcome::Succeeded, "{again:#?}");
    assert!(world.fake.writes().is_empty(), "{:#?}", world.fake.writes());
    assert_eq!(
        (
            count(&again, "patched"),
            count(&again, "created"),
            count(&again, "unchanged")
        ),
        (0, 0, 2)
    );
    let reads = world.fake.requests();
    assert_eq!(reads.len(), 1, "one request per customer: {reads:#?}");
}

async fn not_assigned_products_are_left_alone(backend: Backend) {
    let world = world(backend, json!({})).await;
    let filter = world.fake.add_catalog_item("MR-FILTER", "CloudFilter seat");
    let other = world.fake.add_catalog_item("HW-ROUTER", "A router");
    let (acme, agreement) = world.customer_with_agreement("7101", "Acme Ltd").await;
    let (_, plan) = world.subscribe(&acme, "71011", "2101", 6).await;
    world.map(&plan, filter).await;
    let mapped_line = world.fake.add_addition(agreement, filter, 6.0);
    world.fake.add_addition(agreement, other, 1.0);

    let first = world.run_now(0).await;
    assert_eq!(count(&first, "unchanged"), 1, "{first:#?}");
    assert!(
        world.fake.writes().is_empty(),
        "the router addition is not ours"
    );

    // Not Assigned: the plan's addition is no longer ours either.
    let removed = world
        .app
        .operator_call(
            Method::DELETE,
            &format!("/integrations/connectwise/services/{plan}"),
            &world.token,
            None,
        )
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    let mut more = create_body(&acme, "71011", 9);
    more["ProductID"] = json!("2101");
    ok(&world.app.post("Subscriptions/Update", &more).await);
    let second = world.run_now(1).await;
    assert!(world.fake.writes().is_empty(), "{:#?}", world.fake.writes());
    assert_eq!(second.outcome, RunOutcome::Succeeded);
    let kept = world.fake.additions(agreement);
    assert_eq!(
        kept.iter().find(|a| a.id == mapped_line).unwrap().quantity,
        6.0
    );
}

async fn a_cancelled_subscription_bills_zero(backend: Backend) {
    let world = world(backend, json!({})).await;
    let filter = world.fake.add_catalog_item("MR-FILTER", "CloudFilter seat");
    let (acme, agreement) = world.customer_with_agreement("7201", "Acme Ltd").await;
    let (subscription, plan) = world.subscribe(&acme, "72011", "2201", 4).await;
    world.map(&plan, filter).await;
    let line = world.fake.add_addition(agreement, filter, 4.0);
    ok(&world
        .app
        .post("Subscriptions/Cancel", &json!({"ID": subscription}))
        .await);

    let run = world.run_now(0).await;
    assert_eq!(count(&run, "patched"), 1, "{run:#?}");
    let writes = world.fake.writes();
    assert_eq!(writes.len(), 1, "{writes:#?}");
    assert_eq!(
        writes[0].path,
        format!("finance/agreements/{agreement}/additions/{line}")
    );
    assert_eq!(
        writes[0].json(),
        json!([{"op": "replace", "path": "quantity", "value": 0}])
    );
}

async fn one_failing_customer_does_not_stop_the_others(backend: Backend) {
    let world = world(backend, json!({})).await;
    let filter = world.fake.add_catalog_item("MR-FILTER", "CloudFilter seat");
    let (refused, refused_agreement) = world.customer_with_agreement("7301", "Refused Co").await;
    let (fine, fine_agreement) = world.customer_with_agreement("7302", "Fine Co").await;
    let (_, plan) = world.subscribe(&refused, "73011", "2301", 3).await;
    world.subscribe(&fine, "73021", "2301", 8).await;
    world.map(&plan, filter).await;
    world.fake.fail_path(
        &format!("finance/agreements/{refused_agreement}/"),
        403,
        error_body("Forbidden", "You do not have access to this agreement"),
    );

    let run = world.run_now(0).await;
    assert_eq!(run.outcome, RunOutcome::CompletedWithFailures, "{run:#?}");
    assert_eq!(
        (
            count(&run, "customers"),
            count(&run, "created"),
            count(&run, "failed")
        ),
        (2, 1, 1),
        "{run:#?}"
    );
    assert_eq!(run.failures.len(), 1, "{run:#?}");
    let (item, reason) = &run.failures[0];
    assert_eq!(
        item,
        &format!("customer Customer 7301 (agreement {refused_agreement})")
    );
    assert!(
        reason.contains("You do not have access to this agreement"),
        "{reason}"
    );
    let created = world.fake.additions(fine_agreement);
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].quantity, 8.0);

    // The operator API shows the failure with the run.
    let history = world
        .app
        .operator_call(
            Method::GET,
            "/integrations/connectwise/runs",
            &world.token,
            None,
        )
        .await;
    let shown = &history.body["runs"][0];
    assert_eq!(shown["outcome"], "completed_with_failures");
    assert_eq!(shown["counts"]["failed"], 1);
    assert_eq!(shown["failures"][0]["item"], json!(item));
}

async fn mailboxes_can_be_the_quantity_source(backend: Backend) {
    let world = world(backend, json!({"quantity_source": "mailboxes"})).await;
    let filter = world.fake.add_catalog_item("MR-FILTER", "CloudFilter seat");
    let (acme, agreement) = world.customer_with_agreement("7401", "Acme Ltd").await;
    let (subscription, plan) = world.subscribe(&acme, "74011", "2401", 10).await;
    world.map(&plan, filter).await;
    for n in 0..3 {
        let address = format!("user{n}@7401.example");
        let user = json!({
            "ID": "",
            "Customer": {"ID": acme, "AccountID": "", "Name": "Customer", "IsTest": false},
            "FirstName": "Pat", "LastName": "Jones", "DisplayName": "Pat Jones",
            "Username": address, "Email": address, "Password": "",
            "Status": "Provisioned", "Role": "User", "ServiceID": subscription
        });
        ok(&world.app.post("Users/Add", &user).await);
    }

    let run = world.run_now(0).await;
    assert_eq!(count(&run, "created"), 1, "{run:#?}");
    let additions = world.fake.additions(agreement);
    assert_eq!(additions.len(), 1);
    assert_eq!(
        additions[0].quantity, 3.0,
        "mailboxes in use, not the 10 seats"
    );

    // An unknown source is refused when saved.
    let refused = save_connectwise(
        &world.app,
        &world.token,
        true,
        &json!({"quantity_source": "licences"}),
    )
    .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        refused.body
    );
}

async fn a_transient_failure_is_retried_with_backoff(backend: Backend) {
    let fake = FakeConnectWise::start().await;
    let app = spawn_app_with(backend, |settings| {
        quick(settings);
        settings.scheduler.max_attempts = 8;
    })
    .await;
    let token = app.sign_in_as(Role::SuperAdmin).await;
    let saved = save_connectwise(&app, &token, true, &fake.settings()).await;
    assert_eq!(saved.status, StatusCode::OK, "{:?}", saved.body);
    let world = World { app, token, fake };
    let filter = world.fake.add_catalog_item("MR-FILTER", "CloudFilter seat");
    let (acme, agreement) = world.customer_with_agreement("7501", "Acme Ltd").await;
    let (_, plan) = world.subscribe(&acme, "75011", "2501", 7).await;
    world.map(&plan, filter).await;
    // ConnectWise is down for longer than the client's own retries (the
    // process's outgoing client makes at most 10 attempts a call).
    for _ in 0..10 {
        world.fake.fail_next(
            503,
            error_body("ServiceUnavailable", "Down for maintenance"),
        );
    }

    let asked = world
        .app
        .operator_call(
            Method::POST,
            "/integrations/connectwise/runs",
            &world.token,
            None,
        )
        .await;
    assert_eq!(asked.status, StatusCode::ACCEPTED);
    let deadline = Instant::now() + Duration::from_secs(60);
    let runs = loop {
        let runs = all_runs(&world.app).await;
        if runs.iter().any(|run| run.outcome == RunOutcome::Succeeded) {
            break runs;
        }
        assert!(Instant::now() < deadline, "no run succeeded: {runs:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Newest first: the success, then the failed attempts before it.
    let (succeeded, failed) = runs.split_first().unwrap();
    assert!(!failed.is_empty(), "the first attempt failed: {runs:#?}");
    assert_eq!(succeeded.trigger, "retry");
    assert_eq!(succeeded.attempt as usize, runs.len());
    for run in failed {
        assert_eq!(run.outcome, RunOutcome::Failed, "{run:#?}");
        assert!(
            run.error.as_deref().unwrap_or("").contains("unavailable"),
            "{run:#?}"
        );
    }
    assert_eq!(failed.last().unwrap().trigger, "manual");
    for pair in runs.windows(2) {
        let waited = pair[0].started_at - pair[1].finished_at.unwrap();
        assert!(
            waited >= chrono::Duration::milliseconds(250),
            "each retry waited its backoff (from 300 ms), not {waited}: {runs:#?}"
        );
    }
    assert_eq!(world.fake.additions(agreement)[0].quantity, 7.0);
    let job = world
        .app
        .with_store(|conn| mailroom::store::jobs::find(conn, "connectwise.quantity_sync"))
        .await
        .unwrap();
    assert_eq!(job.attempt, 0, "a success resets the attempts");
    assert!(job.next_run_at > chrono::Utc::now().naive_utc());
}

/// The scale of a run: `MAILROOM_SCALE_CUSTOMERS` (10 000) customers with
/// an agreement and one mapped plan each, against the fake on loopback.
/// Prints the time of a first run (a GET and a POST per customer) and of a
/// second run with nothing to change (a GET per customer). Run with
/// `cargo test --test api scale_of_a_run -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: ~10 000 customers"]
async fn scale_of_a_run_sqlite() {
    scale_of_a_run(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: ~10 000 customers"]
async fn scale_of_a_run_postgres() {
    if crate::helpers::backend_available(Backend::Postgres) {
        scale_of_a_run(Backend::Postgres).await;
    }
}

async fn scale_of_a_run(backend: Backend) {
    use diesel::RunQueryDsl;
    let customers: i64 = std::env::var("MAILROOM_SCALE_CUSTOMERS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000);
    let world = world(backend, json!({})).await;
    let item = world.fake.add_catalog_item("MR-FILTER", "CloudFilter seat");
    // One customer over the contract, its agreement and plan mapped; the
    // others are copies of its rows, made in the database in three
    // statements.
    let (template, _) = world.customer_with_agreement("8000", "Template Co").await;
    let (_, plan) = world.subscribe(&template, "80001", "2801", 5).await;
    world.map(&plan, item).await;
    let company = world.fake.add_company("Scale Co");
    let first_agreement = world.fake.add_agreement(company, "scale 1");
    for n in 2..=customers {
        let id = world.fake.add_agreement(company, &format!("scale {n}"));
        assert_eq!(id, first_agreement + n - 1, "consecutive agreement ids");
    }
    let setup = Instant::now();
    world
        .app
        .with_store(move |conn| {
            let numbers = format!(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {customers})"
            );
            diesel::sql_query(format!(
                "INSERT INTO customers (external_id, application_id, bss_account_id, name, \
                 extra_details, account_extra_info, is_test, status, created_at, updated_at) \
                 {numbers} SELECT 'scale-' || CAST(n.i AS TEXT), c.application_id, \
                 'scale-' || CAST(n.i AS TEXT), 'Scale customer ' || CAST(n.i AS TEXT), \
                 c.extra_details, c.account_extra_info, c.is_test, c.status, c.created_at, \
                 c.updated_at FROM n, customers c WHERE c.external_id = '{template}'"
            ))
            .execute(conn)?;
            diesel::sql_query(
                "INSERT INTO subscriptions (public_id, customer_id, application_id, \
                 bss_subscription_id, plan_id, product_type_id, quantity, status, \
                 suspended_with_customer, source, attribute_values, extra_info, created_at, \
                 updated_at) SELECT 'sub-' || c.external_id, c.id, s.application_id, \
                 'bss-' || c.external_id, s.plan_id, s.product_type_id, s.quantity, s.status, \
                 s.suspended_with_customer, s.source, s.attribute_values, s.extra_info, \
                 s.created_at, s.updated_at FROM customers c, subscriptions s \
                 WHERE c.external_id LIKE 'scale-%' AND s.bss_subscription_id = '80001'",
            )
            .execute(conn)?;
            diesel::sql_query(format!(
                "INSERT INTO psa_customer_agreements (customer_id, company_id, company_name, \
                 agreement_id, agreement_name, updated_at) SELECT c.id, {company}, 'Scale Co', \
                 {first_agreement} - 1 + CAST(SUBSTR(c.external_id, 7) AS INTEGER), 'scale', \
                 c.updated_at FROM customers c WHERE c.external_id LIKE 'scale-%'"
            ))
            .execute(conn)?;
            Ok(())
        })
        .await;
    let set_up_in = setup.elapsed();

    let first = world.run_now(0).await;
    let first_requests = world.fake.requests().len();
    let second = world.run_now(1).await;
    let second_requests = world.fake.requests().len();
    let took = |run: &RunRecord| (run.finished_at.unwrap() - run.started_at).num_milliseconds();
    let total = customers + 1;
    assert_eq!(count(&first, "customers"), total as u64, "{first:#?}");
    assert_eq!(count(&first, "created"), total as u64, "{first:#?}");
    assert_eq!(count(&second, "unchanged"), total as u64, "{second:#?}");
    crate::helpers::say_loudly(&format!(
        "SCALE {backend:?}: {total} customers (rows copied in {} ms); first run {} ms, \
         {first_requests} requests ({:.2} per customer); second run (nothing to change) {} ms, \
         {second_requests} requests ({:.2} per customer)",
        set_up_in.as_millis(),
        took(&first),
        first_requests as f64 / total as f64,
        took(&second),
        second_requests as f64 / total as f64,
    ));
}
