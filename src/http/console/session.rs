//! The signed-in operator of a console page, from the session cookie.

use std::future::Future;
use std::pin::Pin;

use actix_web::{web, FromRequest, HttpRequest};

use super::pages::{Chrome, Nav};
use super::ConsoleError;
use crate::domain::operator::{Permission, Role};
use crate::domain::operator_audit::AuditAction;
use crate::domain::token::csrf_token;
use crate::http::operator::session::{operator_of_session, session_cookie, source_address};
use crate::http::operator::OperatorState;
use crate::store::operator_audit::{Actor, AuditEntry};

/// A console request by a signed-in operator. Without a valid session the
/// extractor answers with a redirect to the sign-in page.
#[derive(Debug, Clone)]
pub struct ConsoleSession {
    pub operator_id: i64,
    pub email: String,
    pub role: Role,
    /// The CSRF token every form of this session carries.
    pub csrf: String,
    /// The address the request came from, for the audit trail.
    pub source_address: Option<String>,
}

impl ConsoleSession {
    /// The operator as the audit trail names them.
    pub fn actor(&self) -> Actor {
        Actor {
            operator_id: Some(self.operator_id),
            email: self.email.clone(),
            source_address: self.source_address.clone(),
        }
    }

    /// The same operator as the operator API's handlers see them.
    pub fn as_operator(&self) -> crate::http::operator::session::SignedIn {
        crate::http::operator::session::SignedIn {
            operator_id: self.operator_id,
            email: self.email.clone(),
            role: self.role,
            source_address: self.source_address.clone(),
            must_enrol_totp: false,
        }
    }

    /// An audit entry of an action by this operator.
    pub fn audit(&self, action: AuditAction) -> AuditEntry {
        AuditEntry::new(self.actor(), action)
    }

    pub fn require(&self, permission: Permission) -> Result<(), ConsoleError> {
        if self.role.allows(permission) {
            Ok(())
        } else {
            tracing::info!(operator = %self.email, ?permission, "console action refused");
            Err(ConsoleError::Forbidden(permission))
        }
    }

    /// Checks the token a form sent back.
    pub fn check_csrf(&self, presented: &str) -> Result<(), ConsoleError> {
        use subtle::ConstantTimeEq;
        if bool::from(presented.as_bytes().ct_eq(self.csrf.as_bytes())) {
            Ok(())
        } else {
            tracing::warn!(operator = %self.email, "console form with a wrong CSRF token");
            Err(ConsoleError::Csrf)
        }
    }

    pub fn chrome(&self, title: impl Into<String>, active: &'static str) -> Chrome {
        Chrome {
            title: title.into(),
            active,
            operator_email: self.email.clone(),
            role: self.role.label(),
            csrf: self.csrf.clone(),
            nav: Nav::for_role(self.role),
        }
    }
}

impl FromRequest for ConsoleSession {
    type Error = ConsoleError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let token = session_cookie(req);
        let state = req.app_data::<web::Data<OperatorState>>().cloned();
        let address = source_address(req);
        let enrolling = req.path().starts_with("/console/totp") || req.path() == "/console/logout";
        let next = match req.uri().query() {
            Some(query) => format!("{}?{query}", req.path()),
            None => req.path().to_owned(),
        };
        Box::pin(async move {
            let (Some(token), Some(state)) = (token, state) else {
                return Err(ConsoleError::SignIn { next });
            };
            let operator = operator_of_session(&state, &token, address)
                .await?
                .ok_or(ConsoleError::SignIn { next })?;
            if operator.must_enrol_totp && !enrolling {
                return Err(ConsoleError::EnrolTotp);
            }
            Ok(ConsoleSession {
                operator_id: operator.operator_id,
                email: operator.email,
                role: operator.role,
                csrf: csrf_token(&token),
                source_address: operator.source_address,
            })
        })
    }
}
