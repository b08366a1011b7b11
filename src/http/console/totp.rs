//! Two-factor enrolment: the operator scans a QR code (drawn here as SVG),
//! confirms with a code, and is shown one-time recovery codes once.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use super::pages::{render, render_status};
use super::{ConsoleError, ConsoleSession};
use crate::domain::operator_audit::AuditAction;
use crate::domain::token::hash_token;
use crate::domain::totp::{recovery_codes, TotpSecret};
use crate::http::error::ServerError;
use crate::http::operator::session::{open_totp_secret, seal_totp_secret};
use crate::http::operator::OperatorState;
use crate::store::operator_totp;

pub const VIEWS: &[(&str, &str)] = &[("totp", include_str!("../../../templates/console/totp.hbs"))];

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/totp", web::get().to(show))
        .route("/totp", web::post().to(confirm));
}

/// The issuer name authenticator apps show.
const ISSUER: &str = "Mailroom";

#[derive(Serialize, Default)]
struct TotpView {
    enabled: bool,
    codes_left: i64,
    /// Inline SVG of the otpauth:// address (our own markup, modules only).
    qr_svg: Option<String>,
    secret: Option<String>,
    recovery_codes: Vec<String>,
    problem: Option<String>,
    mandatory: bool,
}

fn qr_svg(url: &str) -> Result<String, ConsoleError> {
    let code = qrcode::QrCode::new(url.as_bytes())
        .map_err(|e| ConsoleError::from(ServerError::internal(e)))?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build())
}

/// The enrolment view: the pending secret (made now if there is none).
async fn enrolment(
    state: &OperatorState,
    session: &ConsoleSession,
) -> Result<TotpView, ConsoleError> {
    let operator_id = session.operator_id;
    let stored = state
        .store
        .run(move |conn| {
            let found = operator_totp::state(conn, operator_id)?;
            let left = operator_totp::recovery_codes_left(conn, operator_id)?;
            Ok((found, left))
        })
        .await?;
    let (Some(found), codes_left) = stored else {
        return Err(ConsoleError::NotFound("There is no such operator.".into()));
    };
    if found.enabled_at.is_some() {
        return Ok(TotpView {
            enabled: true,
            codes_left,
            ..TotpView::default()
        });
    }
    let secret = match found.secret {
        Some(stored) => open_totp_secret(state, operator_id, &stored)?,
        None => {
            let secret = TotpSecret::generate();
            let stored = seal_totp_secret(state, operator_id, &secret);
            state
                .store
                .run(move |conn| operator_totp::begin_enrolment(conn, operator_id, &stored))
                .await?;
            secret
        }
    };
    let url = secret
        .provisioning_url(&session.email, ISSUER)
        .ok_or_else(|| {
            ConsoleError::from(ServerError::internal(std::io::Error::other(
                "bad TOTP secret",
            )))
        })?;
    Ok(TotpView {
        qr_svg: Some(qr_svg(&url)?),
        secret: Some(secret.base32().to_owned()),
        mandatory: state.require_totp_for_super_admins
            && session.role == crate::domain::operator::Role::SuperAdmin,
        ..TotpView::default()
    })
}

async fn show(
    state: web::Data<OperatorState>,
    session: ConsoleSession,
) -> Result<HttpResponse, ConsoleError> {
    let view = enrolment(&state, &session).await?;
    render("totp", &session.chrome("Two-factor sign-in", "totp"), &view)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ConfirmForm {
    csrf: String,
    code: String,
}

async fn confirm(
    state: web::Data<OperatorState>,
    session: ConsoleSession,
    form: web::Form<ConfirmForm>,
) -> Result<HttpResponse, ConsoleError> {
    session.check_csrf(&form.csrf)?;
    let mut view = enrolment(&state, &session).await?;
    let Some(secret) = view.secret.clone().map(|s| TotpSecret::from_base32(&s)) else {
        return render("totp", &session.chrome("Two-factor sign-in", "totp"), &view);
    };
    let unix_now = chrono::Utc::now().timestamp().max(0) as u64;
    let Some(step) = secret.matching_step(&form.code, unix_now) else {
        view.problem = Some("The code is wrong. Type the code your app shows now.".into());
        return render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            "totp",
            Some(&session.chrome("Two-factor sign-in", "totp")),
            &view,
        );
    };
    let codes = recovery_codes();
    let hashes: Vec<String> = codes.iter().map(|code| hash_token(code)).collect();
    let operator_id = session.operator_id;
    let entry = session
        .audit(AuditAction::TotpEnabled)
        .target(session.email.as_str());
    let enabled = state
        .store
        .recording_when(
            entry.pending(),
            state.store.run(move |conn| {
                operator_totp::confirm_enrolment(conn, operator_id, step as i64, &hashes)
            }),
            |enabled| *enabled,
        )
        .await?;
    if !enabled {
        return Ok(super::pages::see_other("/console/totp"));
    }
    tracing::info!(operator = %session.email, "second factor enrolled");
    let view = TotpView {
        enabled: true,
        codes_left: codes.len() as i64,
        recovery_codes: codes,
        ..TotpView::default()
    };
    render("totp", &session.chrome("Two-factor sign-in", "totp"), &view)
}
