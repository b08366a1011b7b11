//! The operator audit trail over the API (Super Admin), and the filters
//! the console's Audit page reads the same way.

use actix_web::{web, HttpResponse};
use chrono::{NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ErrorBody, OperatorApiError};
use super::session::SignedIn;
use super::OperatorState;
use crate::domain::operator::Permission;
use crate::domain::operator_audit::AuditAction;
use crate::store::operator_audit::{self, AuditFilter, AuditRow};

/// Most rows one page of the API answers.
pub const MAX_LIMIT: i64 = 500;

/// The filters, as query parameters; every one optional.
#[derive(Debug, Default, Clone, Deserialize, IntoParams)]
#[serde(default)]
pub struct AuditQuery {
    /// The operator's email (any case).
    pub operator: String,
    /// An action, e.g. `key_revoked`.
    pub action: String,
    /// From this day (`2026-11-23`, UTC) or instant (`2026-11-23T10:00:00`).
    pub from: String,
    /// Until this day, inclusive, or before this instant.
    pub until: String,
    /// The previous page's `next_before`.
    pub before: Option<i64>,
    /// Rows per page, at most 500 (default 50).
    pub limit: Option<i64>,
}

/// An instant or a day: a day starts at midnight UTC.
fn parse_instant(text: &str) -> Option<(NaiveDateTime, bool)> {
    let text = text.trim().trim_end_matches('Z');
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Some((day.and_hms_opt(0, 0, 0)?, true));
    }
    ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        .map(|at| (at, false))
}

impl AuditQuery {
    /// The store's filter, or what is wrong with the query.
    pub fn filter(&self) -> Result<AuditFilter, String> {
        let operator = self.operator.trim();
        let action = match self.action.trim() {
            "" => None,
            text => Some(
                AuditAction::parse(text).ok_or_else(|| format!("There is no action {text:?}."))?,
            ),
        };
        let from = match self.from.trim() {
            "" => None,
            text => Some(
                parse_instant(text)
                    .ok_or_else(|| format!("{text:?} is not a date (YYYY-MM-DD)."))?
                    .0,
            ),
        };
        let until = match self.until.trim() {
            "" => None,
            text => {
                let (at, whole_day) = parse_instant(text)
                    .ok_or_else(|| format!("{text:?} is not a date (YYYY-MM-DD)."))?;
                // A day "until" includes that day.
                Some(if whole_day {
                    at + chrono::Duration::days(1)
                } else {
                    at
                })
            }
        };
        Ok(AuditFilter {
            operator_email: (!operator.is_empty()).then(|| operator.to_lowercase()),
            action,
            from,
            until,
        })
    }
}

/// One recorded action.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntryView {
    pub id: i64,
    #[serde(with = "super::utc")]
    pub occurred_at: NaiveDateTime,
    pub operator: String,
    pub action: String,
    pub target: Option<String>,
    pub source_address: Option<String>,
    /// The state before the action, secrets masked (JSON).
    #[schema(value_type = Option<Object>)]
    pub before: Option<serde_json::Value>,
    /// The state after it, secrets masked (JSON).
    #[schema(value_type = Option<Object>)]
    pub after: Option<serde_json::Value>,
}

impl From<AuditRow> for AuditEntryView {
    fn from(row: AuditRow) -> Self {
        let json = |text: Option<String>| text.and_then(|t| serde_json::from_str(&t).ok());
        Self {
            id: row.id,
            occurred_at: row.occurred_at,
            operator: row.operator_email,
            action: row.action,
            target: row.target,
            source_address: row.source_address,
            before: json(row.before_state),
            after: json(row.after_state),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    /// Newest first.
    pub entries: Vec<AuditEntryView>,
    /// Pass as `before` for the next page; absent on the last.
    pub next_before: Option<i64>,
}

/// What operators did, newest first (Super Admin).
#[utoipa::path(get, path = "/operator/api/audit", tag = "Operator",
    params(AuditQuery),
    responses(
        (status = 200, body = AuditPage),
        (status = 400, description = "A filter does not parse.", body = ErrorBody),
        (status = 403, body = ErrorBody),
    ),
    security(("OperatorSession" = [])))]
pub async fn list(
    state: web::Data<OperatorState>,
    operator: SignedIn,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, OperatorApiError> {
    operator.require(Permission::ReadOperatorAudit)?;
    let filter = query.filter().map_err(OperatorApiError::BadRequest)?;
    let limit = query.limit.unwrap_or(50).clamp(1, MAX_LIMIT);
    let before = query.before;
    let mut rows = state
        .store
        .run(move |conn| operator_audit::list(conn, &filter, before, limit + 1))
        .await?;
    let has_more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next_before = has_more.then(|| rows.last().map(|row| row.id)).flatten();
    Ok(HttpResponse::Ok().json(AuditPage {
        entries: rows.into_iter().map(Into::into).collect(),
        next_before,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_include_their_whole_date_and_bad_filters_are_named() {
        let query = AuditQuery {
            operator: " Ops@Example.com ".into(),
            action: "key_revoked".into(),
            from: "2026-11-20".into(),
            until: "2026-11-23".into(),
            ..AuditQuery::default()
        };
        let filter = query.filter().unwrap();
        assert_eq!(filter.operator_email.as_deref(), Some("ops@example.com"));
        assert_eq!(filter.action, Some(AuditAction::KeyRevoked));
        assert_eq!(
            filter.from.unwrap().to_string(),
            "2026-11-20 00:00:00".to_owned()
        );
        assert_eq!(
            filter.until.unwrap().to_string(),
            "2026-11-24 00:00:00".to_owned()
        );
        let instant = AuditQuery {
            until: "2026-11-23T10:30:00Z".into(),
            ..AuditQuery::default()
        };
        assert_eq!(
            instant.filter().unwrap().until.unwrap().to_string(),
            "2026-11-23 10:30:00"
        );
        for bad in [
            AuditQuery {
                action: "drop".into(),
                ..AuditQuery::default()
            },
            AuditQuery {
                from: "yesterday".into(),
                ..AuditQuery::default()
            },
        ] {
            assert!(bad.filter().is_err());
        }
    }
}
