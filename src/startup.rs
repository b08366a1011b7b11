//! Builds the service: database, migrations, background writer, HTTP server.
//! `main` and the tests start it the same way.

use std::net::TcpListener;

use actix_web::dev::{Server, ServerHandle, Service as _};
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use tokio::task::JoinHandle;
use tracing_actix_web::TracingLogger;
use utoipa_swagger_ui::SwaggerUi;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::clock::{self, SharedClock};
use crate::config::{Settings, SettingsError};
use crate::http::activation::{self, ActivationPages};
use crate::http::body_deadline::{self, BodyDeadline};
use crate::http::console;
use crate::http::operator::{self, OperatorState};
use crate::http::service_manager::auth::ApplicationKeys;
use crate::http::service_manager::body::BodyLimit;
use crate::http::service_manager::routing::lower_contract_path;
use crate::http::service_manager::{self, ContractState};
use crate::http::throttle::LoginThrottle;
use crate::http::{headers, health, metrics, openapi};
use crate::integrations::outbound::Outbound;
use crate::integrations::secrets::KeyRing;
use crate::integrations::settings::Integrations;
use crate::jobs::retention::{self, RetentionPolicy};
use crate::jobs::rollups;
use crate::jobs::{audit_writer, outbox_worker, scheduler};
use crate::notify::mailer::{Mailer, MailerError};
use crate::notify::outbox::Outbox;
use crate::notify::template::{default_access_instructions, ACCESS_INSTRUCTIONS};
use crate::notify::template::{default_mailbox_set_password, MAILBOX_SET_PASSWORD};
use crate::notify::{Notifier, NotifierSettings, ACTIVATION_PATH};
use crate::store::connection::UnsupportedDatabaseUrl;
use crate::store::sync_options::CatalogCache;
use crate::store::{applications, email_templates};
use crate::store::{DbTarget, PoolOptions, Store, StoreError};
use crate::telemetry::metrics::Metrics;
use crate::telemetry::RequestSpan;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    DatabaseUrl(#[from] UnsupportedDatabaseUrl),
    #[error("cannot open the database")]
    Database(#[from] StoreError),
    #[error("cannot listen on the configured address")]
    Listen(#[from] std::io::Error),
    #[error("the settings are not valid")]
    Settings(#[from] SettingsError),
    #[error("cannot set up mail delivery")]
    Mail(#[from] MailerError),
    #[error("cannot load the integrations key")]
    IntegrationsKey(#[from] crate::integrations::secrets::SecretsError),
}

/// The id and key of the application created on the very first start.
#[derive(Debug, Clone)]
pub struct InitialCredentials {
    pub app_id: String,
    pub key: String,
}

pub struct Application {
    port: u16,
    server: Server,
    audit_writer: JoinHandle<()>,
    retention_job: JoinHandle<()>,
    rollup_job: JoinHandle<()>,
    outbox_worker: Option<(watch::Sender<bool>, JoinHandle<()>)>,
    scheduler: Option<(watch::Sender<bool>, JoinHandle<()>)>,
    initial_credentials: Option<InitialCredentials>,
    store: Store,
}

/// The pool the settings ask for.
pub fn pool_options(settings: &Settings) -> PoolOptions {
    PoolOptions {
        max_size: settings.pool_size,
        checkout_timeout: settings.database_timeout(),
        sqlite_busy_timeout: settings.database_timeout(),
        statement_timeout: settings.database_statement_timeout(),
    }
}

/// Opens the pool and applies pending migrations.
pub async fn open_store(settings: &Settings) -> Result<Store, StartupError> {
    let target = DbTarget::parse(&settings.database_url)?;
    let options = pool_options(settings);
    // Opening the pool waits for a first connection: keep it off the runtime.
    let store = tokio::task::spawn_blocking(move || Store::connect(target, &options))
        .await
        .map_err(StoreError::TaskFailed)??;
    let applied = store.migrate().await?;
    if !applied.is_empty() {
        tracing::info!(
            backend = store.backend_name(),
            ?applied,
            "applied database migrations"
        );
    }
    Ok(store)
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        Self::build_with_clock(settings, clock::system()).await
    }

    /// [`Application::build`] with the clock durations are measured by
    /// (sign-in lockouts); tests pass a [`crate::clock::ManualClock`].
    pub async fn build_with_clock(
        settings: Settings,
        clock: SharedClock,
    ) -> Result<Self, StartupError> {
        let settings = settings.validated()?;
        let store = open_store(&settings).await?;
        let initial_credentials =
            store
                .run(applications::create_initial)
                .await?
                .map(|(row, issued)| InitialCredentials {
                    app_id: row.app_id,
                    key: issued.key,
                });

        store
            .run(|conn| {
                email_templates::seed(conn, ACCESS_INSTRUCTIONS, &default_access_instructions())?;
                email_templates::seed(conn, MAILBOX_SET_PASSWORD, &default_mailbox_set_password())?;
                email_templates::seed(
                    conn,
                    crate::domain::template::OPERATOR_SET_PASSWORD,
                    &crate::notify::template::default_operator_set_password(),
                )
            })
            .await?;

        let listener = TcpListener::bind(settings.listen)?;
        let port = listener.local_addr()?.port();
        let (audit_sink, audit_writer) = audit_writer::start(store.clone());
        let retention_job = retention::start(
            store.clone(),
            RetentionPolicy {
                keep_deleted_for: chrono::Duration::days(i64::from(
                    settings.retention.deleted_customer_days,
                )),
                interval: Duration::from_millis(settings.retention.interval_ms),
            },
        );
        let rollup_job = rollups::start(store.clone());

        let catalog = Arc::new(CatalogCache::new(store.clone(), settings.cache_ttl()));
        let notifier = Arc::new(Notifier::new(
            store.clone(),
            Arc::clone(&catalog),
            NotifierSettings {
                mode: settings.notification_mode,
                operator: settings.operator.clone(),
                public_url: settings.public_url_for(port),
                activation_ttl: chrono::Duration::seconds(settings.mail.activation_ttl_secs as i64),
            },
        ));
        let outbox = Outbox::new(store.clone());
        let outbox_worker = if settings.mail.deliver {
            let mailer = Mailer::from_settings(&settings.mail)?;
            let mail = &settings.mail;
            let send_timeout = Duration::from_millis(mail.send_timeout_ms);
            let (stop, stopped) = watch::channel(false);
            let handle = outbox_worker::start(
                store.clone(),
                Arc::clone(&notifier),
                mailer,
                outbox_worker::WorkerSettings {
                    from: mail.from.clone(),
                    poll_interval: Duration::from_millis(mail.poll_interval_ms),
                    retry_base: Duration::from_millis(mail.retry_base_ms),
                    retry_max: Duration::from_millis(mail.retry_max_ms),
                    max_attempts: mail.max_attempts,
                    lease: send_timeout * 4 + Duration::from_secs(60),
                },
                outbox.wake_signal(),
                stopped,
            );
            Some((stop, handle))
        } else {
            None
        };

        Outbound::install(&settings.integrations.http);
        let integrations = Integrations::new(
            store.clone(),
            KeyRing::from_settings(&settings)?,
            Outbound::shared(),
        );
        scheduler::register_jobs(&store, &settings.scheduler.timezone).await?;
        let scheduler = settings.scheduler.enabled.then(|| {
            let (stop, stopped) = watch::channel(false);
            let handle = scheduler::start(
                store.clone(),
                integration_settings(integrations.clone()),
                scheduler::Timing::from(&settings.scheduler),
                stopped,
            );
            (stop, handle)
        });

        let prefix = settings.route_prefix.clone();
        let contract_catalog = Arc::clone(&catalog);
        let contract = web::Data::new(ContractState {
            store: store.clone(),
            catalog,
            notification_mode: settings.notification_mode,
            route_prefix: prefix.clone(),
            outbox: outbox.clone(),
        });
        let operator_state = web::Data::new(OperatorState {
            store: store.clone(),
            notifier,
            outbox: outbox.clone(),
            session_ttl: chrono::Duration::seconds(settings.operator_session_secs as i64),
            throttle: LoginThrottle::new(clock.clone()),
            catalog: Arc::clone(&contract_catalog),
            secure_cookies: settings.public_url_for(port).starts_with("https://"),
            integrations,
            require_totp_for_super_admins: settings.require_totp_for_super_admins,
        });
        let activation_pages = web::Data::new(ActivationPages::new(
            store.clone(),
            outbox.clone(),
            settings.operator.clone(),
            clock.clone(),
        ));
        let keys = web::Data::new(ApplicationKeys::new(store.clone(), settings.cache_ttl()));
        let audit_sink = web::Data::new(audit_sink);
        let store_data = web::Data::new(store.clone());
        let metrics_data = web::Data::new(Metrics::new());
        let serve_metrics = settings.metrics_enabled;
        let body_limit = BodyLimit(settings.body_limit_bytes);
        let body_deadline = BodyDeadline(settings.client_request_timeout());
        let document = openapi::document(&prefix);

        let mut server = HttpServer::new(move || {
            let lower_prefix = prefix.clone();
            let contract_prefix = prefix.clone();
            App::new()
                .wrap_fn(move |mut req, service| {
                    lower_contract_path(&mut req, &lower_prefix);
                    service.call(req)
                })
                .wrap(from_fn(body_deadline::cut_slow_bodies))
                .wrap(from_fn(headers::swagger_headers))
                .wrap(TracingLogger::<RequestSpan>::new())
                .app_data(contract.clone())
                .app_data(keys.clone())
                .app_data(audit_sink.clone())
                .app_data(store_data.clone())
                .app_data(body_limit)
                .app_data(body_deadline)
                .app_data(operator_state.clone())
                .app_data(activation_pages.clone())
                .app_data(metrics_data.clone())
                .route("/healthz", web::get().to(health::live))
                .route("/readyz", web::get().to(health::ready))
                .configure(|cfg| {
                    if serve_metrics {
                        cfg.route("/metrics", web::get().to(metrics::scrape));
                    }
                })
                .service(
                    SwaggerUi::new("/swagger-ui/{_:.*}")
                        .url("/api-docs/openapi.json", document.clone()),
                )
                .route(
                    &format!("{ACTIVATION_PATH}{{token}}"),
                    web::get().to(activation::show),
                )
                .route(
                    &format!("{ACTIVATION_PATH}{{token}}"),
                    web::post().to(activation::submit),
                )
                .route(
                    &format!("{ACTIVATION_PATH}{{token}}/new-link"),
                    web::post().to(activation::new_link),
                )
                .route(
                    &activation::mailbox_password_route(),
                    web::get().to(activation::mailbox_show),
                )
                .route(
                    &activation::mailbox_password_route(),
                    web::post().to(activation::mailbox_submit),
                )
                .configure(operator::configure)
                .configure(console::configure)
                .configure(|cfg| service_manager::configure(cfg, &contract_prefix))
        })
        .client_request_timeout(settings.client_request_timeout())
        .listen(listener)?;
        if let Some(workers) = settings.workers {
            server = server.workers(workers);
        }
        tracing::info!(
            address = %settings.listen,
            port,
            backend = store.backend_name(),
            prefix = %settings.route_prefix,
            "mailroom listening"
        );
        Ok(Self {
            port,
            server: server.run(),
            audit_writer,
            retention_job,
            rollup_job,
            outbox_worker,
            scheduler,
            initial_credentials,
            store,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Set on the very first start, when the service created an application.
    pub fn initial_credentials(&self) -> Option<&InitialCredentials> {
        self.initial_credentials.as_ref()
    }

    /// Stops the server gracefully from elsewhere.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped, then lets the outbox worker finish the mail in
    /// hand and the audit writer drain its queue.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await?;
        // Erasing is one transaction per batch: stopping between two loses
        // nothing.
        self.retention_job.abort();
        // A fold is one transaction: stopping between two loses nothing.
        self.rollup_job.abort();
        if let Some((stop, handle)) = self.scheduler {
            let _ = stop.send(true);
            if let Err(error) = handle.await {
                tracing::error!(%error, "the scheduler failed");
            }
        }
        if let Some((stop, handle)) = self.outbox_worker {
            let _ = stop.send(true);
            if let Err(error) = handle.await {
                tracing::error!(%error, "the outbox worker failed");
            }
        }
        if let Err(error) = self.audit_writer.await {
            tracing::error!(%error, "the audit writer failed");
        }
        Ok(())
    }
}

/// The settings the scheduler's runs read: an integration's, secrets opened.
fn integration_settings(integrations: Integrations) -> scheduler::SettingsLoader {
    Arc::new(move |kind| {
        let integrations = integrations.clone();
        Box::pin(async move { Ok(integrations.load(kind).await?.values) })
    })
}
