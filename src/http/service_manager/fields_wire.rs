//! The wire types of the `Fields/*` calls, PascalCase as the BSS reads
//! them, built from the catalog's domain types.
//!
//! Optional numbers the .NET model holds as plain `int`s (`QuantityLimit`,
//! `SliderMin`.., `MaxLength`) are left out when Mailroom has none: a
//! missing property keeps the model's default, where a `null` would fail
//! Newtonsoft's read of a non-nullable int.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::domain::catalog::setup_fields::SetupField;
use crate::domain::catalog::{
    AttributeChoice, AttributeDefinition, AttributeKind, AttributeUsage, ProductType, Scope,
};

/// `Fields/ServiceDefinition`: the product types Mailroom declares, with
/// the result envelope's fields beside them (as `Accounts/SyncOptions`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceDefinitionResult {
    pub code: i32,
    pub message: String,
    pub error_code: i32,
    pub error_message: String,
    pub product_types: Vec<ProductTypeDefinition>,
}

impl ServiceDefinitionResult {
    pub fn new(product_types: &[ProductType]) -> Self {
        Self {
            code: 0,
            message: String::new(),
            error_code: 0,
            error_message: String::new(),
            product_types: product_types
                .iter()
                .map(ProductTypeDefinition::from)
                .collect(),
        }
    }
}

/// A product type (the contract's ProductTypeDefinition); its `ID` is the
/// `ServiceType` of later Subscriptions calls.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ProductTypeDefinition {
    #[serde(rename = "ID")]
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub portal_url: Option<String>,
    pub allow_multiple_subscriptions: bool,
    /// Absent: no limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantity_limit: Option<i32>,
    pub scope: Scope,
    pub attribute_list: Vec<AttributeDefinitionWire>,
}

/// An attribute of a product type (the contract's AttributeDefinition).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct AttributeDefinitionWire {
    #[serde(rename = "ID")]
    pub id: String,
    pub sort_order: i32,
    pub name: String,
    pub description: Option<String>,
    pub usage: AttributeUsage,
    pub kind: AttributeKind,
    pub is_required: bool,
    /// The value is per unit of the subscription's quantity (per mailbox).
    pub linked_to_quantity: bool,
    pub allow_unlimited: bool,
    pub predefined_values: Vec<AttributeChoice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slider_min: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slider_max: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slider_step: Option<i64>,
}

impl From<&ProductType> for ProductTypeDefinition {
    fn from(product_type: &ProductType) -> Self {
        Self {
            id: product_type.id.clone(),
            name: product_type.name.clone(),
            description: product_type.description.clone(),
            portal_url: product_type.portal_url.clone(),
            allow_multiple_subscriptions: product_type.allow_multiple_subscriptions,
            quantity_limit: product_type.quantity_limit,
            scope: product_type.scope,
            attribute_list: product_type
                .attributes
                .iter()
                .map(AttributeDefinitionWire::from)
                .collect(),
        }
    }
}

impl From<&AttributeDefinition> for AttributeDefinitionWire {
    fn from(attribute: &AttributeDefinition) -> Self {
        Self {
            id: attribute.id.clone(),
            sort_order: attribute.sort_order,
            name: attribute.name.clone(),
            description: attribute.description.clone(),
            usage: attribute.usage,
            kind: attribute.kind,
            is_required: attribute.is_required,
            linked_to_quantity: attribute.linked_to_quantity,
            allow_unlimited: attribute.allow_unlimited,
            predefined_values: attribute.predefined_values.clone(),
            slider_min: attribute.slider_min,
            slider_max: attribute.slider_max,
            slider_step: attribute.slider_step,
        }
    }
}

/// A setup field (the contract's FieldDefinition). `Kind` is a number, as
/// the interworks sample sends it: 0 Text, 1 PasswordText, 2 Url,
/// 3 Integer, 4 PredefinedChooseOne, 5 PredefinedChooseMany,
/// 6 CustomMultipleValues, 7 MultiLineTextBox, 8 Checkbox, 9 Hidden,
/// 10 Label, 11 CertificateFile.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct FieldDefinition {
    #[serde(rename = "ID")]
    pub id: String,
    pub sort_order: i32,
    pub name: String,
    pub description: String,
    #[schema(minimum = 0, maximum = 11)]
    pub kind: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_length: Option<usize>,
    pub is_required: bool,
    /// Value → label, for the Predefined kinds.
    pub predefined_values: BTreeMap<String, String>,
    pub initial_value: Option<String>,
}

impl From<&SetupField> for FieldDefinition {
    fn from(field: &SetupField) -> Self {
        Self {
            id: field.id.to_owned(),
            sort_order: field.sort_order,
            name: field.name.to_owned(),
            description: field.description.to_owned(),
            kind: field.kind.number(),
            max_length: field.max_length,
            is_required: field.is_required,
            predefined_values: field.predefined_values.iter().cloned().collect(),
            initial_value: field.initial_value.clone(),
        }
    }
}

/// The body of `Fields/Validate`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ValidateRequest {
    #[serde(default)]
    pub fields: Option<Vec<FieldValue>>,
}

/// A submitted setup value; `Definition` (the field as declared) is ignored.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct FieldValue {
    #[serde(rename = "ID")]
    pub id: Option<String>,
    /// A string; several values as a list (or joined with `|`).
    #[schema(value_type = Option<Object>)]
    pub value: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub definition: Option<Value>,
}

impl ValidateRequest {
    /// Field id → value as text (a list joined with `|`).
    pub fn values(&self) -> BTreeMap<String, String> {
        self.fields
            .iter()
            .flatten()
            .filter_map(|field| {
                let id = field.id.clone()?;
                let value = match &field.value {
                    None | Some(Value::Null) => String::new(),
                    Some(Value::String(text)) => text.clone(),
                    Some(Value::Array(items)) => items
                        .iter()
                        .map(|item| match item {
                            Value::String(text) => text.clone(),
                            other => other.to_string(),
                        })
                        .collect::<Vec<_>>()
                        .join("|"),
                    Some(other) => other.to_string(),
                };
                Some((id, value))
            })
            .collect()
    }
}

/// `Fields/AdditionalInfo`: what this service manager is.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct AdditionalInfo {
    pub name: String,
    pub version: String,
    /// The contract actions Mailroom implements, e.g. `Accounts/Synchronize`.
    pub supported_endpoints: Vec<String>,
}
