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
    /// What the server asked us to wait, on a 429 or 503.
    pub retry_after: Option<Duration>,
    /// Worth another try: a rate limit, a server error, or no answer at all.
    pub transient: bool,
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
        // An answer that could not be read will read no better next time; no answer at all might.
        ApiError {
            call: call.to_owned(),
            status: None,
            message: transport_message(err),
            retry_after: None,
            transient: !err.is_decode(),
        }
    }

    async fn from_response(call: &str, response: reqwest::Response) -> Self {
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = response.text().await.unwrap_or_default();
        let transient =
            status == reqwest::StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
        ApiError {
            call: call.to_owned(),
            status: Some(status.as_u16()),
            message: benchling_message(&body, status),
            retry_after,
            transient,
        }
    }

    /// A failure of the work itself (an export that failed or never finished): retrying the call won't help.
    fn final_failure(call: String, message: String) -> Self {
        ApiError {
            call,
            status: None,
            message,
            retry_after: None,
            transient: false,
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

/// When and how often to retry 429s, 5xx and transport failures.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(8),
        }
    }
}

impl RetryPolicy {
    /// Full jitter: a random delay up to `base * 2^attempt`, capped; a server's `Retry-After` wins.
    fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(wait) = retry_after {
            return wait.min(self.max_delay);
        }
        let ceiling = self
            .base_delay
            .saturating_mul(1 << attempt.min(16))
            .min(self.max_delay);
        let mut random = [0u8; 4];
        let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut random);
        ceiling.mul_f64(f64::from(u32::from_le_bytes(random)) / f64::from(u32::MAX))
    }
}

#[derive(Clone)]
pub struct Credentials {
    pub client_id: String,
    pub client_secret: SecretString,
}

struct CachedToken {
    token: SecretString,
    renew_at: std::time::Instant,
}

/// Benchling's REST API for one tenant and app.
pub struct Api {
    http: reqwest::Client,
    base_url: String,
    credentials: Credentials,
    retry: RetryPolicy,
    token: tokio::sync::Mutex<Option<CachedToken>>,
}

/// An export task's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskState {
    Running,
    Succeeded { download_url: String },
    Failed { message: String },
}

impl Api {
    pub fn new(http: reqwest::Client, base_url: &str, credentials: Credentials) -> Self {
        Api {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            credentials,
            retry: RetryPolicy::default(),
            token: tokio::sync::Mutex::new(None),
        }
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// A token, renewed a minute before it expires (or halfway through a short life).
    async fn token(&self) -> Result<SecretString, ApiError> {
        let mut cached = self.token.lock().await;
        if let Some(token) = cached
            .as_ref()
            .filter(|t| std::time::Instant::now() < t.renew_at)
        {
            return Ok(token.token.clone());
        }
        let fresh = self
            .retrying("POST /api/v2/token", || {
                request_token(
                    &self.http,
                    &self.base_url,
                    &self.credentials.client_id,
                    &self.credentials.client_secret,
                )
            })
            .await?;
        let life = Duration::from_secs(fresh.expires_in);
        let renew_at =
            std::time::Instant::now() + life.saturating_sub(Duration::from_secs(60)).max(life / 2);
        *cached = Some(CachedToken {
            token: fresh.access_token.clone(),
            renew_at,
        });
        Ok(fresh.access_token)
    }

    async fn forget_token(&self) {
        *self.token.lock().await = None;
    }

    /// Runs `attempt` until it succeeds, fails for good, or the attempts run out.
    async fn retrying<T, F, Fut>(&self, call: &str, mut attempt: F) -> Result<T, ApiError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, ApiError>>,
    {
        let mut tries = 0;
        loop {
            match attempt().await {
                Err(err) if err.transient && tries + 1 < self.retry.attempts => {
                    tokio::time::sleep(self.retry.delay(tries, err.retry_after)).await;
                    tries += 1;
                }
                Err(mut err) if tries > 0 => {
                    err.message = format!("{} (after {} attempts)", err.message, tries + 1);
                    err.call = call.to_owned();
                    return Err(err);
                }
                other => return other,
            }
        }
    }

    /// An authorised request with retries; a 401 drops the cached token and tries once more.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<reqwest::Response, ApiError> {
        let name = format!("{method} {}", path.split('?').next().unwrap_or(path));
        let url = format!("{}{path}", self.base_url);
        for renewed in [false, true] {
            let response = self
                .retrying(&name, || async {
                    let token = self.token().await?;
                    let mut request = self
                        .http
                        .request(method.clone(), &url)
                        .bearer_auth(token.expose());
                    if let Some(body) = body {
                        request = request.json(body);
                    }
                    let response = request
                        .send()
                        .await
                        .map_err(|err| ApiError::transport(&name, &err))?;
                    if response.status().is_success()
                        || response.status() == reqwest::StatusCode::UNAUTHORIZED
                    {
                        Ok(response)
                    } else {
                        Err(ApiError::from_response(&name, response).await)
                    }
                })
                .await?;
            if response.status() != reqwest::StatusCode::UNAUTHORIZED {
                return Ok(response);
            }
            if renewed {
                return Err(ApiError::from_response(&name, response).await);
            }
            self.forget_token().await;
        }
        unreachable!("the loop returns on its second pass")
    }

    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<T, ApiError> {
        let name = format!("{method} {path}");
        let response = self.call(method, path, body).await?;
        response
            .json::<T>()
            .await
            .map_err(|err| ApiError::transport(&name, &err))
    }

    /// `GET /api/v2/entries/{id}`: the entry itself (unwrapped from `{"entry": …}` when so wrapped).
    pub async fn get_entry(&self, entry_id: &str) -> Result<serde_json::Value, ApiError> {
        let value: serde_json::Value = self
            .json(
                reqwest::Method::GET,
                &format!("/api/v2/entries/{entry_id}"),
                None,
            )
            .await?;
        Ok(match value {
            serde_json::Value::Object(mut map)
                if map.get("entry").is_some_and(|e| e.is_object()) =>
            {
                map.remove("entry").unwrap_or_default()
            }
            other => other,
        })
    }

    /// `POST /api/v2/exports`: starts exporting the entry; returns the task id.
    pub async fn start_export(&self, entry_id: &str) -> Result<String, ApiError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Started {
            task_id: String,
        }
        let started: Started = self
            .json(
                reqwest::Method::POST,
                "/api/v2/exports",
                Some(&serde_json::json!({ "id": entry_id })),
            )
            .await?;
        Ok(started.task_id)
    }

    /// `GET /api/v2/tasks/{id}`.
    pub async fn task(&self, task_id: &str) -> Result<TaskState, ApiError> {
        let task: serde_json::Value = self
            .json(
                reqwest::Method::GET,
                &format!("/api/v2/tasks/{task_id}"),
                None,
            )
            .await?;
        let text = |pointer: &str| {
            task.pointer(pointer)
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        Ok(match text("/status").as_deref() {
            Some("SUCCEEDED") => match text("/response/downloadURL") {
                Some(download_url) => TaskState::Succeeded { download_url },
                None => TaskState::Failed {
                    message: "the task succeeded without a downloadURL".into(),
                },
            },
            Some("FAILED") => TaskState::Failed {
                message: text("/message").unwrap_or_else(|| "no message".into()),
            },
            _ => TaskState::Running,
        })
    }

    /// Polls the task until it finishes or `timeout` passes; the download URL on success.
    pub async fn wait_for_task(
        &self,
        task_id: &str,
        poll: Duration,
        timeout: Duration,
    ) -> Result<String, ApiError> {
        let call = format!("GET /api/v2/tasks/{task_id}");
        let deadline = std::time::Instant::now() + timeout;
        loop {
            match self.task(task_id).await? {
                TaskState::Succeeded { download_url } => return Ok(download_url),
                TaskState::Failed { message } => {
                    return Err(ApiError::final_failure(
                        call,
                        format!("export failed: {message}"),
                    ));
                }
                TaskState::Running if std::time::Instant::now() >= deadline => {
                    return Err(ApiError::final_failure(
                        call,
                        format!("export still running after {timeout:?}"),
                    ));
                }
                TaskState::Running => tokio::time::sleep(poll).await,
            }
        }
    }

    /// Downloads a finished export. The URL is pre-signed: it gets no token.
    pub async fn download(&self, url: &str) -> Result<Vec<u8>, ApiError> {
        const CALL: &str = "GET export download";
        self.retrying(CALL, || async {
            let response = self
                .http
                .get(url)
                .send()
                .await
                .map_err(|err| ApiError::transport(CALL, &err))?;
            if !response.status().is_success() {
                return Err(ApiError::from_response(CALL, response).await);
            }
            response
                .bytes()
                .await
                .map(|b| b.to_vec())
                .map_err(|err| ApiError::transport(CALL, &err))
        })
        .await
    }

    /// `GET /api/v2/app-canvases/{id}`.
    pub async fn get_canvas(&self, canvas_id: &str) -> Result<serde_json::Value, ApiError> {
        self.json(
            reqwest::Method::GET,
            &format!("/api/v2/app-canvases/{canvas_id}"),
            None,
        )
        .await
    }

    /// `PATCH /api/v2/app-canvases/{id}` with `{"blocks": …, "enabled": true}`.
    pub async fn patch_canvas(
        &self,
        canvas_id: &str,
        blocks: serde_json::Value,
    ) -> Result<(), ApiError> {
        let body = serde_json::json!({ "blocks": blocks, "enabled": true });
        self.call(
            reqwest::Method::PATCH,
            &format!("/api/v2/app-canvases/{canvas_id}"),
            Some(&body),
        )
        .await
        .map(drop)
    }
}
