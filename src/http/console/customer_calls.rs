//! A customer's contract calls on its console page: the BSS's calls about
//! it, newest first, filtered by endpoint, result code and dates, a page at
//! a time.

use chrono::{Duration, NaiveDate, NaiveDateTime};
use serde::Serialize;

use super::pages;
use crate::http::service_manager::routing::ACTIONS;
use crate::store::audit::{AuditEntry, CallFilter, CallsPage};

/// Calls shown a page.
pub const PAGE_SIZE: i64 = 50;

/// The calls part of the detail page's query string, as typed.
#[derive(Debug, Default, Clone)]
pub struct CallsQuery {
    /// An endpoint (`Accounts/Exists`); empty: all.
    pub endpoint: String,
    /// A result code; empty: all.
    pub code: String,
    /// First day shown (`YYYY-MM-DD`, UTC); empty: no bound.
    pub from: String,
    /// Last day shown, included.
    pub until: String,
    /// Calls older than this entry id (the next page).
    pub before: String,
}

impl CallsQuery {
    /// The filter the query asks for, or what is wrong with it.
    pub fn filter(&self) -> Result<CallFilter, String> {
        let endpoint = match self.endpoint.trim() {
            "" => None,
            wanted => Some(
                ACTIONS
                    .iter()
                    .find(|action| action.eq_ignore_ascii_case(wanted))
                    .map(|action| (*action).to_owned())
                    .ok_or_else(|| format!("{wanted} is not an endpoint of the contract."))?,
            ),
        };
        let result_code = match self.code.trim() {
            "" => None,
            text => Some(
                text.parse::<i32>()
                    .map_err(|_| format!("The result code must be a number, not {text}."))?,
            ),
        };
        let day = |text: &str, what: &str| -> Result<Option<NaiveDateTime>, String> {
            match text.trim() {
                "" => Ok(None),
                text => NaiveDate::parse_from_str(text, "%Y-%m-%d")
                    .map(|day| day.and_hms_opt(0, 0, 0))
                    .map_err(|_| format!("The {what} date must be YYYY-MM-DD, not {text}.")),
            }
        };
        let from = day(&self.from, "first")?;
        // The last day is included: calls before the next midnight.
        let until = day(&self.until, "last")?.map(|day| day + Duration::days(1));
        let before_id = self.before.trim().parse::<i64>().ok();
        Ok(CallFilter {
            endpoint,
            result_code,
            from,
            until,
            before_id,
        })
    }

    fn is_filtered(&self) -> bool {
        [&self.endpoint, &self.code, &self.from, &self.until]
            .iter()
            .any(|value| !value.trim().is_empty())
    }

    /// The page's address with this query and `before`, at the calls section.
    fn href(&self, external_id: &str, before: Option<i64>) -> String {
        let mut pairs = vec![
            ("aendpoint", self.endpoint.trim().to_owned()),
            ("acode", self.code.trim().to_owned()),
            ("afrom", self.from.trim().to_owned()),
            ("auntil", self.until.trim().to_owned()),
        ];
        if let Some(before) = before {
            pairs.push(("abefore", before.to_string()));
        }
        let query: Vec<String> = pairs
            .into_iter()
            .filter(|(_, value)| !value.is_empty())
            .map(|(name, value)| format!("{name}={}", pages::encode_component(&value)))
            .collect();
        format!(
            "/console/customers/{}?{}#audit",
            pages::encode_component(external_id),
            query.join("&")
        )
    }
}

#[derive(Serialize)]
struct CallView {
    time: String,
    endpoint: String,
    track_id: Option<String>,
    result_code: i32,
    http_status: i32,
    duration: String,
}

impl From<AuditEntry> for CallView {
    fn from(entry: AuditEntry) -> Self {
        Self {
            time: pages::display_time(entry.occurred_at),
            endpoint: entry.endpoint,
            track_id: entry.track_id,
            result_code: entry.result_code,
            http_status: entry.http_status,
            duration: format!("{:.1} ms", entry.duration_us as f64 / 1000.0),
        }
    }
}

#[derive(Serialize)]
struct EndpointOption {
    value: &'static str,
    selected: bool,
}

/// The calls section of the detail page.
#[derive(Serialize)]
pub struct CallsView {
    calls: Vec<CallView>,
    endpoints: Vec<EndpointOption>,
    code: String,
    from: String,
    until: String,
    filtered: bool,
    /// Not the newest page: a link back to it.
    newest_href: Option<String>,
    older_href: Option<String>,
    problem: Option<String>,
}

/// The section for `page` (or for a query that did not parse: `problem`).
pub fn view(external_id: &str, query: &CallsQuery, page: Result<CallsPage, String>) -> CallsView {
    let (calls, older, problem) = match page {
        Ok(page) => (page.entries, page.older, None),
        Err(problem) => (Vec::new(), None, Some(problem)),
    };
    let endpoint = query.endpoint.trim();
    CallsView {
        calls: calls.into_iter().map(CallView::from).collect(),
        endpoints: ACTIONS
            .iter()
            .map(|value| EndpointOption {
                value,
                selected: value.eq_ignore_ascii_case(endpoint),
            })
            .collect(),
        code: query.code.trim().to_owned(),
        from: query.from.trim().to_owned(),
        until: query.until.trim().to_owned(),
        filtered: query.is_filtered(),
        newest_href: (!query.before.trim().is_empty()).then(|| query.href(external_id, None)),
        older_href: older.map(|before| query.href(external_id, Some(before))),
        problem,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_becomes_a_filter_or_says_what_is_wrong() {
        let query = CallsQuery {
            endpoint: "accounts/exists".into(),
            code: " -80001 ".into(),
            from: "2026-11-01".into(),
            until: "2026-11-02".into(),
            before: "17".into(),
        };
        let filter = query.filter().unwrap();
        assert_eq!(filter.endpoint.as_deref(), Some("Accounts/Exists"));
        assert_eq!(filter.result_code, Some(-80001));
        assert_eq!(filter.from.unwrap().to_string(), "2026-11-01 00:00:00");
        assert_eq!(filter.until.unwrap().to_string(), "2026-11-03 00:00:00");
        assert_eq!(filter.before_id, Some(17));
        assert_eq!(
            CallsQuery::default().filter().unwrap(),
            CallFilter::default()
        );
        for bad in [
            CallsQuery {
                endpoint: "Accounts/Nope".into(),
                ..Default::default()
            },
            CallsQuery {
                code: "zero".into(),
                ..Default::default()
            },
            CallsQuery {
                from: "1/11/2026".into(),
                ..Default::default()
            },
        ] {
            assert!(bad.filter().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn links_keep_the_filter() {
        let query = CallsQuery {
            endpoint: "Accounts/Exists".into(),
            code: "1".into(),
            ..Default::default()
        };
        assert_eq!(
            query.href("cus 1", Some(40)),
            "/console/customers/cus%201?aendpoint=Accounts%2FExists&acode=1&abefore=40#audit"
        );
    }
}
