//! The integration's setup fields: what the BSS operator fills in when
//! registering Mailroom (`Fields/Get`), and the check of the values
//! submitted (`Fields/Validate`).

use std::collections::BTreeMap;

use crate::domain::customer::NotificationMode;

/// The kinds of the contract's FieldDefinition, numbered as the interworks
/// sample sends them (0..11).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum FieldKind {
    Text = 0,
    PasswordText = 1,
    Url = 2,
    Integer = 3,
    PredefinedChooseOne = 4,
    PredefinedChooseMany = 5,
    CustomMultipleValues = 6,
    MultiLineTextBox = 7,
    Checkbox = 8,
    Hidden = 9,
    Label = 10,
    CertificateFile = 11,
}

impl FieldKind {
    /// The number the BSS reads.
    pub fn number(self) -> u8 {
        self as u8
    }
}

/// What a value must look like besides its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueFormat {
    Any,
    Email,
}

/// One setup field.
#[derive(Debug, Clone, PartialEq)]
pub struct SetupField {
    pub id: &'static str,
    pub sort_order: i32,
    pub name: &'static str,
    pub description: &'static str,
    pub kind: FieldKind,
    pub max_length: Option<usize>,
    pub is_required: bool,
    /// Value → label, for the Predefined kinds.
    pub predefined_values: Vec<(String, String)>,
    pub initial_value: Option<String>,
    pub format: ValueFormat,
}

pub const NOTIFICATION_MODE: &str = "notification_mode";
pub const DEFAULT_PLAN: &str = "default_plan";
pub const SUPPORT_EMAIL: &str = "support_email";

/// The notification modes, as `notification_mode` takes them.
pub const NOTIFICATION_MODES: [(&str, &str); 2] = [
    ("mailroom", "Mailroom mails an activation link"),
    ("bss", "The BSS mails a generated password"),
];

/// How `notification_mode` spells a mode.
pub fn notification_mode_value(mode: NotificationMode) -> &'static str {
    match mode {
        NotificationMode::Mailroom => NOTIFICATION_MODES[0].0,
        NotificationMode::Bss => NOTIFICATION_MODES[1].0,
    }
}

/// Longest support address.
pub const MAX_EMAIL_LEN: usize = 254;

/// The setup fields, with `current_mode` as the notification mode's initial
/// value and `plans` (public id → label, the plans on sale) as the default
/// plan's choices.
pub fn setup_fields(
    current_mode: NotificationMode,
    plans: Vec<(String, String)>,
) -> Vec<SetupField> {
    vec![
        SetupField {
            id: NOTIFICATION_MODE,
            sort_order: 0,
            name: "Notification mode",
            description: "Who sends a new customer its access: Mailroom (an activation link) or \
                the BSS (its access email with a generated password).",
            kind: FieldKind::PredefinedChooseOne,
            max_length: None,
            is_required: true,
            predefined_values: NOTIFICATION_MODES
                .iter()
                .map(|(value, label)| ((*value).to_owned(), (*label).to_owned()))
                .collect(),
            initial_value: Some(notification_mode_value(current_mode).to_owned()),
            format: ValueFormat::Any,
        },
        SetupField {
            id: DEFAULT_PLAN,
            sort_order: 1,
            name: "Default plan for new customers",
            description: "The plan a new customer's mailboxes get when an order names none.",
            kind: FieldKind::PredefinedChooseOne,
            max_length: None,
            is_required: false,
            predefined_values: plans,
            initial_value: None,
            format: ValueFormat::Any,
        },
        SetupField {
            id: SUPPORT_EMAIL,
            sort_order: 2,
            name: "Support address",
            description: "The address Mailroom's mails give customers for help.",
            kind: FieldKind::Text,
            max_length: Some(MAX_EMAIL_LEN),
            is_required: false,
            predefined_values: Vec::new(),
            initial_value: None,
            format: ValueFormat::Email,
        },
    ]
}

/// Checks submitted values (field id, matched ignoring case → value) against
/// `fields`: one message per problem, none when every value is acceptable.
/// Ids Mailroom did not declare are ignored (the BSS may send its own).
pub fn validate(fields: &[SetupField], submitted: &BTreeMap<String, String>) -> Vec<String> {
    let mut problems = Vec::new();
    for field in fields {
        let value = submitted
            .iter()
            .find(|(id, _)| id.eq_ignore_ascii_case(field.id))
            .map(|(_, value)| value.trim())
            .filter(|value| !value.is_empty());
        let Some(value) = value else {
            if field.is_required {
                problems.push(format!("{} is required.", field.name));
            }
            continue;
        };
        if let Some(max) = field.max_length {
            if value.chars().count() > max {
                problems.push(format!(
                    "{} must be at most {max} characters long.",
                    field.name
                ));
                continue;
            }
        }
        if value.chars().any(char::is_control) && field.kind != FieldKind::MultiLineTextBox {
            problems.push(format!("{} must be a single line.", field.name));
            continue;
        }
        match field.kind {
            FieldKind::PredefinedChooseOne
                if !field.predefined_values.iter().any(|(v, _)| v == value) =>
            {
                let known: Vec<&str> = field
                    .predefined_values
                    .iter()
                    .map(|(v, _)| v.as_str())
                    .collect();
                problems.push(if known.is_empty() {
                    format!(
                        "{}: {value} is not one of the choices (there are none yet).",
                        field.name
                    )
                } else {
                    format!(
                        "{}: {value} is not one of the choices ({}).",
                        field.name,
                        known.join(", ")
                    )
                });
            }
            FieldKind::Integer if value.parse::<i64>().is_err() => {
                problems.push(format!("{} must be a whole number.", field.name));
            }
            _ => {}
        }
        if field.format == ValueFormat::Email && !is_email(value) {
            problems.push(format!("{}: {value} is not an email address.", field.name));
        }
    }
    problems
}

fn is_email(value: &str) -> bool {
    validator::ValidateEmail::validate_email(&value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> Vec<SetupField> {
        setup_fields(
            NotificationMode::Mailroom,
            vec![("plan_01".to_owned(), "Mailbox 50".to_owned())],
        )
    }

    fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_declared_fields() {
        let fields = fields();
        let ids: Vec<&str> = fields.iter().map(|f| f.id).collect();
        assert_eq!(ids, [NOTIFICATION_MODE, DEFAULT_PLAN, SUPPORT_EMAIL]);
        assert_eq!(fields[0].initial_value.as_deref(), Some("mailroom"));
        assert_eq!(FieldKind::PredefinedChooseOne.number(), 4);
        assert_eq!(FieldKind::CertificateFile.number(), 11);
    }

    #[test]
    fn valid_values_have_no_message() {
        let ok = values(&[
            ("notification_mode", "bss"),
            ("Default_Plan", "plan_01"),
            ("support_email", "help@example.com"),
            ("someone_elses", "anything"),
        ]);
        assert!(validate(&fields(), &ok).is_empty());
        assert!(validate(&fields(), &values(&[("notification_mode", "mailroom")])).is_empty());
    }

    #[test]
    fn each_invalid_value_has_its_message() {
        let check = |pairs: &[(&str, &str)]| validate(&fields(), &values(pairs));
        assert_eq!(check(&[]), ["Notification mode is required."]);
        assert_eq!(
            check(&[("notification_mode", "pigeon")]),
            ["Notification mode: pigeon is not one of the choices (mailroom, bss)."]
        );
        assert_eq!(
            check(&[("notification_mode", "bss"), ("default_plan", "plan_02")]),
            ["Default plan for new customers: plan_02 is not one of the choices (plan_01)."]
        );
        assert_eq!(
            check(&[
                ("notification_mode", "bss"),
                ("support_email", "not-an-address")
            ]),
            ["Support address: not-an-address is not an email address."]
        );
        let no_plans = validate(
            &setup_fields(NotificationMode::Bss, Vec::new()),
            &values(&[("notification_mode", "bss"), ("default_plan", "plan_01")]),
        );
        assert_eq!(
            no_plans,
            ["Default plan for new customers: plan_01 is not one of the choices (there are none yet)."]
        );
        assert_eq!(
            check(&[("notification_mode", "bss\nmailroom")]),
            ["Notification mode must be a single line."]
        );
        let long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(
            check(&[("notification_mode", "bss"), ("support_email", &long)]),
            ["Support address must be at most 254 characters long."]
        );
    }
}
