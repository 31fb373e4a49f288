//! Load generation for `cargo xtask bench`: compiled in release with the simulator, so the generator
//! costs as little as it can of the machine it shares with the server.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use benchling::sim::{AppCredentials, FIXTURE_EVENTS, Simulator};
use benchling::verify::{self, SignatureHeaders};
use secret::SecretString;
use serde_json::{Value, json};

/// A delivery and its three signature headers.
type Signed = (Vec<u8>, Vec<(String, String)>);

/// Entry-created deliveries for distinct entries, signed by the simulator at `sim`; each stays valid
/// for five minutes, so they are replayed round-robin.
async fn presign(http: &reqwest::Client, sim: &str) -> anyhow::Result<Vec<Signed>> {
    let (_, template) = FIXTURE_EVENTS
        .iter()
        .find(|(name, _)| *name == "entry-created")
        .context("the entry-created fixture")?;
    let template: Value = serde_json::from_str(template)?;
    let mut pool = Vec::new();
    for n in 0..256 {
        let mut event = template.clone();
        event["message"]["resourceId"] = json!(format!("etr_load{n}"));
        let body = serde_json::to_vec(&event)?;
        let headers: serde_json::Map<String, Value> = http
            .post(format!("{sim}/_sim/sign"))
            .body(body.clone())
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        pool.push((
            body,
            headers
                .into_iter()
                .map(|(k, v)| (k, v.as_str().unwrap_or_default().to_owned()))
                .collect(),
        ));
    }
    Ok(pool)
}

/// `connections` loops POSTing to `to` until `duration` or `max` requests; a JSON report of the
/// requests answered 202 (count, seconds, p50/p99 in µs) and of those that were not.
pub async fn run(
    sim: &str,
    to: &str,
    connections: usize,
    duration: Duration,
    max: u64,
) -> anyhow::Result<Value> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .build()?;
    let pool = Arc::new(presign(&http, sim).await?);
    let issued = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (http, to, pool, issued) = (http.clone(), to.to_owned(), pool.clone(), issued.clone());
        tasks.push(tokio::spawn(async move {
            let (mut latencies, mut failures) = (Vec::new(), 0u64);
            loop {
                let n = issued.fetch_add(1, Ordering::Relaxed);
                if n >= max || Instant::now() >= deadline {
                    return (latencies, failures);
                }
                let (body, headers) = &pool[n as usize % pool.len()];
                let mut request = http.post(&to).body(body.clone());
                for (name, value) in headers {
                    request = request.header(name, value);
                }
                let sent = Instant::now();
                match request.send().await {
                    Ok(response) if response.status() == reqwest::StatusCode::ACCEPTED => {
                        latencies.push(sent.elapsed().as_micros().min(u128::from(u32::MAX)) as u32)
                    }
                    _ => failures += 1,
                }
            }
        }));
    }
    let (mut latencies, mut failures) = (Vec::new(), 0);
    for task in tasks {
        let (mine, failed) = task.await?;
        latencies.extend(mine);
        failures += failed;
    }
    let seconds = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let percentile = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
    };
    Ok(
        json!({"count": latencies.len(), "failures": failures, "seconds": seconds, "p50_us": percentile(0.50), "p99_us": percentile(0.99)}),
    )
}

/// Verifications per second on this thread, of a signature made by a fresh simulator.
pub fn verify_speed() -> anyhow::Result<f64> {
    let sim = Simulator::start(AppCredentials {
        client_id: "speed".into(),
        client_secret: SecretString::new("speed"),
    })?;
    let body = b"{}";
    let [(_, id), (_, timestamp), (_, signature)] = sim.signed_headers(body);
    let keys = sim.public_keys();
    let found = SignatureHeaders {
        id: &id,
        timestamp: &timestamp,
        signature: &signature,
    };
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed() < Duration::from_secs(1) {
        verify::verify(&found, body, &keys, std::time::SystemTime::now())
            .map_err(|err| anyhow::anyhow!(err))?;
        n += 1;
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}
