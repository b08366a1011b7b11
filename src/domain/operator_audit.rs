//! The operator audit trail's vocabulary: what an operator can do that is
//! recorded, and the masking of secrets in what a row keeps of it.

use serde_json::Value;

/// An operator action the audit trail records. The stored spelling is
/// [`AuditAction::as_str`]; the Audit page filters by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    SignedIn,
    SignInFailed,
    SignedOut,
    KeyCreated,
    KeyRevoked,
    TemplateSaved,
    TemplateRestored,
    TestMailSent,
    SyncOptionCreated,
    SyncOptionEdited,
    CustomerSuspended,
    CustomerRestored,
    ActivationLinkSent,
    MailRetried,
    MailboxPasswordLinkSent,
    MailboxStatusChanged,
    PlanCreated,
    PlanEdited,
    ProductTypeSaved,
    OperatorInvited,
    OperatorRoleChanged,
    OperatorDisabled,
    OperatorEnabled,
    OperatorPasswordResetSent,
    OperatorPasswordSet,
    OperatorPasswordChanged,
    TotpEnabled,
    IntegrationSettingsSaved,
}

impl AuditAction {
    pub const ALL: [AuditAction; 28] = [
        Self::SignedIn,
        Self::SignInFailed,
        Self::SignedOut,
        Self::KeyCreated,
        Self::KeyRevoked,
        Self::TemplateSaved,
        Self::TemplateRestored,
        Self::TestMailSent,
        Self::SyncOptionCreated,
        Self::SyncOptionEdited,
        Self::CustomerSuspended,
        Self::CustomerRestored,
        Self::ActivationLinkSent,
        Self::MailRetried,
        Self::MailboxPasswordLinkSent,
        Self::MailboxStatusChanged,
        Self::PlanCreated,
        Self::PlanEdited,
        Self::ProductTypeSaved,
        Self::OperatorInvited,
        Self::OperatorRoleChanged,
        Self::OperatorDisabled,
        Self::OperatorEnabled,
        Self::OperatorPasswordResetSent,
        Self::OperatorPasswordSet,
        Self::OperatorPasswordChanged,
        Self::TotpEnabled,
        Self::IntegrationSettingsSaved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SignedIn => "signed_in",
            Self::SignInFailed => "sign_in_failed",
            Self::SignedOut => "signed_out",
            Self::KeyCreated => "key_created",
            Self::KeyRevoked => "key_revoked",
            Self::TemplateSaved => "template_saved",
            Self::TemplateRestored => "template_restored",
            Self::TestMailSent => "test_mail_sent",
            Self::SyncOptionCreated => "sync_option_created",
            Self::SyncOptionEdited => "sync_option_edited",
            Self::CustomerSuspended => "customer_suspended",
            Self::CustomerRestored => "customer_restored",
            Self::ActivationLinkSent => "activation_link_sent",
            Self::MailRetried => "mail_retried",
            Self::MailboxPasswordLinkSent => "mailbox_password_link_sent",
            Self::MailboxStatusChanged => "mailbox_status_changed",
            Self::PlanCreated => "plan_created",
            Self::PlanEdited => "plan_edited",
            Self::ProductTypeSaved => "product_type_saved",
            Self::OperatorInvited => "operator_invited",
            Self::OperatorRoleChanged => "operator_role_changed",
            Self::OperatorDisabled => "operator_disabled",
            Self::OperatorEnabled => "operator_enabled",
            Self::OperatorPasswordResetSent => "operator_password_reset_sent",
            Self::OperatorPasswordSet => "operator_password_set",
            Self::OperatorPasswordChanged => "operator_password_changed",
            Self::TotpEnabled => "totp_enabled",
            Self::IntegrationSettingsSaved => "integration_settings_saved",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        let wanted = text.trim();
        Self::ALL.into_iter().find(|a| a.as_str() == wanted)
    }
}

/// What a masked value is replaced with.
pub const MASKED: &str = "********";

/// True for a JSON key whose value is a secret: passwords, keys, tokens,
/// secrets, one-time and recovery codes never reach an audit row.
fn names_a_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    [
        "password", "secret", "token", "api_key", "apikey", "key_hash", "recovery", "otp",
    ]
    .iter()
    .any(|word| key.contains(word))
}

/// Replaces the value of every secret-named key, at any depth.
pub fn mask_secrets(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(key, value)| {
                    let value = if names_a_secret(&key) && !value.is_null() {
                        Value::String(MASKED.into())
                    } else {
                        mask_secrets(value)
                    };
                    (key, value)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(mask_secrets).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn actions_round_trip_through_their_spelling() {
        for action in AuditAction::ALL {
            assert_eq!(AuditAction::parse(action.as_str()), Some(action));
        }
        let mut spellings: Vec<_> = AuditAction::ALL.iter().map(|a| a.as_str()).collect();
        spellings.sort_unstable();
        spellings.dedup();
        assert_eq!(spellings.len(), AuditAction::ALL.len());
        assert_eq!(AuditAction::parse("dropped_tables"), None);
    }

    #[test]
    fn secrets_are_masked_at_any_depth_and_the_rest_kept() {
        let masked = mask_secrets(json!({
            "name": "BSS",
            "password": "hunter2",
            "settings": {"ApiSecret": "s3cr3t", "base_url": "https://psa"},
            "recovery_codes": ["a", "b"],
            "items": [{"access_token": "t"}],
            "code": "MBX-50",
            "totp_secret": null,
        }));
        assert_eq!(
            masked,
            json!({
                "name": "BSS",
                "password": MASKED,
                "settings": {"ApiSecret": MASKED, "base_url": "https://psa"},
                "recovery_codes": MASKED,
                "items": [{"access_token": MASKED}],
                "code": "MBX-50",
                "totp_secret": null,
            })
        );
    }
}
