//! Clients of outside platforms (seeds 000-002): one module per platform,
//! on a shared platform of settings with encrypted secrets, one outgoing
//! HTTP client and run reports that the job scheduler (`jobs::scheduler`)
//! records as a run history.
//!
//! This file is the contract between the platform and each integration:
//! [`IntegrationKind`] names an integration and describes its settings form,
//! [`RunReport`] is what a run did, [`IntegrationError`] why it failed.

pub mod connectwise;
pub mod outbound;
pub mod secrets;
pub mod settings;

use std::collections::BTreeMap;

/// The integrations this Mailroom knows, by the key stored in the database
/// (`integrations.kind`) and used in URLs (`/console/integrations/{key}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IntegrationKind {
    /// ConnectWise Manage (PSA): the nightly quantity sync of seed 002.
    ConnectWise,
}

impl IntegrationKind {
    pub const ALL: [IntegrationKind; 1] = [IntegrationKind::ConnectWise];

    pub fn key(self) -> &'static str {
        match self {
            Self::ConnectWise => "connectwise",
        }
    }

    pub fn parse(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.key() == key)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::ConnectWise => "ConnectWise Manage",
        }
    }
}

/// One field of an integration's settings form. Secret fields are stored
/// sealed (encrypted at rest) apart from the plain settings, and shown back
/// only masked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettingField {
    pub key: &'static str,
    pub label: &'static str,
    pub help: &'static str,
    pub secret: bool,
    pub required: bool,
}

/// An integration's settings as an operator saved them: plain values and the
/// opened secrets, both by [`SettingField::key`]. Never logged: `Debug`
/// masks the secrets.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SettingValues {
    pub plain: BTreeMap<String, String>,
    pub secrets: BTreeMap<String, String>,
}

impl std::fmt::Debug for SettingValues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let masked: BTreeMap<&str, &str> = self
            .secrets
            .keys()
            .map(|key| (key.as_str(), "********"))
            .collect();
        f.debug_struct("SettingValues")
            .field("plain", &self.plain)
            .field("secrets", &masked)
            .finish()
    }
}

/// What one run of an integration's job did: counts by name (e.g.
/// `customers`, `patched`, `created`, `unchanged`) and each item that failed
/// with its reason. A run with failures still completes; the scheduler
/// records it as "completed with failures".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunReport {
    pub counts: BTreeMap<String, u64>,
    pub failures: Vec<ItemFailure>,
}

impl RunReport {
    pub fn add(&mut self, count: &str, by: u64) {
        *self.counts.entry(count.to_owned()).or_default() += by;
    }

    pub fn fail(&mut self, item: impl Into<String>, reason: impl Into<String>) {
        self.failures.push(ItemFailure {
            item: item.into(),
            reason: reason.into(),
        });
    }
}

/// One item of a run that failed (a customer, a subscription), and why, in
/// words an operator can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemFailure {
    pub item: String,
    pub reason: String,
}

/// Why an integration call or run failed as a whole.
#[derive(Debug, thiserror::Error)]
pub enum IntegrationError {
    /// The settings are missing or invalid; the message says which.
    #[error("{0}")]
    Settings(String),
    /// The platform refused the call (4xx but 429): credentials, permissions,
    /// a missing record. Retrying will not help.
    #[error("{platform} refused the call: {message}")]
    Refused {
        platform: &'static str,
        status: u16,
        message: String,
    },
    /// The platform could not be reached, timed out, kept answering 429 or
    /// 5xx: worth retrying later.
    #[error("{platform} is unavailable: {message}")]
    Unavailable {
        platform: &'static str,
        message: String,
    },
    /// Our own storage failed.
    #[error("storage failed")]
    Store(#[source] anyhow::Error),
    /// Stored secrets do not open (a key missing after a rotation, or
    /// altered data).
    #[error("the integration's stored secrets cannot be opened")]
    Secrets(#[from] secrets::SecretsError),
}

impl IntegrationError {
    /// Whether the scheduler should retry the run with backoff.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable { .. } | Self::Store(_))
    }
}
