//! A new activation link on request: from an operator (API and console)
//! and from the expired link's own page, which says the same whatever the
//! link and is limited per customer and per address.

use std::time::Duration;

use mailroom::domain::operator::Role;
use reqwest::StatusCode;

use crate::both_backends;
use crate::helpers::{account, console_login, spawn_app, spawn_app_with, Backend, TestApp};

/// Every activation token mailed so far to an address of `domain`, in the
/// order the mails were written.
fn tokens_mailed_to(app: &TestApp, domain: &str) -> Vec<String> {
    let mut files: Vec<_> = std::fs::read_dir(app.mail_dir.path())
        .expect("the mail folder")
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "eml"))
        .collect();
    files.sort_by_key(|path| std::fs::metadata(path).and_then(|m| m.modified()).ok());
    files
        .iter()
        .filter_map(|path| {
            let raw = std::fs::read(path).ok()?;
            let message = mail_parser::MessageParser::default().parse(&raw)?;
            let to = message.to()?.first()?.address()?.to_owned();
            if !to.ends_with(domain) {
                return None;
            }
            let text = message.body_text(0)?.into_owned();
            let start = text.find("/activate/")? + "/activate/".len();
            Some(text[start..].split_whitespace().next()?.to_owned())
        })
        .collect()
}

/// Waits until `count` access mails went to `domain`; returns their tokens.
async fn wait_for_tokens(app: &TestApp, domain: &str, count: usize) -> Vec<String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let tokens = tokens_mailed_to(app, domain);
        if tokens.len() >= count {
            assert_eq!(tokens.len(), count, "more mail than expected: {tokens:?}");
            return tokens;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{count} mails to {domain} never arrived: {tokens:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn link_status(app: &TestApp, token: &str) -> (StatusCode, String) {
    let response = app
        .client
        .get(app.url(&format!("/activate/{token}")))
        .send()
        .await
        .expect("the activation page");
    let status = response.status();
    (status, response.text().await.expect("a page"))
}

async fn an_operator_sends_a_new_link_and_the_old_one_stops_working(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app.synchronize(&account("9400", "relink.example")).await;
    let external_id = created.result().to_owned();
    let first = wait_for_tokens(&app, "relink.example", 1).await;
    assert_eq!(link_status(&app, &first[0]).await.0, StatusCode::OK);

    let path = format!("/customers/{external_id}/activation-link");
    let reader = app.sign_in_as(Role::MailAdmin).await;
    let refused = app
        .operator_call(reqwest::Method::POST, &path, &reader, None)
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);

    let admin = app.sign_in_as(Role::Admin).await;
    let queued = app
        .operator_call(reqwest::Method::POST, &path, &admin, None)
        .await;
    assert_eq!(queued.status, StatusCode::ACCEPTED, "{}", queued.body);
    assert!(
        queued.body["outbox_id"].as_i64().is_some(),
        "{}",
        queued.body
    );
    let tokens = wait_for_tokens(&app, "relink.example", 2).await;
    assert_ne!(tokens[0], tokens[1]);
    let (status, page) = link_status(&app, &tokens[0]).await;
    assert_eq!(status, StatusCode::GONE, "the first link expired: {page}");
    assert!(page.contains("expired"), "{page}");
    assert_eq!(link_status(&app, &tokens[1]).await.0, StatusCode::OK);

    // Once the customer chose its password, a link would do nothing.
    let activated = app
        .client
        .post(app.url(&format!("/activate/{}", tokens[1])))
        .form(&[
            ("password", "Fresh pass 42!"),
            ("confirm", "Fresh pass 42!"),
        ])
        .send()
        .await
        .expect("activate");
    assert_eq!(activated.status(), StatusCode::OK);
    let conflict = app
        .operator_call(reqwest::Method::POST, &path, &admin, None)
        .await;
    assert_eq!(conflict.status, StatusCode::CONFLICT, "{}", conflict.body);
    let unknown = app
        .operator_call(
            reqwest::Method::POST,
            "/customers/cus_01nobody000000000000000000/activation-link",
            &admin,
            None,
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.body);
}

async fn the_console_sends_a_new_link_from_the_customer_page(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app
        .synchronize(&account("9500", "console-link.example"))
        .await;
    let external_id = created.result().to_owned();
    wait_for_tokens(&app, "console-link.example", 1).await;

    let reader = console_login(&app, Role::MailAdmin).await;
    let page = reader
        .get(&format!("/console/customers/{external_id}"))
        .await;
    assert!(
        !page.html.contains("new-activation-link"),
        "no button for a Mail Admin"
    );

    let admin = console_login(&app, Role::Admin).await;
    let page = admin
        .get(&format!("/console/customers/{external_id}"))
        .await;
    assert!(
        page.html.contains("id=\"new-activation-link\""),
        "{}",
        page.html
    );
    let sent = admin
        .post_form(
            &format!("/console/customers/{external_id}/activation-link"),
            &[],
        )
        .await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.html);
    let location = sent.location.expect("back to the customer");
    assert!(location.ends_with("notice=new_link"), "{location}");
    let shown = admin.get(&location).await;
    assert!(
        shown.html.contains("A new activation link is on its way"),
        "{}",
        shown.html
    );
    let tokens = wait_for_tokens(&app, "console-link.example", 2).await;
    assert_eq!(link_status(&app, &tokens[0]).await.0, StatusCode::GONE);
    assert_eq!(link_status(&app, &tokens[1]).await.0, StatusCode::OK);
}

async fn the_expired_page_sends_a_new_link_within_limits(backend: Backend) {
    // Every link expires at once, so every page offers a new one.
    let app = spawn_app_with(backend, |settings| settings.mail.activation_ttl_secs = 0).await;
    let mut first_tokens = Vec::new();
    for n in 0..6 {
        let domain = format!("expired-{n}.example");
        app.synchronize(&account(&format!("96{n:02}"), &domain))
            .await;
        first_tokens.push(wait_for_tokens(&app, &domain, 1).await.remove(0));
    }
    let (status, page) = link_status(&app, &first_tokens[0]).await;
    assert_eq!(status, StatusCode::GONE);
    assert!(page.contains("Send me a new link"), "{page}");
    assert!(
        page.contains(&format!(
            "action=\"/activate/{}/new-link\"",
            first_tokens[0]
        )),
        "{page}"
    );

    let ask = |token: String| {
        let app = &app;
        async move {
            let response = app
                .client
                .post(app.url(&format!("/activate/{token}/new-link")))
                .send()
                .await
                .expect("the new-link form");
            (response.status(), response.text().await.expect("a page"))
        }
    };
    let (status, same_answer) = ask(first_tokens[0].clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        same_answer.contains("a new one is on its way"),
        "{same_answer}"
    );
    wait_for_tokens(&app, "expired-0.example", 2).await;

    // The same customer again, at once: the same answer, no mail.
    let (status, again) = ask(first_tokens[0].clone()).await;
    assert_eq!(
        (status, again.as_str()),
        (StatusCode::OK, same_answer.as_str())
    );
    // A link that was never ours: the same answer, no mail.
    let (status, unknown) = ask("not-a-token-of-ours".into()).await;
    assert_eq!(
        (status, unknown.as_str()),
        (StatusCode::OK, same_answer.as_str())
    );
    // This address has asked three times; two more customers get a link,
    // then the address is over its limit of five.
    for (n, token) in first_tokens.iter().enumerate().skip(1).take(2) {
        assert_eq!(ask(token.clone()).await.0, StatusCode::OK);
        wait_for_tokens(&app, &format!("expired-{n}.example"), 2).await;
    }
    let (status, over) = ask(first_tokens[3].clone()).await;
    assert_eq!(
        (status, over.as_str()),
        (StatusCode::OK, same_answer.as_str())
    );
    app.wait_for_outbox(Duration::from_secs(20), "every queued mail sent", |rows| {
        rows.iter()
            .all(|row| row.status == mailroom::store::outbox::OutboxStatus::Sent)
    })
    .await;
    let outbox = app.outbox_rows().await;
    assert_eq!(
        outbox.len(),
        6 + 3,
        "six first mails and three new links: {outbox:#?}"
    );
    assert_eq!(tokens_mailed_to(&app, "expired-3.example").len(), 1);
}

both_backends!(
    an_operator_sends_a_new_link_and_the_old_one_stops_working,
    the_console_sends_a_new_link_from_the_customer_page,
    the_expired_page_sends_a_new_link_within_limits,
);
