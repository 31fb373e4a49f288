//! The Benchling secret in AWS Secrets Manager: its name, its JSON (snake_case, as the older tool and
//! the running service read it) and `sync`, which writes it only when something differs and never
//! writes a partial one.

use std::fmt;

use anyhow::bail;
use aws_sdk_secretsmanager::config::http::HttpResponse;
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_secretsmanager::types::Tag;
use serde::{Deserialize, Deserializer, Serialize};

use crate::aws::Aws;
use crate::schema::{DEFAULT_METADATA_KEY, DEFAULT_PREFIX, parse_bool};
use crate::{Profile, SecretString};

pub const TAG_KEY: &str = "ManagedBy";
pub const TAG_VALUE: &str = "benchling-webhook";

/// `quiltdata/benchling-webhook/<profile>/<tenant>`, with characters Secrets Manager refuses made `-`.
pub fn secret_name(profile: &str, tenant: &str) -> String {
    format!("quiltdata/benchling-webhook/{profile}/{tenant}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "/_+=.@-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// The secret's value. Every field but `workflow` is required: a partial secret once crashed every task
/// of the older service for 40 minutes.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchlingSecret {
    pub tenant: String,
    pub client_id: String,
    pub client_secret: SecretString,
    pub app_definition_id: String,
    pub user_bucket: String,
    pub pkg_prefix: String,
    pub pkg_key: String,
    pub log_level: String,
    pub webhook_allow_list: String,
    /// Written as `"true"`/`"false"` as the older service expects; booleans are read too.
    #[serde(serialize_with = "bool_as_string", deserialize_with = "bool_or_string")]
    pub enable_webhook_verification: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<String>,
}

impl fmt::Debug for BenchlingSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BenchlingSecret")
            .field("tenant", &self.tenant)
            .field("client_secret", &self.client_secret)
            .finish_non_exhaustive()
    }
}

fn bool_as_string<S: serde::Serializer>(value: &bool, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(if *value { "true" } else { "false" })
}

fn bool_or_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum BoolOrString {
        Bool(bool),
        String(String),
    }
    match BoolOrString::deserialize(deserializer)? {
        BoolOrString::Bool(value) => Ok(value),
        BoolOrString::String(text) => parse_bool(&text).ok_or_else(|| {
            serde::de::Error::custom(format!("expected \"true\" or \"false\", found {text:?}"))
        }),
    }
}

/// One field of the secret, for diffs: a secret field is compared but never shown.
enum FieldValue<'a> {
    Plain(String),
    Secret(&'a SecretString),
}

impl BenchlingSecret {
    /// The secret for `profile`. The client secret comes from the profile, else from `current` (the
    /// value already in AWS). Fails listing every missing field; nothing partial is ever built.
    pub fn from_profile(
        profile: &Profile,
        current: Option<&BenchlingSecret>,
    ) -> anyhow::Result<Self> {
        let b = &profile.benchling;
        let p = &profile.packages;
        let client_secret = b
            .client_secret
            .clone()
            .filter(|s| !s.is_empty())
            .or_else(|| current.map(|c| c.client_secret.clone()));
        let mut missing = Vec::new();
        let mut need = |path: &'static str, value: Option<&String>| match value
            .filter(|v| !v.trim().is_empty())
        {
            Some(v) => v.clone(),
            None => {
                missing.push(path);
                String::new()
            }
        };
        let tenant = need("benchling.tenant", b.tenant.as_ref());
        let client_id = need("benchling.clientId", b.client_id.as_ref());
        let app_definition_id = need("benchling.appDefinitionId", b.app_definition_id.as_ref());
        let user_bucket = need("packages.bucket", p.bucket.as_ref());
        if client_secret.is_none() {
            missing.push("benchling.clientSecret");
        }
        if !missing.is_empty() {
            bail!(
                "the secret would be incomplete, so nothing was written: the profile lacks {} \
                 (set them with `cargo xtask install` or `--set field=value`)",
                missing.join(", ")
            );
        }
        Ok(BenchlingSecret {
            tenant,
            client_id,
            client_secret: client_secret.expect("checked above"),
            app_definition_id,
            user_bucket,
            pkg_prefix: p
                .prefix
                .clone()
                .unwrap_or_else(|| DEFAULT_PREFIX.to_owned()),
            pkg_key: p
                .metadata_key
                .clone()
                .unwrap_or_else(|| DEFAULT_METADATA_KEY.to_owned()),
            log_level: profile
                .logging
                .level
                .clone()
                .unwrap_or_else(|| "INFO".to_owned()),
            webhook_allow_list: profile
                .security
                .webhook_allow_list
                .clone()
                .unwrap_or_default(),
            enable_webhook_verification: profile.security.enable_verification.unwrap_or(true),
            workflow: p.workflow.clone(),
        })
    }

    /// Parses a stored value, naming the secret and the first problem (never a value).
    pub fn parse(json: &str, secret_id: &str) -> anyhow::Result<Self> {
        let mut de = serde_json::Deserializer::from_str(json);
        serde_path_to_error::deserialize(&mut de).map_err(|err| {
            let at = err.path().to_string();
            let inner = err.inner();
            let what = if inner.is_syntax() || inner.is_eof() {
                "is not valid JSON".to_owned()
            } else {
                format!("`{at}`: {inner}")
            };
            anyhow::anyhow!("secret {secret_id} {what}")
        })
    }

    fn fields(&self) -> Vec<(&'static str, FieldValue<'_>)> {
        vec![
            ("tenant", FieldValue::Plain(self.tenant.clone())),
            ("client_id", FieldValue::Plain(self.client_id.clone())),
            ("client_secret", FieldValue::Secret(&self.client_secret)),
            (
                "app_definition_id",
                FieldValue::Plain(self.app_definition_id.clone()),
            ),
            ("user_bucket", FieldValue::Plain(self.user_bucket.clone())),
            ("pkg_prefix", FieldValue::Plain(self.pkg_prefix.clone())),
            ("pkg_key", FieldValue::Plain(self.pkg_key.clone())),
            ("log_level", FieldValue::Plain(self.log_level.clone())),
            (
                "webhook_allow_list",
                FieldValue::Plain(self.webhook_allow_list.clone()),
            ),
            (
                "enable_webhook_verification",
                FieldValue::Plain(self.enable_webhook_verification.to_string()),
            ),
            (
                "workflow",
                FieldValue::Plain(self.workflow.clone().unwrap_or_default()),
            ),
        ]
    }

    /// What changes from `old` to `self`, one line a field; a secret field only says `changed`.
    pub fn diff(&self, old: &BenchlingSecret) -> Vec<String> {
        self.fields()
            .into_iter()
            .zip(old.fields())
            .filter_map(|((name, new), (_, old))| match (new, old) {
                (FieldValue::Secret(new), FieldValue::Secret(old)) => {
                    (new != old).then(|| format!("{name}: changed"))
                }
                (FieldValue::Plain(new), FieldValue::Plain(old)) => {
                    (new != old).then(|| format!("{name}: {old:?} → {new:?}"))
                }
                _ => unreachable!("both sides list the same fields in the same order"),
            })
            .collect()
    }
}

#[derive(Debug, PartialEq)]
pub enum SyncOutcome {
    UpToDate {
        arn: String,
    },
    /// The changes written (or, in a dry run, that would be).
    Created {
        arn: Option<String>,
    },
    Updated {
        arn: String,
        changes: Vec<String>,
    },
}

impl SyncOutcome {
    pub fn arn(&self) -> Option<&str> {
        match self {
            SyncOutcome::UpToDate { arn } | SyncOutcome::Updated { arn, .. } => Some(arn),
            SyncOutcome::Created { arn } => arn.as_deref(),
        }
    }
}

/// Where the secret lives: the profile's `benchling.secretArn` when set (in the ARN's region), else the
/// conventional name in `deployment.region`.
pub struct SecretLocation {
    pub id: String,
    pub region: String,
    pub from_arn: bool,
}

impl SecretLocation {
    pub fn of(
        profile_name: &str,
        profile: &Profile,
        default_region: Option<&str>,
    ) -> anyhow::Result<Self> {
        if let Some(arn) = &profile.benchling.secret_arn {
            let region = arn.split(':').nth(3).filter(|r| !r.is_empty());
            let Some(region) = region else {
                bail!(
                    "`benchling.secretArn`: expected an ARN like arn:aws:secretsmanager:<region>:<account>:secret:<name>, found {arn:?}"
                );
            };
            return Ok(SecretLocation {
                id: arn.clone(),
                region: region.to_owned(),
                from_arn: true,
            });
        }
        let Some(tenant) = profile.benchling.tenant.as_deref() else {
            bail!(
                "`benchling.tenant` is not set: the secret is named after it (run `cargo xtask install`)"
            );
        };
        let region = profile.deployment.region.as_deref().or(default_region);
        let Some(region) = region else {
            bail!("no region for the secret: set `deployment.region` in the profile or AWS_REGION");
        };
        Ok(SecretLocation {
            id: secret_name(profile_name, tenant),
            region: region.to_owned(),
            from_arn: false,
        })
    }
}

/// Reads the current value, if the secret exists and is not scheduled for deletion.
pub async fn read_current(
    aws: &Aws,
    location: &SecretLocation,
) -> anyhow::Result<Option<(String, BenchlingSecret)>> {
    let client = aws.in_region(&location.region).secrets();
    let described = match client
        .describe_secret()
        .secret_id(&location.id)
        .send()
        .await
    {
        Ok(described) => described,
        Err(err) if err.code() == Some("ResourceNotFoundException") && !location.from_arn => {
            return Ok(None);
        }
        Err(err) => return Err(explain(&err, location)),
    };
    if described.deleted_date().is_some() {
        bail!(
            "secret {} is scheduled for deletion: restore it with `aws secretsmanager restore-secret --secret-id {} --region {}`, then run this again",
            location.id,
            location.id,
            location.region
        );
    }
    let arn = described.arn().unwrap_or(&location.id).to_owned();
    let value = client
        .get_secret_value()
        .secret_id(&arn)
        .send()
        .await
        .map_err(|err| explain(&err, location))?;
    let Some(text) = value.secret_string() else {
        bail!(
            "secret {} holds binary data, not the expected JSON object",
            location.id
        );
    };
    Ok(Some((arn, BenchlingSecret::parse(text, &location.id)?)))
}

/// Makes the secret in AWS equal to the one the profile describes, writing only when something differs.
pub async fn sync(
    aws: &Aws,
    profile_name: &str,
    profile: &Profile,
    dry_run: bool,
) -> anyhow::Result<SyncOutcome> {
    let location = SecretLocation::of(profile_name, profile, aws.region())?;
    let current = read_current(aws, &location).await?;
    let desired = BenchlingSecret::from_profile(profile, current.as_ref().map(|(_, s)| s))?;
    let body = serde_json::to_string(&desired)?;
    let client = aws.in_region(&location.region).secrets();
    match current {
        Some((arn, current)) => {
            let changes = desired.diff(&current);
            if changes.is_empty() {
                return Ok(SyncOutcome::UpToDate { arn });
            }
            if !dry_run {
                client
                    .put_secret_value()
                    .secret_id(&arn)
                    .secret_string(body)
                    .send()
                    .await
                    .map_err(|err| explain(&err, &location))?;
            }
            Ok(SyncOutcome::Updated { arn, changes })
        }
        None if dry_run => Ok(SyncOutcome::Created { arn: None }),
        None => {
            let tag = Tag::builder().key(TAG_KEY).value(TAG_VALUE).build();
            let created = client
                .create_secret()
                .name(&location.id)
                .description("Benchling app credentials for benchling-webhook")
                .secret_string(body)
                .tags(tag)
                .send()
                .await
                .map_err(|err| explain(&err, &location))?;
            Ok(SyncOutcome::Created {
                arn: created.arn().map(str::to_owned),
            })
        }
    }
}

/// An AWS error as a message that names the fix.
fn explain<E>(err: &SdkError<E, HttpResponse>, location: &SecretLocation) -> anyhow::Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let message = err.message().unwrap_or("no message");
    // A 403 is a refusal whatever its body says (moto answers JSON services in XML, leaving no code).
    let denied = err
        .raw_response()
        .is_some_and(|r| r.status().as_u16() == 403);
    match err.code() {
        code if denied || code == Some("AccessDeniedException") => anyhow::anyhow!(
            "access denied to secret {} in {}: the AWS identity needs secretsmanager:DescribeSecret, GetSecretValue, \
             CreateSecret, PutSecretValue and TagResource on it (AWS said: {message})",
            location.id,
            location.region
        ),
        Some("ResourceNotFoundException") => anyhow::anyhow!(
            "secret {} (from `benchling.secretArn`) does not exist in {}: check the ARN's region and account, or \
             remove `benchling.secretArn` to create the secret anew",
            location.id,
            location.region
        ),
        Some("InvalidRequestException") if message.contains("deletion") => anyhow::anyhow!(
            "secret {} is scheduled for deletion: restore it with `aws secretsmanager restore-secret --secret-id {} --region {}`",
            location.id,
            location.id,
            location.region
        ),
        Some("UnrecognizedClientException") | Some("InvalidSignatureException") => anyhow::anyhow!(
            "AWS rejected the credentials in {}: is the region enabled for this account, and are the credentials current? (AWS said: {message})",
            location.region
        ),
        // Not a service error (no connection, a timeout, an unreadable answer): the whole chain says why.
        None => anyhow::anyhow!(
            "Secrets Manager in {} could not be reached for secret {}: {}",
            location.region,
            location.id,
            aws_sdk_secretsmanager::error::DisplayErrorContext(err)
        ),
        Some(code) => anyhow::anyhow!(
            "Secrets Manager {code} for secret {}: {message}",
            location.id
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names_follow_the_older_tool() {
        assert_eq!(
            secret_name("default", "acme"),
            "quiltdata/benchling-webhook/default/acme"
        );
        assert_eq!(
            secret_name("dev team", "acme!"),
            "quiltdata/benchling-webhook/dev-team/acme-"
        );
    }

    #[test]
    fn stored_values_accept_boolean_and_string_verification_flags() {
        let base = r#""tenant":"t","client_id":"c","client_secret":"s","app_definition_id":"a","user_bucket":"b","pkg_prefix":"p","pkg_key":"k","log_level":"INFO","webhook_allow_list":"""#;
        for (flag, expected) in [("\"true\"", true), ("false", false), ("\"False\"", false)] {
            let json = format!("{{{base},\"enable_webhook_verification\":{flag}}}");
            assert_eq!(
                BenchlingSecret::parse(&json, "x")
                    .unwrap()
                    .enable_webhook_verification,
                expected
            );
        }
    }

    #[test]
    fn a_partial_stored_value_is_reported_by_field_without_values() {
        let err = BenchlingSecret::parse(
            r#"{"tenant":"t","client_id":"c","client_secret":"hunter2"}"#,
            "the-secret",
        )
        .unwrap_err();
        let message = err.to_string();
        assert!(message.starts_with("secret the-secret"), "{message}");
        assert!(message.contains("missing field"), "{message}");
        assert!(!message.contains("hunter2"));
    }
}
