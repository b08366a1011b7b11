//! The integration platform as Super Admins use it, against a fake
//! ConnectWise on loopback: settings saved with their secrets sealed and
//! shown masked, the key file, key rotation, who may reach integrations,
//! "Test configuration" (success, refusal, 429 then success), catalog
//! search across pages, and secrets absent from the logs.

use std::time::{Duration, Instant};

use mailroom::domain::operator::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::fake_connectwise::{self, FakeConnectWise, PRIVATE_KEY};
use crate::helpers::{console_login, spawn_app, spawn_app_with, Backend, TestApp};

both_backends!(
    settings_are_sealed_at_rest_and_shown_masked,
    only_super_admins_reach_integrations,
    test_configuration_shows_success_and_refusal,
    a_rate_limited_call_waits_for_retry_after,
    the_catalog_is_searched_page_by_page,
    a_rotated_key_opens_old_seals_and_reseal_moves_them,
);

/// Saves `settings` for ConnectWise as `token`; returns the answer.
pub async fn save_connectwise(
    app: &TestApp,
    token: &str,
    enabled: bool,
    settings: &Value,
) -> crate::helpers::Answer {
    app.operator_call(
        Method::PUT,
        "/integrations/connectwise",
        token,
        Some(&json!({"enabled": enabled, "settings": settings})),
    )
    .await
}

/// An app whose ConnectWise settings point at `fake`, and a Super Admin's
/// token.
pub async fn connected_app(backend: Backend, fake: &FakeConnectWise) -> (TestApp, String) {
    let app = spawn_app(backend).await;
    let token = app.sign_in_as(Role::SuperAdmin).await;
    let saved = save_connectwise(&app, &token, true, &fake.settings()).await;
    assert_eq!(saved.status, StatusCode::OK, "{:?}", saved.body);
    (app, token)
}

fn setting<'a>(card: &'a Value, key: &str) -> &'a Value {
    card["settings"]
        .as_array()
        .expect("settings")
        .iter()
        .find(|field| field["key"] == key)
        .unwrap_or_else(|| panic!("no setting {key} in {card}"))
}

async fn stored_row(app: &TestApp) -> (String, Option<String>, bool, bool) {
    use diesel::{QueryDsl, RunQueryDsl};
    use mailroom::store::schema::integrations;
    app.with_store(|conn| {
        Ok(integrations::table
            .find("connectwise")
            .select((
                integrations::settings,
                integrations::sealed_secrets,
                integrations::enabled,
                integrations::enabled_at.is_not_null(),
            ))
            .first(conn)?)
    })
    .await
}

use diesel::ExpressionMethods as _;

async fn settings_are_sealed_at_rest_and_shown_masked(backend: Backend) {
    let fake = FakeConnectWise::start().await;
    let (app, token) = connected_app(backend, &fake).await;

    let card = app
        .operator_call(Method::GET, "/integrations/connectwise", &token, None)
        .await;
    assert_eq!(card.status, StatusCode::OK, "{:?}", card.body);
    assert_eq!(card.body["enabled"], true);
    assert_eq!(setting(&card.body, "private_key")["value"], "••••3a");
    assert_eq!(setting(&card.body, "private_key")["set"], true);
    assert_eq!(
        setting(&card.body, "site_url")["value"],
        fake.site_url.as_str()
    );
    let listed = app
        .operator_call(Method::GET, "/integrations", &token, None)
        .await;
    assert_eq!(listed.body[0]["kind"], "connectwise");
    for answer in [&card.body, &listed.body] {
        assert!(!answer.to_string().contains(PRIVATE_KEY), "{answer}");
    }

    // At rest: sealed, not in clear anywhere in the row.
    let (plain, sealed, enabled, enabled_at) = stored_row(&app).await;
    let sealed = sealed.expect("sealed secrets");
    assert!(enabled && enabled_at);
    assert!(sealed.starts_with("v1."), "{sealed}");
    assert!(!sealed.contains(PRIVATE_KEY) && !plain.contains(PRIVATE_KEY));
    assert!(!plain.contains("private_key"), "{plain}");

    // The key file sits beside the SQLite database, readable by its owner
    // only.
    if let Some(database) = app.database_path() {
        let key_file = std::path::Path::new(&database).with_file_name("integrations.key");
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&key_file)
                .expect("the key file exists")
                .permissions(),
        );
        assert_eq!(mode & 0o777, 0o600, "{}", key_file.display());
    }

    // Saved again with the secret left blank or masked: kept.
    let mut settings = fake.settings();
    for kept in ["", "••••3a"] {
        settings["private_key"] = json!(kept);
        let saved = save_connectwise(&app, &token, true, &settings).await;
        assert_eq!(saved.status, StatusCode::OK, "{:?}", saved.body);
        let tested = app
            .operator_call(Method::POST, "/integrations/connectwise/test", &token, None)
            .await;
        assert_eq!(tested.body["ok"], true, "{:?}", tested.body);
    }

    // Each save is in the operator audit trail, naming the fields sent and
    // never their values.
    let audit = app
        .operator_call(
            Method::GET,
            "/audit?action=integration_settings_saved",
            &token,
            None,
        )
        .await;
    assert_eq!(audit.status, StatusCode::OK, "{:?}", audit.body);
    let trail = audit.body.to_string();
    assert!(trail.contains("private_key"), "{trail}");
    assert!(!trail.contains(PRIVATE_KEY), "{trail}");
    let saves = audit.body["entries"].as_array().map_or(0, Vec::len);
    assert!(saves >= 3, "{trail}");

    // Required fields are named.
    let refused = save_connectwise(&app, &token, true, &json!({"site_url": fake.site_url})).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    let message = refused.body["message"].as_str().unwrap();
    assert!(message.contains("Company ID is required."), "{message}");
    let insecure = save_connectwise(
        &app,
        &token,
        true,
        &json!({"site_url": "http://cw.example.com", "company_id": "a", "public_key": "b", "client_id": "c"}),
    )
    .await;
    assert_eq!(insecure.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(insecure.body["message"]
        .as_str()
        .unwrap()
        .contains("https://"));

    // Turned off: enabled_at stays as the record of when it was on.
    let off = save_connectwise(
        &app,
        &token,
        false,
        &json!({"site_url": fake.site_url, "company_id": fake_connectwise::COMPANY_ID,
        "public_key": fake_connectwise::PUBLIC_KEY, "client_id": fake_connectwise::CLIENT_ID}),
    )
    .await;
    assert_eq!(off.status, StatusCode::OK, "{:?}", off.body);
    assert_eq!(off.body["enabled"], false);

    // The console's page shows the card, masked.
    let console = console_login(&app, Role::SuperAdmin).await;
    let page = console.get("/console/integrations").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(page.html.contains("ConnectWise Manage"));
    assert!(page.html.contains("••••3a"), "{}", page.html);
    assert!(!page.html.contains(PRIVATE_KEY));

    // Saved from the console's form with the secret left empty: kept, and
    // turned on again.
    let settings = fake.settings();
    let mut form: Vec<(&str, String)> = settings
        .as_object()
        .unwrap()
        .iter()
        .map(|(key, value)| (key.as_str(), value.as_str().unwrap().to_owned()))
        .collect();
    form.retain(|(key, _)| *key != "private_key");
    form.push(("private_key", String::new()));
    form.push(("enabled", "on".to_owned()));
    let fields: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let saved = console
        .post_form("/console/integrations/connectwise", &fields)
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.html);
    let tested = console
        .post_form("/console/integrations/connectwise/test", &[])
        .await;
    assert!(
        tested.html.contains("Connected to ConnectWise Manage"),
        "{}",
        tested.html
    );
    let (_, _, enabled, _) = stored_row(&app).await;
    assert!(enabled);
    // A form missing a required field says which, on the page.
    let refused = console
        .post_form(
            "/console/integrations/connectwise",
            &[("site_url", fake.site_url.as_str())],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.html.contains("Company ID is required."));
}

async fn only_super_admins_reach_integrations(backend: Backend) {
    let app = spawn_app(backend).await;
    let calls: &[(Method, &str)] = &[
        (Method::GET, "/integrations"),
        (Method::GET, "/integrations/connectwise"),
        (Method::PUT, "/integrations/connectwise"),
        (Method::POST, "/integrations/connectwise/test"),
        (Method::GET, "/integrations/connectwise/catalog"),
        (Method::GET, "/integrations/connectwise/services"),
        (Method::PUT, "/integrations/connectwise/services/plan_x"),
        (Method::DELETE, "/integrations/connectwise/services/plan_x"),
        (Method::GET, "/integrations/connectwise/companies"),
        (
            Method::GET,
            "/integrations/connectwise/companies/1/agreements",
        ),
        (Method::GET, "/customers/c1/connectwise"),
        (Method::PUT, "/customers/c1/connectwise"),
        (Method::DELETE, "/customers/c1/connectwise"),
    ];
    let body = json!({"enabled": true, "settings": {}, "catalog_item_id": 1, "company_id": 1, "agreement_id": 1});
    for role in [Role::MailAdmin, Role::Admin] {
        let token = app.sign_in_as(role).await;
        for (method, path) in calls {
            let answer = app
                .operator_call(method.clone(), path, &token, Some(&body))
                .await;
            assert_eq!(
                answer.status,
                StatusCode::FORBIDDEN,
                "{role:?} {method} {path}: {:?}",
                answer.body
            );
        }
        let console = console_login(&app, role).await;
        for page in [
            "/console/integrations",
            "/console/integrations/connectwise/services",
            "/console/customers/c1/integrations",
        ] {
            let shown = console.get(page).await;
            assert_eq!(shown.status, StatusCode::FORBIDDEN, "{role:?} {page}");
        }
        let posted = console
            .post_form("/console/integrations/connectwise", &[("enabled", "on")])
            .await;
        assert_eq!(posted.status, StatusCode::FORBIDDEN, "{role:?}");
    }
}

async fn test_configuration_shows_success_and_refusal(backend: Backend) {
    let fake = FakeConnectWise::start().await;
    let (app, token) = connected_app(backend, &fake).await;

    let tested = app
        .operator_call(Method::POST, "/integrations/connectwise/test", &token, None)
        .await;
    assert_eq!(tested.status, StatusCode::OK);
    assert_eq!(tested.body["ok"], true, "{:?}", tested.body);
    assert_eq!(
        tested.body["message"],
        "Connected to ConnectWise Manage 2025.1.94651."
    );
    let call = fake.requests().pop().expect("the fake was called");
    assert_eq!(
        (call.method.as_str(), call.path.as_str()),
        ("GET", "system/info")
    );
    assert_eq!(call.header("clientid"), Some(fake_connectwise::CLIENT_ID));
    assert_eq!(
        call.header("accept"),
        Some("application/vnd.connectwise.com+json; version=2025.1")
    );
    assert!(call.header("x-request-id").is_some_and(|id| id.len() == 32));

    // Wrong keys: ConnectWise answers 401, and the page is told why.
    let mut wrong = fake.settings();
    wrong["private_key"] = json!("not-the-right-key");
    let saved = save_connectwise(&app, &token, true, &wrong).await;
    assert_eq!(saved.status, StatusCode::OK);
    let tested = app
        .operator_call(Method::POST, "/integrations/connectwise/test", &token, None)
        .await;
    assert_eq!(tested.status, StatusCode::OK);
    assert_eq!(tested.body["ok"], false);
    assert_eq!(
        tested.body["message"],
        "ConnectWise refused the call: 401 Authentication failed: the API keys or company id are not valid"
    );
    let console = console_login(&app, Role::SuperAdmin).await;
    let page = console
        .post_form("/console/integrations/connectwise/test", &[])
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.html
            .contains("Test failed: ConnectWise refused the call: 401 Authentication failed"),
        "{}",
        page.html
    );

    // A ConnectWise that cannot be reached is said to be so.
    let mut nowhere = fake.settings();
    nowhere["site_url"] = json!("http://127.0.0.1:9");
    save_connectwise(&app, &token, true, &nowhere).await;
    let tested = app
        .operator_call(Method::POST, "/integrations/connectwise/test", &token, None)
        .await;
    assert_eq!(tested.body["ok"], false);
    let message = tested.body["message"].as_str().unwrap();
    assert!(
        message.starts_with("ConnectWise is unavailable: no connection could be made"),
        "{message}"
    );
}

async fn a_rate_limited_call_waits_for_retry_after(backend: Backend) {
    let fake = FakeConnectWise::start().await;
    let (app, token) = connected_app(backend, &fake).await;
    fake.clear_requests();
    fake.rate_limit_next(1);

    let started = Instant::now();
    let tested = app
        .operator_call(Method::POST, "/integrations/connectwise/test", &token, None)
        .await;
    assert_eq!(tested.body["ok"], true, "{:?}", tested.body);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 was honoured"
    );
    let calls = fake.requests();
    assert_eq!(calls.len(), 2, "{calls:#?}");
    assert!(calls.iter().all(|call| call.path == "system/info"));
    assert_ne!(
        calls[0].header("x-request-id"),
        calls[1].header("x-request-id"),
        "each attempt has its own request id"
    );
}

async fn the_catalog_is_searched_page_by_page(backend: Backend) {
    let fake = FakeConnectWise::start().await;
    for n in 1..=30 {
        fake.add_catalog_item(&format!("MR-{n:02}"), &format!("Mailroom mailbox {n}"));
    }
    fake.add_catalog_item("HW-1", "A laptop");
    fake.add_inactive_catalog_item("MR-OLD", "Mailroom retired");
    let (app, token) = connected_app(backend, &fake).await;

    let first = app
        .operator_call(
            Method::GET,
            "/integrations/connectwise/catalog?search=mailroom",
            &token,
            None,
        )
        .await;
    assert_eq!(first.status, StatusCode::OK, "{:?}", first.body);
    assert_eq!(first.body["items"].as_array().unwrap().len(), 25);
    assert_eq!(first.body["has_next"], true);
    assert_eq!(first.body["items"][0]["identifier"], "MR-01");
    let second = app
        .operator_call(
            Method::GET,
            "/integrations/connectwise/catalog?search=mailroom&page=2",
            &token,
            None,
        )
        .await;
    let items = second.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 5);
    assert_eq!(second.body["has_next"], false);
    assert!(items.iter().all(|item| item["identifier"] != "MR-OLD"));
    let sent = fake.requests().pop().unwrap();
    assert_eq!(
        sent.query_param("conditions").as_deref(),
        Some(
            r#"inactiveFlag=false and (identifier contains "mailroom" or description contains "mailroom")"#
        )
    );
    assert_eq!(sent.query_param("page").as_deref(), Some("2"));

    // Quotes in a search stay inside the condition's string.
    let quoted = app
        .operator_call(
            Method::GET,
            "/integrations/connectwise/catalog?search=%22%20or%201%3D1",
            &token,
            None,
        )
        .await;
    assert_eq!(quoted.status, StatusCode::OK, "{:?}", quoted.body);
    assert_eq!(quoted.body["items"].as_array().unwrap().len(), 0);

    // A ConnectWise failure is a 502 naming it.
    fake.fail_next(
        500,
        fake_connectwise::error_body("ServerError", "database offline"),
    );
    fake.fail_next(
        500,
        fake_connectwise::error_body("ServerError", "database offline"),
    );
    fake.fail_next(
        500,
        fake_connectwise::error_body("ServerError", "database offline"),
    );
    fake.fail_next(
        500,
        fake_connectwise::error_body("ServerError", "database offline"),
    );
    let failed = app
        .operator_call(
            Method::GET,
            "/integrations/connectwise/catalog",
            &token,
            None,
        )
        .await;
    assert_eq!(failed.status, StatusCode::BAD_GATEWAY, "{:?}", failed.body);
    assert_eq!(
        failed.body["message"],
        "ConnectWise is unavailable: 500 database offline"
    );
}

const OLD_KEY: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
const NEW_KEY: &str = "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=";

fn with_key(
    current: &'static str,
    previous: &'static [&'static str],
) -> impl FnOnce(&mut mailroom::config::Settings) {
    move |settings| {
        settings.integrations.secret_key = Some(mailroom::config::SecretText(current.into()));
        settings.integrations.previous_secret_keys = previous
            .iter()
            .map(|key| mailroom::config::SecretText((*key).into()))
            .collect();
    }
}

async fn a_rotated_key_opens_old_seals_and_reseal_moves_them(backend: Backend) {
    let fake = FakeConnectWise::start().await;
    let first = spawn_app_with(backend, with_key(OLD_KEY, &[])).await;
    let token = first.sign_in_as(Role::SuperAdmin).await;
    save_connectwise(&first, &token, true, &fake.settings()).await;
    let (_, sealed_before, _, _) = stored_row(&first).await;
    first.stop().await;

    // Rotated: the old key still opens the seal.
    let rotated = crate::helpers::spawn_instance_of(&first, with_key(NEW_KEY, &[OLD_KEY])).await;
    let token = rotated.sign_in_as(Role::SuperAdmin).await;
    let tested = rotated
        .operator_call(Method::POST, "/integrations/connectwise/test", &token, None)
        .await;
    assert_eq!(tested.body["ok"], true, "{:?}", tested.body);

    // `mailroom integrations reseal` moves it to the new key.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_mailroom"))
        .args(["integrations", "reseal"])
        .env_remove("RUST_LOG")
        .env("MAILROOM_DATABASE_URL", rotated.database_url())
        .env("MAILROOM_INTEGRATIONS__SECRET_KEY", NEW_KEY)
        .env(
            "MAILROOM_INTEGRATIONS__PREVIOUS_SECRET_KEYS",
            format!("[\"{OLD_KEY}\"]"),
        )
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("Re-sealed the secrets of 1 integration(s)"),
        "{stdout}"
    );
    let (_, sealed_after, _, _) = stored_row(&rotated).await;
    assert_ne!(sealed_before, sealed_after);
    rotated.stop().await;

    // Without the old key now.
    let renewed = crate::helpers::spawn_instance_of(&first, with_key(NEW_KEY, &[])).await;
    let token = renewed.sign_in_as(Role::SuperAdmin).await;
    let tested = renewed
        .operator_call(Method::POST, "/integrations/connectwise/test", &token, None)
        .await;
    assert_eq!(tested.body["ok"], true, "{:?}", tested.body);
    // And an instance with only the old key cannot open it: a 500, not a
    // secret.
    let stale = crate::helpers::spawn_instance_of(&first, with_key(OLD_KEY, &[])).await;
    let token = stale.sign_in_as(Role::SuperAdmin).await;
    let card = stale
        .operator_call(Method::GET, "/integrations/connectwise", &token, None)
        .await;
    assert_eq!(card.status, StatusCode::INTERNAL_SERVER_ERROR);
}

/// Secrets never reach the log: a real `mailroom serve` with JSON logs is
/// configured, tested (a 429 and a refusal included) and stopped, and its
/// whole standard error is searched.
#[test]
fn secrets_never_reach_the_log() {
    use std::process::{Command, Stdio};
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let fake = runtime.block_on(FakeConnectWise::start());
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}/logs.db", dir.path().display());
    let binary = env!("CARGO_BIN_EXE_mailroom");
    let password = crate::helpers::OPERATOR_PASSWORD;
    let mut create = Command::new(binary)
        .args([
            "operators",
            "create",
            "--email",
            "ops@example.com",
            "--role",
            "super_admin",
        ])
        .env_remove("RUST_LOG")
        .env("MAILROOM_DATABASE_URL", &database)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        &mut create.stdin.take().unwrap(),
        format!("{password}\n").as_bytes(),
    )
    .unwrap();
    assert!(create.wait().unwrap().success());

    let log_path = dir.path().join("stderr.log");
    let mut served = Command::new(binary)
        .env("RUST_LOG", "debug")
        .env("MAILROOM_DATABASE_URL", &database)
        .env("MAILROOM_LISTEN", "127.0.0.1:0")
        .env("MAILROOM_LOG_FORMAT", "json")
        .env("MAILROOM_MAIL__EML_DIR", dir.path().join("mail"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let port = loop {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        let port = text.lines().find_map(|line| {
            let entry: Value = serde_json::from_str(line).ok()?;
            (entry["fields"]["message"] == "mailroom listening")
                .then(|| entry["fields"]["port"].as_u64())?
        });
        if let Some(port) = port {
            break port;
        }
        assert!(Instant::now() < deadline, "mailroom did not start: {text}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let base = format!("http://127.0.0.1:{port}/operator/api");
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let session: Value = client
            .post(format!("{base}/sessions"))
            .json(&json!({"email": "ops@example.com", "password": password}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = session["token"].as_str().unwrap();
        let saved = client
            .put(format!("{base}/integrations/connectwise"))
            .bearer_auth(token)
            .json(&json!({"enabled": true, "settings": fake.settings()}))
            .send()
            .await
            .unwrap();
        assert_eq!(saved.status(), 200);
        fake.rate_limit_next(1);
        fake.fail_next(
            401,
            fake_connectwise::error_body("Unauthorized", "bad keys"),
        );
        for _ in 0..2 {
            let tested = client
                .post(format!("{base}/integrations/connectwise/test"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            assert_eq!(tested.status(), 200);
        }
    });
    let _ = Command::new("kill")
        .args(["-TERM", &served.id().to_string()])
        .status();
    let _ = served.wait();
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        log.contains("\"outgoing call\""),
        "the calls are logged: {log}"
    );
    assert!(log.contains("\"status\":429"), "{log}");
    let basic = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!(
            "{}+{}:{PRIVATE_KEY}",
            fake_connectwise::COMPANY_ID,
            fake_connectwise::PUBLIC_KEY
        ),
    );
    for secret in [PRIVATE_KEY, basic.as_str()] {
        assert!(!log.contains(secret), "{secret} was logged");
    }
}
