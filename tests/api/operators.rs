//! Operators managed by Super Admins over the API and the console:
//! invitations by set-password link, roles, disabling (sessions and tokens
//! stop at once), the last-Super-Admin guard, resets and own passwords.

use mailroom::domain::operator::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{
    console_login, spawn_app, spawn_app_with, Backend, TestApp, OPERATOR_PASSWORD,
};
use crate::notifications::{smtp_on, WAIT};
use crate::smtp::{Behaviour, ReceivedMail, SmtpServer};

both_backends!(
    an_invited_operator_sets_a_password_by_link_and_signs_in,
    disabling_stops_sessions_and_the_last_super_admin_stays,
    operators_change_their_own_password,
    the_operators_page_invites_disables_and_guards
);

const NEW_PASSWORD: &str = "Chosen console pass 7";

async fn sign_in(app: &TestApp, email: &str, password: &str) -> (StatusCode, Option<String>) {
    let answer = TestApp::send(
        app.client
            .post(app.url("/operator/api/sessions"))
            .json(&json!({"email": email, "password": password})),
    )
    .await;
    let token = answer.body["token"].as_str().map(str::to_owned);
    (answer.status, token)
}

async fn operators(app: &TestApp, token: &str) -> Vec<Value> {
    let answer = app
        .operator_call(Method::GET, "/operators", token, None)
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    answer.body.as_array().unwrap().clone()
}

async fn id_of(app: &TestApp, token: &str, email: &str) -> i64 {
    operators(app, token)
        .await
        .iter()
        .find(|o| o["email"] == email)
        .unwrap_or_else(|| panic!("no operator {email}"))["id"]
        .as_i64()
        .unwrap()
}

async fn audit_actions(app: &TestApp, token: &str) -> Vec<String> {
    let answer = app
        .operator_call(Method::GET, "/audit?limit=500", token, None)
        .await;
    answer.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["action"].as_str().unwrap().to_owned())
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

async fn submit(app: &TestApp, link: &str, password: &str) -> StatusCode {
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let _ = app;
    no_redirects
        .post(link)
        .form(&[("password", password), ("confirm", password)])
        .send()
        .await
        .expect("the set-password page")
        .status()
}

async fn an_invited_operator_sets_a_password_by_link_and_signs_in(backend: Backend) {
    let smtp = SmtpServer::start(Behaviour::Accept).await;
    let app = spawn_app_with(backend, smtp_on(smtp.port())).await;
    let owner = app.sign_in_as(Role::SuperAdmin).await;
    let admin = app.sign_in_as(Role::Admin).await;
    let body = json!({"email": "New.Op@Example.com", "role": "admin"});
    let refused = app
        .operator_call(Method::POST, "/operators", &admin, Some(&body))
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let invited = app
        .operator_call(Method::POST, "/operators", &owner, Some(&body))
        .await;
    assert_eq!(invited.status, StatusCode::CREATED, "{:?}", invited.body);
    assert_eq!(invited.body["operator"]["email"], "new.op@example.com");
    assert_eq!(invited.body["operator"]["status"], "invited");
    assert_eq!(invited.body["operator"]["role"], "admin");
    let again = app
        .operator_call(Method::POST, "/operators", &owner, Some(&body))
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    let not_email = app
        .operator_call(
            Method::POST,
            "/operators",
            &owner,
            Some(&json!({"email": "nobody", "role": "admin"})),
        )
        .await;
    assert_eq!(not_email.status, StatusCode::UNPROCESSABLE_ENTITY);
    // Without a password nothing signs in as the invitee.
    assert_eq!(
        sign_in(&app, "new.op@example.com", "").await.0,
        StatusCode::UNAUTHORIZED
    );

    let mails = smtp.wait_for(1, WAIT).await;
    let mail = &mails[0];
    assert_eq!(mail.rcpt_to, vec!["new.op@example.com".to_owned()]);
    assert!(
        mail.text_body.contains("/console/set-password/"),
        "{}",
        mail.text_body
    );
    let link = link(mail);
    let page = app.client.get(&link).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("new.op@example.com"));
    assert_eq!(
        submit(&app, &link, "short").await,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        submit(&app, &link, NEW_PASSWORD).await,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        submit(&app, &link, "Another pass 99").await,
        StatusCode::GONE,
        "a link works once"
    );
    let (status, token) = sign_in(&app, "new.op@example.com", NEW_PASSWORD).await;
    assert_eq!(status, StatusCode::CREATED);
    let me = app
        .operator_call(Method::GET, "/me", &token.unwrap(), None)
        .await;
    assert_eq!(me.body["role"], "admin");
    let listed = operators(&app, &owner).await;
    let new_op = listed
        .iter()
        .find(|o| o["email"] == "new.op@example.com")
        .unwrap();
    assert_eq!(new_op["status"], "active");
    assert!(new_op["last_sign_in_at"].is_string(), "{new_op}");
    // Instants are answered in UTC with their zone, as `date-time` requires.
    for field in ["created_at", "last_sign_in_at"] {
        let at = new_op[field].as_str().unwrap();
        assert!(
            chrono::DateTime::parse_from_rfc3339(at).is_ok(),
            "{field}: {at}"
        );
        assert!(at.ends_with('Z'), "{field}: {at}");
    }
    let actions = audit_actions(&app, &owner).await;
    assert!(
        actions.contains(&"operator_invited".to_owned()),
        "{actions:?}"
    );
    assert!(
        actions.contains(&"operator_password_set".to_owned()),
        "{actions:?}"
    );
    assert_eq!(
        actions.iter().filter(|a| *a == "operator_invited").count(),
        1,
        "the refused second invitation has no row"
    );
}

async fn disabling_stops_sessions_and_the_last_super_admin_stays(backend: Backend) {
    let app = spawn_app(backend).await;
    let owner_email = app.create_operator(Role::SuperAdmin).await;
    let (_, owner) = sign_in(&app, &owner_email, OPERATOR_PASSWORD).await;
    let owner = owner.unwrap();
    let admin_email = app.create_operator(Role::Admin).await;
    let (_, admin) = sign_in(&app, &admin_email, OPERATOR_PASSWORD).await;
    let admin = admin.unwrap();
    let admin_console = app.console_sign_in(&admin_email).await;
    let owner_id = id_of(&app, &owner, &owner_email).await;
    let admin_id = id_of(&app, &owner, &admin_email).await;

    // The only Super Admin can be neither demoted nor disabled.
    for change in [json!({"role": "admin"}), json!({"disabled": true})] {
        let refused = app
            .operator_call(
                Method::PATCH,
                &format!("/operators/{owner_id}"),
                &owner,
                Some(&change),
            )
            .await;
        assert_eq!(refused.status, StatusCode::CONFLICT, "{:?}", refused.body);
        assert!(refused.body["message"]
            .as_str()
            .unwrap()
            .contains("last active Super Admin"));
    }
    // An Admin manages no operators.
    let forbidden = app
        .operator_call(
            Method::PATCH,
            &format!("/operators/{owner_id}"),
            &admin,
            Some(&json!({"disabled": true})),
        )
        .await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);

    // Disabled: the bearer token and the console session stop at once.
    let disabled = app
        .operator_call(
            Method::PATCH,
            &format!("/operators/{admin_id}"),
            &owner,
            Some(&json!({"disabled": true})),
        )
        .await;
    assert_eq!(disabled.status, StatusCode::OK, "{:?}", disabled.body);
    assert_eq!(disabled.body["status"], "disabled");
    let me = app.operator_call(Method::GET, "/me", &admin, None).await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED);
    let page = admin_console.get("/console/customers").await;
    assert_eq!(
        page.status,
        StatusCode::SEE_OTHER,
        "back to the sign-in page"
    );
    assert_eq!(
        sign_in(&app, &admin_email, OPERATOR_PASSWORD).await.0,
        StatusCode::UNAUTHORIZED
    );
    let reset = app
        .operator_call(
            Method::POST,
            &format!("/operators/{admin_id}/password-reset"),
            &owner,
            None,
        )
        .await;
    assert_eq!(
        reset.status,
        StatusCode::CONFLICT,
        "no link for a disabled operator"
    );

    // Re-enabled and promoted: now the first Super Admin may step down,
    // and then the second is the last one.
    for change in [json!({"disabled": false}), json!({"role": "super_admin"})] {
        let done = app
            .operator_call(
                Method::PATCH,
                &format!("/operators/{admin_id}"),
                &owner,
                Some(&change),
            )
            .await;
        assert_eq!(done.status, StatusCode::OK, "{:?}", done.body);
    }
    let (status, promoted) = sign_in(&app, &admin_email, OPERATOR_PASSWORD).await;
    assert_eq!(status, StatusCode::CREATED);
    let promoted = promoted.unwrap();
    let demoted = app
        .operator_call(
            Method::PATCH,
            &format!("/operators/{owner_id}"),
            &promoted,
            Some(&json!({"role": "mail_admin"})),
        )
        .await;
    assert_eq!(demoted.status, StatusCode::OK, "{:?}", demoted.body);
    assert_eq!(demoted.body["role"], "mail_admin");
    let me = app.operator_call(Method::GET, "/me", &owner, None).await;
    assert_eq!(me.body["role"], "mail_admin", "the role holds at once");
    let last = app
        .operator_call(
            Method::PATCH,
            &format!("/operators/{admin_id}"),
            &promoted,
            Some(&json!({"disabled": true})),
        )
        .await;
    assert_eq!(last.status, StatusCode::CONFLICT);
    let reset = app
        .operator_call(
            Method::POST,
            &format!("/operators/{owner_id}/password-reset"),
            &promoted,
            None,
        )
        .await;
    assert_eq!(reset.status, StatusCode::ACCEPTED, "{:?}", reset.body);

    let actions = audit_actions(&app, &promoted).await;
    for action in [
        "operator_disabled",
        "operator_enabled",
        "operator_role_changed",
        "operator_password_reset_sent",
    ] {
        assert!(
            actions.contains(&action.to_owned()),
            "{action}: {actions:?}"
        );
    }
    assert_eq!(
        actions
            .iter()
            .filter(|a| *a == "operator_role_changed")
            .count(),
        2,
        "refused changes have no row: {actions:?}"
    );
}

async fn operators_change_their_own_password(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = app.create_operator(Role::MailAdmin).await;
    let (_, current) = sign_in(&app, &email, OPERATOR_PASSWORD).await;
    let (_, other) = sign_in(&app, &email, OPERATOR_PASSWORD).await;
    let (current, other) = (current.unwrap(), other.unwrap());
    let change = |old: &str, new: &str| json!({"current_password": old, "new_password": new});
    let wrong = app
        .operator_call(
            Method::PUT,
            "/me/password",
            &current,
            Some(&change("nope", NEW_PASSWORD)),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    let weak = app
        .operator_call(
            Method::PUT,
            "/me/password",
            &current,
            Some(&change(OPERATOR_PASSWORD, "abc")),
        )
        .await;
    assert_eq!(weak.status, StatusCode::UNPROCESSABLE_ENTITY);
    let done = app
        .operator_call(
            Method::PUT,
            "/me/password",
            &current,
            Some(&change(OPERATOR_PASSWORD, NEW_PASSWORD)),
        )
        .await;
    assert_eq!(done.status, StatusCode::NO_CONTENT, "{:?}", done.body);
    assert_eq!(
        app.operator_call(Method::GET, "/me", &current, None)
            .await
            .status,
        StatusCode::OK,
        "this session stays"
    );
    assert_eq!(
        app.operator_call(Method::GET, "/me", &other, None)
            .await
            .status,
        StatusCode::UNAUTHORIZED,
        "the other session ends"
    );
    assert_eq!(
        sign_in(&app, &email, OPERATOR_PASSWORD).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        sign_in(&app, &email, NEW_PASSWORD).await.0,
        StatusCode::CREATED
    );
}

async fn the_operators_page_invites_disables_and_guards(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = console_login(&app, Role::Admin).await;
    assert_eq!(
        admin.get("/console/operators").await.status,
        StatusCode::FORBIDDEN
    );
    let owner = console_login(&app, Role::SuperAdmin).await;
    let page = owner.get("/console/operators").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(page.html.contains("href=\"/console/operators\""));
    let invited = owner
        .post_form(
            "/console/operators",
            &[
                ("email", "console.invite@example.com"),
                ("role", "mail_admin"),
            ],
        )
        .await;
    assert_eq!(invited.status, StatusCode::SEE_OTHER, "{}", invited.html);
    let page = owner.get(invited.location.as_deref().unwrap()).await;
    assert!(page.html.contains("id=\"notice\""));
    assert!(page.html.contains("console.invite@example.com"));
    assert!(page.html.contains("data-status=\"invited\""));
    let bad = owner
        .post_form("/console/operators", &[("email", "x"), ("role", "admin")])
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    // The only (signed-up) Super Admin tries to disable themselves.
    let rows = app
        .with_store(mailroom::store::operator_accounts::list)
        .await;
    let me = rows
        .iter()
        .find(|o| o.role == Role::SuperAdmin && o.has_password)
        .unwrap();
    let refused = owner
        .post_form(&format!("/console/operators/{}/disable", me.id), &[])
        .await;
    assert_eq!(refused.status, StatusCode::SEE_OTHER);
    assert_eq!(
        refused.location.as_deref(),
        Some("/console/operators?problem=last_super_admin")
    );
    let page = owner
        .get("/console/operators?problem=last_super_admin")
        .await;
    assert!(page.html.contains("last active Super Admin"));
    // Disabling the Admin ends their console session.
    let admin_row = rows.iter().find(|o| o.role == Role::Admin).unwrap();
    let disabled = owner
        .post_form(&format!("/console/operators/{}/disable", admin_row.id), &[])
        .await;
    assert_eq!(
        disabled.location.as_deref(),
        Some("/console/operators?notice=disabled")
    );
    assert_eq!(
        admin.get("/console/customers").await.status,
        StatusCode::SEE_OTHER
    );
}
