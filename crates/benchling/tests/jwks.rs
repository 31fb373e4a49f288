//! The JWKS cache against the simulator over real HTTP on 127.0.0.1.

use std::time::Duration;

use benchling::client::http_client;
use benchling::jwks::JwksCache;
use benchling::sim::{AppCredentials, Simulator};
use benchling::verify::{SignatureHeaders, VerifyError};
use secret::SecretString;

const BODY: &[u8] = br#"{"message":{"type":"v2.entry.created","resourceId":"etr_1"}}"#;

fn simulator() -> Simulator {
    Simulator::start(AppCredentials {
        client_id: "c".into(),
        client_secret: SecretString::new("s"),
    })
    .unwrap()
}

async fn verify(cache: &JwksCache, sim: &Simulator, body: &[u8]) -> Result<(), VerifyError> {
    let headers = sim.signed_headers(body);
    let found = SignatureHeaders::find(headers.iter().map(|(k, v)| (*k, v.as_str()))).unwrap();
    cache.verify("appdef_1", &found, BODY).await
}

#[tokio::test]
async fn keys_are_fetched_once_and_reused() {
    let sim = simulator();
    let cache = JwksCache::new(http_client(), &sim.base_url());
    for _ in 0..5 {
        verify(&cache, &sim, BODY).await.unwrap();
    }
    assert_eq!(sim.jwks_fetches(), 1);
}

#[tokio::test]
async fn a_rotated_key_is_picked_up_by_refetching_after_a_failure() {
    let sim = simulator();
    let cache = JwksCache::new(http_client(), &sim.base_url());
    verify(&cache, &sim, BODY).await.unwrap();
    sim.rotate_key();
    verify(&cache, &sim, BODY)
        .await
        .expect("the new key is fetched when the cached ones fail");
    assert_eq!(sim.jwks_fetches(), 2);
}

#[tokio::test]
async fn failed_signatures_refetch_at_most_once_per_interval() {
    let sim = simulator();
    let cache = JwksCache::new(http_client(), &sim.base_url());
    verify(&cache, &sim, BODY).await.unwrap();
    for _ in 0..10 {
        // Signed over another body than the one verified: never matches.
        assert_eq!(
            verify(&cache, &sim, b"forged").await,
            Err(VerifyError::NoMatchingSignature)
        );
    }
    assert_eq!(
        sim.jwks_fetches(),
        2,
        "one fetch, then one refetch for all ten failures"
    );
}

#[tokio::test]
async fn keys_older_than_the_maximum_age_are_refreshed() {
    let sim = simulator();
    let cache = JwksCache::new(http_client(), &sim.base_url())
        .with_intervals(Duration::ZERO, Duration::from_secs(60));
    verify(&cache, &sim, BODY).await.unwrap();
    verify(&cache, &sim, BODY).await.unwrap();
    assert_eq!(sim.jwks_fetches(), 2);
}

#[tokio::test]
async fn an_unreachable_jwks_is_its_own_error() {
    let sim = simulator();
    let cache = JwksCache::new(http_client(), "http://127.0.0.1:9");
    let err = verify(&cache, &sim, BODY).await.unwrap_err();
    assert!(matches!(err, VerifyError::Jwks(_)), "{err}");
    assert_eq!(err.reason(), "jwks_fetch_failed");
}
