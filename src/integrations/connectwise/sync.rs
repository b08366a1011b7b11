//! The nightly quantity sync (seed 002): for every customer with an
//! agreement, its additions' quantities follow the quantities Mailroom
//! bills, one customer at a time (a few at once), each customer's failure
//! recorded and the others carried on. Quantities only: no cost, price or
//! description is ever sent.

use chrono::{DateTime, Utc};
use futures_util::stream::{self, StreamExt};

use super::client::ConnectWiseClient;
use super::wire::Addition;
use crate::domain::psa_sync::{decide, AdditionChange, ExistingAddition};
use crate::integrations::{IntegrationError, RunReport, SettingValues};
use crate::store::psa_quantities::{desired_quantities, AgreementQuantities, QuantitySource};
use crate::store::Store;

/// The setting that chooses what a mapped plan's quantity counts.
pub const QUANTITY_SOURCE: &str = "quantity_source";

/// Customers synced at the same time: enough to hide the platform's
/// latency, few enough to stay under its rate limits.
const CONCURRENT_CUSTOMERS: usize = 8;

/// The counts every run reports, zeros included.
const COUNTS: [&str; 5] = ["customers", "patched", "created", "unchanged", "failed"];

/// What the `quantity_source` setting says; an unknown value is a settings
/// error.
pub fn quantity_source(settings: &SettingValues) -> Result<QuantitySource, IntegrationError> {
    let setting = settings
        .plain
        .get(QUANTITY_SOURCE)
        .map(String::as_str)
        .unwrap_or("");
    QuantitySource::parse(setting).ok_or_else(|| {
        IntegrationError::Settings(format!(
            "Quantity source must be \"seats\" or \"mailboxes\", not {setting:?}."
        ))
    })
}

/// What one customer's sync did.
#[derive(Debug, Default)]
struct CustomerOutcome {
    patched: u64,
    created: u64,
    unchanged: u64,
    /// Additions left alone because their product has several.
    notes: Vec<String>,
}

pub async fn run(
    store: &Store,
    settings: &SettingValues,
    now: DateTime<Utc>,
) -> Result<RunReport, IntegrationError> {
    let source = quantity_source(settings)?;
    let client = ConnectWiseClient::from_settings(settings)?;
    let agreements = store
        .run(move |conn| desired_quantities(conn, source))
        .await
        .map_err(|error| IntegrationError::Store(error.into()))?;
    tracing::info!(customers = agreements.len(), ?source, %now, "quantity sync started");

    let mut report = RunReport::default();
    for count in COUNTS {
        report.add(count, 0);
    }
    let mut transient_failures = 0usize;
    let mut first_transient: Option<String> = None;
    let customers = agreements.len();
    let mut outcomes = stream::iter(agreements)
        .map(|agreement| {
            let client = &client;
            async move {
                let result = sync_customer(client, &agreement, now).await;
                (agreement, result)
            }
        })
        .buffer_unordered(CONCURRENT_CUSTOMERS);
    while let Some((agreement, result)) = outcomes.next().await {
        report.add("customers", 1);
        let item = format!(
            "customer {} (agreement {})",
            agreement.customer_name, agreement.agreement_id
        );
        match result {
            Ok(outcome) => {
                report.add("patched", outcome.patched);
                report.add("created", outcome.created);
                report.add("unchanged", outcome.unchanged);
                for note in outcome.notes {
                    report.fail(item.clone(), note);
                }
            }
            Err(error) => {
                tracing::warn!(customer_id = agreement.customer_id, agreement_id = agreement.agreement_id, %error, "customer not synced");
                if error.is_transient() {
                    transient_failures += 1;
                    first_transient.get_or_insert_with(|| error.to_string());
                }
                report.add("failed", 1);
                report.fail(item, error.to_string());
            }
        }
    }
    // The platform was unreachable for everyone: the run as a whole is
    // worth retrying later, not a list of failed customers.
    if customers > 0 && transient_failures == customers {
        return Err(IntegrationError::Unavailable {
            platform: super::client::PLATFORM,
            message: format!(
                "no customer could be synced ({})",
                first_transient.unwrap_or_default()
            ),
        });
    }
    Ok(report)
}

async fn sync_customer(
    client: &ConnectWiseClient,
    agreement: &AgreementQuantities,
    now: DateTime<Utc>,
) -> Result<CustomerOutcome, IntegrationError> {
    let additions = client.additions(agreement.agreement_id).await?;
    let existing: Vec<ExistingAddition> = additions
        .iter()
        .map(|addition| existing(addition, now))
        .collect();
    let decision = decide(&agreement.lines, &existing);
    let mut outcome = CustomerOutcome {
        unchanged: decision.unchanged,
        ..CustomerOutcome::default()
    };
    for duplicate in &decision.duplicates {
        let ignored: Vec<String> = duplicate.ignored.iter().map(i64::to_string).collect();
        outcome.notes.push(format!(
            "product {} has several additions: addition {} follows Mailroom's quantity, \
             additions {} were left as they are",
            duplicate.product_id,
            duplicate.kept,
            ignored.join(", ")
        ));
    }
    for change in decision.changes {
        match change {
            AdditionChange::SetQuantity {
                addition_id,
                quantity,
            } => {
                client
                    .set_addition_quantity(agreement.agreement_id, addition_id, quantity)
                    .await?;
                outcome.patched += 1;
            }
            AdditionChange::Create {
                product_id,
                quantity,
            } => {
                client
                    .create_addition(agreement.agreement_id, product_id, quantity)
                    .await?;
                outcome.created += 1;
            }
        }
    }
    Ok(outcome)
}

/// An addition as the decision sees it: cancelled once its cancellation
/// date has come (one still to come leaves it live until then).
fn existing(addition: &Addition, now: DateTime<Utc>) -> ExistingAddition {
    let cancelled = match addition.cancelled_date.as_deref().map(str::trim) {
        None | Some("") => false,
        Some(date) => DateTime::parse_from_rfc3339(date)
            .map(|date| date <= now)
            // A date we cannot read: leave the addition alone.
            .unwrap_or(true),
    };
    ExistingAddition {
        id: addition.id,
        product_id: addition.product.id,
        quantity: addition.quantity,
        cancelled,
    }
}
