//! `/console/customers`: the customers the BSS applications created, a
//! searchable list and a detail page with the audit trail and mail of each
//! (what admins do to a customer is in `customer_actions.rs`).

use std::collections::BTreeMap;

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use super::pages;
use super::{ConsoleError, ConsoleSession};
use crate::domain::customer::CustomerStatus;
use crate::domain::operator::Permission;
use crate::http::operator::OperatorState;
use crate::store::audit;
use crate::store::customers::{self, ConsoleCustomer, CustomerFilter, CustomerListRow};
use crate::store::outbox::{self, OutboxRow};
use crate::store::subscriptions::queries;

pub const VIEWS: &[(&str, &str)] = &[
    (
        "customers_list",
        include_str!("../../../templates/console/customers_list.hbs"),
    ),
    (
        "customers_detail",
        include_str!("../../../templates/console/customers_detail.hbs"),
    ),
];

/// Rows per page of the list.
pub const PAGE_SIZE: i64 = 25;
/// Audit entries and mails the detail page shows, newest first.
const MAIL_ROWS: i64 = 50;
/// Longest search text taken (longer is cut, not refused).
const MAX_SEARCH_CHARS: usize = 200;

pub fn configure(cfg: &mut web::ServiceConfig) {
    // A query string that does not parse (a repeated parameter) is a page
    // too, like every other console error.
    let query = || {
        web::QueryConfig::default()
            .error_handler(|error, _| ConsoleError::BadForm(error.to_string()).into())
    };
    cfg.service(
        web::resource("/customers")
            .app_data(query())
            .route(web::get().to(list)),
    )
    .service(
        web::resource("/customers/{external_id}")
            .app_data(query())
            .route(web::get().to(detail)),
    );
}

// --- The list -------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ListQuery {
    q: String,
    status: String,
    page: String,
}

/// The status filters the list offers: (value, label).
const STATUS_FILTERS: &[(&str, &str)] = &[
    ("all", "All statuses"),
    ("active", "Active"),
    ("suspended", "Suspended"),
    ("deleted", "Deleted"),
];

#[derive(Serialize)]
struct StatusFilterView {
    value: &'static str,
    label: &'static str,
    selected: bool,
}

#[derive(Serialize)]
struct ListRowView {
    external_id: String,
    href: String,
    name: String,
    domain: Option<String>,
    tenant: String,
    reseller: Option<String>,
    reseller_href: Option<String>,
    status: String,
    created: String,
}

#[derive(Serialize)]
struct ListView {
    q: String,
    status: &'static str,
    statuses: Vec<StatusFilterView>,
    filtered: bool,
    rows: Vec<ListRowView>,
    total: i64,
    page: i64,
    pages: i64,
    /// Row numbers shown, 1-based.
    first: i64,
    last: i64,
    prev_href: Option<String>,
    next_href: Option<String>,
}

pub(super) fn detail_href(external_id: &str) -> String {
    format!(
        "/console/customers/{}",
        pages::encode_component(external_id)
    )
}

/// The list's URL with its filters and a page.
fn list_href(q: &str, status: &str, page: i64) -> String {
    let mut params = Vec::new();
    if !q.is_empty() {
        params.push(format!("q={}", pages::encode_component(q)));
    }
    if status != "all" {
        params.push(format!("status={status}"));
    }
    if page > 1 {
        params.push(format!("page={page}"));
    }
    if params.is_empty() {
        "/console/customers".to_owned()
    } else {
        format!("/console/customers?{}", params.join("&"))
    }
}

fn row_view(row: CustomerListRow) -> ListRowView {
    let reseller = row.reseller_name.clone().or(row.reseller_bss_id.clone());
    ListRowView {
        href: detail_href(&row.external_id),
        reseller_href: row.reseller_external_id.as_deref().map(detail_href),
        reseller,
        external_id: row.external_id,
        name: row.name,
        domain: row.domain,
        tenant: row.tenant,
        status: row.status,
        created: pages::display_time(row.created_at),
    }
}

pub async fn list(
    state: web::Data<OperatorState>,
    session: ConsoleSession,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ConsoleError> {
    session.require(Permission::ReadCustomers)?;
    let query = query.into_inner();
    let q: String = query.q.trim().chars().take(MAX_SEARCH_CHARS).collect();
    let (status_value, status) = match query.status.trim() {
        "active" => ("active", Some(CustomerStatus::Active)),
        "suspended" => ("suspended", Some(CustomerStatus::Suspended)),
        "deleted" => ("deleted", Some(CustomerStatus::Deleted)),
        _ => ("all", None),
    };
    let asked_page = query.page.trim().parse::<i64>().unwrap_or(1).max(1);
    let filter = CustomerFilter {
        search: (!q.is_empty()).then(|| q.clone()),
        status,
    };
    let (total, page, rows) = state
        .store
        .run(move |conn| {
            let total = customers::count_matching(conn, &filter)?;
            let pages = ((total + PAGE_SIZE - 1) / PAGE_SIZE).max(1);
            // Past the end (the list shrank): the last page.
            let page = asked_page.min(pages);
            let rows = if total == 0 {
                Vec::new()
            } else {
                customers::list_matching(conn, &filter, (page - 1) * PAGE_SIZE, PAGE_SIZE)?
            };
            Ok((total, page, rows))
        })
        .await?;
    let pages = ((total + PAGE_SIZE - 1) / PAGE_SIZE).max(1);
    let first = if rows.is_empty() {
        0
    } else {
        (page - 1) * PAGE_SIZE + 1
    };
    let last = (page - 1) * PAGE_SIZE + rows.len() as i64;
    let view = ListView {
        prev_href: (page > 1).then(|| list_href(&q, status_value, page - 1)),
        next_href: (page < pages).then(|| list_href(&q, status_value, page + 1)),
        filtered: !q.is_empty() || status.is_some(),
        statuses: STATUS_FILTERS
            .iter()
            .map(|&(value, label)| StatusFilterView {
                value,
                label,
                selected: value == status_value,
            })
            .collect(),
        status: status_value,
        q,
        rows: rows.into_iter().map(row_view).collect(),
        total,
        page,
        pages,
        first,
        last,
    };
    pages::render(
        "customers_list",
        &session.chrome("Customers", "customers"),
        &view,
    )
}

// --- The detail page --------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DetailQuery {
    notice: String,
    /// The mailboxes section's search, status and page.
    mq: String,
    mstatus: String,
    mpage: String,
    /// The contract calls section's filter and page.
    aendpoint: String,
    acode: String,
    afrom: String,
    auntil: String,
    abefore: String,
}

/// A labelled value of a facts list; `href` makes it a link.
#[derive(Serialize)]
struct Fact {
    label: &'static str,
    value: Option<String>,
    href: Option<String>,
}

fn fact(label: &'static str, value: Option<impl Into<String>>) -> Fact {
    Fact {
        label,
        value: value.map(Into::into).filter(|v: &String| !v.is_empty()),
        href: None,
    }
}

#[derive(Serialize)]
struct KeyValue {
    key: String,
    value: String,
}

#[derive(Serialize)]
struct OptionView {
    id: String,
    name: Option<String>,
    value: String,
}

#[derive(Serialize)]
struct MailView {
    id: i64,
    template: String,
    status: String,
    recipient: Option<String>,
    subject: Option<String>,
    attempts: i32,
    last_error: Option<String>,
    created: String,
    sent: Option<String>,
}

#[derive(Serialize)]
struct ResoldView {
    external_id: String,
    href: String,
    name: String,
    status: String,
    created: String,
}

#[derive(Serialize)]
struct DetailView {
    /// The customers sold through this one (when it is a reseller).
    resold: Vec<ResoldView>,
    resold_count: i64,
    /// How many are not listed.
    resold_more: i64,
    external_id: String,
    name: String,
    status: String,
    notice: Option<&'static str>,
    suspend_href: String,
    restore_href: String,
    new_link_href: String,
    /// The customer's Integrations tab (Super Admin).
    integrations_href: String,
    /// Active and not activated yet: a new link can help.
    can_send_link: bool,
    can_suspend: bool,
    can_restore: bool,
    profile: Vec<Fact>,
    options: Vec<OptionView>,
    contact: Vec<Fact>,
    has_contact: bool,
    address: Vec<Fact>,
    has_address: bool,
    extra_details: Vec<KeyValue>,
    extra_details_error: Option<String>,
    account_extra_info: Vec<KeyValue>,
    account_extra_info_error: Option<String>,
    calls: Option<super::customer_calls::CallsView>,
    mails: Vec<MailView>,
    subscriptions: Vec<super::subscriptions::CustomerSubscriptionView>,
    mailboxes: Option<super::customer_mailboxes::MailboxesView>,
}

/// The notices a redirect back to the page may ask for.
fn notice_text(code: &str) -> Option<&'static str> {
    match code {
        "suspended" => Some("The customer is suspended."),
        "restored" => Some("The customer is active again."),
        "unchanged" => Some("The customer already had that status; nothing changed."),
        "deleted" => Some("A deleted customer cannot be suspended; restore it first."),
        "new_link" => Some("A new activation link is on its way; earlier links no longer work."),
        "already_activated" => Some("The customer has chosen its password already: no link sent."),
        "not_active" => Some("A suspended or deleted customer gets no link; restore it first."),
        "bss_sends_mail" => {
            Some("In BSS notification mode the BSS sends access mail: no link sent.")
        }
        "identity_taken" => Some(
            "The customer was not restored: since it was deleted, another customer took its \
             domain or username. Free that value first.",
        ),
        _ => None,
    }
}

/// Shows a JSON map as key/value rows: strings as they are, anything else
/// as JSON. A column that does not parse is reported, not fatal.
fn json_map(text: &str) -> (Vec<KeyValue>, Option<String>) {
    match serde_json::from_str::<BTreeMap<String, serde_json::Value>>(text) {
        Ok(map) => (
            map.into_iter()
                .map(|(key, value)| KeyValue {
                    key,
                    value: match value {
                        serde_json::Value::String(text) => text,
                        other => other.to_string(),
                    },
                })
                .collect(),
            None,
        ),
        Err(error) => (
            Vec::new(),
            Some(format!("Stored value does not parse: {error}")),
        ),
    }
}

fn detail_view(
    found: ConsoleCustomer,
    mails: Vec<OutboxRow>,
    option_names: &dyn Fn(&str) -> Option<String>,
    notice: Option<&'static str>,
) -> DetailView {
    let ConsoleCustomer {
        details,
        tenant,
        reseller,
        resold,
        resold_count,
    } = found;
    let c = details.customer;
    let href = detail_href(&c.external_id);
    let status = c.status;
    let mut reseller_fact = fact(
        "Reseller",
        reseller
            .as_ref()
            .map(|(_, name)| name.clone())
            .or(c.reseller_bss_id.clone()),
    );
    reseller_fact.href = reseller
        .as_ref()
        .map(|(external_id, _)| detail_href(external_id));
    let profile = vec![
        fact("Name", Some(c.name.clone())),
        fact("Code", c.code.clone()),
        fact("Email", c.email.clone()),
        fact("Phone", c.phone.clone()),
        fact("Fax", c.fax.clone()),
        fact("Website", c.website.clone()),
        fact("Description", c.description.clone()),
        fact("ExternalID", Some(c.external_id.clone())),
        fact("BSS account id", c.bss_account_id.clone()),
        fact("Tenant", tenant),
        reseller_fact,
        fact("ResellerID", c.reseller_bss_id.clone()),
        fact("ResellerExternalID", c.reseller_external_id.clone()),
        fact("Status", Some(status.as_str().to_owned())),
        fact("Test account", Some(if c.is_test { "yes" } else { "no" })),
        fact("Created", Some(pages::display_time(c.created_at))),
        fact("Updated", Some(pages::display_time(c.updated_at))),
        fact("Deleted", c.deleted_at.map(pages::display_time)),
        fact("Deleted by", c.deleted_by.clone()),
        fact("Activated", c.activated_at.map(pages::display_time)),
    ];
    let contact = details.contact.as_ref().map_or_else(Vec::new, |contact| {
        vec![
            fact("First name", contact.first_name.clone()),
            fact("Last name", contact.last_name.clone()),
            fact("Email", contact.email.clone()),
            fact("Phone", contact.phone.clone()),
            fact("Fax", contact.fax.clone()),
            fact("BSS contact id", contact.bss_contact_id.clone()),
        ]
    });
    let address = details.address.as_ref().map_or_else(Vec::new, |address| {
        vec![
            fact("Address", address.address1.clone()),
            fact("Address (2)", address.address2.clone()),
            fact("City", address.city.clone()),
            fact("Post code", address.post_code.clone()),
            fact("State code", address.state_code.clone()),
            fact("State", address.state_name.clone()),
            fact("Country code", address.country_code.clone()),
            fact("Country", address.country_name.clone()),
        ]
    });
    let (extra_details, extra_details_error) = json_map(&c.extra_details);
    let (account_extra_info, account_extra_info_error) = json_map(&c.account_extra_info);
    DetailView {
        suspend_href: format!("{href}/suspend"),
        integrations_href: format!("{href}/integrations"),
        restore_href: format!("{href}/restore"),
        new_link_href: format!("{href}/activation-link"),
        can_send_link: status == CustomerStatus::Active && c.activated_at.is_none(),
        can_suspend: status == CustomerStatus::Active,
        can_restore: matches!(status, CustomerStatus::Suspended | CustomerStatus::Deleted),
        external_id: c.external_id,
        name: c.name,
        status: status.as_str().to_owned(),
        notice,
        profile,
        options: details
            .options
            .into_iter()
            .map(|(id, value)| OptionView {
                name: option_names(&id),
                id,
                value,
            })
            .collect(),
        resold_more: resold_count - resold.len() as i64,
        resold_count,
        resold: resold
            .into_iter()
            .map(|customer| ResoldView {
                href: detail_href(&customer.external_id),
                external_id: customer.external_id,
                name: customer.name,
                status: customer.status,
                created: pages::display_time(customer.created_at),
            })
            .collect(),
        has_contact: details.contact.is_some(),
        contact,
        has_address: details.address.is_some(),
        address,
        extra_details,
        extra_details_error,
        account_extra_info,
        account_extra_info_error,
        calls: None,
        mails: mails
            .into_iter()
            .map(|row| MailView {
                id: row.id,
                template: row.template_name,
                status: row.status.as_str().to_owned(),
                recipient: row.recipient,
                subject: row.subject,
                attempts: row.attempts,
                last_error: row.last_error,
                created: pages::display_time(row.created_at),
                sent: row.sent_at.map(pages::display_time),
            })
            .collect(),
        subscriptions: Vec::new(),
        mailboxes: None,
    }
}

pub async fn detail(
    state: web::Data<OperatorState>,
    session: ConsoleSession,
    path: web::Path<String>,
    query: web::Query<DetailQuery>,
) -> Result<HttpResponse, ConsoleError> {
    session.require(Permission::ReadCustomers)?;
    let external_id = path.into_inner();
    let lookup = external_id.clone();
    let mailbox_query = super::customer_mailboxes::MailboxQuery {
        mq: query.mq.clone(),
        mstatus: query.mstatus.clone(),
        mpage: query.mpage.clone(),
    };
    let wanted = mailbox_query.clone();
    let calls_query = super::customer_calls::CallsQuery {
        endpoint: query.aendpoint.clone(),
        code: query.acode.clone(),
        from: query.afrom.clone(),
        until: query.auntil.clone(),
        before: query.abefore.clone(),
    };
    let calls_filter = calls_query.filter();
    let found = state
        .store
        .run(move |conn| {
            let Some(found) = customers::load_for_console(conn, &lookup)? else {
                return Ok(None);
            };
            let calls = match &calls_filter {
                Ok(filter) => Ok(audit::customer_calls(
                    conn,
                    &lookup,
                    filter,
                    super::customer_calls::PAGE_SIZE,
                )?),
                Err(problem) => Err(problem.clone()),
            };
            let mails = outbox::for_customer(conn, found.details.customer.id, MAIL_ROWS)?;
            let subscriptions = queries::of_customer(conn, &lookup)?;
            let mailboxes = super::customer_mailboxes::load(
                conn,
                found.details.customer.application_id,
                &lookup,
                &wanted,
            )?;
            Ok(Some((found, calls, mails, subscriptions, mailboxes)))
        })
        .await?;
    let Some((found, calls, mails, subscriptions, mailboxes)) = found else {
        return Err(no_such_customer(&external_id));
    };
    let catalog = state.catalog.get().await?;
    let names = |id: &str| catalog.get(id).map(|definition| definition.name.clone());
    let notice = notice_text(&query.notice)
        .or_else(|| super::customer_mailboxes::notice_text(&query.notice));
    let mut view = detail_view(found, mails, &names, notice);
    view.calls = Some(super::customer_calls::view(
        &external_id,
        &calls_query,
        calls,
    ));
    view.subscriptions = super::subscriptions::customer_subscriptions(subscriptions);
    for subscription in &mut view.subscriptions {
        subscription.set_seats_in_use(&mailboxes.seats_in_use);
    }
    view.mailboxes = Some(super::customer_mailboxes::view(
        &external_id,
        &mailbox_query,
        &mailboxes,
        session.role.allows(Permission::ManageCustomers),
    ));
    let title = format!("Customer {}", view.name);
    pages::render(
        "customers_detail",
        &session.chrome(title, "customers"),
        &view,
    )
}

pub(super) fn no_such_customer(external_id: &str) -> ConsoleError {
    ConsoleError::NotFound(format!(
        "There is no customer with ExternalID {external_id}."
    ))
}
