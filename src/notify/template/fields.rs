//! The merge-field catalog: the fixed fields, the extra-info keys usable as
//! fields, and their samples ([`KnownFields`]).

use std::collections::BTreeSet;

use super::translate::is_field_segment;
use crate::config::NotificationMode;

/// One merge field operators may use.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct MergeField {
    pub name: String,
    pub description: String,
    pub sample: String,
}

/// A fixed field, and the mode it is limited to, if any.
struct FixedField {
    name: &'static str,
    description: &'static str,
    sample: &'static str,
    only_in: Option<NotificationMode>,
}

const fn fixed(name: &'static str, description: &'static str, sample: &'static str) -> FixedField {
    FixedField {
        name,
        description,
        sample,
        only_in: None,
    }
}

/// The fixed fields, in the order operators see them. `sample_context`
/// fills the context from these samples, so keep `Contacts.FullName`'s sample
/// equal to "FirstName LastName".
const FIXED_FIELDS: &[FixedField] = &[
    fixed(
        "Contacts.FullName",
        "The contact's first and last name; the account name when the contact has no name.",
        "Maria Papadopoulou",
    ),
    fixed("Contacts.FirstName", "The contact's first name.", "Maria"),
    fixed(
        "Contacts.LastName",
        "The contact's last name.",
        "Papadopoulou",
    ),
    fixed(
        "Contacts.Email",
        "The contact's email address.",
        "maria@example.com",
    ),
    fixed(
        "Account.Name",
        "The customer account's name.",
        "Example Ltd",
    ),
    fixed(
        "Account.Code",
        "The customer account's code in the BSS.",
        "ACC-000123",
    ),
    fixed(
        "Account.Email",
        "The customer account's email address.",
        "billing@example.com",
    ),
    fixed("username", "The mailbox account's username.", "maria"),
    fixed(
        "Operator.Name",
        "Your company's name, as customers know it.",
        "Example Mail",
    ),
    fixed(
        "Operator.SupportEmail",
        "Where customers write for help.",
        "support@example.net",
    ),
    fixed(
        "Operator.PortalUrl",
        "The portal where customers sign in.",
        "https://mail.example.net",
    ),
    fixed(
        "support_email",
        "The support address of the customer's BSS: its support_email setting, else Operator.SupportEmail.",
        "help@partner.example",
    ),
    fixed(
        "Mailbox.Address",
        "The mailbox's address (set-password mail only; empty in other mail).",
        "pat.jones@example.com",
    ),
    fixed(
        "Mailbox.DisplayName",
        "The mailbox's display name, else its first and last name, else its address (set-password mail only).",
        "Pat Jones",
    ),
    fixed(
        "PasswordUrl",
        "The one-time link where the mailbox's owner sets its password (set-password mail only).",
        "https://mail.example.net/mailbox-password/SAMPLE-TOKEN",
    ),
    fixed(
        "PasswordExpiresAt",
        "When the set-password link expires, UTC (set-password mail only).",
        "2026-11-26 18:00 UTC",
    ),
    // Known in either configured mode: an application may set its own
    // notification_mode to mailroom, and Mailroom's own mail carries the link.
    fixed(
        "ActivationUrl",
        "The one-time link where the customer chooses a password (expires in 72 hours).",
        "https://mail.example.net/activate/SAMPLE-TOKEN",
    ),
    FixedField {
        only_in: Some(NotificationMode::Bss),
        ..fixed(
            "Password",
            "The generated password, sent once.",
            "Sample-Passw0rd",
        )
    },
];

/// Top-level names of the fixed fields. An extra-info key never takes one
/// of them, in any mode: it would shadow (or stand in for) a fixed field.
pub(super) const RESERVED_TOP_LEVEL: &[&str] = &[
    "Contacts",
    "Account",
    "Operator",
    "username",
    "support_email",
    "ActivationUrl",
    "Password",
    "Mailbox",
    "PasswordUrl",
    "PasswordExpiresAt",
];

/// The fields a template may use: fixed ones plus every AccountExtraInfo key.
#[derive(Debug, Clone)]
pub struct KnownFields {
    fields: Vec<MergeField>,
    /// The extra-info keys among `fields` (top-level, one segment each).
    pub(super) extra_keys: Vec<String>,
}

impl KnownFields {
    /// Fixed fields (`Password` only in [`NotificationMode::Bss`]), then each usable key of
    /// `extra_info_keys`, sorted. A key is skipped when it is already a
    /// field, takes a fixed field's top-level name, or is not a valid field
    /// name (letters, digits, `_`, `-`).
    pub fn new(mode: NotificationMode, extra_info_keys: impl IntoIterator<Item = String>) -> Self {
        let mut fields: Vec<MergeField> = FIXED_FIELDS
            .iter()
            .filter(|f| f.only_in.is_none_or(|only| only == mode))
            .map(|f| MergeField {
                name: f.name.to_owned(),
                description: f.description.to_owned(),
                sample: f.sample.to_owned(),
            })
            .collect();
        let keys: BTreeSet<String> = extra_info_keys
            .into_iter()
            .filter(|key| {
                let usable = is_field_segment(key) && !RESERVED_TOP_LEVEL.contains(&key.as_str());
                if !usable {
                    tracing::debug!(key = %key, "account extra info key is not usable as a merge field");
                }
                usable
            })
            .collect();
        fields.extend(keys.iter().map(|key| MergeField {
            name: key.clone(),
            description: format!("The account's extra info `{key}`, as stored in the BSS."),
            sample: format!("sample-{key}"),
        }));
        Self {
            fields,
            extra_keys: keys.into_iter().collect(),
        }
    }

    pub fn fields(&self) -> &[MergeField] {
        &self.fields
    }

    pub fn contains(&self, name: &str) -> bool {
        self.fields.iter().any(|f| f.name == name)
    }

    /// "a, b, c", for problem messages.
    pub(super) fn list(&self) -> String {
        let names: Vec<&str> = self.fields.iter().map(|f| f.name.as_str()).collect();
        names.join(", ")
    }

    /// A known field differing from `name` only by case, to suggest.
    pub(super) fn suggestion(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .map(|f| f.name.as_str())
            .find(|known| known.eq_ignore_ascii_case(name))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::notify::template::test_support::*;

    #[test]
    fn extra_info_keys_are_merge_fields() {
        let known = KnownFields::new(
            NotificationMode::Mailroom,
            [
                "customer_location",
                "customer-id",
                "else",
                "username",
                "domain",
                "bad key",
                "a.b",
                "Contacts",
            ]
            .map(String::from),
        );
        let names: Vec<&str> = known.fields().iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            &names[names.len() - 4..],
            ["customer-id", "customer_location", "domain", "else"]
        );
        assert_eq!(names.iter().filter(|n| **n == "username").count(), 1);
        assert!(
            !known.contains("bad key") && !known.contains("a.b") && !known.contains("Contacts")
        );

        let mut context = maria();
        context.extra_info = [
            ("customer_location", "Athens"),
            ("customer-id", "C-7"),
            ("else", "E"),
            ("Contacts", "must not override"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let message = render(
            &text(
                "[#customer_location#] {{customer_location}} [#customer-id#] [#else#] [#domain#]|",
            ),
            &known,
            &context,
        );
        assert_eq!(message.text_body, "Athens Athens C-7 E |");
        let json = context.to_json(&known);
        assert_eq!(json["Contacts"]["FirstName"], "Maria");
    }

    #[test]
    fn sample_context_gives_every_field_its_sample() {
        let known = KnownFields::new(NotificationMode::Mailroom, vec!["customer_id".to_owned()]);
        let json = known.sample_context().to_json(&known);
        for field in known.fields() {
            let value = field
                .name
                .split('.')
                .fold(&json, |value, segment| &value[segment]);
            assert_eq!(
                value,
                &Value::String(field.sample.clone()),
                "{}",
                field.name
            );
        }
    }
}
