//! Mailbox passwords by link: `Users/Password/Reset` and `Users/Add`
//! without a password mail the mailbox's owner a one-time, expiring link
//! (the activation tokens and outbox of the access mail, the operators'
//! `mailbox_set_password` template), delivered through the test SMTP server.

use mailroom::domain::operator::Role;
use mailroom::store::mailboxes;
use mailroom::store::outbox::OutboxStatus;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{account, spawn_app_with, Backend, TestApp};
use crate::notifications::{assert_delivered_exactly, smtp_on, WAIT};
use crate::smtp::{Behaviour, ReceivedMail, ReservedPort, SmtpServer};

const OWNER: &str = "owner@home.example";

async fn customer(app: &TestApp, id: &str, domain: &str) -> String {
    let answer = app.synchronize(&account(id, domain)).await;
    answer.result().to_owned()
}

fn user(external_id: &str, address: &str, password: &str, secondary: &str) -> Value {
    json!({
        "Customer": {"ID": external_id},
        "DisplayName": "Pat Jones",
        "Username": address,
        "Email": address,
        "Password": password,
        "SecondaryEmail": secondary,
    })
}

/// Adds a mailbox with a password (no mail); returns its `mbx_` id.
async fn add_with_password(app: &TestApp, external_id: &str, address: &str) -> String {
    let answer = app
        .post(
            "Users/Add",
            &user(external_id, address, "Given pass 42!", OWNER),
        )
        .await;
    assert_eq!(answer.code(), 0, "{}", answer.body);
    answer.result().to_owned()
}

/// The set-password mails among `mails` (the access mail of the customer
/// goes to its contact).
fn set_password_mails(mails: &[ReceivedMail]) -> Vec<ReceivedMail> {
    mails
        .iter()
        .filter(|m| m.text_body.contains("/mailbox-password/"))
        .cloned()
        .collect()
}

fn link(mail: &ReceivedMail) -> String {
    let start = mail
        .text_body
        .find("http://127.0.0.1:")
        .unwrap_or_else(|| panic!("no link in {}", mail.text_body));
    mail.text_body[start..]
        .split_whitespace()
        .next()
        .expect("a link")
        .to_owned()
}

async fn password_hash(app: &TestApp, id: &str) -> Option<String> {
    let id = id.to_owned();
    app.with_store(move |conn| mailboxes::by_public_id(conn, &id))
        .await
        .expect("the mailbox")
        .password_hash
}

async fn submit(app: &TestApp, link: &str, password: &str) -> (StatusCode, String) {
    let response = app
        .client
        .post(link)
        .form(&[("password", password), ("confirm", password)])
        .send()
        .await
        .expect("the set-password page");
    let status = response.status();
    (status, response.text().await.expect("a page"))
}

async fn reset_mails_a_link_that_sets_the_password_once(backend: Backend) {
    let smtp = SmtpServer::start(Behaviour::Accept).await;
    let app = spawn_app_with(backend, smtp_on(smtp.port())).await;
    let external_id = customer(&app, "9101", "reset.example").await;
    let id = add_with_password(&app, &external_id, "pat@reset.example").await;
    let before = password_hash(&app, &id)
        .await
        .expect("a hash of the given password");
    assert!(before.starts_with("$argon2"), "{before}");
    // The customer's access mail only.
    smtp.wait_for(1, WAIT).await;

    let answer = app.post("Users/Password/Reset", &json!({"ID": id})).await;
    assert_eq!(answer.code(), 0, "{}", answer.body);
    assert!(answer.body.get("Password").is_none(), "{}", answer.body);
    let mails = set_password_mails(&smtp.wait_for(2, WAIT).await);
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert_eq!(mail.rcpt_to, vec![OWNER.to_owned()]);
    assert!(
        mail.subject.contains("pat@reset.example"),
        "{}",
        mail.subject
    );
    assert!(
        mail.text_body.contains("Hi Pat Jones"),
        "{}",
        mail.text_body
    );
    assert!(
        mail.html_body.contains("/mailbox-password/"),
        "{}",
        mail.html_body
    );
    assert!(
        mail.text_body.contains(" UTC"),
        "the expiry: {}",
        mail.text_body
    );
    let link = link(mail);

    let page = app.client.get(&link).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.headers()["cache-control"], "no-store");
    let html = page.text().await.unwrap();
    assert!(html.contains("pat@reset.example"), "{html}");
    assert!(html.contains("<form method=\"post\""), "{html}");
    // Until the owner sets one, the old password stays.
    assert_eq!(
        password_hash(&app, &id).await.as_deref(),
        Some(before.as_str())
    );

    // Weak and mismatched passwords are refused and leave the link usable.
    assert_eq!(
        submit(&app, &link, "short").await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let (status, page) = submit(&app, &link, "Fresh harbour 42").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(!page.contains("Fresh harbour 42"));
    let after = password_hash(&app, &id).await.expect("a hash");
    assert_ne!(after, before);
    assert!(after.starts_with("$argon2"), "{after}");
    assert!(!after.contains("Fresh harbour 42"));

    // Once only.
    let (status, page) = submit(&app, &link, "Another harbour 43").await;
    assert_eq!(status, StatusCode::GONE, "{page}");
    assert!(page.contains("used already"), "{page}");
    assert_eq!(password_hash(&app, &id).await, Some(after));

    // The answer never carries the password or its hash.
    let got = app.post("Users/Get", &json!({"ID": id})).await;
    assert_eq!(got.body["HasPassword"], json!(true), "{}", got.body);
    assert!(!got.body.to_string().contains("argon2"), "{}", got.body);

    // A mailbox token is no customer activation link, and the reverse.
    let token = link.rsplit('/').next().unwrap();
    let as_activation = app
        .client
        .get(app.url(&format!("/activate/{token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(as_activation.status(), StatusCode::NOT_FOUND);
}

async fn expired_and_unknown_links_are_refused(backend: Backend) {
    let smtp = SmtpServer::start(Behaviour::Accept).await;
    let app = spawn_app_with(backend, |settings| {
        smtp_on(smtp.port())(settings);
        settings.mail.activation_ttl_secs = 0;
    })
    .await;
    let external_id = customer(&app, "9102", "expiry.example").await;
    let id = add_with_password(&app, &external_id, "pat@expiry.example").await;
    let before = password_hash(&app, &id).await;
    let answer = app
        .post(
            "Users/Password/Reset",
            &json!({"Username": "PAT@expiry.example"}),
        )
        .await;
    assert_eq!(answer.code(), 0, "{}", answer.body);
    let mails = set_password_mails(&smtp.wait_for(2, WAIT).await);
    let link = link(&mails[0]);
    let page = app.client.get(&link).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::GONE);
    assert!(page.text().await.unwrap().contains("expired"));
    let (status, page) = submit(&app, &link, "Fresh harbour 42").await;
    assert_eq!(status, StatusCode::GONE, "{page}");
    assert_eq!(password_hash(&app, &id).await, before);

    // Unknown tokens are refused too.
    let unknown = app
        .client
        .get(app.url("/mailbox-password/not-a-token"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    // Unknown mailboxes answer -30.
    let answer = app
        .post(
            "Users/Password/Reset",
            &json!({"ID": "mbx_01nobody00000000000000000"}),
        )
        .await;
    assert_eq!(answer.code(), -30, "{}", answer.body);
}

async fn an_earlier_link_stops_working_after_a_new_reset(backend: Backend) {
    let smtp = SmtpServer::start(Behaviour::Accept).await;
    let app = spawn_app_with(backend, smtp_on(smtp.port())).await;
    let external_id = customer(&app, "9103", "twice.example").await;
    let id = add_with_password(&app, &external_id, "pat@twice.example").await;
    for expected in [2, 3] {
        let answer = app.post("Users/Password/Reset", &json!({"ID": id})).await;
        assert_eq!(answer.code(), 0, "{}", answer.body);
        smtp.wait_for(expected, WAIT).await;
    }
    let mails = set_password_mails(&smtp.messages());
    assert_eq!(mails.len(), 2);
    let (first, second) = (link(&mails[0]), link(&mails[1]));
    assert_ne!(first, second);
    assert_eq!(
        app.client.get(&first).send().await.unwrap().status(),
        StatusCode::GONE
    );
    let (status, page) = submit(&app, &second, "Fresh harbour 42").await;
    assert_eq!(status, StatusCode::OK, "{page}");
}

async fn add_without_password_mails_once_even_when_retried(backend: Backend) {
    let smtp = SmtpServer::start(Behaviour::Accept).await;
    let app = spawn_app_with(backend, smtp_on(smtp.port())).await;
    let external_id = customer(&app, "9104", "added.example").await;
    let body = user(&external_id, "new@added.example", "", "");
    let first = app.post("Users/Add", &body).await;
    assert_eq!(first.code(), 0, "{}", first.body);
    assert_eq!(first.body["HasPassword"], json!(false), "{}", first.body);
    let again = app.post("Users/Add", &body).await;
    assert_eq!(again.code(), 0, "{}", again.body);
    assert_eq!(again.result(), first.result());

    // The access mail and one set-password mail, to the customer's contact
    // (the mailbox has no secondary email).
    let (mails, rows) = assert_delivered_exactly(&app, &smtp, 2).await;
    let mails = set_password_mails(&mails);
    assert_eq!(mails.len(), 1, "{mails:#?}");
    assert_eq!(mails[0].rcpt_to, vec!["pat@added.example".to_owned()]);
    assert!(mails[0].subject.contains("new@added.example"));
    assert_eq!(
        rows.iter()
            .filter(|r| r.template_name == "mailbox_set_password")
            .count(),
        1
    );
    let (status, page) = submit(&app, &link(&mails[0]), "Fresh harbour 42").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let got = app.post("Users/Get", &json!({"ID": first.result()})).await;
    assert_eq!(got.body["HasPassword"], json!(true), "{}", got.body);
}

async fn no_address_to_mail_is_refused_with_a_storefront_code(backend: Backend) {
    let smtp = SmtpServer::start(Behaviour::Accept).await;
    let app = spawn_app_with(backend, smtp_on(smtp.port())).await;
    let external_id = customer(&app, "9105", "nomail.example").await;
    // Synchronize insists on an address; one lost since (an erased contact)
    // leaves a customer without any.
    let lookup = external_id.clone();
    app.with_store(move |conn| {
        use diesel::prelude::*;
        use mailroom::store::schema::{contacts, customers};
        let id: i64 = customers::table
            .filter(customers::external_id.eq(&lookup))
            .select(customers::id)
            .first(conn)?;
        diesel::update(customers::table.find(id))
            .set(customers::email.eq(None::<String>))
            .execute(conn)?;
        diesel::update(contacts::table.find(id))
            .set(contacts::email.eq(None::<String>))
            .execute(conn)?;
        Ok(())
    })
    .await;
    let answer = app
        .post("Users/Add", &user(&external_id, "x@nomail.example", "", ""))
        .await;
    assert_eq!(answer.code(), -80077, "{}", answer.body);
    assert!(answer.body["Message"]
        .as_str()
        .unwrap()
        .contains("SecondaryEmail"));
    // Nothing was added.
    let listed = app
        .post("Users/Get", &json!({"Username": "x@nomail.example"}))
        .await;
    assert_eq!(listed.code(), -30, "{}", listed.body);
    // With a password the mailbox is added; a reset then has nowhere to go.
    let with_password = app
        .post(
            "Users/Add",
            &user(&external_id, "x@nomail.example", "Given pass 42!", ""),
        )
        .await;
    assert_eq!(with_password.code(), 0, "{}", with_password.body);
    let reset = app
        .post(
            "Users/Password/Reset",
            &json!({"ID": with_password.result()}),
        )
        .await;
    assert_eq!(reset.code(), -80077, "{}", reset.body);
    // A reset with a password stores it (hashed) and mails nothing.
    let before = password_hash(&app, with_password.result()).await;
    let reset = app
        .post(
            "Users/Password/Reset",
            &json!({"ID": with_password.result(), "Password": "Other pass 43!"}),
        )
        .await;
    assert_eq!(reset.code(), 0, "{}", reset.body);
    assert_ne!(password_hash(&app, with_password.result()).await, before);
    assert!(app
        .outbox_rows()
        .await
        .iter()
        .all(|r| r.template_name != "mailbox_set_password"));
}

async fn smtp_down_then_up_still_delivers_the_link(backend: Backend) {
    let port = ReservedPort::new();
    let app = spawn_app_with(backend, smtp_on(port.port())).await;
    let external_id = customer(&app, "9106", "down.example").await;
    let id = add_with_password(&app, &external_id, "pat@down.example").await;
    // Two resets while the server is down: only the newer link goes out.
    for _ in 0..2 {
        let answer = app.post("Users/Password/Reset", &json!({"ID": id})).await;
        assert_eq!(answer.code(), 0, "{}", answer.body);
    }
    let rows = app
        .wait_for_outbox(WAIT, "failed attempts of the set-password mail", |rows| {
            rows.iter()
                .any(|r| r.template_name == "mailbox_set_password" && r.attempts >= 1)
        })
        .await;
    let row = rows
        .iter()
        .find(|r| r.template_name == "mailbox_set_password")
        .unwrap();
    assert_eq!(row.status, OutboxStatus::Queued);

    let smtp = SmtpServer::start_on(&port, Behaviour::Accept).await;
    let (mails, rows) = assert_delivered_exactly(&app, &smtp, 2).await;
    let statuses: Vec<OutboxStatus> = rows
        .iter()
        .filter(|r| r.template_name == "mailbox_set_password")
        .map(|r| r.status)
        .collect();
    // Newest first: the newer mail sent, the older one cancelled.
    assert_eq!(
        statuses,
        vec![OutboxStatus::Sent, OutboxStatus::Cancelled],
        "{rows:#?}"
    );
    let mails = set_password_mails(&mails);
    assert_eq!(mails.len(), 1);
    let (status, page) = submit(&app, &link(&mails[0]), "Fresh harbour 42").await;
    assert_eq!(status, StatusCode::OK, "{page}");
}

async fn operators_edit_and_preview_the_set_password_template(backend: Backend) {
    let smtp = SmtpServer::start(Behaviour::Accept).await;
    let app = spawn_app_with(backend, smtp_on(smtp.port())).await;
    let admin = app.sign_in_as(Role::Admin).await;
    let list = app
        .operator_call(reqwest::Method::GET, "/templates", &admin, None)
        .await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert!(
        list.body.to_string().contains("mailbox_set_password"),
        "{}",
        list.body
    );
    let template = app
        .operator_call(
            reqwest::Method::GET,
            "/templates/mailbox_set_password",
            &admin,
            None,
        )
        .await;
    assert_eq!(template.status, StatusCode::OK, "{}", template.body);
    let fields = template.body.to_string();
    for field in [
        "Mailbox.Address",
        "Mailbox.DisplayName",
        "PasswordUrl",
        "PasswordExpiresAt",
    ] {
        assert!(fields.contains(field), "{field} in {fields}");
    }
    let preview = app
        .operator_call(
            reqwest::Method::POST,
            "/templates/mailbox_set_password/preview",
            &admin,
            Some(&json!({})),
        )
        .await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
    let rendered = preview.body.to_string();
    assert!(rendered.contains("pat.jones@example.com"), "{rendered}");
    assert!(
        rendered.contains("/mailbox-password/SAMPLE-TOKEN"),
        "{rendered}"
    );
}

both_backends!(
    reset_mails_a_link_that_sets_the_password_once,
    expired_and_unknown_links_are_refused,
    an_earlier_link_stops_working_after_a_new_reset,
    add_without_password_mails_once_even_when_retried,
    no_address_to_mail_is_refused_with_a_storefront_code,
    smtp_down_then_up_still_delivers_the_link,
    operators_edit_and_preview_the_set_password_template,
);
