//! The operator API: JSON under `/operator/api/`, for the people who run
//! this Mailroom (and, later, its console). Operators sign in with email and
//! password and then send `Authorization: Bearer <token>`.

pub mod catalog;
pub mod customers;
pub mod email_templates;
pub mod error;
pub mod integration_runs;
pub mod integrations;
pub mod operator_audit;
pub mod operators;
pub mod outbox;
pub mod session;
pub mod subscriptions;
pub mod utc;

use std::sync::Arc;

use actix_web::web;

use crate::notify::outbox::Outbox;
use crate::notify::Notifier;
use crate::store::Store;
use error::OperatorApiError;

/// Where the operator API lives.
pub const OPERATOR_API_PREFIX: &str = "/operator/api";

/// Largest operator API body: room for three template parts at their limit.
pub const OPERATOR_BODY_LIMIT: usize = 1024 * 1024;

/// What the operator handlers share.
pub struct OperatorState {
    pub store: Store,
    pub notifier: Arc<Notifier>,
    pub outbox: Outbox,
    pub session_ttl: chrono::Duration,
    pub throttle: crate::http::throttle::LoginThrottle,
    pub catalog: Arc<crate::store::sync_options::CatalogCache>,
    /// Whether session cookies are marked Secure (the public URL is https).
    pub secure_cookies: bool,
    /// Integration settings (secrets sealed) and the outgoing HTTP client.
    pub integrations: crate::integrations::settings::Integrations,
    /// Super Admins without a second factor may only enrol one.
    pub require_totp_for_super_admins: bool,
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    let json = web::JsonConfig::default()
        .limit(OPERATOR_BODY_LIMIT)
        .error_handler(|error, _| OperatorApiError::from_json_error(error).into());
    let query = web::QueryConfig::default()
        .error_handler(|error, _| OperatorApiError::BadRequest(error.to_string()).into());
    let path = web::PathConfig::default()
        .error_handler(|error, _| OperatorApiError::BadRequest(error.to_string()).into());
    cfg.service(
        web::scope(OPERATOR_API_PREFIX)
            .app_data(json)
            .app_data(query)
            .app_data(path)
            .route("/sessions", web::post().to(session::sign_in))
            .route("/sessions/current", web::delete().to(session::sign_out))
            .route(
                "/sessions/second-factor",
                web::post().to(session::second_factor),
            )
            .route("/me", web::get().to(session::me))
            .route("/templates", web::get().to(email_templates::list))
            .route("/templates/{name}", web::get().to(email_templates::get))
            .route("/templates/{name}", web::put().to(email_templates::update))
            .route(
                "/templates/{name}/revisions",
                web::get().to(email_templates::revisions),
            )
            .route(
                "/templates/{name}/revisions/{revision}/restore",
                web::post().to(email_templates::restore),
            )
            .route(
                "/templates/{name}/preview",
                web::post().to(email_templates::preview),
            )
            .route(
                "/templates/{name}/test-mail",
                web::post().to(email_templates::test_mail),
            )
            .route(
                "/customers/{external_id}/activation-link",
                web::post().to(customers::new_activation_link),
            )
            .route("/product-types", web::get().to(catalog::product_types))
            .route(
                "/product-types/{id}",
                web::put().to(catalog::save_product_type),
            )
            .route("/plans", web::get().to(catalog::list_plans))
            .route("/plans", web::post().to(catalog::create_plan))
            .route("/plans/{id}", web::get().to(catalog::get_plan))
            .route("/plans/{id}", web::patch().to(catalog::update_plan))
            .route("/subscriptions", web::get().to(subscriptions::list))
            .route("/subscriptions/{id}", web::get().to(subscriptions::get))
            .route(
                "/customers/{external_id}/subscriptions",
                web::get().to(subscriptions::of_customer),
            )
            .route("/integrations", web::get().to(integrations::list))
            .route(
                "/integrations/connectwise/catalog",
                web::get().to(integrations::catalog),
            )
            .route(
                "/integrations/connectwise/services",
                web::get().to(integrations::services),
            )
            .route(
                "/integrations/connectwise/services/{plan}",
                web::put().to(integrations::assign),
            )
            .route(
                "/integrations/connectwise/services/{plan}",
                web::delete().to(integrations::unassign),
            )
            .route(
                "/integrations/connectwise/companies",
                web::get().to(integrations::companies),
            )
            .route(
                "/integrations/connectwise/companies/{id}/agreements",
                web::get().to(integrations::agreements),
            )
            .route("/integrations/{kind}", web::get().to(integrations::get))
            .route("/integrations/{kind}", web::put().to(integrations::update))
            .route(
                "/integrations/{kind}/test",
                web::post().to(integrations::test),
            )
            .route(
                "/customers/{external_id}/connectwise",
                web::get().to(integrations::get_customer),
            )
            .route(
                "/customers/{external_id}/connectwise",
                web::put().to(integrations::put_customer),
            )
            .route(
                "/customers/{external_id}/connectwise",
                web::delete().to(integrations::delete_customer),
            )
            .route("/outbox", web::get().to(outbox::list))
            .route("/outbox/{id}/retry", web::post().to(outbox::retry))
            .route(
                "/integrations/{kind}/runs",
                web::get().to(integration_runs::list_runs),
            )
            .route(
                "/integrations/{kind}/runs",
                web::post().to(integration_runs::run_now),
            )
            .route(
                "/integrations/{kind}/schedule",
                web::get().to(integration_runs::get_schedule),
            )
            .route(
                "/integrations/{kind}/schedule",
                web::put().to(integration_runs::put_schedule),
            )
            .route("/audit", web::get().to(operator_audit::list))
            .route("/operators", web::get().to(operators::list))
            .route("/operators", web::post().to(operators::invite))
            .route("/operators/{id}", web::patch().to(operators::change))
            .route(
                "/operators/{id}/password-reset",
                web::post().to(operators::password_reset),
            )
            .route("/me/password", web::put().to(operators::own_password))
            .default_service(web::to(|| async {
                Err::<actix_web::HttpResponse, _>(OperatorApiError::NotFound(
                    "no such operator API endpoint".into(),
                ))
            })),
    );
}
