//! The console's home page: its numbers are the database's (customers by
//! status and new this week, contract calls of the last 24 hours by
//! endpoint and result code, failed and queued mail).

use diesel::dsl::count_star;
use diesel::prelude::*;
use mailroom::domain::operator::Role;
use mailroom::store::schema::{audit_log, outbox};
use reqwest::StatusCode;
use serde_json::json;

use crate::both_backends;
use crate::helpers::{account, console_login, spawn_app, Backend};

both_backends!(
    the_dashboard_shows_what_the_database_holds,
    the_dashboard_shows_each_integrations_last_run
);

/// The integrations card: nothing before a run; then each job's latest run,
/// its outcome and a link to its history.
async fn the_dashboard_shows_each_integrations_last_run(backend: Backend) {
    use crate::scheduler::{enable_integration, make_due, quick_scheduler, wait_for_finished_runs};
    let app = crate::helpers::spawn_app_with(backend, quick_scheduler).await;
    let admin = console_login(&app, Role::Admin).await;
    let page = admin.get("/console/").await;
    assert!(
        page.html.contains("No integration has run yet."),
        "{}",
        page.html
    );

    // Enabled without its settings: the run fails and says why.
    enable_integration(&app, "connectwise").await;
    make_due(&app, chrono::Duration::minutes(1)).await;
    let runs = wait_for_finished_runs(&app, 1).await;
    let page = admin.get("/console/").await;
    let card = &page.html[page.html.find("id=\"last-runs\"").expect("the runs table")..];
    assert!(
        card.contains("href=\"/console/integrations/connectwise/runs\""),
        "{card}"
    );
    let outcome = runs[0].outcome.as_str();
    assert!(
        card.contains(&format!("data-outcome=\"{outcome}\"")),
        "{outcome}: {card}"
    );
    if let Some(error) = &runs[0].error {
        let shown = error
            .replace('&', "&amp;")
            .replace('"', "&quot;")
            .replace('\'', "&#x27;");
        assert!(card.contains(&shown), "{error}: {card}");
    }
}

fn number(html: &str, id: &str) -> i64 {
    let marker = format!("id=\"{id}\">");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {id} in {html}"))
        + marker.len();
    html[start..start + html[start..].find('<').unwrap()]
        .parse()
        .unwrap()
}

async fn the_dashboard_shows_what_the_database_holds(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut external_ids = Vec::new();
    for i in 0..3 {
        let answer = app
            .synchronize(&account(&format!("90{i}"), &format!("dash{i}.example")))
            .await;
        external_ids.push(answer.result().to_owned());
    }
    let exists = app
        .post(
            "Accounts/Exists",
            &json!({"ExternalID": "no-such-customer"}),
        )
        .await;
    assert_eq!(exists.status, StatusCode::OK);
    let admin = console_login(&app, Role::Admin).await;
    let suspended = admin
        .post_form(
            &format!("/console/customers/{}/suspend", external_ids[0]),
            &[],
        )
        .await;
    assert_eq!(suspended.status, StatusCode::SEE_OTHER);
    // The audit writer batches; the outbox worker sends.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while app
        .with_store(|conn| Ok(audit_log::table.count().get_result::<i64>(conn)?))
        .await
        < 4
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the audit rows never came"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    app.wait_for_outbox(
        std::time::Duration::from_secs(15),
        "no mail queued",
        |rows| rows.iter().all(|row| row.status.as_str() != "queued"),
    )
    .await;

    let reader = console_login(&app, Role::MailAdmin).await;
    let page = reader.get("/console/").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    let html = page.html;
    assert_eq!(number(&html, "customers-total"), 3);
    assert_eq!(number(&html, "customers-new"), 3);
    assert!(
        html.contains("<tr data-status=\"active\"><th>active</th><td class=\"count\">2</td></tr>"),
        "{html}"
    );
    assert!(html.contains(
        "<tr data-status=\"suspended\"><th>suspended</th><td class=\"count\">1</td></tr>"
    ));
    let calls = app
        .with_store(|conn| {
            Ok(audit_log::table
                .group_by((audit_log::endpoint, audit_log::result_code))
                .select((audit_log::endpoint, audit_log::result_code, count_star()))
                .load::<(String, i32, i64)>(conn)?)
        })
        .await;
    assert!(calls.len() >= 2, "{calls:?}");
    for (endpoint, code, count) in &calls {
        let row = format!(
            "<tr data-endpoint=\"{endpoint}\" data-code=\"{code}\"><td>{endpoint}</td><td>{code}</td><td class=\"count\">{count}</td></tr>"
        );
        assert!(html.contains(&row), "{row} in {html}");
        assert!(
            html.contains(&format!("<g data-endpoint=\"{endpoint}\">")),
            "a bar for {endpoint}"
        );
    }
    assert_eq!(
        number(&html, "calls-total"),
        calls.iter().map(|(_, _, n)| n).sum::<i64>()
    );
    let mail = app
        .with_store(|conn| {
            Ok(outbox::table
                .group_by(outbox::status)
                .select((outbox::status, count_star()))
                .load::<(String, i64)>(conn)?)
        })
        .await;
    let of = |status: &str| {
        mail.iter()
            .find(|(s, _)| s == status)
            .map_or(0, |(_, n)| *n)
    };
    assert_eq!(number(&html, "mail-failed"), of("failed"));
    assert_eq!(number(&html, "mail-queued"), of("queued"));
    assert!(html.contains("<svg"), "the chart is drawn on the server");

    // Folding the status deltas into the counts changes no number, and
    // changes after the fold count as well.
    let folded = app
        .with_store(mailroom::store::dashboard::fold_customer_status_deltas)
        .await;
    assert!(folded >= 4, "3 created and 1 suspended: {folded}");
    let restored = admin
        .post_form(
            &format!("/console/customers/{}/restore", external_ids[0]),
            &[],
        )
        .await;
    assert_eq!(restored.status, StatusCode::SEE_OTHER);
    app.synchronize(&account("904", "dash4.example")).await;
    let html = reader.get("/console/").await.html;
    assert_eq!(number(&html, "customers-total"), 4);
    assert!(
        html.contains("<tr data-status=\"active\"><th>active</th><td class=\"count\">4</td></tr>"),
        "{html}"
    );
    assert!(
        !html.contains("data-status=\"suspended\""),
        "none left: {html}"
    );
    app.with_store(mailroom::store::dashboard::fold_customer_status_deltas)
        .await;
    let again = reader.get("/console/").await.html;
    assert_eq!(number(&again, "customers-total"), 4);
    let counted: Vec<(String, i64)> = app
        .with_store(|conn| {
            use mailroom::store::schema::customer_status_counts as counts;
            Ok(counts::table
                .select((counts::status, counts::customers))
                .order(counts::status)
                .load(conn)?)
        })
        .await;
    assert_eq!(
        counted,
        vec![("active".to_owned(), 4), ("suspended".to_owned(), 0)]
    );
}

/// Measures the dashboard over a large database (BENCHMARKS.md):
/// `DASHBOARD_CUSTOMERS` customers (default 100 000) and `DASHBOARD_CALLS`
/// audit rows (default 1 000 000) spread over 30 days, seeded in SQL.
/// `cargo test --test api dashboard_at_scale -- --ignored --nocapture`
/// (`DASHBOARD_BACKEND=sqlite|postgres` for one backend)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: seeds a large database"]
async fn dashboard_at_scale() {
    let size = |name: &str, default: i64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (customers, calls) = (
        size("DASHBOARD_CUSTOMERS", 100_000),
        size("DASHBOARD_CALLS", 1_000_000),
    );
    // `DASHBOARD_BACKEND=sqlite` or `postgres` measures one of them.
    let only = std::env::var("DASHBOARD_BACKEND").unwrap_or_default();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        if !crate::helpers::backend_available(backend)
            || !(only.is_empty() || format!("{backend:?}").eq_ignore_ascii_case(&only))
        {
            continue;
        }
        // Seeding is one long unit of work: no deadline for it.
        let app = crate::helpers::spawn_app_with(backend, |settings| {
            settings.database_statement_timeout_ms = 3_600_000
        })
        .await;
        let seeded = std::time::Instant::now();
        app.with_store(move |conn| {
            let application: i64 = mailroom::store::schema::applications::table
                .select(mailroom::store::schema::applications::id)
                .first(conn)?;
            let (series, customer_time, call_time) = match conn {
                mailroom::store::DbConnection::Sqlite(_) => (
                    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {N}) SELECT i FROM n",
                    "datetime('now', '-' || (i % 60) || ' days')",
                    "datetime('now', '-' || (i % 720) || ' hours')",
                ),
                mailroom::store::DbConnection::Postgres(_) => (
                    "SELECT generate_series(1, {N}) AS i",
                    "now() - (i % 60) * interval '1 day'",
                    "now() - (i % 720) * interval '1 hour'",
                ),
            };
            diesel::sql_query(format!(
                "INSERT INTO customers (external_id, application_id, name, status, created_at, updated_at) \
                 SELECT 'bench-' || i, {application}, 'Customer ' || i, \
                 CASE WHEN i % 10 = 0 THEN 'suspended' ELSE 'active' END, {customer_time}, {customer_time} \
                 FROM ({}) AS n",
                series.replace("{N}", &customers.to_string())
            ))
            .execute(conn)?;
            diesel::sql_query(format!(
                "INSERT INTO audit_log (occurred_at, endpoint, result_code, http_status, duration_us) \
                 SELECT {call_time}, CASE i % 4 WHEN 0 THEN 'Accounts/Exists' WHEN 1 THEN 'Accounts/Synchronize' \
                 WHEN 2 THEN 'Subscriptions/Create' ELSE 'Users/Add' END, i % 3, 200, 1000 FROM ({}) AS n",
                series.replace("{N}", &calls.to_string())
            ))
            .execute(conn)?;
            // What the audit writer and the fold job would have kept.
            let hour = match conn {
                mailroom::store::DbConnection::Sqlite(_) => "strftime('%Y-%m-%d %H:00:00', occurred_at)",
                mailroom::store::DbConnection::Postgres(_) => "date_trunc('hour', occurred_at)",
            };
            diesel::sql_query(format!(
                "INSERT INTO contract_call_hours (hour, endpoint, result_code, calls) \
                 SELECT {hour}, endpoint, result_code, count(*) FROM audit_log GROUP BY 1, 2, 3"
            ))
            .execute(conn)?;
            mailroom::store::dashboard::fold_customer_status_deltas(conn)?;
            // Fresh statistics, as a long-running database has.
            diesel::sql_query("ANALYZE").execute(conn)?;
            Ok(())
        })
        .await;
        println!(
            "{backend:?}: seeded {customers} customers, {calls} calls in {:?}",
            seeded.elapsed()
        );
        let console = console_login(&app, Role::MailAdmin).await;
        let mut times = Vec::new();
        for _ in 0..7 {
            let started = std::time::Instant::now();
            let page = console.get("/console/").await;
            times.push(started.elapsed());
            assert_eq!(page.status, StatusCode::OK);
        }
        times.sort();
        println!(
            "{backend:?}: GET /console/ min {:?}, median {:?}, max {:?}",
            times[0], times[3], times[6]
        );
    }
}
