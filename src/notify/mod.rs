//! Notifications: email templates with merge fields, the outbox and the
//! transports that deliver it.
//!
//! Mail is queued as a bare outbox row in the transaction that needs it and
//! rendered when it is sent, from the template's current revision: no
//! rendered secret (an activation link) is ever stored.

pub mod mailer;
pub mod outbox;
pub mod template;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use chrono::Utc;

use crate::config::{NotificationMode, OperatorProfile};
use crate::domain::sync_options::option_ids;
use crate::domain::template::MAILBOX_SET_PASSWORD;
use crate::domain::token::IssuedToken;
use crate::store::customers::{self, CustomerDetails};
use crate::store::outbox::OutboxRow;
use crate::store::sync_options::CatalogCache;
use crate::store::{
    activation, applications, email_templates, operator_accounts, Store, StoreError,
};
use crate::telemetry::error_chain;
use template::{
    CompiledTemplate, KnownFields, MergeContext, RenderedMessage, TemplateError, TemplateSource,
};

/// The path of activation links, under the public URL.
pub const ACTIVATION_PATH: &str = "/activate/";

/// The path of mailboxes' set-password links, under the public URL.
pub const MAILBOX_PASSWORD_PATH: &str = "/mailbox-password/";
/// Where an operator's set-password link leads (the console serves it).
pub const OPERATOR_PASSWORD_PATH: &str = "/console/set-password/";

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the stored template {name} revision {revision} no longer compiles")]
    Template {
        name: String,
        revision: i32,
        #[source]
        source: TemplateError,
    },
    #[error("there is no template named {0}")]
    NoSuchTemplate(String),
}

impl NotifyError {
    /// Whether sending later could succeed without anyone changing anything.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Store(_))
    }
}

/// Compiling a large template takes up to a second: not on the async runtime.
async fn compile_off_runtime(
    source: TemplateSource,
    known: KnownFields,
) -> Result<Result<CompiledTemplate, TemplateError>, StoreError> {
    tokio::task::spawn_blocking(move || CompiledTemplate::compile(&source, &known))
        .await
        .map_err(StoreError::TaskFailed)
}

/// What rendering settings the notifier needs.
#[derive(Debug, Clone)]
pub struct NotifierSettings {
    pub mode: NotificationMode,
    pub operator: OperatorProfile,
    /// Base URL of activation links, without trailing slash.
    pub public_url: String,
    pub activation_ttl: chrono::Duration,
}

/// Renders templates for customers and previews, compiling each template
/// revision once.
pub struct Notifier {
    store: Store,
    catalog: Arc<CatalogCache>,
    settings: NotifierSettings,
    /// (template name) -> (revision, compiled).
    compiled: RwLock<HashMap<String, (i32, Arc<CompiledTemplate>)>>,
}

/// A mail ready to go out.
pub struct PreparedMail {
    pub recipient: String,
    pub rendered: RenderedMessage,
}

/// What to do with an outbox row.
pub enum Preparation {
    Send(PreparedMail),
    /// The mail must not go out; the reason is recorded.
    Cancel(String),
    /// The mail cannot go out until someone fixes something.
    Fail(String),
}

impl Notifier {
    pub fn new(store: Store, catalog: Arc<CatalogCache>, settings: NotifierSettings) -> Self {
        Self {
            store,
            catalog,
            settings,
            compiled: RwLock::new(HashMap::new()),
        }
    }

    pub fn settings(&self) -> &NotifierSettings {
        &self.settings
    }

    /// The merge fields templates may use now (they follow the sync options).
    pub async fn known_fields(&self) -> Result<KnownFields, StoreError> {
        let catalog = self.catalog.get().await?;
        let keys = catalog
            .definitions()
            .iter()
            .map(|d| d.id.clone())
            .chain([crate::domain::customer::CUSTOMER_ID_KEY.to_owned()]);
        Ok(KnownFields::new(self.settings.mode, keys))
    }

    /// Checks and compiles a template text against the current fields.
    pub async fn compile(&self, source: &TemplateSource) -> Result<CompiledTemplate, NotifyError> {
        let known = self.known_fields().await?;
        compile_off_runtime(source.clone(), known)
            .await?
            .map_err(|source| NotifyError::Template {
                name: "(draft)".into(),
                revision: 0,
                source,
            })
    }

    /// Checks `revision`'s text against the current merge fields and, when
    /// it passes, stores it as the template's new current revision. The one
    /// way templates change, for the operator API and the console alike.
    pub async fn save_revision(
        &self,
        revision: email_templates::NewRevision<'static>,
    ) -> Result<email_templates::SaveOutcome, NotifyError> {
        self.compile(&revision.source).await?;
        Ok(self
            .store
            .run(move |conn| email_templates::save(conn, &revision))
            .await?)
    }

    /// The compiled current revision of `name`: one indexed read, and a
    /// compile only when the revision changed since last time.
    pub async fn current(&self, name: &str) -> Result<Arc<CompiledTemplate>, NotifyError> {
        let owned = name.to_owned();
        let revision = self
            .store
            .run(move |conn| email_templates::current_revision_number(conn, &owned))
            .await?
            .ok_or_else(|| NotifyError::NoSuchTemplate(name.to_owned()))?;
        if let Some((cached_revision, compiled)) = self.cache_read().get(name) {
            if *cached_revision == revision {
                return Ok(Arc::clone(compiled));
            }
        }
        let owned = name.to_owned();
        let row = self
            .store
            .run(move |conn| email_templates::revision(conn, &owned, revision))
            .await?
            .ok_or_else(|| NotifyError::NoSuchTemplate(name.to_owned()))?;
        let known = self.known_fields().await?;
        let compiled = Arc::new(compile_off_runtime(row.source(), known).await?.map_err(
            |source| NotifyError::Template {
                name: name.to_owned(),
                revision,
                source,
            },
        )?);
        self.compiled
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(name.to_owned(), (revision, Arc::clone(&compiled)));
        Ok(compiled)
    }

    fn cache_read(
        &self,
    ) -> std::sync::RwLockReadGuard<'_, HashMap<String, (i32, Arc<CompiledTemplate>)>> {
        self.compiled
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Sample values for previews and test mail.
    pub async fn sample_context(&self) -> Result<MergeContext, StoreError> {
        Ok(self.known_fields().await?.sample_context())
    }

    /// The values of a customer's mail; the activation link is left empty.
    pub fn customer_context(&self, details: &CustomerDetails) -> MergeContext {
        let customer = &details.customer;
        let contact = details.contact.as_ref();
        let extra_info = customer.extra_info().unwrap_or_default();
        let username = details
            .options
            .iter()
            .find(|(id, _)| id == option_ids::USERNAME)
            .map(|(_, value)| value.clone())
            .or_else(|| extra_info.get(option_ids::USERNAME).cloned());
        let operator = &self.settings.operator;
        MergeContext {
            contact_first_name: contact.and_then(|c| c.first_name.clone()),
            contact_last_name: contact.and_then(|c| c.last_name.clone()),
            contact_email: contact.and_then(|c| c.email.clone()),
            account_name: Some(customer.name.clone()),
            account_code: customer.code.clone(),
            account_email: customer.email.clone(),
            username,
            password: None,
            activation_url: None,
            operator_name: Some(operator.name.clone()),
            operator_support_email: Some(operator.support_email.clone()),
            operator_portal_url: Some(operator.portal_url.clone()),
            // `prepare` puts the application's own address in, when it has one.
            support_email: Some(operator.support_email.clone()),
            mailbox_address: None,
            mailbox_display_name: None,
            password_url: None,
            password_expires_at: None,
            extra_info,
        }
    }

    /// An operator's set-password mail (invitation or reset): a fresh
    /// one-time link to the console's set-password page, to the operator's
    /// address; only the link's hash is stored.
    async fn prepare_operator_mail(
        &self,
        row: &OutboxRow,
        operator_id: i64,
        compiled: Arc<CompiledTemplate>,
    ) -> Result<Preparation, NotifyError> {
        let outbox_id = row.id;
        let (facts, superseded) = self
            .store
            .run(move |conn| {
                Ok((
                    operator_accounts::mail_facts(conn, operator_id)?,
                    operator_accounts::newer_operator_mail_queued(conn, operator_id, outbox_id)?,
                ))
            })
            .await?;
        if superseded {
            return Ok(Preparation::Cancel(
                "a newer set-password link was asked for this operator".into(),
            ));
        }
        let Some(facts) = facts else {
            return Ok(Preparation::Cancel("the operator no longer exists".into()));
        };
        if facts.disabled {
            return Ok(Preparation::Cancel("the operator is disabled".into()));
        }
        let purpose = if facts.has_password {
            "reset"
        } else {
            "invite"
        };
        let token = IssuedToken::generate();
        let expires_at = Utc::now().naive_utc() + self.settings.activation_ttl;
        let hash = token.hash.clone();
        self.store
            .run(move |conn| {
                operator_accounts::issue_token(
                    conn,
                    operator_id,
                    outbox_id,
                    &hash,
                    purpose,
                    expires_at,
                )
            })
            .await?;
        let operator = &self.settings.operator;
        let context = MergeContext {
            operator_name: Some(operator.name.clone()),
            operator_support_email: Some(operator.support_email.clone()),
            operator_portal_url: Some(operator.portal_url.clone()),
            support_email: Some(operator.support_email.clone()),
            password_url: Some(format!(
                "{}{OPERATOR_PASSWORD_PATH}{}",
                self.settings.public_url, token.token
            )),
            password_expires_at: Some(expires_at.format("%Y-%m-%d %H:%M UTC").to_string()),
            ..MergeContext::default()
        };
        Ok(match compiled.render(&context) {
            Ok(rendered) => Preparation::Send(PreparedMail {
                recipient: facts.email,
                rendered,
            }),
            Err(error) => Preparation::Fail(error_chain(&error)),
        })
    }

    /// Renders an outbox row for sending. A customer's access instructions
    /// get a fresh activation link (only its hash is stored); a retried mail
    /// gets another one, and any of them activates the account once.
    pub async fn prepare(&self, row: &OutboxRow) -> Result<Preparation, NotifyError> {
        let compiled = match self.current(&row.template_name).await {
            Ok(compiled) => compiled,
            Err(error) if error.is_transient() => return Err(error),
            Err(error) => return Ok(Preparation::Fail(error_chain(&error))),
        };
        if let Some(operator_id) = row.operator_id {
            return self.prepare_operator_mail(row, operator_id, compiled).await;
        }
        let Some(customer_id) = row.customer_id else {
            // A test mail: sample values, to the address given.
            let Some(recipient) = row.recipient.clone() else {
                return Ok(Preparation::Fail("the mail has no recipient".into()));
            };
            let context = self.sample_context().await?;
            return Ok(match compiled.render(&context) {
                Ok(rendered) => Preparation::Send(PreparedMail {
                    recipient,
                    rendered,
                }),
                Err(error) => Preparation::Fail(error_chain(&error)),
            });
        };
        let mailbox = match row.mailbox_id {
            Some(mailbox_id) => {
                let outbox_id = row.id;
                let (facts, superseded) = self
                    .store
                    .run(move |conn| {
                        Ok((
                            activation::mailbox_mail_facts(conn, mailbox_id)?,
                            activation::newer_mailbox_mail_queued(conn, mailbox_id, outbox_id)?,
                        ))
                    })
                    .await?;
                if superseded {
                    return Ok(Preparation::Cancel(
                        "a newer set-password link was asked for this mailbox".into(),
                    ));
                }
                match facts {
                    Some(facts) => Some((mailbox_id, facts)),
                    None => return Ok(Preparation::Cancel("the mailbox no longer exists".into())),
                }
            }
            None if row.template_name == MAILBOX_SET_PASSWORD => {
                return Ok(Preparation::Cancel("the mailbox no longer exists".into()))
            }
            None => None,
        };
        let found = self
            .store
            .run(move |conn| {
                let Some(details) = customers::load_details_by_id(conn, customer_id)? else {
                    return Ok(None);
                };
                let settings = applications::settings_of(conn, details.customer.application_id)?;
                Ok(Some((details, settings)))
            })
            .await?;
        let Some((details, settings)) = found else {
            return Ok(Preparation::Cancel("the customer no longer exists".into()));
        };
        if details.customer.status != crate::domain::customer::CustomerStatus::Active {
            return Ok(Preparation::Cancel(format!(
                "the customer is {} and gets no mail",
                details.customer.status
            )));
        }
        let recipient = match &mailbox {
            Some((_, facts)) => facts.recipient.clone(),
            None => details
                .contact
                .as_ref()
                .and_then(|c| c.email.clone())
                .or_else(|| details.customer.email.clone()),
        };
        let Some(recipient) = recipient else {
            return Ok(Preparation::Fail(
                "the customer has no email address (neither the account nor its contact)".into(),
            ));
        };
        let mut context = self.customer_context(&details);
        // The support address the customer's BSS set up (last seen on its calls).
        if let Some(address) = settings.and_then(|s| s.support_email) {
            context.support_email = Some(address);
        }
        if let Some((mailbox_id, facts)) = mailbox {
            // Its own link, whatever the notification mode: mailboxes'
            // passwords are set with us, never mailed by the BSS.
            let token = IssuedToken::generate();
            let expires_at = Utc::now().naive_utc() + self.settings.activation_ttl;
            let (outbox_id, hash) = (row.id, token.hash.clone());
            self.store
                .run(move |conn| {
                    activation::issue_for_mailbox(conn, mailbox_id, outbox_id, &hash, expires_at)
                })
                .await?;
            context.mailbox_address = Some(facts.address);
            context.mailbox_display_name = Some(facts.display_name);
            context.password_url = Some(format!(
                "{}{MAILBOX_PASSWORD_PATH}{}",
                self.settings.public_url, token.token
            ));
            context.password_expires_at = Some(expires_at.format("%Y-%m-%d %H:%M UTC").to_string());
        } else {
            // Mailroom mails a customer only in the mailroom mode (its
            // application's or the configured one): the mail carries the link.
            let token = IssuedToken::generate();
            let expires_at = Utc::now().naive_utc() + self.settings.activation_ttl;
            let outbox_id = row.id;
            let hash = token.hash.clone();
            self.store
                .run(move |conn| {
                    activation::issue(conn, customer_id, Some(outbox_id), &hash, expires_at)
                })
                .await?;
            context.activation_url = Some(format!(
                "{}{ACTIVATION_PATH}{}",
                self.settings.public_url, token.token
            ));
        }
        Ok(match compiled.render(&context) {
            Ok(rendered) => Preparation::Send(PreparedMail {
                recipient,
                rendered,
            }),
            Err(error) => Preparation::Fail(error_chain(&error)),
        })
    }
}

#[cfg(test)]
mod link_path_tests {
    use super::{ACTIVATION_PATH, MAILBOX_PASSWORD_PATH};
    use crate::telemetry::SECRET_PATH_SEGMENTS;

    #[test]
    fn the_log_masks_the_tokens_of_both_link_paths() {
        for path in [ACTIVATION_PATH, MAILBOX_PASSWORD_PATH] {
            let segment = path.trim_matches('/');
            assert!(SECRET_PATH_SEGMENTS.contains(&segment), "{path}");
        }
    }
}
