//! The page behind the activation link of the access-instructions mail:
//! a new customer chooses its password there, once. The set-password link
//! of a mailbox (`/mailbox-password/{token}`) is the same page over the
//! same tokens, for the mailbox's owner.

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use handlebars::Handlebars;
use serde::{Deserialize, Serialize};

use crate::clock::SharedClock;
use crate::config::OperatorProfile;
use crate::domain::password::{self, MIN_CHOSEN_LENGTH};
use crate::domain::token::hash_token;
use crate::http::throttle::RateLimit;
use crate::notify::outbox::Outbox;
use crate::notify::{ACTIVATION_PATH, MAILBOX_PASSWORD_PATH};
use crate::store::activation::{self, ResendCustomer, ResendOutcome, TokenState};
use crate::store::Store;
use crate::telemetry::error_chain;

const PAGE: &str = "activate";

/// How often one address may ask for a new link, and how soon after the
/// last access mail a customer may get another.
const NEW_LINKS_PER_ADDRESS: usize = 5;
const NEW_LINK_WINDOW: std::time::Duration = std::time::Duration::from_secs(3600);
const NEW_LINK_PER_CUSTOMER: chrono::Duration = chrono::Duration::minutes(10);

/// What the activation pages need.
pub struct ActivationPages {
    store: Store,
    outbox: Outbox,
    operator: OperatorProfile,
    pages: Handlebars<'static>,
    new_links_by_address: RateLimit,
}

impl ActivationPages {
    pub fn new(
        store: Store,
        outbox: Outbox,
        operator: OperatorProfile,
        clock: SharedClock,
    ) -> Self {
        let mut pages = Handlebars::new();
        pages.set_strict_mode(true);
        pages
            .register_template_string(PAGE, include_str!("../../templates/pages/activate.hbs"))
            .expect("the activation page template compiles");
        Self {
            store,
            outbox,
            operator,
            pages,
            new_links_by_address: RateLimit::new(clock, NEW_LINKS_PER_ADDRESS, NEW_LINK_WINDOW),
        }
    }

    fn page(&self, status: StatusCode, view: PageView) -> HttpResponse {
        let context = PageContext {
            view,
            operator_name: &self.operator.name,
            support_email: &self.operator.support_email,
            min_length: MIN_CHOSEN_LENGTH,
        };
        match self.pages.render(PAGE, &context) {
            Ok(html) => HttpResponse::build(status)
                .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
                // The token is in the URL: keep it out of caches and referrers.
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .insert_header((header::REFERRER_POLICY, "no-referrer"))
                .insert_header((header::X_FRAME_OPTIONS, "DENY"))
                .insert_header((
                    header::CONTENT_SECURITY_POLICY,
                    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
                ))
                .body(html),
            Err(error) => {
                tracing::error!(error = %error_chain(&error), "activation page failed to render");
                HttpResponse::InternalServerError().body("The page could not be shown.")
            }
        }
    }

    /// The page for a mailbox's set-password token that cannot be used, or
    /// `None` when it can. No "new link" form: the mailbox's administrator
    /// (the BSS) asks for one with a reset.
    fn mailbox_refusal(&self, state: &TokenState) -> Option<HttpResponse> {
        let (status, heading, message) = match state {
            TokenState::Valid { .. } => return None,
            TokenState::Unknown => (
                StatusCode::NOT_FOUND,
                "This link is not valid",
                "Check that you opened the whole link from your email. If it still does not work, ask your administrator for a new one.",
            ),
            TokenState::Used => (
                StatusCode::GONE,
                "This link was used already",
                "The mailbox's password is set. Each link works once; ask your administrator to reset the password if you need to set it again.",
            ),
            TokenState::Expired => (
                StatusCode::GONE,
                "This link has expired",
                "Links to set a password are valid for a limited time. Ask your administrator to reset the password: a new link will be mailed.",
            ),
            TokenState::CustomerInactive => (
                StatusCode::GONE,
                "This account is not active",
                "The account this mailbox belongs to is suspended or closed. Contact us if you think this is a mistake.",
            ),
        };
        Some(self.page(
            status,
            PageView {
                title: heading.into(),
                heading: heading.into(),
                message: Some(message.into()),
                ..PageView::default()
            },
        ))
    }

    fn mailbox_form(
        &self,
        status: StatusCode,
        address: &str,
        error: Option<String>,
    ) -> HttpResponse {
        self.page(
            status,
            PageView {
                title: "Set your mailbox password".into(),
                heading: "Set your mailbox password".into(),
                message: Some(format!("Choose the password of the mailbox {address}.")),
                error,
                show_form: true,
                ..PageView::default()
            },
        )
    }

    /// The page for a token that cannot be used, or `None` when it can.
    fn refusal(&self, state: &TokenState, token: &str) -> Option<HttpResponse> {
        let (status, heading, message) = match state {
            TokenState::Valid { .. } => return None,
            TokenState::Unknown => (
                StatusCode::NOT_FOUND,
                "This link is not valid",
                "Check that you opened the whole link from your email. If it still does not work, ask us for a new one.",
            ),
            TokenState::Used => (
                StatusCode::GONE,
                "This link was used already",
                "Your password is set. Each activation link works once; if you forgot your password, ask us to reset it.",
            ),
            TokenState::Expired => {
                return Some(self.page(
                    StatusCode::GONE,
                    PageView {
                        title: "This link has expired".into(),
                        heading: "This link has expired".into(),
                        message: Some(
                            "Activation links are valid for a limited time. We can send a new \
                             one to the email address we have on file."
                                .into(),
                        ),
                        new_link_action: Some(format!("{ACTIVATION_PATH}{token}/new-link")),
                        ..PageView::default()
                    },
                ))
            }
            TokenState::CustomerInactive => (
                StatusCode::GONE,
                "This account is not active",
                "The account this link belongs to is suspended or closed. Contact us if you think this is a mistake.",
            ),
        };
        Some(self.page(
            status,
            PageView {
                title: heading.into(),
                heading: heading.into(),
                message: Some(message.into()),
                ..PageView::default()
            },
        ))
    }

    fn form(&self, status: StatusCode, customer_name: &str, error: Option<String>) -> HttpResponse {
        self.page(
            status,
            PageView {
                title: "Choose your password".into(),
                heading: format!("Welcome, {customer_name}"),
                message: Some("Choose the password for your account.".into()),
                error,
                show_form: true,
                ..PageView::default()
            },
        )
    }

    fn unavailable(&self) -> HttpResponse {
        self.page(
            StatusCode::SERVICE_UNAVAILABLE,
            PageView {
                title: "Please try again".into(),
                heading: "Please try again in a moment".into(),
                message: Some("We could not reach our database. Nothing was changed.".into()),
                ..PageView::default()
            },
        )
    }
}

#[derive(Debug, Default, Serialize)]
struct PageView {
    title: String,
    heading: String,
    message: Option<String>,
    error: Option<String>,
    show_form: bool,
    /// Where the "send me a new link" form of an expired link posts.
    new_link_action: Option<String>,
}

#[derive(Serialize)]
struct PageContext<'a> {
    #[serde(flatten)]
    view: PageView,
    operator_name: &'a str,
    support_email: &'a str,
    min_length: usize,
}

#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
}

/// Why a submitted password form is not taken.
enum Unchosen {
    /// Shown on the form again, with this status.
    Problem(StatusCode, String),
    /// Hashing failed: the unavailable page.
    Unavailable,
}

/// The argon2 hash of the password a form chose: both fields typed, equal,
/// and strong enough (the rules of every chosen password).
async fn chosen_hash(form: Option<web::Form<PasswordForm>>) -> Result<String, Unchosen> {
    let Some(form) = form.map(web::Form::into_inner) else {
        return Err(Unchosen::Problem(
            StatusCode::BAD_REQUEST,
            "Type your new password in both fields.".into(),
        ));
    };
    if form.password != form.confirm {
        return Err(Unchosen::Problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "The two passwords differ. Type the same password twice.".into(),
        ));
    }
    if let Err(weak) = password::check_strength(&form.password) {
        return Err(Unchosen::Problem(StatusCode::UNPROCESSABLE_ENTITY, weak.0));
    }
    match web::block(move || password::hash(&form.password)).await {
        Ok(Ok(hash)) => Ok(hash),
        _ => {
            tracing::error!("hashing a chosen password failed");
            Err(Unchosen::Unavailable)
        }
    }
}

async fn token_state(pages: &ActivationPages, token: &str) -> Result<TokenState, HttpResponse> {
    let hash = hash_token(token);
    pages
        .store
        .run(move |conn| activation::check(conn, &hash))
        .await
        .map_err(|error| {
            tracing::warn!(error = %error_chain(&error), "activation check failed");
            pages.unavailable()
        })
}

/// POST to `…/new-link` from an expired link's page: queues a new access
/// mail to the address on file. The answer is the same whether or not the
/// link or its customer exists (nothing to learn by guessing), and the form
/// is limited per address and per customer.
pub async fn new_link(
    req: HttpRequest,
    pages: web::Data<ActivationPages>,
    token: web::Path<String>,
) -> HttpResponse {
    let address = req
        .peer_addr()
        .map_or_else(|| "unknown".to_owned(), |peer| peer.ip().to_string());
    let same_answer = |pages: &ActivationPages| {
        pages.page(
            StatusCode::OK,
            PageView {
                title: "A new link is on its way".into(),
                heading: "A new link is on its way".into(),
                message: Some(
                    "If this link was one of ours, a new one is on its way to the email \
                     address we have on file. It may take a few minutes to arrive."
                        .into(),
                ),
                ..PageView::default()
            },
        )
    };
    if !pages.new_links_by_address.allow(&address) {
        tracing::warn!(%address, "new activation link refused: too many requests from the address");
        return same_answer(&pages);
    }
    let outcome = pages
        .outbox
        .send_new_activation_link(
            ResendCustomer::ByTokenHash(hash_token(&token)),
            Some(NEW_LINK_PER_CUSTOMER),
        )
        .await;
    match outcome {
        Ok(ResendOutcome::Queued { outbox_id }) => {
            tracing::info!(outbox_id, "a customer asked for a new activation link");
        }
        Ok(other) => tracing::info!(outcome = ?other, "new activation link not sent"),
        Err(error) => {
            tracing::warn!(error = %error_chain(&error), "new activation link failed");
            return pages.unavailable();
        }
    }
    same_answer(&pages)
}

/// GET: the form, or why the link cannot be used.
pub async fn show(pages: web::Data<ActivationPages>, token: web::Path<String>) -> HttpResponse {
    let state = match token_state(&pages, &token).await {
        Ok(state) => state,
        Err(page) => return page,
    };
    if let Some(refusal) = pages.refusal(&state, &token) {
        return refusal;
    }
    let TokenState::Valid { customer_name } = state else {
        unreachable!("refusal covers every other state")
    };
    pages.form(StatusCode::OK, &customer_name, None)
}

/// POST: sets the password and uses up the link.
pub async fn submit(
    pages: web::Data<ActivationPages>,
    token: web::Path<String>,
    form: Option<web::Form<PasswordForm>>,
) -> HttpResponse {
    let state = match token_state(&pages, &token).await {
        Ok(state) => state,
        Err(page) => return page,
    };
    if let Some(refusal) = pages.refusal(&state, &token) {
        return refusal;
    }
    let TokenState::Valid { customer_name } = state else {
        unreachable!("refusal covers every other state")
    };
    let hashed = match chosen_hash(form).await {
        Ok(hashed) => hashed,
        Err(Unchosen::Problem(status, problem)) => {
            return pages.form(status, &customer_name, Some(problem))
        }
        Err(Unchosen::Unavailable) => return pages.unavailable(),
    };
    let hash = hash_token(&token);
    let outcome = pages
        .store
        .run(move |conn| activation::activate(conn, &hash, &hashed))
        .await;
    match outcome {
        Ok(TokenState::Valid { customer_name }) => {
            tracing::info!("customer account activated");
            pages.page(
                StatusCode::OK,
                PageView {
                    title: "Password set".into(),
                    heading: "Your password is set".into(),
                    message: Some(format!(
                        "Thank you, {customer_name}. Your account is active: sign in with your username and the password you just chose."
                    )),
                    ..PageView::default()
                },
            )
        }
        // Another submission of the same link won the race.
        Ok(other) => pages
            .refusal(&other, &token)
            .unwrap_or_else(|| pages.unavailable()),
        Err(error) => {
            tracing::warn!(error = %error_chain(&error), "activation failed");
            pages.unavailable()
        }
    }
}

async fn mailbox_token_state(
    pages: &ActivationPages,
    token: &str,
) -> Result<TokenState, HttpResponse> {
    let hash = hash_token(token);
    pages
        .store
        .run(move |conn| activation::check_mailbox(conn, &hash))
        .await
        .map_err(|error| {
            tracing::warn!(error = %error_chain(&error), "set-password link check failed");
            pages.unavailable()
        })
}

/// GET `/mailbox-password/{token}`: the form, or why the link cannot be used.
pub async fn mailbox_show(
    pages: web::Data<ActivationPages>,
    token: web::Path<String>,
) -> HttpResponse {
    let state = match mailbox_token_state(&pages, &token).await {
        Ok(state) => state,
        Err(page) => return page,
    };
    match state {
        TokenState::Valid { customer_name } => {
            pages.mailbox_form(StatusCode::OK, &customer_name, None)
        }
        other => pages
            .mailbox_refusal(&other)
            .unwrap_or_else(|| pages.unavailable()),
    }
}

/// POST `/mailbox-password/{token}`: sets the mailbox's password (argon2,
/// the strength rules of every chosen password) and uses up the link.
pub async fn mailbox_submit(
    pages: web::Data<ActivationPages>,
    token: web::Path<String>,
    form: Option<web::Form<PasswordForm>>,
) -> HttpResponse {
    let state = match mailbox_token_state(&pages, &token).await {
        Ok(state) => state,
        Err(page) => return page,
    };
    let address = match state {
        TokenState::Valid { customer_name } => customer_name,
        other => {
            return pages
                .mailbox_refusal(&other)
                .unwrap_or_else(|| pages.unavailable())
        }
    };
    let hashed = match chosen_hash(form).await {
        Ok(hashed) => hashed,
        Err(Unchosen::Problem(status, problem)) => {
            return pages.mailbox_form(status, &address, Some(problem))
        }
        Err(Unchosen::Unavailable) => return pages.unavailable(),
    };
    let hash = hash_token(&token);
    let outcome = pages
        .store
        .run(move |conn| activation::set_mailbox_password(conn, &hash, &hashed))
        .await;
    match outcome {
        Ok(TokenState::Valid { customer_name }) => {
            tracing::info!("mailbox password set by its owner");
            pages.page(
                StatusCode::OK,
                PageView {
                    title: "Password set".into(),
                    heading: "Your password is set".into(),
                    message: Some(format!(
                        "The password of {customer_name} is set: sign in with it from now on."
                    )),
                    ..PageView::default()
                },
            )
        }
        // Another submission of the same link won the race.
        Ok(other) => pages
            .mailbox_refusal(&other)
            .unwrap_or_else(|| pages.unavailable()),
        Err(error) => {
            tracing::warn!(error = %error_chain(&error), "setting a mailbox password failed");
            pages.unavailable()
        }
    }
}

/// The route of the set-password page, for registration.
pub fn mailbox_password_route() -> String {
    format!("{MAILBOX_PASSWORD_PATH}{{token}}")
}
