//! The interworks.cloud service-manager contract, as the BSS calls it:
//! everything only the contract uses lives here (application auth, the
//! lenient body reader, the audit middleware, result answers, its error).

pub mod accounts;
pub mod addons;
pub mod answer;
pub mod audit;
pub mod auth;
pub mod body;
pub mod bss_json;
pub mod error;
pub mod fields;
pub mod fields_wire;
pub mod routing;
pub mod settings;
pub mod subscriptions;
pub mod subscriptions_wire;
pub mod users;
pub mod users_wire;
pub mod wire;

use actix_web::middleware::from_fn;
use actix_web::web;

use crate::config::NotificationMode;
use crate::notify::outbox::Outbox;
use crate::store::sync_options::CatalogCache;
use crate::store::Store;

/// What the contract handlers share.
pub struct ContractState {
    pub store: Store,
    pub catalog: std::sync::Arc<CatalogCache>,
    pub notification_mode: NotificationMode,
    /// The route prefix in lower case, with leading and trailing slash.
    pub route_prefix: String,
    /// To wake this instance's outbox worker when Synchronize queued mail.
    pub outbox: Outbox,
}

/// Registers the contract routes under `prefix` (lower case: the path
/// normalizer lowers contract paths before routing).
pub fn configure(cfg: &mut web::ServiceConfig, prefix: &str) {
    cfg.service(
        web::scope(prefix.trim_end_matches('/'))
            .wrap(from_fn(audit::record_contract_call))
            .route(
                "/accounts/syncoptions",
                web::get().to(accounts::sync_options),
            )
            .route(
                "/accounts/synchronize",
                web::post().to(accounts::synchronize),
            )
            .route("/accounts/exists", web::post().to(accounts::exists))
            .route("/accounts/delete", web::post().to(accounts::delete))
            .route(
                "/fields/servicedefinition",
                web::get().to(fields::service_definition),
            )
            .route("/fields/get", web::get().to(fields::get))
            .route("/fields/validate", web::post().to(fields::validate))
            .route(
                "/fields/additionalinfo",
                web::get().to(fields::additional_info),
            )
            .route(
                "/subscriptions/create",
                web::post().to(subscriptions::create),
            )
            .route(
                "/subscriptions/update",
                web::post().to(subscriptions::update),
            )
            .route(
                "/subscriptions/activate",
                web::post().to(subscriptions::activate),
            )
            .route(
                "/subscriptions/suspend",
                web::post().to(subscriptions::suspend),
            )
            .route(
                "/subscriptions/cancel",
                web::post().to(subscriptions::cancel),
            )
            .route(
                "/subscriptions/upgradetopaid",
                web::post().to(subscriptions::upgrade_to_paid),
            )
            .route(
                "/subscriptions/upgradedowngrade",
                web::post().to(subscriptions::upgrade_downgrade),
            )
            .route("/addons/create", web::post().to(addons::create))
            .route("/addons/update", web::post().to(addons::update))
            .route("/addons/cancel", web::post().to(addons::cancel))
            .route("/users/get/customers", web::post().to(users::get_customers))
            .route("/users/get/customer", web::post().to(users::get_customer))
            .route("/users/get/list", web::post().to(users::get_list))
            .route("/users/get", web::post().to(users::get))
            .route("/users/add", web::post().to(users::add))
            .route("/users/update", web::post().to(users::update))
            .route("/users/delete", web::post().to(users::delete))
            .route("/users/disable", web::post().to(users::disable))
            .route("/users/activate", web::post().to(users::activate))
            .route("/users/provision", web::post().to(users::provision))
            .route("/users/deprovision", web::post().to(users::deprovision))
            .route(
                "/users/password/reset",
                web::post().to(users::password_reset),
            )
            .route(
                "/users/service/get/list",
                web::post().to(users::service_list),
            )
            .route("/users/service/add", web::post().to(users::service_add))
            .route(
                "/users/service/delete",
                web::post().to(users::service_delete),
            )
            .default_service(web::to(accounts::not_supported)),
    );
}
