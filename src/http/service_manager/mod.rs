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

use actix_web::http::{header, Method};
use actix_web::middleware::from_fn;
use actix_web::{web, Handler, HttpResponse, Resource, Responder};

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
            .service(contract_route(
                "/accounts/syncoptions",
                Method::GET,
                accounts::sync_options,
            ))
            .service(contract_route(
                "/accounts/synchronize",
                Method::POST,
                accounts::synchronize,
            ))
            .service(contract_route(
                "/accounts/exists",
                Method::POST,
                accounts::exists,
            ))
            .service(contract_route(
                "/accounts/delete",
                Method::POST,
                accounts::delete,
            ))
            .service(contract_route(
                "/fields/servicedefinition",
                Method::GET,
                fields::service_definition,
            ))
            .service(contract_route("/fields/get", Method::GET, fields::get))
            .service(contract_route(
                "/fields/validate",
                Method::POST,
                fields::validate,
            ))
            .service(contract_route(
                "/fields/additionalinfo",
                Method::GET,
                fields::additional_info,
            ))
            .service(contract_route(
                "/subscriptions/create",
                Method::POST,
                subscriptions::create,
            ))
            .service(contract_route(
                "/subscriptions/update",
                Method::POST,
                subscriptions::update,
            ))
            .service(contract_route(
                "/subscriptions/activate",
                Method::POST,
                subscriptions::activate,
            ))
            .service(contract_route(
                "/subscriptions/suspend",
                Method::POST,
                subscriptions::suspend,
            ))
            .service(contract_route(
                "/subscriptions/cancel",
                Method::POST,
                subscriptions::cancel,
            ))
            .service(contract_route(
                "/subscriptions/upgradetopaid",
                Method::POST,
                subscriptions::upgrade_to_paid,
            ))
            .service(contract_route(
                "/subscriptions/upgradedowngrade",
                Method::POST,
                subscriptions::upgrade_downgrade,
            ))
            .service(contract_route(
                "/addons/create",
                Method::POST,
                addons::create,
            ))
            .service(contract_route(
                "/addons/update",
                Method::POST,
                addons::update,
            ))
            .service(contract_route(
                "/addons/cancel",
                Method::POST,
                addons::cancel,
            ))
            .service(contract_route(
                "/users/get/customers",
                Method::POST,
                users::get_customers,
            ))
            .service(contract_route(
                "/users/get/customer",
                Method::POST,
                users::get_customer,
            ))
            .service(contract_route(
                "/users/get/list",
                Method::POST,
                users::get_list,
            ))
            .service(contract_route("/users/get", Method::POST, users::get))
            .service(contract_route("/users/add", Method::POST, users::add))
            .service(contract_route("/users/update", Method::POST, users::update))
            .service(contract_route("/users/delete", Method::POST, users::delete))
            .service(contract_route(
                "/users/disable",
                Method::POST,
                users::disable,
            ))
            .service(contract_route(
                "/users/activate",
                Method::POST,
                users::activate,
            ))
            .service(contract_route(
                "/users/provision",
                Method::POST,
                users::provision,
            ))
            .service(contract_route(
                "/users/deprovision",
                Method::POST,
                users::deprovision,
            ))
            .service(contract_route(
                "/users/password/reset",
                Method::POST,
                users::password_reset,
            ))
            .service(contract_route(
                "/users/service/get/list",
                Method::POST,
                users::service_list,
            ))
            .service(contract_route(
                "/users/service/add",
                Method::POST,
                users::service_add,
            ))
            .service(contract_route(
                "/users/service/delete",
                Method::POST,
                users::service_delete,
            ))
            .default_service(web::to(accounts::not_supported)),
    );
}

/// One contract route: `method` reaches `handler`; any other method answers
/// 405 with `Allow`, not the "not supported" envelope of unknown actions (the
/// action exists, the call is malformed).
fn contract_route<F, Args>(path: &str, method: Method, handler: F) -> Resource
where
    F: Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: Responder + 'static,
{
    let allow = method.to_string();
    web::resource(path)
        .route(web::method(method).to(handler))
        .default_service(web::to(move || {
            let allow = allow.clone();
            async move {
                HttpResponse::MethodNotAllowed()
                    .insert_header((header::ALLOW, allow))
                    .finish()
            }
        }))
}
