//! The service's configuration, from the environment (the names the older Python service used).

use std::time::Duration;

use anyhow::{Context, bail};

/// Everything the service reads at start.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `BenchlingSecret`: name or ARN of the Secrets Manager secret with the Benchling credentials.
    pub secret_id: Option<String>,
    /// `QUILT_WEB_HOST`: the catalog host, for package links.
    pub quilt_web_host: Option<String>,
    /// `PACKAGER_SQS_URL`: Quilt's packager queue.
    pub packager_queue_url: Option<String>,
    /// `PACKAGING_REQUEST_QUEUE_URL`: our FIFO queue of accepted entry events.
    pub request_queue_url: Option<String>,
    /// `AWS_REGION`.
    pub region: Option<String>,
    /// `PORT` (8080).
    pub port: u16,
    /// `LOG_LEVEL` (INFO): DEBUG, INFO, WARNING or ERROR.
    pub log_level: String,
    /// `LOG_FORMAT`: `json` (default) or `text`.
    pub log_json: bool,
    /// `BENCHLING_BASE_URL`: the Benchling API (default `https://{tenant}.benchling.com`).
    pub benchling_base_url: Option<String>,
    /// `BENCHLING_JWKS_BASE_URL` (`https://apps.benchling.com`): where app JWKS are fetched.
    pub jwks_base_url: String,
    /// `ENABLE_WEBHOOK_VERIFICATION`: `false` turns signature checks off (loudly); default on.
    pub verification_override: Option<bool>,
    /// `SECRET_CACHE_SECONDS` (60): how long the secret is reused before it is read again.
    pub secret_ttl: Duration,
    /// `WORKER` (`on`): run the packaging worker inside the server process; `off` leaves it to
    /// `benchling-webhook worker`.
    pub worker_in_server: bool,
    /// `SQS_WAIT_SECONDS` (20): long-poll wait of the worker.
    pub sqs_wait: Duration,
    /// `RETRY_BASE_SECONDS` (10): a failed request returns after 2, 4, 8 … times this, at most 15 min.
    pub retry_base: Duration,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

fn parsed<T: std::str::FromStr>(name: &str, default: T, expected: &str) -> anyhow::Result<T> {
    match var(name) {
        None => Ok(default),
        Some(text) => text
            .parse()
            .map_err(|_| anyhow::anyhow!("{name}={text:?}: expected {expected}")),
    }
}

impl Settings {
    pub fn from_env() -> anyhow::Result<Self> {
        let log_level = var("LOG_LEVEL")
            .unwrap_or_else(|| "INFO".into())
            .to_uppercase();
        if !matches!(
            log_level.as_str(),
            "DEBUG" | "INFO" | "WARNING" | "WARN" | "ERROR"
        ) {
            bail!("LOG_LEVEL={log_level:?}: expected DEBUG, INFO, WARNING or ERROR");
        }
        let log_json = match var("LOG_FORMAT").as_deref() {
            None | Some("json") => true,
            Some("text") => false,
            Some(other) => bail!("LOG_FORMAT={other:?}: expected json or text"),
        };
        let verification_override = match var("ENABLE_WEBHOOK_VERIFICATION") {
            None => None,
            Some(text) => Some(config::schema::parse_bool(&text).with_context(|| {
                format!("ENABLE_WEBHOOK_VERIFICATION={text:?}: expected true or false")
            })?),
        };
        let worker_in_server = match var("WORKER").as_deref() {
            None | Some("on") => true,
            Some("off") => false,
            Some(other) => bail!("WORKER={other:?}: expected on or off"),
        };
        Ok(Settings {
            secret_id: var("BenchlingSecret"),
            quilt_web_host: var("QUILT_WEB_HOST"),
            packager_queue_url: var("PACKAGER_SQS_URL"),
            request_queue_url: var("PACKAGING_REQUEST_QUEUE_URL"),
            region: var("AWS_REGION"),
            port: parsed("PORT", 8080, "a port number")?,
            log_level,
            log_json,
            benchling_base_url: var(benchling::client::BASE_URL_ENV),
            jwks_base_url: var("BENCHLING_JWKS_BASE_URL")
                .unwrap_or_else(|| benchling::jwks::DEFAULT_BASE_URL.to_owned()),
            verification_override,
            secret_ttl: Duration::from_secs(parsed("SECRET_CACHE_SECONDS", 60, "whole seconds")?),
            worker_in_server,
            sqs_wait: Duration::from_secs(
                parsed("SQS_WAIT_SECONDS", 20, "whole seconds (0-20)")?.min(20),
            ),
            retry_base: Duration::from_secs(parsed("RETRY_BASE_SECONDS", 10, "whole seconds")?),
        })
    }
}
