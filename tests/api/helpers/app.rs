//! A real Mailroom server on a free port for one test: starting it (and
//! further instances over the same database), its settings, and access to
//! its store and outbox.

use std::sync::OnceLock;

use actix_web::dev::ServerHandle;
use mailroom::config::Settings;
use mailroom::startup::Application;
use mailroom::store::Store;
use reqwest::StatusCode;

use super::database::{Backend, TestDatabase};

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

/// An application's id and key.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub app_id: String,
    pub key: String,
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
    start_app(database, None, customize, mailroom::clock::system()).await
}

/// Starts an app whose durations (sign-in lockouts, rate limits) follow
/// `clock`, which the test moves on instead of waiting.
pub async fn spawn_app_with_clock(
    backend: Backend,
    clock: mailroom::clock::SharedClock,
) -> TestApp {
    let database = std::sync::Arc::new(TestDatabase::create(backend));
    start_app(database, None, |_| {}, clock).await
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
        mailroom::clock::system(),
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
    clock: mailroom::clock::SharedClock,
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
    settings.integrations.secret_key_file = database.integrations_key_file();
    customize(&mut settings);
    let settings = settings.validated().expect("valid test settings");
    let database_url = settings.database_url.clone();
    let application = Application::build_with_clock(settings, clock)
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

impl TestApp {
    /// The database's URL (SQLite or PostgreSQL).
    pub fn database_url(&self) -> &str {
        &self.database_url
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

impl Drop for TestApp {
    fn drop(&mut self) {
        // Stop accepting work; the database is dropped after this.
        let handle = self.handle.clone();
        drop(handle.stop(false));
    }
}
