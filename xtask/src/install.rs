use std::io::IsTerminal;

use anyhow::{Context, bail};
use config::aws::block_on;
use config::health::Status;
use config::secrets::{self, SecretLocation};
use config::wizard::{self, Asker};
use config::{Profile, SecretString, Source};

use crate::Exit;
use crate::config::{aws_for, describe_sync, infer, open_store, print_checks, redacted};
use crate::flags::{self, Global};

/// Read instead of a flag, so the secret never shows in the process list.
const CLIENT_SECRET_ENV: &str = "BENCHLING_CLIENT_SECRET";

impl flags::Install {
    pub fn run(self, global: &Global) -> anyhow::Result<()> {
        for problem in crate::doctor::problems(&["aws credentials"]) {
            eprintln!("{problem}");
        }
        let name = global.profile.as_str();
        let store = open_store()?;
        store.ensure_base()?;
        let existed = store.exists(name);
        let mut profile = if existed {
            store.load(name)?
        } else {
            Profile::default()
        };
        let plaintext_on_disk = existed && store.load_own(name)?.benchling.client_secret.is_some();
        for set in &self.sets {
            apply_set(&mut profile, set)?;
        }
        if let Ok(secret) = std::env::var(CLIENT_SECRET_ENV) {
            profile.benchling.client_secret = Some(SecretString::new(secret));
        }

        let aws = aws_for(&profile);
        println!("looking for the Quilt stack:");
        infer(&aws, &mut profile, false)?;

        let interactive = !global.yes && std::io::stdin().is_terminal();
        if !global.yes && !interactive {
            eprintln!(
                "no terminal to ask on: using the existing, inferred and --set values (as with --yes)"
            );
        }
        let secret_in_aws =
            profile.benchling.client_secret.is_none() && secret_exists(&aws, name, &profile);
        let mut terminal = wizard::Terminal;
        let asker = interactive.then_some(&mut terminal as &mut dyn Asker);
        let missing = wizard::run(&mut profile, asker, secret_in_aws)?;
        if !missing.is_empty() {
            let hints: Vec<String> = missing
                .iter()
                .map(|path| match *path {
                    "benchling.clientSecret" => format!("{path} (set {CLIENT_SECRET_ENV})"),
                    _ => format!("{path} (--set {path}=VALUE)"),
                })
                .collect();
            bail!(
                "profile `{name}` is incomplete, nothing was written; missing: {}",
                hints.join(", ")
            );
        }
        let errors: Vec<String> = config::validate::validate(&profile)
            .into_iter()
            .filter(|p| p.severity == config::validate::Severity::Error)
            .map(|p| p.to_string())
            .collect();
        if !errors.is_empty() {
            bail!(
                "profile `{name}` is not valid, nothing was written:\n  {}",
                errors.join("\n  ")
            );
        }

        let client_secret = match profile.benchling.client_secret.clone() {
            Some(secret) => Some(secret),
            None => stored_client_secret(&aws, name, &profile)?,
        };
        let credentials = block_on(config::health::benchling(&profile, client_secret, None));
        if credentials.status != Status::Ok {
            bail!(
                "Benchling refused the app credentials, nothing was written: {}",
                credentials.detail
            );
        }

        let outcome = block_on(secrets::sync(&aws, name, &profile, global.dry_run))?;
        println!("secret: {}", describe_sync(&outcome, global.dry_run));
        if let Some(arn) = outcome.arn() {
            profile.benchling.secret_arn = Some(arn.to_owned());
        }
        // The secret lives in Secrets Manager now. One typed in here never reaches the disk; one that was
        // already on disk goes only if the user agrees.
        if !plaintext_on_disk || remove_plaintext(global)? {
            profile.benchling.client_secret = None;
        }

        if global.dry_run {
            println!(
                "(dry run) would write profile `{name}`:\n{}",
                serde_json::to_string_pretty(&redacted(&profile))?
            );
            return Ok(());
        }
        let path = store.save(name, &profile, Source::Wizard)?;
        println!("wrote {}", path.display());

        let checks = block_on(config::health::check(&aws, name, &profile, None));
        print_checks(&checks);
        println!(
            "\nnext:\n  cargo xtask config show --profile {name}     review the profile\n  cargo xtask config health --profile {name}   run these checks again"
        );
        match config::health::overall(&checks) {
            Status::Fail => Err(Exit {
                code: 1,
                message: format!("profile `{name}` saved, but a check failed (above)"),
            }
            .into()),
            _ => Ok(()),
        }
    }
}

/// `FIELD=VALUE` from `--set`, applied; errors name the flag.
fn apply_set(profile: &mut Profile, set: &str) -> anyhow::Result<()> {
    let Some((path, value)) = set.split_once('=') else {
        bail!("--set {set}: expected FIELD=VALUE, e.g. --set benchling.tenant=acme");
    };
    if path == "benchling.clientSecret" {
        bail!(
            "--set benchling.clientSecret: a secret on the command line shows in the process list; set {CLIENT_SECRET_ENV} or answer the prompt"
        );
    }
    config::schema::set_field(profile, path.trim(), value.trim())
        .with_context(|| format!("--set {path}"))
}

fn secret_exists(aws: &config::aws::Aws, name: &str, profile: &Profile) -> bool {
    stored_client_secret(aws, name, profile).is_ok_and(|secret| secret.is_some())
}

fn stored_client_secret(
    aws: &config::aws::Aws,
    name: &str,
    profile: &Profile,
) -> anyhow::Result<Option<SecretString>> {
    let location = SecretLocation::of(name, profile, aws.region())?;
    Ok(block_on(secrets::read_current(aws, &location))?.map(|(_, stored)| stored.client_secret))
}

fn remove_plaintext(global: &Global) -> anyhow::Result<bool> {
    if global.yes || !std::io::stdin().is_terminal() {
        println!(
            "kept the plaintext client secret in config.json (--yes does not remove it; run install in a terminal to)"
        );
        return Ok(false);
    }
    wizard::confirm(
        "The client secret is in Secrets Manager now. Remove the plaintext copy from config.json?",
        true,
    )
}
