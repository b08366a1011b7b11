//! The security headers of every HTML page (the console, the landing page,
//! Swagger UI), in one place so that no page is served without them.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::{DefaultHeaders, Next};

/// The console's policy: inline styles only for the preview of HTML mail
/// bodies, shown in a sandboxed frame; no inline script anywhere.
const PAGE_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-src 'self'; \
     form-action 'self'; frame-ancestors 'none'";

/// Swagger UI's bundle sets inline styles and draws its icons from data:
/// URLs; its scripts are files of its own. Its "try it out" calls go to this
/// service only.
const SWAGGER_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
     form-action 'self'; frame-ancestors 'none'";

/// Where Swagger UI is served.
pub const SWAGGER_PREFIX: &str = "/swagger-ui/";

const SHARED: [(header::HeaderName, &str); 4] = [
    (header::CACHE_CONTROL, "no-store"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::REFERRER_POLICY, "same-origin"),
];

/// The headers of the console's pages and of the landing page.
pub fn page_headers() -> DefaultHeaders {
    SHARED
        .into_iter()
        .fold(DefaultHeaders::new(), |headers, pair| headers.add(pair))
        .add((header::CONTENT_SECURITY_POLICY, PAGE_POLICY))
}

/// Adds the page headers, with Swagger UI's policy, to what Swagger UI
/// serves (its service cannot be wrapped on its own), leaving every other
/// path alone.
pub async fn swagger_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let swagger = req.path().starts_with(SWAGGER_PREFIX);
    let mut response = next.call(req).await?;
    if swagger {
        let headers = response.headers_mut();
        for (name, value) in SHARED {
            if !headers.contains_key(&name) {
                headers.insert(name, HeaderValue::from_static(value));
            }
        }
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(SWAGGER_POLICY),
        );
    }
    Ok(response)
}
