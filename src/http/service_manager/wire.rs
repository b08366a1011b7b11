//! The contract's wire types, PascalCase as the BSS speaks them, and their
//! conversion to and from domain types.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;
use validator::{Validate, ValidationError, ValidationErrors, ValidationErrorsKind};

use crate::domain::customer::{
    AccountProfile, AccountSubmission, AddressProfile, ContactProfile, ResellerRef, CUSTOMER_ID_KEY,
};
use crate::domain::sync_options::{
    DataType, OptionKind, PredefinedValue, SyncOptionCatalog, SyncOptionDefinition,
    UsernameFallbacks,
};
use crate::domain::{Rejection, ResultCode};

/// Longest BSS id or ExternalID accepted.
const MAX_ID_LEN: usize = 100;

/// The account of Synchronize, Exists and Delete (the contract's
/// AccountDefinition). Every field may be null or empty; names are matched
/// case-insensitively and unknown fields are ignored.
#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
#[serde(rename_all = "PascalCase")]
#[schema(example = json!(seed_account_example()))]
pub struct AccountDefinition {
    /// The BSS account id.
    #[serde(rename = "ID")]
    pub id: Option<String>,
    /// Mailroom's id of the customer, empty until Synchronize answered it.
    #[serde(rename = "ExternalID")]
    pub external_id: Option<String>,
    /// The BSS id of the reseller the account is sold through (its own id
    /// for a reseller's account).
    #[serde(rename = "ResellerID")]
    pub reseller_id: Option<String>,
    /// The ExternalID Mailroom answered for the reseller.
    #[serde(rename = "ResellerExternalID")]
    pub reseller_external_id: Option<String>,
    #[validate(
        required(code = "required"),
        length(max = 200),
        custom(function = "single_line")
    )]
    pub name: Option<String>,
    #[validate(length(max = 100), custom(function = "single_line"))]
    pub code: Option<String>,
    #[validate(length(max = 50), custom(function = "single_line"))]
    pub phone: Option<String>,
    #[validate(length(max = 50), custom(function = "single_line"))]
    pub fax: Option<String>,
    #[validate(length(max = 255), custom(function = "single_line"))]
    pub web_site: Option<String>,
    #[validate(length(max = 254), email)]
    pub email: Option<String>,
    #[validate(length(max = 2000), custom(function = "multi_line"))]
    pub description: Option<String>,
    /// Saved by the BSS from an earlier `AccountExtraInfo` and sent back.
    #[schema(value_type = Option<Object>)]
    pub extra_details: Option<BTreeMap<String, Value>>,
    /// Option id → value, for the options `Accounts/SyncOptions` declares.
    #[schema(value_type = Option<Object>)]
    pub sync_options: Option<BTreeMap<String, Value>>,
    #[validate(nested)]
    pub contact_details: Option<ContactDetails>,
    #[validate(nested)]
    pub address: Option<Address>,
    /// Sent by newer BSS versions for test accounts.
    pub is_test: Option<bool>,
}

/// The account's primary contact.
#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ContactDetails {
    #[serde(rename = "ID")]
    #[validate(length(max = 100), custom(function = "single_line"))]
    pub id: Option<String>,
    #[validate(length(max = 100), custom(function = "single_line"))]
    pub first_name: Option<String>,
    #[validate(length(max = 100), custom(function = "single_line"))]
    pub last_name: Option<String>,
    #[validate(length(max = 50), custom(function = "single_line"))]
    pub phone: Option<String>,
    #[validate(length(max = 50), custom(function = "single_line"))]
    pub fax: Option<String>,
    #[validate(length(max = 254), email)]
    pub email: Option<String>,
}

/// The account's billing address (or its first address).
#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct Address {
    #[validate(length(max = 200), custom(function = "single_line"))]
    pub address1: Option<String>,
    #[validate(length(max = 200), custom(function = "single_line"))]
    pub address2: Option<String>,
    #[validate(length(max = 100), custom(function = "single_line"))]
    pub city: Option<String>,
    #[validate(length(max = 20), custom(function = "single_line"))]
    pub post_code: Option<String>,
    #[validate(nested)]
    pub state: Option<Region>,
    #[validate(nested)]
    pub country: Option<Region>,
}

/// A state or country.
#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct Region {
    #[validate(length(max = 10), custom(function = "single_line"))]
    pub code: Option<String>,
    #[validate(length(max = 100), custom(function = "single_line"))]
    pub name: Option<String>,
}

fn single_line(value: &str) -> Result<(), ValidationError> {
    if value.chars().any(char::is_control) {
        return Err(ValidationError::new("control_characters"));
    }
    Ok(())
}

fn multi_line(value: &str) -> Result<(), ValidationError> {
    if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(ValidationError::new("control_characters"));
    }
    Ok(())
}

impl AccountDefinition {
    /// The ExternalID, or the one saved in `ExtraDetails` when the BSS sent
    /// the call without it.
    pub fn effective_external_id(&self) -> Option<String> {
        self.external_id.clone().or_else(|| {
            self.extra_details
                .as_ref()?
                .get(CUSTOMER_ID_KEY)?
                .as_str()
                .map(str::trim)
                .filter(|id| !id.is_empty())
                .map(str::to_owned)
        })
    }

    fn reseller_bss_id(&self) -> Option<String> {
        self.reseller_id.clone()
    }

    /// Sync option values as text (numbers and booleans are written out;
    /// a list becomes comma-separated).
    pub fn option_texts(&self) -> Result<BTreeMap<String, String>, Rejection> {
        let Some(options) = &self.sync_options else {
            return Ok(BTreeMap::new());
        };
        let mut texts = BTreeMap::new();
        for (key, value) in options {
            if let Some(text) = scalar_text(value).map_err(|()| {
                Rejection::new(
                    ResultCode::BadRequest,
                    format!(
                        "SyncOptions.{key} must be text, a number, a boolean or a list of those."
                    ),
                )
            })? {
                texts.insert(key.clone(), text);
            }
        }
        Ok(texts)
    }

    fn username_fallbacks(&self) -> UsernameFallbacks<'_> {
        UsernameFallbacks {
            account_email: self.email.as_deref(),
            contact_email: self
                .contact_details
                .as_ref()
                .and_then(|c| c.email.as_deref()),
        }
    }

    /// The identifying values of the request, for Exists.
    pub fn identity_values(
        &self,
        catalog: &SyncOptionCatalog,
    ) -> Result<Vec<(String, String)>, Rejection> {
        Ok(catalog.identity_values(&self.option_texts()?))
    }

    /// Checks identifiers that only BSS staff can fix (HTTP 400).
    pub fn check_ids(&self) -> Result<(), Rejection> {
        for (field, value) in [
            ("ID", &self.id),
            ("ExternalID", &self.external_id),
            ("ResellerID", &self.reseller_id),
            ("ResellerExternalID", &self.reseller_external_id),
        ] {
            if let Some(value) = value {
                if value.chars().count() > MAX_ID_LEN || value.chars().any(char::is_control) {
                    return Err(Rejection::new(
                        ResultCode::BadRequest,
                        format!("{field} must be at most {MAX_ID_LEN} printable characters."),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Validates the account for Synchronize.
    pub fn to_submission(
        &self,
        catalog: &SyncOptionCatalog,
    ) -> Result<AccountSubmission, Rejection> {
        self.check_ids()?;
        let Some(bss_account_id) = self.id.clone() else {
            return Err(Rejection::new(
                ResultCode::BadRequest,
                "ID (the BSS account id) is required.",
            ));
        };
        if let Err(errors) = self.validate() {
            return Err(rejection_for(&errors));
        }
        let options = catalog.parse_values(&self.option_texts()?, self.username_fallbacks())?;
        let contact = self.contact_details.as_ref().map(|c| ContactProfile {
            bss_contact_id: c.id.clone(),
            first_name: c.first_name.clone(),
            last_name: c.last_name.clone(),
            phone: c.phone.clone(),
            fax: c.fax.clone(),
            email: c.email.clone(),
        });
        let address = self.address.as_ref().map(|a| AddressProfile {
            address1: a.address1.clone(),
            address2: a.address2.clone(),
            city: a.city.clone(),
            post_code: a.post_code.clone(),
            state_code: a.state.as_ref().and_then(|s| s.code.clone()),
            state_name: a.state.as_ref().and_then(|s| s.name.clone()),
            country_code: a.country.as_ref().and_then(|c| c.code.clone()),
            country_name: a.country.as_ref().and_then(|c| c.name.clone()),
        });
        Ok(AccountSubmission {
            bss_account_id,
            external_id: self.effective_external_id(),
            reseller: ResellerRef {
                bss_id: self.reseller_bss_id(),
                external_id: self.reseller_external_id.clone(),
            },
            profile: AccountProfile {
                name: self.name.clone().unwrap_or_default(),
                code: self.code.clone(),
                phone: self.phone.clone(),
                fax: self.fax.clone(),
                website: self.web_site.clone(),
                email: self.email.clone(),
                description: self.description.clone(),
            },
            contact,
            address,
            extra_details: self.extra_details.clone().unwrap_or_default(),
            options,
            is_test: self.is_test.unwrap_or(false),
        })
    }
}

fn scalar_text(value: &Value) -> Result<Option<String>, ()> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::Bool(b) => Ok(Some(b.to_string())),
        Value::Array(items) => {
            let parts = items
                .iter()
                .map(|item| match item {
                    Value::Array(_) | Value::Object(_) => Err(()),
                    scalar => Ok(scalar_text(scalar)?.unwrap_or_default()),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Some(parts.join(",")))
        }
        Value::Object(_) => Err(()),
    }
}

/// Turns validation errors into one storefront rejection: the code of the
/// first error (in a stable order) and every message, so the customer can
/// fix them all at once.
fn rejection_for(errors: &ValidationErrors) -> Rejection {
    let mut found = Vec::new();
    collect_errors("", errors, &mut found);
    found.sort_by(|a, b| {
        a.0.code()
            .abs()
            .cmp(&b.0.code().abs())
            .then_with(|| a.1.cmp(&b.1))
    });
    found.dedup_by(|a, b| a.1 == b.1);
    let code = found
        .first()
        .map_or(ResultCode::TextInvalidCharacters, |(code, _)| *code);
    let message = found
        .into_iter()
        .map(|(_, message)| message)
        .collect::<Vec<_>>()
        .join(" ");
    Rejection::new(code, message)
}

fn collect_errors(prefix: &str, errors: &ValidationErrors, found: &mut Vec<(ResultCode, String)>) {
    for (field, kind) in errors.errors() {
        let path = if prefix.is_empty() {
            field.to_string()
        } else {
            format!("{prefix}.{field}")
        };
        match kind {
            ValidationErrorsKind::Field(list) => {
                found.extend(list.iter().map(|error| describe_error(&path, error)));
            }
            ValidationErrorsKind::Struct(inner) => collect_errors(&path, inner, found),
            ValidationErrorsKind::List(items) => {
                for inner in items.values() {
                    collect_errors(&path, inner, found);
                }
            }
        }
    }
}

/// What a shop customer calls a field, by its path (Rust or wire names).
fn field_label(path: &str) -> String {
    let key: String = path
        .chars()
        .filter(|c| *c != '_')
        .collect::<String>()
        .to_lowercase();
    let label = match key.as_str() {
        "name" => "The account name",
        "code" => "The account code",
        "phone" => "The phone number",
        "fax" => "The fax number",
        "website" => "The website address",
        "email" => "The email address",
        "description" => "The description",
        "contactdetails.id" => "The contact id",
        "contactdetails.firstname" => "The contact's first name",
        "contactdetails.lastname" => "The contact's last name",
        "contactdetails.phone" => "The contact's phone number",
        "contactdetails.fax" => "The contact's fax number",
        "contactdetails.email" => "The contact's email address",
        "address.address1" | "address.address2" => "The street address",
        "address.city" => "The city",
        "address.postcode" => "The postal code",
        "address.state.code" | "address.state.name" => "The state",
        "address.country.code" | "address.country.name" => "The country",
        _ => "A field",
    };
    label.to_owned()
}

fn describe_error(path: &str, error: &ValidationError) -> (ResultCode, String) {
    let label = field_label(path);
    let is_contact = path.to_lowercase().starts_with("contact");
    match error.code.as_ref() {
        "required" => (
            ResultCode::NameRequired,
            "Please enter the name of your company or account.".to_owned(),
        ),
        "length" => {
            let max = error
                .params
                .get("max")
                .map(ToString::to_string)
                .unwrap_or_default();
            (
                ResultCode::TextTooLong,
                format!("{label} is too long: use at most {max} characters."),
            )
        }
        "email" if is_contact => (
            ResultCode::ContactEmailInvalid,
            "Please enter a valid email address for the contact person.".to_owned(),
        ),
        "email" => (
            ResultCode::AccountEmailInvalid,
            "Please enter a valid email address for the account.".to_owned(),
        ),
        _ => (
            ResultCode::TextInvalidCharacters,
            format!("{label} contains characters that are not allowed."),
        ),
    }
}

/// The result envelope of every contract answer. `Code`/`Message` (the
/// sample's model) and `ErrorCode`/`ErrorMessage` (the contract page) carry
/// the same values so every BSS version reads them.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ResultEnvelope {
    #[serde(rename = "Code")]
    pub code: i32,
    #[serde(rename = "Message")]
    pub message: String,
    #[serde(rename = "ErrorCode")]
    pub error_code: i32,
    #[serde(rename = "ErrorMessage")]
    pub error_message: String,
    /// The ExternalID, where there is one.
    #[serde(rename = "Result", skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    /// Synchronize: saved by the BSS, sent back as ExtraDetails, and usable
    /// as `[#key#]` merge fields.
    #[serde(rename = "AccountExtraInfo", skip_serializing_if = "Option::is_none")]
    pub account_extra_info: Option<BTreeMap<String, String>>,
    /// Synchronize in BSS notification mode, when the customer was created:
    /// the password for the `[#Password#]` merge field. Never sent again.
    #[serde(rename = "GeneratedPassword", skip_serializing_if = "Option::is_none")]
    pub generated_password: Option<String>,
    /// Synchronize: true asks the BSS to send its access-instructions email.
    #[serde(rename = "SendNotification", skip_serializing_if = "Option::is_none")]
    pub send_notification: Option<bool>,
}

impl ResultEnvelope {
    pub fn new(code: ResultCode, message: impl Into<String>) -> Self {
        let message = message.into();
        Self {
            code: code.code(),
            message: message.clone(),
            error_code: code.code(),
            error_message: message,
            result: None,
            account_extra_info: None,
            generated_password: None,
            send_notification: None,
        }
    }

    pub fn rejected(rejection: Rejection) -> Self {
        Self::new(rejection.code, rejection.message)
    }

    pub fn with_result(mut self, external_id: impl Into<String>) -> Self {
        self.result = Some(external_id.into());
        self
    }

    pub fn result_code(&self) -> ResultCode {
        ResultCode::from_code(self.code).unwrap_or(ResultCode::InternalError)
    }
}

/// The answer of `Accounts/SyncOptions`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct SyncOptionsResult {
    pub code: i32,
    pub message: String,
    pub error_code: i32,
    pub error_message: String,
    pub fields: Vec<SyncOptionField>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SyncOptionField {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Definition")]
    pub definition: SyncOptionDefinitionWire,
}

/// A sync option as the BSS reads it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct SyncOptionDefinitionWire {
    #[serde(rename = "ID")]
    pub id: String,
    pub sort_order: i32,
    pub name: String,
    pub description: Option<String>,
    pub kind: OptionKind,
    pub data_type: DataType,
    pub is_required: bool,
    pub predefined_values: Vec<PredefinedValue>,
    pub is_read_only: bool,
    pub available_to_storefront: bool,
}

impl From<&SyncOptionDefinition> for SyncOptionField {
    fn from(definition: &SyncOptionDefinition) -> Self {
        Self {
            id: definition.id.clone(),
            definition: SyncOptionDefinitionWire {
                id: definition.id.clone(),
                sort_order: definition.sort_order,
                name: definition.name.clone(),
                description: definition.description.clone(),
                kind: definition.kind,
                data_type: definition.data_type,
                is_required: definition.is_required,
                predefined_values: definition.predefined_values.clone(),
                is_read_only: definition.is_read_only,
                available_to_storefront: definition.available_to_storefront,
            },
        }
    }
}

impl SyncOptionsResult {
    pub fn from_catalog(catalog: &SyncOptionCatalog) -> Self {
        Self {
            code: 0,
            message: String::new(),
            error_code: 0,
            error_message: String::new(),
            fields: catalog
                .definitions()
                .iter()
                .map(SyncOptionField::from)
                .collect(),
        }
    }
}

/// The contract page's example account, with the mail domain Mailroom asks for.
pub fn seed_account_example() -> Value {
    json!({
        "ID": "3000",
        "ExternalID": "",
        "ResellerID": "",
        "ResellerExternalID": "",
        "Name": "Direct Customer Example",
        "Code": "DIRECT-Example",
        "Phone": "323-999-4500",
        "Fax": "323-999-5500",
        "WebSite": "https://www.direct.com",
        "Email": "info@direct.com",
        "Description": "A direct customer account example",
        "SyncOptions": {
            "username": "info@direct.com",
            "domain": "direct.com",
            "role": "1"
        },
        "ContactDetails": {
            "ID": "15200",
            "FirstName": "User",
            "LastName": "Direct Customer",
            "Phone": "323-999-4505",
            "Fax": "323-999-5505",
            "Email": "user@direct.com"
        },
        "Address": {
            "Address1": "123 Main Street",
            "Address2": "Unit 12",
            "City": "Chicago",
            "PostCode": "94903",
            "State": {"Code": "CA", "Name": "California"},
            "Country": {"Code": "US", "Name": "United States"}
        },
        "ExtraDetails": {}
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::service_manager::bss_json;

    fn account(value: Value) -> AccountDefinition {
        bss_json::from_value(value).unwrap()
    }

    #[test]
    fn validation_messages_are_for_shop_customers() {
        let definition = account(json!({
            "ID": "1",
            "Name": "x".repeat(201),
            "Email": "not-an-email",
            "ContactDetails": {"Email": "also wrong"}
        }));
        let rejection = rejection_for(&definition.validate().unwrap_err());
        assert_eq!(rejection.code, ResultCode::TextTooLong);
        assert!(rejection
            .message
            .contains("The account name is too long: use at most 200 characters."));
        assert!(rejection
            .message
            .contains("valid email address for the account"));
        assert!(rejection
            .message
            .contains("valid email address for the contact person"));
    }

    #[test]
    fn missing_name_and_control_characters() {
        let rejection = rejection_for(&account(json!({"ID": "1"})).validate().unwrap_err());
        assert_eq!(rejection.code, ResultCode::NameRequired);
        let rejection = rejection_for(
            &account(json!({"ID": "1", "Name": "a\u{0}b"}))
                .validate()
                .unwrap_err(),
        );
        assert_eq!(rejection.code, ResultCode::TextInvalidCharacters);
        assert!(rejection.message.starts_with("The account name contains"));
    }

    #[test]
    fn option_texts_accept_scalars_only() {
        let definition =
            account(json!({"SyncOptions": {"a": 5, "b": true, "c": ["x", 1], "d": null}}));
        let texts = definition.option_texts().unwrap();
        assert_eq!(texts["a"], "5");
        assert_eq!(texts["b"], "true");
        assert_eq!(texts["c"], "x,1");
        assert!(!texts.contains_key("d"));
        let nested = account(json!({"SyncOptions": {"a": {"b": 1}}}));
        assert_eq!(
            nested.option_texts().unwrap_err().code,
            ResultCode::BadRequest
        );
    }

    #[test]
    fn external_id_falls_back_to_extra_details() {
        let definition =
            account(json!({"ExternalID": "", "ExtraDetails": {"customer_id": "cus_1"}}));
        assert_eq!(definition.effective_external_id().as_deref(), Some("cus_1"));
    }
}
