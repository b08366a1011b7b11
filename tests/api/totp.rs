//! Two-factor sign-in: enrolment in the console (QR as SVG, confirmed with a
//! code computed here with totp-rs), sign-in over the API and the console
//! with a code (each once) or a recovery code (each once), lockout on wrong
//! codes, and the setting that makes it mandatory for Super Admins.

use mailroom::domain::operator::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use totp_rs::{Algorithm, Secret, TOTP};

use crate::both_backends;
use crate::helpers::{
    console_login, form_csrf, set_cookie, spawn_app, spawn_app_with, Backend, ConsoleClient,
    TestApp, OPERATOR_PASSWORD,
};

both_backends!(
    the_secret_is_stored_sealed_and_a_clear_one_still_works,
    enrolment_then_sign_in_with_codes_each_used_once,
    totp_is_mandatory_for_super_admins_when_configured
);

fn totp(secret: &str) -> TOTP {
    let bytes = Secret::Encoded(secret.to_owned()).to_bytes().unwrap();
    TOTP::new_unchecked(Algorithm::SHA1, 6, 1, 30, bytes, None, String::new())
}

/// The code of the step `offset` steps from now.
fn code(secret: &str, offset: i64) -> String {
    let now = chrono::Utc::now().timestamp() + offset * 30;
    totp(secret).generate(now as u64)
}

fn between(text: &str, start: &str, end: &str) -> Vec<String> {
    text.split(start)
        .skip(1)
        .map(|rest| rest[..rest.find(end).unwrap()].to_owned())
        .collect()
}

async fn enrol(console: &ConsoleClient<'_>) -> (String, Vec<String>) {
    let page = console.get("/console/totp").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(page.html.contains("<svg"), "the QR code is drawn as SVG");
    let secret = between(
        &page.html,
        "<code id=\"totp-secret\" class=\"secret\">",
        "</code>",
    )
    .pop()
    .expect("the key");
    let wrong = console
        .post_form("/console/totp", &[("code", "000000")])
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    let done = console
        .post_form("/console/totp", &[("code", &code(&secret, 0))])
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.html);
    let codes = between(&done.html, "<li><code class=\"secret\">", "</code>");
    assert_eq!(codes.len(), 10, "{}", done.html);
    let again = console.get("/console/totp").await;
    assert!(again.html.contains("id=\"totp-on\""));
    assert!(
        !again.html.contains(&codes[0]),
        "recovery codes are shown once"
    );
    (secret, codes)
}

async fn password_step(app: &TestApp, email: &str) -> String {
    let answer = TestApp::send(
        app.client
            .post(app.url("/operator/api/sessions"))
            .json(&json!({"email": email, "password": OPERATOR_PASSWORD})),
    )
    .await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{:?}", answer.body);
    assert!(answer.body.get("token").is_none());
    answer.body["challenge"].as_str().unwrap().to_owned()
}

async fn second_factor(app: &TestApp, challenge: &str, code: &str) -> (StatusCode, Value) {
    let answer = TestApp::send(
        app.client
            .post(app.url("/operator/api/sessions/second-factor"))
            .json(&json!({"challenge": challenge, "code": code})),
    )
    .await;
    (answer.status, answer.body)
}

/// The stored TOTP secret of an operator, as the column holds it.
async fn stored_secret(app: &TestApp, email: &str) -> String {
    use diesel::prelude::*;
    use mailroom::store::schema::operators;
    let email = email.to_owned();
    app.with_store(move |conn| {
        Ok(operators::table
            .filter(operators::email.eq(email))
            .select(operators::totp_secret)
            .first::<Option<String>>(conn)?)
    })
    .await
    .expect("a secret is stored")
}

/// The secret is sealed at rest (the column never holds it), and a secret
/// stored in the clear before sealing existed still signs in.
async fn the_secret_is_stored_sealed_and_a_clear_one_still_works(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = app.create_operator(Role::Admin).await;
    let console = app.console_sign_in(&email).await;
    let (secret, _) = enrol(&console).await;
    let stored = stored_secret(&app, &email).await;
    assert!(!stored.contains(&secret), "{stored}");
    assert!(stored.starts_with("v1."), "{stored}");
    let challenge = password_step(&app, &email).await;
    let (status, body) = second_factor(&app, &challenge, &code(&secret, 0)).await;
    // The enrolment spent this step's code; the next one signs in.
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, body) = second_factor(&app, &challenge, &code(&secret, 1)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // A row from before: the same secret in the clear.
    {
        use diesel::prelude::*;
        use mailroom::store::schema::operators;
        let (email, clear) = (email.clone(), secret.clone());
        app.with_store(move |conn| {
            diesel::update(operators::table.filter(operators::email.eq(email)))
                .set((
                    operators::totp_secret.eq(clear),
                    operators::totp_last_step.eq(None::<i64>),
                ))
                .execute(conn)?;
            Ok(())
        })
        .await;
    }
    let challenge = password_step(&app, &email).await;
    let (status, body) = second_factor(&app, &challenge, &code(&secret, 0)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

async fn enrolment_then_sign_in_with_codes_each_used_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = app.create_operator(Role::Admin).await;
    let console = app.console_sign_in(&email).await;
    let (secret, recovery) = enrol(&console).await;

    // The password alone no longer signs in; the enrolment's code is spent.
    let challenge = password_step(&app, &email).await;
    let (status, _) = second_factor(&app, &challenge, &code(&secret, 0)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a code works once");
    let (status, body) = second_factor(&app, &challenge, &code(&secret, 1)).await;
    assert_eq!(status, StatusCode::CREATED, "{body:?}");
    let token = body["token"].as_str().unwrap().to_owned();
    let me = app.operator_call(Method::GET, "/me", &token, None).await;
    assert_eq!(me.status, StatusCode::OK);
    let (status, _) = second_factor(&app, &challenge, &code(&secret, 1)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a challenge works once");

    // A recovery code, once (typed in capitals with spaces).
    let challenge = password_step(&app, &email).await;
    let typed = recovery[0].to_uppercase().replace('-', " ");
    let (status, body) = second_factor(&app, &challenge, &typed).await;
    assert_eq!(status, StatusCode::CREATED, "{body:?}");
    let challenge = password_step(&app, &email).await;
    let (status, _) = second_factor(&app, &challenge, &recovery[0]).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a recovery code works once"
    );

    // The console asks for the code after the password.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let form = client.get(app.url("/console/login")).send().await.unwrap();
    let login_csrf = set_cookie(&form, "mailroom_login_csrf").unwrap();
    let csrf = form_csrf(&form.text().await.unwrap());
    let cookie = format!("mailroom_login_csrf={login_csrf}");
    let asked = client
        .post(app.url("/console/login"))
        .header("Cookie", &cookie)
        .form(&[
            ("email", email.as_str()),
            ("password", OPERATOR_PASSWORD),
            ("csrf", csrf.as_str()),
            ("next", "/console/outbox"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(asked.status(), StatusCode::OK);
    assert!(set_cookie(&asked, "mailroom_session").is_none());
    let html = asked.text().await.unwrap();
    let challenge = between(&html, "name=\"challenge\" value=\"", "\"")
        .pop()
        .unwrap();
    let signed = client
        .post(app.url("/console/login/second-factor"))
        .header("Cookie", &cookie)
        .form(&[
            ("challenge", challenge.as_str()),
            ("code", recovery[1].as_str()),
            ("csrf", csrf.as_str()),
            ("next", "/console/outbox"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), StatusCode::SEE_OTHER);
    assert_eq!(signed.headers()["location"], "/console/outbox");
    assert!(set_cookie(&signed, "mailroom_session").is_some());

    // Wrong codes count towards the lockout like wrong passwords.
    let challenge = password_step(&app, &email).await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(second_factor(&app, &challenge, "123456").await.0);
    }
    assert_eq!(
        statuses.last(),
        Some(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );

    let owner = app.sign_in_as(Role::SuperAdmin).await;
    let audit = app
        .operator_call(
            Method::GET,
            &format!("/audit?operator={email}&limit=100"),
            &owner,
            None,
        )
        .await;
    let rows = audit.body["entries"].as_array().unwrap();
    let has = |action: &str, key: &str, value: &str| {
        rows.iter()
            .any(|row| row["action"] == action && row["after"][key] == value)
    };
    assert!(rows.iter().any(|row| row["action"] == "totp_enabled"));
    assert!(has("signed_in", "second_factor", "totp"));
    assert!(has("signed_in", "second_factor", "recovery_code"));
    assert!(has("sign_in_failed", "reason", "wrong_second_factor"));
    let everything = audit.body.to_string();
    assert!(!everything.contains(&secret) && !everything.contains(&recovery[0]));
}

async fn totp_is_mandatory_for_super_admins_when_configured(backend: Backend) {
    let app = spawn_app_with(backend, |settings| {
        settings.require_totp_for_super_admins = true;
    })
    .await;
    // An Admin is not concerned.
    let admin = app.sign_in_as(Role::Admin).await;
    let templates = app
        .operator_call(Method::GET, "/templates", &admin, None)
        .await;
    assert_eq!(templates.status, StatusCode::OK);
    // A Super Admin without a second factor may only enrol.
    let owner = app.sign_in_as(Role::SuperAdmin).await;
    let refused = app
        .operator_call(Method::GET, "/templates", &owner, None)
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.body["error"], "totp_required");
    let console = console_login(&app, Role::SuperAdmin).await;
    let elsewhere = console.get("/console/customers").await;
    assert_eq!(elsewhere.status, StatusCode::SEE_OTHER);
    assert_eq!(elsewhere.location.as_deref(), Some("/console/totp"));
    let page = console.get("/console/totp").await;
    assert!(page.html.contains("id=\"mandatory\""));
    enrol(&console).await;
    assert_eq!(
        console.get("/console/customers").await.status,
        StatusCode::OK,
        "enrolled: the console opens"
    );
}
