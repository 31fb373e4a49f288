//! A simulator of Benchling on 127.0.0.1: what tests and local runs talk to instead of a tenant.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Form, Json, Router};
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
use secret::SecretString;
use serde::Deserialize;
use serde_json::json;

mod api;

pub use api::{CanvasPatch, FIXTURE_CANVAS_ID, FIXTURE_EVENT_ENTRY_ID, Faults, export_zip};

/// The app credentials the simulator accepts.
#[derive(Clone, Debug)]
pub struct AppCredentials {
    pub client_id: String,
    pub client_secret: SecretString,
}

struct Sim {
    credentials: AppCredentials,
    tokens_issued: AtomicU64,
    /// Signing keys, newest first; the JWKS lists them all, the newest signs.
    keys: RwLock<Vec<Arc<EcdsaKeyPair>>>,
    jwks_fetches: AtomicU64,
    deliveries: AtomicU64,
    rng: SystemRandom,
    tenant: Mutex<api::Tenant>,
    /// Tokens numbered below this were revoked.
    token_floor: AtomicU64,
}

impl Sim {
    fn sign(&self, id: &str, timestamp: &str, body: &[u8]) -> String {
        let message = [id.as_bytes(), b".", timestamp.as_bytes(), b".", body].concat();
        let key = self.keys.read().expect("simulator key lock")[0].clone();
        let signature = key.sign(&self.rng, &message).expect("ECDSA signing");
        format!(
            "v1bder,{}",
            base64::engine::general_purpose::STANDARD.encode(signature.as_ref())
        )
    }

    /// Signed at `timestamp` (Unix seconds), or now.
    fn signed_headers(&self, body: &[u8], timestamp: Option<u64>) -> [(&'static str, String); 3] {
        let id = format!("msg_sim{}", self.deliveries.fetch_add(1, Ordering::Relaxed));
        let timestamp = timestamp
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs())
            })
            .to_string();
        let signature = self.sign(&id, &timestamp, body);
        [
            ("webhook-id", id),
            ("webhook-timestamp", timestamp),
            ("webhook-signature", signature),
        ]
    }

    async fn deliver(&self, url: &str, body: &[u8]) -> anyhow::Result<(u16, String)> {
        let mut request = crate::client::http_client()
            .post(url)
            .header("content-type", "application/json")
            .body(body.to_vec());
        for (name, value) in self.signed_headers(body, None) {
            request = request.header(name, value);
        }
        let response = request
            .send()
            .await
            .map_err(|err| anyhow::anyhow!("POST {url}: {err}"))?;
        let status = response.status().as_u16();
        Ok((status, response.text().await.unwrap_or_default()))
    }

    fn new_key(&self) -> Arc<EcdsaKeyPair> {
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &self.rng)
            .expect("P-256 key generation");
        Arc::new(
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &self.rng)
                .expect("a generated key parses"),
        )
    }
}

/// Benchling's HTTP API and app JWKS, as far as this project uses them.
fn router(sim: Arc<Sim>) -> Router {
    Router::new()
        .route("/api/v2/token", post(token))
        .route("/api/v1/apps/{app_definition_id}/jwks", get(jwks))
        .route("/api/v2/entries/{id}", get(api::get_entry))
        .route("/api/v2/exports", post(api::start_export))
        .route("/api/v2/tasks/{id}", get(api::get_task))
        .route(
            "/api/v2/app-canvases/{id}",
            get(api::get_canvas).patch(api::patch_canvas),
        )
        .route("/downloads/{file}", get(api::download))
        .route("/_sim/canvas-patches", get(api::list_patches))
        .route("/_sim/faults", put(api::set_faults))
        .route("/_sim/deliver", post(deliver))
        .route("/_sim/sign", post(sign))
        .with_state(sim)
}

#[derive(Deserialize)]
struct Delivery {
    url: String,
    /// The raw body, byte for byte as it is signed and sent.
    body: String,
}

/// `POST /_sim/deliver`: sign `body` with the simulator's key and POST it to `url`, as Benchling does.
async fn deliver(State(sim): State<Arc<Sim>>, Json(delivery): Json<Delivery>) -> Response {
    match sim.deliver(&delivery.url, delivery.body.as_bytes()).await {
        Ok((status, body)) => Json(json!({"status": status, "body": body})).into_response(),
        Err(err) => error(StatusCode::BAD_GATEWAY, &format!("{err:#}")),
    }
}

#[derive(Deserialize)]
struct SignAt {
    timestamp: Option<u64>,
}

/// `POST /_sim/sign[?timestamp=UNIX]`: the three webhook headers for the request body, signed now or
/// at the given time (stale deliveries for negative tests; load tests that must not spend their own
/// CPU on signing).
async fn sign(
    State(sim): State<Arc<Sim>>,
    Query(at): Query<SignAt>,
    body: axum::body::Bytes,
) -> Response {
    let headers: serde_json::Map<String, serde_json::Value> = sim
        .signed_headers(&body, at.timestamp)
        .into_iter()
        .map(|(name, value)| (name.to_owned(), json!(value)))
        .collect();
    Json(headers).into_response()
}

/// The fixture events, by name, as Benchling sent them.
pub const FIXTURE_EVENTS: &[(&str, &str)] = &[
    (
        "entry-created",
        include_str!("../fixtures/entry-created.json"),
    ),
    (
        "entry-updated",
        include_str!("../fixtures/entry-updated.json"),
    ),
    (
        "canvas-initialized",
        include_str!("../fixtures/canvas-initialized.json"),
    ),
    (
        "canvas-created",
        include_str!("../fixtures/canvas-created.json"),
    ),
    (
        "canvas-interaction",
        include_str!("../fixtures/canvas-interaction.json"),
    ),
    (
        "app-installed",
        include_str!("../fixtures/app-installed.json"),
    ),
    (
        "app-activate-requested",
        include_str!("../fixtures/app-activate-requested.json"),
    ),
    (
        "app-deactivated",
        include_str!("../fixtures/app-deactivated.json"),
    ),
    (
        "app-config-updated",
        include_str!("../fixtures/app-config-updated.json"),
    ),
];

async fn jwks(State(sim): State<Arc<Sim>>) -> Response {
    sim.jwks_fetches.fetch_add(1, Ordering::Relaxed);
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let keys: Vec<_> = sim
        .keys
        .read()
        .expect("simulator key lock")
        .iter()
        .enumerate()
        .map(|(n, key)| {
            let point = key.public_key().as_ref();
            json!({"kty": "EC", "crv": "P-256", "use": "sig", "kid": format!("sim-{n}"), "x": b64(&point[1..33]), "y": b64(&point[33..65])})
        })
        .collect();
    Json(json!({ "keys": keys })).into_response()
}

#[derive(Deserialize)]
struct TokenForm {
    grant_type: String,
}

fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(json!({"error": {"message": message, "type": "invalid_request_error"}})),
    )
        .into_response()
}

async fn token(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Response {
    if form.grant_type != "client_credentials" {
        return error(
            StatusCode::BAD_REQUEST,
            "grant_type must be client_credentials",
        );
    }
    if sim
        .tenant
        .lock()
        .expect("simulator lock")
        .faults
        .reject_credentials
    {
        return error(StatusCode::UNAUTHORIZED, "Invalid client credentials");
    }
    let presented = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
        .and_then(|raw| String::from_utf8(raw).ok());
    let expected = format!(
        "{}:{}",
        sim.credentials.client_id,
        sim.credentials.client_secret.expose()
    );
    if presented.as_deref() != Some(expected.as_str()) {
        return error(StatusCode::UNAUTHORIZED, "Invalid client credentials");
    }
    let n = sim.tokens_issued.fetch_add(1, Ordering::Relaxed);
    Json(json!({"access_token": format!("sim-token-{n}"), "token_type": "Bearer", "expires_in": 900})).into_response()
}

/// A running simulator on a free 127.0.0.1 port, in a thread of its own; stopped when dropped.
pub struct Simulator {
    addr: SocketAddr,
    sim: Arc<Sim>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Simulator {
    /// On a free port of 127.0.0.1.
    pub fn start(credentials: AppCredentials) -> anyhow::Result<Self> {
        Self::start_at(std::net::SocketAddr::from(([127, 0, 0, 1], 0)), credentials)
    }

    pub fn start_at(
        addr: std::net::SocketAddr,
        credentials: AppCredentials,
    ) -> anyhow::Result<Self> {
        let sim = Sim {
            credentials,
            tokens_issued: AtomicU64::new(0),
            keys: RwLock::new(Vec::new()),
            jwks_fetches: AtomicU64::new(0),
            deliveries: AtomicU64::new(0),
            rng: SystemRandom::new(),
            tenant: Mutex::new(api::Tenant::with_fixtures()),
            token_floor: AtomicU64::new(0),
        };
        let first = sim.new_key();
        sim.keys.write().expect("simulator key lock").push(first);
        let sim = Arc::new(sim);
        let listener = std::net::TcpListener::bind(addr)
            .map_err(|err| anyhow::anyhow!("listening on {addr}: {err}"))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        let app = router(sim.clone());
        let thread = std::thread::Builder::new()
            .name("benchling-sim".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a tokio runtime");
                runtime.block_on(async move {
                    let listener =
                        tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
                    let _ = axum::serve(listener, app)
                        .with_graceful_shutdown(async {
                            let _ = stop.await;
                        })
                        .await;
                });
            })?;
        Ok(Simulator {
            addr,
            sim,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    /// What `BENCHLING_BASE_URL` should be set to.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn tokens_issued(&self) -> u64 {
        self.sim.tokens_issued.load(Ordering::Relaxed)
    }

    pub fn jwks_fetches(&self) -> u64 {
        self.sim.jwks_fetches.load(Ordering::Relaxed)
    }

    /// Invalidates every token issued so far, as an expiry would.
    pub fn revoke_tokens(&self) {
        self.sim
            .token_floor
            .store(self.tokens_issued(), Ordering::Relaxed);
    }

    pub fn set_faults(&self, faults: Faults) {
        self.sim.tenant.lock().expect("simulator lock").faults = faults;
    }

    /// How many exports were started (`POST /api/v2/exports`) so far.
    pub fn exports_started(&self) -> u64 {
        self.sim.tenant.lock().expect("simulator lock").next_task
    }

    /// Every canvas update received so far, oldest first.
    pub fn canvas_patches(&self) -> Vec<CanvasPatch> {
        self.sim
            .tenant
            .lock()
            .expect("simulator lock")
            .patches
            .clone()
    }

    /// Makes an entry known: the fixture entry under `id`, with `display_id`.
    pub fn add_entry(&self, id: &str, display_id: &str) {
        let mut entry: serde_json::Value =
            serde_json::from_str(include_str!("../fixtures/entry.json")).expect("fixture JSON");
        entry["entry"]["displayId"] = json!(display_id);
        self.sim
            .tenant
            .lock()
            .expect("simulator lock")
            .add_entry(id, entry["entry"].take());
    }

    /// A `webhook-signature` value as Benchling sends it: `v1bder,<base64 DER>` over `{id}.{timestamp}.{body}`.
    pub fn sign(&self, id: &str, timestamp: &str, body: &[u8]) -> String {
        self.sim.sign(id, timestamp, body)
    }

    /// The three headers of a delivery of `body` made now.
    pub fn signed_headers(&self, body: &[u8]) -> [(&'static str, String); 3] {
        self.sim.signed_headers(body, None)
    }

    /// Signs `body` and POSTs it to `url` as Benchling delivers a webhook; the answer's status and body.
    pub async fn deliver(&self, url: &str, body: &[u8]) -> anyhow::Result<(u16, String)> {
        self.sim.deliver(url, body).await
    }

    /// The public keys its JWKS lists, newest first.
    pub fn public_keys(&self) -> Vec<crate::verify::PublicKey> {
        let keys = self.sim.keys.read().expect("simulator key lock");
        keys.iter()
            .map(|key| crate::verify::PublicKey::from_uncompressed_point(key.public_key().as_ref()))
            .collect()
    }

    /// Starts signing with a new key, as Benchling does when it rotates; the JWKS lists both.
    pub fn rotate_key(&self) {
        let key = self.sim.new_key();
        self.sim
            .keys
            .write()
            .expect("simulator key lock")
            .insert(0, key);
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client;

    fn credentials() -> AppCredentials {
        AppCredentials {
            client_id: "app-client".into(),
            client_secret: SecretString::new("app-secret"),
        }
    }

    #[tokio::test]
    async fn the_right_credentials_get_a_token() {
        let sim = Simulator::start(credentials()).unwrap();
        let token = client::request_token(
            &client::http_client(),
            &sim.base_url(),
            "app-client",
            &SecretString::new("app-secret"),
        )
        .await
        .unwrap();
        assert_eq!(token.expires_in, 900);
        assert_eq!(sim.tokens_issued(), 1);
    }

    #[tokio::test]
    async fn wrong_credentials_get_benchlings_message_and_status() {
        let sim = Simulator::start(credentials()).unwrap();
        let err = client::request_token(
            &client::http_client(),
            &sim.base_url(),
            "app-client",
            &SecretString::new("wrong"),
        )
        .await
        .unwrap_err();
        assert_eq!(
            (err.status, err.message.as_str(), err.transient),
            (Some(401), "Invalid client credentials", false)
        );
        assert_eq!(
            err.to_string(),
            "Benchling POST /api/v2/token answered HTTP 401: Invalid client credentials"
        );
        assert_eq!(sim.tokens_issued(), 0);
    }

    #[tokio::test]
    async fn an_unreachable_benchling_is_a_transport_error_without_status() {
        let base = {
            let sim = Simulator::start(credentials()).unwrap();
            sim.base_url()
        };
        let err =
            client::request_token(&client::http_client(), &base, "a", &SecretString::new("b"))
                .await
                .unwrap_err();
        assert_eq!(err.status, None);
        assert!(err.message.starts_with("could not connect"), "{err}");
    }
}
