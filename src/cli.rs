//! The command line: `serve` (the default), `migrate`, `app-keys`,
//! `operators`, `integrations reseal`, and
//! printers of the generated documents.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::config::Settings;
use crate::domain::app_key::IssuedKey;
use crate::domain::identity::EmailAddress;
use crate::domain::operator::Role;
use crate::domain::password;
use crate::domain::result_code;
use crate::http::openapi;
use crate::http::service_manager::auth::{API_KEY_HEADER, APPLICATION_ID_HEADER};
use crate::integrations::outbound::Outbound;
use crate::integrations::secrets::KeyRing;
use crate::integrations::settings::Integrations;
use crate::startup::{open_store, Application};
use crate::store::applications::{self, CreateApplicationError};
use crate::store::operators::{self as operator_store, CreateOperatorError};
use crate::telemetry;

#[derive(Debug, Parser)]
#[command(
    name = "mailroom",
    version,
    about = "interworks.cloud service manager for mailbox-service operators",
    long_about = "interworks.cloud service manager for mailbox-service operators.\n\n\
        Settings come from mailroom.toml (or --config) and MAILROOM_* environment variables, \
        e.g. MAILROOM_DATABASE_URL=postgres://user@host/db, MAILROOM_LISTEN=0.0.0.0:8080, \
        MAILROOM_ROUTE_PREFIX=/api/, MAILROOM_LOG_FORMAT=json, MAILROOM_NOTIFICATION_MODE=bss."
)]
pub struct Cli {
    /// Configuration file (default: mailroom.toml when it exists).
    #[arg(long, short, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service (the default command).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage the BSS applications allowed to call the contract.
    #[command(subcommand)]
    AppKeys(AppKeysCommand),
    /// Manage the people who sign in to the operator API and console.
    #[command(subcommand)]
    Operators(OperatorsCommand),
    /// Integration settings: re-seal their secrets after a key rotation.
    #[command(subcommand)]
    Integrations(IntegrationsCommand),
    /// Print the OpenAPI document (as committed in openapi/openapi.json).
    Openapi,
    /// Print the table of result codes (as committed in docs/result-codes.md).
    ResultCodes,
}

#[derive(Debug, Subcommand)]
pub enum AppKeysCommand {
    /// Register an application and print its id and key, once.
    Create {
        /// A name for the BSS instance, unique.
        #[arg(long)]
        name: String,
    },
    /// List applications (never their keys).
    List,
    /// Revoke an application: its calls are refused from then on.
    Revoke {
        /// The application id or name.
        id_or_name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum OperatorsCommand {
    /// Create an operator. The password is read from standard input (one
    /// line), or prompted for without echo on a terminal.
    Create {
        #[arg(long)]
        email: String,
        /// super_admin (Super Admin/Operator), admin or mail_admin.
        #[arg(long)]
        role: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum IntegrationsCommand {
    /// Re-seal every integration's secrets with the current key
    /// (integrations.secret_key or the key file), opening them with a
    /// previous key (integrations.previous_secret_keys) where needed.
    Reseal,
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let command = cli.command.unwrap_or(Command::Serve);
    match command {
        Command::Openapi => {
            print!("{}", openapi::document_json());
            return Ok(());
        }
        Command::ResultCodes => {
            print!("{}", result_code::documentation_table());
            return Ok(());
        }
        _ => {}
    }
    let settings = Settings::load(cli.config.as_deref()).context("reading the settings")?;
    telemetry::init(settings.log_format);
    match command {
        Command::Serve => serve(settings).await,
        Command::Migrate => {
            open_store(&settings)
                .await
                .context("migrating the database")?;
            println!("The database is up to date.");
            Ok(())
        }
        Command::AppKeys(command) => app_keys(settings, command).await,
        Command::Operators(command) => operators(settings, command).await,
        Command::Integrations(IntegrationsCommand::Reseal) => reseal(settings).await,
        Command::Openapi | Command::ResultCodes => unreachable!("handled above"),
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let application = Application::build(settings)
        .await
        .context("starting mailroom")?;
    if let Some(credentials) = application.initial_credentials() {
        println!(
            "Mailroom created its first application. Register these in the BSS; the key is \
             shown only now:\n  {APPLICATION_ID_HEADER}: {}\n  {API_KEY_HEADER}: {}",
            credentials.app_id, credentials.key
        );
    }
    application.run_until_stopped().await?;
    Ok(())
}

async fn reseal(settings: Settings) -> anyhow::Result<()> {
    let store = open_store(&settings)
        .await
        .context("opening the database")?;
    let keys = KeyRing::from_settings(&settings).context("loading the integrations key")?;
    let outbound = Outbound::new(&settings.integrations.http);
    let report = Integrations::new(store, keys, outbound)
        .reseal_all()
        .await
        .context("re-sealing the integrations' secrets")?;
    println!(
        "Re-sealed the secrets of {} integration(s); {} already used the current key.",
        report.resealed, report.current
    );
    Ok(())
}

async fn app_keys(settings: Settings, command: AppKeysCommand) -> anyhow::Result<()> {
    let store = open_store(&settings)
        .await
        .context("opening the database")?;
    match command {
        AppKeysCommand::Create { name } => {
            let name = name.trim().to_owned();
            anyhow::ensure!(!name.is_empty(), "the name must not be empty");
            let issued = IssuedKey::generate();
            let created =
                store.run_blocking(|conn| match applications::create(conn, &name, &issued) {
                    Ok(row) => Ok(Ok(row)),
                    Err(CreateApplicationError::NameTaken(name)) => Ok(Err(name)),
                    Err(CreateApplicationError::Store(e)) => Err(e),
                })?;
            let row = created
                .map_err(|name| anyhow::anyhow!("an application named `{name}` already exists"))?;
            println!(
                "Application `{}` created. The key is shown only now:\n  {APPLICATION_ID_HEADER}: {}\n  {API_KEY_HEADER}: {}",
                row.name, row.app_id, issued.key
            );
        }
        AppKeysCommand::List => {
            let rows = store.run_blocking(applications::list)?;
            println!(
                "{:<36}  {:<24}  {:<19}  status",
                "application id", "name", "created"
            );
            for row in rows {
                let status = match row.revoked_at {
                    Some(at) => format!("revoked {}", at.format("%Y-%m-%d %H:%M")),
                    None => "active".into(),
                };
                println!(
                    "{:<36}  {:<24}  {:<19}  {status}",
                    row.app_id,
                    row.name,
                    row.created_at.format("%Y-%m-%d %H:%M:%S")
                );
            }
        }
        AppKeysCommand::Revoke { id_or_name } => {
            let revoked = store.run_blocking(|conn| applications::revoke(conn, &id_or_name))?;
            let row = revoked.ok_or_else(|| {
                anyhow::anyhow!("no application has the id or name `{id_or_name}`")
            })?;
            println!(
                "Application `{}` ({}) is revoked; running instances refuse it within their cache time.",
                row.name, row.app_id
            );
        }
    }
    Ok(())
}

async fn operators(settings: Settings, command: OperatorsCommand) -> anyhow::Result<()> {
    let OperatorsCommand::Create { email, role } = command;
    let email = EmailAddress::parse(&email)
        .map_err(|_| anyhow::anyhow!("{email:?} is not an email address"))?
        .into_inner()
        .to_lowercase();
    let role = Role::parse(&role).ok_or_else(|| {
        anyhow::anyhow!("unknown role {role:?}: use super_admin, admin or mail_admin")
    })?;
    let password = read_password()?;
    password::check_strength(&password).map_err(|weak| anyhow::anyhow!("{weak}"))?;
    let hash = password::hash(&password).map_err(|e| anyhow::anyhow!("hashing failed: {e}"))?;
    let store = open_store(&settings)
        .await
        .context("opening the database")?;
    let created =
        store.run_blocking(
            |conn| match operator_store::create(conn, &email, &hash, role) {
                Ok(row) => Ok(Ok(row)),
                Err(CreateOperatorError::EmailTaken(email)) => Ok(Err(email)),
                Err(CreateOperatorError::Store(e)) => Err(e),
            },
        )?;
    let row = created
        .map_err(|email| anyhow::anyhow!("an operator with email {email} exists already"))?;
    println!("Operator {} created with role {}.", row.email, role.label());
    Ok(())
}

fn read_password() -> anyhow::Result<String> {
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ")?;
        let second = rpassword::prompt_password("Again: ")?;
        anyhow::ensure!(first == second, "the passwords differ");
        return Ok(first);
    }
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}
