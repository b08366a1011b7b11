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
use crate::domain::operator_audit::AuditAction;
use crate::domain::password;
use crate::domain::token::{csrf_token, hash_token, IssuedToken};
use crate::domain::totp::{normalize_recovery_code, TotpSecret};
use crate::http::error::ServerError;
use crate::http::throttle::{self, Attempt};
use crate::integrations::secrets::KeyRing;
use crate::store::operator_audit::{self, Actor, AuditEntry};
use crate::store::{operator_totp, operators, StoreError};

/// The address a request came from: the peer (a proxy's forwarding headers
/// are not trusted; anyone could send them).
pub fn source_address(req: &HttpRequest) -> Option<String> {
    req.peer_addr().map(|peer| peer.ip().to_string())
}

/// The operator a request is made by.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub operator_id: i64,
    pub email: String,
    pub role: Role,
    /// The address the request came from, for the audit trail.
    pub source_address: Option<String>,
    /// A Super Admin who must enrol a second factor before anything else.
    pub must_enrol_totp: bool,
}

impl SignedIn {
    fn of(
        state: &OperatorState,
        operator: operators::OperatorRow,
        source_address: Option<String>,
    ) -> Result<Self, ServerError> {
        let role = operator.role()?;
        Ok(Self {
            operator_id: operator.id,
            must_enrol_totp: state.require_totp_for_super_admins
                && role == Role::SuperAdmin
                && operator.totp_enabled_at.is_none(),
            role,
            email: operator.email,
            source_address,
        })
    }

    /// The operator as the audit trail names them.
    pub fn actor(&self) -> Actor {
        Actor {
            operator_id: Some(self.operator_id),
            email: self.email.clone(),
            source_address: self.source_address.clone(),
        }
    }

    /// An audit entry of an action by this operator.
    pub fn audit(&self, action: AuditAction) -> AuditEntry {
        AuditEntry::new(self.actor(), action)
    }

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
    source_address: Option<String>,
) -> Result<Option<SignedIn>, OperatorApiError> {
    let hash = hash_token(token);
    let operator = state
        .store
        .run(move |conn| operators::session_operator(conn, &hash))
        .await?;
    Ok(operator
        .map(|operator| SignedIn::of(state, operator, source_address))
        .transpose()?)
}

impl FromRequest for SignedIn {
    type Error = OperatorApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let presented = presented(req);
        let state = req.app_data::<web::Data<OperatorState>>().cloned();
        let address = source_address(req);
        let unsafe_method = !req.method().is_safe();
        let allowed_before_enrolment =
            req.path() == "/operator/api/sessions/current" || req.path() == "/operator/api/me";
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
            let operator = operator_of_session(&state, &token, address)
                .await?
                .ok_or(OperatorApiError::Unauthorized)?;
            // Until enrolled, such a Super Admin may only sign out (and enrol
            // in the console).
            if operator.must_enrol_totp && !allowed_before_enrolment {
                return Err(OperatorApiError::TotpRequired);
            }
            Ok(operator)
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
    #[error("the sign-in code is wrong or the sign-in has expired")]
    WrongSecondFactor,
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
            SignInError::WrongSecondFactor => Self::WrongSecondFactor,
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
    source_address: Option<String>,
) -> Result<SignInStep, SignInError> {
    let email = email.trim().to_lowercase();
    let attempt = |operator_id: Option<i64>| Actor {
        operator_id,
        email: email.clone(),
        source_address: source_address.clone(),
    };
    let address = source_address.clone();
    let throttled = Attempt::new(&email, address.as_deref());
    if let Err(wait) = state.throttle.admit(throttled).await {
        tracing::warn!(%email, "operator sign-in refused: too many failures");
        record_attempt(
            state,
            AuditEntry::new(attempt(None), AuditAction::SignInFailed)
                .after(serde_json::json!({"reason": "locked"})),
        )
        .await?;
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
    let Some(operator) = operator.clone().filter(|_| verified) else {
        state.throttle.failed(throttled);
        tracing::info!(%email, "operator sign-in refused");
        let reason = match &operator {
            Some(found) if found.disabled_at.is_some() => "disabled",
            Some(_) => "wrong_password",
            None => "unknown_email",
        };
        record_attempt(
            state,
            AuditEntry::new(attempt(operator.map(|o| o.id)), AuditAction::SignInFailed)
                .after(serde_json::json!({"reason": reason})),
        )
        .await?;
        return Err(SignInError::WrongCredentials);
    };
    state.throttle.succeeded(throttled);
    if operator.totp_enabled_at.is_some() {
        // The password was right; the second factor decides.
        let challenge = IssuedToken::generate();
        let expires_at = Utc::now().naive_utc() + chrono::Duration::minutes(5);
        let (operator_id, hash) = (operator.id, challenge.hash.clone());
        state
            .store
            .run(move |conn| operator_totp::open_challenge(conn, operator_id, &hash, expires_at))
            .await?;
        return Ok(SignInStep::SecondFactor {
            challenge: challenge.token,
            expires_at,
        });
    }
    let (signed_in, issued, expires_at) =
        start_session(state, operator, source_address, None).await?;
    Ok(SignInStep::Signed(signed_in, issued, expires_at))
}

/// What a right password leads to.
pub enum SignInStep {
    Signed(SignedIn, IssuedToken, NaiveDateTime),
    /// The operator has a second factor: send its code with this challenge.
    SecondFactor {
        challenge: String,
        expires_at: NaiveDateTime,
    },
}

/// Opens a session for an operator whose credentials passed, with its
/// audit row and the last sign-in time in one transaction.
async fn start_session(
    state: &OperatorState,
    operator: operators::OperatorRow,
    source_address: Option<String>,
    second_factor: Option<&'static str>,
) -> Result<(SignedIn, IssuedToken, NaiveDateTime), SignInError> {
    let issued = IssuedToken::generate();
    let expires_at = Utc::now().naive_utc() + state.session_ttl;
    let (operator_id, hash) = (operator.id, issued.hash.clone());
    let actor = Actor {
        operator_id: Some(operator.id),
        email: operator.email.clone(),
        source_address: source_address.clone(),
    };
    let mut entry = AuditEntry::new(actor, AuditAction::SignedIn);
    if let Some(factor) = second_factor {
        entry = entry.after(serde_json::json!({"second_factor": factor}));
    }
    state
        .store
        .recording(
            entry.pending(),
            state
                .store
                .run(move |conn| operators::start_session(conn, operator_id, &hash, expires_at)),
        )
        .await?;
    tracing::info!(operator = %operator.email, "operator signed in");
    let signed_in = SignedIn::of(state, operator, source_address)?;
    Ok((signed_in, issued, expires_at))
}

/// The associated data of an operator's sealed TOTP secret: a seal copied
/// to another operator's row does not open.
fn totp_context(operator_id: i64) -> String {
    format!("mailroom.operators.{operator_id}.totp")
}

/// An operator's TOTP secret as it is stored: sealed with the key ring of
/// the integrations' secrets.
pub fn seal_totp_secret(state: &OperatorState, operator_id: i64, secret: &TotpSecret) -> String {
    state
        .integrations
        .keys()
        .seal_text(&totp_context(operator_id), secret.base32())
}

/// Opens a stored TOTP secret (one stored in the clear before secrets were
/// sealed is taken as it is).
pub fn open_totp_secret(
    state: &OperatorState,
    operator_id: i64,
    stored: &str,
) -> Result<TotpSecret, ServerError> {
    if !KeyRing::is_sealed(stored) {
        return Ok(TotpSecret::from_base32(stored));
    }
    state
        .integrations
        .keys()
        .open_text(&totp_context(operator_id), stored)
        .map(|base32| TotpSecret::from_base32(&base32))
        .map_err(ServerError::internal)
}

/// Completes a sign-in with its second factor: a TOTP code (each works
/// once) or an unused recovery code. Failures count towards the email's
/// lockout like wrong passwords.
pub async fn complete_second_factor(
    state: &OperatorState,
    challenge: &str,
    code: &str,
    source_address: Option<String>,
) -> Result<(SignedIn, IssuedToken, NaiveDateTime), SignInError> {
    let challenge_hash = hash_token(challenge);
    let lookup = challenge_hash.clone();
    let operator = state
        .store
        .run(move |conn| {
            let Some(operator_id) = operator_totp::challenge_operator(conn, &lookup)? else {
                return Ok(None);
            };
            Ok(operators::find(conn, operator_id)?.zip(operator_totp::state(conn, operator_id)?))
        })
        .await?;
    let Some((operator, totp)) = operator.filter(|(o, _)| o.disabled_at.is_none()) else {
        return Err(SignInError::WrongSecondFactor);
    };
    let email = operator.email.clone();
    let address = source_address.clone();
    let throttled = Attempt::new(&email, address.as_deref());
    if let Err(wait) = state.throttle.admit(throttled).await {
        return Err(SignInError::TooManyAttempts(format!(
            "Too many failed sign-ins for this email. Try again in {}.",
            throttle::minutes(wait)
        )));
    }
    let operator_id = operator.id;
    let unix_now = Utc::now().timestamp().max(0) as u64;
    let secret = totp
        .secret
        .map(|stored| open_totp_secret(state, operator_id, &stored))
        .transpose()?;
    let step = secret
        .as_ref()
        .and_then(|secret| secret.matching_step(code, unix_now));
    let factor = match step {
        Some(step) => state
            .store
            .run(move |conn| operator_totp::take_step(conn, operator_id, step as i64))
            .await?
            .then_some("totp"),
        None => {
            let hash = hash_token(&normalize_recovery_code(code));
            state
                .store
                .run(move |conn| operator_totp::use_recovery_code(conn, operator_id, &hash))
                .await?
                .then_some("recovery_code")
        }
    };
    let Some(factor) = factor else {
        state.throttle.failed(throttled);
        tracing::info!(%email, "operator second factor refused");
        record_attempt(
            state,
            AuditEntry::new(
                Actor {
                    operator_id: Some(operator_id),
                    email,
                    source_address,
                },
                AuditAction::SignInFailed,
            )
            .after(serde_json::json!({"reason": "wrong_second_factor"})),
        )
        .await?;
        return Err(SignInError::WrongSecondFactor);
    };
    state.throttle.succeeded(throttled);
    state
        .store
        .run(move |conn| operator_totp::close_challenge(conn, &challenge_hash))
        .await?;
    start_session(state, operator, source_address, Some(factor)).await
}

/// Records a refused sign-in right after it (there is no write to ride with).
async fn record_attempt(state: &OperatorState, entry: AuditEntry) -> Result<(), SignInError> {
    state
        .store
        .run(move |conn| operator_audit::record(conn, &entry))
        .await?;
    Ok(())
}

/// Ends the session of a token (sign-out).
pub async fn close_session(
    state: &OperatorState,
    token: &str,
    operator: &SignedIn,
) -> Result<(), OperatorApiError> {
    let hash = hash_token(token);
    let entry = operator.audit(AuditAction::SignedOut);
    state
        .store
        .recording(
            entry.pending(),
            state
                .store
                .run(move |conn| operators::end_session(conn, &hash)),
        )
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
    #[serde(with = "super::utc")]
    pub expires_at: NaiveDateTime,
    pub operator: OperatorView,
}

/// A hash to verify against when the email is unknown, so that an unknown
/// address takes as long as a wrong password.
static DECOY_HASH: LazyLock<String> =
    LazyLock::new(|| password::hash("decoy password for unknown operators").unwrap_or_default());

/// The answer of a right password when a second factor is enrolled.
#[derive(Debug, Serialize, ToSchema)]
pub struct SecondFactorRequired {
    /// Send with the code to POST /operator/api/sessions/second-factor.
    pub challenge: String,
    #[serde(with = "super::utc")]
    pub expires_at: NaiveDateTime,
}

/// Signs an operator in. With a second factor enrolled the answer is 202
/// with a challenge, and `POST /operator/api/sessions/second-factor` opens
/// the session.
#[utoipa::path(
    post,
    path = "/operator/api/sessions",
    tag = "Operator",
    request_body = SignInRequest,
    responses(
        (status = 201, description = "Signed in.", body = SessionCreated),
        (status = 202, description = "Password right; send the second factor.", body = SecondFactorRequired),
        (status = 401, description = "Wrong email or password.", body = ErrorBody),
        (status = 429, description = "Too many failed sign-ins for this email; locked for a while.", body = ErrorBody),
    )
)]
pub async fn sign_in(
    state: web::Data<OperatorState>,
    req: HttpRequest,
    body: web::Json<SignInRequest>,
) -> Result<HttpResponse, OperatorApiError> {
    let SignInRequest { email, password } = body.into_inner();
    match open_session(&state, &email, password, source_address(&req)).await? {
        SignInStep::Signed(operator, issued, expires_at) => {
            Ok(session_created(operator, issued, expires_at))
        }
        SignInStep::SecondFactor {
            challenge,
            expires_at,
        } => Ok(HttpResponse::Accepted().json(SecondFactorRequired {
            challenge,
            expires_at,
        })),
    }
}

fn session_created(
    operator: SignedIn,
    issued: IssuedToken,
    expires_at: NaiveDateTime,
) -> HttpResponse {
    // The answer holds a bearer token: no cache may keep it.
    HttpResponse::Created()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(SessionCreated {
            token: issued.token,
            expires_at,
            operator: OperatorView {
                email: operator.email,
                role: operator.role,
            },
        })
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SecondFactorRequest {
    pub challenge: String,
    /// The authenticator app's 6-digit code, or an unused recovery code.
    pub code: String,
}

/// Completes a sign-in with the second factor.
#[utoipa::path(
    post,
    path = "/operator/api/sessions/second-factor",
    tag = "Operator",
    request_body = SecondFactorRequest,
    responses(
        (status = 201, description = "Signed in.", body = SessionCreated),
        (status = 401, description = "Wrong code, or the challenge expired.", body = ErrorBody),
        (status = 429, description = "Too many failures for this email.", body = ErrorBody),
    )
)]
pub async fn second_factor(
    state: web::Data<OperatorState>,
    req: HttpRequest,
    body: web::Json<SecondFactorRequest>,
) -> Result<HttpResponse, OperatorApiError> {
    let (operator, issued, expires_at) =
        complete_second_factor(&state, &body.challenge, &body.code, source_address(&req)).await?;
    Ok(session_created(operator, issued, expires_at))
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
    operator: SignedIn,
    req: HttpRequest,
) -> Result<HttpResponse, OperatorApiError> {
    if let Some(token) = presented_token(&req) {
        close_session(&state, &token, &operator).await?;
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
