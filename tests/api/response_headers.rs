//! What a probe of the service found, fixed (issue 15): the bearer token's
//! answer is never cached, every HTML page carries the security headers, and
//! a contract route called with the wrong method answers 405 with `Allow`.

use mailroom::domain::operator::Role;
use reqwest::{header, StatusCode};
use serde_json::json;

use crate::both_backends;
use crate::helpers::{spawn_app, Backend};

/// `POST /operator/api/sessions` answers a bearer token: `no-store`.
async fn a_new_session_is_never_cached(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = app.create_operator(Role::MailAdmin).await;
    let answer = app
        .client
        .post(app.url("/operator/api/sessions"))
        .json(&json!({"email": email, "password": crate::helpers::OPERATOR_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::CREATED);
    assert_eq!(answer.headers()[header::CACHE_CONTROL], "no-store");
}

/// The landing page and Swagger UI have the console's headers (Swagger UI
/// with its own content security policy); the JSON of the contract does not
/// need them.
async fn pages_carry_the_security_headers(backend: Backend) {
    let app = spawn_app(backend).await;
    for path in ["/", "/swagger-ui/", "/console/login"] {
        let answer = app.client.get(app.url(path)).send().await.unwrap();
        assert!(answer.status().is_success(), "{path}: {}", answer.status());
        let headers = answer.headers();
        assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY", "{path}");
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{path}");
        let policy = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(
            policy.contains("frame-ancestors 'none'"),
            "{path}: {policy}"
        );
    }
}

/// A known contract route with another method: 405 and the methods it
/// takes, not a business answer.
async fn a_wrong_method_answers_405_with_allow(backend: Backend) {
    let app = spawn_app(backend).await;
    let answer = app
        .client
        .get(app.url("/api/Accounts/Synchronize"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(answer.headers()[header::ALLOW], "POST");
    // The right method still reaches the contract.
    let exists = app
        .post(
            "Accounts/Exists",
            &json!({"ExternalID": "cus_unknown", "ID": "1"}),
        )
        .await;
    assert_eq!(exists.status, StatusCode::OK);
}

both_backends!(
    a_trickling_body_is_cut_off,
    a_new_session_is_never_cached,
    pages_carry_the_security_headers,
    a_wrong_method_answers_405_with_allow,
);

/// A client that trickles its body (a byte every 200 ms of a 4 KB body) is
/// answered and cut off once `client_request_timeout_ms` has passed, instead
/// of holding the connection for as long as it likes; the service goes on.
async fn a_trickling_body_is_cut_off(backend: Backend) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = crate::helpers::spawn_app_with(backend, |settings| {
        settings.client_request_timeout_ms = 1_000;
    })
    .await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /operator/api/sessions HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
         Content-Length: 4096\r\n\r\n{{"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = std::time::Instant::now();
    let trickle = async {
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            if stream.write_all(b" ").await.is_err() {
                break;
            }
            let mut answer = [0u8; 256];
            if let Ok(Ok(read)) = tokio::time::timeout(
                std::time::Duration::from_millis(1),
                stream.read(&mut answer),
            )
            .await
            {
                return String::from_utf8_lossy(&answer[..read]).into_owned();
            }
        }
        String::new()
    };
    let answer = tokio::time::timeout(std::time::Duration::from_secs(10), trickle)
        .await
        .expect("the server cut the trickling request off");
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(900),
        "not before the timeout: {:?}",
        started.elapsed()
    );
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 4"),
        "a 4xx answer or a closed connection: {answer}"
    );
    app.assert_serving().await;
}
