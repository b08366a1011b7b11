//! Signing in to the console and out of it.

use actix_web::cookie::{time, Cookie, SameSite};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

use super::pages::render_status;
use super::{ConsoleError, ConsoleSession};
use crate::domain::token::IssuedToken;
use crate::http::error::ServerError;

use crate::http::operator::session::{
    close_session, complete_second_factor, open_session, session_cookie, SignInError, SignInStep,
    SignedIn, SESSION_COOKIE,
};
use crate::http::operator::OperatorState;

pub const VIEWS: &[(&str, &str)] = &[
    (
        "login",
        include_str!("../../../templates/console/login.hbs"),
    ),
    (
        "login_second_factor",
        include_str!("../../../templates/console/login_second_factor.hbs"),
    ),
];

/// Before sign-in there is no session to bind a CSRF token to: the form
/// carries a random value that must match this cookie (double submit).
const LOGIN_CSRF_COOKIE: &str = "mailroom_login_csrf";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/login", web::get().to(show))
        .route("/login", web::post().to(submit))
        .route("/login/second-factor", web::post().to(submit_second_factor))
        .route("/logout", web::post().to(logout));
}

#[derive(Debug, Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
    #[serde(default)]
    csrf: String,
}

#[derive(Serialize)]
struct LoginView<'a> {
    email: &'a str,
    next: &'a str,
    csrf: &'a str,
    error: Option<String>,
}

/// Only pages of the console are followed after sign-in (no open redirect).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path) if path.starts_with("/console") && !path.starts_with("/console/login") => {
            path.to_owned()
        }
        _ => "/console/".to_owned(),
    }
}

fn login_page(
    status: StatusCode,
    state: &OperatorState,
    email: &str,
    next: &str,
    error: Option<String>,
) -> Result<HttpResponse, ConsoleError> {
    let csrf = IssuedToken::generate().token;
    let mut response = render_status(
        status,
        "login",
        None,
        &LoginView {
            email,
            next,
            csrf: &csrf,
            error,
        },
    )?;
    let cookie = Cookie::build(LOGIN_CSRF_COOKIE, csrf)
        .path("/console/login")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(state.secure_cookies)
        .finish();
    response
        .add_cookie(&cookie)
        .map_err(|e| ConsoleError::from(ServerError::internal(e)))?;
    Ok(response)
}

pub async fn show(
    state: web::Data<OperatorState>,
    req: HttpRequest,
    query: web::Query<NextQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let next = safe_next(query.next.as_deref());
    // Already signed in: straight on.
    if let Some(token) = session_cookie(&req) {
        if crate::http::operator::session::operator_of_session(&state, &token, None)
            .await?
            .is_some()
        {
            return Ok(super::pages::see_other(next));
        }
    }
    login_page(StatusCode::OK, &state, "", &next, None)
}

pub async fn submit(
    state: web::Data<OperatorState>,
    req: HttpRequest,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, ConsoleError> {
    let form = form.into_inner();
    let next = safe_next(Some(&form.next));
    let expected = req.cookie(LOGIN_CSRF_COOKIE).map(|c| c.value().to_owned());
    if expected.as_deref() != Some(form.csrf.as_str()) || form.csrf.is_empty() {
        return login_page(
            StatusCode::FORBIDDEN,
            &state,
            &form.email,
            &next,
            Some("The sign-in form expired. Please sign in again.".into()),
        );
    }
    let address = crate::http::operator::session::source_address(&req);
    match open_session(&state, &form.email, form.password, address).await {
        Ok(SignInStep::Signed(operator, issued, _)) => {
            Ok(signed_in(&state, &operator, issued, next))
        }
        Ok(SignInStep::SecondFactor { challenge, .. }) => second_factor_page(
            StatusCode::OK,
            &SecondFactorView {
                challenge: &challenge,
                next: &next,
                csrf: &form.csrf,
                error: None,
            },
        ),
        Err(SignInError::WrongCredentials) => login_page(
            StatusCode::UNAUTHORIZED,
            &state,
            &form.email,
            &next,
            Some("The email or password is wrong.".into()),
        ),
        Err(SignInError::TooManyAttempts(message)) => login_page(
            StatusCode::TOO_MANY_REQUESTS,
            &state,
            &form.email,
            &next,
            Some(message),
        ),
        Err(SignInError::WrongSecondFactor) => login_page(
            StatusCode::UNAUTHORIZED,
            &state,
            &form.email,
            &next,
            Some("The sign-in expired. Please sign in again.".into()),
        ),
        Err(SignInError::Server(error)) => Err(error.into()),
    }
}

/// The session cookie, and on to `next` (or to enrolment, when a second
/// factor is mandatory and missing).
fn signed_in(
    state: &OperatorState,
    operator: &SignedIn,
    issued: IssuedToken,
    next: String,
) -> HttpResponse {
    let max_age = time::Duration::seconds(state.session_ttl.num_seconds());
    let cookie = Cookie::build(SESSION_COOKIE, issued.token)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(state.secure_cookies)
        .max_age(max_age)
        .finish();
    let next = if operator.must_enrol_totp {
        "/console/totp".to_owned()
    } else {
        next
    };
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, next))
        .cookie(cookie)
        .finish()
}

#[derive(Serialize)]
struct SecondFactorView<'a> {
    challenge: &'a str,
    next: &'a str,
    csrf: &'a str,
    error: Option<String>,
}

fn second_factor_page(
    status: StatusCode,
    view: &SecondFactorView<'_>,
) -> Result<HttpResponse, ConsoleError> {
    render_status(status, "login_second_factor", None, view)
}

#[derive(Debug, Deserialize)]
pub struct SecondFactorForm {
    #[serde(default)]
    challenge: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    next: String,
    #[serde(default)]
    csrf: String,
}

pub async fn submit_second_factor(
    state: web::Data<OperatorState>,
    req: HttpRequest,
    form: web::Form<SecondFactorForm>,
) -> Result<HttpResponse, ConsoleError> {
    let form = form.into_inner();
    let next = safe_next(Some(&form.next));
    let expected = req.cookie(LOGIN_CSRF_COOKIE).map(|c| c.value().to_owned());
    if expected.as_deref() != Some(form.csrf.as_str()) || form.csrf.is_empty() {
        return login_page(
            StatusCode::FORBIDDEN,
            &state,
            "",
            &next,
            Some("The sign-in form expired. Please sign in again.".into()),
        );
    }
    let address = crate::http::operator::session::source_address(&req);
    let again = |status, message: String| {
        second_factor_page(
            status,
            &SecondFactorView {
                challenge: &form.challenge,
                next: &next,
                csrf: &form.csrf,
                error: Some(message),
            },
        )
    };
    match complete_second_factor(&state, &form.challenge, &form.code, address).await {
        Ok((operator, issued, _)) => Ok(signed_in(&state, &operator, issued, next)),
        Err(SignInError::WrongSecondFactor | SignInError::WrongCredentials) => again(
            StatusCode::UNAUTHORIZED,
            "The code is wrong, or the sign-in expired.".into(),
        ),
        Err(SignInError::TooManyAttempts(message)) => again(StatusCode::TOO_MANY_REQUESTS, message),
        Err(SignInError::Server(error)) => Err(error.into()),
    }
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub async fn logout(
    state: web::Data<OperatorState>,
    session: ConsoleSession,
    req: HttpRequest,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, ConsoleError> {
    session.check_csrf(&form.csrf)?;
    if let Some(token) = session_cookie(&req) {
        close_session(&state, &token, &session.as_operator()).await?;
    }
    let mut gone = Cookie::build(SESSION_COOKIE, "").path("/").finish();
    gone.make_removal();
    tracing::info!(operator = %session.email, "operator signed out");
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/console/login"))
        .cookie(gone)
        .finish())
}
