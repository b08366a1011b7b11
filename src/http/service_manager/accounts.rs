//! The Accounts part of the service-manager contract.

use actix_web::{web, HttpRequest, HttpResponse};

use super::answer::{answer, answer_json};
use super::auth::Caller;
use super::body::ContractJson;
use super::error::ApiError;
use super::routing::request_action;
use super::settings::Settings;
use super::wire::{seed_account_example, AccountDefinition, ResultEnvelope, SyncOptionsResult};
use super::ContractState;
use crate::domain::customer::{exists_verdict, ExistsVerdict, LinkCandidate};
use crate::domain::ResultCode;
use crate::store::customers::{self, DeleteOutcome, SyncOutcome};
use crate::store::StoreError;
use crate::telemetry::track_id;

/// Declares the sync options the BSS asks of a customer.
///
/// Called whenever the operator saves the service manager's settings in the
/// BSS. `username` is filled by the BSS with the account email (or the
/// primary contact's); options with `AvailableToStorefront` are asked of the
/// customer at their first order.
#[utoipa::path(
    get,
    path = "/api/Accounts/SyncOptions",
    tag = "Accounts",
    operation_id = "accounts_sync_options",
    params(("X-CloudPlatform-TrackId" = Option<String>, Header, description = "The BSS's id of this call, logged with it.")),
    responses(
        (status = 200, description = "The option definitions.", body = SyncOptionsResult, example = json!({
            "Code": 0, "Message": "", "ErrorCode": 0, "ErrorMessage": "",
            "Fields": [
                {"ID": "username", "Definition": {"ID": "username", "SortOrder": 0, "Name": "Username",
                    "Description": null, "Kind": "SimpleValue", "DataType": "Text", "IsRequired": true,
                    "PredefinedValues": [], "IsReadOnly": false, "AvailableToStorefront": false}},
                {"ID": "domain", "Definition": {"ID": "domain", "SortOrder": 1, "Name": "Mail domain",
                    "Description": "The domain your mailboxes will use, for example example.com.",
                    "Kind": "SimpleValue", "DataType": "Text", "IsRequired": true,
                    "PredefinedValues": [], "IsReadOnly": false, "AvailableToStorefront": true}}
            ]
        })),
        (status = 401, description = "Missing or wrong credentials.", body = ResultEnvelope),
        (status = 503, description = "The database is unavailable.", body = ResultEnvelope),
    ),
    security(("ApplicationId" = [], "ApiKey" = []))
)]
pub async fn sync_options(
    state: web::Data<ContractState>,
    _caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let catalog = state.catalog.get().await?;
    Ok(answer_json(
        ResultCode::Success,
        &SyncOptionsResult::from_catalog(&catalog),
    ))
}

/// Creates the customer, or updates it when the account is known.
///
/// Idempotent per BSS account: a retry, a second checkout or a concurrent
/// duplicate gets the same ExternalID and creates nothing. Codes
/// -80000..-89999 carry a message for the storefront user (see
/// `docs/result-codes.md`).
#[utoipa::path(
    post,
    path = "/api/Accounts/Synchronize",
    tag = "Accounts",
    operation_id = "accounts_synchronize",
    params(("X-CloudPlatform-TrackId" = Option<String>, Header, description = "The BSS's id of this call, logged with it.")),
    request_body(content = AccountDefinition, description = "The BSS account. Field names are matched case-insensitively; unknown fields are ignored.",
        example = json!(seed_account_example())),
    responses(
        (status = 200, description = "Created, updated, or refused (a storefront message for -8xxxx, a message for BSS staff otherwise).", body = ResultEnvelope, examples(
            ("Created" = (summary = "A new customer", value = json!({
                "Code": 0, "Message": "Customer created.", "ErrorCode": 0, "ErrorMessage": "Customer created.",
                "Result": "cus_01jdx9k3v7s0m8w2q4r6t8y0za",
                "AccountExtraInfo": {"customer_id": "cus_01jdx9k3v7s0m8w2q4r6t8y0za", "domain": "direct.com", "username": "info@direct.com"},
                "SendNotification": false}))),
            ("Created in BSS notification mode" = (summary = "The BSS sends the access email with this password", value = json!({
                "Code": 0, "Message": "Customer created.", "ErrorCode": 0, "ErrorMessage": "Customer created.",
                "Result": "cus_01jdx9k3v7s0m8w2q4r6t8y0za",
                "AccountExtraInfo": {"customer_id": "cus_01jdx9k3v7s0m8w2q4r6t8y0za", "domain": "direct.com", "username": "info@direct.com"},
                "GeneratedPassword": "h7K#p2mQx9Rt4wZa", "SendNotification": true}))),
            ("Domain taken" = (summary = "A storefront error", value = json!({
                "Code": -80021, "Message": "The domain direct.com is already registered with another account. If it is yours, please contact our support team.",
                "ErrorCode": -80021, "ErrorMessage": "The domain direct.com is already registered with another account. If it is yours, please contact our support team."}))),
            ("Field of the wrong type" = (summary = "JSON that does not fit (BSS staff see the message)", value = json!({
                "Code": -2, "Message": "Field Name: invalid type: integer `5`, expected a string.",
                "ErrorCode": -2, "ErrorMessage": "Field Name: invalid type: integer `5`, expected a string."}))),
        )),
        (status = 400, description = "The body is not JSON at all.", body = ResultEnvelope, example = json!({
            "Code": -9, "Message": "The request body is not valid JSON: expected value at line 1 column 1.",
            "ErrorCode": -9, "ErrorMessage": "The request body is not valid JSON: expected value at line 1 column 1."})),
        (status = 401, description = "Missing or wrong credentials.", body = ResultEnvelope),
        (status = 413, description = "The body is over the size limit.", body = ResultEnvelope),
        (status = 503, description = "The database is unavailable.", body = ResultEnvelope),
    ),
    security(("ApplicationId" = [], "ApiKey" = []))
)]
pub async fn synchronize(
    state: web::Data<ContractState>,
    caller: Caller,
    settings: Settings,
    ContractJson(account): ContractJson<AccountDefinition>,
) -> Result<HttpResponse, ApiError> {
    let catalog = state.catalog.get().await?;
    let submission = match account.to_submission(&catalog) {
        Ok(submission) => submission,
        Err(rejection) => return Ok(answer(ResultEnvelope::rejected(rejection))),
    };
    // The application's notification_mode setting, else the configured one.
    let mode = settings.mode_or(state.notification_mode);
    let outcome = state
        .store
        .run(move |conn| customers::synchronize(conn, caller.application_id, &submission, mode))
        .await?;
    let envelope = match outcome {
        SyncOutcome::Created {
            external_id,
            account_extra_info,
            generated_password,
            mail_queued,
            replaced_external_id,
        } => {
            warn_of_fallback(replaced_external_id.as_deref(), &external_id);
            if mail_queued {
                state.outbox.wake_worker();
            }
            let mut envelope = ResultEnvelope::new(ResultCode::Success, "Customer created.")
                .with_result(external_id);
            envelope.account_extra_info = Some(account_extra_info);
            envelope.send_notification = Some(generated_password.is_some());
            envelope.generated_password = generated_password;
            envelope
        }
        SyncOutcome::Updated {
            external_id,
            account_extra_info,
            generated_password,
            replaced_external_id,
        } => {
            warn_of_fallback(replaced_external_id.as_deref(), &external_id);
            let mut envelope = ResultEnvelope::new(ResultCode::Success, "Customer updated.")
                .with_result(external_id);
            envelope.account_extra_info = Some(account_extra_info);
            envelope.send_notification = Some(generated_password.is_some());
            envelope.generated_password = generated_password;
            envelope
        }
        SyncOutcome::Refused(rejection) => ResultEnvelope::rejected(rejection),
    };
    Ok(answer(envelope))
}

/// A call named an ExternalID its application does not know and fell back to
/// its BSS account id: worth a warning (the request span carries the TrackId).
fn warn_of_fallback(unknown: Option<&str>, answered: &str) {
    if let Some(unknown) = unknown {
        tracing::warn!(
            unknown_external_id = %unknown,
            external_id = %answered,
            "Synchronize named an ExternalID this application does not know; used the BSS account id"
        );
    }
}

/// Tells whether the account exists in Mailroom.
///
/// By ExternalID when given; else by this application's BSS account id;
/// else by the identifying sync options (domain, username), so a BSS account
/// can be linked to a customer Mailroom already has. Code 1: exists, `Result`
/// is its ExternalID. Code 2: exists but cannot be linked (deleted,
/// suspended, or another application's or reseller's customer). Code 0: does
/// not exist.
#[utoipa::path(
    post,
    path = "/api/Accounts/Exists",
    tag = "Accounts",
    operation_id = "accounts_exists",
    params(("X-CloudPlatform-TrackId" = Option<String>, Header, description = "The BSS's id of this call, logged with it.")),
    request_body(content = AccountDefinition, example = json!(seed_account_example())),
    responses(
        (status = 200, description = "Whether the account exists.", body = ResultEnvelope, examples(
            ("Exists" = (value = json!({"Code": 1, "Message": "The account exists.", "ErrorCode": 1,
                "ErrorMessage": "The account exists.", "Result": "cus_01jdx9k3v7s0m8w2q4r6t8y0za"}))),
            ("Exists but not valid" = (value = json!({"Code": 2, "Message": "The account exists but was deleted.",
                "ErrorCode": 2, "ErrorMessage": "The account exists but was deleted."}))),
            ("Does not exist" = (value = json!({"Code": 0, "Message": "The account does not exist.",
                "ErrorCode": 0, "ErrorMessage": "The account does not exist."}))),
        )),
        (status = 400, description = "The body is not JSON at all.", body = ResultEnvelope),
        (status = 401, description = "Missing or wrong credentials.", body = ResultEnvelope),
        (status = 503, description = "The database is unavailable.", body = ResultEnvelope),
    ),
    security(("ApplicationId" = [], "ApiKey" = []))
)]
pub async fn exists(
    state: web::Data<ContractState>,
    caller: Caller,
    ContractJson(account): ContractJson<AccountDefinition>,
) -> Result<HttpResponse, ApiError> {
    account.check_ids()?;
    let catalog = state.catalog.get().await?;
    let identities = account.identity_values(&catalog)?;
    let external_id = account.effective_external_id();
    let bss_account_id = account.id.clone();
    let application_id = caller.application_id;
    let found = state
        .store
        .run(move |conn| {
            customers::find_for_exists(
                conn,
                application_id,
                external_id.as_deref(),
                bss_account_id.as_deref(),
                &identities,
            )
        })
        .await?;
    let candidates = found
        .iter()
        .map(|customer| {
            Ok(LinkCandidate {
                external_id: &customer.external_id,
                application_id: customer.application_id,
                reseller_bss_id: customer.reseller_bss_id.as_deref(),
                status: customer.status,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let verdict = exists_verdict(
        &candidates,
        caller.application_id,
        account.reseller_id.as_deref(),
    );
    let envelope = match verdict {
        ExistsVerdict::DoesNotExist => {
            ResultEnvelope::new(ResultCode::Success, "The account does not exist.")
        }
        ExistsVerdict::Exists(external_id) => {
            ResultEnvelope::new(ResultCode::Exists, "The account exists.")
                .with_result(external_id.to_owned())
        }
        ExistsVerdict::NotValid(reason) => ResultEnvelope::new(ResultCode::ExistsNotValid, reason),
    };
    Ok(answer(envelope))
}

/// Deletes the customer: keeps a tombstone (when, by whom, the TrackId) and
/// releases its domain and username at once. Deleting twice, or deleting
/// what is not there, answers Code 0.
#[utoipa::path(
    post,
    path = "/api/Accounts/Delete",
    tag = "Accounts",
    operation_id = "accounts_delete",
    params(("X-CloudPlatform-TrackId" = Option<String>, Header, description = "The BSS's id of this call, logged with it.")),
    request_body(content = AccountDefinition, description = "`ExternalID` (or `ExtraDetails.customer_id`) names the customer; without one, or when it is not one of this application's, the BSS account `ID` does.",
        example = json!({"ExternalID": "cus_01jdx9k3v7s0m8w2q4r6t8y0za", "ExtraDetails": {"customer_id": "cus_01jdx9k3v7s0m8w2q4r6t8y0za"}})),
    responses(
        (status = 200, description = "Deleted, already deleted, or nothing to delete: Code 0 each time (Delete is idempotent). Code -2 when the body names neither an ExternalID nor an ID.", body = ResultEnvelope, examples(
            ("Deleted" = (value = json!({"Code": 0, "Message": "Customer deleted.", "ErrorCode": 0,
                "ErrorMessage": "Customer deleted.", "Result": "cus_01jdx9k3v7s0m8w2q4r6t8y0za"}))),
            ("Nothing to delete" = (value = json!({"Code": 0, "Message": "No customer of this application has that ExternalID or ID: nothing to delete.",
                "ErrorCode": 0, "ErrorMessage": "No customer of this application has that ExternalID or ID: nothing to delete."}))),
        )),
        (status = 400, description = "The body is not JSON at all.", body = ResultEnvelope),
        (status = 401, description = "Missing or wrong credentials.", body = ResultEnvelope),
        (status = 503, description = "The database is unavailable.", body = ResultEnvelope),
    ),
    security(("ApplicationId" = [], "ApiKey" = []))
)]
pub async fn delete(
    req: HttpRequest,
    state: web::Data<ContractState>,
    caller: Caller,
    ContractJson(account): ContractJson<AccountDefinition>,
) -> Result<HttpResponse, ApiError> {
    account.check_ids()?;
    let external_id = account.effective_external_id();
    let bss_account_id = account.id.clone();
    if external_id.is_none() && bss_account_id.is_none() {
        return Err(ApiError::bad_request(
            "ExternalID or ID is required to delete a customer.",
        ));
    }
    let track_id = track_id(req.headers()).unwrap_or("-");
    let deleted_by = format!("application {} (TrackId {track_id})", caller.name);
    let track = crate::telemetry::track_id(req.headers()).map(str::to_owned);
    let outcome = state
        .store
        .run(move |conn| {
            customers::mark_deleted(
                conn,
                caller.application_id,
                external_id.as_deref(),
                bss_account_id.as_deref(),
                &deleted_by,
                track.as_deref(),
            )
        })
        .await?;
    let envelope = match outcome {
        DeleteOutcome::Deleted { external_id } => {
            ResultEnvelope::new(ResultCode::Success, "Customer deleted.").with_result(external_id)
        }
        DeleteOutcome::AlreadyDeleted { external_id } => {
            ResultEnvelope::new(ResultCode::Success, "The customer was already deleted.")
                .with_result(external_id)
        }
        DeleteOutcome::NothingToDelete => ResultEnvelope::new(
            ResultCode::Success,
            "No customer of this application has that ExternalID or ID: nothing to delete.",
        ),
    };
    Ok(answer(envelope))
}

/// Any other route of the contract: the sample's answer for an action a
/// service manager does not implement.
pub async fn not_supported(req: HttpRequest, _caller: Caller) -> HttpResponse {
    let action = request_action(&req);
    answer(ResultEnvelope::new(
        ResultCode::NotSupported,
        format!("{action} functionality is not supported"),
    ))
}
