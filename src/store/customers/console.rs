//! The operator console's reads and writes of customers: search and paging,
//! the detail page, suspension and restore.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{find_by_external_id, load_details, set_status, CustomerDetails};
use crate::domain::customer::{CustomerStatus, StatusAction, StatusActionOutcome};
use crate::domain::subscription::ChangeSource;
use crate::domain::sync_options::option_ids;
use crate::store::connection::{write_transaction, DbConnection};
use crate::store::schema::{applications, customer_identities, customer_sync_options, customers};
use crate::store::subscriptions::{self, Origin};
use crate::store::sync_options::load_catalog;
use crate::store::StoreError;

/// Case-folding for searches. SQLite's `lower` folds ASCII letters only,
/// PostgreSQL's folds every letter; the search text is folded to match.
#[diesel::declare_sql_function]
extern "SQL" {
    fn lower(text: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

diesel::alias!(customers as resellers: ResellerCustomers);

/// Which customers a console listing shows.
#[derive(Debug, Clone, Default)]
pub struct CustomerFilter {
    /// Found anywhere (case-insensitively) in the name, code, email,
    /// ExternalID, BSS account id or an identifying value (domain, username).
    pub search: Option<String>,
    /// `None` for every status.
    pub status: Option<CustomerStatus>,
}

impl CustomerFilter {
    /// The LIKE pattern of the search text, folded the way the backend's
    /// `lower` folds, with the pattern characters escaped by `\`.
    fn pattern(&self, conn: &DbConnection) -> Option<String> {
        let search = self
            .search
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())?;
        let folded = match conn {
            DbConnection::Sqlite(_) => search.to_ascii_lowercase(),
            DbConnection::Postgres(_) => search.to_lowercase(),
        };
        let mut pattern = String::with_capacity(folded.len() + 2);
        pattern.push('%');
        for c in folded.chars() {
            if matches!(c, '\\' | '%' | '_') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
        pattern.push('%');
        Some(pattern)
    }
}

/// Narrows a boxed query over `customers` (joined or not) to a filter.
macro_rules! filter_customers {
    ($query:expr, $status:expr, $pattern:expr) => {{
        let mut query = $query;
        if let Some(status) = $status {
            query = query.filter(customers::status.eq(status.as_str()));
        }
        if let Some(pattern) = $pattern {
            // A NULL column makes its LIKE NULL, which counts as no match.
            query = query.filter(
                lower(customers::name)
                    .like(pattern.clone())
                    .escape('\\')
                    .or(lower(customers::external_id)
                        .like(pattern.clone())
                        .escape('\\'))
                    .or(lower(customers::code.assume_not_null())
                        .like(pattern.clone())
                        .escape('\\'))
                    .or(lower(customers::email.assume_not_null())
                        .like(pattern.clone())
                        .escape('\\'))
                    .or(lower(customers::bss_account_id.assume_not_null())
                        .like(pattern.clone())
                        .escape('\\'))
                    .or(customers::id.eq_any(
                        customer_identities::table
                            .filter(
                                lower(customer_identities::normalized_value)
                                    .like(pattern.clone())
                                    .escape('\\'),
                            )
                            .select(customer_identities::customer_id),
                    )),
            );
        }
        query
    }};
}

/// A row of the console's customer list.
#[derive(Debug, Clone, Queryable)]
pub struct CustomerListRow {
    pub external_id: String,
    pub name: String,
    pub status: String,
    pub created_at: NaiveDateTime,
    /// The ResellerID the BSS sent.
    pub reseller_bss_id: Option<String>,
    /// The name of the customer's application (tenant).
    pub tenant: String,
    /// The value of the `domain` sync option.
    pub domain: Option<String>,
    /// The reseller's own customer, when it is known here.
    pub reseller_external_id: Option<String>,
    pub reseller_name: Option<String>,
}

/// How many customers match a filter.
pub fn count_matching(conn: &mut DbConnection, filter: &CustomerFilter) -> Result<i64, StoreError> {
    let pattern = filter.pattern(conn);
    let query = filter_customers!(
        customers::table
            .select(diesel::dsl::count_star())
            .into_boxed(),
        filter.status,
        pattern
    );
    Ok(query.get_result(conn)?)
}

/// One page of the customers matching a filter, newest first, with their
/// tenant, domain and reseller, in one query.
pub fn list_matching(
    conn: &mut DbConnection,
    filter: &CustomerFilter,
    offset: i64,
    limit: i64,
) -> Result<Vec<CustomerListRow>, StoreError> {
    let pattern = filter.pattern(conn);
    let query = filter_customers!(
        customers::table
            .inner_join(applications::table)
            .left_join(
                customer_sync_options::table.on(customer_sync_options::customer_id
                    .eq(customers::id)
                    .and(customer_sync_options::option_id.eq(option_ids::DOMAIN))),
            )
            .left_join(
                resellers.on(resellers
                    .field(customers::id)
                    .nullable()
                    .eq(customers::reseller_customer_id)),
            )
            .select((
                customers::external_id,
                customers::name,
                customers::status,
                customers::created_at,
                customers::reseller_bss_id,
                applications::name,
                customer_sync_options::value.nullable(),
                resellers.field(customers::external_id).nullable(),
                resellers.field(customers::name).nullable(),
            ))
            .order(customers::id.desc())
            .offset(offset)
            .limit(limit)
            .into_boxed(),
        filter.status,
        pattern
    );
    Ok(query.load(conn)?)
}

/// A customer with what the console's detail page shows around it.
#[derive(Debug, Clone)]
pub struct ConsoleCustomer {
    pub details: CustomerDetails,
    /// The name of its application (tenant).
    pub tenant: Option<String>,
    /// The reseller's own customer: (ExternalID, name).
    pub reseller: Option<(String, String)>,
    /// The customers sold through this one, newest first, at most
    /// [`RESOLD_SHOWN`] of them.
    pub resold: Vec<ResoldCustomer>,
    /// How many customers are sold through this one in all.
    pub resold_count: i64,
}

/// How many of a reseller's customers its page lists.
pub const RESOLD_SHOWN: i64 = 100;

/// A customer sold through a reseller, as the reseller's page lists it.
#[derive(Debug, Clone, Queryable)]
pub struct ResoldCustomer {
    pub external_id: String,
    pub name: String,
    pub status: String,
    pub created_at: NaiveDateTime,
}

pub fn load_for_console(
    conn: &mut DbConnection,
    external_id: &str,
) -> Result<Option<ConsoleCustomer>, StoreError> {
    let Some(details) = load_details(conn, external_id)? else {
        return Ok(None);
    };
    let tenant = applications::table
        .find(details.customer.application_id)
        .select(applications::name)
        .first(conn)
        .optional()?;
    let reseller = match details.customer.reseller_customer_id {
        Some(id) => customers::table
            .find(id)
            .select((customers::external_id, customers::name))
            .first(conn)
            .optional()?,
        None => None,
    };
    let resold_of =
        customers::table.filter(customers::reseller_customer_id.eq(details.customer.id));
    let resold = resold_of
        .order(customers::id.desc())
        .limit(RESOLD_SHOWN)
        .select((
            customers::external_id,
            customers::name,
            customers::status,
            customers::created_at,
        ))
        .load(conn)?;
    let resold_count = resold_of.count().get_result(conn)?;
    Ok(Some(ConsoleCustomer {
        details,
        tenant,
        reseller,
        resold,
        resold_count,
    }))
}

/// Suspends or restores a customer in one transaction: reads its status,
/// decides, writes. Suspending suspends its active subscriptions; restoring
/// a suspended customer re-activates the ones its suspension suspended
/// (a deleted customer's subscriptions stay cancelled).
pub fn apply_status_action(
    conn: &mut DbConnection,
    external_id: &str,
    action: StatusAction,
) -> Result<StatusActionOutcome, StoreError> {
    write_transaction(conn, |conn| {
        let Some(found) = find_by_external_id(conn, external_id)? else {
            return Ok(StatusActionOutcome::NotFound);
        };
        let outcome = action.apply_to(found.status);
        if let StatusActionOutcome::Changed { from, to } = outcome {
            if from == CustomerStatus::Deleted {
                // The delete released its identities: take them back, if
                // nobody else took them meanwhile.
                if let Some((option_id, value)) = reclaim_identities(conn, found.id)? {
                    return Ok(StatusActionOutcome::IdentityTaken { option_id, value });
                }
                diesel::update(customers::table.find(found.id))
                    .set(customers::deleted_by.eq(None::<String>))
                    .execute(conn)?;
            }
            set_status(conn, external_id, to)?;
            let origin = Origin {
                source: ChangeSource::Console,
                track_id: None,
            };
            match (from, to) {
                (_, CustomerStatus::Suspended) => {
                    subscriptions::suspend_for_customer(conn, found.id, &origin)?;
                }
                (CustomerStatus::Suspended, CustomerStatus::Active) => {
                    subscriptions::reactivate_for_customer(conn, found.id, &origin)?;
                }
                _ => {}
            }
        }
        Ok(outcome)
    })
}

/// Gives a restored customer back the identifying values of its stored sync
/// options. Returns the first value another customer holds now, in which
/// case nothing is written.
fn reclaim_identities(
    conn: &mut DbConnection,
    customer_id: i64,
) -> Result<Option<(String, String)>, StoreError> {
    let catalog = load_catalog(conn)?;
    let values: Vec<(String, String)> = customer_sync_options::table
        .filter(customer_sync_options::customer_id.eq(customer_id))
        .select((
            customer_sync_options::option_id,
            customer_sync_options::value,
        ))
        .load(conn)?;
    let identities: Vec<(String, String)> = values
        .iter()
        .filter_map(|(option_id, value)| {
            let parsed = catalog.get(option_id)?.parse_value(value).ok()?;
            Some((parsed.option_id, parsed.identity?))
        })
        .collect();
    let wanted: Vec<(&str, &str)> = identities
        .iter()
        .map(|(option_id, normalized)| (option_id.as_str(), normalized.as_str()))
        .collect();
    let owners = super::synchronize::owners_of(conn, &wanted)?;
    if let Some((option_id, normalized, _)) = owners
        .into_iter()
        .find(|(_, _, owner)| *owner != customer_id)
    {
        return Ok(Some((option_id, normalized)));
    }
    super::profile::replace_identities(conn, customer_id, wanted)?;
    Ok(None)
}
