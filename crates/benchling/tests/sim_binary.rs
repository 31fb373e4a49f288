//! `benchling-sim serve` and `benchling-sim send` as processes: what `send` delivers verifies against
//! the running simulator's JWKS.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use benchling::jwks::JwksCache;
use benchling::verify::SignatureHeaders;

/// Answers 200 "verified <type>" when the delivery's signature checks out, 403 otherwise.
async fn receiver(
    State(jwks): State<Arc<JwksCache>>,
    headers: HeaderMap,
    body: Bytes,
) -> (axum::http::StatusCode, String) {
    let pairs: Vec<(&str, &str)> = headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)))
        .collect();
    let verified = match SignatureHeaders::find(pairs.iter().copied()) {
        Ok(found) => jwks.verify("appdef_any", &found, &body).await,
        Err(err) => Err(err),
    };
    match verified {
        Ok(()) => {
            let event: serde_json::Value = serde_json::from_slice(&body).unwrap();
            (
                axum::http::StatusCode::OK,
                format!("verified {}", event["message"]["type"].as_str().unwrap()),
            )
        }
        Err(err) => (axum::http::StatusCode::FORBIDDEN, err.to_string()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_delivers_a_fixture_signed_as_benchling_does() {
    let mut serve = Command::new(env!("CARGO_BIN_EXE_benchling-sim"))
        .args(["serve", "--port", "0"])
        .env("BENCHLING_SIM_CLIENT_SECRET", "test-secret")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(serve.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let sim_url = line.trim().rsplit(' ').next().unwrap().to_owned();
    assert!(sim_url.starts_with("http://127.0.0.1:"), "{line}");

    let jwks = Arc::new(JwksCache::new(benchling::client::http_client(), &sim_url));
    let app = axum::Router::new()
        .route("/event", axum::routing::post(receiver))
        .with_state(jwks);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = format!("http://{}/event", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let (ok, out, err) = send(&sim_url, &target, "entry-created").await;
    assert!(ok, "{err}");
    assert_eq!(out, "200 verified v2.entry.created");
    let (ok, _, err) = send(&sim_url, &target, "no-such-fixture").await;
    assert!(!ok);
    assert!(
        err.contains("is neither a fixture (entry-created,"),
        "{err}"
    );
    serve.kill().unwrap();
    serve.wait().unwrap();
}

/// `benchling-sim send`, off the async threads: success, stdout, stderr.
async fn send(sim: &str, target: &str, event: &str) -> (bool, String, String) {
    let args = [
        "send".to_owned(),
        "--sim".to_owned(),
        sim.to_owned(),
        "--to".to_owned(),
        target.to_owned(),
        event.to_owned(),
    ];
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_benchling-sim"))
            .args(args)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).trim().to_owned();
    (
        output.status.success(),
        text(&output.stdout),
        text(&output.stderr),
    )
}
