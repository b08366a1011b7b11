//! The console over HTTP: sign-in with its CSRF and lockout, sessions,
//! roles, and the template pages. (Browser tests are in `browser`.)

use mailroom::domain::operator::Role;
use reqwest::StatusCode;

use crate::both_backends;
use crate::helpers::{
    console_login, form_csrf, set_cookie, spawn_app, spawn_app_with, Backend, TestApp,
    OPERATOR_PASSWORD,
};

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Posts the sign-in form as a browser would: the login page's token in the
/// form and in its cookie.
async fn sign_in(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    let client = client();
    let form = client.get(app.url("/console/login")).send().await.unwrap();
    let cookie = set_cookie(&form, "mailroom_login_csrf").unwrap();
    let csrf = form_csrf(&form.text().await.unwrap());
    client
        .post(app.url("/console/login"))
        .header("Cookie", format!("mailroom_login_csrf={cookie}"))
        .form(&[
            ("email", email),
            ("password", password),
            ("csrf", &csrf),
            ("next", "/console/templates"),
        ])
        .send()
        .await
        .unwrap()
}

async fn landing_page_links_everything(backend: Backend) {
    let app = spawn_app(backend).await;
    let html = app
        .client
        .get(app.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for link in ["/console/", "/swagger-ui/", "/healthz", "/readyz"] {
        assert!(
            html.contains(&format!("href=\"{link}\"")),
            "{link} in {html}"
        );
    }
}

async fn pages_need_a_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = client()
        .get(app.url("/console/templates?x=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.headers()["location"],
        "/console/login?next=/console/templates%3Fx%3D1"
    );
    let forged = client()
        .get(app.url("/console/templates"))
        .header("Cookie", "mailroom_session=forged")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::SEE_OTHER);
}

async fn sign_in_sets_a_strict_http_only_cookie(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = app.create_operator(Role::Admin).await;
    let response = sign_in(&app, &email, OPERATOR_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["location"], "/console/templates");
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("mailroom_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");

    // Without the login form's token the sign-in is refused.
    let no_token = client()
        .post(app.url("/console/login"))
        .form(&[
            ("email", email.as_str()),
            ("password", OPERATOR_PASSWORD),
            ("csrf", "x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(no_token.status(), StatusCode::FORBIDDEN);
    assert!(set_cookie(&no_token, "mailroom_session").is_none());
}

async fn repeated_failures_lock_the_sign_in(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = app.create_operator(Role::Admin).await;
    for _ in 0..5 {
        let wrong = sign_in(&app, &email, "not the password").await;
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
        assert!(wrong
            .text()
            .await
            .unwrap()
            .contains("The email or password is wrong"));
    }
    // Now even the right password waits, in the console and the API alike.
    let locked = sign_in(&app, &email, OPERATOR_PASSWORD).await;
    assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(locked
        .text()
        .await
        .unwrap()
        .contains("Too many failed sign-ins"));
    let api = TestApp::send(
        app.client
            .post(app.url("/operator/api/sessions"))
            .json(&serde_json::json!({"email": email, "password": OPERATOR_PASSWORD})),
    )
    .await;
    assert_eq!(api.status, StatusCode::TOO_MANY_REQUESTS);
    // Another operator is not affected.
    let other = app.create_operator(Role::Admin).await;
    assert_eq!(
        sign_in(&app, &other, OPERATOR_PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
}

async fn expired_sessions_go_back_to_sign_in(backend: Backend) {
    let app = spawn_app_with(backend, |settings| settings.operator_session_secs = 1).await;
    let console = console_login(&app, Role::Admin).await;
    assert_eq!(
        console.get("/console/templates").await.status,
        StatusCode::OK
    );
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let page = console.get("/console/templates").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert!(page.location.unwrap().starts_with("/console/login"));
}

async fn sign_out_ends_the_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let console = console_login(&app, Role::MailAdmin).await;
    let refused = console
        .post_form_raw("/console/logout", &[("csrf", "wrong")])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(
        console.get("/console/templates").await.status,
        StatusCode::OK
    );
    let out = console.post_form("/console/logout", &[]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(
        console.get("/console/templates").await.status,
        StatusCode::SEE_OTHER
    );
}

async fn template_editor_saves_validates_and_restores(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = console_login(&app, Role::Admin).await;
    let editor = admin.get("/console/templates/access_instructions").await;
    assert_eq!(editor.status, StatusCode::OK);
    assert!(editor.html.contains("id=\"save\""));
    assert!(editor.html.contains("data-field=\"Contacts.FullName\""));
    assert!(editor.html.contains("revision 1"));

    // An unknown field: 422, the message next to the text body, the text kept.
    let typed = "Hello [#Contact.Name#] <b>&</b>";
    let refused = admin
        .post_form(
            "/console/templates/access_instructions",
            &[
                ("subject", "S"),
                ("text_body", typed),
                ("html_body", "<p>x</p>"),
                ("base_revision", "1"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    let problems = refused
        .html
        .split("id=\"text_body-problems\"")
        .nth(1)
        .unwrap();
    assert!(
        problems
            .split("</ul>")
            .next()
            .unwrap()
            .contains("Contact.Name"),
        "{problems}"
    );
    assert!(refused
        .html
        .contains("Hello [#Contact.Name#] &lt;b&gt;&amp;&lt;/b&gt;"));

    // Without the CSRF token nothing is saved.
    let forged = admin
        .post_form_raw(
            "/console/templates/access_instructions",
            &[
                ("subject", "Forged"),
                ("text_body", "x"),
                ("html_body", "x"),
                ("csrf", "nope"),
            ],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);

    let saved = admin
        .post_form(
            "/console/templates/access_instructions",
            &[
                ("subject", "Edited [#Account.Name#]"),
                ("text_body", "Hi"),
                ("html_body", "<p>Hi</p>"),
                ("base_revision", "1"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.html);
    // The same stale form again (still on revision 1): detected, not saved.
    let stale = admin
        .post_form(
            "/console/templates/access_instructions",
            &[
                ("subject", "Stale"),
                ("text_body", "Hi"),
                ("html_body", "<p>Hi</p>"),
                ("base_revision", "1"),
            ],
        )
        .await;
    assert_eq!(stale.status, StatusCode::CONFLICT);
    assert!(stale.html.contains("revision 2 was saved meanwhile"));

    let history = admin
        .get("/console/templates/access_instructions/revisions")
        .await;
    assert!(history.html.contains("data-revision=\"2\""));
    assert!(
        history
            .html
            .contains("<span class=\"add\">+ Edited [#Account.Name#]</span>"),
        "{}",
        history.html
    );
    let restored = admin
        .post_form(
            "/console/templates/access_instructions/revisions/1/restore",
            &[("base_revision", "2")],
        )
        .await;
    assert_eq!(restored.status, StatusCode::SEE_OTHER);
    let editor = admin
        .get("/console/templates/access_instructions?notice=restored")
        .await;
    assert!(editor.html.contains("revision 3"));
    assert!(editor.html.contains("restored as a new revision"));
    assert!(!editor.html.contains("Edited [#Account.Name#]"));
}

async fn mail_admins_read_and_preview_but_cannot_edit(backend: Backend) {
    let app = spawn_app(backend).await;
    let reader = console_login(&app, Role::MailAdmin).await;
    let editor = reader.get("/console/templates/access_instructions").await;
    assert_eq!(editor.status, StatusCode::OK);
    assert!(!editor.html.contains("id=\"save\""));
    assert!(editor.html.contains("id=\"read-only\""));
    let refused = reader
        .post_form(
            "/console/templates/access_instructions",
            &[("subject", "S"), ("text_body", "x"), ("html_body", "x")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.html.contains("Not allowed"));
    let restore = reader
        .post_form(
            "/console/templates/access_instructions/revisions/1/restore",
            &[],
        )
        .await;
    assert_eq!(restore.status, StatusCode::FORBIDDEN);
    // The page's script previews through the API with the cookie and the
    // CSRF header; without the header the API refuses.
    let preview = |csrf: Option<&str>| {
        let mut request = client()
            .post(app.url("/operator/api/templates/access_instructions/preview"))
            .header("Cookie", format!("mailroom_session={}", reader.session))
            .json(&serde_json::json!({}));
        if let Some(token) = csrf {
            request = request.header("X-CSRF-Token", token);
        }
        request.send()
    };
    assert_eq!(
        preview(Some(&reader.csrf)).await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(preview(None).await.unwrap().status(), StatusCode::FORBIDDEN);
    // Keys and integrations are for Super Admins.
    assert_eq!(
        reader.get("/console/integrations").await.status,
        StatusCode::FORBIDDEN
    );
}

both_backends!(
    landing_page_links_everything,
    pages_need_a_session,
    sign_in_sets_a_strict_http_only_cookie,
    repeated_failures_lock_the_sign_in,
    expired_sessions_go_back_to_sign_in,
    sign_out_ends_the_session,
    template_editor_saves_validates_and_restores,
    mail_admins_read_and_preview_but_cannot_edit,
);
