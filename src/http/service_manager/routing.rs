//! Contract paths: matched case-insensitively, as ASP.NET routing does,
//! and named by their action for logs and the audit.

use actix_web::dev::ServiceRequest;
use actix_web::http::Uri;
use actix_web::{web, HttpMessage, HttpRequest};

use super::ContractState;

/// The request path as sent, before contract paths were lowered.
#[derive(Debug, Clone)]
pub struct OriginalPath(pub String);

/// ASP.NET routing is case-insensitive, so the BSS may call
/// `/API/Accounts/Exists`: paths under the contract prefix are lowered
/// before routing (other paths are left alone).
pub fn lower_contract_path(req: &mut ServiceRequest, prefix: &str) {
    let path = req.path();
    let under_prefix = path
        .get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
        || path.eq_ignore_ascii_case(prefix.trim_end_matches('/'));
    if !under_prefix || !path.bytes().any(|b| b.is_ascii_uppercase()) {
        return;
    }
    let original = path.to_owned();
    let lowered = original.to_ascii_lowercase();
    let path_and_query = match req.uri().query() {
        Some(query) => format!("{lowered}?{query}"),
        None => lowered,
    };
    let mut parts = req.head().uri.clone().into_parts();
    let Ok(path_and_query) = path_and_query.parse() else {
        return;
    };
    parts.path_and_query = Some(path_and_query);
    let Ok(uri) = Uri::from_parts(parts) else {
        return;
    };
    req.match_info_mut().get_mut().update(&uri);
    req.head_mut().uri = uri;
    req.extensions_mut().insert(OriginalPath(original));
}

/// The contract actions Mailroom implements, as the contract spells them.
pub const ACTIONS: &[&str] = &[
    "Accounts/SyncOptions",
    "Accounts/Synchronize",
    "Accounts/Exists",
    "Accounts/Delete",
    "Fields/ServiceDefinition",
    "Fields/Get",
    "Fields/Validate",
    "Fields/AdditionalInfo",
    "Subscriptions/Create",
    "Subscriptions/Update",
    "Subscriptions/Activate",
    "Subscriptions/Suspend",
    "Subscriptions/Cancel",
    "Subscriptions/UpgradeToPaid",
    "Subscriptions/UpgradeDowngrade",
    "Addons/Create",
    "Addons/Update",
    "Addons/Cancel",
    "Users/Get/Customers",
    "Users/Get/Customer",
    "Users/Get/List",
    "Users/Get",
    "Users/Add",
    "Users/Update",
    "Users/Delete",
    "Users/Disable",
    "Users/Activate",
    "Users/Provision",
    "Users/DeProvision",
    "Users/Service/Get/List",
    "Users/Service/Add",
    "Users/Service/Delete",
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

/// The contract action a request called, as [`action_name`] spells it.
pub fn request_action(req: &HttpRequest) -> String {
    let path = req
        .extensions()
        .get::<OriginalPath>()
        .map_or_else(|| req.path().to_owned(), |p| p.0.clone());
    let prefix = req
        .app_data::<web::Data<ContractState>>()
        .map(|state| state.route_prefix.clone())
        .unwrap_or_default();
    action_name(&path, &prefix)
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
            action_name("/API/subscriptions/upgradetopaid", "/api/"),
            "Subscriptions/UpgradeToPaid"
        );
        assert_eq!(action_name("/API/ADDONS/create", "/api/"), "Addons/Create");
        assert_eq!(
            action_name("/api/users/service/get/LIST", "/api/"),
            "Users/Service/Get/List"
        );
        assert_eq!(
            action_name("/api/example/accounts/delete/", "/api/example/"),
            "Accounts/Delete"
        );
    }
}
