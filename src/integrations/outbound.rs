//! The one outgoing HTTP client of every integration (reqwest over rustls):
//! timeouts, retries on 429 (honouring `Retry-After`) and on 5xx or lost
//! connections with exponential backoff, an `X-Request-Id` per call in the
//! logs (method, host, path, status, time; never headers or the query,
//! where secrets travel), the platforms' error bodies turned into
//! [`IntegrationError`]s, and `Link: <...>; rel="next"` paging.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, LINK, RETRY_AFTER};
use reqwest::{Client, Method, RequestBuilder, Response, StatusCode, Url};
use serde::de::DeserializeOwned;

use super::IntegrationError;
use crate::config::OutboundHttpSettings;

/// The most pages a listing follows: a platform whose `next` link never
/// ends would otherwise keep a run busy for ever.
pub const MAX_PAGES: usize = 10_000;

/// The outgoing client and its retry policy; cheap to clone.
#[derive(Clone)]
pub struct Outbound {
    client: Client,
    policy: Arc<RetryPolicy>,
}

#[derive(Debug, Clone)]
struct RetryPolicy {
    max_attempts: u32,
    backoff_base: Duration,
    retry_after_cap: Duration,
}

static SHARED: OnceLock<Outbound> = OnceLock::new();

impl Outbound {
    pub fn new(settings: &OutboundHttpSettings) -> Outbound {
        let client = Client::builder()
            .connect_timeout(Duration::from_millis(settings.connect_timeout_ms))
            .timeout(Duration::from_millis(settings.timeout_ms))
            .user_agent(concat!("Mailroom/", env!("CARGO_PKG_VERSION")))
            // Credentials must not follow a redirect to another host.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("the TLS backend initializes");
        Outbound {
            client,
            policy: Arc::new(RetryPolicy {
                max_attempts: settings.max_attempts.max(1),
                backoff_base: Duration::from_millis(settings.backoff_base_ms),
                retry_after_cap: Duration::from_millis(settings.retry_after_cap_ms),
            }),
        }
    }

    /// Sets the process's client from the settings; the first call wins
    /// (`Application::build` makes it).
    pub fn install(settings: &OutboundHttpSettings) {
        let _ = SHARED.set(Outbound::new(settings));
    }

    /// The process's client: the installed one, or one with default
    /// settings.
    pub fn shared() -> Outbound {
        SHARED
            .get_or_init(|| Outbound::new(&OutboundHttpSettings::default()))
            .clone()
    }

    /// Sends the request `build` makes (again for each attempt) and returns
    /// a success (2xx) response. `retry_unsent_only` is for calls that are
    /// not safe to repeat (a POST that creates): those are retried only
    /// when the platform surely did not act (429, or no connection made).
    pub async fn send(
        &self,
        platform: &'static str,
        method: Method,
        url: &Url,
        retry_unsent_only: bool,
        build: impl Fn(RequestBuilder) -> RequestBuilder,
    ) -> Result<Response, IntegrationError> {
        let host = url.host_str().unwrap_or("").to_owned();
        let path = url.path().to_owned();
        let mut attempt = 1;
        loop {
            let request_id = uuid::Uuid::new_v4().simple().to_string();
            let started = Instant::now();
            let request = build(self.client.request(method.clone(), url.clone()))
                .header("X-Request-Id", &request_id);
            let outcome = request.send().await;
            let elapsed_ms = started.elapsed().as_millis() as u64;
            let retry_after = match outcome {
                Ok(response) => {
                    let status = response.status();
                    tracing::info!(
                        platform, %method, host, path, status = status.as_u16(), elapsed_ms,
                        request_id, attempt, "outgoing call"
                    );
                    if status.is_success() {
                        return Ok(response);
                    }
                    let retriable = status == StatusCode::TOO_MANY_REQUESTS
                        || (status.is_server_error() && !retry_unsent_only);
                    if !retriable || attempt >= self.policy.max_attempts {
                        return Err(failure(platform, response).await);
                    }
                    let asked = (status == StatusCode::TOO_MANY_REQUESTS)
                        .then(|| retry_after_of(response.headers()))
                        .flatten();
                    asked.map(|pause| pause.min(self.policy.retry_after_cap))
                }
                Err(error) => {
                    tracing::warn!(
                        platform, %method, host, path, elapsed_ms, request_id, attempt,
                        error = %without_url(&error), "outgoing call failed"
                    );
                    let unsent = error.is_connect();
                    let retriable = unsent
                        || (!retry_unsent_only && (error.is_timeout() || error.is_request()));
                    if !retriable || attempt >= self.policy.max_attempts {
                        return Err(IntegrationError::Unavailable {
                            platform,
                            message: describe_transport_error(&error),
                        });
                    }
                    None
                }
            };
            let pause = retry_after.unwrap_or_else(|| self.backoff(attempt));
            tokio::time::sleep(pause).await;
            attempt += 1;
        }
    }

    /// [`Outbound::send`] and the JSON body of the answer.
    pub async fn json<T: DeserializeOwned>(
        &self,
        platform: &'static str,
        method: Method,
        url: &Url,
        retry_unsent_only: bool,
        build: impl Fn(RequestBuilder) -> RequestBuilder,
    ) -> Result<T, IntegrationError> {
        let response = self
            .send(platform, method, url, retry_unsent_only, build)
            .await?;
        read_json(platform, response).await
    }

    /// Every record of a paged listing: GETs `first`, then each page its
    /// answer's `Link rel="next"` names, on the same origin only (the
    /// credentials `build` adds must not travel elsewhere).
    pub async fn all_pages<T: DeserializeOwned>(
        &self,
        platform: &'static str,
        first: Url,
        build: impl Fn(RequestBuilder) -> RequestBuilder,
    ) -> Result<Vec<T>, IntegrationError> {
        let mut records = Vec::new();
        let mut url = first.clone();
        for _ in 0..MAX_PAGES {
            let response = self
                .send(platform, Method::GET, &url, false, &build)
                .await?;
            let next = next_link(response.headers());
            let mut page: Vec<T> = read_json(platform, response).await?;
            records.append(&mut page);
            match next.and_then(|link| first.join(&link).ok()) {
                Some(next) if next.origin() == first.origin() => url = next,
                Some(_) => {
                    return Err(IntegrationError::Unavailable {
                        platform,
                        message: "the next page is on another site".to_owned(),
                    })
                }
                None => return Ok(records),
            }
        }
        Err(IntegrationError::Unavailable {
            platform,
            message: format!("the listing did not end after {MAX_PAGES} pages"),
        })
    }

    fn backoff(&self, attempt: u32) -> Duration {
        self.policy
            .backoff_base
            .saturating_mul(1 << (attempt - 1).min(10))
    }
}

/// The `rel="next"` target of a `Link` header, if any.
pub fn next_link(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(LINK)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(split_links)
        .find_map(|(target, params)| {
            params
                .split(';')
                .filter_map(|param| param.trim().split_once('='))
                .any(|(name, value)| {
                    name.trim().eq_ignore_ascii_case("rel")
                        && value
                            .trim()
                            .trim_matches('"')
                            .split_whitespace()
                            .any(|rel| rel.eq_ignore_ascii_case("next"))
                })
                .then(|| target.to_owned())
        })
}

/// Splits `<a>; rel="x", <b>; rel="y"` into (target, parameters) pairs;
/// commas inside `<...>` stay part of the target.
fn split_links(header: &str) -> Vec<(&str, &str)> {
    let mut links = Vec::new();
    let mut rest = header;
    while let Some(open) = rest.find('<') {
        let Some(close) = rest[open..].find('>').map(|at| open + at) else {
            break;
        };
        let target = &rest[open + 1..close];
        let after = &rest[close + 1..];
        let end = after.find('<').unwrap_or(after.len());
        links.push((target, after[..end].trim().trim_end_matches(',')));
        rest = &after[end..];
    }
    links
}

/// `Retry-After` in seconds (the form these platforms send).
fn retry_after_of(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

async fn read_json<T: DeserializeOwned>(
    platform: &'static str,
    response: Response,
) -> Result<T, IntegrationError> {
    let bytes = response
        .bytes()
        .await
        .map_err(|error| IntegrationError::Unavailable {
            platform,
            message: describe_transport_error(&error),
        })?;
    serde_json::from_slice(&bytes).map_err(|error| IntegrationError::Unavailable {
        platform,
        message: format!("its answer was not what its API documents: {error}"),
    })
}

/// The error of a non-success answer, with the platform's own message.
async fn failure(platform: &'static str, response: Response) -> IntegrationError {
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    let message = platform_message(&body)
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_owned());
    let message = format!("{} {message}", status.as_u16());
    if status.is_client_error() && status != StatusCode::TOO_MANY_REQUESTS {
        IntegrationError::Refused {
            platform,
            status: status.as_u16(),
            message,
        }
    } else {
        IntegrationError::Unavailable { platform, message }
    }
}

/// The message of a platform's error body: ConnectWise's
/// `{"code","message","errors":[{"message","field"}]}` or an RFC 7807
/// problem (`title`, `detail`).
pub fn platform_message(body: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    let text = |key: &str| {
        value
            .get(key)
            .and_then(|v| v.as_str())
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    let mut message = text("message")
        .or_else(|| text("detail"))
        .or_else(|| text("title"))?
        .to_owned();
    let details: Vec<String> = value
        .get("errors")
        .and_then(|errors| errors.as_array())
        .into_iter()
        .flatten()
        .filter_map(|error| {
            let text = error.get("message")?.as_str()?;
            Some(match error.get("field").and_then(|f| f.as_str()) {
                Some(field) if !field.is_empty() => format!("{field}: {text}"),
                _ => text.to_owned(),
            })
        })
        .collect();
    if !details.is_empty() {
        message = format!("{message} ({})", details.join("; "));
    }
    // A platform's message is shown to operators: keep it to a line.
    Some(message.chars().take(500).collect())
}

/// A transport error without its URL (whose query may carry secrets).
fn without_url(error: &reqwest::Error) -> String {
    let mut plain = String::new();
    let mut cause: Option<&dyn std::error::Error> = Some(error);
    let stripped = error.url().map(|url| url.as_str().to_owned());
    while let Some(current) = cause {
        let mut text = current.to_string();
        if let Some(url) = &stripped {
            text = text.replace(url.as_str(), "");
        }
        if !plain.is_empty() {
            plain.push_str(": ");
        }
        plain.push_str(text.trim());
        cause = current.source();
    }
    plain
}

fn describe_transport_error(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "it did not answer in time".to_owned()
    } else if error.is_connect() {
        format!("no connection could be made ({})", without_url(error))
    } else {
        without_url(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn links(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(LINK, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn the_next_link_is_found_among_others() {
        let headers = links(
            "<https://cw.example/apis/3.0/procurement/catalog?pageSize=2&page=1>; rel=\"first\", \
             <https://cw.example/apis/3.0/procurement/catalog?conditions=a,b&page=3>; rel=\"next\"",
        );
        assert_eq!(
            next_link(&headers).as_deref(),
            Some("https://cw.example/apis/3.0/procurement/catalog?conditions=a,b&page=3")
        );
        assert_eq!(
            next_link(&links("<https://x/?page=1>; rel=\"first\"")),
            None
        );
        assert_eq!(next_link(&HeaderMap::new()), None);
        assert_eq!(
            next_link(&links("<https://x/?page=2>; rel=next")).as_deref(),
            Some("https://x/?page=2")
        );
    }

    #[test]
    fn platform_messages_are_read_from_either_error_format() {
        assert_eq!(
            platform_message(
                r#"{"code":"InvalidObject","message":"addition object is invalid","errors":[{"code":"InvalidField","message":"billCustomer is required","resource":"addition","field":"billCustomer"}]}"#
            )
            .as_deref(),
            Some("addition object is invalid (billCustomer: billCustomer is required)")
        );
        assert_eq!(
            platform_message(r#"{"type":"about:blank","title":"Forbidden","status":403,"detail":"No access to customer"}"#).as_deref(),
            Some("No access to customer")
        );
        assert_eq!(platform_message("<html>"), None);
    }

    #[test]
    fn retry_after_is_read_in_seconds() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        assert_eq!(retry_after_of(&headers), Some(Duration::from_secs(3)));
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after_of(&headers), None);
    }
}
