//! Access-instruction mail: queued with the customer, delivered over a real
//! SMTP server on loopback, exactly once, and the activation link it carries.

use std::time::Duration;

use mailroom::config::{NotificationMode, Settings, SmtpSettings, SmtpTls};
use mailroom::store::outbox::OutboxStatus;
use reqwest::StatusCode;
use serde_json::json;

use crate::both_backends;
use crate::helpers::{account, spawn_app_with, spawn_instance_of, Backend, TestApp};
use crate::smtp::{Behaviour, ReceivedMail, SmtpServer};

const WAIT: Duration = Duration::from_secs(15);

fn smtp_on(port: u16) -> impl FnOnce(&mut Settings) {
    move |settings| {
        settings.mail.smtp = Some(SmtpSettings {
            host: "127.0.0.1".into(),
            port,
            tls: SmtpTls::None,
            username: None,
            password: None,
        });
        settings.mail.from = "Example Mail <support@mail.example>".into();
        settings.operator.name = "Example Mail".into();
    }
}

/// A port nothing listens on (for a "down" SMTP server).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

/// The activation link in a received mail.
fn activation_link(mail: &ReceivedMail) -> String {
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

/// After the mail arrived: nothing more comes within a while.
async fn assert_no_more_mail(smtp: &SmtpServer, expected: usize) {
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(smtp.messages().len(), expected, "{:#?}", smtp.messages());
}

async fn new_customer_receives_access_instructions_once(backend: Backend) {
    let smtp = SmtpServer::start(Behaviour::Accept).await;
    let app = spawn_app_with(backend, smtp_on(smtp.port())).await;
    let mut customer = account("1001", "acme.example");
    customer["ContactDetails"]["FirstName"] = json!("Pat <script>alert(1)</script> & Co");
    let first = app.synchronize(&customer).await;
    // A retry of the same call, and a later update, queue nothing more.
    app.synchronize(&customer).await;
    customer["Phone"] = json!("+30 210 000");
    app.synchronize(&customer).await;

    let mails = smtp.wait_for(1, WAIT).await;
    let mail = &mails[0];
    assert_eq!(mail.rcpt_to, vec!["pat@acme.example".to_owned()]);
    assert_eq!(mail.mail_from, "support@mail.example");
    assert!(mail.subject.contains("Example Mail"), "{}", mail.subject);
    // The text body carries values as they are, the HTML body escapes them.
    assert!(
        mail.text_body
            .contains("Pat <script>alert(1)</script> & Co Jones"),
        "{}",
        mail.text_body
    );
    assert!(!mail.html_body.contains("<script>"), "{}", mail.html_body);
    assert!(
        mail.html_body
            .contains("Pat &lt;script&gt;alert(1)&lt;/script&gt; &amp; Co Jones"),
        "{}",
        mail.html_body
    );
    // username fell back to the account email; the link points at us.
    assert!(
        mail.text_body.contains("admin@acme.example"),
        "{}",
        mail.text_body
    );
    assert!(activation_link(mail).starts_with(&format!("{}/activate/", app.address)));
    assert!(mail.html_body.contains(&activation_link(mail)));
    assert!(mail.message_id.is_some());
    assert_eq!(first.body["SendNotification"], json!(false));

    assert_no_more_mail(&smtp, 1).await;
    let rows = app.outbox_rows().await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, OutboxStatus::Sent);
    assert_eq!(rows[0].attempts, 1);
    assert_eq!(rows[0].recipient.as_deref(), Some("pat@acme.example"));
}

async fn raced_synchronize_queues_one_mail(backend: Backend) {
    let smtp = SmtpServer::start(Behaviour::Accept).await;
    let app = spawn_app_with(backend, smtp_on(smtp.port())).await;
    let customer = account("2002", "race.example");
    let calls = (0..20).map(|_| app.post("Accounts/Synchronize", &customer));
    let answers = futures::future::join_all(calls).await;
    for answer in &answers {
        assert_eq!(answer.code(), 0, "{:?}", answer.body);
    }
    smtp.wait_for(1, WAIT).await;
    assert_no_more_mail(&smtp, 1).await;
    assert_eq!(app.outbox_rows().await.len(), 1);
}

async fn smtp_down_then_up_delivers_exactly_once(backend: Backend) {
    let port = free_port();
    let app = spawn_app_with(backend, smtp_on(port)).await;
    app.synchronize(&account("3003", "late.example")).await;
    // Attempts fail while nothing listens; the mail stays queued.
    let rows = app
        .wait_for_outbox(WAIT, "two failed attempts", |rows| {
            rows.first().is_some_and(|r| r.attempts >= 2)
        })
        .await;
    assert_eq!(rows[0].status, OutboxStatus::Queued);
    assert!(rows[0].last_error.is_some());

    let smtp = SmtpServer::start_on(port, Behaviour::Accept).await;
    let mails = smtp.wait_for(1, WAIT).await;
    assert_eq!(mails[0].rcpt_to, vec!["pat@late.example".to_owned()]);
    assert_no_more_mail(&smtp, 1).await;
    let rows = app.outbox_rows().await;
    assert_eq!(rows[0].status, OutboxStatus::Sent);
    assert_eq!(rows[0].last_error, None);
}

async fn temporary_refusals_and_a_hung_server_are_retried(backend: Backend) {
    let smtp = SmtpServer::start(Behaviour::Hang).await;
    let app = spawn_app_with(backend, |settings| {
        smtp_on(smtp.port())(settings);
        settings.mail.send_timeout_ms = 500;
    })
    .await;
    app.synchronize(&account("4004", "slow.example")).await;
    let rows = app
        .wait_for_outbox(WAIT, "a timed-out attempt", |rows| {
            rows.first().is_some_and(|r| r.attempts >= 1)
        })
        .await;
    let error = rows[0].last_error.clone().unwrap_or_default();
    assert!(error.contains("did not answer"), "{error}");

    smtp.set_behaviour(Behaviour::TemporaryFailure);
    let attempts_so_far = rows[0].attempts;
    let rows = app
        .wait_for_outbox(WAIT, "a refused attempt", |rows| {
            rows.first().is_some_and(|r| {
                r.attempts > attempts_so_far
                    && r.last_error.as_deref().is_some_and(|e| e.contains("451"))
            })
        })
        .await;
    assert_eq!(rows[0].status, OutboxStatus::Queued);

    smtp.set_behaviour(Behaviour::Accept);
    smtp.wait_for(1, WAIT).await;
    assert_no_more_mail(&smtp, 1).await;
}

async fn rejected_address_fails_until_an_operator_retries(backend: Backend) {
    let smtp = SmtpServer::start(Behaviour::RejectRecipient("bounce".into())).await;
    let app = spawn_app_with(backend, smtp_on(smtp.port())).await;
    let mut customer = account("5005", "bounce.example");
    customer["ContactDetails"]["Email"] = json!("bounce@bounce.example");
    app.synchronize(&customer).await;
    let rows = app
        .wait_for_outbox(WAIT, "a failed mail", |rows| {
            rows.first()
                .is_some_and(|r| r.status == OutboxStatus::Failed)
        })
        .await;
    // A permanent refusal is not retried on its own.
    assert_eq!(rows[0].attempts, 1);
    assert!(
        rows[0].last_error.as_deref().unwrap_or("").contains("550"),
        "{rows:?}"
    );

    let admin = app
        .sign_in_as(mailroom::domain::operator::Role::Admin)
        .await;
    let listed = app
        .operator_call(reqwest::Method::GET, "/outbox?status=failed", &admin, None)
        .await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(listed.body[0]["status"], "failed");
    assert!(listed.body[0]["customer"]
        .as_str()
        .unwrap()
        .starts_with("cus_"));

    smtp.set_behaviour(Behaviour::Accept);
    let id = rows[0].id;
    let retried = app
        .operator_call(
            reqwest::Method::POST,
            &format!("/outbox/{id}/retry"),
            &admin,
            None,
        )
        .await;
    assert_eq!(retried.status, StatusCode::OK, "{:?}", retried.body);
    smtp.wait_for(1, WAIT).await;
    // A sent mail cannot be retried.
    let again = app
        .operator_call(
            reqwest::Method::POST,
            &format!("/outbox/{id}/retry"),
            &admin,
            None,
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{:?}", again.body);
    assert_no_more_mail(&smtp, 1).await;
}

async fn activation_link_sets_the_password_once(backend: Backend) {
    let smtp = SmtpServer::start(Behaviour::Accept).await;
    let app = spawn_app_with(backend, smtp_on(smtp.port())).await;
    let created = app.synchronize(&account("6006", "activate.example")).await;
    let external_id = created.body["Result"].as_str().unwrap().to_owned();
    let mails = smtp.wait_for(1, WAIT).await;
    let link = activation_link(&mails[0]);
    let client = &app.client;

    let page = client.get(&link).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.headers()["cache-control"], "no-store");
    let html = page.text().await.unwrap();
    assert!(html.contains("Welcome, Customer 6006"), "{html}");
    assert!(html.contains("<form method=\"post\""), "{html}");

    let differ = client
        .post(&link)
        .form(&[
            ("password", "Quite long pass 1"),
            ("confirm", "Quite long pass 2"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(differ.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(differ
        .text()
        .await
        .unwrap()
        .contains("The two passwords differ"));
    let weak = client
        .post(&link)
        .form(&[("password", "short"), ("confirm", "short")])
        .send()
        .await
        .unwrap();
    assert_eq!(weak.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(weak
        .text()
        .await
        .unwrap()
        .contains("at least 10 characters"));

    let chosen = "Blue harbour 42";
    let set = client
        .post(&link)
        .form(&[("password", chosen), ("confirm", chosen)])
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), StatusCode::OK);
    assert!(set.text().await.unwrap().contains("Your password is set"));
    let details = app
        .with_store(move |conn| mailroom::store::customers::load_details(conn, &external_id))
        .await
        .expect("the customer");
    let hash = details.customer.password_hash.expect("a password hash");
    assert!(hash.starts_with("$argon2"), "stored as argon2: {hash}");
    assert!(mailroom::domain::password::verify(chosen, &hash));
    assert!(details.customer.activated_at.is_some());

    // The link works once.
    for response in [
        client.get(&link).send().await.unwrap(),
        client
            .post(&link)
            .form(&[("password", "Other pass 99"), ("confirm", "Other pass 99")])
            .send()
            .await
            .unwrap(),
    ] {
        assert_eq!(response.status(), StatusCode::GONE);
        assert!(response.text().await.unwrap().contains("used already"));
    }
    let unknown = client
        .get(app.url("/activate/not-a-real-token"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert!(unknown
        .text()
        .await
        .unwrap()
        .contains("This link is not valid"));
}

async fn expired_links_are_refused(backend: Backend) {
    let smtp = SmtpServer::start(Behaviour::Accept).await;
    let app = spawn_app_with(backend, |settings| {
        smtp_on(smtp.port())(settings);
        settings.mail.activation_ttl_secs = 0;
    })
    .await;
    app.synchronize(&account("7007", "expired.example")).await;
    let mails = smtp.wait_for(1, WAIT).await;
    let response = app
        .client
        .post(activation_link(&mails[0]))
        .form(&[
            ("password", "Blue harbour 42"),
            ("confirm", "Blue harbour 42"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::GONE);
    assert!(response.text().await.unwrap().contains("expired"));
}

async fn bss_mode_sends_nothing(backend: Backend) {
    let smtp = SmtpServer::start(Behaviour::Accept).await;
    let app = spawn_app_with(backend, |settings| {
        smtp_on(smtp.port())(settings);
        settings.notification_mode = NotificationMode::Bss;
    })
    .await;
    let answer = app.synchronize(&account("8008", "bss.example")).await;
    assert_eq!(answer.body["SendNotification"], json!(true));
    assert_no_more_mail(&smtp, 0).await;
    assert!(app.outbox_rows().await.is_empty());
}

async fn queued_mail_survives_a_stop_before_sending(backend: Backend) {
    let smtp = SmtpServer::start(Behaviour::Accept).await;
    // The first instance queues but never delivers, then goes away.
    let first = spawn_app_with(backend, |settings| {
        smtp_on(smtp.port())(settings);
        settings.mail.deliver = false;
    })
    .await;
    first.synchronize(&account("9009", "crash.example")).await;
    first.stop().await;
    assert_no_more_mail(&smtp, 0).await;
    // The next instance over the same database delivers it.
    let second = spawn_instance_of(&first, smtp_on(smtp.port())).await;
    let mails = smtp.wait_for(1, WAIT).await;
    assert_eq!(mails[0].rcpt_to, vec!["pat@crash.example".to_owned()]);
    assert_no_more_mail(&smtp, 1).await;
    drop(second);
}

async fn several_instances_send_each_mail_once(backend: Backend) {
    let smtp = SmtpServer::start(Behaviour::Accept).await;
    let first = spawn_app_with(backend, smtp_on(smtp.port())).await;
    let second = spawn_instance_of(&first, smtp_on(smtp.port())).await;
    let third = spawn_instance_of(&first, smtp_on(smtp.port())).await;
    let apps: [&TestApp; 3] = [&first, &second, &third];
    let calls = (0..30).map(|i| {
        let app = apps[i % 3];
        async move {
            app.synchronize(&account(&format!("m{i}"), &format!("multi{i}.example")))
                .await
        }
    });
    futures::future::join_all(calls).await;
    let mails = smtp.wait_for(30, WAIT).await;
    assert_no_more_mail(&smtp, 30).await;
    let mut recipients: Vec<String> = mails.iter().flat_map(|m| m.rcpt_to.clone()).collect();
    recipients.sort();
    recipients.dedup();
    assert_eq!(recipients.len(), 30, "each customer got exactly one mail");
}

async fn without_smtp_mail_lands_in_the_folder(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    app.synchronize(&account("1010", "folder.example")).await;
    app.wait_for_outbox(WAIT, "a sent mail", |rows| {
        rows.first().is_some_and(|r| r.status == OutboxStatus::Sent)
    })
    .await;
    let files: Vec<_> = std::fs::read_dir(app.mail_dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "eml"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let eml = std::fs::read_to_string(&files[0]).unwrap();
    assert!(eml.contains("To: pat@folder.example"), "{eml}");
}

both_backends!(
    new_customer_receives_access_instructions_once,
    raced_synchronize_queues_one_mail,
    smtp_down_then_up_delivers_exactly_once,
    temporary_refusals_and_a_hung_server_are_retried,
    rejected_address_fails_until_an_operator_retries,
    activation_link_sets_the_password_once,
    expired_links_are_refused,
    bss_mode_sends_nothing,
    queued_mail_survives_a_stop_before_sending,
    several_instances_send_each_mail_once,
    without_smtp_mail_lands_in_the_folder,
);
