use anyhow::bail;
use config::validate::Severity;
use config::{Profile, SecretString, Store};
use serde_json::Value;

use crate::flags::Global;

#[derive(Debug, clap::Args)]
pub struct Config {
    #[command(subcommand)]
    command: ConfigCommand,
}

#[derive(Debug, clap::Subcommand)]
enum ConfigCommand {
    /// Print the profile with what it inherits merged in; secrets are redacted
    Show {
        /// Print JSON for machines
        #[arg(long)]
        json: bool,
    },
    /// List the profiles: which inherits from which, which has a deployment
    List,
    /// Check the profile offline: required fields, formats, file permissions
    Validate,
    /// Print the JSON Schema of config.json (profiles point at a copy beside them)
    Schema,
    /// Move legacy (v0.6) files to the current layout after a backup; with --dry-run, show the plan
    Migrate,
}

impl Config {
    pub fn run(self, global: &Global) -> anyhow::Result<()> {
        match self.command {
            ConfigCommand::Show { json } => show(&open_store()?, &global.profile, json),
            ConfigCommand::List => list(&open_store()?),
            ConfigCommand::Validate => validate(&open_store()?, &global.profile),
            ConfigCommand::Schema => print_json(&config::schema::json_schema()),
            ConfigCommand::Migrate => {
                migrate(&Store::new(config::ConfigBase::from_env()?), global.dry_run)
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
