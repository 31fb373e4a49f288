//! Profiles of the older tool, from its own test fixtures, in a temporary XDG_CONFIG_HOME.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use config::validate::Severity;
use config::{ConfigBase, Profile, Source, Store};
use serde_json::{Value, json};

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/upstream-config"
);

struct Home {
    _dir: tempfile::TempDir,
    store: Store,
}

impl Home {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let base = ConfigBase::from_xdg_config_home(dir.path());
        Home {
            store: Store::new(base),
            _dir: dir,
        }
    }

    fn base(&self) -> &Path {
        self.store.base().path()
    }

    fn install(&self, profile: &str, fixture: &str) -> PathBuf {
        let dir = self.base().join(profile);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.json");
        std::fs::copy(Path::new(FIXTURES).join(fixture), &path).unwrap();
        path
    }

    fn write(&self, profile: &str, value: Value) {
        let dir = self.base().join(profile);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("config.json"), value.to_string()).unwrap();
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn the_full_fixture_loads_with_every_field_normalised() {
    let home = Home::new();
    home.install("default", "config-v0.7.0.json");
    let profile = home.store.load("default").unwrap();
    assert_eq!(
        profile.quilt.catalog.as_deref(),
        Some("quilt.example.com"),
        "URL reduced to host"
    );
    assert_eq!(profile.benchling.tenant.as_deref(), Some("my-tenant"));
    assert_eq!(profile.security.enable_verification, Some(true));
    assert_eq!(profile.deployment.image_tag.as_deref(), Some("0.7.0"));
    let errors: Vec<_> = config::validate::validate(&profile)
        .into_iter()
        .filter(|p| p.severity == Severity::Error)
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
}

#[test]
fn the_minimal_fixture_loads_and_its_plaintext_secret_is_flagged() {
    let home = Home::new();
    home.install("default", "config-v0.7.0-minimal.json");
    let profile = home.store.load("default").unwrap();
    assert_eq!(
        profile.benchling.client_secret.as_ref().map(|s| s.expose()),
        Some("secret_test")
    );
    let problems = home.store.validate("default").unwrap();
    assert!(
        problems
            .iter()
            .any(|p| p.path == "benchling.clientSecret" && p.severity == Severity::Warning)
    );
}

#[test]
fn the_invalid_fixture_reports_each_missing_field_by_path() {
    let home = Home::new();
    home.install("default", "config-v0.7.0-invalid.json");
    let problems = home.store.validate("default").unwrap();
    let messages: Vec<String> = problems.iter().map(ToString::to_string).collect();
    for expected in [
        "`quilt.database`: expected the Quilt Athena database name, found nothing",
        "`quilt.queueUrl`: expected an SQS queue URL like https://sqs.<region>.amazonaws.com/<account>/<name>, found nothing",
        "`quilt.region`: expected an AWS region like us-east-1, found nothing",
        "`benchling.clientId`: expected the OAuth client id of the Benchling app, found nothing",
        "`benchling.appDefinitionId`: expected the Benchling app definition id, found nothing",
        "`packages.bucket`: expected an S3 bucket name (3-63 of a-z 0-9 . -), found nothing",
        "`deployment.region`: expected an AWS region like us-east-1, found nothing",
    ] {
        assert!(
            messages.iter().any(|m| m == expected),
            "missing {expected:?} in {messages:#?}"
        );
    }
}

#[test]
fn a_profile_inheriting_from_itself_is_reported_with_the_chain() {
    let home = Home::new();
    home.install("dev", "config-v0.7.0-inheritance-circular.json");
    let err = home.store.load("dev").unwrap_err();
    assert_eq!(
        format!("{err:#}"),
        "profile inheritance is circular: dev → dev (fix `_inherits` in one of these profiles)"
    );
}

#[test]
fn a_longer_inheritance_cycle_names_every_profile_in_it() {
    let home = Home::new();
    home.write("a", json!({"_inherits": "b"}));
    home.write("b", json!({"_inherits": "c"}));
    home.write("c", json!({"_inherits": "a"}));
    let err = format!("{:#}", home.store.load("a").unwrap_err());
    assert!(
        err.starts_with("profile inheritance is circular: a → b → c → a"),
        "{err}"
    );
}

#[test]
fn inheritance_merges_objects_and_replaces_arrays() {
    let home = Home::new();
    home.install("default", "config-v0.7.0.json");
    home.write(
        "dev",
        json!({
            "_inherits": "default",
            "deployment": {"imageTag": "dev-latest", "vpc": {"privateSubnetIds": ["subnet-b"]}},
        }),
    );
    let dev = home.store.load("dev").unwrap();
    assert_eq!(dev.deployment.image_tag.as_deref(), Some("dev-latest"));
    assert_eq!(
        dev.deployment.region.as_deref(),
        Some("us-east-1"),
        "inherited"
    );
    assert_eq!(
        dev.quilt.database.as_deref(),
        Some("quilt_catalog"),
        "inherited"
    );
    assert_eq!(
        dev.deployment.vpc.unwrap().private_subnet_ids.unwrap(),
        ["subnet-b"]
    );
}

#[test]
fn inheriting_from_a_missing_profile_names_both() {
    let home = Home::new();
    home.write("dev", json!({"_inherits": "base"}));
    let err = format!("{:#}", home.store.load("dev").unwrap_err());
    assert!(
        err.starts_with("profile `dev` inherits from `base`, which does not exist"),
        "{err}"
    );
}

#[test]
fn a_type_error_names_the_file_and_json_path() {
    let home = Home::new();
    home.write(
        "default",
        json!({"security": {"enableVerification": "sometimes"}}),
    );
    let err = format!("{:#}", home.store.load("default").unwrap_err());
    assert!(err.ends_with(
        "default/config.json: `security.enableVerification`: invalid value: string \"sometimes\", expected true or false"
    ), "{err}");
}

#[test]
fn saving_keeps_unknown_fields_and_old_field_names_and_is_private() {
    let home = Home::new();
    let path = home.install("default", "config-v0.7.0.json");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut profile = home.store.load("default").unwrap();
    profile.deployment.image_tag = Some("0.8.0".into());
    home.store.save("default", &profile, Source::Cli).unwrap();

    let original: Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(FIXTURES).join("config-v0.7.0.json")).unwrap(),
    )
    .unwrap();
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(
        saved["$comment"], original["$comment"],
        "unknown top-level field kept"
    );
    assert_eq!(
        saved["quilt"]["bucket"], original["quilt"]["bucket"],
        "older `quilt.bucket` kept"
    );
    assert_eq!(saved["quilt"]["catalog"], "quilt.example.com");
    assert_eq!(saved["deployment"]["imageTag"], "0.8.0");
    assert_eq!(
        saved["benchling"]["appDefinitionId"],
        original["benchling"]["appDefinitionId"]
    );
    assert_eq!(
        saved["_metadata"]["createdAt"],
        original["_metadata"]["createdAt"]
    );
    assert_ne!(
        saved["_metadata"]["updatedAt"],
        original["_metadata"]["updatedAt"]
    );
    assert_eq!(saved["$schema"], "../config.schema.json");
    assert!(
        home.base().join("config.schema.json").is_file(),
        "the schema $schema points at exists"
    );
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(path.parent().unwrap()), 0o700);
    assert_eq!(mode(home.base()), 0o700);
}

#[test]
fn an_inheriting_profile_is_saved_as_only_its_differences() {
    let home = Home::new();
    home.install("default", "config-v0.7.0.json");
    home.write("dev", json!({"_inherits": "default"}));
    let mut dev = home.store.load("dev").unwrap();
    dev.deployment.image_tag = Some("dev".into());
    let path = home.store.save("dev", &dev, Source::Cli).unwrap();
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(saved["deployment"], json!({"imageTag": "dev"}));
    assert_eq!(saved.get("quilt"), None, "inherited values are not copied");
}

#[test]
fn concurrent_updates_are_all_kept() {
    let home = Home::new();
    home.install("default", "config-v0.7.0.json");
    std::thread::scope(|scope| {
        for i in 0..8 {
            let store = &home.store;
            scope.spawn(move || {
                store
                    .update("default", Source::Cli, |p: &mut Profile| {
                        p.extra.insert(format!("writer{i}"), json!(i));
                    })
                    .unwrap();
            });
        }
    });
    let profile = home.store.load("default").unwrap();
    for i in 0..8 {
        assert_eq!(
            profile.extra.get(&format!("writer{i}")),
            Some(&json!(i)),
            "update {i} lost"
        );
    }
}

#[test]
fn list_shows_inheritance_and_deployments() {
    let home = Home::new();
    home.install("default", "config-v0.7.0.json");
    home.write("dev", json!({"_inherits": "default"}));
    std::fs::write(
        home.base().join("dev/deployments.json"),
        r#"{"active": {"timestamp": "2025-11-04T10:00:00Z"}, "history": []}"#,
    )
    .unwrap();
    std::fs::create_dir_all(home.base().join("not-a-profile")).unwrap();
    let listings = home.store.list().unwrap();
    let summary: Vec<(String, Option<String>, bool)> = listings
        .into_iter()
        .map(|l| (l.name, l.inherits, l.deployed))
        .collect();
    assert_eq!(
        summary,
        [
            ("default".into(), None, false),
            ("dev".into(), Some("default".into()), true)
        ]
    );
}
