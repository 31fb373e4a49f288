//! `sync` against a real moto_server on 127.0.0.1.

use aws_sdk_secretsmanager::Client;
use config::aws::{Aws, block_on};
use config::secrets::{self, SyncOutcome};
use config::{Profile, SecretString};
use moto::Moto;
use serde_json::Value;

const MINIMAL: &str = include_str!("fixtures/upstream-config/config-v0.7.0-minimal.json");

fn profile() -> Profile {
    let mut profile: Profile = serde_json::from_str(MINIMAL).unwrap();
    profile.deployment.region = Some(moto::REGION.into());
    profile
}

async fn secret_count(aws: &Aws) -> usize {
    aws.secrets()
        .list_secrets()
        .send()
        .await
        .unwrap()
        .secret_list()
        .len()
}

async fn versions(client: &Client, id: &str) -> usize {
    client
        .list_secret_version_ids()
        .secret_id(id)
        .send()
        .await
        .unwrap()
        .versions()
        .len()
}

#[test]
fn creates_the_complete_tagged_secret_then_writes_nothing_when_unchanged() {
    let moto = Moto::start().unwrap();
    block_on(async {
        let aws = Aws::emulator(&moto.endpoint(), moto::REGION).await;
        let profile = profile();
        let created = secrets::sync(&aws, "default", &profile, false)
            .await
            .unwrap();
        let SyncOutcome::Created { arn: Some(arn) } = &created else {
            panic!("{created:?}")
        };

        let client = aws.secrets();
        let described = client
            .describe_secret()
            .secret_id(arn)
            .send()
            .await
            .unwrap();
        assert_eq!(
            described.name(),
            Some("quiltdata/benchling-webhook/default/test-tenant")
        );
        let tags: Vec<_> = described
            .tags()
            .iter()
            .map(|t| (t.key().unwrap(), t.value().unwrap()))
            .collect();
        assert_eq!(tags, [("ManagedBy", "benchling-webhook")]);

        let stored = client
            .get_secret_value()
            .secret_id(arn)
            .send()
            .await
            .unwrap();
        let stored: Value = serde_json::from_str(stored.secret_string().unwrap()).unwrap();
        let keys: Vec<&str> = stored
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "tenant",
                "client_id",
                "client_secret",
                "app_definition_id",
                "user_bucket",
                "pkg_prefix",
                "pkg_key",
                "log_level",
                "webhook_allow_list",
                "enable_webhook_verification"
            ]
        );
        assert_eq!(stored["client_secret"], "secret_test");
        assert_eq!(stored["enable_webhook_verification"], "true");
        assert_eq!(stored["user_bucket"], "test-packages");

        let again = secrets::sync(&aws, "default", &profile, false)
            .await
            .unwrap();
        assert_eq!(again, SyncOutcome::UpToDate { arn: arn.clone() });
        assert_eq!(
            versions(&client, arn).await,
            1,
            "an unchanged profile writes nothing"
        );
    });
}

#[test]
fn writes_only_what_changed_and_shows_the_secret_only_as_changed() {
    let moto = Moto::start().unwrap();
    block_on(async {
        let aws = Aws::emulator(&moto.endpoint(), moto::REGION).await;
        let mut profile = profile();
        secrets::sync(&aws, "default", &profile, false)
            .await
            .unwrap();
        profile.logging.level = Some("DEBUG".into());
        profile.benchling.client_secret = Some(SecretString::new("rotated-secret"));

        let dry = secrets::sync(&aws, "default", &profile, true)
            .await
            .unwrap();
        let SyncOutcome::Updated { arn, changes } = dry else {
            panic!("{dry:?}")
        };
        assert_eq!(
            changes,
            ["client_secret: changed", "log_level: \"INFO\" → \"DEBUG\""]
        );
        assert_eq!(
            versions(&aws.secrets(), &arn).await,
            1,
            "a dry run writes nothing"
        );

        let written = secrets::sync(&aws, "default", &profile, false)
            .await
            .unwrap();
        assert!(matches!(written, SyncOutcome::Updated { .. }));
        assert_eq!(versions(&aws.secrets(), &arn).await, 2);
        let stored = aws
            .secrets()
            .get_secret_value()
            .secret_id(&arn)
            .send()
            .await
            .unwrap();
        assert!(stored.secret_string().unwrap().contains("rotated-secret"));
    });
}

#[test]
fn a_dry_run_creates_nothing() {
    let moto = Moto::start().unwrap();
    block_on(async {
        let aws = Aws::emulator(&moto.endpoint(), moto::REGION).await;
        let outcome = secrets::sync(&aws, "default", &profile(), true)
            .await
            .unwrap();
        assert_eq!(outcome, SyncOutcome::Created { arn: None });
        assert_eq!(secret_count(&aws).await, 0, "nothing was written");
    });
}

#[test]
fn an_incomplete_profile_writes_no_partial_secret() {
    let moto = Moto::start().unwrap();
    block_on(async {
        let aws = Aws::emulator(&moto.endpoint(), moto::REGION).await;
        let mut profile = profile();
        profile.benchling.client_id = None;
        profile.packages.bucket = None;
        let err = secrets::sync(&aws, "default", &profile, false)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("the profile lacks benchling.clientId, packages.bucket"),
            "{err}"
        );
        assert_eq!(secret_count(&aws).await, 0, "nothing was written");
    });
}

#[test]
fn the_client_secret_already_in_aws_is_kept_when_the_profile_has_only_the_arn() {
    let moto = Moto::start().unwrap();
    block_on(async {
        let aws = Aws::emulator(&moto.endpoint(), moto::REGION).await;
        let mut profile = profile();
        let created = secrets::sync(&aws, "default", &profile, false)
            .await
            .unwrap();
        profile.benchling.secret_arn = created.arn().map(str::to_owned);
        profile.benchling.client_secret = None;
        let outcome = secrets::sync(&aws, "default", &profile, false)
            .await
            .unwrap();
        assert!(
            matches!(outcome, SyncOutcome::UpToDate { .. }),
            "{outcome:?}"
        );
    });
}

#[test]
fn a_secret_scheduled_for_deletion_names_restore_secret() {
    let moto = Moto::start().unwrap();
    block_on(async {
        let aws = Aws::emulator(&moto.endpoint(), moto::REGION).await;
        let profile = profile();
        let created = secrets::sync(&aws, "default", &profile, false)
            .await
            .unwrap();
        let arn = created.arn().unwrap().to_owned();
        aws.secrets()
            .delete_secret()
            .secret_id(&arn)
            .recovery_window_in_days(7)
            .send()
            .await
            .unwrap();
        let err = secrets::sync(&aws, "default", &profile, false)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("scheduled for deletion"), "{err}");
        assert!(err.contains("aws secretsmanager restore-secret --secret-id quiltdata/benchling-webhook/default/test-tenant --region us-east-1"), "{err}");
    });
}

#[test]
fn an_arn_that_does_not_exist_says_to_check_its_region() {
    let moto = Moto::start().unwrap();
    block_on(async {
        let aws = Aws::emulator(&moto.endpoint(), moto::REGION).await;
        let mut profile = profile();
        profile.benchling.secret_arn =
            Some("arn:aws:secretsmanager:eu-west-1:123456789012:secret:gone-AbCdEf".into());
        let err = secrets::sync(&aws, "default", &profile, false)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("does not exist in eu-west-1: check the ARN's region"),
            "{err}"
        );
    });
}

#[test]
fn access_denied_names_the_iam_actions_needed() {
    let (moto, (key, secret)) = Moto::start_with_unprivileged_user().unwrap();
    block_on(async {
        let aws = Aws::emulator_as(&moto.endpoint(), moto::REGION, &key, &secret).await;
        let err = secrets::sync(&aws, "default", &profile(), false)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("access denied to secret quiltdata/benchling-webhook/default/test-tenant in us-east-1"), "{err}");
        assert!(err.contains("secretsmanager:DescribeSecret, GetSecretValue, CreateSecret, PutSecretValue and TagResource"), "{err}");
    });
}
