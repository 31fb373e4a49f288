//! `deployments.json`: the active deployment of a profile and its history, newest first.

use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Deployments {
    pub active: Option<Record>,
    #[serde(default)]
    pub history: Vec<Record>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_tag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployed_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// Fields of older or newer tools, e.g. `stage`, kept as they are.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Reads `deployments.json` if present, converting the older form whose `active` is keyed by stage
/// (`{"dev": {...}, "prod": {...}}`): every stage's record joins the history, the newest becomes active.
pub fn read(path: &Path) -> anyhow::Result<Option<Deployments>> {
    if !path.is_file() {
        return Ok(None);
    }
    let mut value = crate::store::read_json(path)?;
    // A record's fields are strings; a stage map's values are records.
    let by_stage = value
        .get("active")
        .and_then(Value::as_object)
        .filter(|a| a.values().all(Value::is_object))
        .cloned();
    let converted = by_stage.is_some();
    if let Some(by_stage) = by_stage {
        let mut records: Vec<Value> = by_stage
            .into_iter()
            .map(|(stage, mut record)| {
                record
                    .as_object_mut()
                    .map(|r| r.entry("stage").or_insert(Value::String(stage)));
                record
            })
            .collect();
        if let Some(Value::Array(history)) = value.get("history") {
            records.extend(history.iter().cloned());
        }
        value = serde_json::json!({ "active": Value::Null, "history": records });
    }
    let mut deployments: Deployments = serde_path_to_error::deserialize(value)
        .map_err(|err| anyhow::anyhow!("{}: `{}`: {}", path.display(), err.path(), err.inner()))?;
    if converted {
        newest_first(&mut deployments.history);
        deployments.active = deployments.history.first().cloned();
    }
    Ok(Some(deployments))
}

pub fn write(path: &Path, deployments: &Deployments) -> anyhow::Result<()> {
    let value = serde_json::to_value(deployments).context("serialising deployments")?;
    crate::fsutil::write_json_atomic(path, &value)
}

/// RFC 3339 timestamps in UTC sort as text.
pub(crate) fn newest_first(records: &mut [Record]) {
    records.sort_by(|a, b| b.timestamp.cmp(&a.timestamp));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read_value(value: Value) -> Deployments {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deployments.json");
        std::fs::write(&path, value.to_string()).unwrap();
        read(&path).unwrap().unwrap()
    }

    #[test]
    fn current_form_is_read_as_is() {
        let record = json!({"timestamp": "2025-11-04T10:00:00Z", "imageTag": "0.7.0", "endpoint": "https://x/prod"});
        let d = read_value(json!({"active": record, "history": [record]}));
        assert_eq!(d.active.unwrap().image_tag.as_deref(), Some("0.7.0"));
        assert_eq!(d.history.len(), 1);
    }

    #[test]
    fn stage_keyed_form_becomes_history_with_the_newest_active() {
        let d = read_value(json!({"active": {
            "dev": {"timestamp": "2025-10-01T00:00:00Z", "imageTag": "0.6.1"},
            "prod": {"timestamp": "2025-11-01T00:00:00Z", "imageTag": "0.6.3"}
        }}));
        let active = d.active.unwrap();
        assert_eq!(active.image_tag.as_deref(), Some("0.6.3"));
        assert_eq!(active.extra.get("stage"), Some(&json!("prod")));
        let tags: Vec<_> = d
            .history
            .iter()
            .map(|r| r.image_tag.as_deref().unwrap())
            .collect();
        assert_eq!(tags, ["0.6.3", "0.6.1"]);
    }

    #[test]
    fn a_missing_file_is_no_deployment() {
        assert_eq!(
            read(Path::new("/nonexistent/deployments.json")).unwrap(),
            None
        );
    }
}
