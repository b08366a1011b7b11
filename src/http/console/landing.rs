//! `/`: where to go from here.

use actix_web::HttpResponse;

use super::pages::render_status;
use super::ConsoleError;

pub const VIEWS: &[(&str, &str)] = &[(
    "landing",
    include_str!("../../../templates/console/landing.hbs"),
)];

pub async fn show() -> Result<HttpResponse, ConsoleError> {
    render_status(
        actix_web::http::StatusCode::OK,
        "landing",
        None,
        &serde_json::json!({"version": env!("CARGO_PKG_VERSION")}),
    )
}
