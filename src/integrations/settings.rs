//! The integration service: an integration's settings opened for use,
//! saved from an operator's form (secrets sealed, a secret left blank or
//! masked kept), and shown back masked.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{NaiveDateTime, Utc};

use super::outbound::Outbound;
use super::secrets::KeyRing;
use super::{connectwise, IntegrationError, IntegrationKind, SettingField, SettingValues};
use crate::store::integrations::{self as rows, IntegrationRow, SaveIntegration};
use crate::store::Store;

/// How a secret is shown: this prefix, then at most its last 2 characters.
pub const MASK: &str = "••••";

/// The shortest secret whose last 2 characters may be shown.
const SHOW_TAIL_FROM: usize = 12;

/// The platform's settings service; cheap to clone.
#[derive(Clone)]
pub struct Integrations {
    store: Store,
    keys: Arc<KeyRing>,
    outbound: Outbound,
}

/// An integration as stored, its secrets opened.
#[derive(Debug, Clone)]
pub struct Integration {
    pub kind: IntegrationKind,
    pub enabled: bool,
    pub values: SettingValues,
    pub enabled_at: Option<NaiveDateTime>,
}

/// What an operator submits: whether it is on, and each field's value by
/// [`SettingField::key`] (a secret blank or equal to its mask is kept).
#[derive(Debug, Clone, Default)]
pub struct SettingsForm {
    pub enabled: bool,
    pub values: BTreeMap<String, String>,
}

/// An integration as pages and the API show it.
#[derive(Debug, Clone)]
pub struct MaskedIntegration {
    pub kind: IntegrationKind,
    pub enabled: bool,
    pub fields: Vec<MaskedField>,
}

#[derive(Debug, Clone)]
pub struct MaskedField {
    pub field: SettingField,
    /// The plain value, or a secret's mask; empty when not set.
    pub value: String,
    pub set: bool,
}

/// What `mailroom integrations reseal` did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResealReport {
    pub resealed: usize,
    pub current: usize,
}

/// A secret as it may be shown.
pub fn mask(secret: &str) -> String {
    let length = secret.chars().count();
    if length >= SHOW_TAIL_FROM {
        let tail: String = secret.chars().skip(length - 2).collect();
        format!("{MASK}{tail}")
    } else {
        MASK.to_owned()
    }
}

/// The fields of an integration's settings form.
pub fn fields_of(kind: IntegrationKind) -> &'static [SettingField] {
    match kind {
        IntegrationKind::ConnectWise => connectwise::FIELDS,
    }
}

/// Merges a submitted form into the stored values and checks the result:
/// unknown fields refused, a secret left blank or masked kept, required
/// fields present, then the integration's own checks. Pure, so the page's
/// rules are unit-tested.
pub fn merge_form(
    kind: IntegrationKind,
    stored: &SettingValues,
    form: &SettingsForm,
) -> Result<SettingValues, Vec<String>> {
    let fields = fields_of(kind);
    let mut problems: Vec<String> = form
        .values
        .keys()
        .filter(|key| !fields.iter().any(|field| field.key == key.as_str()))
        .map(|key| format!("{} has no setting {key:?}.", kind.label()))
        .collect();
    let mut merged = SettingValues::default();
    for field in fields {
        let submitted = form
            .values
            .get(field.key)
            .map(|value| value.trim())
            .unwrap_or("");
        let value = if field.secret && (submitted.is_empty() || submitted.starts_with(MASK)) {
            stored.secrets.get(field.key).cloned().unwrap_or_default()
        } else {
            submitted.to_owned()
        };
        if value.is_empty() {
            if field.required {
                problems.push(format!("{} is required.", field.label));
            }
            continue;
        }
        let target = if field.secret {
            &mut merged.secrets
        } else {
            &mut merged.plain
        };
        target.insert(field.key.to_owned(), value);
    }
    if problems.is_empty() {
        problems.extend(match kind {
            IntegrationKind::ConnectWise => connectwise::check_settings(&merged),
        });
    }
    if problems.is_empty() {
        Ok(merged)
    } else {
        Err(problems)
    }
}

/// The masked view of stored values.
pub fn masked(kind: IntegrationKind, enabled: bool, values: &SettingValues) -> MaskedIntegration {
    let fields = fields_of(kind)
        .iter()
        .map(|field| {
            let stored = if field.secret {
                values.secrets.get(field.key)
            } else {
                values.plain.get(field.key)
            };
            MaskedField {
                field: *field,
                value: match stored {
                    Some(secret) if field.secret => mask(secret),
                    Some(plain) => plain.clone(),
                    None => String::new(),
                },
                set: stored.is_some(),
            }
        })
        .collect();
    MaskedIntegration {
        kind,
        enabled,
        fields,
    }
}

impl Integrations {
    pub fn new(store: Store, keys: KeyRing, outbound: Outbound) -> Integrations {
        Integrations {
            store,
            keys: Arc::new(keys),
            outbound,
        }
    }

    pub fn outbound(&self) -> &Outbound {
        &self.outbound
    }

    /// The key ring, which also seals secrets that are not an
    /// integration's (operators' TOTP secrets).
    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// An integration's settings, secrets opened; off and empty when never
    /// saved.
    pub async fn load(&self, kind: IntegrationKind) -> Result<Integration, IntegrationError> {
        let row = self
            .store
            .run(move |conn| rows::find(conn, kind.key()))
            .await
            .map_err(|e| IntegrationError::Store(e.into()))?;
        self.open(kind, row)
    }

    /// Every integration this Mailroom knows, in [`IntegrationKind::ALL`]
    /// order, masked.
    pub async fn all_masked(&self) -> Result<Vec<MaskedIntegration>, IntegrationError> {
        let stored = self
            .store
            .run(rows::all)
            .await
            .map_err(|e| IntegrationError::Store(e.into()))?;
        IntegrationKind::ALL
            .into_iter()
            .map(|kind| {
                let row = stored.iter().find(|row| row.kind == kind.key()).cloned();
                let integration = self.open(kind, row)?;
                Ok(masked(kind, integration.enabled, &integration.values))
            })
            .collect()
    }

    /// Saves a form (see [`merge_form`]); the secrets are sealed again
    /// with the current key. `Settings` lists what is wrong.
    pub async fn save(
        &self,
        kind: IntegrationKind,
        form: &SettingsForm,
    ) -> Result<Integration, IntegrationError> {
        let stored = self.load(kind).await?;
        let values = merge_form(kind, &stored.values, form)
            .map_err(|problems| IntegrationError::Settings(problems.join(" ")))?;
        let save = SaveIntegration {
            kind: kind.key().to_owned(),
            enabled: form.enabled,
            settings: serde_json::to_string(&values.plain).expect("strings serialize"),
            sealed_secrets: (!values.secrets.is_empty())
                .then(|| self.keys.seal(kind, &values.secrets)),
        };
        let now = Utc::now().naive_utc();
        let row = self
            .store
            .run(move |conn| rows::save(conn, &save, now))
            .await
            .map_err(|e| IntegrationError::Store(e.into()))?;
        tracing::info!(
            integration = kind.key(),
            enabled = row.enabled,
            "integration settings saved"
        );
        Ok(Integration {
            kind,
            enabled: row.enabled,
            values,
            enabled_at: row.enabled_at,
        })
    }

    /// Re-seals every stored secret with the current key (after a
    /// rotation); a row saved meanwhile is left as its save wrote it.
    pub async fn reseal_all(&self) -> Result<ResealReport, IntegrationError> {
        let stored = self
            .store
            .run(rows::all)
            .await
            .map_err(|e| IntegrationError::Store(e.into()))?;
        let mut report = ResealReport::default();
        for row in stored {
            let (Some(kind), Some(sealed)) =
                (IntegrationKind::parse(&row.kind), row.sealed_secrets)
            else {
                continue;
            };
            if self.keys.is_current(&sealed) {
                report.current += 1;
                continue;
            }
            let secrets = self.keys.open(kind, &sealed)?;
            let resealed = self.keys.seal(kind, &secrets);
            let replaced = self
                .store
                .run(move |conn| rows::replace_seal(conn, kind.key(), &sealed, &resealed))
                .await
                .map_err(|e| IntegrationError::Store(e.into()))?;
            if replaced {
                report.resealed += 1;
            }
        }
        Ok(report)
    }

    fn open(
        &self,
        kind: IntegrationKind,
        row: Option<IntegrationRow>,
    ) -> Result<Integration, IntegrationError> {
        let Some(row) = row else {
            return Ok(Integration {
                kind,
                enabled: false,
                values: SettingValues::default(),
                enabled_at: None,
            });
        };
        let plain: BTreeMap<String, String> = serde_json::from_str(&row.settings).map_err(|e| {
            IntegrationError::Store(anyhow::Error::new(e).context("stored integration settings"))
        })?;
        let secrets = match &row.sealed_secrets {
            Some(sealed) => self.keys.open(kind, sealed)?,
            None => BTreeMap::new(),
        };
        Ok(Integration {
            kind,
            enabled: row.enabled,
            values: SettingValues { plain, secrets },
            enabled_at: row.enabled_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> SettingsForm {
        SettingsForm {
            enabled: true,
            values: pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    const FULL: &[(&str, &str)] = &[
        ("site_url", "https://api-na.myconnectwise.net"),
        ("company_id", "acme"),
        ("public_key", "pub"),
        ("private_key", "a-long-private-key-42"),
        ("client_id", "client"),
    ];

    #[test]
    fn secrets_are_masked_to_their_last_two_characters_at_most() {
        assert_eq!(mask("a-long-private-key-42"), "••••42");
        assert_eq!(mask("short"), "••••");
        let values = merge_form(
            IntegrationKind::ConnectWise,
            &SettingValues::default(),
            &form(FULL),
        )
        .unwrap();
        let view = masked(IntegrationKind::ConnectWise, true, &values);
        let private = view
            .fields
            .iter()
            .find(|f| f.field.key == "private_key")
            .unwrap();
        assert_eq!(private.value, "••••42");
        assert!(private.set);
        assert!(!format!("{view:?}").contains("private-key"));
    }

    #[test]
    fn a_blank_or_masked_secret_keeps_the_stored_one() {
        let stored = merge_form(
            IntegrationKind::ConnectWise,
            &SettingValues::default(),
            &form(FULL),
        )
        .unwrap();
        for kept in ["", "••••42", "••••"] {
            let mut submitted = form(FULL);
            submitted
                .values
                .insert("private_key".into(), kept.to_owned());
            let merged = merge_form(IntegrationKind::ConnectWise, &stored, &submitted).unwrap();
            assert_eq!(merged.secrets["private_key"], "a-long-private-key-42");
        }
        let mut changed = form(FULL);
        changed
            .values
            .insert("private_key".into(), "new-key".to_owned());
        let merged = merge_form(IntegrationKind::ConnectWise, &stored, &changed).unwrap();
        assert_eq!(merged.secrets["private_key"], "new-key");
    }

    #[test]
    fn missing_and_unknown_fields_are_named() {
        let problems = merge_form(
            IntegrationKind::ConnectWise,
            &SettingValues::default(),
            &form(&[("site_url", "https://cw.example"), ("colour", "red")]),
        )
        .unwrap_err();
        assert!(problems.iter().any(|p| p.contains("\"colour\"")));
        assert!(problems.contains(&"Private key is required.".to_owned()));
        assert!(problems.contains(&"Company ID is required.".to_owned()));
        let mut plain_http = form(FULL);
        plain_http
            .values
            .insert("site_url".into(), "http://cw.example".into());
        let problems = merge_form(
            IntegrationKind::ConnectWise,
            &SettingValues::default(),
            &plain_http,
        )
        .unwrap_err();
        assert!(problems[0].contains("https://"), "{problems:?}");
    }
}
