//! The operator API: sign-in, roles, template edits with revisions,
//! validation, previews and test mail.

use std::time::Duration;

use mailroom::config::{SmtpSettings, SmtpTls};
use mailroom::domain::operator::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{account, spawn_app, spawn_app_with, Backend, TestApp, OPERATOR_PASSWORD};
use crate::smtp::{Behaviour, SmtpServer};

const TEMPLATE: &str = "/templates/access_instructions";

async fn current(app: &TestApp, token: &str) -> Value {
    let answer = app.operator_call(Method::GET, TEMPLATE, token, None).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    answer.body
}

fn edit(subject: &str, text: &str, html: &str, base: Option<i64>) -> Value {
    json!({"subject": subject, "text_body": text, "html_body": html, "base_revision": base})
}

async fn sign_in_out_and_roles(backend: Backend) {
    let app = spawn_app(backend).await;
    // No token, a wrong one, a wrong password.
    let anonymous = TestApp::send(app.client.get(app.url("/operator/api/templates"))).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(anonymous.body["error"], "unauthorized");
    let forged = app
        .operator_call(Method::GET, "/templates", "forged", None)
        .await;
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED);

    let mail_admin = app.sign_in_as(Role::MailAdmin).await;
    let me = app
        .operator_call(Method::GET, "/me", &mail_admin, None)
        .await;
    assert_eq!(me.body["role"], "mail_admin");
    let wrong =
        TestApp::send(app.client.post(app.url("/operator/api/sessions")).json(
            &json!({"email": me.body["email"], "password": format!("{OPERATOR_PASSWORD}x")}),
        ))
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let unknown = TestApp::send(
        app.client
            .post(app.url("/operator/api/sessions"))
            .json(&json!({"email": "nobody@ops.example", "password": OPERATOR_PASSWORD})),
    )
    .await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        unknown.body["message"], wrong.body["message"],
        "no hint which part was wrong"
    );

    // A Mail Admin reads and previews, but does not edit, test-send or retry.
    let template = current(&app, &mail_admin).await;
    let preview = app
        .operator_call(
            Method::POST,
            &format!("{TEMPLATE}/preview"),
            &mail_admin,
            Some(&json!({})),
        )
        .await;
    assert_eq!(preview.status, StatusCode::OK, "{:?}", preview.body);
    // The current revision with the sample values merged in.
    assert_eq!(
        preview.body["subject"], "Your Example Mail mailbox account is ready",
        "{:?}",
        preview.body
    );
    let text = preview.body["text_body"].as_str().unwrap();
    assert!(text.starts_with("Hi Maria Papadopoulou,\n"), "{text}");
    assert!(text.contains("Username: maria\n"), "{text}");
    let outbox = app
        .operator_call(Method::GET, "/outbox", &mail_admin, None)
        .await;
    assert_eq!(outbox.status, StatusCode::OK);
    let body = edit("New subject", "text", "<p>html</p>", None);
    for (method, path, body) in [
        (Method::PUT, TEMPLATE.to_owned(), Some(&body)),
        (
            Method::POST,
            format!("{TEMPLATE}/revisions/1/restore"),
            None,
        ),
        (
            Method::POST,
            format!("{TEMPLATE}/test-mail"),
            Some(&json!({"to": "a@b.example"})),
        ),
        (Method::POST, "/outbox/1/retry".to_owned(), None),
    ] {
        let refused = app.operator_call(method, &path, &mail_admin, body).await;
        assert_eq!(
            refused.status,
            StatusCode::FORBIDDEN,
            "{path}: {:?}",
            refused.body
        );
        assert_eq!(refused.body["error"], "forbidden");
    }
    assert_eq!(
        current(&app, &mail_admin).await["revision"],
        template["revision"]
    );

    // An Admin edits; a Super Admin too.
    for role in [Role::Admin, Role::SuperAdmin] {
        let token = app.sign_in_as(role).await;
        let saved = app
            .operator_call(Method::PUT, TEMPLATE, &token, Some(&body))
            .await;
        assert_eq!(saved.status, StatusCode::OK, "{role:?}: {:?}", saved.body);
    }

    // Signing out ends the session.
    let out = app
        .operator_call(Method::DELETE, "/sessions/current", &mail_admin, None)
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    let after = app
        .operator_call(Method::GET, "/templates", &mail_admin, None)
        .await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
}

async fn expired_sessions_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.sign_in_as(Role::Admin).await;
    let other = app.sign_in_as(Role::Admin).await;
    let answer = app
        .operator_call(Method::GET, "/templates", &token, None)
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    // The session's time runs out (its stored expiry passes).
    app.expire_session(&token).await;
    let answer = app
        .operator_call(Method::GET, "/templates", &token, None)
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{:?}", answer.body);
    assert_eq!(answer.body["error"], "unauthorized");
    let answer = app
        .operator_call(Method::GET, "/templates", &other, None)
        .await;
    assert_eq!(answer.status, StatusCode::OK, "another session lives on");

    // A session that was over when it began (no lifetime) is refused too.
    let app = spawn_app_with(backend, |settings| settings.operator_session_secs = 0).await;
    let token = app.sign_in_as(Role::Admin).await;
    let answer = app
        .operator_call(Method::GET, "/templates", &token, None)
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
}

async fn invalid_templates_are_refused_with_the_reason(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.sign_in_as(Role::Admin).await;
    let before = current(&app, &admin).await;

    let unknown = app
        .operator_call(
            Method::PUT,
            TEMPLATE,
            &admin,
            Some(&edit(
                "Hello",
                "Hi\n[#Contact.FullName#]",
                "<p>ok</p>",
                None,
            )),
        )
        .await;
    assert_eq!(
        unknown.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        unknown.body
    );
    assert_eq!(unknown.body["error"], "invalid_template");
    let problem = &unknown.body["problems"][0];
    assert_eq!(problem["part"], "text_body");
    assert_eq!(problem["line"], 2);
    let message = problem["message"].as_str().unwrap();
    assert!(message.contains("Contact.FullName"), "{message}");
    assert!(
        message.contains("Contacts.FullName"),
        "lists the known fields: {message}"
    );

    let unbalanced = app
        .operator_call(
            Method::PUT,
            TEMPLATE,
            &admin,
            Some(&edit(
                "Hello",
                "ok",
                "<p>\n{{#if username}}\n{{username}</p>",
                None,
            )),
        )
        .await;
    assert_eq!(
        unbalanced.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        unbalanced.body
    );
    // The unclosed {{ of line 3 is named where it is.
    let problem = &unbalanced.body["problems"][0];
    assert_eq!(
        (&problem["part"], &problem["line"], &problem["column"]),
        (&json!("html_body"), &json!(3), &json!(11)),
        "{:?}",
        unbalanced.body
    );
    assert!(
        problem["message"]
            .as_str()
            .unwrap()
            .contains("the {{ at line 3, column 1 is not closed with }}"),
        "{problem}"
    );

    let unescaped = app
        .operator_call(
            Method::PUT,
            TEMPLATE,
            &admin,
            Some(&edit("Hello", "ok", "<p>{{{Account.Name}}}</p>", None)),
        )
        .await;
    assert_eq!(
        unescaped.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        unescaped.body
    );
    assert_eq!(
        (
            &unescaped.body["error"],
            &unescaped.body["problems"][0]["part"]
        ),
        (&json!("invalid_template"), &json!("html_body")),
        "{:?}",
        unescaped.body
    );

    let big = "x".repeat(200 * 1024);
    let too_long = app
        .operator_call(
            Method::PUT,
            TEMPLATE,
            &admin,
            Some(&edit("Hello", &big, "<p/>", None)),
        )
        .await;
    assert_eq!(
        too_long.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        too_long.body["error"]
    );
    assert_eq!(
        (
            &too_long.body["error"],
            &too_long.body["problems"][0]["part"]
        ),
        (&json!("invalid_template"), &json!("text_body")),
        "{:?}",
        too_long.body["problems"]
    );
    let huge = "x".repeat(10 * 1024 * 1024);
    let ten_megabytes = app
        .operator_call(
            Method::PUT,
            TEMPLATE,
            &admin,
            Some(&edit("Hello", &huge, "<p/>", None)),
        )
        .await;
    assert_eq!(ten_megabytes.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(ten_megabytes.body["error"], "too_large");

    let not_json = TestApp::send(
        app.client
            .put(app.url("/operator/api/templates/access_instructions"))
            .bearer_auth(&admin)
            .header("Content-Type", "application/json")
            .body("{\"subject\": "),
    )
    .await;
    assert_eq!(not_json.status, StatusCode::BAD_REQUEST);

    // Nothing was saved by any of these.
    assert_eq!(current(&app, &admin).await["revision"], before["revision"]);
    app.assert_serving().await;
}

async fn edits_make_revisions_that_can_be_restored(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.sign_in_as(Role::Admin).await;
    let original = current(&app, &admin).await;
    assert_eq!(original["revision"], 1);
    assert!(original["known_fields"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["name"] == "ActivationUrl"));

    let second = app
        .operator_call(
            Method::PUT,
            TEMPLATE,
            &admin,
            Some(&edit(
                "Welcome {{username}}",
                "Hi [#Contacts.FullName#]",
                "<p>Hi {{Contacts.FullName}}</p>",
                Some(1),
            )),
        )
        .await;
    assert_eq!(second.status, StatusCode::OK, "{:?}", second.body);
    assert_eq!(second.body["revision"], 2);
    assert!(second.body["created_by"]
        .as_str()
        .unwrap()
        .starts_with("admin-"));

    // An editor still on revision 1 does not overwrite revision 2.
    let stale = app
        .operator_call(
            Method::PUT,
            TEMPLATE,
            &admin,
            Some(&edit("Old", "old", "<p>old</p>", Some(1))),
        )
        .await;
    assert_eq!(stale.status, StatusCode::CONFLICT, "{:?}", stale.body);
    assert!(stale.body["message"]
        .as_str()
        .unwrap()
        .contains("revision 2"));

    let restored = app
        .operator_call(
            Method::POST,
            &format!("{TEMPLATE}/revisions/1/restore"),
            &admin,
            Some(&json!({"base_revision": 2})),
        )
        .await;
    assert_eq!(restored.status, StatusCode::OK, "{:?}", restored.body);
    assert_eq!(restored.body["revision"], 3);
    assert_eq!(restored.body["restored_from"], 1);
    for part in ["subject", "text_body", "html_body"] {
        assert_eq!(restored.body[part], original[part], "{part}");
    }

    let revisions = app
        .operator_call(Method::GET, &format!("{TEMPLATE}/revisions"), &admin, None)
        .await;
    let numbers: Vec<i64> = revisions
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["revision"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, vec![3, 2, 1], "nothing is lost");
    assert_eq!(revisions.body[1]["subject"], "Welcome {{username}}");

    let missing = app
        .operator_call(
            Method::POST,
            &format!("{TEMPLATE}/revisions/99/restore"),
            &admin,
            None,
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let no_template = app
        .operator_call(Method::GET, "/templates/nope", &admin, None)
        .await;
    assert_eq!(no_template.status, StatusCode::NOT_FOUND);
}

async fn previews_use_samples_or_a_customer(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut customer = account("p1", "preview.example");
    customer["ContactDetails"]["FirstName"] = json!("<b>Ann</b>");
    let created = app.synchronize(&customer).await;
    let external_id = created.body["Result"].as_str().unwrap();
    let reader = app.sign_in_as(Role::MailAdmin).await;
    let draft = json!({
        "subject": "For [#Account.Name#]",
        "text_body": "Hi [#Contacts.FullName#], domain [#domain#]",
        "html_body": "<p>Hi {{Contacts.FullName}}</p>",
    });

    let sample = app
        .operator_call(
            Method::POST,
            &format!("{TEMPLATE}/preview"),
            &reader,
            Some(&draft),
        )
        .await;
    assert_eq!(sample.status, StatusCode::OK, "{:?}", sample.body);
    assert_eq!(
        sample.body["subject"], "For Example Ltd",
        "{:?}",
        sample.body
    );
    assert_eq!(
        sample.body["text_body"],
        "Hi Maria Papadopoulou, domain sample-domain"
    );
    assert_eq!(sample.body["html_body"], "<p>Hi Maria Papadopoulou</p>");

    let mut for_customer = draft.clone();
    for_customer["customer"] = json!(external_id);
    let theirs = app
        .operator_call(
            Method::POST,
            &format!("{TEMPLATE}/preview"),
            &reader,
            Some(&for_customer),
        )
        .await;
    assert_eq!(theirs.status, StatusCode::OK, "{:?}", theirs.body);
    assert_eq!(theirs.body["subject"], "For Customer p1");
    assert_eq!(
        theirs.body["text_body"],
        "Hi <b>Ann</b> Jones, domain preview.example"
    );
    assert_eq!(
        theirs.body["html_body"],
        "<p>Hi &lt;b&gt;Ann&lt;/b&gt; Jones</p>"
    );

    let mut broken = draft.clone();
    broken["text_body"] = json!("[#Nope#]");
    let refused = app
        .operator_call(
            Method::POST,
            &format!("{TEMPLATE}/preview"),
            &reader,
            Some(&broken),
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    let mut stranger = draft;
    stranger["customer"] = json!("cus_unknown");
    let unknown = app
        .operator_call(
            Method::POST,
            &format!("{TEMPLATE}/preview"),
            &reader,
            Some(&stranger),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

async fn test_mail_goes_out_with_the_current_revision(backend: Backend) {
    let smtp = SmtpServer::start(Behaviour::Accept).await;
    let app = spawn_app_with(backend, |settings| {
        settings.mail.smtp = Some(SmtpSettings {
            host: "127.0.0.1".into(),
            port: smtp.port(),
            tls: SmtpTls::None,
            username: None,
            password: None,
        });
    })
    .await;
    let admin = app.sign_in_as(Role::Admin).await;
    let saved = app
        .operator_call(
            Method::PUT,
            TEMPLATE,
            &admin,
            Some(&edit(
                "Edited for [#Account.Name#]",
                "Text [#username#]",
                "<p>[#ActivationUrl#]</p>",
                None,
            )),
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{:?}", saved.body);
    let queued = app
        .operator_call(
            Method::POST,
            &format!("{TEMPLATE}/test-mail"),
            &admin,
            Some(&json!({"to": "ops@example.com"})),
        )
        .await;
    assert_eq!(queued.status, StatusCode::ACCEPTED, "{:?}", queued.body);
    let mails = smtp.wait_for(1, Duration::from_secs(15)).await;
    assert_eq!(mails[0].rcpt_to, vec!["ops@example.com".to_owned()]);
    assert!(
        mails[0].subject.starts_with("Edited for "),
        "{}",
        mails[0].subject
    );

    // A customer created now gets the edited revision too.
    app.synchronize(&account("t1", "edited.example")).await;
    let mails = smtp.wait_for(2, Duration::from_secs(15)).await;
    assert_eq!(mails[1].subject, "Edited for Customer t1");
    assert_eq!(mails[1].text_body.trim(), "Text admin@edited.example");

    let bad_address = app
        .operator_call(
            Method::POST,
            &format!("{TEMPLATE}/test-mail"),
            &admin,
            Some(&json!({"to": "not an address"})),
        )
        .await;
    assert_eq!(bad_address.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Each mail has its own stable Message-ID, made of its outbox row (id
    // and creation time) and the sender's domain, and recorded with it.
    let rows = app
        .wait_for_outbox(
            Duration::from_secs(15),
            "both mails recorded sent",
            |rows| rows.len() == 2 && rows.iter().all(|row| row.message_id.is_some()),
        )
        .await;
    for mail in &mails[..2] {
        let row = rows
            .iter()
            .find(|row| row.recipient.as_deref() == Some(mail.rcpt_to[0].as_str()))
            .unwrap_or_else(|| panic!("no outbox row for {:?} in {rows:#?}", mail.rcpt_to));
        let expected = format!(
            "mailroom.{}.{}@localhost",
            row.id,
            row.created_at.and_utc().timestamp()
        );
        assert_eq!(mail.message_id.as_deref(), Some(expected.as_str()));
        assert_eq!(row.message_id, Some(format!("<{expected}>")));
    }
    assert_ne!(mails[0].message_id, mails[1].message_id);
}

both_backends!(
    sign_in_out_and_roles,
    expired_sessions_are_refused,
    invalid_templates_are_refused_with_the_reason,
    edits_make_revisions_that_can_be_restored,
    previews_use_samples_or_a_customer,
    test_mail_goes_out_with_the_current_revision,
);
