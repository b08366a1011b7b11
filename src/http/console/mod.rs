//! The operator console: server-rendered pages (handlebars templates from
//! `templates/console/`) under `/console/`, signed in with a session cookie.
//! Every form carries the session's CSRF token; the pages' scripts call the
//! operator API with the same cookie and the token in `X-CSRF-Token`.
//! Each page module owns its routes and its views (its page templates,
//! called views here so that "template" always means an email template).

pub mod customer_actions;
pub mod customer_calls;
pub mod customer_mailboxes;
pub mod customers;
pub mod dashboard;
pub mod email_templates;
pub mod error;
pub mod integration_runs;
pub mod integrations;
pub mod keys;
pub mod landing;
pub mod login;
pub mod operator_audit;
pub mod operators;
pub mod outbox;
pub mod pages;
pub mod plans;
pub mod product_types;
pub mod session;
pub mod subscriptions;
pub mod sync_options;
pub mod totp;

use std::sync::LazyLock;

use actix_web::{web, HttpResponse};
use handlebars::Handlebars;

pub use error::ConsoleError;
pub use session::ConsoleSession;

/// Every page template, compiled once: each section module owns its own.
static PAGES: LazyLock<Handlebars<'static>> = LazyLock::new(|| {
    pages::compile([
        landing::VIEWS,
        login::VIEWS,
        email_templates::VIEWS,
        customers::VIEWS,
        sync_options::VIEWS,
        keys::VIEWS,
        outbox::VIEWS,
        plans::VIEWS,
        subscriptions::VIEWS,
        product_types::VIEWS,
        integrations::VIEWS,
        integration_runs::VIEWS,
        operator_audit::VIEWS,
        operators::VIEWS,
        totp::VIEWS,
        dashboard::VIEWS,
    ])
});

pub const CONSOLE_PREFIX: &str = "/console";

pub fn configure(cfg: &mut web::ServiceConfig) {
    let form = web::FormConfig::default()
        .limit(crate::http::operator::OPERATOR_BODY_LIMIT)
        .error_handler(|error, _| ConsoleError::BadForm(error.to_string()).into());
    cfg.service(
        web::resource("/")
            .wrap(crate::http::headers::page_headers())
            .route(web::get().to(landing::show)),
    )
    .service(
        web::scope(CONSOLE_PREFIX)
            .app_data(form)
            .wrap(crate::http::headers::page_headers())
            .route("", web::get().to(dashboard::show))
            .route("/", web::get().to(dashboard::show))
            .route("/assets/console.css", web::get().to(pages::stylesheet))
            .route("/assets/console.js", web::get().to(pages::script))
            .configure(login::configure)
            .configure(email_templates::configure)
            .configure(customers::configure)
            .configure(customer_actions::configure)
            .configure(customer_mailboxes::configure)
            .configure(sync_options::configure)
            .configure(keys::configure)
            .configure(outbox::configure)
            .configure(plans::configure)
            .configure(subscriptions::configure)
            .configure(product_types::configure)
            .configure(integrations::configure)
            .configure(integration_runs::configure)
            .configure(operator_audit::configure)
            .configure(operators::configure)
            .configure(totp::configure)
            .default_service(web::to(|| async {
                Err::<HttpResponse, _>(ConsoleError::NotFound("There is no such page.".into()))
            })),
    );
}
