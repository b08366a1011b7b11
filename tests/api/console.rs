//! The console over HTTP: sign-in with its CSRF and lockout, sessions,
//! roles, and the template pages. (Browser tests are in `browser`.)

use mailroom::domain::operator::Role;
use reqwest::StatusCode;
use serde_json::json;

use crate::both_backends;
use crate::helpers::{
    account, console_login, form_csrf, set_cookie, spawn_app, Backend, TestApp, OPERATOR_PASSWORD,
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
    assert_eq!(
        forged.headers()["location"],
        "/console/login?next=/console/templates"
    );
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
    let app = spawn_app(backend).await;
    let console = console_login(&app, Role::Admin).await;
    let other = console_login(&app, Role::Admin).await;
    assert_eq!(
        console.get("/console/templates").await.status,
        StatusCode::OK
    );
    // The session's time runs out (its stored expiry passes).
    app.expire_session(&console.session).await;
    let page = console.get("/console/templates?x=1").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
    assert_eq!(
        page.location.as_deref(),
        Some("/console/login?next=/console/templates%3Fx%3D1")
    );
    // Its forms go to the sign-in too (not handled as a sign-out), and
    // another session lives on.
    let refused = console.post_form("/console/logout", &[]).await;
    assert_eq!(refused.status, StatusCode::SEE_OTHER);
    assert_eq!(
        refused.location.as_deref(),
        Some("/console/login?next=/console/logout")
    );
    assert_eq!(other.get("/console/templates").await.status, StatusCode::OK);
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
    assert_eq!(out.location.as_deref(), Some("/console/login"));
    let after = console.get("/console/templates").await;
    assert_eq!(after.status, StatusCode::SEE_OTHER);
    assert_eq!(
        after.location.as_deref(),
        Some("/console/login?next=/console/templates")
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
    let rendered = preview(Some(&reader.csrf)).await.unwrap();
    assert_eq!(rendered.status(), StatusCode::OK);
    // The current revision, rendered with the sample values.
    let rendered: serde_json::Value = rendered.json().await.unwrap();
    assert_eq!(
        rendered["subject"], "Your Example Mail mailbox account is ready",
        "{rendered}"
    );
    let text = rendered["text_body"].as_str().unwrap();
    for merged in [
        "Hi Maria Papadopoulou,",
        "Username: maria",
        "https://mail.example.net/activate/SAMPLE-TOKEN",
    ] {
        assert!(text.contains(merged), "{merged} in {text}");
    }
    assert!(!text.contains("[#"), "{text}");
    assert_eq!(preview(None).await.unwrap().status(), StatusCode::FORBIDDEN);
    // Keys and integrations are for Super Admins.
    assert_eq!(
        reader.get("/console/integrations").await.status,
        StatusCode::FORBIDDEN
    );
}

/// A form or script of one session cannot act for another: session A's
/// CSRF token with session B's cookie is refused and changes nothing, even
/// when both sessions are the same operator's.
async fn a_csrf_token_is_good_only_for_its_own_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let external_id = app
        .synchronize(&account("c1", "csrf-pair.example"))
        .await
        .result()
        .to_owned();
    let email = app.create_operator(Role::Admin).await;
    let a = app.console_sign_in(&email).await;
    let b = app.console_sign_in(&email).await;
    let stranger = console_login(&app, Role::Admin).await;
    assert_ne!(a.session, b.session);
    assert_ne!(a.csrf, b.csrf, "one token per session, not per operator");
    assert_ne!(a.csrf, stranger.csrf);
    let exists = || async {
        app.post("Accounts/Exists", &json!({"ExternalID": external_id}))
            .await
            .code()
    };

    // Console forms.
    let suspend = format!("/console/customers/{external_id}/suspend");
    for other in [&b, &stranger] {
        let refused = other.post_form_raw(&suspend, &[("csrf", &a.csrf)]).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.html);
    }
    assert_eq!(exists().await, 1, "still active");
    let refused = b
        .post_form_raw("/console/logout", &[("csrf", &a.csrf)])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(b.get("/console/templates").await.status, StatusCode::OK);

    // The operator API, as the pages' scripts call it.
    let revision = || async {
        let current = client()
            .get(app.url("/operator/api/templates/access_instructions"))
            .header("Cookie", format!("mailroom_session={}", b.session))
            .send()
            .await
            .unwrap();
        assert_eq!(current.status(), StatusCode::OK);
        current.json::<serde_json::Value>().await.unwrap()["revision"].clone()
    };
    let before = revision().await;
    let save = |token: &str| {
        client()
            .put(app.url("/operator/api/templates/access_instructions"))
            .header("Cookie", format!("mailroom_session={}", b.session))
            .header("X-CSRF-Token", token)
            .json(&json!({"subject": "Forged", "text_body": "x", "html_body": "<p>x</p>"}))
            .send()
    };
    assert_eq!(save(&a.csrf).await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(revision().await, before, "nothing saved");

    // Each session's own token works (the refusals above were the token's).
    let done = b.post_form(&suspend, &[]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
    assert_eq!(exists().await, 2, "suspended");
    assert_eq!(save(&b.csrf).await.unwrap().status(), StatusCode::OK);
    assert_ne!(revision().await, before);
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
    a_csrf_token_is_good_only_for_its_own_session,
);
