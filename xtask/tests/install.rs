//! `cargo xtask install` and `cargo xtask config …` as a user runs them: the real binary, a private HOME
//! and XDG_CONFIG_HOME, moto_server for AWS and the Benchling simulator, all on 127.0.0.1.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Output};

use benchling::sim::{AppCredentials, Simulator};
use config::aws::{Aws, block_on};
use moto::Moto;
use secret::SecretString;
use serde_json::Value;

struct Env {
    home: tempfile::TempDir,
    moto: Moto,
    sim: Simulator,
    queue_url: String,
}

impl Env {
    fn start() -> Env {
        let moto = Moto::start().unwrap();
        let sim = Simulator::start(AppCredentials {
            client_id: "client-1".into(),
            client_secret: SecretString::new("s3cr3t-value"),
        })
        .unwrap();
        let queue_url = block_on(async {
            let aws = Aws::emulator(&moto.endpoint(), moto::REGION).await;
            aws.s3()
                .create_bucket()
                .bucket("acme-packages")
                .send()
                .await
                .unwrap();
            aws.sqs()
                .create_queue()
                .queue_name("packager")
                .send()
                .await
                .unwrap()
                .queue_url()
                .unwrap()
                .to_owned()
        });
        Env {
            home: tempfile::tempdir().unwrap(),
            moto,
            sim,
            queue_url,
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let home = self.home.path();
        let mut command = Command::new(env!("CARGO_BIN_EXE_xtask-aws"));
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", home)
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("XDG_DATA_HOME", home.join("data"))
            .env("AWS_CONFIG_FILE", home.join("aws-config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", home.join("aws-credentials"))
            .env("AWS_ENDPOINT_URL", self.moto.endpoint())
            .env("AWS_ACCESS_KEY_ID", moto::ACCESS_KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", moto::SECRET_ACCESS_KEY)
            .env("AWS_REGION", moto::REGION)
            .env("BENCHLING_BASE_URL", self.sim.base_url());
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    fn sets(&self) -> Vec<String> {
        [
            "benchling.tenant=https://acme.benchling.com",
            "benchling.clientId=client-1",
            "benchling.appDefinitionId=appdef_1",
            // A closed loopback port: inference finds no catalog, and nothing leaves this machine.
            "quilt.catalog=127.0.0.1:9",
            "quilt.region=us-east-1",
            "quilt.database=acme_db",
            "packages.bucket=acme-packages",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([format!("quilt.queueUrl={}", self.queue_url)])
        .collect()
    }

    /// `install [FLAGS] --set FIELD=VALUE …` for every value of `sets` that `keep` accepts.
    fn install_args(&self, flags: &[&str], keep: impl Fn(&str) -> bool) -> Vec<String> {
        let sets = self
            .sets()
            .into_iter()
            .filter(|s| keep(s))
            .flat_map(|s| ["--set".to_owned(), s]);
        ["install"]
            .iter()
            .chain(flags)
            .map(|s| s.to_string())
            .chain(sets)
            .collect()
    }

    fn install_yes(&self) -> Output {
        let args = self.install_args(&["--yes"], |_| true);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.command(&args)
            .env("BENCHLING_CLIENT_SECRET", "s3cr3t-value")
            .output()
            .unwrap()
    }

    fn config_path(&self) -> PathBuf {
        self.home
            .path()
            .join("config/benchling-webhook/default/config.json")
    }

    fn secret_versions(&self) -> usize {
        block_on(async {
            let aws = Aws::emulator(&self.moto.endpoint(), moto::REGION).await;
            let id = "quiltdata/benchling-webhook/default/acme";
            aws.secrets()
                .list_secret_version_ids()
                .secret_id(id)
                .send()
                .await
                .unwrap()
                .versions()
                .len()
        })
    }
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn install_yes_lists_what_is_missing_and_writes_nothing() {
    let env = Env::start();
    let output = env.run(&["install", "--yes", "--set", "benchling.tenant=acme"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let shown = text(&output);
    assert!(
        shown.contains("missing: benchling.clientId (--set benchling.clientId=VALUE)"),
        "{shown}"
    );
    assert!(
        shown.contains("benchling.clientSecret (set BENCHLING_CLIENT_SECRET)"),
        "{shown}"
    );
    assert!(!env.config_path().exists());
}

#[test]
fn a_secret_on_the_command_line_is_refused() {
    let env = Env::start();
    let output = env.run(&[
        "install",
        "--yes",
        "--set",
        "benchling.clientSecret=s3cr3t-value",
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output).contains("a secret on the command line shows in the process list"),
        "{}",
        text(&output)
    );
}

#[test]
fn install_yes_stores_the_secret_in_aws_and_a_private_profile_without_it() {
    let env = Env::start();
    let output = env.install_yes();
    assert!(output.status.success(), "{}", text(&output));
    let shown = text(&output);
    assert!(
        !shown.contains("s3cr3t-value"),
        "the secret was printed:\n{shown}"
    );

    let path = env.config_path();
    let saved = std::fs::read_to_string(&path).unwrap();
    assert!(
        !saved.contains("s3cr3t-value"),
        "the secret reached the disk"
    );
    let saved: Value = serde_json::from_str(&saved).unwrap();
    assert_eq!(saved["benchling"]["tenant"], "acme");
    let arn = saved["benchling"]["secretArn"].as_str().unwrap();
    assert!(arn.starts_with("arn:aws:secretsmanager:us-east-1:123456789012:secret:quiltdata/benchling-webhook/default/acme"), "{arn}");
    assert_eq!(saved["deployment"]["region"], "us-east-1");
    assert_eq!(saved["_metadata"]["source"], "wizard");
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o700
    );
    assert_eq!(env.secret_versions(), 1);

    // Again, with nothing given: every value comes from the profile, the secret from AWS; nothing is written to AWS.
    let again = env.run(&["install", "--yes"]);
    assert!(again.status.success(), "{}", text(&again));
    assert!(text(&again).contains(": up to date"), "{}", text(&again));
    assert_eq!(env.secret_versions(), 1);
}

#[test]
fn health_reports_healthy_then_degraded_with_exit_codes() {
    let env = Env::start();
    assert!(env.install_yes().status.success());
    let healthy = env.run(&["config", "health"]);
    assert_eq!(healthy.status.code(), Some(0), "{}", text(&healthy));
    assert_eq!(
        String::from_utf8_lossy(&healthy.stdout)
            .lines()
            .filter(|l| l.starts_with('✓'))
            .count(),
        5
    );

    let mut profile: Value =
        serde_json::from_str(&std::fs::read_to_string(env.config_path()).unwrap()).unwrap();
    profile["logging"]["level"] = "DEBUG".into();
    std::fs::write(env.config_path(), profile.to_string()).unwrap();
    let degraded = env.run(&["config", "health", "--json"]);
    assert_eq!(degraded.status.code(), Some(2), "{}", text(&degraded));
    let report: Value = serde_json::from_slice(&degraded.stdout).unwrap();
    assert_eq!(report["status"], "degraded");

    let dry = env.run(&["config", "sync-secrets", "--dry-run"]);
    assert!(
        text(&dry).contains("would be updated (log_level: \"INFO\" → \"DEBUG\")"),
        "{}",
        text(&dry)
    );
    assert_eq!(env.secret_versions(), 1, "a dry run writes nothing");
    let synced = env.run(&["config", "sync-secrets"]);
    assert!(synced.status.success(), "{}", text(&synced));
    assert_eq!(env.secret_versions(), 2);
    assert_eq!(env.run(&["config", "health"]).status.code(), Some(0));
}

#[test]
fn show_redacts_a_plaintext_secret() {
    let env = Env::start();
    std::fs::create_dir_all(env.config_path().parent().unwrap()).unwrap();
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../crates/config/tests/fixtures/upstream-config/config-v0.7.0-minimal.json"
    );
    std::fs::copy(fixture, env.config_path()).unwrap();
    for args in [&["config", "show"][..], &["config", "show", "--json"][..]] {
        let output = env.run(args);
        assert!(output.status.success(), "{}", text(&output));
        assert!(!text(&output).contains("secret_test"), "{}", text(&output));
        assert!(text(&output).contains("<redacted>"));
    }
}

#[test]
fn the_wizard_asks_through_a_terminal_and_explains_a_refused_answer() {
    let env = Env::start();
    let args = env.install_args(&[], |set| !set.starts_with("benchling.tenant="));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut command = env.command(&args);
    command.env("TERM", "xterm");
    let mut terminal = rexpect::session::spawn_command(command, Some(30_000)).unwrap();

    terminal.exp_string("Benchling tenant").unwrap();
    terminal.send_line("acme corp").unwrap();
    terminal
        .exp_string("expected a Benchling tenant: the `acme` of acme.benchling.com; try again")
        .unwrap();
    terminal.exp_string("Benchling tenant").unwrap();
    terminal.send_line("acme").unwrap();
    terminal.exp_string("client id").unwrap();
    terminal.exp_string("client-1").unwrap();
    terminal.send_line("").unwrap();
    terminal.exp_string("client secret").unwrap();
    terminal.send_line("s3cr3t-value").unwrap();
    for prompt in [
        "app definition id",
        "entry id for remote tests",
        "Quilt catalog host",
        "region of the Quilt stack",
        "Athena database",
        "packager queue URL",
        "bucket for packages",
        "name prefix",
        "metadata key",
        "deploy the webhook to",
        "account id",
        "Log level",
        "allowed to call the webhook",
        "Verify Benchling",
    ] {
        terminal
            .exp_string(prompt)
            .unwrap_or_else(|err| panic!("waiting for {prompt:?}: {err}"));
        terminal.send_line("").unwrap();
    }
    terminal.exp_string("wrote ").unwrap();
    terminal.exp_eof().unwrap();

    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(env.config_path()).unwrap()).unwrap();
    assert_eq!(saved["benchling"]["tenant"], "acme");
    assert_eq!(saved["benchling"]["clientId"], "client-1");
    assert_eq!(saved["logging"]["level"], "INFO");
    assert!(saved["benchling"].get("clientSecret").is_none());
    assert_eq!(env.secret_versions(), 1);
}

#[test]
fn sync_secrets_with_yes_leaves_a_plaintext_profile_byte_for_byte_unchanged() {
    let env = Env::start();
    std::fs::create_dir_all(env.config_path().parent().unwrap()).unwrap();
    let mut profile: Value = serde_json::from_str(include_str!(
        "../../crates/config/tests/fixtures/upstream-config/config-v0.7.0-minimal.json"
    ))
    .unwrap();
    profile["deployment"]["region"] = "us-east-1".into();
    profile["benchling"]["tenant"] = "acme".into();
    std::fs::write(env.config_path(), profile.to_string()).unwrap();
    let before = std::fs::read(env.config_path()).unwrap();

    let output = env.run(&["config", "sync-secrets", "--yes"]);
    assert!(output.status.success(), "{}", text(&output));
    assert!(
        text(&output).contains("unchanged (--yes)"),
        "{}",
        text(&output)
    );
    assert_eq!(std::fs::read(env.config_path()).unwrap(), before);
    assert_eq!(
        env.secret_versions(),
        1,
        "the secret was stored all the same"
    );
}
