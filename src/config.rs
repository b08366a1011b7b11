//! Typed settings: defaults, then an optional `mailroom.toml`, then
//! `MAILROOM_*` environment variables (`MAILROOM_DATABASE_URL`, ...).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

use crate::store::PoolOptions;

/// The configuration file read when `--config` is not given, if present.
pub const DEFAULT_CONFIG_FILE: &str = "mailroom.toml";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Address and port to listen on.
    pub listen: SocketAddr,
    /// `sqlite://PATH` (created if missing) or `postgres://...`.
    pub database_url: String,
    /// Where the contract routes live, as registered in the BSS.
    pub route_prefix: String,
    pub log_format: LogFormat,
    /// Who sends the access-instructions email.
    pub notification_mode: NotificationMode,
    /// HTTP worker threads; the number of CPU cores when absent.
    pub workers: Option<usize>,
    /// Largest request body, in bytes.
    pub body_limit_bytes: usize,
    /// Database connections per instance.
    pub pool_size: u32,
    /// How long a request waits for the database (a pooled connection, or
    /// SQLite's write lock) before it answers 503.
    pub database_timeout_ms: u64,
    /// How long application keys and sync options are cached.
    pub cache_ttl_ms: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: "sqlite://data/mailroom.db".into(),
            route_prefix: "/api/".into(),
            log_format: LogFormat::Pretty,
            notification_mode: NotificationMode::Mailroom,
            workers: None,
            body_limit_bytes: 256 * 1024,
            pool_size: 16,
            database_timeout_ms: 5_000,
            cache_ttl_ms: 10_000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

/// Who sends a new customer its access instructions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotificationMode {
    /// Mailroom sends its own email (with an activation link); Synchronize
    /// answers `SendNotification: false`.
    Mailroom,
    /// The BSS sends its email: Synchronize answers `SendNotification: true`
    /// and a `GeneratedPassword`, once.
    Bss,
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("configuration file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("invalid configuration")]
    Invalid(#[from] Box<figment::Error>),
    #[error("route_prefix must be a path such as /api/, not {0:?}")]
    BadPrefix(String),
}

impl Settings {
    /// Reads the settings; `config` names a file that must exist.
    pub fn load(config: Option<&Path>) -> Result<Self, SettingsError> {
        let file = match config {
            Some(path) if !path.exists() => return Err(SettingsError::MissingFile(path.into())),
            Some(path) => path.to_path_buf(),
            None => PathBuf::from(DEFAULT_CONFIG_FILE),
        };
        let settings: Settings = Figment::from(Serialized::defaults(Settings::default()))
            .merge(Toml::file(file))
            .merge(Env::prefixed("MAILROOM_"))
            .extract()
            .map_err(Box::new)?;
        settings.validated()
    }

    /// Normalizes the route prefix to `/lower/case/`.
    pub fn validated(mut self) -> Result<Self, SettingsError> {
        let trimmed = self.route_prefix.trim().trim_matches('/');
        if trimmed
            .chars()
            .any(|c| c.is_whitespace() || c == '?' || c == '#')
        {
            return Err(SettingsError::BadPrefix(self.route_prefix));
        }
        self.route_prefix = if trimmed.is_empty() {
            "/".into()
        } else {
            format!("/{}/", trimmed.to_ascii_lowercase())
        };
        Ok(self)
    }

    pub fn pool_options(&self) -> PoolOptions {
        let timeout = Duration::from_millis(self.database_timeout_ms);
        PoolOptions {
            max_size: self.pool_size.max(1),
            checkout_timeout: timeout,
            sqlite_busy_timeout: timeout,
        }
    }

    pub fn cache_ttl(&self) -> Duration {
        Duration::from_millis(self.cache_ttl_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_is_normalized() {
        let settings = Settings {
            route_prefix: "API/Example".into(),
            ..Settings::default()
        };
        assert_eq!(settings.validated().unwrap().route_prefix, "/api/example/");
        let settings = Settings {
            route_prefix: "/api/".into(),
            ..Settings::default()
        };
        assert_eq!(settings.validated().unwrap().route_prefix, "/api/");
        let settings = Settings {
            route_prefix: "/a b/".into(),
            ..Settings::default()
        };
        assert!(settings.validated().is_err());
    }
}
