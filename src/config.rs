//! Typed settings: defaults, then an optional `mailroom.toml`, then
//! `MAILROOM_*` environment variables (`MAILROOM_DATABASE_URL`, ...).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use crate::domain::customer::NotificationMode;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

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
    /// How long a client may take to send a request, head and body; past it
    /// the request is cut (slow or stalled senders hold no connection).
    pub client_request_timeout_ms: u64,
    /// Database connections per instance.
    pub pool_size: u32,
    /// How long a request waits for the database (a pooled connection, or
    /// SQLite's write lock) before it answers 503.
    pub database_timeout_ms: u64,
    /// The longest one unit of work may take once it has a connection
    /// (PostgreSQL cancels a statement past it); a hung database answers 503
    /// after `database_timeout_ms` plus this.
    pub database_statement_timeout_ms: u64,
    /// Whether `GET /metrics` (Prometheus) is served. It needs no sign-in,
    /// like `/healthz`: keep it inside the network, or turn it off.
    pub metrics_enabled: bool,
    /// How long application keys and sync options are cached.
    pub cache_ttl_ms: u64,
    /// The address customers and operators reach this service at, used in
    /// activation links; `http://<listen address>` when absent.
    pub public_url: Option<String>,
    /// The operator, as email merge fields show it.
    pub operator: OperatorProfile,
    pub mail: MailSettings,
    /// How long an operator session lasts, in seconds.
    pub operator_session_secs: u64,
    /// Super Admins must enrol a second factor (TOTP) before anything else.
    pub require_totp_for_super_admins: bool,
    pub retention: RetentionSettings,
    pub scheduler: SchedulerSettings,
    pub integrations: IntegrationsSettings,
}

/// The scheduler of the integrations' jobs (`[scheduler]`): every instance
/// runs one; a lease in the database lets one instance run a job at a time.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct SchedulerSettings {
    /// Whether this instance runs scheduled jobs.
    pub enabled: bool,
    /// How often due jobs are looked for, in milliseconds.
    pub tick_interval_ms: u64,
    /// How long a claimed job stays this instance's without a renewal; it
    /// is renewed every third of it while the job runs, and a job whose
    /// instance stopped is taken up again once it has run out.
    pub lease_secs: u64,
    /// Attempts of a run that fails transiently, the first included.
    pub max_attempts: u32,
    /// First retry delay; doubled after each failed attempt up to
    /// `backoff_cap_ms`.
    pub backoff_base_ms: u64,
    pub backoff_cap_ms: u64,
    /// The IANA timezone new jobs' default schedules are read in (the
    /// operator's; "02:00" is 02:00 there).
    pub timezone: String,
}

impl Default for SchedulerSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            tick_interval_ms: 15_000,
            lease_secs: 300,
            max_attempts: 4,
            backoff_base_ms: 60_000,
            backoff_cap_ms: 3_600_000,
            timezone: "UTC".into(),
        }
    }
}

/// Outside platforms: the key their secrets are sealed with, and the
/// outgoing HTTP client's limits.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct IntegrationsSettings {
    /// The 32-byte key (base64) that seals integration secrets at rest
    /// (`MAILROOM_INTEGRATIONS__SECRET_KEY`). Without it, the key file is
    /// used.
    pub secret_key: Option<SecretText>,
    /// Where the key lives when `secret_key` is not set; created (mode
    /// 0600) on first start. Default: `integrations.key` beside the SQLite
    /// database, or `data/integrations.key` on PostgreSQL.
    pub secret_key_file: Option<PathBuf>,
    /// Keys (base64) that sealed secrets before a rotation: they still
    /// open them; saving or `mailroom integrations reseal` re-seals with
    /// the current key.
    pub previous_secret_keys: Vec<SecretText>,
    pub http: OutboundHttpSettings,
}

/// A secret from the configuration: `Debug` never shows it.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretText(pub String);

impl std::fmt::Debug for SecretText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"***\"")
    }
}

/// The outgoing HTTP client of every integration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct OutboundHttpSettings {
    pub connect_timeout_ms: u64,
    /// Longest a whole call (one attempt) may take.
    pub timeout_ms: u64,
    /// Attempts of a call in all, retries on 429, 5xx and lost connections
    /// included.
    pub max_attempts: u32,
    /// First pause before a retry; doubled after each attempt.
    pub backoff_base_ms: u64,
    /// Longest pause a platform's `Retry-After` may ask for.
    pub retry_after_cap_ms: u64,
}

impl Default for OutboundHttpSettings {
    fn default() -> Self {
        Self {
            connect_timeout_ms: 5_000,
            timeout_ms: 30_000,
            max_attempts: 4,
            backoff_base_ms: 500,
            retry_after_cap_ms: 60_000,
        }
    }
}

/// How long a deleted customer's personal data is kept.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct RetentionSettings {
    /// Days after a Delete before the tombstone's personal data (name,
    /// contact, address, sync option values, extra details) is erased; its
    /// ids and dates stay. 0 erases at the job's next run.
    pub deleted_customer_days: u32,
    /// How often the erasing job runs, in milliseconds.
    pub interval_ms: u64,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        Self {
            deleted_customer_days: 90,
            interval_ms: 3_600_000,
        }
    }
}

/// Who runs this Mailroom, for the `Operator.*` merge fields.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct OperatorProfile {
    pub name: String,
    pub support_email: String,
    pub portal_url: String,
}

impl Default for OperatorProfile {
    fn default() -> Self {
        Self {
            name: "Mailroom".into(),
            support_email: "support@example.com".into(),
            portal_url: "https://mail.example.com".into(),
        }
    }
}

/// Outgoing mail: the transport and the outbox worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct MailSettings {
    /// `From` of every mail, e.g. `Example Mail <support@example.com>`.
    pub from: String,
    /// SMTP server; without one, mail is written as .eml files to `eml_dir`.
    pub smtp: Option<SmtpSettings>,
    /// A PEM file of root certificates trusted, besides the public roots
    /// built in, to have signed the SMTP server's TLS certificate (e.g. a
    /// company's private CA). Used with `smtp.tls` = `starttls` or `tls`.
    pub smtp_ca_file: Option<PathBuf>,
    pub eml_dir: PathBuf,
    /// Whether this instance delivers the outbox (several may).
    pub deliver: bool,
    /// How often the worker looks for due mail when nothing wakes it.
    pub poll_interval_ms: u64,
    /// First retry delay; doubled after each failed attempt up to `retry_max_ms`.
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    /// Attempts before a mail is marked failed (an operator may retry it).
    pub max_attempts: i32,
    /// Longest a single delivery may take before it counts as failed.
    pub send_timeout_ms: u64,
    /// How long activation links stay valid, in seconds (72 h).
    pub activation_ttl_secs: u64,
}

impl Default for MailSettings {
    fn default() -> Self {
        Self {
            from: "Mailroom <mailroom@localhost>".into(),
            smtp: None,
            smtp_ca_file: None,
            eml_dir: PathBuf::from("data/outbox"),
            deliver: true,
            poll_interval_ms: 5_000,
            retry_base_ms: 10_000,
            retry_max_ms: 3_600_000,
            max_attempts: 12,
            send_timeout_ms: 30_000,
            activation_ttl_secs: 72 * 3600,
        }
    }
}

#[derive(Clone, Serialize, Deserialize)]
pub struct SmtpSettings {
    pub host: String,
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    #[serde(default)]
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<String>,
}

fn default_smtp_port() -> u16 {
    587
}

/// Written by hand so the password never reaches a log line.
impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain SMTP (a relay on the same host).
    None,
    /// STARTTLS upgrade, required.
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
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
            client_request_timeout_ms: 10_000,
            pool_size: 16,
            database_timeout_ms: 5_000,
            database_statement_timeout_ms: 15_000,
            metrics_enabled: true,
            cache_ttl_ms: 10_000,
            public_url: None,
            operator: OperatorProfile::default(),
            mail: MailSettings::default(),
            operator_session_secs: 12 * 3600,
            require_totp_for_super_admins: false,
            retention: RetentionSettings::default(),
            scheduler: SchedulerSettings::default(),
            integrations: IntegrationsSettings::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("configuration file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("invalid configuration")]
    Invalid(#[from] Box<figment::Error>),
    #[error("route_prefix must be a path such as /api/, not {0:?}")]
    BadPrefix(String),
    #[error("scheduler.timezone: {0}")]
    SchedulerTimezone(String),
    #[error("{0} must be 32 bytes in base64 (e.g. `openssl rand -base64 32`)")]
    BadSecretKey(&'static str),
}

/// The shortest client request timeout: below it a client on a slow link
/// could not send a request at all.
const MIN_REQUEST_TIMEOUT_MS: u64 = 100;

/// The outbox poller's shortest interval: below it an idle poller would
/// only spin.
const MIN_POLL_INTERVAL_MS: u64 = 10;

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
            .merge(Env::prefixed("MAILROOM_").split("__"))
            .extract()
            .map_err(Box::new)?;
        settings.validated()
    }

    /// Normalizes the route prefix to `/lower/case/` and raises values that
    /// would stall the service (no connections, no workers, a busy-looping
    /// poller) to their floor. Idempotent.
    pub fn validated(mut self) -> Result<Self, SettingsError> {
        self.pool_size = self.pool_size.max(1);
        self.client_request_timeout_ms = self.client_request_timeout_ms.max(MIN_REQUEST_TIMEOUT_MS);
        self.database_statement_timeout_ms = self
            .database_statement_timeout_ms
            .max(MIN_REQUEST_TIMEOUT_MS);
        self.workers = self.workers.map(|workers| workers.max(1));
        self.mail.poll_interval_ms = self.mail.poll_interval_ms.max(MIN_POLL_INTERVAL_MS);
        self.mail.max_attempts = self.mail.max_attempts.max(1);
        self.retention.interval_ms = self.retention.interval_ms.max(MIN_POLL_INTERVAL_MS);
        self.mail.activation_ttl_secs = self.mail.activation_ttl_secs.min(i64::MAX as u64);
        self.scheduler.tick_interval_ms = self.scheduler.tick_interval_ms.max(MIN_POLL_INTERVAL_MS);
        self.scheduler.lease_secs = self.scheduler.lease_secs.clamp(1, 7 * 24 * 3600);
        self.scheduler.max_attempts = self.scheduler.max_attempts.max(1);
        self.scheduler.backoff_cap_ms = self
            .scheduler
            .backoff_cap_ms
            .max(self.scheduler.backoff_base_ms);
        self.scheduler.timezone = self.scheduler.timezone.trim().to_owned();
        if let Err(error) =
            crate::domain::schedule::Schedule::parse("0 0 * * *", &self.scheduler.timezone)
        {
            return Err(SettingsError::SchedulerTimezone(error.to_string()));
        }
        let http = &mut self.integrations.http;
        http.max_attempts = http.max_attempts.clamp(1, 10);
        http.connect_timeout_ms = http.connect_timeout_ms.max(MIN_POLL_INTERVAL_MS);
        http.timeout_ms = http.timeout_ms.max(http.connect_timeout_ms);
        if let Some(key) = &self.integrations.secret_key {
            if decode_secret_key(key).is_none() {
                return Err(SettingsError::BadSecretKey("integrations.secret_key"));
            }
        }
        if self
            .integrations
            .previous_secret_keys
            .iter()
            .any(|key| decode_secret_key(key).is_none())
        {
            return Err(SettingsError::BadSecretKey(
                "each of integrations.previous_secret_keys",
            ));
        }
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

    pub fn database_timeout(&self) -> Duration {
        Duration::from_millis(self.database_timeout_ms)
    }

    pub fn database_statement_timeout(&self) -> Duration {
        Duration::from_millis(self.database_statement_timeout_ms)
    }

    pub fn client_request_timeout(&self) -> Duration {
        Duration::from_millis(self.client_request_timeout_ms)
    }

    pub fn cache_ttl(&self) -> Duration {
        Duration::from_millis(self.cache_ttl_ms)
    }

    /// Where the integrations' key file is: configured, or beside the SQLite
    /// database, or `data/integrations.key`.
    pub fn integrations_key_file(&self) -> PathBuf {
        if let Some(file) = &self.integrations.secret_key_file {
            return file.clone();
        }
        let sqlite = self
            .database_url
            .strip_prefix("sqlite://")
            .or_else(|| self.database_url.strip_prefix("sqlite:"));
        let folder = match sqlite.map(Path::new).and_then(Path::parent) {
            Some(parent) => parent.to_path_buf(),
            None => PathBuf::from("data"),
        };
        folder.join("integrations.key")
    }

    /// The base URL of links in mail, given the port actually bound.
    pub fn public_url_for(&self, port: u16) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{}:{port}", self.listen.ip()),
        }
    }
}

/// A 32-byte key from its base64 text (standard alphabet, padding
/// optional, surrounding whitespace ignored).
pub fn decode_secret_key(text: &SecretText) -> Option<[u8; 32]> {
    use base64::Engine;
    let trimmed = text.0.trim().trim_end_matches('=');
    let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(trimmed)
        .ok()?;
    bytes.try_into().ok()
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

    #[test]
    fn the_smtp_ca_file_is_read_from_the_mail_section() {
        let folder = tempfile::tempdir().unwrap();
        let file = folder.path().join("mailroom.toml");
        std::fs::write(
            &file,
            "[mail]\nsmtp_ca_file = \"/etc/mailroom/smtp-ca.pem\"\n\
             [mail.smtp]\nhost = \"smtp.example.com\"\n",
        )
        .unwrap();
        let settings = Settings::load(Some(&file)).unwrap();
        assert_eq!(
            settings.mail.smtp_ca_file.as_deref(),
            Some(Path::new("/etc/mailroom/smtp-ca.pem"))
        );
        let smtp = settings.mail.smtp.expect("an SMTP server");
        assert_eq!(smtp.tls, SmtpTls::Starttls, "TLS is the default");
        assert!(Settings::default().mail.smtp_ca_file.is_none());
    }

    #[test]
    fn values_that_would_stall_the_service_are_raised_to_their_floor() {
        let mut settings = Settings {
            pool_size: 0,
            workers: Some(0),
            ..Settings::default()
        };
        settings.mail.poll_interval_ms = 0;
        settings.mail.max_attempts = -3;
        settings.mail.activation_ttl_secs = u64::MAX;
        let settings = settings.validated().unwrap();
        assert_eq!(settings.pool_size, 1);
        assert_eq!(settings.workers, Some(1));
        assert_eq!(settings.mail.poll_interval_ms, MIN_POLL_INTERVAL_MS);
        assert_eq!(settings.mail.max_attempts, 1);
        assert_eq!(settings.mail.activation_ttl_secs, i64::MAX as u64);
        // Sane values are kept, and validating twice changes nothing.
        let defaults = Settings::default().validated().unwrap();
        let again = defaults.clone().validated().unwrap();
        assert_eq!(defaults.pool_size, Settings::default().pool_size);
        assert_eq!(again.route_prefix, defaults.route_prefix);
        assert_eq!(
            again.mail.poll_interval_ms,
            Settings::default().mail.poll_interval_ms
        );
    }

    #[test]
    fn integration_keys_are_checked_and_never_shown() {
        let key = SecretText("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".into());
        assert_eq!(decode_secret_key(&key).unwrap()[31], 31);
        let mut settings = Settings::default();
        settings.integrations.secret_key = Some(key);
        assert!(!format!("{settings:?}").contains("AAECAw"));
        assert!(settings.validated().is_ok());
        let mut settings = Settings::default();
        settings.integrations.previous_secret_keys = vec![SecretText("c2hvcnQ=".into())];
        assert!(matches!(
            settings.validated(),
            Err(SettingsError::BadSecretKey(_))
        ));
    }

    #[test]
    fn the_key_file_sits_beside_the_sqlite_database() {
        let settings = Settings {
            database_url: "sqlite:///var/lib/mailroom/mailroom.db".into(),
            ..Settings::default()
        };
        assert_eq!(
            settings.integrations_key_file(),
            Path::new("/var/lib/mailroom/integrations.key")
        );
        let settings = Settings {
            database_url: "postgres://db/mailroom".into(),
            ..Settings::default()
        };
        assert_eq!(
            settings.integrations_key_file(),
            Path::new("data/integrations.key")
        );
    }
}
