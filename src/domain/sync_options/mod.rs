//! Sync options: the extra fields the BSS asks of a customer (as
//! `Accounts/SyncOptions` declares them) and the rules their values follow.
//! What makes a definition itself valid is in [`definition`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::identity::{normalize_plain, DomainName, Username};
use super::result_code::{Rejection, ResultCode};

pub mod definition;

pub use definition::{
    check_new_id, parse_predefined_values, predefined_values_text, DefinitionDraft,
    DefinitionField, DefinitionProblem,
};

/// Longest value a sync option may hold.
pub const MAX_OPTION_VALUE_LEN: usize = 255;

/// Ids of the options Mailroom seeds and reads itself (the keys the BSS
/// sends their values under). An id is not a [`ValueFormat`]: the seeded
/// `domain` option has the format [`ValueFormat::Domain`], but any option
/// may be given that format, and this one's could be changed.
pub mod option_ids {
    /// The customer's mail domain; the console lists customers by it.
    pub const DOMAIN: &str = "domain";
    /// The login of the customer's mailbox account; mail merges it.
    pub const USERNAME: &str = "username";
}

/// How the BSS renders an option (the sample model's `Kind` enum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum OptionKind {
    SimpleValue,
    List,
    TextArea,
    ListMultiSelect,
    Boolean,
    Link,
    Mask,
    #[serde(rename = "MOD11CheckDigit")]
    Mod11CheckDigit,
    File,
    Unknown,
}

/// The value type of an option. The sample's model names Text, Number,
/// Currency, Date and Unknown; the contract page also mentions Numeric,
/// DateTime and Boolean, so those are accepted too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum DataType {
    Text,
    Number,
    Numeric,
    Currency,
    Date,
    DateTime,
    Boolean,
    Unknown,
}

/// Mailroom's own reading of a value, beyond its data type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ValueFormat {
    Text,
    /// A DNS domain name, stored in its ASCII form.
    Domain,
    /// A login name; falls back to the account email, then the contact email.
    Username,
}

/// Text names for a fieldless enum. `as_str` matches exhaustively, so an
/// invocation must list every variant, and `ALL` holds them all, in the
/// order of the invocation (the order operators are offered them).
macro_rules! string_enum {
    ($ty:ty { $($variant:ident => $text:literal),+ $(,)? } else $fallback:ident) => {
        impl $ty {
            /// Every variant, in the order operators are offered them.
            pub const ALL: [Self; [$($text),+].len()] = [$(Self::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }
            /// The variant named exactly `text`, if any.
            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some(Self::$variant),)+ _ => None }
            }
            /// Unrecognized stored text reads as the fallback variant.
            pub fn from_stored(text: &str) -> Self {
                Self::parse(text).unwrap_or(Self::$fallback)
            }
        }
    };
}

// The lists first, then the rest, as the console has always offered them
// (the declaration order above is the OpenAPI document's).
string_enum!(OptionKind {
    SimpleValue => "SimpleValue", List => "List", ListMultiSelect => "ListMultiSelect",
    TextArea => "TextArea", Boolean => "Boolean", Link => "Link", Mask => "Mask",
    Mod11CheckDigit => "MOD11CheckDigit", File => "File", Unknown => "Unknown",
} else Unknown);

string_enum!(DataType {
    Text => "Text", Number => "Number", Numeric => "Numeric", Currency => "Currency",
    Date => "Date", DateTime => "DateTime", Boolean => "Boolean", Unknown => "Unknown",
} else Unknown);

string_enum!(ValueFormat { Text => "text", Domain => "domain", Username => "username" } else Text);

impl OptionKind {
    /// Whether the value is chosen from the predefined values.
    pub fn is_list(self) -> bool {
        matches!(self, Self::List | Self::ListMultiSelect)
    }
}

/// One offered value of a List option.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct PredefinedValue {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(default)]
    pub sort_order: i32,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub is_default: bool,
}

/// An option definition as the operator configured it.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncOptionDefinition {
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
    /// Values of this option name one customer across all applications.
    pub identifies_customer: bool,
    pub value_format: ValueFormat,
}

/// All definitions, in the order the BSS should show them.
#[derive(Debug, Clone, Default)]
pub struct SyncOptionCatalog {
    definitions: Vec<SyncOptionDefinition>,
}

/// A validated option value of one customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OptionValue {
    pub option_id: String,
    pub option_name: String,
    pub format: ValueFormat,
    /// The value as stored and shown (domains in their ASCII form).
    pub value: String,
    /// The normalized value when the option identifies customers.
    pub identity: Option<String>,
}

impl OptionValue {
    /// The storefront error for a value that belongs to another customer.
    pub fn taken(&self) -> Rejection {
        let value = &self.value;
        match self.format {
            ValueFormat::Domain => Rejection::new(
                ResultCode::DomainTaken,
                format!(
                    "The domain {value} is already registered with another account. If it is \
                     yours, please contact our support team."
                ),
            ),
            ValueFormat::Username => Rejection::new(
                ResultCode::UsernameTaken,
                format!(
                    "Your login is made from your email address, and {value} is already in use \
                     by another account. Please change the email address of your account (or of \
                     its primary contact) and order again, or contact our support team if the \
                     existing account is yours."
                ),
            ),
            ValueFormat::Text => Rejection::new(
                ResultCode::IdentityTaken,
                format!(
                    "{} \"{value}\" is already registered with another account.",
                    self.option_name
                ),
            ),
        }
    }
}

/// Emails that stand in for an empty username option, in order.
#[derive(Debug, Clone, Copy, Default)]
pub struct UsernameFallbacks<'a> {
    pub account_email: Option<&'a str>,
    pub contact_email: Option<&'a str>,
}

impl<'a> UsernameFallbacks<'a> {
    fn first(&self) -> Option<&'a str> {
        self.account_email.or(self.contact_email)
    }
}

impl SyncOptionCatalog {
    pub fn new(mut definitions: Vec<SyncOptionDefinition>) -> Self {
        definitions.sort_by(|a, b| a.sort_order.cmp(&b.sort_order).then(a.id.cmp(&b.id)));
        Self { definitions }
    }

    pub fn definitions(&self) -> &[SyncOptionDefinition] {
        &self.definitions
    }

    pub fn get(&self, option_id: &str) -> Option<&SyncOptionDefinition> {
        self.definitions
            .iter()
            .find(|d| d.id.eq_ignore_ascii_case(option_id))
    }

    /// Validates the submitted values (keys matched case-insensitively)
    /// against every definition. Values of undefined options are ignored.
    pub fn parse_values(
        &self,
        submitted: &BTreeMap<String, String>,
        fallbacks: UsernameFallbacks<'_>,
    ) -> Result<Vec<OptionValue>, Rejection> {
        let mut values = Vec::new();
        for definition in &self.definitions {
            let given = lookup(submitted, &definition.id);
            let raw = match (given, definition.value_format) {
                (Some(value), _) => Some(value),
                (None, ValueFormat::Username) => fallbacks.first(),
                (None, _) => None,
            };
            match raw {
                Some(raw) => values.push(definition.parse_value(raw)?),
                None if definition.is_required => return Err(definition.missing()),
                None => {}
            }
        }
        Ok(values)
    }

    /// The identifying values a request carries (Exists), read leniently: a
    /// value that does not parse cannot belong to anyone and is left out.
    /// Only the sync options the request sends count: an absent `username`
    /// is not filled from the account's email here, since that email may be
    /// anyone's (Synchronize does fill it, for the customer it creates).
    pub fn identity_values(&self, submitted: &BTreeMap<String, String>) -> Vec<(String, String)> {
        self.definitions
            .iter()
            .filter(|d| d.identifies_customer)
            .filter_map(|d| {
                let raw = lookup(submitted, &d.id)?;
                let value = d.parse_value(raw).ok()?;
                Some((value.option_id, value.identity?))
            })
            .collect()
    }
}

fn lookup<'a>(submitted: &'a BTreeMap<String, String>, option_id: &str) -> Option<&'a str> {
    submitted
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(option_id))
        .map(|(_, value)| value.trim())
        .filter(|value| !value.is_empty())
}

impl SyncOptionDefinition {
    fn missing(&self) -> Rejection {
        match self.value_format {
            ValueFormat::Username => Rejection::new(
                ResultCode::UsernameMissing,
                "We need an email address to create your login. Please add an email address \
                 to your account and try again.",
            ),
            ValueFormat::Domain => Rejection::new(
                ResultCode::OptionRequired,
                format!(
                    "Please enter your {}, for example example.com.",
                    self.name.to_lowercase()
                ),
            ),
            ValueFormat::Text => Rejection::new(
                ResultCode::OptionRequired,
                format!("Please fill in {}.", self.name),
            ),
        }
    }

    /// Checks one non-empty value against this definition.
    pub fn parse_value(&self, raw: &str) -> Result<OptionValue, Rejection> {
        let name = &self.name;
        if raw.chars().count() > MAX_OPTION_VALUE_LEN {
            return Err(Rejection::new(
                ResultCode::OptionInvalid,
                format!("{name} is too long: use at most {MAX_OPTION_VALUE_LEN} characters."),
            ));
        }
        if raw.chars().any(char::is_control) {
            return Err(Rejection::new(
                ResultCode::TextInvalidCharacters,
                format!("{name} contains characters that are not allowed."),
            ));
        }
        self.check_kind(raw)?;
        let (value, identity) = match self.value_format {
            ValueFormat::Domain => {
                let domain = DomainName::parse(raw).map_err(|_| {
                    Rejection::new(
                        ResultCode::DomainInvalid,
                        format!(
                            "\"{raw}\" is not a valid domain name. Please enter a domain such as \
                             example.com."
                        ),
                    )
                })?;
                let ascii = domain.as_str().to_owned();
                (ascii.clone(), Some(ascii))
            }
            ValueFormat::Username => {
                let username = Username::parse(raw).map_err(|_| {
                    Rejection::new(
                        ResultCode::UsernameInvalid,
                        format!(
                            "\"{raw}\" cannot be used as a username. Use letters, digits and \
                             . _ - + @ only."
                        ),
                    )
                })?;
                let login = username.as_str().to_owned();
                (login.clone(), Some(login))
            }
            ValueFormat::Text => (raw.to_owned(), Some(normalize_plain(raw))),
        };
        Ok(OptionValue {
            option_id: self.id.clone(),
            option_name: self.name.clone(),
            format: self.value_format,
            value,
            identity: identity.filter(|_| self.identifies_customer),
        })
    }

    fn check_kind(&self, raw: &str) -> Result<(), Rejection> {
        let name = &self.name;
        let offered = |value: &str| {
            self.predefined_values.is_empty()
                || self.predefined_values.iter().any(|p| p.id == value.trim())
        };
        match self.kind {
            OptionKind::List if !offered(raw) => Err(self.not_offered()),
            OptionKind::ListMultiSelect if !raw.split(',').all(offered) => Err(self.not_offered()),
            OptionKind::Boolean => check_boolean(name, raw),
            _ => match self.data_type {
                DataType::Number | DataType::Numeric | DataType::Currency => {
                    raw.parse::<f64>().map(drop).map_err(|_| {
                        Rejection::new(
                            ResultCode::OptionNotNumber,
                            format!("{name} must be a number."),
                        )
                    })
                }
                DataType::Date | DataType::DateTime => {
                    let is_date = chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d").is_ok()
                        || chrono::DateTime::parse_from_rfc3339(raw).is_ok()
                        || chrono::NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S").is_ok();
                    if is_date {
                        Ok(())
                    } else {
                        Err(Rejection::new(
                            ResultCode::OptionNotDate,
                            format!("{name} must be a date such as 2026-01-31."),
                        ))
                    }
                }
                DataType::Boolean => check_boolean(name, raw),
                DataType::Text | DataType::Unknown => Ok(()),
            },
        }
    }

    fn not_offered(&self) -> Rejection {
        let choices: Vec<&str> = self
            .predefined_values
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        Rejection::new(
            ResultCode::OptionNotOffered,
            format!("Please choose {} from: {}.", self.name, choices.join(", ")),
        )
    }
}

fn check_boolean(name: &str, raw: &str) -> Result<(), Rejection> {
    match raw.to_ascii_lowercase().as_str() {
        "true" | "false" | "1" | "0" | "yes" | "no" => Ok(()),
        _ => Err(Rejection::new(
            ResultCode::OptionNotBoolean,
            format!("{name} must be yes or no."),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn definition(id: &str, format: ValueFormat, required: bool) -> SyncOptionDefinition {
        SyncOptionDefinition {
            id: id.into(),
            sort_order: 0,
            name: id.into(),
            description: None,
            kind: OptionKind::SimpleValue,
            data_type: DataType::Text,
            is_required: required,
            predefined_values: vec![],
            is_read_only: false,
            available_to_storefront: true,
            identifies_customer: format != ValueFormat::Text,
            value_format: format,
        }
    }

    fn catalog() -> SyncOptionCatalog {
        SyncOptionCatalog::new(vec![
            definition(option_ids::USERNAME, ValueFormat::Username, true),
            definition(option_ids::DOMAIN, ValueFormat::Domain, true),
        ])
    }

    fn submitted(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn username_falls_back_to_account_then_contact_email() {
        // The BSS may spell the key in another case.
        let options = submitted(&[("Domain", "Example.com")]);
        let values = catalog()
            .parse_values(
                &options,
                UsernameFallbacks {
                    account_email: None,
                    contact_email: Some("Boss@Example.com"),
                },
            )
            .unwrap();
        let value_of = |id: &str| values.iter().find(|v| v.option_id == id).unwrap();
        assert_eq!(
            value_of(option_ids::USERNAME).identity.as_deref(),
            Some("boss@example.com")
        );
        assert_eq!(value_of(option_ids::DOMAIN).value, "example.com");
    }

    #[test]
    fn missing_username_without_emails_is_a_storefront_error() {
        let options = submitted(&[(option_ids::DOMAIN, "example.com")]);
        let error = catalog()
            .parse_values(&options, UsernameFallbacks::default())
            .unwrap_err();
        assert_eq!(error.code, ResultCode::UsernameMissing);
    }

    #[test]
    fn list_values_must_be_offered() {
        let mut role = definition("role", ValueFormat::Text, false);
        role.kind = OptionKind::List;
        role.predefined_values = vec![PredefinedValue {
            id: "1".into(),
            sort_order: 0,
            name: "User".into(),
            description: None,
            is_default: true,
        }];
        assert!(role.parse_value("1").is_ok());
        assert_eq!(
            role.parse_value("3").unwrap_err().code,
            ResultCode::OptionNotOffered
        );
    }

    #[test]
    fn identity_values_skip_what_does_not_parse() {
        let options = submitted(&[
            (option_ids::DOMAIN, "not a domain"),
            (option_ids::USERNAME, "a@b.com"),
        ]);
        let identities = catalog().identity_values(&options);
        assert_eq!(
            identities,
            vec![(option_ids::USERNAME.to_string(), "a@b.com".to_string())]
        );
    }

    #[test]
    fn every_variant_is_listed_once_and_reads_back() {
        fn check<T: Copy + PartialEq + std::fmt::Debug>(
            all: &[T],
            as_str: fn(T) -> &'static str,
            parse: fn(&str) -> Option<T>,
        ) {
            for (i, item) in all.iter().enumerate() {
                assert_eq!(parse(as_str(*item)), Some(*item));
                assert!(!all[..i].contains(item), "{item:?} twice");
            }
        }
        check(&OptionKind::ALL, OptionKind::as_str, OptionKind::parse);
        check(&DataType::ALL, DataType::as_str, DataType::parse);
        check(&ValueFormat::ALL, ValueFormat::as_str, ValueFormat::parse);
        assert_eq!(OptionKind::ALL.len(), 10);
        assert_eq!(DataType::ALL.len(), 8);
        assert_eq!(ValueFormat::ALL.len(), 3);
    }

    #[test]
    fn parsing_is_exact_and_stored_text_falls_back() {
        assert_eq!(
            OptionKind::parse("MOD11CheckDigit"),
            Some(OptionKind::Mod11CheckDigit)
        );
        assert_eq!(OptionKind::parse("list"), None);
        assert_eq!(OptionKind::from_stored("list"), OptionKind::Unknown);
        assert_eq!(DataType::parse(" Text"), None);
        assert_eq!(ValueFormat::parse("Domain"), None);
        assert_eq!(ValueFormat::from_stored("Domain"), ValueFormat::Text);
        assert!(OptionKind::List.is_list() && OptionKind::ListMultiSelect.is_list());
        assert!(!OptionKind::SimpleValue.is_list());
    }

    #[test]
    fn a_value_format_is_not_an_option_id() {
        // Any option may read its values as domains; the value keeps its id.
        let mut renamed = definition("mail_domain", ValueFormat::Domain, false);
        renamed.name = "Mail domain".into();
        let value = renamed.parse_value("Example.COM").unwrap();
        assert_eq!(value.option_id, "mail_domain");
        assert_eq!(value.value, "example.com");
    }
}
