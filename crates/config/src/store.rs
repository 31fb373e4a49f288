//! Reading and writing profiles: `<base>/<name>/config.json`, with `_inherits` resolved.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde_json::{Map, Value};

use crate::fsutil::{self, DirLock};
use crate::schema::{self, LAYOUT_VERSION, Profile, SCHEMA_REF};
use crate::validate::{self, Problem, Severity};
use crate::{ConfigBase, deployments};

/// Who last wrote a profile, as `_metadata.source` records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Wizard,
    Manual,
    Cli,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Source::Wizard => "wizard",
            Source::Manual => "manual",
            Source::Cli => "cli",
        }
    }
}

/// A profile directory as `config list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    pub name: String,
    pub inherits: Option<String>,
    pub deployed: bool,
}

#[derive(Debug, Clone)]
pub struct Store {
    base: ConfigBase,
}

impl Store {
    pub fn new(base: ConfigBase) -> Self {
        Store { base }
    }

    pub fn base(&self) -> &ConfigBase {
        &self.base
    }

    /// Creates the base directory (private) if it is not there yet.
    pub fn ensure_base(&self) -> anyhow::Result<()> {
        fsutil::private_dir(self.base.path())
    }

    pub fn config_path(&self, name: &str) -> anyhow::Result<PathBuf> {
        Ok(self.base.profile_config(name)?)
    }

    pub fn exists(&self, name: &str) -> bool {
        self.config_path(name).is_ok_and(|p| p.is_file())
    }

    /// The profile with everything it inherits merged in.
    pub fn load(&self, name: &str) -> anyhow::Result<Profile> {
        let merged = self.load_merged_value(name, &mut Vec::new())?;
        let path = self.config_path(name)?;
        typed(merged, &path)
    }

    /// `validate` of the merged profile, plus what only the file shows: a plaintext secret others can read.
    pub fn validate(&self, name: &str) -> anyhow::Result<Vec<Problem>> {
        let mut problems = validate::validate(&self.load(name)?);
        let path = self.config_path(name)?;
        let mode = fsutil::mode(&path).unwrap_or(0o600);
        if self.load_own(name)?.benchling.client_secret.is_some() && mode & 0o077 != 0 {
            problems.push(Problem {
                severity: Severity::Error,
                path: "benchling.clientSecret",
                expected: "a file only you can read when it holds a secret (`chmod 600`, or `cargo xtask config sync-secrets`)",
                found: format!("{} with mode {mode:04o}", path.display()),
            });
        }
        Ok(problems)
    }

    /// The profile's own file, without what it inherits.
    pub fn load_own(&self, name: &str) -> anyhow::Result<Profile> {
        let path = self.config_path(name)?;
        typed(read_json(&path)?, &path)
    }

    fn load_merged_value(&self, name: &str, chain: &mut Vec<String>) -> anyhow::Result<Value> {
        if chain.iter().any(|seen| seen == name) {
            chain.push(name.to_owned());
            bail!(
                "profile inheritance is circular: {} (fix `_inherits` in one of these profiles)",
                chain.join(" → ")
            );
        }
        chain.push(name.to_owned());
        let path = self.config_path(name)?;
        if !path.is_file() {
            match chain.as_slice() {
                [_] => bail!(
                    "profile `{name}` does not exist: no {} (create it with `cargo xtask install --profile {name}`)",
                    path.display()
                ),
                [.., child, _] => bail!(
                    "profile `{child}` inherits from `{name}`, which does not exist: no {} (fix `_inherits` in {})",
                    path.display(),
                    self.config_path(child)?.display()
                ),
                [] => unreachable!("the chain holds at least this profile"),
            }
        }
        let own = read_json(&path)?;
        let parent = match own.get("_inherits") {
            None | Some(Value::Null) => return Ok(own),
            Some(Value::String(parent)) => parent.clone(),
            Some(other) => bail!(
                "{}: `_inherits`: expected a profile name, found {other}",
                path.display()
            ),
        };
        let mut merged = self.load_merged_value(&parent, chain)?;
        merge(&mut merged, own);
        Ok(merged)
    }

    /// Writes the profile under the lock, stamping `_metadata`; a profile that inherits keeps only the
    /// values that differ from its parent, so later changes to the parent still reach it.
    pub fn save(&self, name: &str, profile: &Profile, source: Source) -> anyhow::Result<PathBuf> {
        let _lock = DirLock::acquire(&self.base.profile_dir(name)?)?;
        self.save_locked(name, profile, source)
    }

    /// Read-modify-write of the profile's own file under the lock, so concurrent updates are not lost.
    pub fn update(
        &self,
        name: &str,
        source: Source,
        change: impl FnOnce(&mut Profile),
    ) -> anyhow::Result<PathBuf> {
        let _lock = DirLock::acquire(&self.base.profile_dir(name)?)?;
        let mut profile = if self.exists(name) {
            self.load_own(name)?
        } else {
            Profile::default()
        };
        change(&mut profile);
        self.save_locked(name, &profile, source)
    }

    fn save_locked(
        &self,
        name: &str,
        profile: &Profile,
        source: Source,
    ) -> anyhow::Result<PathBuf> {
        let path = self.config_path(name)?;
        let mut profile = profile.clone();
        let now = crate::now_rfc3339();
        let meta = &mut profile.metadata;
        meta.version
            .get_or_insert_with(|| LAYOUT_VERSION.to_owned());
        meta.created_at.get_or_insert_with(|| now.clone());
        meta.updated_at = Some(now);
        meta.source = Some(source.as_str().to_owned());
        profile.schema.get_or_insert_with(|| SCHEMA_REF.to_owned());

        let mut value = serde_json::to_value(&profile).context("serialising the profile")?;
        if let Some(parent) = &profile.inherits {
            // Compared in normal form, or a parent's catalog URL would differ from the child's host.
            let parent_value = self.load_merged_value(parent, &mut vec![name.to_owned()])?;
            let parent_profile = typed(parent_value, &self.config_path(parent)?)?;
            value = overlay(value, &serde_json::to_value(parent_profile)?);
        }
        self.write_schema()?;
        fsutil::write_json_atomic(&path, &value)?;
        Ok(path)
    }

    /// Keeps `<base>/config.schema.json`, which every profile's `$schema` points at, current.
    fn write_schema(&self) -> anyhow::Result<()> {
        let path = self.base.path().join("config.schema.json");
        let schema = schema::json_schema();
        if std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            != Some(schema.clone())
        {
            fsutil::write_json_atomic(&path, &schema)?;
        }
        Ok(())
    }

    /// Every profile directory holding a `config.json`, sorted by name.
    pub fn list(&self) -> anyhow::Result<Vec<Listing>> {
        let entries = match std::fs::read_dir(self.base.path()) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(err) => {
                return Err(err).with_context(|| format!("reading {}", self.base.path().display()));
            }
        };
        let mut listings = Vec::new();
        for entry in entries {
            let entry = entry?;
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if !entry.path().join("config.json").is_file() || self.base.profile_dir(&name).is_err()
            {
                continue;
            }
            let own = read_json(&entry.path().join("config.json"))?;
            let inherits = own
                .get("_inherits")
                .and_then(Value::as_str)
                .map(str::to_owned);
            let deployed = deployments::read(&entry.path().join("deployments.json"))?
                .is_some_and(|d| d.active.is_some());
            listings.push(Listing {
                name,
                inherits,
                deployed,
            });
        }
        listings.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(listings)
    }
}

pub(crate) fn read_json(path: &Path) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}: not valid JSON", path.display()))
}

/// The typed profile, or an error naming the file, the JSON path and what was wrong there.
fn typed(value: Value, path: &Path) -> anyhow::Result<Profile> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let at = err.path().to_string();
        anyhow::anyhow!("{}: `{at}`: {}", path.display(), err.inner())
    })
}

/// Deep merge: objects merge key by key, anything else (arrays too) is replaced by `top`.
pub(crate) fn merge(base: &mut Value, top: Value) {
    match (base, top) {
        (Value::Object(base), Value::Object(top)) => {
            for (key, value) in top {
                match base.get_mut(&key) {
                    Some(existing) => merge(existing, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (base, top) => *base = top,
    }
}

/// What `child` adds to `parent`: the values that differ; `_inherits`, `_metadata` and `$schema` always.
fn overlay(child: Value, parent: &Value) -> Value {
    const ALWAYS: [&str; 3] = ["_inherits", "_metadata", "$schema"];
    fn diff(child: Value, parent: &Value, top_level: bool) -> Option<Value> {
        match (child, parent) {
            (Value::Object(child), Value::Object(parent)) => {
                let mut kept = Map::new();
                for (key, value) in child {
                    if top_level && ALWAYS.contains(&key.as_str()) {
                        kept.insert(key, value);
                    } else if let Some(parent_value) = parent.get(&key) {
                        if let Some(changed) = diff(value, parent_value, false) {
                            kept.insert(key, changed);
                        }
                    } else {
                        kept.insert(key, value);
                    }
                }
                (top_level || !kept.is_empty()).then_some(Value::Object(kept))
            }
            (child, parent) => (child != *parent).then_some(child),
        }
    }
    diff(child, parent, true).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_is_deep_for_objects_and_replaces_arrays() {
        let mut base = json!({"a": {"x": 1, "y": [1, 2]}, "b": 1});
        merge(&mut base, json!({"a": {"y": [3], "z": 2}}));
        assert_eq!(base, json!({"a": {"x": 1, "y": [3], "z": 2}, "b": 1}));
    }

    #[test]
    fn overlay_keeps_only_what_differs_from_the_parent() {
        let parent =
            json!({"quilt": {"region": "us-east-1", "catalog": "q"}, "packages": {"bucket": "b"}});
        let child = json!({"_inherits": "base", "quilt": {"region": "us-west-2", "catalog": "q"}, "packages": {"bucket": "b"}});
        assert_eq!(
            overlay(child, &parent),
            json!({"_inherits": "base", "quilt": {"region": "us-west-2"}})
        );
    }
}
