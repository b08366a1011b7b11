//! The interworks.cloud service-manager contract, as the BSS calls it.

pub mod accounts;
pub mod wire;

use actix_web::middleware::from_fn;
use actix_web::web;

use crate::config::NotificationMode;
use crate::store::sync_options::CatalogCache;
use crate::store::Store;

/// What the contract handlers share.
pub struct ContractState {
    pub store: Store,
    pub catalog: std::sync::Arc<CatalogCache>,
    pub notification_mode: NotificationMode,
    /// The route prefix in lower case, with leading and trailing slash.
    pub route_prefix: String,
    /// Wakes this instance's outbox worker when Synchronize queued mail.
    pub mail_queued: std::sync::Arc<tokio::sync::Notify>,
}

/// The contract actions Mailroom implements, as the contract spells them.
pub const ACTIONS: &[&str] = &[
    "Accounts/SyncOptions",
    "Accounts/Synchronize",
    "Accounts/Exists",
    "Accounts/Delete",
];

/// The contract action of a request path (`/API/accounts/exists` gives
/// `Accounts/Exists`); an action Mailroom does not implement keeps the
/// spelling it was called with.
pub fn action_name(path: &str, prefix: &str) -> String {
    let action = path
        .get(prefix.len()..)
        .filter(|_| {
            path.get(..prefix.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
        })
        .unwrap_or(path)
        .trim_matches('/');
    ACTIONS
        .iter()
        .find(|known| known.eq_ignore_ascii_case(action))
        .map_or_else(|| action.to_owned(), |known| (*known).to_owned())
}

/// Registers the contract routes under `prefix` (lower case: the path
/// normalizer lowers contract paths before routing).
pub fn configure(cfg: &mut web::ServiceConfig, prefix: &str) {
    cfg.service(
        web::scope(prefix.trim_end_matches('/'))
            .wrap(from_fn(crate::http::audit::record_contract_call))
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
            .default_service(web::to(accounts::not_supported)),
    );
}

#[cfg(test)]
mod tests {
    use super::action_name;

    #[test]
    fn action_names_are_canonical() {
        assert_eq!(
            action_name("/API/accounts/EXISTS", "/api/"),
            "Accounts/Exists"
        );
        assert_eq!(
            action_name("/api/Subscriptions/Create", "/api/"),
            "Subscriptions/Create"
        );
        assert_eq!(
            action_name("/api/example/accounts/delete/", "/api/example/"),
            "Accounts/Delete"
        );
    }
}
