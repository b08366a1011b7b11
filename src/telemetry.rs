//! Logging with tracing: pretty or JSON lines, one span per request that
//! carries the BSS's TrackId and the calling application.

pub mod metrics;

use std::io::IsTerminal;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::HeaderMap;
use tracing::Span;
use tracing_actix_web::RootSpanBuilder;
use tracing_subscriber::EnvFilter;

/// The header the BSS sends with its own id of each call.
pub const TRACK_ID_HEADER: &str = "X-CloudPlatform-TrackId";

/// The BSS's TrackId of a request, when it sent one.
pub fn track_id(headers: &HeaderMap) -> Option<&str> {
    headers.get(TRACK_ID_HEADER).and_then(|v| v.to_str().ok())
}

use crate::config::LogFormat;

/// Installs the global subscriber. `RUST_LOG` overrides the default level.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
    // A second initialization (tests build several apps) keeps the first.
    let _ = result;
}

/// The request span: method, path, TrackId, and the tenant once known.
pub struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let track_id = track_id(request.headers()).unwrap_or("-");
        tracing::info_span!(
            "request",
            method = %request.method(),
            path = %loggable_path(request.path()),
            track_id = %track_id,
            tenant = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(
        _span: Span,
        _outcome: &Result<ServiceResponse<B>, actix_web::Error>,
    ) {
        // Failures are logged where they are understood (the error type and
        // the audit middleware); a second generic line would only repeat them.
    }
}

/// The first segments of the paths whose next segment is a secret: the
/// token of an activation or set-password link (see `notify::ACTIVATION_PATH`
/// and `MAILBOX_PASSWORD_PATH`, which a test keeps in step with these).
pub const SECRET_PATH_SEGMENTS: [&str; 2] = ["activate", "mailbox-password"];

/// What a log line may show of a request path: the segment after one of
/// [`SECRET_PATH_SEGMENTS`] replaced by `***`, so a link's token never
/// reaches a log (anyone reading the log could otherwise use the link).
pub fn loggable_path(path: &str) -> std::borrow::Cow<'_, str> {
    let mut segments = path.split('/');
    let first = segments.nth(1).unwrap_or("");
    let secret = SECRET_PATH_SEGMENTS
        .iter()
        .any(|segment| first.eq_ignore_ascii_case(segment));
    if !secret || path.len() <= first.len() + 2 {
        return path.into();
    }
    let rest: Vec<&str> = path.splitn(4, '/').skip(3).collect();
    match rest.first() {
        Some(after) => format!("/{first}/***/{after}").into(),
        None => format!("/{first}/***").into(),
    }
}

/// "outer: inner: innermost", for logs and stored failure reasons.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut chain = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        chain.push_str(": ");
        chain.push_str(&cause.to_string());
        source = cause.source();
    }
    chain
}

#[cfg(test)]
mod tests {
    use super::loggable_path;

    #[test]
    fn link_tokens_are_masked_in_logged_paths() {
        assert_eq!(loggable_path("/activate/s3cr3t"), "/activate/***");
        assert_eq!(
            loggable_path("/activate/s3cr3t/new-link"),
            "/activate/***/new-link"
        );
        assert_eq!(
            loggable_path("/mailbox-password/abc"),
            "/mailbox-password/***"
        );
        assert_eq!(loggable_path("/Activate/abc"), "/Activate/***");
        assert_eq!(loggable_path("/activate/"), "/activate/");
        assert_eq!(loggable_path("/activate"), "/activate");
        assert_eq!(
            loggable_path("/api/accounts/exists"),
            "/api/accounts/exists"
        );
        assert_eq!(loggable_path("/"), "/");
    }
}
