//! The apps' signing keys, cached: fetched from `{base}/api/v1/apps/{app_definition_id}/jwks`,
//! refreshed when older than `max_age`, and refetched when a signature fails against the cached set
//! (Benchling rotates keys), at most once per `min_refetch` per app so forged requests cannot make us
//! hammer Benchling.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use crate::verify::{self, PublicKey, SignatureHeaders, VerifyError};

/// Where Benchling serves app JWKS; `BENCHLING_JWKS_BASE_URL` overrides it.
pub const DEFAULT_BASE_URL: &str = "https://apps.benchling.com";

struct Entry {
    keys: Arc<Vec<PublicKey>>,
    fetched: Instant,
    last_refetch: Option<Instant>,
}

pub struct JwksCache {
    http: reqwest::Client,
    base_url: String,
    max_age: Duration,
    min_refetch: Duration,
    entries: RwLock<HashMap<String, Entry>>,
}

impl JwksCache {
    pub fn new(http: reqwest::Client, base_url: &str) -> Self {
        JwksCache {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            max_age: Duration::from_secs(6 * 3600),
            min_refetch: Duration::from_secs(60),
            entries: RwLock::new(HashMap::new()),
        }
    }

    /// Shorter or longer intervals than Benchling's defaults (tests, benchmarks).
    pub fn with_intervals(mut self, max_age: Duration, min_refetch: Duration) -> Self {
        self.max_age = max_age;
        self.min_refetch = min_refetch;
        self
    }

    pub fn url(&self, app_definition_id: &str) -> String {
        format!("{}/api/v1/apps/{app_definition_id}/jwks", self.base_url)
    }

    /// Verifies a delivery for the app; see [`verify`] for the steps.
    pub async fn verify(
        &self,
        app_definition_id: &str,
        headers: &SignatureHeaders<'_>,
        body: &[u8],
    ) -> Result<(), VerifyError> {
        let signatures = verify::prepare(headers, SystemTime::now())?;
        let keys = self.keys(app_definition_id).await?;
        if verify::matches(headers, body, &signatures, &keys) {
            return Ok(());
        }
        if self.claim_refetch(app_definition_id) {
            let fresh = self.fetch(app_definition_id).await?;
            if fresh != keys && verify::matches(headers, body, &signatures, &fresh) {
                return Ok(());
            }
        }
        Err(VerifyError::NoMatchingSignature)
    }

    async fn keys(&self, app_definition_id: &str) -> Result<Arc<Vec<PublicKey>>, VerifyError> {
        let cached = self
            .entries
            .read()
            .expect("JWKS cache lock")
            .get(app_definition_id)
            .and_then(|entry| (entry.fetched.elapsed() < self.max_age).then(|| entry.keys.clone()));
        match cached {
            Some(keys) => Ok(keys),
            None => self.fetch(app_definition_id).await,
        }
    }

    /// True for the one caller allowed to refetch now.
    fn claim_refetch(&self, app_definition_id: &str) -> bool {
        let mut entries = self.entries.write().expect("JWKS cache lock");
        let Some(entry) = entries.get_mut(app_definition_id) else {
            return true;
        };
        let allowed = entry
            .last_refetch
            .is_none_or(|at| at.elapsed() >= self.min_refetch);
        if allowed {
            entry.last_refetch = Some(Instant::now());
        }
        allowed
    }

    async fn fetch(&self, app_definition_id: &str) -> Result<Arc<Vec<PublicKey>>, VerifyError> {
        let url = self.url(app_definition_id);
        let response = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|err| VerifyError::Jwks(format!("GET {url}: {err}")))?;
        if !response.status().is_success() {
            return Err(VerifyError::Jwks(format!(
                "GET {url} answered HTTP {}",
                response.status()
            )));
        }
        let body = response
            .bytes()
            .await
            .map_err(|err| VerifyError::Jwks(format!("GET {url}: {err}")))?;
        let keys = Arc::new(
            verify::parse_jwks(&body).map_err(|why| VerifyError::Jwks(format!("{url}: {why}")))?,
        );
        let mut entries = self.entries.write().expect("JWKS cache lock");
        let last_refetch = entries.get(app_definition_id).and_then(|e| e.last_refetch);
        entries.insert(
            app_definition_id.to_owned(),
            Entry {
                keys: keys.clone(),
                fetched: Instant::now(),
                last_refetch,
            },
        );
        Ok(keys)
    }
}
