//! `health` and `infer` against real servers on 127.0.0.1: moto_server for AWS, the Benchling simulator,
//! and a small HTTP server standing in for the Quilt catalog's `config.json`.

use std::path::PathBuf;

use benchling::sim::{AppCredentials, Simulator};
use config::aws::{Aws, block_on};
use config::health::{self, Status};
use config::infer::{self, Applied};
use config::{Profile, SecretString, secrets};
use moto::Moto;

const MINIMAL: &str = include_str!("fixtures/upstream-config/config-v0.7.0-minimal.json");

/// Serves `/config.json` as a Quilt catalog does, until dropped.
struct Catalog {
    host: String,
    _runtime: tokio::runtime::Runtime,
}

impl Catalog {
    fn start(region: &str) -> Catalog {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let config =
            serde_json::json!({"region": region, "registryUrl": "https://registry.example"});
        let app = axum::Router::new().route(
            "/config.json",
            axum::routing::get(move || async move { axum::Json(config) }),
        );
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let host = listener.local_addr().unwrap().to_string();
        runtime.spawn(async move { axum::serve(listener, app).await });
        Catalog {
            host,
            _runtime: runtime,
        }
    }
}

/// A Quilt-like deployment in moto: package bucket, packager queue, and the Quilt stack.
struct World {
    moto: Moto,
    sim: Simulator,
    catalog: Catalog,
    queue_url: String,
}

impl World {
    fn start() -> World {
        let moto = Moto::start().unwrap();
        let sim = Simulator::start(AppCredentials {
            client_id: "client_test".into(),
            client_secret: SecretString::new("secret_test"),
        })
        .unwrap();
        let catalog = Catalog::start(moto::REGION);
        let queue_url = block_on(async {
            let aws = Aws::emulator(&moto.endpoint(), moto::REGION).await;
            aws.s3()
                .create_bucket()
                .bucket("test-packages")
                .send()
                .await
                .unwrap();
            let queue = aws
                .sqs()
                .create_queue()
                .queue_name("test-queue")
                .send()
                .await
                .unwrap();
            let queue_url = queue.queue_url().unwrap().to_owned();
            let template = serde_json::json!({
                "Resources": {
                    "BucketWritePolicy": {"Type": "AWS::IAM::ManagedPolicy", "Properties": {
                        "PolicyDocument": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"}]}
                    }}
                },
                "Outputs": {
                    "QuiltWebHost": {"Value": catalog.host},
                    "UserAthenaDatabaseName": {"Value": "quilt_test_db"},
                    "PackagerQueueUrl": {"Value": queue_url},
                }
            });
            aws.cloudformation()
                .create_stack()
                .stack_name("quilt-test")
                .template_body(template.to_string())
                .send()
                .await
                .unwrap();
            queue_url
        });
        World {
            moto,
            sim,
            catalog,
            queue_url,
        }
    }

    fn aws(&self) -> Aws {
        block_on(Aws::emulator(&self.moto.endpoint(), moto::REGION))
    }

    /// A complete profile for this world, its secret synced.
    fn profile(&self) -> Profile {
        let mut profile: Profile = serde_json::from_str(MINIMAL).unwrap();
        profile.quilt.region = Some(moto::REGION.into());
        profile.quilt.queue_url = Some(self.queue_url.clone());
        profile.deployment.region = Some(moto::REGION.into());
        profile.deployment.account = Some(moto::ACCOUNT_ID.into());
        block_on(secrets::sync(&self.aws(), "default", &profile, false)).unwrap();
        profile
    }

    fn health(&self, profile: &Profile) -> Vec<health::Check> {
        block_on(health::check(
            &self.aws(),
            "default",
            profile,
            Some(&self.sim.base_url()),
        ))
    }
}

fn status_of(checks: &[health::Check], name: &str) -> (Status, String) {
    let check = checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no check {name}"));
    (check.status, check.detail.clone())
}

#[test]
fn a_complete_deployment_is_healthy() {
    let world = World::start();
    let checks = world.health(&world.profile());
    for check in &checks {
        assert_eq!(check.status, Status::Ok, "{}: {}", check.name, check.detail);
    }
    assert_eq!(health::overall(&checks), Status::Ok);
    assert_eq!(
        world.sim.tokens_issued(),
        1,
        "the Benchling check asked for a token"
    );
    assert!(
        status_of(&checks, "package bucket")
            .1
            .contains("exists, is listable, in us-east-1")
    );
}

#[test]
fn a_secret_that_differs_from_the_profile_is_a_warning_naming_the_field() {
    let world = World::start();
    let mut profile = world.profile();
    profile.logging.level = Some("DEBUG".into());
    let checks = world.health(&profile);
    let (status, detail) = status_of(&checks, "secret");
    assert_eq!(status, Status::Warn);
    assert!(
        detail.contains("differs from the profile in log_level"),
        "{detail}"
    );
    assert_eq!(health::overall(&checks), Status::Warn);
}

#[test]
fn wrong_credentials_a_missing_bucket_and_a_missing_queue_fail_with_reasons() {
    let world = World::start();
    let mut profile = world.profile();
    profile.benchling.client_secret = Some(SecretString::new("wrong"));
    profile.packages.bucket = Some("no-such-bucket".into());
    profile.quilt.queue_url = Some(format!(
        "{}/{}/missing",
        world.moto.endpoint(),
        moto::ACCOUNT_ID
    ));
    let checks = world.health(&profile);
    let (status, detail) = status_of(&checks, "benchling");
    assert_eq!(status, Status::Fail);
    assert!(
        detail.contains("HTTP 401: Invalid client credentials: check `benchling.clientId`"),
        "{detail}"
    );
    let (status, detail) = status_of(&checks, "package bucket");
    assert_eq!(
        (status, detail.as_str()),
        (
            Status::Fail,
            "s3://no-such-bucket does not exist (check `packages.bucket`)"
        )
    );
    assert_eq!(status_of(&checks, "packager queue").0, Status::Fail);
    assert_eq!(health::overall(&checks), Status::Fail);
    assert!(
        !checks.iter().any(|c| c.detail.contains("wrong")),
        "a secret in the output"
    );
}

#[test]
fn a_missing_secret_fails_and_says_to_sync() {
    let world = World::start();
    let mut profile = world.profile();
    profile.benchling.tenant = Some("other-tenant".into());
    let (status, detail) = status_of(&world.health(&profile), "secret");
    assert_eq!(status, Status::Fail);
    assert!(
        detail.ends_with("does not exist in us-east-1: run `cargo xtask config sync-secrets`"),
        "{detail}"
    );
}

#[test]
fn inference_follows_the_catalog_to_the_stack() {
    let world = World::start();
    let home = tempfile::tempdir().unwrap();
    let quilt_config: PathBuf = home.path().join("Quilt/config.yml");
    std::fs::create_dir_all(quilt_config.parent().unwrap()).unwrap();
    std::fs::write(
        &quilt_config,
        format!("navigator_url: http://{}\n", world.catalog.host),
    )
    .unwrap();

    let mut profile = Profile::default();
    let http = benchling::client::http_client();
    let inference = block_on(infer::infer(
        &world.aws(),
        &profile,
        std::slice::from_ref(&quilt_config),
        &http,
    ));
    assert!(inference.notes.is_empty(), "{:?}", inference.notes);
    let found: Vec<(&str, &str)> = inference
        .findings
        .iter()
        .map(|f| (f.path, f.value.as_str()))
        .collect();
    assert_eq!(found[0], ("quilt.catalog", world.catalog.host.as_str()));
    assert_eq!(found[1], ("quilt.region", "us-east-1"));
    assert!(
        found.contains(&("quilt.database", "quilt_test_db")),
        "{found:?}"
    );
    assert!(
        found.contains(&("quilt.queueUrl", world.queue_url.as_str())),
        "{found:?}"
    );
    let stack_arn = inference
        .findings
        .iter()
        .find(|f| f.path == "quilt.stackArn")
        .unwrap();
    assert!(
        stack_arn
            .value
            .starts_with("arn:aws:cloudformation:us-east-1:123456789012:stack/quilt-test/")
    );
    assert!(stack_arn.source.contains("quilt-test"));
    let policy = inference
        .findings
        .iter()
        .find(|f| f.path == "quilt.bucketWritePolicyArn")
        .unwrap();
    assert!(
        policy
            .value
            .starts_with("arn:aws:iam::123456789012:policy/"),
        "{policy:?}"
    );
    assert!(inference.findings[0].source.contains("config.yml"));

    profile.quilt.database = Some("user-set".into());
    let applied = infer::apply(&mut profile, &inference, false);
    assert!(
        applied
            .iter()
            .any(|(f, a)| f.path == "quilt.database" && *a == Applied::Kept("user-set".into()))
    );
    assert_eq!(
        profile.quilt.queue_url.as_deref(),
        Some(world.queue_url.as_str())
    );
}

#[test]
fn inference_without_a_catalog_says_how_to_give_one() {
    let world = World::start();
    let inference = block_on(infer::infer(
        &world.aws(),
        &Profile::default(),
        &[],
        &benchling::client::http_client(),
    ));
    assert!(inference.findings.is_empty());
    assert!(
        inference.notes[0].contains("`quilt3 config https://your-catalog`"),
        "{:?}",
        inference.notes
    );
}
