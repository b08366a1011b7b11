//! The console's settings sections: sync options (and the JSON the BSS
//! gets), application keys, the outbox; one role policy with the API.

use mailroom::domain::operator::Role;
use mailroom::store::outbox::OutboxStatus;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{account, console_login, spawn_app, spawn_app_with, Backend, Credentials};

/// Undoes handlebars' HTML escaping.
fn unescape(html: &str) -> String {
    html.replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#x60;", "`")
        .replace("&#x3D;", "=")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The text between `start` and the next `end`, unescaped.
fn between(html: &str, start: &str, end: &str) -> Option<String> {
    let from = html.find(start)? + start.len();
    let to = html[from..].find(end)? + from;
    Some(unescape(&html[from..to]))
}

/// The value of the input named `name`.
fn input_value(html: &str, name: &str) -> String {
    let start = html
        .find(&format!("name=\"{name}\""))
        .unwrap_or_else(|| panic!("no input {name} in {html}"));
    let tag = &html[start..start + html[start..].find('>').expect("the tag ends")];
    between(tag, "value=\"", "\"").unwrap_or_else(|| panic!("no value in {tag}"))
}

/// The `Name` the contract declares for `option_id`.
async fn contract_option(app: &crate::helpers::TestApp, option_id: &str) -> Option<Value> {
    let answer = app.get("Accounts/SyncOptions").await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    answer.body["Fields"]
        .as_array()
        .expect("Fields")
        .iter()
        .find(|field| field["ID"] == option_id)
        .map(|field| field["Definition"].clone())
}

/// The form of the seeded `domain` option, with `name` and `updated_at`.
fn domain_form<'a>(name: &'a str, updated_at: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("updated_at", updated_at),
        ("name", name),
        (
            "description",
            "The domain your mailboxes will use, for example example.com.",
        ),
        ("sort_order", "1"),
        ("kind", "SimpleValue"),
        ("data_type", "Text"),
        ("value_format", "domain"),
        ("predefined_values", ""),
        ("required", "on"),
        ("available_to_storefront", "on"),
        ("identifies_customer", "on"),
    ]
}

async fn sync_options_list_shows_the_bss_json(backend: Backend) {
    let app = spawn_app(backend).await;
    let reader = console_login(&app, Role::MailAdmin).await;
    let page = reader.get("/console/sync-options").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(page.html.contains("data-option-id=\"domain\""));
    assert!(page.html.contains("data-option-id=\"username\""));
    let shown = between(
        &page.html,
        "<pre id=\"bss-json\" class=\"bss-json\">",
        "</pre>",
    )
    .expect("the BSS JSON");
    let shown: Value = serde_json::from_str(&shown).expect("the shown JSON parses");
    let answer = app.get("Accounts/SyncOptions").await;
    assert_eq!(shown, answer.body, "exactly what the contract answers");
    assert!(
        !page.html.contains("/console/sync-options/domain"),
        "a Mail Admin gets no edit links"
    );

    let admin = console_login(&app, Role::Admin).await;
    let page = admin.get("/console/sync-options").await;
    assert!(page.html.contains("href=\"/console/sync-options/domain\""));
    assert!(page.html.contains("id=\"new-option\""));
}

async fn an_admin_edit_shows_in_the_contract_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    // The contract's catalog is cached: load it first.
    let before = contract_option(&app, "domain").await.expect("domain");
    assert_eq!(before["Name"], "Mail domain");
    let admin = console_login(&app, Role::Admin).await;
    let form = admin.get("/console/sync-options/domain").await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.html);
    assert_eq!(input_value(&form.html, "name"), "Mail domain");
    let version = input_value(&form.html, "updated_at");
    let saved = admin
        .post_form(
            "/console/sync-options/domain",
            &domain_form("Company domain", &version),
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.html);
    assert_eq!(
        saved.location.as_deref(),
        Some("/console/sync-options?notice=saved&option=domain")
    );
    let after = contract_option(&app, "domain").await.expect("domain");
    assert_eq!(after["Name"], "Company domain");
    assert_eq!(after["AvailableToStorefront"], true);
    assert_eq!(after["IsRequired"], true);
    let list = admin.get(saved.location.as_deref().unwrap()).await;
    assert!(list.html.contains("class=\"notice\""));
    assert!(list.html.contains("Company domain"));
    // Still identifying: a customer's domain is still taken (by another
    // account whose emails and username are its own, so only the domain
    // can be in the way).
    app.synchronize(&account("1", "edited.example")).await;
    let mut second = account("2", "edited.example");
    second["Email"] = json!("owner@elsewhere.example");
    second["ContactDetails"]["Email"] = json!("pat@elsewhere.example");
    second["SyncOptions"]["username"] = json!("second-owner");
    let again = app.post("Accounts/Synchronize", &second).await;
    assert_eq!(
        (again.code(), again.message()),
        (
            -80021,
            "The domain edited.example is already registered with another account. If it is yours, please contact our support team."
        ),
        "{:?}",
        again.body
    );

    // A new list option: refused without values, with a bad or taken id.
    let new = admin.get("/console/sync-options/new").await;
    assert_eq!(new.status, StatusCode::OK);
    let fields = |id: &'static str, values: &'static str| {
        vec![
            ("id", id),
            ("name", "Company size"),
            ("description", ""),
            ("sort_order", "5"),
            ("kind", "List"),
            ("data_type", "Text"),
            ("value_format", "text"),
            ("predefined_values", values),
            ("available_to_storefront", "on"),
        ]
    };
    let refused = admin
        .post_form("/console/sync-options/new", &fields("size", ""))
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.html.contains("id=\"predefined_values-error\""));
    let refused = admin
        .post_form("/console/sync-options/new", &fields("Size!", "s=Small"))
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.html.contains("id=\"id-error\""));
    let refused = admin
        .post_form("/console/sync-options/new", &fields("domain", "s=Small"))
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.html.contains("There is an option domain already"));
    let created = admin
        .post_form(
            "/console/sync-options/new",
            &fields("size", "s=Small\nm = Medium\nl"),
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.html);
    let size = contract_option(&app, "size").await.expect("the new option");
    assert_eq!(size["Kind"], "List");
    assert_eq!(size["SortOrder"], 5);
    let values: Vec<(String, String)> = size["PredefinedValues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["ID"].as_str().unwrap().to_owned(),
                v["Name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        values,
        vec![
            ("s".to_owned(), "Small".to_owned()),
            ("m".to_owned(), "Medium".to_owned()),
            ("l".to_owned(), "l".to_owned())
        ]
    );
}

async fn an_empty_name_is_refused_next_to_the_field(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = console_login(&app, Role::Admin).await;
    let form = admin.get("/console/sync-options/domain").await;
    let version = input_value(&form.html, "updated_at");
    let mut fields = domain_form("   ", &version);
    fields.retain(|(k, _)| *k != "description");
    fields.push(("description", "Typed <and> kept"));
    let refused = admin
        .post_form("/console/sync-options/domain", &fields)
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused
        .html
        .contains("<p class=\"field-error\" id=\"name-error\">"));
    assert!(
        refused.html.contains("Typed &lt;and&gt; kept"),
        "what was typed stays, escaped"
    );
    assert_eq!(
        input_value(&refused.html, "updated_at"),
        version,
        "still the version the edit began from"
    );
    let domain = contract_option(&app, "domain").await.unwrap();
    assert_eq!(domain["Name"], "Mail domain", "nothing saved");
}

async fn a_stale_edit_gets_409_and_does_not_overwrite(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = console_login(&app, Role::Admin).await;
    let second = console_login(&app, Role::SuperAdmin).await;
    let stale = input_value(
        &first.get("/console/sync-options/domain").await.html,
        "updated_at",
    );
    let saved = second
        .post_form(
            "/console/sync-options/domain",
            &domain_form("Their domain", &stale),
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.html);
    let refused = first
        .post_form(
            "/console/sync-options/domain",
            &domain_form("My domain", &stale),
        )
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.html);
    assert!(refused
        .html
        .contains("Someone changed this option meanwhile; here is their version"));
    assert_eq!(input_value(&refused.html, "name"), "Their domain");
    assert!(
        refused.html.contains("My domain"),
        "the refused edit is shown"
    );
    let fresh = input_value(&refused.html, "updated_at");
    assert_ne!(fresh, stale);
    let domain = contract_option(&app, "domain").await.unwrap();
    assert_eq!(domain["Name"], "Their domain");
    // Saved again from their version, it goes through.
    let saved = first
        .post_form(
            "/console/sync-options/domain",
            &domain_form("My domain", &fresh),
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.html);
    let domain = contract_option(&app, "domain").await.unwrap();
    assert_eq!(domain["Name"], "My domain");
}

async fn a_mail_admin_cannot_change_settings(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = console_login(&app, Role::Admin).await;
    let version = input_value(
        &admin.get("/console/sync-options/domain").await.html,
        "updated_at",
    );
    let mail_admin = console_login(&app, Role::MailAdmin).await;
    let page = mail_admin.get("/console/sync-options/domain").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let page = mail_admin.get("/console/sync-options/new").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let refused = mail_admin
        .post_form(
            "/console/sync-options/domain",
            &domain_form("Hijacked", &version),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.html.contains("Not allowed"));
    let refused = mail_admin
        .post_form("/console/keys", &[("name", "sneaky")])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let domain = contract_option(&app, "domain").await.unwrap();
    assert_eq!(domain["Name"], "Mail domain");
    let count = app
        .with_store(mailroom::store::applications::list)
        .await
        .len();
    assert_eq!(count, 1, "no application was created");
    // The form of an admin without the token is refused too.
    let refused = admin
        .post_form_raw(
            "/console/sync-options/domain",
            &domain_form("No token", &version),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let domain = contract_option(&app, "domain").await.unwrap();
    assert_eq!(domain["Name"], "Mail domain");
}

async fn application_keys_are_shown_once_and_revoked_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = console_login(&app, Role::Admin).await;
    assert_eq!(
        admin.get("/console/keys").await.status,
        StatusCode::FORBIDDEN
    );
    let owner = console_login(&app, Role::SuperAdmin).await;
    let list = owner.get("/console/keys").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list
        .html
        .contains(&format!("data-app-id=\"{}\"", app.app_id)));

    let refused = owner.post_form("/console/keys", &[("name", "  ")]).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.html.contains("id=\"name-error\""));
    let refused = owner
        .post_form("/console/keys", &[("name", "default")])
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.html.contains("id=\"name-error\""));
    assert!(refused.html.contains("value=\"default\""), "the name stays");

    let created = owner
        .post_form("/console/keys", &[("name", "Distributor B")])
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.html);
    let key = between(
        &created.html,
        "<code id=\"new-key\" class=\"secret\">",
        "</code>",
    )
    .expect("the key is shown");
    let app_id = between(
        &created.html,
        "<code id=\"new-app-id\" class=\"secret\">",
        "</code>",
    )
    .expect("the application id is shown");
    assert!(created.html.contains("data-copy=\"#new-key\""));
    assert!(created.html.contains("will not be shown again"));
    let credentials = Credentials {
        app_id: app_id.clone(),
        key: key.clone(),
    };
    let answer = app
        .post_as(
            &credentials,
            "Accounts/Exists",
            &account("9", "keys.example"),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);

    let list = owner.get("/console/keys").await;
    assert!(list.html.contains(&app_id));
    assert!(list.html.contains("Distributor B"));
    let escaped_key = key.replace('=', "&#x3D;");
    assert!(
        !list.html.contains(&key) && !list.html.contains(&escaped_key),
        "the key is never listed"
    );

    let revoke = format!("/console/keys/{app_id}/revoke");
    assert_eq!(
        admin.post_form(&revoke, &[]).await.status,
        StatusCode::FORBIDDEN
    );
    let answer = app
        .post_as(
            &credentials,
            "Accounts/Exists",
            &account("9", "keys.example"),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "an Admin cannot revoke");
    let revoked = owner.post_form(&revoke, &[]).await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER, "{}", revoked.html);
    let answer = app
        .post_as(
            &credentials,
            "Accounts/Exists",
            &account("9", "keys.example"),
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "refused at once");
    let list = owner.get(revoked.location.as_deref().unwrap()).await;
    assert!(list.html.contains("is revoked"));
    assert!(list.html.contains("status revoked"));
    // The first application still works.
    let answer = app
        .post("Accounts/Exists", &account("9", "keys.example"))
        .await;
    assert_eq!(answer.status, StatusCode::OK);
}

async fn failed_mail_shows_and_retry_queues_it(backend: Backend) {
    // No worker: the test plays the worker with the store functions.
    let app = spawn_app_with(backend, |settings| settings.mail.deliver = false).await;
    let mail = app
        .with_store(|conn| {
            let row = mailroom::store::outbox::queue_test(
                conn,
                mailroom::notify::template::ACCESS_INSTRUCTIONS,
                "nobody@rejects.example",
            )?;
            let lease = chrono::Utc::now().naive_utc() + chrono::Duration::minutes(5);
            mailroom::store::outbox::claim_due(conn, "test-worker", lease, 10)?;
            mailroom::store::outbox::record_failure(
                conn,
                row.id,
                "test-worker",
                "550 5.1.1 mailbox unavailable",
                None,
            )?;
            Ok(row.id)
        })
        .await;
    let row_marker = format!("data-outbox-id=\"{mail}\"");

    let reader = console_login(&app, Role::MailAdmin).await;
    let page = reader.get("/console/outbox").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(page.html.contains("id=\"outbox\""));
    assert!(page.html.contains(&row_marker));
    assert!(page.html.contains("550 5.1.1 mailbox unavailable"));
    assert!(page.html.contains("status failed"));
    assert!(
        !page.html.contains("data-test=\"retry\""),
        "no Retry for a Mail Admin"
    );
    let retry = format!("/console/outbox/{mail}/retry");
    assert_eq!(
        reader.post_form(&retry, &[]).await.status,
        StatusCode::FORBIDDEN
    );
    let sent_only = reader.get("/console/outbox?status=sent").await;
    assert!(!sent_only.html.contains(&row_marker));
    let failed_only = reader.get("/console/outbox?status=failed").await;
    assert!(failed_only.html.contains(&row_marker));

    let admin = console_login(&app, Role::Admin).await;
    let page = admin.get("/console/outbox?status=failed").await;
    assert!(page.html.contains("data-test=\"retry\""));
    // Without the CSRF token nothing happens.
    let refused = admin.post_form_raw(&retry, &[("status", "failed")]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let status_of = |rows: Vec<mailroom::store::outbox::OutboxRow>| {
        rows.into_iter()
            .find(|row| row.id == mail)
            .expect("the mail")
            .status
    };
    assert_eq!(status_of(app.outbox_rows().await), OutboxStatus::Failed);

    let retried = admin.post_form(&retry, &[("status", "failed")]).await;
    assert_eq!(retried.status, StatusCode::SEE_OTHER, "{}", retried.html);
    let location = retried.location.expect("back to the list");
    assert_eq!(
        location,
        format!("/console/outbox?status=failed&notice=retried&mail={mail}")
    );
    assert_eq!(status_of(app.outbox_rows().await), OutboxStatus::Queued);
    let page = admin.get(&location).await;
    assert!(page.html.contains(&format!("Mail {mail} is queued again.")));
    let queued = admin.get("/console/outbox?status=queued").await;
    assert!(queued.html.contains(&row_marker));
    // Retrying queued mail is refused with a message.
    let again = admin.post_form(&retry, &[]).await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);
    let page = admin.get(again.location.as_deref().unwrap()).await;
    assert!(page
        .html
        .contains("only failed or cancelled mail can be retried"));
    assert_eq!(
        admin
            .post_form("/console/outbox/999999/retry", &[])
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

both_backends!(
    sync_options_list_shows_the_bss_json,
    an_admin_edit_shows_in_the_contract_at_once,
    an_empty_name_is_refused_next_to_the_field,
    a_stale_edit_gets_409_and_does_not_overwrite,
    a_mail_admin_cannot_change_settings,
    application_keys_are_shown_once_and_revoked_at_once,
    failed_mail_shows_and_retry_queues_it,
);
