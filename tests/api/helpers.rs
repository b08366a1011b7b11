//! The test harness: a real Mailroom server on a free port, over a fresh
//! SQLite file or a fresh PostgreSQL database, called over real HTTP.

use std::sync::OnceLock;

use actix_web::dev::ServerHandle;
use diesel::{Connection, PgConnection, RunQueryDsl};
use mailroom::config::Settings;
use mailroom::startup::Application;
use mailroom::store::Store;
use reqwest::StatusCode;
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server tests create their databases on.
pub fn postgres_admin_url() -> String {
    std::env::var("MAILROOM_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// Whether PostgreSQL tests can run. Without a server they are skipped
/// with a note, except in CI (`CI` set) where that is a failure.
pub fn backend_available(backend: Backend) -> bool {
    static POSTGRES: OnceLock<bool> = OnceLock::new();
    if backend == Backend::Sqlite {
        return true;
    }
    *POSTGRES.get_or_init(|| match PgConnection::establish(&postgres_admin_url()) {
        Ok(_) => true,
        Err(error) if std::env::var_os("CI").is_some() => {
            panic!(
                "PostgreSQL at {} is required in CI: {error}",
                postgres_admin_url()
            )
        }
        Err(error) => {
            eprintln!(
                "note: PostgreSQL tests skipped, no server at {}: {error}",
                postgres_admin_url()
            );
            false
        }
    })
}

/// Runs each listed `async fn name(backend: Backend)` once per backend.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if $crate::helpers::backend_available($crate::helpers::Backend::Postgres) {
                        super::$name($crate::helpers::Backend::Postgres).await;
                    }
                }
            )+
        }
    };
}

/// A database that lives as long as the test.
pub enum TestDatabase {
    Sqlite(tempfile::TempDir),
    Postgres { name: String, url: String },
}

impl TestDatabase {
    pub fn create(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => Self::Sqlite(tempfile::tempdir().expect("a temporary folder")),
            Backend::Postgres => {
                let name = format!("mailroom_test_{}", uuid::Uuid::new_v4().simple());
                let admin = postgres_admin_url();
                let mut conn = PgConnection::establish(&admin).expect("connect to PostgreSQL");
                diesel::sql_query(format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .expect("create the test database");
                let base = admin.split('?').next().unwrap_or(&admin);
                let server = base.rsplit_once('/').map_or(base, |(server, _)| server);
                Self::Postgres {
                    url: format!("{server}/{name}"),
                    name,
                }
            }
        }
    }

    pub fn url(&self) -> String {
        match self {
            Self::Sqlite(dir) => format!("sqlite://{}/mailroom.db", dir.path().display()),
            Self::Postgres { url, .. } => url.clone(),
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Self::Postgres { name, .. } = self {
            if let Ok(mut conn) = PgConnection::establish(&postgres_admin_url()) {
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn);
            }
        }
    }
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub app_id: String,
    pub api_key: String,
    pub store: Store,
    database_url: String,
    /// Where mail goes as .eml files when no SMTP server is configured.
    pub mail_dir: std::sync::Arc<tempfile::TempDir>,
    handle: ServerHandle,
    // Dropped last: the server stops before its database goes.
    database: std::sync::Arc<TestDatabase>,
}

/// A response: status and JSON body (`Null` when the body is not JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
}

impl Answer {
    pub fn code(&self) -> i64 {
        let code = self.body["Code"]
            .as_i64()
            .unwrap_or_else(|| panic!("no Code in {:?}", self.body));
        assert_eq!(
            self.body["ErrorCode"].as_i64(),
            Some(code),
            "ErrorCode mirrors Code"
        );
        assert_eq!(
            self.body["ErrorMessage"], self.body["Message"],
            "ErrorMessage mirrors Message"
        );
        code
    }

    pub fn message(&self) -> &str {
        self.body["Message"].as_str().unwrap_or_default()
    }

    pub fn result(&self) -> &str {
        self.body["Result"].as_str().unwrap_or_default()
    }
}

fn init_test_logging() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            mailroom::telemetry::init(mailroom::config::LogFormat::Pretty);
        }
    });
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// Starts an app whose settings `customize` may change. Mail goes to a
/// folder of the test's own unless `customize` sets an SMTP server.
pub async fn spawn_app_with(backend: Backend, customize: impl FnOnce(&mut Settings)) -> TestApp {
    let database = std::sync::Arc::new(TestDatabase::create(backend));
    start_app(database, None, customize).await
}

/// Starts another instance over the database of `first` (as several
/// instances share one PostgreSQL), with the first one's credentials.
pub async fn spawn_instance_of(first: &TestApp, customize: impl FnOnce(&mut Settings)) -> TestApp {
    let credentials = Credentials {
        app_id: first.app_id.clone(),
        key: first.api_key.clone(),
    };
    start_app(
        std::sync::Arc::clone(&first.database),
        Some(credentials),
        customize,
    )
    .await
}

/// Settings that make mail delivery quick to observe in tests.
pub fn quick_mail(settings: &mut Settings) {
    settings.mail.poll_interval_ms = 100;
    settings.mail.retry_base_ms = 300;
    settings.mail.retry_max_ms = 1_000;
    settings.mail.send_timeout_ms = 2_000;
}

async fn start_app(
    database: std::sync::Arc<TestDatabase>,
    credentials: Option<Credentials>,
    customize: impl FnOnce(&mut Settings),
) -> TestApp {
    init_test_logging();
    let mail_dir = std::sync::Arc::new(tempfile::tempdir().expect("a mail folder"));
    let mut settings = Settings {
        listen: "127.0.0.1:0".parse().unwrap(),
        database_url: database.url(),
        workers: Some(2),
        pool_size: 8,
        ..Settings::default()
    };
    settings.mail.eml_dir = mail_dir.path().to_path_buf();
    quick_mail(&mut settings);
    customize(&mut settings);
    let settings = settings.validated().expect("valid test settings");
    let database_url = settings.database_url.clone();
    let application = Application::build(settings)
        .await
        .expect("the application starts");
    let credentials = match credentials {
        Some(given) => given,
        None => {
            let initial = application
                .initial_credentials()
                .cloned()
                .expect("a new database gets a first application");
            Credentials {
                app_id: initial.app_id,
                key: initial.key,
            }
        }
    };
    let address = format!("http://127.0.0.1:{}", application.port());
    let store = application.store().clone();
    let handle = application.handle();
    tokio::spawn(application.run_until_stopped());
    TestApp {
        address,
        client: reqwest::Client::new(),
        app_id: credentials.app_id,
        api_key: credentials.key,
        store,
        database_url,
        mail_dir,
        handle,
        database,
    }
}

impl TestApp {
    /// Stops the server and waits until it has stopped (its outbox worker
    /// included), as a process that exits.
    pub async fn stop(&self) {
        self.handle.stop(true).await;
    }
}

/// An application's id and key.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub app_id: String,
    pub key: String,
}

impl TestApp {
    /// Registers another BSS application (tenant) and returns its credentials.
    pub async fn second_application(&self, name: &str) -> Credentials {
        let issued = mailroom::domain::app_key::IssuedKey::generate();
        let key = issued.key.clone();
        let name = name.to_owned();
        let row = self
            .store
            .run(move |conn| {
                mailroom::store::applications::create(conn, &name, &issued)
                    .map_err(|e| mailroom::store::StoreError::corrupt_because("a test query", e))
            })
            .await
            .expect("create an application");
        Credentials {
            app_id: row.app_id,
            key,
        }
    }

    /// POSTs to a contract action with the given credentials.
    pub async fn post_as(&self, credentials: &Credentials, action: &str, body: &Value) -> Answer {
        Self::send(
            self.client
                .post(self.url(&format!("/api/{action}")))
                .header("X-CloudPlatform-ApplicationId", &credentials.app_id)
                .header("X-CloudPlatform-APIKey", &credentials.key)
                .json(body),
        )
        .await
    }

    /// The SQLite file, on that backend.
    pub fn database_path(&self) -> Option<String> {
        self.database_url
            .strip_prefix("sqlite://")
            .map(str::to_owned)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// A request with this app's credentials.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .header("X-CloudPlatform-ApplicationId", &self.app_id)
            .header("X-CloudPlatform-APIKey", &self.api_key)
    }

    /// A request with this app's credentials and a fresh TrackId.
    pub fn tracked(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.request(method, path).header(
            "X-CloudPlatform-TrackId",
            format!("test-{}", uuid::Uuid::new_v4()),
        )
    }

    pub async fn send(builder: reqwest::RequestBuilder) -> Answer {
        let response = builder.send().await.expect("the server answers");
        let status = response.status();
        let text = response.text().await.expect("a body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer { status, body }
    }

    /// POSTs JSON to a contract action such as `Accounts/Synchronize`.
    pub async fn post(&self, action: &str, body: &Value) -> Answer {
        Self::send(
            self.tracked(reqwest::Method::POST, &format!("/api/{action}"))
                .json(body),
        )
        .await
    }

    pub async fn get(&self, action: &str) -> Answer {
        Self::send(self.tracked(reqwest::Method::GET, &format!("/api/{action}"))).await
    }

    /// Synchronize that must succeed; returns the answer.
    pub async fn synchronize(&self, account: &Value) -> Answer {
        let answer = self.post("Accounts/Synchronize", account).await;
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
        assert_eq!(answer.code(), 0, "{:?}", answer.body);
        answer
    }

    pub async fn assert_serving(&self) {
        let response = self
            .client
            .get(self.url("/healthz"))
            .send()
            .await
            .expect("healthz answers");
        assert_eq!(response.status(), StatusCode::OK);
    }

    /// Runs a store function, as the service itself would.
    pub async fn with_store<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut mailroom::store::DbConnection) -> Result<T, mailroom::store::StoreError>
            + Send
            + 'static,
    ) -> T {
        self.store.run(work).await.expect("store call")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Stop accepting work; the database is dropped after this.
        let handle = self.handle.clone();
        drop(handle.stop(false));
    }
}

/// A typical account of the BSS: `id` is the BSS account id.
pub fn account(id: &str, domain: &str) -> Value {
    json!({
        "ID": id,
        "ExternalID": "",
        "ResellerID": "",
        "ResellerExternalID": "",
        "Name": format!("Customer {id}"),
        "Code": format!("C-{id}"),
        "Email": format!("admin@{domain}"),
        "SyncOptions": {"domain": domain},
        "ContactDetails": {"ID": format!("c{id}"), "FirstName": "Pat", "LastName": "Jones", "Email": format!("pat@{domain}")},
        "ExtraDetails": {}
    })
}

/// The password test operators get.
pub const OPERATOR_PASSWORD: &str = "Operator pass 1";

impl TestApp {
    /// Creates an operator directly in the store (as `mailroom operators
    /// create` does) and signs it in over HTTP; returns its bearer token.
    pub async fn sign_in_as(&self, role: mailroom::domain::operator::Role) -> String {
        let email = self.create_operator(role).await;
        let answer = Self::send(
            self.client
                .post(self.url("/operator/api/sessions"))
                .json(&json!({"email": email, "password": OPERATOR_PASSWORD})),
        )
        .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
        answer.body["token"].as_str().expect("a token").to_owned()
    }

    /// A call to the operator API with a bearer token.
    pub async fn operator_call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> Answer {
        let mut request = self
            .client
            .request(method, self.url(&format!("/operator/api{path}")))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        Self::send(request).await
    }

    /// Every outbox row, newest first, straight from the store.
    pub async fn outbox_rows(&self) -> Vec<mailroom::store::outbox::OutboxRow> {
        self.with_store(|conn| mailroom::store::outbox::list(conn, None, None, 1000))
            .await
            .into_iter()
            .map(|entry| entry.row)
            .collect()
    }

    /// Waits until the outbox satisfies `done`, up to `timeout`.
    pub async fn wait_for_outbox(
        &self,
        timeout: std::time::Duration,
        what: &str,
        done: impl Fn(&[mailroom::store::outbox::OutboxRow]) -> bool,
    ) -> Vec<mailroom::store::outbox::OutboxRow> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let rows = self.outbox_rows().await;
            if done(&rows) {
                return rows;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "outbox never reached: {what}; it holds {rows:#?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

impl TestApp {
    /// Creates an operator with [`OPERATOR_PASSWORD`]; returns its email.
    pub async fn create_operator(&self, role: mailroom::domain::operator::Role) -> String {
        let email = format!(
            "{}-{}@ops.example",
            role.as_str(),
            uuid::Uuid::new_v4().simple()
        );
        let hash = mailroom::domain::password::hash(OPERATOR_PASSWORD).expect("hash");
        let stored = email.clone();
        self.store
            .run(move |conn| {
                mailroom::store::operators::create(conn, &stored, &hash, role)
                    .map_err(|e| mailroom::store::StoreError::corrupt_because("a test query", e))
            })
            .await
            .expect("create an operator");
        email
    }
}

/// A browser-like client of the console: the session cookie, the CSRF
/// token, and no automatic redirects (tests look at them).
pub struct ConsoleClient<'a> {
    pub app: &'a TestApp,
    /// The session cookie's value.
    pub session: String,
    pub csrf: String,
    client: reqwest::Client,
}

/// What a console request answered: the status, the `Location` of a
/// redirect, and the body.
#[derive(Debug)]
pub struct Page {
    pub status: StatusCode,
    pub location: Option<String>,
    pub html: String,
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client")
}

async fn page(response: reqwest::Response) -> Page {
    let status = response.status();
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let html = response.text().await.expect("a body");
    Page {
        status,
        location,
        html,
    }
}

/// The value of `name=` in the Set-Cookie headers of a response.
pub fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap_or("").to_owned())
}

/// The value of the hidden `csrf` input of a page.
pub fn form_csrf(html: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).expect("a csrf field") + marker.len();
    html[start..].split('"').next().unwrap_or("").to_owned()
}

/// Signs a new operator of `role` in to the console, as a browser would.
pub async fn console_login(
    app: &TestApp,
    role: mailroom::domain::operator::Role,
) -> ConsoleClient<'_> {
    let email = app.create_operator(role).await;
    let client = no_redirects();
    let form = client
        .get(app.url("/console/login"))
        .send()
        .await
        .expect("login page");
    let login_csrf = set_cookie(&form, "mailroom_login_csrf").expect("a login csrf cookie");
    let html = form.text().await.unwrap();
    let field = form_csrf(&html);
    assert_eq!(field, login_csrf, "double-submit token");
    let response = client
        .post(app.url("/console/login"))
        .header("Cookie", format!("mailroom_login_csrf={login_csrf}"))
        .form(&[
            ("email", email.as_str()),
            ("password", OPERATOR_PASSWORD),
            ("csrf", field.as_str()),
            ("next", "/console/"),
        ])
        .send()
        .await
        .expect("sign in");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let session = set_cookie(&response, "mailroom_session").expect("a session cookie");
    ConsoleClient {
        app,
        csrf: mailroom::domain::token::csrf_token(&session),
        session,
        client,
    }
}

impl ConsoleClient<'_> {
    fn cookie(&self) -> String {
        format!("mailroom_session={}", self.session)
    }

    pub async fn get(&self, path: &str) -> Page {
        page(
            self.client
                .get(self.app.url(path))
                .header("Cookie", self.cookie())
                .send()
                .await
                .expect("the console answers"),
        )
        .await
    }

    /// POSTs a form with this session's CSRF token added.
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let mut all: Vec<(&str, &str)> = fields.to_vec();
        all.push(("csrf", &self.csrf));
        self.post_form_raw(path, &all).await
    }

    /// POSTs a form exactly as given (to test a missing or wrong token).
    pub async fn post_form_raw(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        page(
            self.client
                .post(self.app.url(path))
                .header("Cookie", self.cookie())
                .form(fields)
                .send()
                .await
                .expect("the console answers"),
        )
        .await
    }
}
