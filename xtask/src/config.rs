use std::io::IsTerminal;

use anyhow::bail;
use config::aws::{Aws, block_on};
use config::health::Status;
use config::infer::Applied;
use config::secrets::SyncOutcome;
use config::validate::Severity;
use config::{Profile, SecretString, Source, Store};
use serde_json::Value;

use crate::Exit;
use crate::flags::{self, ConfigCommand, Global};

impl flags::Config {
    pub fn run(self, global: &Global) -> anyhow::Result<()> {
        match self.command {
            ConfigCommand::Show { json } => show(&open_store()?, &global.profile, json),
            ConfigCommand::List => list(&open_store()?),
            ConfigCommand::Validate => validate(&open_store()?, &global.profile),
            ConfigCommand::Schema => print_json(&config::schema::json_schema()),
            ConfigCommand::Migrate => {
                migrate(&Store::new(config::ConfigBase::from_env()?), global.dry_run)
            }
            ConfigCommand::SyncSecrets => {
                let store = open_store()?;
                let profile = store.load(&global.profile)?;
                let aws = aws_for(&profile);
                sync_secrets(&store, &aws, &global.profile, &profile, global)
            }
            ConfigCommand::Health { json } => {
                let store = open_store()?;
                let profile = store.load(&global.profile)?;
                health(&aws_for(&profile), &global.profile, &profile, json)
            }
            ConfigCommand::Infer { overwrite } => {
                let store = open_store()?;
                let mut profile = if store.exists(&global.profile) {
                    store.load(&global.profile)?
                } else {
                    Profile::default()
                };
                let changed = infer(&aws_for(&profile), &mut profile, overwrite)?;
                if changed && !global.dry_run {
                    let path = store.save(&global.profile, &profile, Source::Cli)?;
                    println!("wrote {}", path.display());
                } else if changed {
                    println!("(dry run: nothing written)");
                }
                Ok(())
            }
        }
    }
}

/// The profile store, with legacy files migrated on first use.
pub fn open_store() -> anyhow::Result<Store> {
    let store = Store::new(config::ConfigBase::from_env()?);
    if let Some(plan) = store.migrate_if_needed()? {
        eprintln!("migrated the legacy configuration to the current layout:\n{plan}");
    }
    Ok(store)
}

fn print_json(value: &Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// The profile as it may be shown: every secret replaced.
pub fn redacted(profile: &Profile) -> Profile {
    let mut shown = profile.clone();
    if shown.benchling.client_secret.is_some() {
        shown.benchling.client_secret = Some(SecretString::redacted());
    }
    shown
}

fn show(store: &Store, name: &str, json: bool) -> anyhow::Result<()> {
    let profile = redacted(&store.load(name)?);
    let value = serde_json::to_value(&profile)?;
    if json {
        return print_json(&value);
    }
    let inherits = profile
        .inherits
        .as_deref()
        .map(|p| format!(", inherits from `{p}`"))
        .unwrap_or_default();
    println!(
        "profile `{name}` ({}{inherits})",
        store.config_path(name)?.display()
    );
    let mut lines = Vec::new();
    flatten("", &value, &mut lines);
    let width = lines.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (key, value) in lines {
        println!("  {key:width$}  {value}");
    }
    Ok(())
}

fn flatten(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&path, value, out);
            }
        }
        Value::String(s) => out.push((prefix.to_owned(), s.clone())),
        other => out.push((prefix.to_owned(), other.to_string())),
    }
}

fn list(store: &Store) -> anyhow::Result<()> {
    let listings = store.list()?;
    if listings.is_empty() {
        println!(
            "no profiles in {} (`cargo xtask install` creates one)",
            store.base().path().display()
        );
        return Ok(());
    }
    let width = listings
        .iter()
        .map(|l| l.name.len())
        .max()
        .unwrap_or(0)
        .max(7);
    println!("{:width$}  {:12}  deployed", "profile", "inherits");
    for l in listings {
        let inherits = l.inherits.as_deref().unwrap_or("-");
        println!(
            "{:width$}  {inherits:12}  {}",
            l.name,
            if l.deployed { "yes" } else { "no" }
        );
    }
    Ok(())
}

fn validate(store: &Store, name: &str) -> anyhow::Result<()> {
    let problems = store.validate(name)?;
    let path = store.config_path(name)?;
    let errors = problems
        .iter()
        .filter(|p| p.severity == Severity::Error)
        .count();
    if !problems.is_empty() {
        println!("{}:", path.display());
    }
    for problem in &problems {
        let mark = if problem.severity == Severity::Error {
            "✗"
        } else {
            "!"
        };
        println!("{mark} {problem}");
    }
    if errors > 0 {
        bail!(
            "profile `{name}` has {errors} error(s), listed above: fix them in {} or run `cargo xtask install --profile {name}`",
            path.display()
        );
    }
    println!(
        "✓ profile `{name}` is valid ({} warning(s)): {}",
        problems.len() - errors,
        path.display()
    );
    Ok(())
}

fn migrate(store: &Store, dry_run: bool) -> anyhow::Result<()> {
    let Some(plan) = store.migration_plan()? else {
        println!(
            "nothing to migrate: no legacy files without a current profile in {}",
            store.base().path().display()
        );
        return Ok(());
    };
    println!("{plan}");
    if dry_run {
        println!("(dry run: nothing written)");
    } else {
        store.migrate(&plan)?;
        println!("migrated; backups in {}", plan.backup_dir.display());
    }
    Ok(())
}

/// AWS as the environment configures it, in the profile's region unless AWS_REGION says otherwise.
pub fn aws_for(profile: &Profile) -> Aws {
    let region = std::env::var("AWS_REGION")
        .ok()
        .or_else(|| profile.deployment.region.clone())
        .or_else(|| profile.quilt.region.clone());
    block_on(Aws::from_env(region.as_deref()))
}

/// Syncs the secret, records its ARN in the profile and offers to remove a plaintext copy.
pub fn sync_secrets(
    store: &Store,
    aws: &Aws,
    name: &str,
    profile: &Profile,
    global: &Global,
) -> anyhow::Result<()> {
    let outcome = block_on(config::secrets::sync(aws, name, profile, global.dry_run))?;
    println!("secret {}", describe_sync(&outcome, global.dry_run));
    if global.dry_run {
        return Ok(());
    }
    let arn = outcome.arn().map(str::to_owned);
    let record_arn = arn.is_some() && profile.benchling.secret_arn != arn;
    let path = store.config_path(name)?;
    let has_plaintext = store.load_own(name)?.benchling.client_secret.is_some();
    if has_plaintext && global.yes {
        // `--yes` decides nothing about the user's file: it stays exactly as it was.
        println!(
            "left {} unchanged (--yes): it still holds the client secret in plaintext; run without --yes to remove it",
            path.display()
        );
        return Ok(());
    }
    let remove = has_plaintext
        && if std::io::stdin().is_terminal() {
            config::wizard::confirm(
                &format!(
                    "The client secret is in Secrets Manager now. Remove the plaintext copy from {}?",
                    path.display()
                ),
                true,
            )?
        } else {
            println!(
                "{} still holds the client secret in plaintext; run this in a terminal to remove it",
                path.display()
            );
            false
        };
    if record_arn || remove {
        store.update(name, Source::Cli, |own| {
            if record_arn {
                own.benchling.secret_arn = arn;
            }
            if remove {
                own.benchling.client_secret = None;
            }
        })?;
    }
    if remove {
        println!(
            "removed the plaintext client secret from {}",
            path.display()
        );
    }
    Ok(())
}

/// One line for a sync: the secret and what happened (a secret field only ever says `changed`).
pub fn describe_sync(outcome: &SyncOutcome, dry_run: bool) -> String {
    let would = if dry_run { "would be " } else { "" };
    match outcome {
        SyncOutcome::UpToDate { arn } => format!("{arn}: up to date"),
        SyncOutcome::Created { arn } => {
            format!("{}: {would}created", arn.as_deref().unwrap_or("(new)"))
        }
        SyncOutcome::Updated { arn, changes } => {
            format!("{arn}: {would}updated ({})", changes.join(", "))
        }
    }
}

fn health(aws: &Aws, name: &str, profile: &Profile, json: bool) -> anyhow::Result<()> {
    let checks = block_on(config::health::check(aws, name, profile, None));
    let overall = config::health::overall(&checks);
    if json {
        let label = match overall {
            Status::Ok => "healthy",
            Status::Warn => "degraded",
            Status::Fail => "failing",
        };
        print_json(&serde_json::json!({"profile": name, "status": label, "checks": checks}))?;
    } else {
        print_checks(&checks);
    }
    let failing = checks.iter().filter(|c| c.status == Status::Fail).count();
    let warnings = checks.iter().filter(|c| c.status == Status::Warn).count();
    match overall {
        Status::Ok => Ok(()),
        Status::Warn => Err(Exit {
            code: 2,
            message: format!("profile `{name}` is degraded: {warnings} warning(s)"),
        }
        .into()),
        Status::Fail => Err(Exit {
            code: 1,
            message: format!("profile `{name}` is failing: {failing} check(s) failed"),
        }
        .into()),
    }
}

pub fn print_checks(checks: &[config::health::Check]) {
    for check in checks {
        let mark = match check.status {
            Status::Ok => "✓",
            Status::Warn => "!",
            Status::Fail => "✗",
        };
        println!("{mark} {:<15} {}", check.name, check.detail);
    }
}

/// Runs inference into `profile` and says what it found; true if the profile changed.
pub fn infer(aws: &Aws, profile: &mut Profile, overwrite: bool) -> anyhow::Result<bool> {
    let http = benchling::client::http_client();
    let inference = block_on(config::infer::infer(
        aws,
        profile,
        &config::infer::quilt_cli_configs(),
        &http,
    ));
    let mut changed = false;
    for (finding, applied) in config::infer::apply(profile, &inference, overwrite) {
        let line = format!(
            "{} = {}  (from {})",
            finding.path, finding.value, finding.source
        );
        match applied {
            Applied::Set => {
                changed = true;
                println!("  set   {line}");
            }
            Applied::Unchanged => println!("  same  {line}"),
            Applied::Kept(yours) => println!(
                "  kept  {} = {yours}  (found {} in {}; --overwrite replaces)",
                finding.path, finding.value, finding.source
            ),
        }
    }
    for note in &inference.notes {
        println!("  !     {note}");
    }
    Ok(changed)
}
