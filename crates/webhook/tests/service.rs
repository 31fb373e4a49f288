//! The service binary end to end on 127.0.0.1: moto_server for AWS, the Benchling simulator for
//! Benchling, and the real `benchling-webhook` process in between.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use benchling::sim::{AppCredentials, CanvasPatch, Faults, Simulator};
use config::Profile;
use config::aws::Aws;
use moto::Moto;
use secret::SecretString;
use serde_json::{Value, json};

const ENTRY_CREATED: &str = include_str!("../../benchling/fixtures/entry-created.json");
const APP_INSTALLED: &str = include_str!("../../benchling/fixtures/app-installed.json");
const CANVAS_CREATED: &str = include_str!("../../benchling/fixtures/canvas-created.json");

struct World {
    moto: Moto,
    sim: Simulator,
    aws: Aws,
    packager_url: String,
    requests_url: String,
    dead_letter_url: String,
    home: tempfile::TempDir,
}

struct Service {
    child: Child,
    base: String,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl World {
    async fn start() -> World {
        let moto = Moto::start().unwrap();
        let sim = Simulator::start(AppCredentials {
            client_id: "client-1".into(),
            client_secret: SecretString::new("s3cr3t"),
        })
        .unwrap();
        let aws = Aws::emulator(&moto.endpoint(), moto::REGION).await;
        aws.s3()
            .create_bucket()
            .bucket("packages")
            .send()
            .await
            .unwrap();
        let queues = aws
            .create_service_queues("", Duration::from_secs(5))
            .await
            .unwrap();
        let mut profile = Profile::default();
        for (field, value) in [
            ("benchling.tenant", "acme"),
            ("benchling.clientId", "client-1"),
            ("benchling.appDefinitionId", "appdef_test"),
            ("packages.bucket", "packages"),
            ("packages.prefix", "benchling"),
            ("packages.metadataKey", "experiment_id"),
            ("deployment.region", moto::REGION),
        ] {
            config::schema::set_field(&mut profile, field, value).unwrap();
        }
        profile.benchling.client_secret = Some(SecretString::new("s3cr3t"));
        config::secrets::sync(&aws, "default", &profile, false)
            .await
            .unwrap();
        World {
            moto,
            sim,
            aws,
            packager_url: queues.packager,
            requests_url: queues.packaging,
            dead_letter_url: queues.dead_letter,
            home: tempfile::tempdir().unwrap(),
        }
    }

    fn spawn(&self, secret_name: &str) -> Service {
        let port = free_port();
        let home = self.home.path();
        let child = Command::new(env!("CARGO_BIN_EXE_benchling-webhook"))
            .env_clear()
            .env("HOME", home)
            .env("AWS_CONFIG_FILE", home.join("aws-config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", home.join("aws-credentials"))
            .env("AWS_ENDPOINT_URL", self.moto.endpoint())
            .env("AWS_ACCESS_KEY_ID", moto::ACCESS_KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", moto::SECRET_ACCESS_KEY)
            .env("AWS_REGION", moto::REGION)
            .env("BenchlingSecret", secret_name)
            .env("PORT", port.to_string())
            .env("PACKAGER_SQS_URL", &self.packager_url)
            .env("PACKAGING_REQUEST_QUEUE_URL", &self.requests_url)
            .env("QUILT_WEB_HOST", "quilt.example.com")
            .env("BENCHLING_BASE_URL", self.sim.base_url())
            .env("BENCHLING_JWKS_BASE_URL", self.sim.base_url())
            .env("SQS_WAIT_SECONDS", "1")
            .env("RETRY_BASE_SECONDS", "1")
            .env("SECRET_CACHE_SECONDS", "1")
            .env("LOG_FORMAT", "text")
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        Service {
            child,
            base: format!("http://127.0.0.1:{port}"),
        }
    }
}

async fn wait_until_up(service: &Service) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        if reqwest::get(format!("{}/health/live", service.base))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the service did not come up");
}

async fn post(
    service: &Service,
    path: &str,
    body: &[u8],
    headers: &[(&str, String)],
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{}{path}", service.base))
        .body(body.to_vec());
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn signed(world: &World, service: &Service, path: &str, body: &[u8]) -> (u16, Value) {
    let headers: Vec<(&str, String)> = world.sim.signed_headers(body).into_iter().collect();
    post(service, path, body, &headers).await
}

async fn s3_text(aws: &Aws, key: &str) -> Option<String> {
    let object = aws
        .s3()
        .get_object()
        .bucket("packages")
        .key(key)
        .send()
        .await
        .ok()?;
    Some(String::from_utf8(object.body.collect().await.ok()?.to_vec()).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_entry_event_becomes_files_a_package_message_and_a_canvas() {
    let world = World::start().await;
    let service = world.spawn("quiltdata/benchling-webhook/default/acme");
    wait_until_up(&service).await;

    deliver_entry_created(&world, &service).await;
    // The export alone takes a 1 s poll: a package already there would mean the answer waited for the work.
    assert_eq!(
        packaged_entry(&world, Duration::ZERO).await,
        None,
        "answered only after packaging"
    );

    let entry_json = packaged_entry(&world, Duration::from_secs(60))
        .await
        .expect("no entry.json in S3 after 60 s");
    let metadata: Value = serde_json::from_str(&entry_json).unwrap();
    assert_eq!(metadata["package_name"], "benchling/EXP25000008");
    assert_eq!(metadata["entry_id"], "8316d144-745d-4276-a389-f8afc8ff3115");
    assert_eq!(metadata["display_id"], "EXP25000008");
    assert_eq!(metadata["experiment_id"], "EXP25000008");
    assert_eq!(
        metadata["files"]["EXP25000008.pdf"]["s3_key"],
        "benchling/EXP25000008/EXP25000008.pdf"
    );
    assert!(
        s3_text(&world.aws, "benchling/EXP25000008/attachments/notes.txt")
            .await
            .is_some()
    );
    assert!(
        s3_text(&world.aws, "benchling/EXP25000008/README.md")
            .await
            .unwrap()
            .contains("EXP25000008")
    );

    let messages = world
        .aws
        .sqs()
        .receive_message()
        .queue_url(&world.packager_url)
        .wait_time_seconds(5)
        .send()
        .await
        .unwrap();
    let message: Value = serde_json::from_str(messages.messages()[0].body().unwrap()).unwrap();
    assert_eq!(
        message,
        json!({
            "source_prefix": "s3://packages/benchling/EXP25000008/",
            "registry": "packages",
            "package_name": "benchling/EXP25000008",
            "metadata_uri": "entry.json",
            "commit_message": "Benchling v2.entry.created at 2024-06-07T21:46:48.111811+00:00",
        })
    );

    let patches = canvas_patches(&world, 1, Duration::from_secs(10)).await;
    assert_eq!(
        patches[0].canvas_id, "cnvs_pHGVgdN1",
        "the canvas named in the entry's notes"
    );
    assert_shows_the_package(&patches[0]);
}

/// The canvas updates the simulator received, once there are `count` of them or `within` has passed.
async fn canvas_patches(world: &World, count: usize, within: Duration) -> Vec<CanvasPatch> {
    let deadline = Instant::now() + within;
    while world.sim.canvas_patches().len() < count && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let patches = world.sim.canvas_patches();
    assert_eq!(patches.len(), count, "{patches:?}");
    patches
}

/// The package view of the fixture entry: the catalog link and the update button.
fn assert_shows_the_package(patch: &CanvasPatch) {
    let blocks = patch.body["blocks"].to_string();
    assert!(
        blocks.contains("https://quilt.example.com/b/packages/packages/benchling/EXP25000008"),
        "{blocks}"
    );
    assert!(
        blocks.contains("update-package-8316d144-745d-4276-a389-f8afc8ff3115"),
        "{blocks}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_canvas_packages_an_unpublished_entry_and_only_shows_a_published_one() {
    let world = World::start().await;
    let service = world.spawn("quiltdata/benchling-webhook/default/acme");
    wait_until_up(&service).await;
    let open_canvas = async || {
        let (status, body) = signed(&world, &service, "/canvas", CANVAS_CREATED.as_bytes()).await;
        assert_eq!(
            (status, &body["status"]),
            (202, &json!("accepted")),
            "{body}"
        );
    };

    // Quilt has no package of the entry yet: the canvas waits for one to be made.
    open_canvas().await;
    assert!(
        packaged_entry(&world, Duration::from_secs(60))
            .await
            .is_some()
    );
    let patches = canvas_patches(&world, 1, Duration::from_secs(60)).await;
    assert_eq!(
        patches[0].canvas_id, "cnvs_Q4mPJ34a",
        "the canvas of the event"
    );
    assert_eq!(world.sim.exports_started(), 1);

    // Once Quilt has published it (its registry's `latest` pointer), a new canvas shows it as it is.
    world
        .aws
        .s3()
        .put_object()
        .bucket("packages")
        .key(".quilt/named_packages/benchling/EXP25000008/latest")
        .body(b"1220a1b2c3".to_vec().into())
        .send()
        .await
        .unwrap();
    open_canvas().await;
    let patches = canvas_patches(&world, 2, Duration::from_secs(60)).await;
    assert_shows_the_package(&patches[1]);
    assert_eq!(world.sim.exports_started(), 1, "no second export");
    let messages = world
        .aws
        .sqs()
        .receive_message()
        .queue_url(&world.packager_url)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    assert_eq!(
        messages.messages().len(),
        1,
        "Quilt was asked for one package"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_deliveries_get_the_right_status_and_reason() {
    let world = World::start().await;
    let service = world.spawn("quiltdata/benchling-webhook/default/acme");
    wait_until_up(&service).await;
    let body = ENTRY_CREATED.as_bytes();

    let mut tampered: Vec<(&str, String)> = world
        .sim
        .signed_headers(b"another body")
        .into_iter()
        .collect();
    assert_eq!(
        post(&service, "/event", body, &tampered).await,
        (
            403,
            json!({"error": "Forbidden", "reason": "invalid_signature"})
        )
    );
    tampered.retain(|(name, _)| *name != "webhook-signature");
    assert_eq!(
        post(&service, "/event", body, &tampered).await.1["reason"],
        "missing_headers"
    );

    let stale_timestamp = "1000000000".to_owned();
    let stale = vec![
        ("webhook-id", "msg_1".to_owned()),
        ("webhook-timestamp", stale_timestamp.clone()),
        (
            "webhook-signature",
            world.sim.sign("msg_1", &stale_timestamp, body),
        ),
    ];
    assert_eq!(post(&service, "/event", body, &stale).await.0, 403);

    assert_eq!(
        signed(&world, &service, "/event", b"{not json").await.0,
        400
    );
    let unknown = serde_json::to_vec(&json!({"message": {"type": "v2.request.created"}})).unwrap();
    assert_eq!(
        signed(&world, &service, "/event", &unknown).await,
        (
            200,
            json!({"status": "ignored", "type": "v2.request.created"})
        )
    );
    assert_eq!(
        signed(
            &world,
            &service,
            "/prod/lifecycle",
            APP_INSTALLED.as_bytes()
        )
        .await
        .0,
        200
    );

    let oversized = vec![b' '; 1024 * 1024 + 1];
    assert_eq!(signed(&world, &service, "/event", &oversized).await.0, 413);
    let client = reqwest::Client::new();
    assert_eq!(
        client
            .get(format!("{}/event", service.base))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        405
    );
    let missing = client
        .get(format!("{}/nowhere", service.base))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status().as_u16(), 404);
    assert_eq!(missing.json::<Value>().await.unwrap()["error"], "Not Found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_its_secret_the_service_starts_degraded_and_says_why() {
    let world = World::start().await;
    let service = world.spawn("quiltdata/benchling-webhook/default/missing");
    wait_until_up(&service).await;
    let health: Value = reqwest::get(format!("{}/health", service.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["mode"], "degraded");
    assert!(
        health["reason"]
            .as_str()
            .unwrap()
            .contains("does not exist"),
        "{health}"
    );
    let (status, body) = signed(&world, &service, "/event", ENTRY_CREATED.as_bytes()).await;
    assert_eq!(status, 503);
    assert_eq!(body["reason"], "secret_fetch_failed");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("cargo xtask config sync-secrets"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_service_cleanly() {
    let world = World::start().await;
    let mut service = world.spawn("quiltdata/benchling-webhook/default/acme");
    wait_until_up(&service).await;
    let status = terminate(&mut service).await;
    assert!(status.success(), "exit status {status}");
}

/// Delivers the fixture `v2.entry.created`, signed; it must be accepted.
async fn deliver_entry_created(world: &World, service: &Service) {
    let (status, body) = signed(world, service, "/event", ENTRY_CREATED.as_bytes()).await;
    assert_eq!(
        (status, &body["status"]),
        (202, &json!("accepted")),
        "{body}"
    );
}

/// The fixture entry's `entry.json`, once it is in S3 (within `within`).
async fn packaged_entry(world: &World, within: Duration) -> Option<String> {
    wait_for_object(&world.aws, "benchling/EXP25000008/entry.json", within).await
}

/// Sends SIGTERM and waits (at most a minute) for the exit status.
async fn terminate(service: &mut Service) -> std::process::ExitStatus {
    assert!(
        Command::new("kill")
            .args(["-TERM", &service.child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = service.child.try_wait().unwrap() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "still running 60 s after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_for_object(aws: &Aws, key: &str, within: Duration) -> Option<String> {
    // Looks at least once, so a zero wait means "is it there now?".
    let deadline = Instant::now() + within;
    loop {
        if let Some(text) = s3_text(aws, key).await {
            return Some(text);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_burst_and_a_missing_bucket_delay_the_package_but_do_not_lose_it() {
    let world = World::start().await;
    world.sim.set_faults(Faults {
        rate_limit_next: 3,
        ..Faults::default()
    });
    world
        .aws
        .s3()
        .delete_bucket()
        .bucket("packages")
        .send()
        .await
        .unwrap();
    let service = world.spawn("quiltdata/benchling-webhook/default/acme");
    wait_until_up(&service).await;

    deliver_entry_created(&world, &service).await;
    // S3 is "down": the work fails and is retried, the request stays queued.
    assert_eq!(packaged_entry(&world, Duration::from_secs(3)).await, None);
    world
        .aws
        .s3()
        .create_bucket()
        .bucket("packages")
        .send()
        .await
        .unwrap();
    assert!(
        packaged_entry(&world, Duration::from_secs(60))
            .await
            .is_some(),
        "the request was lost: nothing in S3 after the bucket came back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_request_ends_in_the_dead_letter_queue() {
    let world = World::start().await;
    let service = world.spawn("quiltdata/benchling-webhook/default/acme");
    wait_until_up(&service).await;
    let sqs = world.aws.sqs();
    sqs.send_message()
        .queue_url(&world.requests_url)
        .message_body("this is not a packaging request")
        .message_group_id("poison")
        .message_deduplication_id("poison-1")
        .send()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let answer = sqs
            .receive_message()
            .queue_url(&world.dead_letter_url)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        if let Some(message) = answer.messages().first() {
            assert_eq!(message.body(), Some("this is not a packaging request"));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the poison message never reached the dead-letter queue"
        );
    }
    drop(service);
}

/// Writes the Benchling secret with `client_secret`, as `config sync-secrets` would after a rotation.
async fn put_client_secret(world: &World, client_secret: &str) {
    let id = "quiltdata/benchling-webhook/default/acme";
    let stored = world
        .aws
        .secrets()
        .get_secret_value()
        .secret_id(id)
        .send()
        .await
        .unwrap();
    let mut value: Value = serde_json::from_str(stored.secret_string().unwrap()).unwrap();
    value["client_secret"] = client_secret.into();
    world
        .aws
        .secrets()
        .put_secret_value()
        .secret_id(id)
        .secret_string(value.to_string())
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_secret_takes_effect_without_a_restart() {
    let world = World::start().await;
    put_client_secret(&world, "stale-secret").await;
    let service = world.spawn("quiltdata/benchling-webhook/default/acme");
    wait_until_up(&service).await;
    deliver_entry_created(&world, &service).await;
    // Benchling refuses the stale credentials: nothing is packaged.
    assert_eq!(packaged_entry(&world, Duration::from_secs(3)).await, None);
    assert_eq!(world.sim.tokens_issued(), 0);
    put_client_secret(&world, "s3cr3t").await;
    assert!(
        packaged_entry(&world, Duration::from_secs(60))
            .await
            .is_some(),
        "the rotated secret was not picked up"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_the_packaging_job_in_hand() {
    let world = World::start().await;
    // A slow export: the job is still running when SIGTERM arrives.
    world.sim.set_faults(Faults {
        export_polls: Some(3),
        ..Faults::default()
    });
    let mut service = world.spawn("quiltdata/benchling-webhook/default/acme");
    wait_until_up(&service).await;
    deliver_entry_created(&world, &service).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while world.sim.tokens_issued() == 0 {
        assert!(Instant::now() < deadline, "the job never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        packaged_entry(&world, Duration::ZERO).await,
        None,
        "the job is still in progress"
    );
    let status = terminate(&mut service).await;
    assert!(status.success(), "exit status {status}");
    assert!(
        packaged_entry(&world, Duration::ZERO).await.is_some(),
        "the job in hand was abandoned"
    );
}
