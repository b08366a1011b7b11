//! Operators: creating them in the store, signing them in, and calls to
//! the operator API (`/operator/api/...`) with their bearer token.

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::app::TestApp;
use super::contract::Answer;

/// The password test operators get.
pub const OPERATOR_PASSWORD: &str = "Operator pass 1";

impl TestApp {
    /// Creates an operator with [`OPERATOR_PASSWORD`]; returns its email.
    pub async fn create_operator(&self, role: mailroom::domain::operator::Role) -> String {
        let email = format!(
            "{}-{}@ops.example",
            role.as_str(),
            uuid::Uuid::new_v4().simple()
        );
        let hash = mailroom::domain::password::hash(OPERATOR_PASSWORD).expect("hash");
        let stored = email.clone();
        self.store
            .run(move |conn| {
                mailroom::store::operators::create(conn, &stored, &hash, role)
                    .map_err(|e| mailroom::store::StoreError::corrupt_because("a test query", e))
            })
            .await
            .expect("create an operator");
        email
    }
    /// Creates an operator directly in the store (as `mailroom operators
    /// create` does) and signs it in over HTTP; returns its bearer token.
    pub async fn sign_in_as(&self, role: mailroom::domain::operator::Role) -> String {
        let email = self.create_operator(role).await;
        let answer = Self::send(
            self.client
                .post(self.url("/operator/api/sessions"))
                .json(&json!({"email": email, "password": OPERATOR_PASSWORD})),
        )
        .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
        answer.body["token"].as_str().expect("a token").to_owned()
    }

    /// Ends a session's life now, in its stored row (as the clock would):
    /// `token` is the bearer token or the console cookie's value.
    pub async fn expire_session(&self, token: &str) {
        use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
        use mailroom::store::schema::operator_sessions;
        let hash = mailroom::domain::token::hash_token(token);
        let past = chrono::Utc::now().naive_utc() - chrono::Duration::minutes(1);
        let updated = self
            .with_store(move |conn| {
                Ok(diesel::update(
                    operator_sessions::table.filter(operator_sessions::token_hash.eq(hash)),
                )
                .set(operator_sessions::expires_at.eq(past))
                .execute(conn)?)
            })
            .await;
        assert_eq!(updated, 1, "one stored session has this token");
    }

    /// A call to the operator API with a bearer token.
    pub async fn operator_call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> Answer {
        let mut request = self
            .client
            .request(method, self.url(&format!("/operator/api{path}")))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        Self::send(request).await
    }
}
