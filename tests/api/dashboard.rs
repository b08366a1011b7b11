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

both_backends!(the_dashboard_shows_what_the_database_holds);

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
}
