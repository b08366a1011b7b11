//! The values a template is rendered with ([`MergeContext`]) and the JSON
//! handlebars reads them from.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::fields::{KnownFields, RESERVED_TOP_LEVEL};

/// Values to render with. Every known field is present at render time (empty
/// string when the customer lacks it), so strict mode never fails on a
/// template that passed validation.
#[derive(Debug, Clone, Default)]
pub struct MergeContext {
    pub contact_first_name: Option<String>,
    pub contact_last_name: Option<String>,
    pub contact_email: Option<String>,
    pub account_name: Option<String>,
    pub account_code: Option<String>,
    pub account_email: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub activation_url: Option<String>,
    pub operator_name: Option<String>,
    pub operator_support_email: Option<String>,
    pub operator_portal_url: Option<String>,
    /// The application's `support_email` setting, else the operator's.
    pub support_email: Option<String>,
    /// The set-password mail's mailbox, link and its expiry.
    pub mailbox_address: Option<String>,
    pub mailbox_display_name: Option<String>,
    pub password_url: Option<String>,
    pub password_expires_at: Option<String>,
    /// AccountExtraInfo key -> value (top-level merge fields).
    pub extra_info: BTreeMap<String, String>,
}

impl MergeContext {
    /// The JSON handlebars renders. Every known field is present (`""` when
    /// `None`); extra info is added at top level but never overrides a fixed
    /// field. `Password` and `ActivationUrl` are only present when known in
    /// this mode.
    pub fn to_json(&self, known: &KnownFields) -> Value {
        let text = |value: &Option<String>| Value::String(value.clone().unwrap_or_default());

        let mut root = Map::new();
        for (key, value) in &self.extra_info {
            if !RESERVED_TOP_LEVEL.contains(&key.as_str()) {
                root.insert(key.clone(), Value::String(value.clone()));
            }
        }
        // A known key the customer lacks still renders (as "").
        for key in &known.extra_keys {
            root.entry(key.clone())
                .or_insert_with(|| Value::String(String::new()));
        }

        root.insert(
            "Contacts".into(),
            json!({
                "FullName": self.full_name(),
                "FirstName": text(&self.contact_first_name),
                "LastName": text(&self.contact_last_name),
                "Email": text(&self.contact_email),
            }),
        );
        root.insert(
            "Account".into(),
            json!({
                "Name": text(&self.account_name),
                "Code": text(&self.account_code),
                "Email": text(&self.account_email),
            }),
        );
        root.insert(
            "Operator".into(),
            json!({
                "Name": text(&self.operator_name),
                "SupportEmail": text(&self.operator_support_email),
                "PortalUrl": text(&self.operator_portal_url),
            }),
        );
        // The BSS may keep the username in extra info only.
        let username = self
            .username
            .clone()
            .or_else(|| self.extra_info.get("username").cloned())
            .unwrap_or_default();
        root.insert("username".into(), Value::String(username));
        root.insert("support_email".into(), text(&self.support_email));
        root.insert(
            "Mailbox".into(),
            json!({
                "Address": text(&self.mailbox_address),
                "DisplayName": text(&self.mailbox_display_name),
            }),
        );
        root.insert("PasswordUrl".into(), text(&self.password_url));
        root.insert("PasswordExpiresAt".into(), text(&self.password_expires_at));
        // Mode-specific secrets are only handed to the template when usable.
        if known.contains("Password") {
            root.insert("Password".into(), text(&self.password));
        }
        if known.contains("ActivationUrl") {
            root.insert("ActivationUrl".into(), text(&self.activation_url));
        }
        Value::Object(root)
    }

    /// "First Last", or the account name when the contact has no name.
    fn full_name(&self) -> String {
        let parts = [&self.contact_first_name, &self.contact_last_name];
        let name = parts
            .iter()
            .filter_map(|part| part.as_deref().map(str::trim))
            .filter(|part| !part.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        if name.is_empty() {
            self.account_name
                .as_deref()
                .map(str::trim)
                .unwrap_or_default()
                .to_owned()
        } else {
            name
        }
    }

    /// The context slot a fixed field reads from (`None` for derived
    /// fields such as `Contacts.FullName`).
    pub(super) fn fixed_slot(&mut self, name: &str) -> Option<&mut Option<String>> {
        Some(match name {
            "Contacts.FirstName" => &mut self.contact_first_name,
            "Contacts.LastName" => &mut self.contact_last_name,
            "Contacts.Email" => &mut self.contact_email,
            "Account.Name" => &mut self.account_name,
            "Account.Code" => &mut self.account_code,
            "Account.Email" => &mut self.account_email,
            "username" => &mut self.username,
            "Password" => &mut self.password,
            "ActivationUrl" => &mut self.activation_url,
            "Operator.Name" => &mut self.operator_name,
            "Operator.SupportEmail" => &mut self.operator_support_email,
            "Operator.PortalUrl" => &mut self.operator_portal_url,
            "support_email" => &mut self.support_email,
            "Mailbox.Address" => &mut self.mailbox_address,
            "Mailbox.DisplayName" => &mut self.mailbox_display_name,
            "PasswordUrl" => &mut self.password_url,
            "PasswordExpiresAt" => &mut self.password_expires_at,
            _ => return None,
        })
    }
}

/// The sample context of previews lives here, beside the context it fills.
impl KnownFields {
    /// Sample values for previews: a context where every known field has
    /// its sample.
    pub fn sample_context(&self) -> MergeContext {
        let mut context = MergeContext::default();
        for field in self.fields() {
            if let Some(slot) = context.fixed_slot(&field.name) {
                *slot = Some(field.sample.clone());
            }
        }
        context.extra_info = self
            .fields()
            .iter()
            .filter(|f| self.extra_keys.contains(&f.name))
            .map(|f| (f.name.clone(), f.sample.clone()))
            .collect();
        context
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::NotificationMode;
    use crate::notify::template::test_support::*;

    #[test]
    fn username_falls_back_to_extra_info() {
        let known = KnownFields::new(NotificationMode::Mailroom, vec!["username".to_owned()]);
        let mut context = MergeContext::default();
        context
            .extra_info
            .insert("username".into(), "from-bss".into());
        assert_eq!(context.to_json(&known)["username"], "from-bss");
        context.username = Some("maria".into());
        assert_eq!(context.to_json(&known)["username"], "maria");
    }

    #[test]
    fn full_name_falls_back_to_the_account_name() {
        let mut context = MergeContext {
            account_name: Some("Example Ltd".into()),
            contact_last_name: Some(" Papadopoulou ".into()),
            ..MergeContext::default()
        };
        assert_eq!(context.full_name(), "Papadopoulou");
        context.contact_last_name = None;
        assert_eq!(context.full_name(), "Example Ltd");
    }

    #[test]
    fn missing_values_render_empty() {
        let known = KnownFields::new(NotificationMode::Mailroom, vec!["customer_id".to_owned()]);
        let every_field: String = known
            .fields()
            .iter()
            .map(|f| format!("[{}:[#{}#]]", f.name, f.name))
            .collect();
        let template = source("Hi [#username#]", &every_field, &every_field);
        let message = render(&template, &known, &MergeContext::default());
        assert_eq!(message.subject, "Hi");
        assert!(message
            .text_body
            .contains("[Contacts.FullName:][Contacts.FirstName:]"));
        assert!(message.text_body.ends_with("[customer_id:]"));
    }

    #[test]
    fn the_password_depends_on_the_mode_the_link_does_not() {
        let bss = KnownFields::new(NotificationMode::Bss, Vec::new());
        let mailroom = known();
        // An application may choose mailroom on a Mailroom configured bss.
        assert!(bss.contains("Password") && bss.contains("ActivationUrl"));
        assert!(mailroom.contains("ActivationUrl") && !mailroom.contains("Password"));

        let password = text("[#Password#]");
        let link = text("[#ActivationUrl#]");
        assert_eq!(problems(&password, &mailroom).len(), 1);

        let context = MergeContext {
            password: Some("s3cret".into()),
            activation_url: Some("https://x.example/a".into()),
            ..MergeContext::default()
        };
        assert_eq!(render(&password, &bss, &context).text_body, "s3cret");
        assert_eq!(
            render(&link, &mailroom, &context).text_body,
            "https://x.example/a"
        );
        // A template checked in BSS mode may carry the link too.
        assert_eq!(
            render(&link, &bss, &context).text_body,
            "https://x.example/a"
        );
        // The other mode's secret is not even handed to the template.
        assert!(context.to_json(&mailroom).get("Password").is_none());

        // Extra info cannot bring a field of the other mode back.
        let with_extra = KnownFields::new(NotificationMode::Mailroom, vec!["Password".to_owned()]);
        assert!(!with_extra.contains("Password"));
    }
}
