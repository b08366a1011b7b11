//! Authentication of contract calls by application id and API key.
//!
//! Application rows are cached for a short time, so a call costs one
//! SHA-256 and no database round trip; a revocation made by another process
//! (the CLI, another instance) takes effect within the cache's lifetime.
//!
//! The cached row also carries the setup values the application's BSS last
//! sent (`X-CloudPlatform-Setting-*`): a call whose values differ is the
//! only one that writes them, so applying settings costs no query either.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use futures_util::future::LocalBoxFuture;

use super::error::ApiError;
use crate::domain::app_key::verify_key;
use crate::domain::catalog::setup_fields::{SetupValues, SETTING_HEADER_PREFIX};
use crate::domain::{Rejection, ResultCode};
use crate::store::applications;
use crate::store::Store;

pub const APPLICATION_ID_HEADER: &str = "X-CloudPlatform-ApplicationId";
pub const API_KEY_HEADER: &str = "X-CloudPlatform-APIKey";

/// Past this many cached ids (most of them unknown ones a scanner made up)
/// the cache starts over.
const MAX_CACHED: usize = 10_000;

/// The authenticated application (tenant) of a contract call.
#[derive(Debug, Clone)]
pub struct Caller {
    pub application_id: i64,
    pub name: Arc<str>,
}

#[derive(Clone)]
struct KnownApplication {
    id: i64,
    name: Arc<str>,
    key_hash: String,
    revoked: bool,
    /// What the BSS last sent, as stored (or as this process last wrote).
    settings: Option<SetupValues>,
}

struct CacheEntry {
    fetched_at: Instant,
    application: Option<Arc<KnownApplication>>,
}

/// Verifies application credentials, with a short-lived cache of the rows.
pub struct ApplicationKeys {
    store: Store,
    ttl: Duration,
    entries: RwLock<HashMap<String, CacheEntry>>,
}

/// Why a call was refused; logged, never told to the caller.
#[derive(Debug, Clone, Copy)]
enum Refusal {
    MissingHeaders,
    UnknownApplication,
    Revoked,
    WrongKey,
}

impl ApplicationKeys {
    pub fn new(store: Store, ttl: Duration) -> Self {
        Self {
            store,
            ttl,
            entries: RwLock::new(HashMap::new()),
        }
    }

    /// Drops the cached row of an application, after this process changed it.
    pub fn forget(&self, app_id: &str) {
        self.entries.write().expect("key cache lock").remove(app_id);
    }

    async fn lookup(&self, app_id: &str) -> Result<Option<Arc<KnownApplication>>, ApiError> {
        if let Some(entry) = self.entries.read().expect("key cache lock").get(app_id) {
            if entry.fetched_at.elapsed() < self.ttl {
                return Ok(entry.application.clone());
            }
        }
        let owned_id = app_id.to_owned();
        let row = self
            .store
            .run(move |conn| applications::find_by_app_id(conn, &owned_id))
            .await?;
        let application = row.map(|row| {
            Arc::new(KnownApplication {
                id: row.id,
                name: row.name.as_str().into(),
                revoked: row.is_revoked(),
                settings: row.settings(),
                key_hash: row.key_hash,
            })
        });
        let mut entries = self.entries.write().expect("key cache lock");
        if entries.len() >= MAX_CACHED {
            entries.clear();
        }
        entries.insert(
            app_id.to_owned(),
            CacheEntry {
                fetched_at: Instant::now(),
                application: application.clone(),
            },
        );
        Ok(application)
    }

    /// The caller named by the headers, if the key matches.
    pub async fn authenticate(
        &self,
        app_id: Option<&str>,
        key: Option<&str>,
    ) -> Result<Caller, ApiError> {
        self.verify(app_id, key).await.map(|(caller, _)| caller)
    }

    async fn verify(
        &self,
        app_id: Option<&str>,
        key: Option<&str>,
    ) -> Result<(Caller, Arc<KnownApplication>), ApiError> {
        let (Some(app_id), Some(key)) = (app_id, key) else {
            return Err(refuse(app_id, Refusal::MissingHeaders));
        };
        // Ids are UUIDs; their canonical text is the cache and database key.
        let Ok(canonical) = uuid::Uuid::parse_str(app_id.trim()) else {
            return Err(refuse(Some(app_id), Refusal::UnknownApplication));
        };
        let canonical = canonical.to_string();
        let Some(application) = self.lookup(&canonical).await? else {
            return Err(refuse(Some(app_id), Refusal::UnknownApplication));
        };
        if application.revoked {
            return Err(refuse(Some(app_id), Refusal::Revoked));
        }
        if !verify_key(key.trim(), &application.key_hash) {
            return Err(refuse(Some(app_id), Refusal::WrongKey));
        }
        let caller = Caller {
            application_id: application.id,
            name: Arc::clone(&application.name),
        };
        Ok((caller, application))
    }

    /// Records `sent` as the application's settings when they differ from
    /// the stored ones: one write per change, not per call. A failed write is
    /// logged and retried by a later call; it never fails this one.
    async fn observe_settings(&self, application: &KnownApplication, sent: &SetupValues) {
        if application.settings.as_ref() == Some(sent) {
            return;
        }
        let stored_ignored = application
            .settings
            .as_ref()
            .map(|s| s.ignored.as_slice())
            .unwrap_or_default();
        for problem in sent.ignored.iter().filter(|p| !stored_ignored.contains(p)) {
            tracing::warn!(
                application = %application.name,
                problem = %problem,
                "a setup value from the BSS is ignored; Mailroom's configuration applies"
            );
        }
        let id = application.id;
        let values = sent.clone();
        let saved = self
            .store
            .run(move |conn| applications::save_settings(conn, id, &values))
            .await;
        if let Err(error) = saved {
            tracing::warn!(
                application = %application.name,
                error = %crate::telemetry::error_chain(&error),
                "could not record the application's setup values"
            );
            return;
        }
        let mut entries = self.entries.write().expect("key cache lock");
        for entry in entries.values_mut() {
            if let Some(cached) = entry.application.as_mut().filter(|a| a.id == id) {
                let mut updated = KnownApplication::clone(cached);
                updated.settings = Some(sent.clone());
                *cached = Arc::new(updated);
            }
        }
    }
}

/// The setup values a call carries, `None` when it carries no
/// `X-CloudPlatform-Setting-*` header at all (then nothing is recorded).
fn sent_settings(req: &HttpRequest) -> Option<SetupValues> {
    let mut pairs = req
        .headers()
        .iter()
        .filter_map(|(name, value)| {
            let id = name.as_str().strip_prefix(SETTING_HEADER_PREFIX)?;
            Some((id, value.to_str().unwrap_or_default()))
        })
        .peekable();
    pairs.peek()?;
    Some(SetupValues::from_headers(pairs))
}

fn refuse(app_id: Option<&str>, reason: Refusal) -> ApiError {
    // The key is never logged; the id is not secret.
    tracing::warn!(
        application_id = app_id.unwrap_or("-"),
        ?reason,
        "contract call refused"
    );
    ApiError::Rejected(Rejection::new(
        ResultCode::Unauthorized,
        format!("Missing or invalid {APPLICATION_ID_HEADER} or {API_KEY_HEADER} header."),
    ))
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.trim().is_empty())
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let keys = req
                .app_data::<web::Data<ApplicationKeys>>()
                .expect("ApplicationKeys is registered as app data")
                .clone();
            let (caller, application) = keys
                .verify(
                    header(&req, APPLICATION_ID_HEADER),
                    header(&req, API_KEY_HEADER),
                )
                .await?;
            tracing::Span::current().record("tenant", &*caller.name);
            // This call's settings apply to it whatever was stored; with no
            // setting header at all, Mailroom's configuration does.
            let sent = sent_settings(&req);
            if let Some(sent) = &sent {
                keys.observe_settings(&application, sent).await;
            }
            let mut extensions = req.extensions_mut();
            extensions.insert(caller.clone());
            extensions.insert(Arc::new(sent.unwrap_or_default()));
            Ok(caller)
        })
    }
}
