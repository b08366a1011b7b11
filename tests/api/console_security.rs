//! Security promises of the operator side, read where they are kept: the
//! session cookie's `Secure` flag, secrets in the database only as hashes,
//! the integrations page for Super Admins only, and the sign-in lockout
//! ending after its time (with the service's clock moved on, not waited for).

use std::time::Duration;

use diesel::prelude::*;
use mailroom::domain::operator::Role;
use mailroom::domain::token::hash_token;
use mailroom::store::schema::{activation_tokens, operator_sessions};
use reqwest::StatusCode;

use crate::both_backends;
use crate::helpers::{
    account, console_login, spawn_app, spawn_app_with, spawn_app_with_clock, Backend, TestApp,
    OPERATOR_PASSWORD,
};

/// Signs a new operator of `role` in to the console and returns the whole
/// `Set-Cookie` header of its session (attributes included).
async fn console_session_cookie(app: &TestApp, role: Role) -> String {
    let email = app.create_operator(role).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client");
    let form = client
        .get(app.url("/console/login"))
        .send()
        .await
        .expect("the sign-in page");
    let login_cookie = form
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("mailroom_login_csrf="))
        .and_then(|v| v.split(';').next())
        .expect("a login CSRF cookie")
        .to_owned();
    let response = client
        .post(app.url("/console/login"))
        .header("Cookie", format!("mailroom_login_csrf={login_cookie}"))
        .form(&[
            ("email", email.as_str()),
            ("password", OPERATOR_PASSWORD),
            ("csrf", login_cookie.as_str()),
            ("next", "/console/"),
        ])
        .send()
        .await
        .expect("sign in");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("mailroom_session="))
        .expect("a session cookie")
        .to_owned()
}

fn has_attribute(cookie: &str, attribute: &str) -> bool {
    cookie
        .split(';')
        .skip(1)
        .any(|part| part.trim().eq_ignore_ascii_case(attribute))
}

async fn the_session_cookie_is_secure_behind_an_https_public_url(backend: Backend) {
    let https = spawn_app_with(backend, |settings| {
        settings.public_url = Some("https://mail.example.com".into());
    })
    .await;
    let cookie = console_session_cookie(&https, Role::MailAdmin).await;
    assert!(has_attribute(&cookie, "Secure"), "{cookie}");
    assert!(has_attribute(&cookie, "HttpOnly"), "{cookie}");
    assert!(has_attribute(&cookie, "SameSite=Strict"), "{cookie}");

    // Served over plain HTTP (no public URL), a Secure cookie would never
    // come back: the flag is left off.
    let plain = spawn_app(backend).await;
    let cookie = console_session_cookie(&plain, Role::MailAdmin).await;
    assert!(!has_attribute(&cookie, "Secure"), "{cookie}");
    assert!(has_attribute(&cookie, "HttpOnly"), "{cookie}");
}

async fn operator_sessions_are_stored_as_hashes(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.sign_in_as(Role::Admin).await;
    let stored: Vec<String> = app
        .with_store(|conn| {
            Ok(operator_sessions::table
                .select(operator_sessions::token_hash)
                .load(conn)?)
        })
        .await;
    assert_eq!(stored, [hash_token(&token)]);
    assert!(!stored.iter().any(|hash| hash.contains(&token)));
    // The session works, so the hash is of the token that was handed out.
    let answer = app
        .operator_call(reqwest::Method::GET, "/templates", &token, None)
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
}

async fn activation_tokens_are_stored_as_hashes(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app.synchronize(&account("7100", "hashes.example")).await;
    assert_eq!(created.code(), 0, "{:?}", created.body);
    app.wait_for_outbox(Duration::from_secs(20), "the access mail sent", |rows| {
        rows.len() == 1 && rows[0].status == mailroom::store::outbox::OutboxStatus::Sent
    })
    .await;
    let token = activation_token_in_mail(&app);
    let stored: Vec<String> = app
        .with_store(|conn| {
            Ok(activation_tokens::table
                .select(activation_tokens::token_hash)
                .load(conn)?)
        })
        .await;
    assert_eq!(stored, [hash_token(&token)]);
    // The link works, so the hash is of the token that was mailed.
    let page = app
        .client
        .get(app.url(&format!("/activate/{token}")))
        .send()
        .await
        .expect("the activation page");
    assert_eq!(page.status(), StatusCode::OK);
}

/// The token of the activation link in the one mail written to the app's
/// mail folder.
fn activation_token_in_mail(app: &TestApp) -> String {
    let files: Vec<_> = std::fs::read_dir(app.mail_dir.path())
        .expect("the mail folder")
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "eml"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let raw = std::fs::read(&files[0]).expect("the mail");
    let message = mail_parser::MessageParser::default()
        .parse(&raw)
        .expect("a mail");
    let text = message.body_text(0).expect("a text body").into_owned();
    let start = text.find("/activate/").expect("an activation link") + "/activate/".len();
    text[start..]
        .split(|c: char| c.is_whitespace() || c == '"' || c == '<')
        .next()
        .expect("a token")
        .to_owned()
}

async fn only_super_admins_open_the_integrations_page(backend: Backend) {
    let app = spawn_app(backend).await;
    for role in [Role::MailAdmin, Role::Admin] {
        let console = console_login(&app, role).await;
        let page = console.get("/console/integrations").await;
        assert_eq!(
            page.status,
            StatusCode::FORBIDDEN,
            "{role:?}: {}",
            page.html
        );
        assert!(page.html.contains("Not allowed"), "{}", page.html);
    }
    let console = console_login(&app, Role::SuperAdmin).await;
    let page = console.get("/console/integrations").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
}

async fn sign_in(app: &TestApp, email: &str, password: &str) -> StatusCode {
    TestApp::send(
        app.client
            .post(app.url("/operator/api/sessions"))
            .json(&serde_json::json!({"email": email, "password": password})),
    )
    .await
    .status
}

async fn a_sign_in_lockout_ends_after_its_time(backend: Backend) {
    use mailroom::http::throttle::{LOCKOUT, MAX_FAILURES};
    let clock = std::sync::Arc::new(mailroom::clock::ManualClock::new());
    let app = spawn_app_with_clock(backend, clock.clone()).await;
    let email = app.create_operator(Role::Admin).await;
    for _ in 0..MAX_FAILURES {
        assert_eq!(
            sign_in(&app, &email, "wrong").await,
            StatusCode::UNAUTHORIZED
        );
    }
    // Locked: even the right password is refused until the lockout ends.
    assert_eq!(
        sign_in(&app, &email, OPERATOR_PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    clock.advance(LOCKOUT - Duration::from_secs(60));
    assert_eq!(
        sign_in(&app, &email, OPERATOR_PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    clock.advance(Duration::from_secs(60));
    // Over: one more wrong password is one failure, not a new lockout.
    assert_eq!(
        sign_in(&app, &email, "wrong").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        sign_in(&app, &email, OPERATOR_PASSWORD).await,
        StatusCode::CREATED
    );
}

/// Signs in from `address` (a loopback address of its own, as another
/// machine would).
async fn sign_in_from(app: &TestApp, address: &str, email: &str, password: &str) -> StatusCode {
    let client = reqwest::Client::builder()
        .local_address(address.parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    client
        .post(app.url("/operator/api/sessions"))
        .json(&serde_json::json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
        .status()
}

/// Wrong passwords from one address lock that address out for the email,
/// not the operator: from elsewhere the right password still gets in
/// (slowed, since the email is being guessed).
async fn a_guesser_cannot_lock_an_operator_out(backend: Backend) {
    use mailroom::http::throttle::{MAX_FAILURES, SLOWDOWN};
    let app = spawn_app(backend).await;
    let email = app.create_operator(Role::Admin).await;
    for _ in 0..MAX_FAILURES {
        assert_eq!(
            sign_in_from(&app, "127.0.0.2", &email, "wrong").await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        sign_in_from(&app, "127.0.0.2", &email, OPERATOR_PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    let started = std::time::Instant::now();
    assert_eq!(
        sign_in_from(&app, "127.0.0.3", &email, OPERATOR_PASSWORD).await,
        StatusCode::CREATED
    );
    assert!(started.elapsed() >= SLOWDOWN, "the attempt was slowed");
}

/// Wrong passwords for many emails from one address lock the address.
async fn spraying_from_one_address_locks_it(backend: Backend) {
    use mailroom::http::throttle::MAX_ADDRESS_FAILURES;
    let app = spawn_app(backend).await;
    let email = app.create_operator(Role::Admin).await;
    for i in 0..MAX_ADDRESS_FAILURES {
        assert_eq!(
            sign_in_from(&app, "127.0.0.4", &format!("guess{i}@example.com"), "wrong").await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        sign_in_from(&app, "127.0.0.4", &email, OPERATOR_PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        sign_in_from(&app, "127.0.0.5", &email, OPERATOR_PASSWORD).await,
        StatusCode::CREATED
    );
}

both_backends!(
    a_guesser_cannot_lock_an_operator_out,
    spraying_from_one_address_locks_it,
    a_sign_in_lockout_ends_after_its_time,
    the_session_cookie_is_secure_behind_an_https_public_url,
    operator_sessions_are_stored_as_hashes,
    activation_tokens_are_stored_as_hashes,
    only_super_admins_open_the_integrations_page,
);
