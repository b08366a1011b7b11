//! Access-instruction mail through Mailroom: queued with the customer,
//! rendered from the template current when it is sent, delivered over a real
//! SMTP server on loopback exactly once, and the activation link it carries.

use std::time::Duration;

use mailroom::config::{NotificationMode, Settings, SmtpSettings, SmtpTls};
use mailroom::domain::operator::Role;
use mailroom::store::outbox::{OutboxRow, OutboxStatus};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::both_backends;
use crate::helpers::{account, spawn_app_with, spawn_instance_of, Backend, TestApp};
use crate::smtp::{Behaviour, ReceivedMail, ReservedPort, SmtpServer};

pub(crate) const WAIT: Duration = Duration::from_secs(15);

const TEMPLATE: &str = "/templates/access_instructions";

/// Plain SMTP to the test server on `port`.
pub(crate) fn smtp_on(port: u16) -> impl FnOnce(&mut Settings) {
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

/// Waits until the worker is done with every mail (none queued, none
/// leased), then checks the server accepted exactly `expected` messages.
/// Nothing more can arrive afterwards: a mail is recorded as sent only once
/// the server accepted it, and a second claim of it would have left its
/// lease (or the row queued) until that attempt ended too.
pub(crate) async fn assert_delivered_exactly(
    app: &TestApp,
    smtp: &SmtpServer,
    expected: usize,
) -> (Vec<ReceivedMail>, Vec<OutboxRow>) {
    let rows = app
        .wait_for_outbox(WAIT, "no mail queued or leased", |rows| {
            rows.iter()
                .all(|r| r.status != OutboxStatus::Queued && r.lease_owner.is_none())
        })
        .await;
    let mails = smtp.messages();
    assert_eq!(mails.len(), expected, "{mails:#?}\n{rows:#?}");
    (mails, rows)
}

/// Saves a new revision of the access-instructions template through the
/// operator API, as an operator does in the console.
pub(crate) async fn save_template(
    app: &TestApp,
    admin: &str,
    subject: &str,
    text: &str,
    html: &str,
) {
    let current = app.operator_call(Method::GET, TEMPLATE, admin, None).await;
    assert_eq!(current.status, StatusCode::OK, "{:?}", current.body);
    let edit = json!({
        "subject": subject,
        "text_body": text,
        "html_body": html,
        "base_revision": current.body["revision"],
    });
    let saved = app
        .operator_call(Method::PUT, TEMPLATE, admin, Some(&edit))
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{:?}", saved.body);
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
    assert_eq!(first.body["SendNotification"], json!(false));

    let (_, rows) = assert_delivered_exactly(&app, &smtp, 1).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, OutboxStatus::Sent);
    assert_eq!(rows[0].attempts, 1);
    assert_eq!(rows[0].recipient.as_deref(), Some("pat@acme.example"));
    // The Message-ID the server received is the one the row keeps, of our form.
    let mail = &smtp.messages()[0];
    let received = mail.message_id.as_deref().expect("a Message-ID");
    assert!(
        received.starts_with(&format!("mailroom.{}.", rows[0].id))
            && received.ends_with("@mail.example"),
        "{received}"
    );
    assert_eq!(rows[0].message_id, Some(format!("<{received}>")));
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
    let (_, rows) = assert_delivered_exactly(&app, &smtp, 1).await;
    assert_eq!(rows.len(), 1);
}

async fn smtp_down_then_up_delivers_exactly_once(backend: Backend) {
    // Nothing listens on the port yet (connections are refused), and no
    // other test can take it meanwhile.
    let port = ReservedPort::new();
    let app = spawn_app_with(backend, smtp_on(port.port())).await;
    app.synchronize(&account("3003", "late.example")).await;
    // Attempts fail while the server is down; the mail stays queued.
    let rows = app
        .wait_for_outbox(WAIT, "two failed attempts", |rows| {
            rows.first().is_some_and(|r| r.attempts >= 2)
        })
        .await;
    assert_eq!(rows[0].status, OutboxStatus::Queued);
    assert!(rows[0].last_error.is_some());

    let smtp = SmtpServer::start_on(&port, Behaviour::Accept).await;
    let mails = smtp.wait_for(1, WAIT).await;
    assert_eq!(mails[0].rcpt_to, vec!["pat@late.example".to_owned()]);
    let (_, rows) = assert_delivered_exactly(&app, &smtp, 1).await;
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
    // A hung server makes the attempt fail, and the mail is tried again.
    let rows = app
        .wait_for_outbox(WAIT, "two timed-out attempts", |rows| {
            rows.first().is_some_and(|r| r.attempts >= 2)
        })
        .await;
    assert_eq!(rows[0].status, OutboxStatus::Queued);
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
    let (_, rows) = assert_delivered_exactly(&app, &smtp, 1).await;
    assert_eq!(rows[0].status, OutboxStatus::Sent);
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

    let admin = app.sign_in_as(Role::Admin).await;
    let listed = app
        .operator_call(Method::GET, "/outbox?status=failed", &admin, None)
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
        .operator_call(Method::POST, &format!("/outbox/{id}/retry"), &admin, None)
        .await;
    assert_eq!(retried.status, StatusCode::OK, "{:?}", retried.body);
    smtp.wait_for(1, WAIT).await;
    // A sent mail cannot be retried.
    let again = app
        .operator_call(Method::POST, &format!("/outbox/{id}/retry"), &admin, None)
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{:?}", again.body);
    assert_delivered_exactly(&app, &smtp, 1).await;
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
    // Synchronize answered after its transaction committed: nothing was
    // queued, so nothing can ever be sent.
    assert!(app.outbox_rows().await.is_empty());
    assert!(smtp.messages().is_empty());
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
    let rows = first.outbox_rows().await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, OutboxStatus::Queued);
    assert_eq!(rows[0].attempts, 0);
    assert!(smtp.messages().is_empty());
    // The next instance over the same database delivers it.
    let second = spawn_instance_of(&first, smtp_on(smtp.port())).await;
    let mails = smtp.wait_for(1, WAIT).await;
    assert_eq!(mails[0].rcpt_to, vec!["pat@crash.example".to_owned()]);
    assert_delivered_exactly(&second, &smtp, 1).await;
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
    smtp.wait_for(30, WAIT).await;
    let (mails, _) = assert_delivered_exactly(&first, &smtp, 30).await;
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

async fn mail_renders_the_template_revision_current_at_send_time(backend: Backend) {
    let smtp = SmtpServer::start(Behaviour::Accept).await;
    // This instance queues mail and never delivers it.
    let queueing = spawn_app_with(backend, |settings| {
        smtp_on(smtp.port())(settings);
        settings.mail.deliver = false;
    })
    .await;
    queueing
        .synchronize(&account("1101", "sendtime.example"))
        .await;
    let rows = queueing.outbox_rows().await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, OutboxStatus::Queued);
    assert_eq!(rows[0].subject, None, "nothing is rendered when queued");

    // The template changes while the mail waits.
    let admin = queueing.sign_in_as(Role::Admin).await;
    save_template(
        &queueing,
        &admin,
        "Edited after queueing, for [#Account.Name#]",
        "New text for [#username#]: [#ActivationUrl#]",
        "<p>New HTML for [#username#]: [#ActivationUrl#]</p>",
    )
    .await;

    // An instance that delivers sends it with the revision current now.
    let delivering = spawn_instance_of(&queueing, smtp_on(smtp.port())).await;
    let mails = smtp.wait_for(1, WAIT).await;
    assert_eq!(mails[0].subject, "Edited after queueing, for Customer 1101");
    assert!(
        mails[0]
            .text_body
            .starts_with("New text for admin@sendtime.example: http://"),
        "{}",
        mails[0].text_body
    );
    let (_, rows) = assert_delivered_exactly(&delivering, &smtp, 1).await;
    assert_eq!(
        rows[0].subject.as_deref(),
        Some("Edited after queueing, for Customer 1101")
    );
}

async fn a_new_template_revision_reaches_the_next_mail(backend: Backend) {
    let smtp = SmtpServer::start(Behaviour::Accept).await;
    let app = spawn_app_with(backend, smtp_on(smtp.port())).await;
    // The first mail compiles (and caches) the seeded revision.
    app.synchronize(&account("1201", "before.example")).await;
    let mails = smtp.wait_for(1, WAIT).await;
    assert_eq!(
        mails[0].subject,
        "Your Example Mail mailbox account is ready"
    );

    let admin = app.sign_in_as(Role::Admin).await;
    save_template(
        &app,
        &admin,
        "Second revision, for [#Account.Name#]",
        "Second text [#ActivationUrl#]",
        "<p>Second HTML [#ActivationUrl#]</p>",
    )
    .await;
    app.synchronize(&account("1202", "after.example")).await;
    let mails = smtp.wait_for(2, WAIT).await;
    assert_eq!(mails[1].rcpt_to, vec!["pat@after.example".to_owned()]);
    assert_eq!(mails[1].subject, "Second revision, for Customer 1202");
    assert!(
        mails[1].html_body.starts_with("<p>Second HTML "),
        "{}",
        mails[1].html_body
    );

    // And the one after that follows a third revision.
    save_template(
        &app,
        &admin,
        "Third revision, for [#Account.Name#]",
        "Third text [#ActivationUrl#]",
        "<p>Third HTML [#ActivationUrl#]</p>",
    )
    .await;
    app.synchronize(&account("1203", "later.example")).await;
    let mails = smtp.wait_for(3, WAIT).await;
    assert_eq!(mails[2].subject, "Third revision, for Customer 1203");
    assert_delivered_exactly(&app, &smtp, 3).await;
}

async fn utf8_values_and_dot_lines_arrive_intact(backend: Backend) {
    let smtp = SmtpServer::start(Behaviour::Accept).await;
    let app = spawn_app_with(backend, smtp_on(smtp.port())).await;
    let admin = app.sign_in_as(Role::Admin).await;
    let long_line = "a long line that needs soft line breaks in quoted-printable: ".repeat(3);
    save_template(
        &app,
        &admin,
        "Grüße, [#Contacts.FirstName#] — ✓ 日本語の件名",
        &format!(
            "Hallo [#Contacts.FirstName#],\n.this line starts with a dot\n..and this with two\n\
             {long_line}\nEnde. [#ActivationUrl#]\n"
        ),
        "<p>Hallo <b>[#Contacts.FirstName#]</b> — ✓</p>\n<p>.dot [#ActivationUrl#]</p>\n",
    )
    .await;
    let mut customer = account("1301", "utf8.example");
    customer["ContactDetails"]["FirstName"] = json!("Zoë");
    app.synchronize(&customer).await;

    let mails = smtp.wait_for(1, WAIT).await;
    let mail = &mails[0];
    assert_eq!(mail.subject, "Grüße, Zoë — ✓ 日本語の件名");
    // Encoded on the wire, decoded by the receiver.
    assert!(
        mail.header("Subject").unwrap().starts_with("=?utf-8?"),
        "{:?}",
        mail.header("Subject")
    );
    assert!(mail
        .header("Content-Type")
        .unwrap()
        .starts_with("multipart/alternative"));
    let link = activation_link(mail);
    assert_eq!(
        mail.text_body.replace("\r\n", "\n"),
        format!(
            "Hallo Zoë,\n.this line starts with a dot\n..and this with two\n{long_line}\n\
             Ende. {link}\n"
        )
    );
    assert_eq!(
        mail.html_body.replace("\r\n", "\n"),
        format!("<p>Hallo <b>Zoë</b> — ✓</p>\n<p>.dot {link}</p>\n")
    );
    assert_delivered_exactly(&app, &smtp, 1).await;
}

both_backends!(
    new_customer_receives_access_instructions_once,
    mail_renders_the_template_revision_current_at_send_time,
    a_new_template_revision_reaches_the_next_mail,
    utf8_values_and_dot_lines_arrive_intact,
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
