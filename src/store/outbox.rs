//! The outbox: mail waiting to be delivered, claimed by workers with a lease
//! so that several instances over one database never send a mail twice.

use chrono::{NaiveDateTime, Utc};
use diesel::prelude::*;

use super::connection::{write_transaction, DbConnection};
use super::schema::{customers, outbox};
use super::StoreError;

/// Where a mail is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxStatus {
    /// Waiting for its (next) attempt.
    Queued,
    Sent,
    /// Gave up: a permanent refusal or no attempts left.
    Failed,
    /// Must not go out (for example, its customer was deleted).
    Cancelled,
}

impl OutboxStatus {
    pub const ALL: [Self; 4] = [Self::Queued, Self::Sent, Self::Failed, Self::Cancelled];

    /// The stored (and shown) name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == text)
    }

    /// Only failed or cancelled mail can be queued again by an operator.
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::Failed | Self::Cancelled)
    }
}

impl std::fmt::Display for OutboxStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored status the code does not know.
#[derive(Debug, thiserror::Error)]
#[error("unknown outbox status {0:?}")]
pub struct UnknownOutboxStatus(String);

impl TryFrom<String> for OutboxStatus {
    type Error = UnknownOutboxStatus;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text).ok_or(UnknownOutboxStatus(text))
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = outbox)]
pub struct OutboxRow {
    pub id: i64,
    pub dedupe_key: String,
    pub template_name: String,
    pub customer_id: Option<i64>,
    pub recipient: Option<String>,
    pub subject: Option<String>,
    #[diesel(deserialize_as = String)]
    pub status: OutboxStatus,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<NaiveDateTime>,
    pub last_error: Option<String>,
    pub message_id: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub sent_at: Option<NaiveDateTime>,
    /// The mailbox a set-password mail is for.
    pub mailbox_id: Option<i64>,
    /// The operator an operator's set-password mail is for.
    pub operator_id: Option<i64>,
}

/// An outbox row with the ExternalID of its customer, for listings.
#[derive(Debug, Clone)]
pub struct OutboxEntry {
    pub row: OutboxRow,
    pub customer_external_id: Option<String>,
}

/// Queues `template_name` for a customer once: a second call with the same
/// dedupe key (a retried Synchronize) is refused by the unique key, so it
/// must run in the transaction that created the customer.
pub fn queue_for_customer(
    conn: &mut DbConnection,
    template_name: &str,
    customer_id: i64,
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    insert(
        conn,
        &format!("{template_name}:customer:{customer_id}"),
        template_name,
        Some(customer_id),
        None,
        now,
    )?;
    Ok(())
}

/// Queues `template_name` for a customer once more (a new activation link
/// asked for), under a dedupe key of its own; returns the row's id.
pub fn queue_again_for_customer(
    conn: &mut DbConnection,
    template_name: &str,
    customer_id: i64,
    now: NaiveDateTime,
) -> Result<i64, StoreError> {
    let key = format!(
        "{}{}",
        again_key_prefix(template_name, customer_id),
        uuid::Uuid::new_v4().simple()
    );
    Ok(insert(conn, &key, template_name, Some(customer_id), None, now)?.id)
}

/// Whether `template_name` was queued for the customer once more (see
/// [`queue_again_for_customer`]) since `since`. The first mail, queued when
/// the customer was created, does not count.
pub fn queued_again_for_customer_since(
    conn: &mut DbConnection,
    template_name: &str,
    customer_id: i64,
    since: NaiveDateTime,
) -> Result<bool, StoreError> {
    let again = format!("{}%", again_key_prefix(template_name, customer_id));
    let count: i64 = outbox::table
        .filter(outbox::customer_id.eq(customer_id))
        .filter(outbox::dedupe_key.like(again))
        .filter(outbox::created_at.gt(since))
        .count()
        .get_result(conn)?;
    Ok(count > 0)
}

fn again_key_prefix(template_name: &str, customer_id: i64) -> String {
    format!("{template_name}:customer:{customer_id}:again:")
}

/// Queues a mail about one of a customer's mailboxes (its set-password
/// link) under `dedupe_key`; returns the row's id.
pub fn queue_for_mailbox(
    conn: &mut DbConnection,
    dedupe_key: &str,
    template_name: &str,
    customer_id: i64,
    mailbox_id: i64,
    now: NaiveDateTime,
) -> Result<i64, StoreError> {
    let row = insert(
        conn,
        dedupe_key,
        template_name,
        Some(customer_id),
        None,
        now,
    )?;
    diesel::update(outbox::table.find(row.id))
        .set(outbox::mailbox_id.eq(mailbox_id))
        .execute(conn)?;
    Ok(row.id)
}

/// Queues the set-password mail of an operator (an invitation or a
/// reset), addressed to the operator's email when it is sent.
pub fn queue_for_operator(
    conn: &mut DbConnection,
    dedupe_key: &str,
    template_name: &str,
    operator_id: i64,
    now: NaiveDateTime,
) -> Result<i64, StoreError> {
    let row = insert(conn, dedupe_key, template_name, None, None, now)?;
    diesel::update(outbox::table.find(row.id))
        .set(outbox::operator_id.eq(operator_id))
        .execute(conn)?;
    Ok(row.id)
}

/// Queues a test mail of a template to an address.
pub fn queue_test(
    conn: &mut DbConnection,
    template_name: &str,
    recipient: &str,
) -> Result<OutboxRow, StoreError> {
    let key = format!("{template_name}:test:{}", uuid::Uuid::new_v4().simple());
    insert(
        conn,
        &key,
        template_name,
        None,
        Some(recipient),
        Utc::now().naive_utc(),
    )
}

fn insert(
    conn: &mut DbConnection,
    dedupe_key: &str,
    template_name: &str,
    customer_id: Option<i64>,
    recipient: Option<&str>,
    now: NaiveDateTime,
) -> Result<OutboxRow, StoreError> {
    let id = diesel::insert_into(outbox::table)
        .values((
            outbox::dedupe_key.eq(dedupe_key),
            outbox::template_name.eq(template_name),
            outbox::customer_id.eq(customer_id),
            outbox::recipient.eq(recipient),
            outbox::status.eq(OutboxStatus::Queued.as_str()),
            outbox::next_attempt_at.eq(now),
            outbox::created_at.eq(now),
            outbox::updated_at.eq(now),
        ))
        .returning(outbox::id)
        .get_result::<i64>(conn)?;
    load(conn, id)
}

fn load(conn: &mut DbConnection, id: i64) -> Result<OutboxRow, StoreError> {
    Ok(outbox::table
        .find(id)
        .select(OutboxRow::as_select())
        .first(conn)?)
}

/// Takes up to `limit` due mails for `owner` until `lease_until`. A mail
/// whose worker died is due again once its lease has run out.
pub fn claim_due(
    conn: &mut DbConnection,
    owner: &str,
    lease_until: NaiveDateTime,
    limit: i64,
) -> Result<Vec<OutboxRow>, StoreError> {
    let now = Utc::now().naive_utc();
    write_transaction(conn, |conn| {
        let due = outbox::table
            .filter(outbox::status.eq(OutboxStatus::Queued.as_str()))
            .filter(outbox::next_attempt_at.le(now))
            .filter(
                outbox::lease_expires_at
                    .is_null()
                    .or(outbox::lease_expires_at.lt(now)),
            )
            .order((outbox::next_attempt_at, outbox::id))
            .limit(limit)
            .select(outbox::id);
        let ids: Vec<i64> = match conn {
            // Rows another instance is claiming right now are skipped, not waited for.
            DbConnection::Postgres(pg) => due.for_update().skip_locked().load(pg)?,
            // SQLite: the write transaction already excludes other writers.
            DbConnection::Sqlite(sqlite) => due.load(sqlite)?,
        };
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        diesel::update(outbox::table.filter(outbox::id.eq_any(&ids)))
            .set((
                outbox::lease_owner.eq(owner),
                outbox::lease_expires_at.eq(lease_until),
            ))
            .execute(conn)?;
        Ok(outbox::table
            .filter(outbox::id.eq_any(&ids))
            .order((outbox::next_attempt_at, outbox::id))
            .select(OutboxRow::as_select())
            .load(conn)?)
    })
}

/// The filter that keeps a worker from writing over a mail it no longer owns.
macro_rules! leased {
    ($id:expr, $owner:expr) => {
        outbox::table
            .filter(outbox::id.eq($id))
            .filter(outbox::lease_owner.eq($owner))
    };
}

pub fn record_sent(
    conn: &mut DbConnection,
    id: i64,
    owner: &str,
    recipient: &str,
    subject: &str,
    message_id: &str,
) -> Result<(), StoreError> {
    let now = Utc::now().naive_utc();
    diesel::update(leased!(id, owner))
        .set((
            outbox::status.eq(OutboxStatus::Sent.as_str()),
            outbox::attempts.eq(outbox::attempts + 1),
            outbox::recipient.eq(recipient),
            outbox::subject.eq(subject),
            outbox::message_id.eq(message_id),
            outbox::last_error.eq(None::<String>),
            outbox::lease_owner.eq(None::<String>),
            outbox::lease_expires_at.eq(None::<NaiveDateTime>),
            outbox::sent_at.eq(now),
            outbox::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Records a failed attempt: due again at `retry_at`, or failed for good
/// (until an operator retries it) when that is `None`.
pub fn record_failure(
    conn: &mut DbConnection,
    id: i64,
    owner: &str,
    error: &str,
    retry_at: Option<NaiveDateTime>,
) -> Result<(), StoreError> {
    let now = Utc::now().naive_utc();
    let next_status = if retry_at.is_some() {
        OutboxStatus::Queued.as_str()
    } else {
        OutboxStatus::Failed.as_str()
    };
    diesel::update(leased!(id, owner))
        .set((
            outbox::status.eq(next_status),
            outbox::attempts.eq(outbox::attempts + 1),
            outbox::next_attempt_at.eq(retry_at.unwrap_or(now)),
            outbox::last_error.eq(error),
            outbox::lease_owner.eq(None::<String>),
            outbox::lease_expires_at.eq(None::<NaiveDateTime>),
            outbox::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Gives up a mail that must not be sent any more (its customer was deleted).
pub fn cancel(
    conn: &mut DbConnection,
    id: i64,
    owner: &str,
    reason: &str,
) -> Result<(), StoreError> {
    let now = Utc::now().naive_utc();
    diesel::update(leased!(id, owner))
        .set((
            outbox::status.eq(OutboxStatus::Cancelled.as_str()),
            outbox::last_error.eq(reason),
            outbox::lease_owner.eq(None::<String>),
            outbox::lease_expires_at.eq(None::<NaiveDateTime>),
            outbox::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// What an operator's retry did.
#[derive(Debug)]
pub enum RetryOutcome {
    Queued(Box<OutboxRow>),
    NotFound,
    /// Only failed or cancelled mail can be retried; this one is `status`.
    NotRetryable(OutboxStatus),
}

/// Queues a failed mail again, due now, with a fresh set of attempts.
pub fn retry(conn: &mut DbConnection, id: i64) -> Result<RetryOutcome, StoreError> {
    write_transaction(conn, |conn| {
        let Some(current) = outbox::table
            .find(id)
            .select(outbox::status)
            .first::<String>(conn)
            .optional()?
        else {
            return Ok(RetryOutcome::NotFound);
        };
        let current = OutboxStatus::try_from(current)
            .map_err(|e| StoreError::corrupt_because(format!("outbox mail {id}"), e))?;
        if !current.is_retryable() {
            return Ok(RetryOutcome::NotRetryable(current));
        }
        let now = Utc::now().naive_utc();
        diesel::update(outbox::table.find(id))
            .set((
                outbox::status.eq(OutboxStatus::Queued.as_str()),
                outbox::attempts.eq(0),
                outbox::next_attempt_at.eq(now),
                outbox::updated_at.eq(now),
            ))
            .execute(conn)?;
        Ok(RetryOutcome::Queued(Box::new(load(conn, id)?)))
    })
}

/// Newest first, optionally of one status and before an id (paging).
pub fn list(
    conn: &mut DbConnection,
    status_filter: Option<OutboxStatus>,
    before_id: Option<i64>,
    limit: i64,
) -> Result<Vec<OutboxEntry>, StoreError> {
    let mut query = outbox::table
        .left_join(customers::table)
        .select((OutboxRow::as_select(), customers::external_id.nullable()))
        .order(outbox::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(wanted) = status_filter {
        query = query.filter(outbox::status.eq(wanted.as_str()));
    }
    if let Some(before) = before_id {
        query = query.filter(outbox::id.lt(before));
    }
    let rows: Vec<(OutboxRow, Option<String>)> = query.load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(row, customer_external_id)| OutboxEntry {
            row,
            customer_external_id,
        })
        .collect())
}

pub fn find(conn: &mut DbConnection, id: i64) -> Result<Option<OutboxRow>, StoreError> {
    Ok(outbox::table
        .find(id)
        .select(OutboxRow::as_select())
        .first(conn)
        .optional()?)
}

/// A customer's mail, newest first.
pub fn for_customer(
    conn: &mut DbConnection,
    customer_id: i64,
    limit: i64,
) -> Result<Vec<OutboxRow>, StoreError> {
    Ok(outbox::table
        .filter(outbox::customer_id.eq(customer_id))
        .select(OutboxRow::as_select())
        .order(outbox::id.desc())
        .limit(limit)
        .load(conn)?)
}
