//! A customer's mailboxes on its console page: a searchable, filterable
//! page of them, the seats each subscription has in use, and the disable and
//! activate buttons, which run the same units of work as `Users/Disable`
//! and `Users/Activate`, and "send a set-password link" (`Users/Password/Reset`
//! without a password).

use std::collections::HashMap;

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use super::pages;
use super::{ConsoleError, ConsoleSession};
use crate::domain::mailbox::{MailboxAction, MailboxStatus};
use crate::domain::operator::Permission;
use crate::domain::operator_audit::AuditAction;
use crate::http::operator::OperatorState;
use crate::store::mailboxes::{
    self, CustomerBrief, MailboxFilter, MailboxOutcome, MailboxRef, Page,
};
use crate::store::{DbConnection, StoreError};

/// The customer's page (as `customers::detail_href`; that module renders
/// this one's section, so this one does not import it).
fn detail_href(external_id: &str) -> String {
    format!(
        "/console/customers/{}",
        pages::encode_component(external_id)
    )
}

/// Mailboxes shown a page.
pub const PAGE_SIZE: i64 = 50;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/customers/{external_id}/mailboxes/{mailbox_id}/disable",
        web::post().to(disable),
    )
    .route(
        "/customers/{external_id}/mailboxes/{mailbox_id}/activate",
        web::post().to(activate),
    )
    .route(
        "/customers/{external_id}/mailboxes/{mailbox_id}/password-link",
        web::post().to(password_link),
    );
}

/// What an operator's button does to a mailbox.
#[derive(Debug, Clone, Copy)]
enum Act {
    Status(MailboxAction),
    /// Queues a set-password mail to its owner.
    PasswordLink,
}

/// The mailbox part of the detail page's query string.
#[derive(Debug, Default, Clone)]
pub struct MailboxQuery {
    /// Search text (address or a name).
    pub mq: String,
    /// A stored status (`provisioned`, `disabled`, ...); empty: all.
    pub mstatus: String,
    /// 1-based page; anything else: the first.
    pub mpage: String,
}

impl MailboxQuery {
    fn page(&self) -> i64 {
        self.mpage.trim().parse::<i64>().unwrap_or(1).max(1)
    }
}

#[derive(Serialize)]
struct StatusOption {
    value: &'static str,
    selected: bool,
}

#[derive(Serialize)]
struct MailboxRowView {
    id: String,
    address: String,
    name: Option<String>,
    status: &'static str,
    services: i64,
    disable_href: Option<String>,
    activate_href: Option<String>,
    password_link_href: Option<String>,
}

/// The mailboxes section of the detail page.
#[derive(Serialize)]
pub struct MailboxesView {
    search: String,
    statuses: Vec<StatusOption>,
    rows: Vec<MailboxRowView>,
    total: i64,
    page: i64,
    previous_href: Option<String>,
    next_href: Option<String>,
}

/// What the page shows of mailboxes: a page of them and the seats in use per
/// subscription (`sub_...` → taken), read together.
pub struct Loaded {
    rows: Vec<mailboxes::MailboxView>,
    total: i64,
    pub seats_in_use: HashMap<String, i64>,
}

/// Reads the customer's mailboxes the query asks for (inside the page's
/// store call).
pub fn load(
    conn: &mut DbConnection,
    application_id: i64,
    external_id: &str,
    query: &MailboxQuery,
) -> Result<Loaded, StoreError> {
    let reference = mailboxes::CustomerRef {
        external_id: Some(external_id.to_owned()),
        bss_account_id: None,
    };
    let Some(customer): Option<CustomerBrief> =
        mailboxes::find_customer(conn, application_id, &reference)?
    else {
        return Ok(Loaded {
            rows: Vec::new(),
            total: 0,
            seats_in_use: HashMap::new(),
        });
    };
    let filter = MailboxFilter {
        search: Some(query.mq.clone()).filter(|s| !s.trim().is_empty()),
        statuses: MailboxStatus::from_stored(query.mstatus.trim())
            .into_iter()
            .collect(),
        services: Vec::new(),
    };
    let page = Page {
        number: query.page(),
        size: PAGE_SIZE,
    };
    let (rows, total) = mailboxes::list(conn, &customer, &filter, page)?;
    let seats_in_use = mailboxes::available_services(conn, customer.id)?
        .into_iter()
        .map(|service| (service.public_id, service.seats.taken))
        .collect();
    Ok(Loaded {
        rows,
        total,
        seats_in_use,
    })
}

const STATUSES: [MailboxStatus; 4] = [
    MailboxStatus::Provisioned,
    MailboxStatus::Disabled,
    MailboxStatus::Deprovisioned,
    MailboxStatus::InProgress,
];

fn href(external_id: &str, query: &MailboxQuery, page: i64) -> String {
    format!(
        "{}?mq={}&mstatus={}&mpage={page}#mailboxes",
        detail_href(external_id),
        pages::encode_component(&query.mq),
        pages::encode_component(&query.mstatus),
    )
}

/// The section's view; the buttons only for operators who may use them.
pub fn view(
    external_id: &str,
    query: &MailboxQuery,
    loaded: &Loaded,
    can_manage: bool,
) -> MailboxesView {
    let page = query.page();
    let action = |id: &str, verb: &str| {
        format!(
            "{}/mailboxes/{}/{verb}",
            detail_href(external_id),
            pages::encode_component(id)
        )
    };
    let rows = loaded
        .rows
        .iter()
        .map(|found| {
            let m = &found.mailbox;
            let status = m.status().unwrap_or(MailboxStatus::InProgress);
            let name = m.display_name.clone().or_else(|| {
                let parts: Vec<&str> = [m.first_name.as_deref(), m.last_name.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect();
                Some(parts.join(" ")).filter(|n| !n.is_empty())
            });
            MailboxRowView {
                id: m.public_id.clone(),
                address: m.address.clone(),
                name,
                status: status.as_str(),
                services: found.services,
                disable_href: (can_manage && status == MailboxStatus::Provisioned)
                    .then(|| action(&m.public_id, "disable")),
                activate_href: (can_manage && status == MailboxStatus::Disabled)
                    .then(|| action(&m.public_id, "activate")),
                password_link_href: (can_manage && status != MailboxStatus::Deprovisioned)
                    .then(|| action(&m.public_id, "password-link")),
            }
        })
        .collect();
    MailboxesView {
        search: query.mq.clone(),
        statuses: STATUSES
            .iter()
            .map(|s| StatusOption {
                value: s.as_str(),
                selected: s.as_str() == query.mstatus.trim(),
            })
            .collect(),
        rows,
        total: loaded.total,
        page,
        previous_href: (page > 1).then(|| href(external_id, query, page - 1)),
        next_href: (page * PAGE_SIZE < loaded.total).then(|| href(external_id, query, page + 1)),
    }
}

/// The notices the actions redirect with.
pub fn notice_text(code: &str) -> Option<&'static str> {
    match code {
        "mailbox_disabled" => Some("The mailbox is disabled."),
        "mailbox_activated" => Some("The mailbox is active again."),
        "mailbox_unchanged" => Some("The mailbox already had that status; nothing changed."),
        "mailbox_link_refused" => Some(
            "No link was sent: the customer is not active, or neither the mailbox nor the \
             customer has an address to mail it to.",
        ),
        "mailbox_link_sent" => Some(
            "A set-password link is on its way to the mailbox's owner (its secondary email, \
             else the customer's).",
        ),
        "mailbox_refused" => Some(
            "The mailbox's status or its customer's does not allow that (a deprovisioned \
             mailbox is provisioned by the BSS; a suspended customer's mailboxes stay as they are).",
        ),
        _ => None,
    }
}

#[derive(Debug, Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    csrf: String,
}

async fn disable(
    state: web::Data<OperatorState>,
    session: ConsoleSession,
    path: web::Path<(String, String)>,
    form: web::Form<ActionForm>,
) -> Result<HttpResponse, ConsoleError> {
    change(
        state,
        session,
        path.into_inner(),
        &form.csrf,
        Act::Status(MailboxAction::Disable),
    )
    .await
}

async fn activate(
    state: web::Data<OperatorState>,
    session: ConsoleSession,
    path: web::Path<(String, String)>,
    form: web::Form<ActionForm>,
) -> Result<HttpResponse, ConsoleError> {
    change(
        state,
        session,
        path.into_inner(),
        &form.csrf,
        Act::Status(MailboxAction::Activate),
    )
    .await
}

async fn password_link(
    state: web::Data<OperatorState>,
    session: ConsoleSession,
    path: web::Path<(String, String)>,
    form: web::Form<ActionForm>,
) -> Result<HttpResponse, ConsoleError> {
    change(
        state,
        session,
        path.into_inner(),
        &form.csrf,
        Act::PasswordLink,
    )
    .await
}

async fn change(
    state: web::Data<OperatorState>,
    session: ConsoleSession,
    (external_id, mailbox_id): (String, String),
    csrf: &str,
    action: Act,
) -> Result<HttpResponse, ConsoleError> {
    session.check_csrf(csrf)?;
    session.require(Permission::ManageCustomers)?;
    let (customer, wanted) = (external_id.clone(), mailbox_id.clone());
    let entry = match action {
        Act::Status(status) => session
            .audit(AuditAction::MailboxStatusChanged)
            .after(serde_json::json!({"action": format!("{status:?}").to_lowercase()})),
        Act::PasswordLink => session.audit(AuditAction::MailboxPasswordLinkSent),
    }
    .target(format!("{external_id}/{mailbox_id}"));
    let work = state.store.run(move |conn| {
        // The mailbox must be this customer's: the path names both.
        let Some(row) = mailboxes::by_public_id(conn, &wanted)? else {
            return Ok(None);
        };
        let Some(owner) = mailboxes::find_customer(
            conn,
            row.application_id,
            &mailboxes::CustomerRef {
                external_id: Some(customer),
                bss_account_id: None,
            },
        )?
        else {
            return Ok(None);
        };
        if owner.id != row.customer_id {
            return Ok(None);
        }
        let reference = MailboxRef {
            public_id: Some(wanted),
            address: None,
        };
        match action {
            Act::Status(action) => {
                mailboxes::change_status(conn, row.application_id, &reference, action)
            }
            Act::PasswordLink => {
                mailboxes::reset_password(conn, row.application_id, &reference, None)
            }
        }
        .map(Some)
    });
    let outcome = state
        .store
        .recording_when(entry.pending(), work, |outcome| {
            matches!(
                outcome,
                Some(MailboxOutcome::Changed(_) | MailboxOutcome::Created(_))
            )
        })
        .await?;
    let notice = match outcome {
        None | Some(MailboxOutcome::Absent) => {
            return Err(ConsoleError::NotFound(format!(
                "Customer {external_id} has no mailbox {mailbox_id}."
            )))
        }
        Some(MailboxOutcome::Changed(_) | MailboxOutcome::Created(_)) => {
            tracing::info!(
                operator = %session.email,
                customer = %external_id,
                mailbox = %mailbox_id,
                ?action,
                "operator changed a mailbox"
            );
            match action {
                Act::Status(MailboxAction::Disable) => "mailbox_disabled",
                Act::Status(_) => "mailbox_activated",
                Act::PasswordLink => {
                    state.outbox.wake_worker();
                    "mailbox_link_sent"
                }
            }
        }
        Some(MailboxOutcome::Unchanged(_)) => "mailbox_unchanged",
        Some(MailboxOutcome::Refused(_)) if matches!(action, Act::PasswordLink) => {
            "mailbox_link_refused"
        }
        Some(MailboxOutcome::Refused(_)) => "mailbox_refused",
    };
    // Back to the page and its mailboxes.
    Ok(pages::see_other(format!(
        "{}?notice={notice}#mailboxes",
        detail_href(&external_id)
    )))
}
