//! The legacy (v0.6) layout: `<base>/default.json` (one flat object of strings), `<base>/deploy.json`
//! (deployments by stage), and named profiles in `<base>/profiles/<name>/default.json`. Each becomes a
//! current profile after a timestamped backup of every file read; nothing is deleted, every field lands
//! in the new profile or is listed as kept under `_metadata.legacy`.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::{Map, Value, json};

use crate::deployments::{self, Deployments, Record};
use crate::{Profile, Source, Store};

/// Legacy field → JSON path in the current layout.
const FIELD_MAP: &[(&str, &str)] = &[
    ("quiltCatalog", "quilt.catalog"),
    ("quiltUserBucket", "quilt.bucket"),
    ("quiltDatabase", "quilt.database"),
    ("quiltStackArn", "quilt.stackArn"),
    ("quiltRegion", "quilt.region"),
    ("queueUrl", "quilt.queueUrl"),
    ("benchlingTenant", "benchling.tenant"),
    ("benchlingClientId", "benchling.clientId"),
    ("benchlingClientSecret", "benchling.clientSecret"),
    ("benchlingAppDefinitionId", "benchling.appDefinitionId"),
    ("benchlingTestEntry", "benchling.testEntryId"),
    ("benchlingSecretArn", "benchling.secretArn"),
    ("benchlingPkgBucket", "packages.bucket"),
    ("pkgPrefix", "packages.prefix"),
    ("pkgKey", "packages.metadataKey"),
    ("cdkAccount", "deployment.account"),
    ("cdkRegion", "deployment.region"),
    ("ecrRepositoryName", "deployment.ecrRepository"),
    ("imageTag", "deployment.imageTag"),
    ("logLevel", "logging.level"),
    ("webhookAllowList", "security.webhookAllowList"),
    ("enableWebhookVerification", "security.enableVerification"),
    ("$comment", "$comment"),
];

/// One legacy profile and where its files go.
#[derive(Debug)]
pub struct ProfileMigration {
    pub profile: String,
    pub config_source: PathBuf,
    pub deploy_source: Option<PathBuf>,
    /// (legacy field, where it lands): field names only, values may be secrets.
    pub fields: Vec<(String, String)>,
    config: Value,
    deployments: Option<Deployments>,
}

#[derive(Debug)]
pub struct Plan {
    pub backup_dir: PathBuf,
    pub profiles: Vec<ProfileMigration>,
}

impl Store {
    /// What migrating the legacy files would do; `None` when there is nothing left to migrate (no legacy
    /// file, or each one's profile exists in the current layout already).
    pub fn migration_plan(&self) -> anyhow::Result<Option<Plan>> {
        let base = self.base().path();
        let mut sources = vec![(
            "default".to_owned(),
            base.join("default.json"),
            base.join("deploy.json"),
        )];
        if let Ok(entries) = std::fs::read_dir(base.join("profiles")) {
            for entry in entries {
                let dir = entry?.path();
                if let Some(name) = dir.file_name().and_then(|n| n.to_str()) {
                    sources.push((
                        name.to_owned(),
                        dir.join("default.json"),
                        dir.join("deploy.json"),
                    ));
                }
            }
        }
        let mut profiles = Vec::new();
        for (profile, config_source, deploy_source) in sources {
            if !config_source.is_file() || self.exists(&profile) {
                continue;
            }
            self.base().profile_dir(&profile)?;
            let legacy = crate::store::read_json(&config_source)?;
            let legacy = legacy.as_object().with_context(|| {
                format!(
                    "{}: expected a JSON object of settings",
                    config_source.display()
                )
            })?;
            let (config, fields) = convert_config(legacy);
            let deploy_source = deploy_source.is_file().then_some(deploy_source);
            let deployments = deploy_source.as_deref().map(convert_deploy).transpose()?;
            profiles.push(ProfileMigration {
                profile,
                config_source,
                deploy_source,
                fields,
                config,
                deployments,
            });
        }
        profiles.sort_by(|a, b| a.profile.cmp(&b.profile));
        let stamp = crate::now_rfc3339().replace(':', "-");
        Ok((!profiles.is_empty()).then(|| Plan {
            backup_dir: base.join("backups").join(stamp),
            profiles,
        }))
    }

    /// Migrates on first use: what was migrated, if anything.
    pub fn migrate_if_needed(&self) -> anyhow::Result<Option<Plan>> {
        let plan = self.migration_plan()?;
        if let Some(plan) = &plan {
            self.migrate(plan)?;
        }
        Ok(plan)
    }

    /// Backs up every file the plan reads, then writes the current-layout profiles.
    pub fn migrate(&self, plan: &Plan) -> anyhow::Result<()> {
        for migration in &plan.profiles {
            for source in std::iter::once(&migration.config_source).chain(&migration.deploy_source)
            {
                backup(self.base().path(), source, &plan.backup_dir)?;
            }
        }
        for migration in &plan.profiles {
            let profile: Profile =
                serde_json::from_value(migration.config.clone()).with_context(|| {
                    format!(
                        "{}: a field has a value of the wrong type",
                        migration.config_source.display()
                    )
                })?;
            self.save(&migration.profile, &profile, Source::Cli)?;
            if let Some(deployments) = &migration.deployments {
                let path = self
                    .base()
                    .profile_dir(&migration.profile)?
                    .join("deployments.json");
                deployments::write(&path, deployments)?;
            }
        }
        Ok(())
    }
}

fn backup(base: &Path, source: &Path, backup_dir: &Path) -> anyhow::Result<()> {
    let relative = source.strip_prefix(base).unwrap_or(source);
    let target = backup_dir.join(relative);
    let contents =
        std::fs::read(source).with_context(|| format!("reading {}", source.display()))?;
    crate::fsutil::write_atomic(&target, &contents)
        .with_context(|| format!("backing up {}", source.display()))
}

fn convert_config(legacy: &Map<String, Value>) -> (Value, Vec<(String, String)>) {
    let mut config = json!({});
    let mut fields = Vec::new();
    let mut kept = Map::new();
    for (key, value) in legacy {
        let target = match key.as_str() {
            "queueArn" if !legacy.contains_key("queueUrl") => {
                let url = value.as_str().and_then(queue_url_from_arn);
                url.map(|url| ("quilt.queueUrl", Value::String(url)))
            }
            _ => FIELD_MAP
                .iter()
                .find(|(from, _)| from == key)
                .map(|(_, to)| (*to, value.clone())),
        };
        match target {
            Some((path, value)) => {
                set_path(&mut config, path, value);
                fields.push((key.clone(), path.to_owned()));
            }
            None => {
                kept.insert(key.clone(), value.clone());
                fields.push((
                    key.clone(),
                    "_metadata.legacy (no current equivalent)".to_owned(),
                ));
            }
        }
    }
    let metadata = json!({ "migratedFrom": "v0.6 layout", "legacy": kept });
    set_path(&mut config, "_metadata", metadata);
    (config, fields)
}

fn set_path(root: &mut Value, path: &str, value: Value) {
    let mut node = root;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        let object = node.as_object_mut().expect("paths run through objects");
        if parts.peek().is_none() {
            object.insert(part.to_owned(), value);
            return;
        }
        node = object.entry(part).or_insert_with(|| json!({}));
    }
}

/// `arn:aws:sqs:us-east-1:123456789012:name` → `https://sqs.us-east-1.amazonaws.com/123456789012/name`.
fn queue_url_from_arn(arn: &str) -> Option<String> {
    let parts: Vec<&str> = arn.split(':').collect();
    match parts.as_slice() {
        ["arn", _, "sqs", region, account, name] => Some(format!(
            "https://sqs.{region}.amazonaws.com/{account}/{name}"
        )),
        _ => None,
    }
}

/// `{"dev": {webhookEndpoint, stackArn, deployedAt, imageTag}, "prod": {...}}` → deployments.json.
fn convert_deploy(path: &Path) -> anyhow::Result<Deployments> {
    let legacy = crate::store::read_json(path)?;
    let stages = legacy
        .as_object()
        .with_context(|| format!("{}: expected an object keyed by stage", path.display()))?;
    let mut history: Vec<Record> = stages
        .iter()
        .filter_map(|(stage, entry)| entry.as_object().map(|entry| (stage, entry)))
        .map(|(stage, entry)| {
            let text = |key: &str| entry.get(key).and_then(Value::as_str).map(str::to_owned);
            let stack_arn = text("stackArn");
            let arn_parts: Vec<String> = stack_arn
                .as_deref()
                .unwrap_or_default()
                .split(':')
                .map(str::to_owned)
                .collect();
            let mut extra = Map::new();
            extra.insert("stage".into(), Value::String(stage.clone()));
            for (key, value) in entry {
                if !matches!(key.as_str(), "webhookEndpoint" | "deployedAt" | "imageTag") {
                    extra.insert(key.clone(), value.clone());
                }
            }
            Record {
                timestamp: text("deployedAt"),
                image_tag: text("imageTag"),
                endpoint: text("webhookEndpoint"),
                stack_name: arn_parts
                    .get(5)
                    .and_then(|r| r.split('/').nth(1))
                    .map(str::to_owned),
                region: arn_parts.get(3).cloned(),
                deployed_by: None,
                commit: None,
                extra,
            }
        })
        .collect();
    deployments::newest_first(&mut history);
    Ok(Deployments {
        active: history.first().cloned(),
        history,
    })
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "back up the legacy files to {}",
            self.backup_dir.display()
        )?;
        for m in &self.profiles {
            writeln!(
                f,
                "profile `{}`: {} → {}/config.json",
                m.profile,
                m.config_source.display(),
                m.profile
            )?;
            for (from, to) in &m.fields {
                writeln!(f, "    {from} → {to}")?;
            }
            if let (Some(source), Some(d)) = (&m.deploy_source, &m.deployments) {
                writeln!(
                    f,
                    "  {} → {}/deployments.json ({} deployments)",
                    source.display(),
                    m.profile,
                    d.history.len()
                )?;
            }
        }
        write!(
            f,
            "nothing is deleted: the legacy files stay where they are"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_arn_becomes_a_queue_url() {
        assert_eq!(
            queue_url_from_arn("arn:aws:sqs:us-east-1:123456789012:quilt-queue").as_deref(),
            Some("https://sqs.us-east-1.amazonaws.com/123456789012/quilt-queue")
        );
        assert_eq!(queue_url_from_arn("not-an-arn"), None);
    }

    #[test]
    fn unknown_legacy_fields_are_kept_and_reported() {
        let legacy = json!({"benchlingTenant": "acme", "awsProfile": "work"});
        let (config, fields) = convert_config(legacy.as_object().unwrap());
        assert_eq!(config["benchling"]["tenant"], "acme");
        assert_eq!(config["_metadata"]["legacy"]["awsProfile"], "work");
        assert!(fields.contains(&(
            "awsProfile".into(),
            "_metadata.legacy (no current equivalent)".into()
        )));
    }
}
