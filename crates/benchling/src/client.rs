//! Benchling's REST API, as this service uses it.

use std::fmt;
use std::time::Duration;

use secret::SecretString;
use serde::Deserialize;

/// Overrides the API base URL (tests and the local sandbox point it at the simulator).
pub const BASE_URL_ENV: &str = "BENCHLING_BASE_URL";

/// `https://{tenant}.benchling.com`, unless `BENCHLING_BASE_URL` says otherwise.
pub fn base_url(tenant: &str) -> String {
    match std::env::var(BASE_URL_ENV) {
        Ok(url) if !url.trim().is_empty() => url.trim().trim_end_matches('/').to_owned(),
        _ => format!("https://{tenant}.benchling.com"),
    }
}

/// An HTTP client with timeouts on every call: Benchling answering slowly must not hang us.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .user_agent(concat!("benchling-webhook/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("an HTTP client with rustls and system roots builds")
}

#[derive(Debug, Clone, Deserialize)]
pub struct Token {
    pub access_token: SecretString,
    pub expires_in: u64,
}

/// A failed call: what was called, the HTTP status if any, and Benchling's own message. Never a token
/// or a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub call: String,
    pub status: Option<u16>,
    pub message: String,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.status {
            Some(status) => write!(
                f,
                "Benchling {} answered HTTP {status}: {}",
                self.call, self.message
            ),
            None => write!(f, "Benchling {} failed: {}", self.call, self.message),
        }
    }
}

impl std::error::Error for ApiError {}

impl ApiError {
    fn transport(call: &str, err: &reqwest::Error) -> Self {
        ApiError {
            call: call.to_owned(),
            status: None,
            message: transport_message(err),
        }
    }

    async fn from_response(call: &str, response: reqwest::Response) -> Self {
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        ApiError {
            call: call.to_owned(),
            status: Some(status.as_u16()),
            message: benchling_message(&body, status),
        }
    }
}

/// What went wrong, from the error's causes; not its URL, which `call` names already.
fn transport_message(err: &reqwest::Error) -> String {
    let mut text = if err.is_timeout() {
        "timed out".to_owned()
    } else if err.is_connect() {
        "could not connect".to_owned()
    } else if err.is_decode() {
        "unreadable answer".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Benchling answers errors as `{"error": {"message": "...", "type": "..."}}`.
fn benchling_message(body: &str, status: reqwest::StatusCode) -> String {
    #[derive(Deserialize)]
    struct Envelope {
        error: Detail,
    }
    #[derive(Deserialize)]
    struct Detail {
        message: String,
    }
    match serde_json::from_str::<Envelope>(body) {
        Ok(envelope) => envelope.error.message,
        Err(_) => status.canonical_reason().unwrap_or("no message").to_owned(),
    }
}

/// `POST /api/v2/token` with the app's client credentials: the cheapest way to validate them.
pub async fn request_token(
    http: &reqwest::Client,
    base_url: &str,
    client_id: &str,
    client_secret: &SecretString,
) -> Result<Token, ApiError> {
    const CALL: &str = "POST /api/v2/token";
    let response = http
        .post(format!("{base_url}/api/v2/token"))
        .basic_auth(client_id, Some(client_secret.expose()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .map_err(|err| ApiError::transport(CALL, &err))?;
    if !response.status().is_success() {
        return Err(ApiError::from_response(CALL, response).await);
    }
    response
        .json::<Token>()
        .await
        .map_err(|err| ApiError::transport(CALL, &err))
}
