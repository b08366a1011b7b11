//! The catalog: the product types Mailroom declares to the BSS
//! (`Fields/ServiceDefinition`), their attributes, and the plans sold of
//! them, with the rules a plan obeys. `setup_fields` holds the
//! integration's setup fields (`Fields/Get`, `Fields/Validate`).

pub mod setup_fields;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Declares a contract enum stored and sent as its variant's name.
macro_rules! contract_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The contract's spelling, also the stored one.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => stringify!($variant)),+ }
            }

            /// The contract's spelling, exactly.
            pub fn parse(text: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str() == text)
            }
        }
    };
}

contract_enum!(
    /// Who may subscribe to a product type.
    Scope { Customer, Reseller, Both }
);

contract_enum!(
    /// Where an attribute's value comes from and who sees it.
    AttributeUsage {
        /// Fixed by the plan (e.g. storage per mailbox).
        ProductCharacteristic,
        /// Asked when ordering.
        OrderCharacteristic,
        /// Not shown.
        HiddenCharacteristic,
    }
);

contract_enum!(
    /// The kind of value an attribute holds.
    AttributeKind {
        Text,
        Numeric,
        DateTime,
        Boolean,
        PredefinedChooseOne,
        PredefinedChooseMany,
        CustomMultipleValues,
        Slider,
    }
);

/// A value an attribute offers (for the Predefined kinds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct AttributeChoice {
    #[serde(rename = "ID")]
    pub id: String,
    pub code: Option<String>,
    pub name: String,
    #[serde(default)]
    pub is_default: bool,
}

/// A characteristic of a product type.
#[derive(Debug, Clone, PartialEq)]
pub struct AttributeDefinition {
    pub id: String,
    pub sort_order: i32,
    pub name: String,
    pub description: Option<String>,
    pub usage: AttributeUsage,
    pub kind: AttributeKind,
    pub is_required: bool,
    /// The value scales with the subscription's quantity (per seat).
    pub linked_to_quantity: bool,
    pub allow_unlimited: bool,
    pub predefined_values: Vec<AttributeChoice>,
    pub slider_min: Option<i64>,
    pub slider_max: Option<i64>,
    pub slider_step: Option<i64>,
}

/// A product type, the contract's ServiceType.
#[derive(Debug, Clone, PartialEq)]
pub struct ProductType {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub portal_url: Option<String>,
    pub allow_multiple_subscriptions: bool,
    /// `None`: no limit.
    pub quantity_limit: Option<i32>,
    pub scope: Scope,
    /// In their sort order.
    pub attributes: Vec<AttributeDefinition>,
    /// Sold as an add-on of a subscription (`Addons/*`), never on its own.
    /// Not on the wire: the contract's ProductTypeDefinition has no such field.
    pub is_addon: bool,
}

/// The seeded product type of mailboxes.
pub const HOSTED_MAILBOX: &str = "hosted_mailbox";
/// The seeded add-on type.
pub const ARCHIVING: &str = "archiving";

/// The unit of a billing period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BillingUnit {
    Days,
    Months,
    Years,
}

impl BillingUnit {
    pub const ALL: [BillingUnit; 3] = [Self::Days, Self::Months, Self::Years];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Days => "days",
            Self::Months => "months",
            Self::Years => "years",
        }
    }

    /// `months`, `Months`, `month` (the BSS's BillingCycle DurationType
    /// spells them capitalized and plural).
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().trim_end_matches('s') {
            "day" => Some(Self::Days),
            "month" => Some(Self::Months),
            "year" => Some(Self::Years),
            _ => None,
        }
    }
}

/// How often a plan is billed: every `count` `unit`s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BillingPeriod {
    pub count: i32,
    pub unit: BillingUnit,
}

/// An ISO 4217 currency code: three upper-case letters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Currency(String);

impl Currency {
    /// Accepts `eur` as `EUR`; refuses anything but three ASCII letters.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        (text.len() == 3 && text.bytes().all(|b| b.is_ascii_alphabetic()))
            .then(|| Self(text.to_ascii_uppercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A unit price in minor units (cents) of its currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Price {
    pub minor_units: i64,
    pub currency: Currency,
}

/// Where a plan came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlanSource {
    /// Recorded from a BSS call naming an unknown ProductID.
    Bss,
    /// Created by an operator.
    Console,
    Distributor,
    MemberPlatform,
}

impl PlanSource {
    pub const ALL: [PlanSource; 4] = [
        Self::Bss,
        Self::Console,
        Self::Distributor,
        Self::MemberPlatform,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bss => "bss",
            Self::Console => "console",
            Self::Distributor => "distributor",
            Self::MemberPlatform => "member_platform",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// Longest plan name, in characters.
pub const MAX_PLAN_NAME_LEN: usize = 200;
/// Longest plan code, in characters.
pub const MAX_PLAN_CODE_LEN: usize = 100;

/// What a plan is, whether new or edited: everything but its ids.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanTerms {
    pub product_type: String,
    pub name: String,
    pub code: Option<String>,
    /// Attribute id → value.
    pub attribute_values: BTreeMap<String, String>,
    /// `None` until an operator prices a plan recorded from the BSS.
    pub price: Option<Price>,
    pub billing_period: Option<BillingPeriod>,
    /// Offered to partner platforms.
    pub visible: bool,
    /// Kept for existing subscriptions, never sold to new ones.
    pub deprecated: bool,
}

impl PlanTerms {
    /// A deprecated plan is never sold.
    pub fn is_sellable(&self) -> bool {
        !self.deprecated
    }
}

/// A plan as the parts of the code that sell it see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Stable and public: `plan_` and a ULID.
    pub public_id: String,
    pub application_id: Option<i64>,
    pub product_id: Option<String>,
    pub source: PlanSource,
    pub terms: PlanTerms,
}

/// A new plan's public id: `plan_` and a lower-case ULID.
pub fn new_plan_id() -> String {
    format!("plan_{}", ulid::Ulid::new().to_string().to_lowercase())
}

/// A plan as an operator submits it, its values still text where they
/// must be checked.
#[derive(Debug, Clone, Default)]
pub struct PlanDraft {
    pub product_type: String,
    pub name: String,
    pub code: Option<String>,
    pub attribute_values: BTreeMap<String, String>,
    pub unit_price_minor: Option<i64>,
    pub currency: Option<String>,
    pub billing_period_count: Option<i32>,
    pub billing_period_unit: Option<String>,
    pub visible: bool,
    pub deprecated: bool,
}

impl PlanDraft {
    /// The plan's terms, or every problem found (one message each).
    /// `product_type` is the type the plan names, when it exists.
    pub fn check(self, product_type: Option<&ProductType>) -> Result<PlanTerms, Vec<String>> {
        let mut problems = Vec::new();
        let name = self.name.trim().to_owned();
        if name.is_empty() {
            problems.push("The plan needs a name.".to_owned());
        } else if name.chars().count() > MAX_PLAN_NAME_LEN || name.chars().any(char::is_control) {
            problems.push(format!(
                "The name must be one line of at most {MAX_PLAN_NAME_LEN} characters."
            ));
        }
        let code = self
            .code
            .map(|c| c.trim().to_owned())
            .filter(|c| !c.is_empty());
        if code.as_ref().is_some_and(|c| {
            c.chars().count() > MAX_PLAN_CODE_LEN || c.chars().any(char::is_control)
        }) {
            problems.push(format!(
                "The code must be one line of at most {MAX_PLAN_CODE_LEN} characters."
            ));
        }
        match product_type {
            None => problems.push(format!("There is no product type {:?}.", self.product_type)),
            Some(product_type) => {
                for id in self.attribute_values.keys() {
                    if !product_type.attributes.iter().any(|a| &a.id == id) {
                        problems.push(format!(
                            "Product type {} has no attribute {id:?}.",
                            product_type.id
                        ));
                    }
                }
            }
        }
        let price = match (self.unit_price_minor, self.currency.as_deref()) {
            (None, None) => None,
            (Some(minor), Some(currency)) => {
                if minor < 0 {
                    problems.push("The unit price cannot be negative.".to_owned());
                }
                match Currency::parse(currency) {
                    Some(currency) => Some(Price {
                        minor_units: minor,
                        currency,
                    }),
                    None => {
                        problems.push(format!(
                            "The currency {currency:?} is not a three-letter ISO 4217 code."
                        ));
                        None
                    }
                }
            }
            _ => {
                problems.push("Give the unit price and its currency together.".to_owned());
                None
            }
        };
        let billing_period = match (
            self.billing_period_count,
            self.billing_period_unit.as_deref(),
        ) {
            (None, None) => None,
            (Some(count), Some(unit)) => {
                if count <= 0 {
                    problems.push("The billing period must be at least 1.".to_owned());
                }
                match BillingUnit::parse(unit) {
                    Some(unit) => Some(BillingPeriod { count, unit }),
                    None => {
                        problems.push(format!(
                            "The billing period unit {unit:?} is not days, months or years."
                        ));
                        None
                    }
                }
            }
            _ => {
                problems.push("Give the billing period's count and unit together.".to_owned());
                None
            }
        };
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(PlanTerms {
            product_type: self.product_type,
            name,
            code,
            attribute_values: self.attribute_values,
            price,
            billing_period,
            visible: self.visible,
            deprecated: self.deprecated,
        })
    }
}

impl From<&PlanTerms> for PlanDraft {
    fn from(terms: &PlanTerms) -> Self {
        Self {
            product_type: terms.product_type.clone(),
            name: terms.name.clone(),
            code: terms.code.clone(),
            attribute_values: terms.attribute_values.clone(),
            unit_price_minor: terms.price.as_ref().map(|p| p.minor_units),
            currency: terms.price.as_ref().map(|p| p.currency.as_str().to_owned()),
            billing_period_count: terms.billing_period.map(|b| b.count),
            billing_period_unit: terms.billing_period.map(|b| b.unit.as_str().to_owned()),
            visible: terms.visible,
            deprecated: terms.deprecated,
        }
    }
}

/// The terms of a plan recorded from a BSS call that named an unknown
/// ProductID: its name and attributes as the call gave them (only the ones
/// the product type declares), no price yet, not offered to partners.
pub fn recorded_plan_terms(
    product_type: &ProductType,
    name: &str,
    attributes: &BTreeMap<String, String>,
) -> PlanTerms {
    let name: String = name
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_PLAN_NAME_LEN)
        .collect();
    PlanTerms {
        product_type: product_type.id.clone(),
        name: if name.is_empty() {
            product_type.name.clone()
        } else {
            name
        },
        code: None,
        attribute_values: attributes
            .iter()
            .filter(|(id, _)| product_type.attributes.iter().any(|a| &a.id == *id))
            .map(|(id, value)| (id.clone(), value.clone()))
            .collect(),
        price: None,
        billing_period: None,
        visible: false,
        deprecated: false,
    }
}

/// Longest product type or attribute id.
pub const MAX_TYPE_ID_LEN: usize = 64;
/// Most attributes of one product type.
pub const MAX_ATTRIBUTES: usize = 50;

fn is_identifier(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_TYPE_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && id.as_bytes()[0].is_ascii_lowercase()
}

fn is_one_line(text: &str, max: usize) -> bool {
    !text.trim().is_empty() && text.chars().count() <= max && !text.chars().any(char::is_control)
}

impl ProductType {
    /// Checks a product type an operator adds or edits: every problem, one
    /// message each. Ids are `a-z`, digits and `_`, starting with a letter.
    pub fn check(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        if !is_identifier(&self.id) {
            problems.push(format!(
                "The product type id {:?} must be lower-case letters, digits and _, starting with a letter, at most {MAX_TYPE_ID_LEN} long.",
                self.id
            ));
        }
        if !is_one_line(&self.name, MAX_PLAN_NAME_LEN) {
            problems.push(format!(
                "The product type needs a name of one line, at most {MAX_PLAN_NAME_LEN} characters."
            ));
        }
        if self.quantity_limit.is_some_and(|limit| limit < 1) {
            problems
                .push("The quantity limit must be at least 1 (or absent: no limit).".to_owned());
        }
        if self.attributes.len() > MAX_ATTRIBUTES {
            problems.push(format!(
                "A product type has at most {MAX_ATTRIBUTES} attributes."
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for attribute in &self.attributes {
            let id = &attribute.id;
            if !is_identifier(id) {
                problems.push(format!(
                    "The attribute id {id:?} must be lower-case letters, digits and _, starting with a letter."
                ));
            }
            if !seen.insert(id.as_str()) {
                problems.push(format!("The attribute {id} is listed twice."));
            }
            if !is_one_line(&attribute.name, MAX_PLAN_NAME_LEN) {
                problems.push(format!("The attribute {id} needs a name of one line."));
            }
            let predefined = matches!(
                attribute.kind,
                AttributeKind::PredefinedChooseOne | AttributeKind::PredefinedChooseMany
            );
            if predefined && attribute.predefined_values.is_empty() {
                problems.push(format!(
                    "The attribute {id} offers no values to choose from."
                ));
            }
            if !predefined && !attribute.predefined_values.is_empty() {
                problems.push(format!(
                    "The attribute {id} is {} and takes no predefined values.",
                    attribute.kind.as_str()
                ));
            }
            let mut choices = std::collections::BTreeSet::new();
            for choice in &attribute.predefined_values {
                if choice.id.trim().is_empty() || !choices.insert(choice.id.as_str()) {
                    problems.push(format!(
                        "The values of attribute {id} need distinct, non-empty ids."
                    ));
                    break;
                }
            }
            match (
                attribute.kind,
                attribute.slider_min,
                attribute.slider_max,
                attribute.slider_step,
            ) {
                (AttributeKind::Slider, Some(min), Some(max), Some(step)) => {
                    if min >= max || step <= 0 || step > max - min {
                        problems.push(format!(
                            "The slider of attribute {id} needs min < max and a step between 1 and max - min."
                        ));
                    }
                }
                (AttributeKind::Slider, ..) => problems.push(format!(
                    "The slider of attribute {id} needs its min, max and step."
                )),
                (_, None, None, None) => {}
                _ => problems.push(format!(
                    "The attribute {id} is not a slider and takes no slider values."
                )),
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mailbox_type() -> ProductType {
        ProductType {
            id: HOSTED_MAILBOX.into(),
            name: "Hosted mailbox".into(),
            description: None,
            portal_url: None,
            allow_multiple_subscriptions: true,
            quantity_limit: None,
            scope: Scope::Customer,
            is_addon: false,
            attributes: vec![AttributeDefinition {
                id: "storage_gb".into(),
                sort_order: 0,
                name: "Storage per mailbox (GB)".into(),
                description: None,
                usage: AttributeUsage::ProductCharacteristic,
                kind: AttributeKind::Numeric,
                is_required: true,
                linked_to_quantity: true,
                allow_unlimited: false,
                predefined_values: vec![],
                slider_min: None,
                slider_max: None,
                slider_step: None,
            }],
        }
    }

    fn draft() -> PlanDraft {
        PlanDraft {
            product_type: HOSTED_MAILBOX.into(),
            name: " Mailbox 50 ".into(),
            code: Some("MBX-50".into()),
            attribute_values: [("storage_gb".to_owned(), "50".to_owned())].into(),
            unit_price_minor: Some(499),
            currency: Some("eur".into()),
            billing_period_count: Some(1),
            billing_period_unit: Some("Months".into()),
            visible: true,
            deprecated: false,
        }
    }

    #[test]
    fn enums_keep_the_contract_spelling() {
        assert_eq!(Scope::parse("Both"), Some(Scope::Both));
        assert_eq!(Scope::parse("both"), None);
        assert_eq!(
            AttributeKind::PredefinedChooseMany.as_str(),
            "PredefinedChooseMany"
        );
        assert_eq!(
            serde_json::to_value(AttributeUsage::HiddenCharacteristic).unwrap(),
            "HiddenCharacteristic"
        );
        for kind in AttributeKind::ALL {
            assert_eq!(AttributeKind::parse(kind.as_str()), Some(*kind));
        }
    }

    #[test]
    fn a_good_draft_becomes_terms() {
        let terms = draft().check(Some(&mailbox_type())).unwrap();
        assert_eq!(terms.name, "Mailbox 50");
        assert_eq!(terms.price.as_ref().unwrap().currency.as_str(), "EUR");
        assert_eq!(
            terms.billing_period,
            Some(BillingPeriod {
                count: 1,
                unit: BillingUnit::Months
            })
        );
        assert!(terms.is_sellable());
        assert_eq!(
            PlanDraft::from(&terms).check(Some(&mailbox_type())),
            Ok(terms)
        );
    }

    #[test]
    fn each_broken_rule_is_named() {
        let product_type = mailbox_type();
        let problems = |change: fn(&mut PlanDraft)| {
            let mut draft = draft();
            change(&mut draft);
            draft.check(Some(&product_type)).unwrap_err()
        };
        assert_eq!(
            problems(|d| d.name = "  ".into()),
            ["The plan needs a name."]
        );
        assert_eq!(
            problems(|d| d.unit_price_minor = Some(-1)),
            ["The unit price cannot be negative."]
        );
        assert_eq!(
            problems(|d| d.currency = Some("EURO".into())),
            ["The currency \"EURO\" is not a three-letter ISO 4217 code."]
        );
        assert_eq!(
            problems(|d| d.currency = None),
            ["Give the unit price and its currency together."]
        );
        assert_eq!(
            problems(|d| d.billing_period_unit = Some("weeks".into())),
            ["The billing period unit \"weeks\" is not days, months or years."]
        );
        assert_eq!(
            problems(|d| d.billing_period_count = Some(0)),
            ["The billing period must be at least 1."]
        );
        assert_eq!(
            problems(|d| {
                d.attribute_values.insert("color".into(), "red".into());
            }),
            ["Product type hosted_mailbox has no attribute \"color\"."]
        );
        assert_eq!(
            draft().check(None).unwrap_err(),
            ["There is no product type \"hosted_mailbox\"."]
        );
    }

    #[test]
    fn a_deprecated_plan_is_not_sold() {
        let mut terms = draft().check(Some(&mailbox_type())).unwrap();
        terms.deprecated = true;
        assert!(!terms.is_sellable());
    }

    #[test]
    fn a_recorded_plan_keeps_the_declared_attributes_only() {
        let attributes = [
            ("storage_gb".to_owned(), "25".to_owned()),
            ("unknown".to_owned(), "x".to_owned()),
        ]
        .into();
        let terms = recorded_plan_terms(&mailbox_type(), "  ", &attributes);
        assert_eq!(terms.name, "Hosted mailbox");
        assert_eq!(terms.attribute_values.len(), 1);
        assert_eq!(terms.price, None);
        assert!(!terms.visible);
        assert!(new_plan_id().starts_with("plan_"));
    }

    #[test]
    fn product_types_are_checked() {
        assert_eq!(mailbox_type().check(), Ok(()));
        let mut broken = mailbox_type();
        broken.id = "Hosted Mailbox".into();
        broken.quantity_limit = Some(0);
        let mut slider = broken.attributes[0].clone();
        slider.id = "retention".into();
        slider.kind = AttributeKind::Slider;
        slider.slider_min = Some(10);
        slider.slider_max = Some(1);
        slider.slider_step = Some(1);
        let duplicate = broken.attributes[0].clone();
        let mut choose = broken.attributes[0].clone();
        choose.id = "tier".into();
        choose.kind = AttributeKind::PredefinedChooseOne;
        broken.attributes.extend([slider, duplicate, choose]);
        assert_eq!(
            broken.check().unwrap_err(),
            [
                "The product type id \"Hosted Mailbox\" must be lower-case letters, digits and _, starting with a letter, at most 64 long.",
                "The quantity limit must be at least 1 (or absent: no limit).",
                "The slider of attribute retention needs min < max and a step between 1 and max - min.",
                "The attribute storage_gb is listed twice.",
                "The attribute tier offers no values to choose from.",
            ]
        );
    }
}
