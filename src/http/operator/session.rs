//! Signing in and out, and the extractor that names the signed-in operator.

use std::future::Future;
use std::pin::Pin;
use std::sync::LazyLock;

use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use chrono::{NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ErrorBody, OperatorApiError};
use super::OperatorState;
use crate::domain::operator::{Permission, Role};
use crate::domain::password;
use crate::domain::token::{csrf_token, hash_token, IssuedToken};
use crate::http::error::ServerError;
use crate::http::throttle;
use crate::store::{operators, StoreError};

/// The operator a request is made by.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub operator_id: i64,
    pub email: String,
    pub role: Role,
}

impl SignedIn {
    pub fn require(&self, permission: Permission) -> Result<(), OperatorApiError> {
        if self.role.allows(permission) {
            Ok(())
        } else {
            tracing::info!(operator = %self.email, ?permission, "operator refused");
            Err(OperatorApiError::Forbidden(permission))
        }
    }
}

/// The cookie that carries a console session.
pub const SESSION_COOKIE: &str = "mailroom_session";
/// The header the console's scripts send the CSRF token in.
pub const CSRF_HEADER: &str = "X-CSRF-Token";

/// How a request presents its session.
enum Presented {
    /// `Authorization: Bearer <token>`: a script or tool, not a browser's
    /// ambient credential, so no CSRF check is needed.
    Bearer(String),
    /// The console's cookie: unsafe methods must carry the CSRF token too.
    Cookie(String),
}

fn presented(req: &HttpRequest) -> Option<Presented> {
    if let Some(header) = req.headers().get(actix_web::http::header::AUTHORIZATION) {
        let value = header.to_str().ok()?.trim();
        let (scheme, token) = value.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_owned())
            .filter(|t| !t.is_empty())
            .map(Presented::Bearer);
    }
    session_cookie(req).map(Presented::Cookie)
}

/// The console session token of a request, from its cookie.
pub fn session_cookie(req: &HttpRequest) -> Option<String> {
    req.cookie(SESSION_COOKIE)
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty())
}

/// The session token of a request, however it was presented.
fn presented_token(req: &HttpRequest) -> Option<String> {
    match presented(req)? {
        Presented::Bearer(token) | Presented::Cookie(token) => Some(token),
    }
}

/// Finds the operator of a session token: one indexed join, no argon2.
pub async fn operator_of_session(
    state: &OperatorState,
    token: &str,
) -> Result<Option<SignedIn>, OperatorApiError> {
    let hash = hash_token(token);
    let operator = state
        .store
        .run(move |conn| operators::session_operator(conn, &hash))
        .await?;
    operator
        .map(|operator| {
            Ok(SignedIn {
                operator_id: operator.id,
                role: operator.role().map_err(ServerError::from)?,
                email: operator.email,
            })
        })
        .transpose()
}

impl FromRequest for SignedIn {
    type Error = OperatorApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let presented = presented(req);
        let state = req.app_data::<web::Data<OperatorState>>().cloned();
        let unsafe_method = !req.method().is_safe();
        let csrf = req
            .headers()
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Box::pin(async move {
            let (Some(presented), Some(state)) = (presented, state) else {
                return Err(OperatorApiError::Unauthorized);
            };
            let token = match presented {
                Presented::Bearer(token) => token,
                Presented::Cookie(token) => {
                    if unsafe_method && csrf.as_deref() != Some(csrf_token(&token).as_str()) {
                        return Err(OperatorApiError::MissingCsrf);
                    }
                    token
                }
            };
            operator_of_session(&state, &token)
                .await?
                .ok_or(OperatorApiError::Unauthorized)
        })
    }
}

/// Why a sign-in was refused; the API and the console each say it their way.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error("the email or password is wrong")]
    WrongCredentials,
    /// The email is locked after repeated failures; the message says for how long.
    #[error("{0}")]
    TooManyAttempts(String),
    #[error(transparent)]
    Server(#[from] ServerError),
}

impl From<StoreError> for SignInError {
    fn from(error: StoreError) -> Self {
        Self::Server(error.into())
    }
}

impl From<SignInError> for OperatorApiError {
    fn from(error: SignInError) -> Self {
        match error {
            SignInError::WrongCredentials => Self::WrongCredentials,
            SignInError::TooManyAttempts(message) => Self::TooManyAttempts(message),
            SignInError::Server(error) => Self::Server(error),
        }
    }
}

/// Checks an operator's email and password (argon2, off the runtime) and
/// opens a session. Repeated failures for an email lock it for a while.
pub async fn open_session(
    state: &OperatorState,
    email: &str,
    password: String,
) -> Result<(SignedIn, IssuedToken, NaiveDateTime), SignInError> {
    let email = email.trim().to_lowercase();
    if let Err(wait) = state.throttle.check(&email) {
        tracing::warn!(%email, "operator sign-in refused: too many failures");
        return Err(SignInError::TooManyAttempts(format!(
            "Too many failed sign-ins for this email. Try again in {}.",
            throttle::minutes(wait)
        )));
    }
    let lookup = email.clone();
    let operator = state
        .store
        .run(move |conn| operators::find_by_email(conn, &lookup))
        .await?;
    let stored_hash = operator
        .as_ref()
        .filter(|o| o.disabled_at.is_none())
        .map(|o| o.password_hash.clone());
    let verified = web::block(move || {
        let hash = stored_hash.as_deref().unwrap_or(DECOY_HASH.as_str());
        password::verify(&password, hash) && stored_hash.is_some()
    })
    .await
    .map_err(ServerError::internal)?;
    let Some(operator) = operator.filter(|_| verified) else {
        state.throttle.failed(&email);
        tracing::info!(%email, "operator sign-in refused");
        return Err(SignInError::WrongCredentials);
    };
    state.throttle.succeeded(&email);
    let issued = IssuedToken::generate();
    let expires_at = Utc::now().naive_utc() + state.session_ttl;
    let (operator_id, hash) = (operator.id, issued.hash.clone());
    state
        .store
        .run(move |conn| operators::start_session(conn, operator_id, &hash, expires_at))
        .await?;
    tracing::info!(operator = %operator.email, "operator signed in");
    let signed_in = SignedIn {
        operator_id: operator.id,
        role: operator.role().map_err(ServerError::from)?,
        email: operator.email,
    };
    Ok((signed_in, issued, expires_at))
}

/// Ends the session of a token (sign-out).
pub async fn close_session(state: &OperatorState, token: &str) -> Result<(), OperatorApiError> {
    let hash = hash_token(token);
    state
        .store
        .run(move |conn| operators::end_session(conn, &hash))
        .await?;
    Ok(())
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SignInRequest {
    #[schema(example = "ops@example.com")]
    pub email: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OperatorView {
    pub email: String,
    pub role: Role,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionCreated {
    /// Send as `Authorization: Bearer <token>`; shown only now.
    pub token: String,
    pub expires_at: NaiveDateTime,
    pub operator: OperatorView,
}

/// A hash to verify against when the email is unknown, so that an unknown
/// address takes as long as a wrong password.
static DECOY_HASH: LazyLock<String> =
    LazyLock::new(|| password::hash("decoy password for unknown operators").unwrap_or_default());

/// Signs an operator in.
#[utoipa::path(
    post,
    path = "/operator/api/sessions",
    tag = "Operator",
    request_body = SignInRequest,
    responses(
        (status = 201, description = "Signed in.", body = SessionCreated),
        (status = 401, description = "Wrong email or password.", body = ErrorBody),
        (status = 429, description = "Too many failed sign-ins for this email; locked for a while.", body = ErrorBody),
    )
)]
pub async fn sign_in(
    state: web::Data<OperatorState>,
    body: web::Json<SignInRequest>,
) -> Result<HttpResponse, OperatorApiError> {
    let SignInRequest { email, password } = body.into_inner();
    let (operator, issued, expires_at) = open_session(&state, &email, password).await?;
    // The answer holds a bearer token: no cache may keep it.
    Ok(HttpResponse::Created()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(SessionCreated {
            token: issued.token,
            expires_at,
            operator: OperatorView {
                email: operator.email,
                role: operator.role,
            },
        }))
}

/// Ends the current session.
#[utoipa::path(
    delete,
    path = "/operator/api/sessions/current",
    tag = "Operator",
    responses((status = 204, description = "Signed out."), (status = 401, body = ErrorBody)),
    security(("OperatorSession" = []))
)]
pub async fn sign_out(
    state: web::Data<OperatorState>,
    _operator: SignedIn,
    req: HttpRequest,
) -> Result<HttpResponse, OperatorApiError> {
    if let Some(token) = presented_token(&req) {
        close_session(&state, &token).await?;
    }
    Ok(HttpResponse::NoContent().finish())
}

/// The signed-in operator.
#[utoipa::path(
    get,
    path = "/operator/api/me",
    tag = "Operator",
    responses((status = 200, body = OperatorView), (status = 401, body = ErrorBody)),
    security(("OperatorSession" = []))
)]
pub async fn me(operator: SignedIn) -> HttpResponse {
    HttpResponse::Ok().json(OperatorView {
        email: operator.email,
        role: operator.role,
    })
}
