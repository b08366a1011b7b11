//! Setup values per application: the `X-CloudPlatform-Setting-*` headers of
//! each call apply to that application's calls (notification mode, default
//! plan, support address), Mailroom's configuration to calls without them;
//! an invalid value falls back; the last values seen are recorded once per
//! change and shown on the console's Keys page.

use mailroom::config::NotificationMode;
use mailroom::domain::catalog::setup_fields::SetupValues;
use mailroom::domain::operator::Role;
use mailroom::store::{applications, catalog, subscriptions};
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{
    account, console_login, spawn_app_with, Answer, Backend, Credentials, TestApp,
};
use crate::notifications::{smtp_on, WAIT};
use crate::smtp::{Behaviour, SmtpServer};

both_backends!(
    each_application_gets_its_own_notification_mode,
    an_invalid_setting_falls_back_to_the_configuration,
    a_create_without_product_id_takes_the_default_plan,
    the_support_address_setting_reaches_the_mail,
    a_mailroom_application_on_a_bss_configuration_mails_a_working_link,
    settings_are_recorded_only_when_they_change
);

fn own(app: &TestApp) -> Credentials {
    Credentials {
        app_id: app.app_id.clone(),
        key: app.api_key.clone(),
    }
}

/// POSTs a contract action as `who`, with these setting headers
/// (`<FieldID>`, value).
async fn post_with(
    app: &TestApp,
    who: &Credentials,
    action: &str,
    settings: &[(&str, &str)],
    body: &Value,
) -> Answer {
    let mut request = app
        .client
        .post(app.url(&format!("/api/{action}")))
        .header("X-CloudPlatform-ApplicationId", &who.app_id)
        .header("X-CloudPlatform-APIKey", &who.key);
    for (id, value) in settings {
        request = request.header(format!("X-CloudPlatform-Setting-{id}"), *value);
    }
    TestApp::send(request.json(body)).await
}

/// Synchronizes a new account as `who`; answers whether the BSS was handed a
/// password to mail (BSS notification mode).
async fn bss_mails(app: &TestApp, who: &Credentials, settings: &[(&str, &str)], id: &str) -> bool {
    let answer = post_with(
        app,
        who,
        "Accounts/Synchronize",
        settings,
        &account(id, &format!("d{id}.example")),
    )
    .await;
    assert_eq!(answer.code(), 0, "{}", answer.body);
    let sends = answer.body["SendNotification"]
        .as_bool()
        .expect("SendNotification");
    assert_eq!(
        sends,
        answer.body["GeneratedPassword"].is_string(),
        "{}",
        answer.body
    );
    sends
}

async fn stored(app: &TestApp, who: &Credentials) -> Option<SetupValues> {
    let app_id = who.app_id.clone();
    app.with_store(move |conn| {
        let row = applications::find_by_app_id(conn, &app_id)?.expect("the application");
        Ok(row.settings())
    })
    .await
}

async fn each_application_gets_its_own_notification_mode(backend: Backend) {
    // The configuration says BSS: every answer below tells which mode applied.
    let app = spawn_app_with(backend, |s| s.notification_mode = NotificationMode::Bss).await;
    let first = own(&app);
    let second = app.second_application("second BSS").await;

    assert!(!bss_mails(&app, &first, &[("notification_mode", "mailroom")], "1").await);
    assert!(bss_mails(&app, &second, &[("notification_mode", "bss")], "2").await);
    // No header: the configuration, for either application.
    assert!(bss_mails(&app, &first, &[], "3").await);
    assert!(bss_mails(&app, &second, &[], "4").await);
    // As the contract sends values: names in any case, first of a multi-value, trimmed.
    assert!(
        !bss_mails(
            &app,
            &second,
            &[("NOTIFICATION_MODE", " mailroom | bss")],
            "5"
        )
        .await
    );

    assert_eq!(
        stored(&app, &first).await.and_then(|s| s.notification_mode),
        Some(NotificationMode::Mailroom)
    );
    assert_eq!(
        stored(&app, &second)
            .await
            .and_then(|s| s.notification_mode),
        Some(NotificationMode::Mailroom),
        "the last values seen"
    );
}

async fn an_invalid_setting_falls_back_to_the_configuration(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.notification_mode = NotificationMode::Bss).await;
    let first = own(&app);
    let invalid = [
        ("notification_mode", "pigeon"),
        ("support_email", "not-an-address"),
    ];
    // The call is served, in the configured mode.
    assert!(bss_mails(&app, &first, &invalid, "10").await);
    let values = stored(&app, &first).await.expect("recorded");
    assert_eq!(values.notification_mode, None);
    assert_eq!(values.support_email, None);
    assert_eq!(
        values.ignored,
        [
            "Notification mode: pigeon is not one of the choices (mailroom, bss).",
            "Support address: not-an-address is not an email address."
        ]
    );

    // Operators see what the BSS sent, and what was ignored.
    post_with(
        &app,
        &first,
        "Accounts/Synchronize",
        &[("notification_mode", "mailroom"), ("support_email", "bad")],
        &account("11", "d11.example"),
    )
    .await;
    let owner = console_login(&app, Role::SuperAdmin).await;
    let page = owner.get("/console/keys").await;
    assert!(page.html.contains("<dd>mailroom</dd>"), "{}", page.html);
    assert!(page
        .html
        .contains("Ignored: Support address: bad is not an email address."));
}

fn create_body(customer: &str, subscription_id: &str, product_id: Option<&str>) -> Value {
    let mut body = json!({
        "SubscriptionID": subscription_id,
        "Name": "Hosted mailbox Business",
        "ServiceType": "hosted_mailbox",
        "Quantity": 3,
        "Account": {"ExternalID": customer},
        "AttributeList": {
            "storage_gb": {"ID": "storage_gb", "Value": "50"},
            "mailbox_type": {"ID": "mailbox_type", "Value": "business"}
        },
        "CheckOnly": false
    });
    if let Some(product_id) = product_id {
        body["ProductID"] = json!(product_id);
    }
    body
}

async fn a_create_without_product_id_takes_the_default_plan(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    let first = own(&app);
    let customer = app.synchronize(&account("20", "d20.example")).await;
    let customer = customer.result().to_owned();
    // A BSS ProductID becomes a plan, which the setting then names.
    let answer = app
        .post(
            "Subscriptions/Create",
            &create_body(&customer, "s1", Some("1207")),
        )
        .await;
    assert_eq!(answer.code(), 0, "{}", answer.body);
    let plan = app
        .with_store(catalog::plans)
        .await
        .into_iter()
        .find(|p| p.product_id.as_deref() == Some("1207"))
        .expect("the recorded plan");

    // Without the setting, refused, saying why.
    let refused = post_with(
        &app,
        &first,
        "Subscriptions/Create",
        &[],
        &create_body(&customer, "s2", None),
    )
    .await;
    assert_eq!(refused.code(), -2, "{}", refused.body);
    assert!(
        refused.message().contains("default_plan"),
        "{}",
        refused.body
    );
    // A setting that names no plan is refused too.
    let unknown = [("default_plan", "plan_nothing")];
    let refused = post_with(
        &app,
        &first,
        "Subscriptions/Create",
        &unknown,
        &create_body(&customer, "s2", None),
    )
    .await;
    assert_eq!(refused.code(), -2, "{}", refused.body);
    assert!(
        refused.message().contains("plan_nothing"),
        "{}",
        refused.body
    );
    let (subscriptions_before, _) = app.with_store(subscriptions::counts).await;
    assert_eq!(subscriptions_before, 1, "nothing created by the refusals");

    // With it, the plan named (ServiceType may then be left out).
    let setting = [("default_plan", plan.public_id.as_str())];
    let mut body = create_body(&customer, "s2", None);
    body.as_object_mut().unwrap().remove("ServiceType");
    let created = post_with(&app, &first, "Subscriptions/Create", &setting, &body).await;
    assert_eq!(created.code(), 0, "{}", created.body);
    let public_id = created.result().to_owned();
    let plan_id = plan.public_id.clone();
    let (row, key) = app
        .with_store(move |conn| {
            let row = subscriptions::by_public_id(conn, &public_id)?.expect("stored");
            let (key, _) = catalog::plan_key_by_public_id(conn, &plan_id)?.expect("the plan");
            Ok((row, key))
        })
        .await;
    assert_eq!(row.plan_id, key.id);
    assert_eq!(row.product_type_id, "hosted_mailbox");
    assert_eq!(row.quantity, 3);
}

async fn the_support_address_setting_reaches_the_mail(backend: Backend) {
    let smtp = SmtpServer::start(Behaviour::Accept).await;
    let app = spawn_app_with(backend, |s| {
        smtp_on(smtp.port())(s);
        s.operator.support_email = "ops@mail.example".into();
    })
    .await;
    let first = own(&app);
    let second = app.second_application("second BSS").await;
    let with_address = [("support_email", "help@partner.example")];
    assert!(!bss_mails(&app, &first, &with_address, "30").await);
    assert!(!bss_mails(&app, &second, &[], "31").await);

    let mails = smtp.wait_for(2, WAIT).await;
    let to = |who: &str| {
        mails
            .iter()
            .find(|m| m.rcpt_to == [format!("pat@d{who}.example")])
            .unwrap_or_else(|| panic!("no mail to customer {who}"))
    };
    // The first application's address; the second has none: the operator's.
    assert!(
        to("30").text_body.contains("Write to help@partner.example"),
        "{}",
        to("30").text_body
    );
    assert!(to("30").html_body.contains("mailto:help@partner.example"));
    assert!(
        to("31").text_body.contains("Write to ops@mail.example"),
        "{}",
        to("31").text_body
    );
}

async fn a_mailroom_application_on_a_bss_configuration_mails_a_working_link(backend: Backend) {
    let smtp = SmtpServer::start(Behaviour::Accept).await;
    let app = spawn_app_with(backend, |s| {
        smtp_on(smtp.port())(s);
        s.notification_mode = NotificationMode::Bss;
    })
    .await;
    let first = own(&app);
    let created = post_with(
        &app,
        &first,
        "Accounts/Synchronize",
        &[("notification_mode", "mailroom")],
        &account("50", "d50.example"),
    )
    .await;
    assert_eq!(created.code(), 0, "{}", created.body);
    assert!(
        created.body["GeneratedPassword"].is_null(),
        "{}",
        created.body
    );
    let external_id = created.result().to_owned();

    // The access mail renders with its link (a template checked in BSS mode
    // knows ActivationUrl too), and the link opens the activation page.
    let mails = smtp.wait_for(1, WAIT).await;
    let text = &mails[0].text_body;
    let start = text.find("/activate/").expect("an activation link") + "/activate/".len();
    let token: String = text[start..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    let page = app
        .client
        .get(app.url(&format!("/activate/{token}")))
        .send()
        .await
        .expect("the activation page");
    assert_eq!(page.status(), reqwest::StatusCode::OK);

    // The operator's "new link" follows the customer's application, not the
    // configured mode.
    let admin = app.sign_in_as(Role::Admin).await;
    let path = format!("/customers/{external_id}/activation-link");
    let queued = app
        .operator_call(reqwest::Method::POST, &path, &admin, None)
        .await;
    assert_eq!(
        queued.status,
        reqwest::StatusCode::ACCEPTED,
        "{}",
        queued.body
    );
    smtp.wait_for(2, WAIT).await;
}

async fn settings_are_recorded_only_when_they_change(backend: Backend) {
    // Application rows stay cached for the whole test.
    let app = spawn_app_with(backend, |s| s.cache_ttl_ms = 600_000).await;
    let first = own(&app);
    assert_eq!(stored(&app, &first).await, None, "none before any call");
    let a = [
        ("notification_mode", "mailroom"),
        ("support_email", "a@partner.example"),
    ];
    assert!(!bss_mails(&app, &first, &a, "40").await);
    let recorded = stored(&app, &first).await.expect("recorded");
    assert_eq!(recorded.support_email.as_deref(), Some("a@partner.example"));

    // Overwrite the row behind the service's back: a call with the same
    // values must not write again, nor one that carries no setting at all.
    let marker = SetupValues {
        support_email: Some("marker@example.com".into()),
        ..SetupValues::default()
    };
    let (id, written) = (
        app.with_store({
            let app_id = first.app_id.clone();
            move |conn| {
                Ok(applications::find_by_app_id(conn, &app_id)?
                    .expect("row")
                    .id)
            }
        })
        .await,
        marker.clone(),
    );
    app.with_store(move |conn| applications::save_settings(conn, id, &written))
        .await;
    assert!(!bss_mails(&app, &first, &a, "41").await);
    assert!(!bss_mails(&app, &first, &[], "42").await);
    assert_eq!(
        stored(&app, &first).await,
        Some(marker),
        "no write without a change"
    );

    // Other values are recorded.
    let b = [("notification_mode", "bss")];
    assert!(bss_mails(&app, &first, &b, "43").await);
    let recorded = stored(&app, &first).await.expect("recorded");
    assert_eq!(recorded.notification_mode, Some(NotificationMode::Bss));
    assert_eq!(recorded.support_email, None);
}
