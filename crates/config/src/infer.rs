//! Finding the Quilt stack's settings: the catalog host from the Quilt CLI, the region from the
//! catalog's `config.json`, everything else from the CloudFormation stack whose `QuiltWebHost` output is
//! that host.

use std::path::{Path, PathBuf};

use crate::Profile;
use crate::aws::Aws;
use crate::schema::normalise_catalog;

/// A value found, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub path: &'static str,
    pub value: String,
    pub source: String,
}

#[derive(Debug, Default)]
pub struct Inference {
    pub findings: Vec<Finding>,
    /// What could not be found, and why.
    pub notes: Vec<String>,
}

/// The Quilt CLI's `config.yml` candidates: `Quilt/` (and `QUILT/` of older versions) in the user data
/// directory (`~/.local/share` on Linux, `~/Library/Application Support` on macOS).
pub fn quilt_cli_configs() -> Vec<PathBuf> {
    dirs::data_dir()
        .map(|data| {
            ["Quilt", "QUILT"]
                .iter()
                .map(|d| data.join(d).join("config.yml"))
                .collect()
        })
        .unwrap_or_default()
}

/// `navigator_url` of a Quilt CLI config file, if it sets one.
fn navigator_url(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().find_map(|line| {
        let value = line
            .strip_prefix("navigator_url:")?
            .trim()
            .trim_matches(['"', '\'']);
        (!value.is_empty() && value != "null" && value != "~").then(|| value.to_owned())
    })
}

/// Where the catalog is served: plain HTTP for a catalog on this machine, HTTPS anywhere else.
pub fn catalog_url(host: &str) -> String {
    let name = host.split(':').next().unwrap_or(host);
    if name == "localhost" || name.starts_with("127.") {
        format!("http://{host}")
    } else {
        format!("https://{host}")
    }
}

pub async fn infer(
    aws: &Aws,
    profile: &Profile,
    quilt_configs: &[PathBuf],
    http: &reqwest::Client,
) -> Inference {
    let mut inference = Inference::default();
    let catalog = match &profile.quilt.catalog {
        Some(catalog) => catalog.clone(),
        None => match quilt_configs
            .iter()
            .find_map(|path| navigator_url(path).map(|url| (path, url)))
        {
            Some((path, url)) => {
                let host = normalise_catalog(&url);
                inference.found(
                    "quilt.catalog",
                    &host,
                    format!("Quilt CLI settings {}", path.display()),
                );
                host
            }
            None => {
                inference.notes.push(
                    "no catalog: not in the profile, and the Quilt CLI has none (`quilt3 config https://your-catalog`, or `--set quilt.catalog=HOST`)".into(),
                );
                return inference;
            }
        },
    };

    let config_url = format!("{}/config.json", catalog_url(&catalog));
    let region = match catalog_region(http, &config_url).await {
        Ok(region) => {
            inference.found("quilt.region", &region, config_url.clone());
            region
        }
        Err(err) => match &profile.quilt.region {
            Some(region) => {
                inference.notes.push(format!(
                    "{config_url}: {err}; using the profile's region {region}"
                ));
                region.clone()
            }
            None => {
                inference.notes.push(format!(
                    "{config_url}: {err}; set `quilt.region` to search CloudFormation"
                ));
                return inference;
            }
        },
    };

    if let Err(err) = stack(&aws.in_region(&region), &catalog, &region, &mut inference).await {
        inference.notes.push(err);
    }
    inference
}

impl Inference {
    fn found(&mut self, path: &'static str, value: &str, source: impl Into<String>) {
        self.findings.push(Finding {
            path,
            value: value.to_owned(),
            source: source.into(),
        });
    }
}

async fn catalog_region(http: &reqwest::Client, url: &str) -> Result<String, String> {
    let response = http
        .get(url)
        .send()
        .await
        .map_err(|err| format!("unreachable ({err})"))?;
    if !response.status().is_success() {
        return Err(format!("HTTP {}", response.status()));
    }
    let config: serde_json::Value = response
        .json()
        .await
        .map_err(|err| format!("not JSON ({err})"))?;
    config
        .get("region")
        .and_then(|r| r.as_str())
        .map(str::to_owned)
        .ok_or_else(|| "has no `region`".to_owned())
}

/// Fills in what the Quilt stack of `catalog` tells.
async fn stack(
    aws: &Aws,
    catalog: &str,
    region: &str,
    inference: &mut Inference,
) -> Result<(), String> {
    let cloudformation = aws.cloudformation();
    let mut pages = cloudformation
        .describe_stacks()
        .into_paginator()
        .items()
        .send();
    let mut quilt = None;
    while let Some(stack) = pages.next().await {
        let stack = stack.map_err(|err| {
            format!(
                "listing CloudFormation stacks in {region}: {}",
                aws_sdk_cloudformation::error::DisplayErrorContext(err)
            )
        })?;
        let web_host = stack
            .outputs()
            .iter()
            .find(|o| o.output_key() == Some("QuiltWebHost"))
            .and_then(|o| o.output_value());
        if web_host.is_some_and(|host| normalise_catalog(host) == catalog) {
            quilt = Some(stack);
            break;
        }
    }
    let Some(stack) = quilt else {
        return Err(format!(
            "no CloudFormation stack in {region} has the output QuiltWebHost = {catalog}"
        ));
    };
    let name = stack.stack_name().unwrap_or_default().to_owned();
    let source = format!("CloudFormation stack {name} in {region}");
    if let Some(arn) = stack.stack_id() {
        inference.found("quilt.stackArn", arn, &source);
    }
    for (output, path) in [
        ("UserAthenaDatabaseName", "quilt.database"),
        ("PackagerQueueUrl", "quilt.queueUrl"),
        ("BenchlingSecretArn", "benchling.secretArn"),
    ] {
        if let Some(value) = stack
            .outputs()
            .iter()
            .find(|o| o.output_key() == Some(output))
            .and_then(|o| o.output_value())
        {
            inference.found(path, value, format!("{source}, output {output}"));
        }
    }
    let resources = cloudformation
        .describe_stack_resources()
        .stack_name(&name)
        .send()
        .await
        .map_err(|err| {
            format!(
                "reading the resources of {name}: {}",
                aws_sdk_cloudformation::error::DisplayErrorContext(err)
            )
        })?;
    for (logical_id, path) in [
        ("BenchlingAthenaWorkgroup", "quilt.athenaUserWorkgroup"),
        ("BucketWritePolicy", "quilt.bucketWritePolicyArn"),
        (
            "UserAthenaNonManagedRolePolicy",
            "quilt.athenaUserPolicyArn",
        ),
    ] {
        let resource = resources
            .stack_resources()
            .iter()
            .find(|r| r.logical_resource_id() == Some(logical_id));
        if let Some(physical) = resource.and_then(|r| r.physical_resource_id()) {
            inference.found(path, physical, format!("{source}, resource {logical_id}"));
        }
    }
    Ok(())
}

/// What applying a finding did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    Set,
    Unchanged,
    /// The profile holds another value, kept because `overwrite` was off.
    Kept(String),
}

/// Writes the findings into the profile; a value the user set is replaced only with `overwrite`.
pub fn apply(
    profile: &mut Profile,
    inference: &Inference,
    overwrite: bool,
) -> Vec<(Finding, Applied)> {
    inference
        .findings
        .iter()
        .map(|finding| {
            let slot = slot(profile, finding.path);
            let applied = match slot.as_deref() {
                Some(current) if current == finding.value => Applied::Unchanged,
                Some(current) if !overwrite => Applied::Kept(current.to_owned()),
                _ => {
                    *slot = Some(finding.value.clone());
                    Applied::Set
                }
            };
            (finding.clone(), applied)
        })
        .collect()
}

fn slot<'a>(profile: &'a mut Profile, path: &str) -> &'a mut Option<String> {
    match path {
        "quilt.catalog" => &mut profile.quilt.catalog,
        "quilt.region" => &mut profile.quilt.region,
        "quilt.stackArn" => &mut profile.quilt.stack_arn,
        "quilt.database" => &mut profile.quilt.database,
        "quilt.queueUrl" => &mut profile.quilt.queue_url,
        "quilt.athenaUserWorkgroup" => &mut profile.quilt.athena_user_workgroup,
        "quilt.bucketWritePolicyArn" => &mut profile.quilt.bucket_write_policy_arn,
        "quilt.athenaUserPolicyArn" => &mut profile.quilt.athena_user_policy_arn,
        "benchling.secretArn" => &mut profile.benchling.secret_arn,
        other => unreachable!("inference never finds {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn navigator_url_is_read_from_the_quilt_cli_settings() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yml");
        std::fs::write(&path, "default_local_registry: x\nnavigator_url: 'https://quilt.example.com'\ntelemetry_disabled: true\n").unwrap();
        assert_eq!(
            navigator_url(&path).as_deref(),
            Some("https://quilt.example.com")
        );
        std::fs::write(&path, "navigator_url: null\n").unwrap();
        assert_eq!(navigator_url(&path), None);
    }

    #[test]
    fn a_local_catalog_is_served_over_plain_http() {
        assert_eq!(catalog_url("127.0.0.1:8080"), "http://127.0.0.1:8080");
        assert_eq!(
            catalog_url("quilt.example.com"),
            "https://quilt.example.com"
        );
    }

    #[test]
    fn applying_never_replaces_a_users_value_unless_asked() {
        let mut profile = Profile::default();
        profile.quilt.database = Some("mine".into());
        let inference = Inference {
            findings: vec![
                Finding {
                    path: "quilt.database",
                    value: "theirs".into(),
                    source: "stack".into(),
                },
                Finding {
                    path: "quilt.region",
                    value: "us-east-1".into(),
                    source: "catalog".into(),
                },
            ],
            notes: vec![],
        };
        let applied: Vec<Applied> = apply(&mut profile, &inference, false)
            .into_iter()
            .map(|(_, a)| a)
            .collect();
        assert_eq!(applied, [Applied::Kept("mine".into()), Applied::Set]);
        assert_eq!(profile.quilt.database.as_deref(), Some("mine"));
        apply(&mut profile, &inference, true);
        assert_eq!(profile.quilt.database.as_deref(), Some("theirs"));
    }
}
