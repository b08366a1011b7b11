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
        problems.extend(check_value(field, value, true));
    }
    problems
}

/// The problems of one non-empty, trimmed value. `with_choices: false` skips
/// the check against the predefined values (the plans on sale are not at
/// hand on every call: a default plan is checked when it is used).
fn check_value(field: &SetupField, value: &str, with_choices: bool) -> Vec<String> {
    if let Some(max) = field.max_length {
        if value.chars().count() > max {
            return vec![format!(
                "{} must be at most {max} characters long.",
                field.name
            )];
        }
    }
    if value.chars().any(char::is_control) && field.kind != FieldKind::MultiLineTextBox {
        return vec![format!("{} must be a single line.", field.name)];
    }
    let mut problems = Vec::new();
    match field.kind {
        FieldKind::PredefinedChooseOne
            if with_choices && !field.predefined_values.iter().any(|(v, _)| v == value) =>
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
    problems
}

/// The prefix of the headers that carry setup values on every contract call
/// (`X-CloudPlatform-Setting-<FieldID>`).
pub const SETTING_HEADER_PREFIX: &str = "x-cloudplatform-setting-";

/// One application's setup values, as its BSS sent them on a call
/// (`X-CloudPlatform-Setting-<ID>` headers). A field left out, or whose value
/// fails the check of `Fields/Validate`, is `None`: Mailroom's own
/// configuration applies. A failing value is not an error of the call (the
/// BSS operator saved it long before); its message is kept in `ignored`, so
/// it is logged once when it first arrives and shown to operators.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct SetupValues {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notification_mode: Option<NotificationMode>,
    /// A plan's public id; whether it is still on sale is checked when a
    /// Create uses it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_plan: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub support_email: Option<String>,
    /// One message per value left out for failing its check.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ignored: Vec<String>,
}

impl SetupValues {
    /// Reads header values (`<FieldID>` matched ignoring case → raw value).
    /// As the contract sends them: the first value of a multi-value
    /// (`a|b`), trimmed; an empty value is no value. Ids Mailroom did not
    /// declare are ignored; the first header of a repeated id wins.
    pub fn from_headers<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        // The choices of the notification mode do not depend on the mode.
        let fields = setup_fields(NotificationMode::Mailroom, Vec::new());
        let mut values = Self::default();
        let mut seen: Vec<&str> = Vec::new();
        // Headers come in no set order: problems are listed in the fields'.
        let mut problems_by_field = Vec::new();
        for (id, raw) in pairs {
            let Some(field) = fields.iter().find(|f| f.id.eq_ignore_ascii_case(id.trim())) else {
                continue;
            };
            if seen.contains(&field.id) {
                continue;
            }
            seen.push(field.id);
            let value = raw.split('|').next().unwrap_or_default().trim();
            if value.is_empty() {
                continue;
            }
            let problems = check_value(field, value, field.id != DEFAULT_PLAN);
            if !problems.is_empty() {
                problems_by_field.push((field.sort_order, problems));
                continue;
            }
            match field.id {
                NOTIFICATION_MODE => {
                    values.notification_mode = [NotificationMode::Mailroom, NotificationMode::Bss]
                        .into_iter()
                        .find(|mode| notification_mode_value(*mode) == value);
                }
                DEFAULT_PLAN => values.default_plan = Some(value.to_owned()),
                SUPPORT_EMAIL => values.support_email = Some(value.to_owned()),
                _ => {}
            }
        }
        problems_by_field.sort_by_key(|(sort_order, _)| *sort_order);
        values.ignored = problems_by_field
            .into_iter()
            .flat_map(|(_, problems)| problems)
            .collect();
        values
    }

    /// Nothing set and nothing ignored.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The notification mode of this application's calls.
    pub fn mode_or(&self, configured: NotificationMode) -> NotificationMode {
        self.notification_mode.unwrap_or(configured)
    }

    /// The support address of this application's mails.
    pub fn support_email_or<'a>(&'a self, configured: &'a str) -> &'a str {
        self.support_email.as_deref().unwrap_or(configured)
    }
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

    fn headers(pairs: &[(&str, &str)]) -> SetupValues {
        SetupValues::from_headers(pairs.iter().copied())
    }

    #[test]
    fn header_values_are_read_as_the_contract_sends_them() {
        let values = headers(&[
            ("Notification_Mode", " bss | mailroom "),
            ("default_plan", "plan_01"),
            ("SUPPORT_EMAIL", "help@example.com"),
            ("notification_mode", "mailroom"),
            ("someone_elses", "anything"),
        ]);
        assert_eq!(values.notification_mode, Some(NotificationMode::Bss));
        assert_eq!(values.default_plan.as_deref(), Some("plan_01"));
        assert_eq!(values.support_email.as_deref(), Some("help@example.com"));
        assert!(values.ignored.is_empty());
        assert_eq!(
            values.mode_or(NotificationMode::Mailroom),
            NotificationMode::Bss
        );
        assert!(headers(&[]).is_empty());
        assert!(headers(&[("support_email", "  "), ("other", "x")]).is_empty());
    }

    #[test]
    fn an_invalid_header_value_is_ignored_with_its_message() {
        let values = headers(&[
            ("notification_mode", "pigeon"),
            ("support_email", "not-an-address"),
            ("default_plan", "plan_unknown_is_checked_when_used"),
        ]);
        assert_eq!(values.notification_mode, None);
        assert_eq!(values.support_email, None);
        assert_eq!(
            values.mode_or(NotificationMode::Mailroom),
            NotificationMode::Mailroom
        );
        assert_eq!(
            values.support_email_or("ops@example.net"),
            "ops@example.net"
        );
        assert_eq!(
            values.ignored,
            [
                "Notification mode: pigeon is not one of the choices (mailroom, bss).",
                "Support address: not-an-address is not an email address."
            ]
        );
        assert!(values.default_plan.is_some());
        let json = serde_json::to_string(&values).unwrap();
        assert_eq!(serde_json::from_str::<SetupValues>(&json).unwrap(), values);
        assert_eq!(
            serde_json::to_string(&headers(&[("notification_mode", "bss")])).unwrap(),
            r#"{"notification_mode":"bss"}"#
        );
    }
}
