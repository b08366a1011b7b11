//! Calls to the BSS contract (`/api/...`) with an application's
//! credentials, the [`Answer`] they get, and a typical BSS account.

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::app::{Credentials, TestApp};

/// A response: status and JSON body (`Null` when the body is not JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
}

impl Answer {
    pub fn code(&self) -> i64 {
        let code = self.body["Code"]
            .as_i64()
            .unwrap_or_else(|| panic!("no Code in {:?}", self.body));
        assert_eq!(
            self.body["ErrorCode"].as_i64(),
            Some(code),
            "ErrorCode mirrors Code"
        );
        assert_eq!(
            self.body["ErrorMessage"], self.body["Message"],
            "ErrorMessage mirrors Message"
        );
        code
    }

    pub fn message(&self) -> &str {
        self.body["Message"].as_str().unwrap_or_default()
    }

    /// The `Result` (an ExternalID) of an answer that must carry one; a
    /// missing, empty or non-text `Result` fails the test with the body, so
    /// two answers without one never compare equal.
    pub fn result(&self) -> &str {
        self.result_opt()
            .filter(|result| !result.is_empty())
            .unwrap_or_else(|| panic!("no Result in {:?}", self.body))
    }

    /// The `Result`, for answers that may carry none.
    pub fn result_opt(&self) -> Option<&str> {
        self.body["Result"].as_str()
    }
}

impl TestApp {
    /// Registers another BSS application (tenant) and returns its credentials.
    pub async fn second_application(&self, name: &str) -> Credentials {
        let issued = mailroom::domain::app_key::IssuedKey::generate();
        let key = issued.key.clone();
        let name = name.to_owned();
        let row = self
            .store
            .run(move |conn| {
                mailroom::store::applications::create(conn, &name, &issued)
                    .map_err(|e| mailroom::store::StoreError::corrupt_because("a test query", e))
            })
            .await
            .expect("create an application");
        Credentials {
            app_id: row.app_id,
            key,
        }
    }

    /// POSTs to a contract action with the given credentials.
    pub async fn post_as(&self, credentials: &Credentials, action: &str, body: &Value) -> Answer {
        Self::send(
            self.client
                .post(self.url(&format!("/api/{action}")))
                .header("X-CloudPlatform-ApplicationId", &credentials.app_id)
                .header("X-CloudPlatform-APIKey", &credentials.key)
                .json(body),
        )
        .await
    }
    /// A request with this app's credentials.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .header("X-CloudPlatform-ApplicationId", &self.app_id)
            .header("X-CloudPlatform-APIKey", &self.api_key)
    }

    /// A request with this app's credentials and a fresh TrackId.
    pub fn tracked(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.request(method, path).header(
            "X-CloudPlatform-TrackId",
            format!("test-{}", uuid::Uuid::new_v4()),
        )
    }

    pub async fn send(builder: reqwest::RequestBuilder) -> Answer {
        let response = builder.send().await.expect("the server answers");
        let status = response.status();
        let text = response.text().await.expect("a body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer { status, body }
    }

    /// POSTs JSON to a contract action such as `Accounts/Synchronize`.
    pub async fn post(&self, action: &str, body: &Value) -> Answer {
        Self::send(
            self.tracked(reqwest::Method::POST, &format!("/api/{action}"))
                .json(body),
        )
        .await
    }

    pub async fn get(&self, action: &str) -> Answer {
        Self::send(self.tracked(reqwest::Method::GET, &format!("/api/{action}"))).await
    }

    /// Synchronize that must succeed; returns the answer.
    pub async fn synchronize(&self, account: &Value) -> Answer {
        let answer = self.post("Accounts/Synchronize", account).await;
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
        assert_eq!(answer.code(), 0, "{:?}", answer.body);
        answer
    }
}

/// A typical account of the BSS: `id` is the BSS account id.
pub fn account(id: &str, domain: &str) -> Value {
    json!({
        "ID": id,
        "ExternalID": "",
        "ResellerID": "",
        "ResellerExternalID": "",
        "Name": format!("Customer {id}"),
        "Code": format!("C-{id}"),
        "Email": format!("admin@{domain}"),
        "SyncOptions": {"domain": domain},
        "ContactDetails": {"ID": format!("c{id}"), "FirstName": "Pat", "LastName": "Jones", "Email": format!("pat@{domain}")},
        "ExtraDetails": {}
    })
}
