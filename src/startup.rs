//! Builds the service: database, migrations, background writer, HTTP server.
//! `main` and the tests start it the same way.

use std::net::TcpListener;

use actix_web::dev::{Server, ServerHandle, Service as _};
use actix_web::{web, App, HttpResponse, HttpServer};
use tokio::task::JoinHandle;
use tracing_actix_web::TracingLogger;
use utoipa_swagger_ui::SwaggerUi;

use crate::config::Settings;
use crate::http::auth::ApplicationKeys;
use crate::http::body::BodyLimit;
use crate::http::service_manager::{self, ContractState};
use crate::http::{health, lower_contract_path, openapi};
use crate::jobs::audit_writer;
use crate::store::applications;
use crate::store::connection::UnsupportedDatabaseUrl;
use crate::store::sync_options::CatalogCache;
use crate::store::{DbTarget, Store, StoreError};
use crate::telemetry::RequestSpan;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    DatabaseUrl(#[from] UnsupportedDatabaseUrl),
    #[error("cannot open the database")]
    Database(#[from] StoreError),
    #[error("cannot listen on the configured address")]
    Listen(#[from] std::io::Error),
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
    initial_credentials: Option<InitialCredentials>,
    store: Store,
}

/// Opens the pool and applies pending migrations.
pub async fn open_store(settings: &Settings) -> Result<Store, StartupError> {
    let target = DbTarget::parse(&settings.database_url)?;
    let options = settings.pool_options();
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
        let store = open_store(&settings).await?;
        let initial_credentials =
            store
                .run(applications::create_initial)
                .await?
                .map(|(row, issued)| InitialCredentials {
                    app_id: row.app_id,
                    key: issued.key,
                });

        let listener = TcpListener::bind(settings.listen)?;
        let port = listener.local_addr()?.port();
        let (audit_sink, audit_writer) = audit_writer::start(store.clone());

        let prefix = settings.route_prefix.clone();
        let contract = web::Data::new(ContractState {
            store: store.clone(),
            catalog: CatalogCache::new(store.clone(), settings.cache_ttl()),
            notification_mode: settings.notification_mode,
            route_prefix: prefix.clone(),
        });
        let keys = web::Data::new(ApplicationKeys::new(store.clone(), settings.cache_ttl()));
        let audit_sink = web::Data::new(audit_sink);
        let store_data = web::Data::new(store.clone());
        let body_limit = BodyLimit(settings.body_limit_bytes);
        let document = openapi::document(&prefix);

        let mut server = HttpServer::new(move || {
            let lower_prefix = prefix.clone();
            let contract_prefix = prefix.clone();
            App::new()
                .wrap_fn(move |mut req, service| {
                    lower_contract_path(&mut req, &lower_prefix);
                    service.call(req)
                })
                .wrap(TracingLogger::<RequestSpan>::new())
                .app_data(contract.clone())
                .app_data(keys.clone())
                .app_data(audit_sink.clone())
                .app_data(store_data.clone())
                .app_data(body_limit)
                .route("/healthz", web::get().to(health::live))
                .route("/readyz", web::get().to(health::ready))
                .route("/", web::get().to(landing))
                .service(
                    SwaggerUi::new("/swagger-ui/{_:.*}")
                        .url("/api-docs/openapi.json", document.clone()),
                )
                .configure(|cfg| service_manager::configure(cfg, &contract_prefix))
        })
        .listen(listener)?;
        if let Some(workers) = settings.workers {
            server = server.workers(workers.max(1));
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

    /// Serves until stopped, then lets the audit writer drain its queue.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await?;
        if let Err(error) = self.audit_writer.await {
            tracing::error!(%error, "the audit writer failed");
        }
        Ok(())
    }
}

async fn landing() -> HttpResponse {
    HttpResponse::Found()
        .insert_header(("Location", "/swagger-ui/"))
        .finish()
}
