//! The OpenAPI document, generated from the handlers and wire types.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::health;
use super::metrics;
use super::operator::error::ErrorBody;
use super::operator::integration_runs;
use super::operator::integrations;
use super::operator::subscriptions as operator_subscriptions;
use super::operator::{
    catalog, customers, email_templates, operator_audit, operators, outbox, session,
};
use super::service_manager::auth::{API_KEY_HEADER, APPLICATION_ID_HEADER};
use super::service_manager::{
    accounts, addons, fields, fields_wire, subscriptions, subscriptions_wire, users, users_wire,
    wire,
};
use crate::domain::catalog::{
    AttributeChoice, AttributeKind, AttributeUsage, BillingUnit, PlanSource, Scope,
};
use crate::domain::operator::Role;
use crate::domain::sync_options::{DataType, OptionKind, PredefinedValue};
use crate::notify::template::{MergeField, RenderedMessage, TemplatePart, TemplateProblem};

/// The route prefix the committed document is written with.
pub const DOCUMENTED_PREFIX: &str = "/api/";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Mailroom",
        description = "The interworks.cloud service manager of a mailbox-service operator.\n\n\
            The BSS calls the `Accounts` and `Fields` endpoints with the headers `X-CloudPlatform-ApplicationId` \
            and `X-CloudPlatform-APIKey` (issued by `mailroom app-keys create`). Routes and JSON \
            field names are matched case-insensitively and unknown fields are ignored. Every \
            Accounts answer is a result envelope (the Fields answers are the contract's own shapes): `Code`/`ErrorCode` 0 is success; -80000..-89999 carry a \
            message for the storefront user; other negative codes are for BSS staff. The table \
            of codes is in docs/result-codes.md."
    ),
    paths(
        accounts::sync_options,
        accounts::synchronize,
        accounts::exists,
        accounts::delete,
        fields::service_definition,
        fields::get,
        fields::validate,
        fields::additional_info,
        subscriptions::create,
        subscriptions::update,
        subscriptions::activate,
        subscriptions::suspend,
        subscriptions::cancel,
        subscriptions::upgrade_to_paid,
        subscriptions::upgrade_downgrade,
        addons::create,
        addons::update,
        addons::cancel,
        users::get_customers,
        users::get_customer,
        users::get_list,
        users::get,
        users::add,
        users::update,
        users::delete,
        users::disable,
        users::activate,
        users::provision,
        users::deprovision,
        users::password_reset,
        users::service_list,
        users::service_add,
        users::service_delete,
        health::live,
        health::ready,
        metrics::scrape,
        session::sign_in,
        session::sign_out,
        session::me,
        email_templates::list,
        email_templates::get,
        email_templates::update,
        email_templates::revisions,
        email_templates::restore,
        email_templates::preview,
        email_templates::test_mail,
        outbox::list,
        outbox::retry,
        integration_runs::list_runs,
        integration_runs::run_now,
        integration_runs::get_schedule,
        integration_runs::put_schedule,
        customers::new_activation_link,
        catalog::product_types,
        catalog::save_product_type,
        catalog::list_plans,
        catalog::get_plan,
        catalog::create_plan,
        catalog::update_plan,
        operator_subscriptions::list,
        operator_subscriptions::get,
        operator_subscriptions::of_customer,
        integrations::list,
        integrations::get,
        integrations::update,
        integrations::test,
        integrations::catalog,
        integrations::services,
        integrations::assign,
        integrations::unassign,
        integrations::companies,
        integrations::agreements,
        integrations::get_customer,
        integrations::put_customer,
        integrations::delete_customer,
        operator_audit::list,
        operators::list,
        operators::invite,
        operators::change,
        operators::password_reset,
        operators::own_password,
        session::second_factor,
    ),
    components(schemas(
        wire::AccountDefinition,
        wire::ContactDetails,
        wire::Address,
        wire::Region,
        wire::ResultEnvelope,
        wire::SyncOptionsResult,
        wire::SyncOptionField,
        wire::SyncOptionDefinitionWire,
        PredefinedValue,
        OptionKind,
        DataType,
        fields_wire::ServiceDefinitionResult,
        fields_wire::ProductTypeDefinition,
        fields_wire::AttributeDefinitionWire,
        fields_wire::FieldDefinition,
        fields_wire::ValidateRequest,
        fields_wire::FieldValue,
        fields_wire::AdditionalInfo,
        subscriptions_wire::ServiceDefinition,
        subscriptions_wire::ServiceResultDefinition,
        subscriptions_wire::AddonDefinition,
        users_wire::UserCustomer,
        users_wire::UserDefinition,
        users_wire::UserServiceRequest,
        users_wire::CustomersListRequest,
        users_wire::CustomerRequest,
        users_wire::UsersListRequest,
        users_wire::UserCustomerView,
        users_wire::UserView,
        users_wire::UserServiceView,
        users_wire::CustomerView,
        users_wire::UsersEnvelope,
        users_wire::UserResult,
        users_wire::UsersListResult,
        users_wire::CustomersListResult,
        users_wire::CustomerResult,
        users_wire::ServicesResult,
        Scope,
        AttributeUsage,
        AttributeKind,
        AttributeChoice,
        BillingUnit,
        PlanSource,
        catalog::ProductTypeView,
        catalog::ProductTypeInput,
        catalog::AttributeInput,
        catalog::AttributeView,
        catalog::PlanView,
        catalog::PlanCreate,
        catalog::PlanUpdate,
        operator_subscriptions::SubscriptionView,
        operator_subscriptions::SubscriptionDetail,
        operator_subscriptions::SubscriptionPage,
        operator_subscriptions::ChangeView,
        operator_subscriptions::UsageView,
        operator_subscriptions::PlanRef,
        operator_subscriptions::CustomerRef,
        health::Health,
        session::SignInRequest,
        session::SessionCreated,
        session::OperatorView,
        Role,
        ErrorBody,
        email_templates::TemplateSummary,
        email_templates::TemplateRevision,
        email_templates::TemplateDetail,
        email_templates::TemplateUpdate,
        email_templates::RestoreRequest,
        email_templates::PreviewRequest,
        email_templates::TestMailRequest,
        email_templates::TestMailQueued,
        MergeField,
        RenderedMessage,
        TemplateProblem,
        TemplatePart,
        outbox::OutboxMail,
        customers::ActivationLinkQueued,
        integration_runs::JobRuns,
        integration_runs::JobRun,
        integration_runs::RunFailure,
        integration_runs::JobSchedule,
        integration_runs::ScheduleUpdate,
        integrations::IntegrationView,
        integrations::SettingView,
        integrations::SettingsUpdate,
        integrations::TestOutcome,
        integrations::CatalogItemView,
        integrations::CatalogPage,
        integrations::CompanyView,
        integrations::CompanyPage,
        integrations::AgreementView,
        integrations::ServiceView,
        integrations::ServiceAssignment,
        integrations::CustomerConnectWise,
        integrations::CustomerAgreementView,
        integrations::AgreementAssignment,
        operator_audit::AuditPage,
        operator_audit::AuditEntryView,
        operators::OperatorAccountView,
        operators::InviteRequest,
        operators::Invited,
        operators::OperatorChange,
        operators::ResetQueued,
        operators::PasswordChange,
        session::SecondFactorRequired,
        session::SecondFactorRequest,
    )),
    modifiers(&ContractSecurity),
    tags(
        (name = "Accounts", description = "Create, find and delete the operator's customers (interworks.cloud service-manager contract)."),
        (name = "Fields", description = "What Mailroom declares to the BSS: its product types (Fields/ServiceDefinition), its setup fields and their check, and what it is (interworks.cloud service-manager contract)."),
        (name = "Subscriptions", description = "What a customer bought: create, change, suspend, activate and cancel subscriptions, each change recorded with its TrackId; `CheckOnly: true` validates and changes nothing (interworks.cloud service-manager contract)."),
        (name = "Addons", description = "Add-ons of a subscription (e.g. mail archiving): create, change and cancel them through the parent's ServiceDefinition; they follow their subscription's status (interworks.cloud service-manager contract)."),
        (name = "Users", description = "A customer's mailboxes on its domain and the seats of its subscriptions they hold: list, add (idempotent per address), change, disable, activate, provision, deprovision, delete; passwords are hashed and never answered (interworks.cloud service-manager contract)."),
        (name = "Health", description = "Liveness and readiness probes."),
        (name = "Integrations", description = "Outside platforms (Super Admin only): each integration's settings with its secrets encrypted at rest and shown masked, Test configuration, and ConnectWise Manage's service assignments (plan to catalog item) and customer agreements for the nightly quantity sync."),
        (name = "Operator", description = "The operator API: sign in with POST /operator/api/sessions, then send `Authorization: Bearer <token>`. Roles: super_admin, admin (edits templates and plans, retries mail), mail_admin (reads and previews)."),
    )
)]
pub struct ApiDoc;

struct ContractSecurity;

impl Modify for ContractSecurity {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "ApplicationId",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                APPLICATION_ID_HEADER,
                "The registered application's id (a UUID).",
            ))),
        );
        components.add_security_scheme(
            "ApiKey",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                API_KEY_HEADER,
                "The application's key, as issued or base64-encoded.",
            ))),
        );
        components.add_security_scheme(
            "OperatorSession",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("The token from POST /operator/api/sessions."))
                    .build(),
            ),
        );
    }
}

/// The document with contract paths under `prefix` instead of `/api/`.
pub fn document(prefix: &str) -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    if prefix != DOCUMENTED_PREFIX {
        let paths = std::mem::take(&mut doc.paths.paths);
        doc.paths.paths = paths
            .into_iter()
            .map(|(path, item)| match path.strip_prefix(DOCUMENTED_PREFIX) {
                Some(rest) => (format!("{prefix}{rest}"), item),
                None => (path, item),
            })
            .collect();
    }
    doc
}

/// The committed document's text: pretty JSON with a final newline.
pub fn document_json() -> String {
    let mut text = ApiDoc::openapi()
        .to_pretty_json()
        .expect("the OpenAPI document serializes");
    text.push('\n');
    text
}
