//! The API client against the simulator over real HTTP on 127.0.0.1.

use std::io::Read;
use std::time::Duration;

use benchling::client::{Api, Credentials, RetryPolicy, http_client};
use benchling::sim::{
    AppCredentials, FIXTURE_CANVAS_ID, FIXTURE_EVENT_ENTRY_ID, Faults, Simulator,
};
use secret::SecretString;

const ENTRY: &str = "etr_0uKCQZ8f";

fn simulator() -> Simulator {
    Simulator::start(AppCredentials {
        client_id: "app".into(),
        client_secret: SecretString::new("secret"),
    })
    .unwrap()
}

/// Quick retries: the behaviour is the same, the tests are faster.
fn api(sim: &Simulator) -> Api {
    let credentials = Credentials {
        client_id: "app".into(),
        client_secret: SecretString::new("secret"),
    };
    Api::new(http_client(), &sim.base_url(), credentials).with_retry(RetryPolicy {
        attempts: 5,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
    })
}

#[tokio::test]
async fn an_entry_is_read_and_the_token_reused() {
    let sim = simulator();
    let api = api(&sim);
    let entry = api.get_entry(ENTRY).await.unwrap();
    assert_eq!(entry["displayId"], "EXP25000007");
    assert_eq!(
        api.get_entry(FIXTURE_EVENT_ENTRY_ID).await.unwrap()["id"],
        FIXTURE_EVENT_ENTRY_ID
    );
    assert_eq!(sim.tokens_issued(), 1, "one token for both calls");
}

#[tokio::test]
async fn an_unknown_entry_is_a_404_with_benchlings_message_and_no_retry() {
    let sim = simulator();
    let err = api(&sim).get_entry("etr_nope").await.unwrap_err();
    assert_eq!(err.status, Some(404));
    assert_eq!(
        err.to_string(),
        "Benchling GET /api/v2/entries/etr_nope answered HTTP 404: Entry etr_nope not found"
    );
    assert!(!err.transient);
}

#[tokio::test]
async fn an_export_runs_to_a_real_zip() {
    let sim = simulator();
    let api = api(&sim);
    let task = api.start_export(ENTRY).await.unwrap();
    let url = api
        .wait_for_task(&task, Duration::from_millis(5), Duration::from_secs(5))
        .await
        .unwrap();
    let bytes = api.download(&url).await.unwrap();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let names: Vec<String> = archive
        .file_names()
        .map(|name| name.unwrap().into_owned())
        .collect();
    assert_eq!(names, ["EXP25000007.pdf", "attachments/notes.txt"]);
    let mut pdf = String::new();
    archive
        .by_name("EXP25000007.pdf")
        .unwrap()
        .read_to_string(&mut pdf)
        .unwrap();
    assert!(pdf.starts_with("%PDF-"));
}

#[tokio::test]
async fn a_burst_of_429s_is_retried_until_it_passes() {
    let sim = simulator();
    let api = api(&sim);
    sim.set_faults(Faults {
        rate_limit_next: 3,
        ..Faults::default()
    });
    assert_eq!(api.get_entry(ENTRY).await.unwrap()["id"], ENTRY);
}

#[tokio::test]
async fn retries_are_bounded_and_the_error_says_how_many() {
    let sim = simulator();
    let api = api(&sim);
    sim.set_faults(Faults {
        server_error_next: 50,
        ..Faults::default()
    });
    let err = api.get_entry(ENTRY).await.unwrap_err();
    assert_eq!(err.status, Some(503));
    assert!(err.message.ends_with("(after 5 attempts)"), "{err}");
}

#[tokio::test]
async fn refused_credentials_are_not_retried() {
    let sim = simulator();
    sim.set_faults(Faults {
        reject_credentials: true,
        ..Faults::default()
    });
    let err = api(&sim).get_entry(ENTRY).await.unwrap_err();
    assert_eq!((err.status, err.transient), (Some(401), false));
    assert_eq!(sim.tokens_issued(), 0);
}

#[tokio::test]
async fn a_revoked_token_is_renewed_once() {
    let sim = simulator();
    let api = api(&sim);
    api.get_entry(ENTRY).await.unwrap();
    sim.revoke_tokens();
    api.get_entry(ENTRY).await.unwrap();
    assert_eq!(sim.tokens_issued(), 2);
}

#[tokio::test]
async fn a_failed_export_and_a_slow_one_end_with_their_reason() {
    let sim = simulator();
    let api = api(&sim);
    sim.set_faults(Faults {
        fail_exports: true,
        ..Faults::default()
    });
    let task = api.start_export(ENTRY).await.unwrap();
    let err = api
        .wait_for_task(&task, Duration::from_millis(5), Duration::from_secs(5))
        .await
        .unwrap_err();
    assert_eq!(err.message, "export failed: Export failed (simulated)");
    assert!(!err.transient);

    sim.set_faults(Faults {
        export_polls: Some(1000),
        ..Faults::default()
    });
    let task = api.start_export(ENTRY).await.unwrap();
    let err = api
        .wait_for_task(&task, Duration::from_millis(5), Duration::from_millis(50))
        .await
        .unwrap_err();
    assert!(
        err.message.starts_with("export still running after"),
        "{err}"
    );
}

#[tokio::test]
async fn canvas_updates_are_recorded() {
    let sim = simulator();
    let api = api(&sim);
    let canvas = api.get_canvas(FIXTURE_CANVAS_ID).await.unwrap();
    assert_eq!(canvas["resourceId"], FIXTURE_EVENT_ENTRY_ID);
    let blocks = serde_json::json!([{"id": "md", "type": "MARKDOWN", "value": "hello"}]);
    api.patch_canvas(FIXTURE_CANVAS_ID, blocks.clone())
        .await
        .unwrap();
    let patches = sim.canvas_patches();
    assert_eq!(patches.len(), 1);
    assert_eq!(patches[0].canvas_id, FIXTURE_CANVAS_ID);
    assert_eq!(
        patches[0].body,
        serde_json::json!({"blocks": blocks, "enabled": true})
    );
}

/// `POST /_sim/sign?timestamp=T`: signed at T, so valid at T and stale ten minutes later.
#[tokio::test]
async fn sign_at_a_given_time_makes_a_signature_valid_only_then() {
    use benchling::verify::{SignatureHeaders, VerifyError, verify};
    use std::time::UNIX_EPOCH;

    let sim = simulator();
    let at = 1_700_000_000u64;
    let body = br#"{"message":{"type":"v2.entry.created"}}"#;
    let headers: serde_json::Map<String, serde_json::Value> = http_client()
        .post(format!("{}/_sim/sign?timestamp={at}", sim.base_url()))
        .body(body.to_vec())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(headers["webhook-timestamp"], at.to_string());
    let pairs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str().unwrap()))
        .collect();
    let found = SignatureHeaders::find(pairs.iter().copied()).unwrap();
    let then = UNIX_EPOCH + Duration::from_secs(at);
    verify(&found, body, &sim.public_keys(), then).unwrap();
    let later = then + Duration::from_secs(600);
    assert!(matches!(
        verify(&found, body, &sim.public_keys(), later),
        Err(VerifyError::TimestampTooOld)
    ));
}
