//! ConnectWise Manage (PSA): the nightly quantity sync of seed 002. Wire
//! facts: `../shared/INTEGRATIONS.md`.

pub mod client;
pub mod sync;
pub mod wire;

use chrono::{DateTime, Utc};

use super::{IntegrationError, RunReport, SettingField, SettingValues};
use crate::store::Store;
use client::ConnectWiseClient;

/// The settings form of the ConnectWise card.
pub const FIELDS: &[SettingField] = &[
    SettingField {
        key: "site_url",
        label: "Site URL",
        help: "Your ConnectWise site, e.g. https://api-na.myconnectwise.net",
        secret: false,
        required: true,
    },
    SettingField {
        key: "company_id",
        label: "Company ID",
        help: "The company id you sign in to ConnectWise with",
        secret: false,
        required: true,
    },
    SettingField {
        key: "public_key",
        label: "Public key",
        help: "The API member's public key",
        secret: false,
        required: true,
    },
    SettingField {
        key: "private_key",
        label: "Private key",
        help: "The API member's private key",
        secret: true,
        required: true,
    },
    SettingField {
        key: "client_id",
        label: "Client ID",
        help: "The integrator client id from the ConnectWise developer portal",
        secret: false,
        required: true,
    },
    SettingField {
        key: sync::QUANTITY_SOURCE,
        label: "Quantity source",
        help: "What the nightly sync bills: \"seats\" (the subscriptions' quantities, the default) or \"mailboxes\" (active mailboxes)",
        secret: false,
        required: false,
    },
];

/// The scheduled job of this integration (`scheduled_jobs.name`).
pub const QUANTITY_SYNC_JOB: &str = "connectwise.quantity_sync";

/// Its default schedule: nightly at 02:00 in the operator's timezone.
pub const QUANTITY_SYNC_DEFAULT_CRON: &str = "0 2 * * *";

/// "Test configuration": checks the credentials with `GET system/info` and
/// says what answered (e.g. "Connected to ConnectWise 2025.1").
pub async fn test_configuration(settings: &SettingValues) -> Result<String, IntegrationError> {
    let info = ConnectWiseClient::from_settings(settings)?
        .system_info()
        .await?;
    Ok(format!(
        "Connected to ConnectWise Manage {}.",
        info.version.trim_start_matches('v')
    ))
}

/// ConnectWise's own checks of a settings form (beyond required fields).
pub fn check_settings(values: &SettingValues) -> Vec<String> {
    let site = values
        .plain
        .get("site_url")
        .and_then(|site| client::api_base(site).err());
    let source = sync::quantity_source(values)
        .err()
        .map(|error| error.to_string());
    site.into_iter().chain(source).collect()
}

/// One run of the quantity sync: for each customer with an agreement and
/// each mapped plan, the additions' quantities follow ours.
pub async fn run_quantity_sync(
    store: &Store,
    settings: &SettingValues,
    now: DateTime<Utc>,
) -> Result<RunReport, IntegrationError> {
    sync::run(store, settings, now).await
}
