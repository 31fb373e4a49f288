//! Migrating the older tool's v0.6 files, in a temporary XDG_CONFIG_HOME.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use config::{ConfigBase, Store};
use serde_json::{Value, json};

const LEGACY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/upstream-config/migration-v0.6-default.json"
);

fn legacy_home() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(ConfigBase::from_xdg_config_home(dir.path()));
    let base = store.base().path().to_owned();
    std::fs::create_dir_all(base.join("profiles/staging")).unwrap();
    std::fs::copy(LEGACY, base.join("default.json")).unwrap();
    std::fs::write(base.join("deploy.json"), json!({
        "dev": {"webhookEndpoint": "https://dev.example/prod", "stackArn": "arn:aws:cloudformation:us-east-1:123456789012:stack/BenchlingWebhookStack/1", "deployedAt": "2025-10-01T00:00:00Z", "imageTag": "0.6.1"},
        "prod": {"webhookEndpoint": "https://prod.example/prod", "stackArn": "arn:aws:cloudformation:us-east-1:123456789012:stack/BenchlingWebhookStack/2", "deployedAt": "2025-11-01T00:00:00Z", "imageTag": "0.6.3"}
    }).to_string()).unwrap();
    std::fs::write(base.join("profiles/staging/default.json"), json!({
        "benchlingTenant": "https://staging.benchling.com", "queueArn": "arn:aws:sqs:eu-west-1:123456789012:q", "quiltRegion": "eu-west-1"
    }).to_string()).unwrap();
    (dir, store)
}

fn at<'a>(value: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(value, |node, key| &node[key])
}

#[test]
fn every_legacy_field_lands_in_the_new_profile() {
    let (_dir, store) = legacy_home();
    store
        .migrate_if_needed()
        .unwrap()
        .expect("legacy files are migrated");
    let legacy: Value = serde_json::from_str(&std::fs::read_to_string(LEGACY).unwrap()).unwrap();
    let migrated: Value = serde_json::from_str(
        &std::fs::read_to_string(store.config_path("default").unwrap()).unwrap(),
    )
    .unwrap();
    let expected = [
        ("quiltCatalog", "quilt.catalog", json!("quilt.example.com")),
        (
            "quiltUserBucket",
            "quilt.bucket",
            legacy["quiltUserBucket"].clone(),
        ),
        (
            "quiltDatabase",
            "quilt.database",
            legacy["quiltDatabase"].clone(),
        ),
        (
            "quiltStackArn",
            "quilt.stackArn",
            legacy["quiltStackArn"].clone(),
        ),
        ("quiltRegion", "quilt.region", legacy["quiltRegion"].clone()),
        ("queueUrl", "quilt.queueUrl", legacy["queueUrl"].clone()),
        (
            "benchlingTenant",
            "benchling.tenant",
            legacy["benchlingTenant"].clone(),
        ),
        (
            "benchlingClientId",
            "benchling.clientId",
            legacy["benchlingClientId"].clone(),
        ),
        (
            "benchlingClientSecret",
            "benchling.clientSecret",
            legacy["benchlingClientSecret"].clone(),
        ),
        (
            "benchlingAppDefinitionId",
            "benchling.appDefinitionId",
            legacy["benchlingAppDefinitionId"].clone(),
        ),
        (
            "benchlingPkgBucket",
            "packages.bucket",
            legacy["benchlingPkgBucket"].clone(),
        ),
        (
            "benchlingTestEntry",
            "benchling.testEntryId",
            legacy["benchlingTestEntry"].clone(),
        ),
        (
            "benchlingSecretArn",
            "benchling.secretArn",
            legacy["benchlingSecretArn"].clone(),
        ),
        (
            "cdkAccount",
            "deployment.account",
            legacy["cdkAccount"].clone(),
        ),
        (
            "cdkRegion",
            "deployment.region",
            legacy["cdkRegion"].clone(),
        ),
        ("pkgPrefix", "packages.prefix", legacy["pkgPrefix"].clone()),
        ("pkgKey", "packages.metadataKey", legacy["pkgKey"].clone()),
        ("logLevel", "logging.level", legacy["logLevel"].clone()),
        (
            "webhookAllowList",
            "security.webhookAllowList",
            legacy["webhookAllowList"].clone(),
        ),
        (
            "enableWebhookVerification",
            "security.enableVerification",
            json!(true),
        ),
        (
            "ecrRepositoryName",
            "deployment.ecrRepository",
            legacy["ecrRepositoryName"].clone(),
        ),
        (
            "imageTag",
            "deployment.imageTag",
            legacy["imageTag"].clone(),
        ),
        (
            "awsProfile",
            "_metadata.legacy.awsProfile",
            legacy["awsProfile"].clone(),
        ),
        (
            "createEcrRepository",
            "_metadata.legacy.createEcrRepository",
            legacy["createEcrRepository"].clone(),
        ),
        ("$comment", "$comment", legacy["$comment"].clone()),
    ];
    for (field, path, value) in &expected {
        assert_eq!(at(&migrated, path), value, "{field} → {path}");
    }
    assert_eq!(
        expected.len(),
        legacy.as_object().unwrap().len(),
        "every legacy field is checked"
    );
}

#[test]
fn migration_backs_up_every_file_read_and_deletes_nothing() {
    let (_dir, store) = legacy_home();
    let base = store.base().path().to_owned();
    let plan = store.migrate_if_needed().unwrap().unwrap();
    for file in [
        "default.json",
        "deploy.json",
        "profiles/staging/default.json",
    ] {
        let original = std::fs::read(base.join(file)).expect("legacy file still there");
        assert_eq!(
            std::fs::read(plan.backup_dir.join(file)).unwrap(),
            original,
            "{file} backed up verbatim"
        );
    }
    assert!(plan.backup_dir.starts_with(base.join("backups")));
    for dir in [
        base.join("backups"),
        plan.backup_dir.clone(),
        plan.backup_dir.join("profiles/staging"),
    ] {
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{} holds copies of secrets", dir.display());
    }
}

#[test]
fn named_legacy_profiles_and_deployments_are_migrated() {
    let (_dir, store) = legacy_home();
    store.migrate_if_needed().unwrap();
    let staging = store.load("staging").unwrap();
    assert_eq!(staging.benchling.tenant.as_deref(), Some("staging"));
    assert_eq!(
        staging.quilt.queue_url.as_deref(),
        Some("https://sqs.eu-west-1.amazonaws.com/123456789012/q")
    );
    let deployments =
        config::deployments::read(&store.base().path().join("default/deployments.json"))
            .unwrap()
            .unwrap();
    let active = deployments.active.unwrap();
    assert_eq!(active.image_tag.as_deref(), Some("0.6.3"));
    assert_eq!(
        active.endpoint.as_deref(),
        Some("https://prod.example/prod")
    );
    assert_eq!(active.stack_name.as_deref(), Some("BenchlingWebhookStack"));
    assert_eq!(active.region.as_deref(), Some("us-east-1"));
    assert_eq!(deployments.history.len(), 2);
}

#[test]
fn the_plan_names_fields_but_never_values_and_a_second_run_does_nothing() {
    let (_dir, store) = legacy_home();
    let plan = store.migration_plan().unwrap().unwrap();
    let shown = plan.to_string();
    assert!(
        shown.contains("benchlingClientSecret → benchling.clientSecret"),
        "{shown}"
    );
    assert!(
        !shown.contains("secret_xyz789"),
        "a secret value in the plan: {shown}"
    );
    assert!(
        !Path::new(&store.config_path("default").unwrap()).exists(),
        "planning writes nothing"
    );
    store.migrate(&plan).unwrap();
    assert!(store.migration_plan().unwrap().is_none());
}
