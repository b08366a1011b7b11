//! The console's Customers section: list, search, pages, details, and
//! suspending and restoring as an admin.

use std::time::{Duration, Instant};

use mailroom::domain::operator::Role;
use reqwest::StatusCode;
use serde_json::json;

use crate::both_backends;
use crate::helpers::{account, console_login, spawn_app, Backend, ConsoleClient, TestApp};

/// The ExternalIDs of the rows of a customer list, in order.
fn listed(html: &str) -> Vec<String> {
    let marker = "<tr data-external-id=\"";
    html.match_indices(marker)
        .map(|(at, _)| {
            html[at + marker.len()..]
                .split('"')
                .next()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

/// An attribute value as the browser reads it.
fn unescape(text: &str) -> String {
    text.replace("&#x3D;", "=").replace("&amp;", "&")
}

/// The target of the link with this id.
fn link(html: &str, id: &str) -> Option<String> {
    let at = html.find(&format!("id=\"{id}\""))?;
    let start = html[..at].rfind("href=\"")? + "href=\"".len();
    let href = html[start..].split('"').next()?;
    Some(unescape(href))
}

/// Synchronizes a typical account; returns its ExternalID.
async fn customer(app: &TestApp, id: &str, domain: &str) -> String {
    app.synchronize(&account(id, domain))
        .await
        .result()
        .to_owned()
}

async fn exists_code(app: &TestApp, external_id: &str) -> i64 {
    app.post("Accounts/Exists", &json!({"ExternalID": external_id}))
        .await
        .code()
}

async fn list_page(console: &ConsoleClient<'_>, path: &str) -> String {
    let page = console.get(path).await;
    assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.html);
    page.html
}

async fn list_and_search(backend: Backend) {
    let app = spawn_app(backend).await;
    // BSS ids that nothing else of the customers contains (the code is
    // set apart from them), so a search for one can only match the id.
    let mut named = account("acct-7731", "alpha.example");
    named["Name"] = json!("Zephyr Widgets");
    named["Code"] = json!("ZW-1");
    let alpha = app.synchronize(&named).await.result().to_owned();
    let mut second = account("acct-8842", "beta.example");
    second["Name"] = json!("Customer 2");
    second["Code"] = json!("C-2");
    let beta = app.synchronize(&second).await.result().to_owned();
    let console = console_login(&app, Role::MailAdmin).await;

    let all = list_page(&console, "/console/customers").await;
    assert!(all.contains("id=\"customers\""), "{all}");
    assert!(all.contains("id=\"q\""));
    assert_eq!(
        listed(&all),
        vec![beta.clone(), alpha.clone()],
        "newest first"
    );
    assert!(all.contains("Zephyr Widgets") && all.contains("Customer 2"));
    assert!(all.contains("alpha.example") && all.contains("beta.example"));
    assert!(all.contains(&format!("href=\"/console/customers/{alpha}\"")));
    assert!(all.contains("<span class=\"status active\">active</span>"));
    assert!(all.contains("data-total=\"2\""));

    // By domain (any case), by name (part of it), by ExternalID, BSS id
    // (whole, in another case, or part of it), code, email.
    let searches = [
        ("BETA.example", &beta),
        ("zephyr", &alpha),
        ("Widgets", &alpha),
        (alpha.as_str(), &alpha),
        ("acct-7731", &alpha),
        ("ACCT-8842", &beta),
        ("t-77", &alpha),
        ("C-2", &beta),
        ("admin@alpha", &alpha),
    ];
    for (q, expected) in searches {
        let html = list_page(&console, &format!("/console/customers?q={q}")).await;
        assert_eq!(listed(&html), vec![expected.clone()], "search {q:?}");
        assert!(html.contains(&format!("value=\"{}\"", q.replace('=', "&#x3D;"))));
    }
    // Pattern characters are plain text.
    let none = list_page(&console, "/console/customers?q=%25").await;
    assert!(listed(&none).is_empty());
    assert!(none.contains("id=\"customers-empty\""), "{none}");
    assert!(none.contains("No customers match"));

    // The status filter.
    let suspended = list_page(&console, "/console/customers?status=suspended").await;
    assert!(listed(&suspended).is_empty());
    let beta_id = beta.clone();
    app.with_store(move |conn| {
        mailroom::store::customers::set_status(
            conn,
            &beta_id,
            mailroom::domain::customer::CustomerStatus::Suspended,
        )
    })
    .await;
    let suspended = list_page(&console, "/console/customers?status=suspended").await;
    assert_eq!(listed(&suspended), vec![beta.clone()]);
    assert!(suspended.contains("<option value=\"suspended\" selected>"));
    let active = list_page(&console, "/console/customers?status=active&q=example").await;
    assert_eq!(listed(&active), vec![alpha.clone()]);
}

async fn pages_of_twenty_five(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut ids = Vec::new();
    for n in 0..30 {
        ids.push(customer(&app, &format!("p{n}"), &format!("pager{n}.example")).await);
    }
    customer(&app, "other", "elsewhere.example").await;
    let console = console_login(&app, Role::MailAdmin).await;

    let first = list_page(&console, "/console/customers?q=pager&status=active").await;
    let rows = listed(&first);
    assert_eq!(rows.len(), 25);
    assert_eq!(rows[0], ids[29], "newest first");
    assert!(first.contains("data-total=\"30\""), "{first}");
    assert!(first.contains("Page 1 of 2"));
    assert!(link(&first, "prev-page").is_none());
    let next = link(&first, "next-page").expect("a next link");
    assert_eq!(next, "/console/customers?q=pager&status=active&page=2");

    let second = list_page(&console, &next).await;
    let rest = listed(&second);
    assert_eq!(rest.len(), 5);
    assert_eq!(rest[4], ids[0]);
    assert!(link(&second, "next-page").is_none());
    assert_eq!(
        link(&second, "prev-page").as_deref(),
        Some("/console/customers?q=pager&status=active")
    );
    // Every customer once over both pages.
    let mut seen: Vec<String> = rows.into_iter().chain(rest).collect();
    seen.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(seen, expected);

    // Unfiltered: 31; a page past the end shows the last one; junk is page 1.
    let all = list_page(&console, "/console/customers?page=2").await;
    assert_eq!(listed(&all).len(), 6);
    let past = list_page(&console, "/console/customers?page=99").await;
    assert_eq!(listed(&past).len(), 6);
    let junk = list_page(&console, "/console/customers?page=abc&status=bogus").await;
    assert_eq!(listed(&junk).len(), 25);
    let repeated = console.get("/console/customers?page=1&page=2").await;
    assert_eq!(repeated.status, StatusCode::BAD_REQUEST);
    assert!(
        repeated.html.contains("<h1>Bad request</h1>"),
        "{}",
        repeated.html
    );
}

async fn detail_page_shows_everything(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut body = account("501", "detail.example");
    body["Phone"] = json!("+30 210 555 0100");
    body["WebSite"] = json!("https://detail.example");
    body["Address"] = json!({
        "Address1": "1 Harbour Street", "City": "Piraeus", "PostCode": "18531",
        "Country": {"Code": "GR", "Name": "Greece"}
    });
    body["ExtraDetails"] = json!({"plan": "gold", "seats": 5});
    let created = app
        .request(reqwest::Method::POST, "/api/Accounts/Synchronize")
        .header("X-CloudPlatform-TrackId", "console-track-501")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::OK);
    let created: serde_json::Value = created.json().await.unwrap();
    assert_eq!(created["Code"], 0, "{created}");
    let external_id = created["Result"].as_str().unwrap().to_owned();
    let console = console_login(&app, Role::MailAdmin).await;
    let path = format!("/console/customers/{external_id}");

    // The audit writer is asynchronous: wait for the Synchronize row.
    let deadline = Instant::now() + Duration::from_secs(15);
    let html = loop {
        let page = console.get(&path).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.html);
        if page.html.contains("console-track-501") {
            break page.html;
        }
        assert!(
            Instant::now() < deadline,
            "the Synchronize call never showed in the audit trail: {}",
            page.html
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    for section in [
        "profile",
        "sync-options",
        "contact",
        "address",
        "extra-details",
        "audit",
        "emails",
    ] {
        assert!(html.contains(&format!("id=\"{section}\"")), "{section}");
    }
    // Profile.
    for text in [
        "Customer 501",
        "C-501",
        "admin@detail.example",
        "+30 210 555 0100",
        "https://detail.example",
        external_id.as_str(),
        "<dd>501</dd>",
        "<span class=\"status active\" id=\"customer-status\">active</span>",
    ] {
        assert!(html.contains(text), "{text} in {html}");
    }
    // Sync options, contact, address, ExtraDetails, AccountExtraInfo.
    assert!(html.contains("<tr data-option=\"domain\">"), "{html}");
    assert!(html.contains("<td>detail.example</td>"));
    for text in ["Pat", "Jones", "pat@detail.example", "c501"] {
        assert!(html.contains(&format!("<dd>{text}</dd>")), "{text}");
    }
    for text in ["1 Harbour Street", "Piraeus", "18531", "GR", "Greece"] {
        assert!(html.contains(&format!("<dd>{text}</dd>")), "{text}");
    }
    assert!(html.contains("<td><code>plan</code></td><td>gold</td>"));
    assert!(html.contains("<td><code>seats</code></td><td>5</td>"));
    assert!(html.contains(&format!(
        "<td><code>customer_id</code></td><td>{external_id}</td>"
    )));
    // The audit row of the Synchronize call.
    assert!(
        html.contains("<tr data-endpoint=\"Accounts/Synchronize\" data-code=\"0\">"),
        "no audit row: {html}"
    );
    let audit = &html[html.find("id=\"audit\"").unwrap()..];
    let row = &audit[audit.find("console-track-501").unwrap()..];
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(row.contains("<td>0</td><td>200</td>"), "{row}");
    // Its access mail in the outbox.
    let emails = &html[html.find("id=\"emails\"").unwrap()..];
    assert!(emails.contains("<td>access_instructions</td>"), "{emails}");
    assert!(emails.contains("data-mail-id=\""));

    // Unknown customers.
    let missing = console.get("/console/customers/cus_nobody").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.html.contains("cus_nobody"));
}

async fn bss_text_is_escaped(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut body = account("666", "xss.example");
    body["Name"] = json!("<script>alert(1)</script>");
    body["ExtraDetails"] = json!({"<b>key</b>": "<img src=x onerror=alert(2)>"});
    body["ContactDetails"]["FirstName"] = json!("\"><script>alert(3)</script>");
    let external_id = app.synchronize(&body).await.result().to_owned();
    let console = console_login(&app, Role::Admin).await;

    let list = list_page(&console, "/console/customers").await;
    let detail = list_page(&console, &format!("/console/customers/{external_id}")).await;
    for html in [&list, &detail] {
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    }
    assert!(!detail.contains("<img src"));
    assert!(!detail.contains("<b>key</b>"));
    assert!(detail.contains("&lt;img src&#x3D;x onerror&#x3D;alert(2)&gt;"));
    assert!(detail.contains("&quot;&gt;&lt;script&gt;alert(3)"));
    // The search box shows what was searched for as text too.
    let searched = list_page(&console, "/console/customers?q=%22%3E%3Cscript%3E").await;
    assert!(!searched.contains("\"><script>"));
    assert!(searched.contains("value=\"&quot;&gt;&lt;script&gt;\""));
}

async fn mail_admin_cannot_suspend(backend: Backend) {
    let app = spawn_app(backend).await;
    let external_id = customer(&app, "71", "readonly.example").await;
    let console = console_login(&app, Role::MailAdmin).await;
    let path = format!("/console/customers/{external_id}");

    let html = list_page(&console, &path).await;
    assert!(!html.contains("id=\"suspend\""), "{html}");
    assert!(!html.contains("/suspend\""));
    assert!(!html.contains("id=\"restore\""));

    let refused = console.post_form(&format!("{path}/suspend"), &[]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let refused = console.post_form(&format!("{path}/restore"), &[]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(exists_code(&app, &external_id).await, 1);
}

async fn admin_suspends_and_restores(backend: Backend) {
    let app = spawn_app(backend).await;
    let external_id = customer(&app, "81", "managed.example").await;
    let console = console_login(&app, Role::Admin).await;
    let path = format!("/console/customers/{external_id}");

    let html = list_page(&console, &path).await;
    assert!(html.contains("id=\"suspend\""), "{html}");
    assert!(html.contains(&format!("action=\"{path}/suspend\"")));
    assert!(html.contains("data-confirm=\"Suspend"));
    assert!(!html.contains("id=\"restore\""));

    let done = console.post_form(&format!("{path}/suspend"), &[]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
    assert_eq!(
        done.location.as_deref(),
        Some(format!("{path}?notice=suspended").as_str())
    );
    assert_eq!(exists_code(&app, &external_id).await, 2);
    let html = list_page(&console, done.location.as_deref().unwrap()).await;
    assert!(html.contains("<p class=\"notice\" role=\"status\" id=\"notice\">"));
    assert!(html.contains("id=\"customer-status\">suspended<"));
    assert!(html.contains("id=\"restore\""));
    assert!(!html.contains("id=\"suspend\""));
    // Suspending again changes nothing.
    let again = console.post_form(&format!("{path}/suspend"), &[]).await;
    assert_eq!(
        again.location.as_deref(),
        Some(format!("{path}?notice=unchanged").as_str())
    );

    let restored = console.post_form(&format!("{path}/restore"), &[]).await;
    assert_eq!(restored.status, StatusCode::SEE_OTHER);
    assert_eq!(
        restored.location.as_deref(),
        Some(format!("{path}?notice=restored").as_str())
    );
    assert_eq!(exists_code(&app, &external_id).await, 1);

    // A deleted customer cannot be suspended, but can be restored.
    let deleted = app
        .post("Accounts/Delete", &json!({"ExternalID": external_id}))
        .await;
    assert_eq!(deleted.code(), 0);
    let html = list_page(&console, &path).await;
    assert!(html.contains("id=\"customer-status\">deleted<"));
    assert!(html.contains("id=\"restore\"") && !html.contains("id=\"suspend\""));
    let refused = console.post_form(&format!("{path}/suspend"), &[]).await;
    assert_eq!(
        refused.location.as_deref(),
        Some(format!("{path}?notice=deleted").as_str())
    );
    let restored = console.post_form(&format!("{path}/restore"), &[]).await;
    assert_eq!(
        restored.location.as_deref(),
        Some(format!("{path}?notice=restored").as_str())
    );
    assert_eq!(exists_code(&app, &external_id).await, 1);
    let lookup = external_id.clone();
    let row = app
        .with_store(move |conn| mailroom::store::customers::load_details(conn, &lookup))
        .await
        .unwrap()
        .customer;
    assert_eq!(row.status.as_str(), "active");
    assert!(row.deleted_at.is_none() && row.deleted_by.is_none());
    // It can be synchronized again.
    let mut update = account("81", "managed.example");
    update["ExternalID"] = json!(external_id);
    app.synchronize(&update).await;

    // Unknown customers.
    let missing = console
        .post_form("/console/customers/cus_nobody/suspend", &[])
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

async fn forms_need_the_csrf_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let external_id = customer(&app, "91", "csrf.example").await;
    let console = console_login(&app, Role::SuperAdmin).await;
    let action = format!("/console/customers/{external_id}/suspend");

    let missing = console.post_form_raw(&action, &[]).await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN);
    let wrong = console
        .post_form_raw(&action, &[("csrf", "not-the-token")])
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    let empty = console.post_form_raw(&action, &[("csrf", "")]).await;
    assert_eq!(empty.status, StatusCode::FORBIDDEN);
    assert_eq!(exists_code(&app, &external_id).await, 1, "nothing changed");

    // Without a session: to the sign-in page, nothing changed.
    let anonymous = app
        .client
        .get(app.url("/console/customers?q=x"))
        .send()
        .await
        .unwrap();
    assert!(anonymous.url().path().starts_with("/console/login"));
    let anonymous = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(app.url(&action))
        .form(&[("csrf", console.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);
    assert_eq!(exists_code(&app, &external_id).await, 1);
}

/// The endpoints of the calls table's rows, in order.
fn call_rows(html: &str) -> Vec<(String, String)> {
    let section = &html[html.find("id=\"audit\"").expect("the calls section")..];
    let marker = "<tr data-endpoint=\"";
    section
        .match_indices(marker)
        .map(|(at, _)| {
            let mut parts = section[at + marker.len()..].split('"');
            let endpoint = parts.next().unwrap_or_default().to_owned();
            let code = parts.nth(1).unwrap_or_default().to_owned();
            (endpoint, code)
        })
        .collect()
}

/// A customer's contract calls: filtered by endpoint, result code and
/// dates, a page of 50 at a time, a bad filter explained.
async fn contract_calls_filter_and_page(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app.synchronize(&account("701", "calls.example")).await;
    let external_id = created.result().to_owned();
    for _ in 0..55 {
        let answer = app
            .post("Accounts/Exists", &json!({"ExternalID": external_id}))
            .await;
        assert_eq!(answer.code(), 1);
    }
    // The audit writer batches.
    let deadline = Instant::now() + Duration::from_secs(15);
    let path = format!("/console/customers/{external_id}");
    let console = console_login(&app, Role::MailAdmin).await;
    loop {
        let page = console
            .get(&format!("{path}?acode=1&abefore=999999999"))
            .await;
        if let Some(older) = link(&page.html, "calls-older") {
            let next = console.get(&older).await;
            if call_rows(&next.html).len() == 5 {
                break;
            }
        }
        assert!(Instant::now() < deadline, "the audit rows never came");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let first = console.get(&path).await;
    let rows = call_rows(&first.html);
    assert_eq!(rows.len(), 50);
    assert!(link(&first.html, "calls-newest").is_none());
    let older = console
        .get(&link(&first.html, "calls-older").expect("an older page"))
        .await;
    let rest = call_rows(&older.html);
    assert_eq!(rest.len(), 6, "55 Exists and the Synchronize");
    assert_eq!(
        rest.last().unwrap(),
        &("Accounts/Synchronize".to_owned(), "0".to_owned())
    );
    assert!(link(&older.html, "calls-older").is_none());
    assert_eq!(
        link(&older.html, "calls-newest").as_deref(),
        Some(format!("/console/customers/{external_id}?#audit").as_str())
    );

    let synchronize = console
        .get(&format!("{path}?aendpoint=Accounts%2FSynchronize"))
        .await;
    assert_eq!(
        call_rows(&synchronize.html),
        vec![("Accounts/Synchronize".to_owned(), "0".to_owned())]
    );
    assert!(synchronize
        .html
        .contains("<option value=\"Accounts/Synchronize\" selected>"));

    let exists = console.get(&format!("{path}?acode=1")).await;
    let rows = call_rows(&exists.html);
    assert_eq!(rows.len(), 50);
    assert!(rows
        .iter()
        .all(|(endpoint, code)| endpoint == "Accounts/Exists" && code == "1"));
    let next = link(&exists.html, "calls-older").expect("more Exists calls");
    assert!(next.contains("acode=1"), "the filter is kept: {next}");
    assert_eq!(call_rows(&console.get(&next).await.html).len(), 5);

    let today = chrono::Utc::now().date_naive();
    let tomorrow = today.succ_opt().unwrap();
    let future = console.get(&format!("{path}?afrom={tomorrow}")).await;
    assert!(call_rows(&future.html).is_empty());
    assert!(
        future.html.contains("No contract calls match."),
        "{}",
        future.html
    );
    let until_today = console
        .get(&format!(
            "{path}?auntil={today}&aendpoint=Accounts%2FSynchronize"
        ))
        .await;
    assert_eq!(call_rows(&until_today.html).len(), 1);
    let yesterday = today.pred_opt().unwrap();
    let past = console.get(&format!("{path}?auntil={yesterday}")).await;
    assert!(call_rows(&past.html).is_empty());

    let bad = console.get(&format!("{path}?acode=abc")).await;
    assert_eq!(bad.status, StatusCode::OK);
    assert!(
        bad.html
            .contains("The result code must be a number, not abc."),
        "{}",
        bad.html
    );
}

both_backends!(
    contract_calls_filter_and_page,
    list_and_search,
    pages_of_twenty_five,
    detail_page_shows_everything,
    bss_text_is_escaped,
    mail_admin_cannot_suspend,
    admin_suspends_and_restores,
    forms_need_the_csrf_token,
);
