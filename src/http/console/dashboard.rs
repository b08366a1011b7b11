//! The console's home: customers by status and new this week, contract
//! calls of the last 24 hours by endpoint and result code (a bar chart
//! drawn here as SVG), failed and queued mail, and the integrations' last
//! scheduled runs.

use std::collections::BTreeMap;
use std::fmt::Write;

use actix_web::{web, HttpResponse};
use chrono::{Duration, Utc};
use serde::Serialize;

use super::integration_runs::outcome_label;
use super::pages::render;
use super::{ConsoleError, ConsoleSession};
use crate::domain::operator::Permission;
use crate::http::operator::OperatorState;
use crate::jobs::scheduler;
use crate::store::{dashboard, jobs};

pub const VIEWS: &[(&str, &str)] = &[(
    "dashboard",
    include_str!("../../../templates/console/dashboard.hbs"),
)];

#[derive(Serialize)]
struct StatusCount {
    status: String,
    customers: i64,
}

#[derive(Serialize)]
struct CallCount {
    endpoint: String,
    result_code: i32,
    calls: i64,
}

#[derive(Serialize)]
struct LastRunView {
    integration: &'static str,
    runs_path: String,
    outcome: &'static str,
    outcome_label: &'static str,
    started_at: String,
    error: Option<String>,
}

#[derive(Serialize)]
struct DashboardView {
    customers: Vec<StatusCount>,
    customers_total: i64,
    new_customers: i64,
    calls: Vec<CallCount>,
    calls_total: i64,
    chart_svg: String,
    failed_mail: i64,
    queued_mail: i64,
    last_runs: Vec<LastRunView>,
}

/// The latest run of each integration's job that has run, by integration.
fn last_run_views(runs: Vec<jobs::LastRun>) -> Vec<LastRunView> {
    let registry = scheduler::registry();
    runs.into_iter()
        .filter_map(|run| {
            let job = registry.iter().find(|job| job.name == run.job_name)?;
            Some(LastRunView {
                integration: job.kind.label(),
                runs_path: format!("/console/integrations/{}/runs", job.kind.key()),
                outcome: run.outcome.as_str(),
                outcome_label: outcome_label(run.outcome.as_str()),
                started_at: run.started_at.format("%Y-%m-%d %H:%M UTC").to_string(),
                error: run.error,
            })
        })
        .collect()
}

/// One bar per endpoint: its successful calls (result code 0) and the rest.
#[derive(Debug, Default, PartialEq, Eq)]
struct Bar {
    succeeded: i64,
    refused: i64,
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A horizontal bar chart of calls per endpoint, successes and refusals
/// stacked, scaled to the busiest endpoint. Our own markup: every text is
/// escaped.
fn chart(calls: &[(String, i32, i64)]) -> String {
    let mut bars: BTreeMap<&str, Bar> = BTreeMap::new();
    for (endpoint, code, count) in calls {
        let bar = bars.entry(endpoint.as_str()).or_default();
        if *code == 0 {
            bar.succeeded += count;
        } else {
            bar.refused += count;
        }
    }
    const LABEL: i64 = 220;
    const WIDTH: i64 = 360;
    const ROW: i64 = 22;
    let busiest = bars
        .values()
        .map(|b| b.succeeded + b.refused)
        .max()
        .unwrap_or(0)
        .max(1);
    let height = ROW * (bars.len() as i64).max(1) + 4;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" id=\"calls-chart\" \
         aria-label=\"Contract calls in the last 24 hours by endpoint\" \
         width=\"{}\" height=\"{height}\" viewBox=\"0 0 {} {height}\" font-family=\"sans-serif\" font-size=\"12\">",
        LABEL + WIDTH + 80,
        LABEL + WIDTH + 80
    );
    if bars.is_empty() {
        svg.push_str("<text x=\"0\" y=\"16\">No contract calls in the last 24 hours.</text>");
    }
    for (row, (endpoint, bar)) in bars.iter().enumerate() {
        let y = row as i64 * ROW + 2;
        let ok = WIDTH * bar.succeeded / busiest;
        let refused = WIDTH * bar.refused / busiest;
        let _ = write!(
            svg,
            "<g data-endpoint=\"{e}\"><text x=\"0\" y=\"{ty}\">{e}</text>\
             <rect x=\"{LABEL}\" y=\"{y}\" width=\"{ok}\" height=\"16\" fill=\"#2e7d32\"><title>{s} succeeded</title></rect>\
             <rect x=\"{rx}\" y=\"{y}\" width=\"{refused}\" height=\"16\" fill=\"#ef6c00\"><title>{r} with another result code</title></rect>\
             <text x=\"{tx}\" y=\"{ty}\">{total}</text></g>",
            e = escape(endpoint),
            ty = y + 13,
            s = bar.succeeded,
            r = bar.refused,
            rx = LABEL + ok,
            tx = LABEL + ok + refused + 6,
            total = bar.succeeded + bar.refused,
        );
    }
    svg.push_str("</svg>");
    svg
}

pub async fn show(
    state: web::Data<OperatorState>,
    session: ConsoleSession,
) -> Result<HttpResponse, ConsoleError> {
    session.require(Permission::ReadCustomers)?;
    let now = Utc::now().naive_utc();
    // The last 24 hours, by whole hours: this one and the 23 before.
    let (week_ago, day_ago) = (
        now - Duration::days(7),
        crate::store::audit::hour_of(now) - Duration::hours(23),
    );
    let (numbers, last_runs) = state
        .store
        .run(move |conn| {
            Ok((
                dashboard::load(conn, week_ago, day_ago)?,
                jobs::last_runs(conn)?,
            ))
        })
        .await?;
    let view = DashboardView {
        customers_total: numbers.customers_by_status.iter().map(|(_, n)| n).sum(),
        customers: numbers
            .customers_by_status
            .iter()
            .map(|(status, customers)| StatusCount {
                status: status.clone(),
                customers: *customers,
            })
            .collect(),
        new_customers: numbers.new_customers,
        calls_total: numbers.calls.iter().map(|(_, _, n)| n).sum(),
        chart_svg: chart(&numbers.calls),
        calls: numbers
            .calls
            .into_iter()
            .map(|(endpoint, result_code, calls)| CallCount {
                endpoint,
                result_code,
                calls,
            })
            .collect(),
        failed_mail: numbers.failed_mail,
        queued_mail: numbers.queued_mail,
        last_runs: last_run_views(last_runs),
    };
    render(
        "dashboard",
        &session.chrome("Dashboard", "dashboard"),
        &view,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_stack_successes_and_refusals_scaled_to_the_busiest() {
        let svg = chart(&[
            ("Accounts/Exists".into(), 0, 30),
            ("Accounts/Exists".into(), 1, 10),
            ("Accounts/Synchronize".into(), 0, 20),
            ("<script>".into(), 5, 1),
        ]);
        assert!(svg.starts_with("<svg"), "{svg}");
        // Exists is the busiest: its two segments fill the width (270 + 90).
        assert!(
            svg.contains("width=\"270\" height=\"16\" fill=\"#2e7d32\""),
            "{svg}"
        );
        assert!(
            svg.contains("width=\"90\" height=\"16\" fill=\"#ef6c00\""),
            "{svg}"
        );
        assert!(
            svg.contains("width=\"180\" height=\"16\" fill=\"#2e7d32\""),
            "{svg}"
        );
        assert!(svg.contains("&lt;script&gt;") && !svg.contains("<script>"));
        assert!(chart(&[]).contains("No contract calls"));
    }
}
