//! Online checks of a profile: can each thing it names be reached with the access we have?

use aws_sdk_s3::error::ProvideErrorMetadata;
use serde::Serialize;

use crate::aws::Aws;
use crate::secrets::{self, BenchlingSecret, SecretLocation};
use crate::{Profile, SecretString};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub status: Status,
    pub detail: String,
}

impl Check {
    fn ok(name: &'static str, detail: impl Into<String>) -> Self {
        Check {
            name,
            status: Status::Ok,
            detail: detail.into(),
        }
    }
    fn warn(name: &'static str, detail: impl Into<String>) -> Self {
        Check {
            name,
            status: Status::Warn,
            detail: detail.into(),
        }
    }
    fn fail(name: &'static str, detail: impl Into<String>) -> Self {
        Check {
            name,
            status: Status::Fail,
            detail: detail.into(),
        }
    }
}

/// The overall result: the worst status of any check.
pub fn overall(checks: &[Check]) -> Status {
    checks.iter().map(|c| c.status).max().unwrap_or(Status::Ok)
}

/// Every check of the profile. The secret is read first: the Benchling check may need its client secret.
/// `benchling_base_url` overrides the tenant's API URL (and `BENCHLING_BASE_URL`).
pub async fn check(
    aws: &Aws,
    profile_name: &str,
    profile: &Profile,
    benchling_base_url: Option<&str>,
) -> Vec<Check> {
    let (secret_check, stored) = secret(aws, profile_name, profile).await;
    let client_secret = profile
        .benchling
        .client_secret
        .clone()
        .filter(|s| !s.is_empty())
        .or(stored.map(|s| s.client_secret));
    let (identity, benchling, bucket, queue) = tokio::join!(
        identity(aws, profile),
        benchling(profile, client_secret, benchling_base_url),
        bucket(aws, profile),
        queue(aws, profile),
    );
    vec![identity, secret_check, benchling, bucket, queue]
}

async fn identity(aws: &Aws, profile: &Profile) -> Check {
    const NAME: &str = "aws identity";
    match aws.sts().get_caller_identity().send().await {
        Ok(who) => {
            let account = who.account().unwrap_or("?");
            let arn = who.arn().unwrap_or("?");
            match profile.deployment.account.as_deref() {
                Some(expected) if expected != account => Check::warn(
                    NAME,
                    format!(
                        "{arn} is in account {account}, but `deployment.account` is {expected}: use credentials for {expected}"
                    ),
                ),
                _ => Check::ok(NAME, format!("{arn} (account {account})")),
            }
        }
        Err(err) => Check::fail(
            NAME,
            format!(
                "no usable AWS credentials: {} (`aws configure`, `aws sso login`, or set AWS_PROFILE)",
                describe(&err)
            ),
        ),
    }
}

async fn secret(
    aws: &Aws,
    profile_name: &str,
    profile: &Profile,
) -> (Check, Option<BenchlingSecret>) {
    const NAME: &str = "secret";
    let location = match SecretLocation::of(profile_name, profile, aws.region()) {
        Ok(location) => location,
        Err(err) => return (Check::fail(NAME, format!("{err:#}")), None),
    };
    match secrets::read_current(aws, &location).await {
        Ok(None) => (
            Check::fail(
                NAME,
                format!(
                    "{} does not exist in {}: run `cargo xtask config sync-secrets`",
                    location.id, location.region
                ),
            ),
            None,
        ),
        Ok(Some((arn, stored))) => {
            let check = match BenchlingSecret::from_profile(profile, Some(&stored)) {
                Ok(desired) => {
                    let changes = desired.diff(&stored);
                    if changes.is_empty() {
                        Check::ok(NAME, format!("{arn} is complete and matches the profile"))
                    } else {
                        let fields: Vec<&str> = changes
                            .iter()
                            .map(|c| c.split(':').next().unwrap_or_default())
                            .collect();
                        Check::warn(
                            NAME,
                            format!(
                                "{arn} differs from the profile in {}: run `cargo xtask config sync-secrets`",
                                fields.join(", ")
                            ),
                        )
                    }
                }
                Err(err) => Check::warn(NAME, format!("{arn} exists, but {err:#}")),
            };
            (check, Some(stored))
        }
        Err(err) => (Check::fail(NAME, format!("{err:#}")), None),
    }
}

/// Whether Benchling accepts the profile's client credentials (a token request).
pub async fn benchling(
    profile: &Profile,
    client_secret: Option<SecretString>,
    base_url: Option<&str>,
) -> Check {
    const NAME: &str = "benchling";
    let b = &profile.benchling;
    let (Some(tenant), Some(client_id)) = (b.tenant.as_deref(), b.client_id.as_deref()) else {
        return Check::fail(
            NAME,
            "`benchling.tenant` and `benchling.clientId` are needed to test the credentials",
        );
    };
    let Some(client_secret) = client_secret else {
        return Check::fail(
            NAME,
            "no client secret to test: neither in the profile nor in Secrets Manager",
        );
    };
    let base = base_url.map_or_else(|| benchling::client::base_url(tenant), str::to_owned);
    match benchling::client::request_token(
        &benchling::client::http_client(),
        &base,
        client_id,
        &client_secret,
    )
    .await
    {
        Ok(_) => Check::ok(NAME, format!("{base} accepted the client credentials")),
        Err(err) if err.status == Some(401) => Check::fail(
            NAME,
            format!(
                "{err}: check `benchling.clientId` and the client secret in Benchling's Developer Console"
            ),
        ),
        Err(err) => Check::fail(
            NAME,
            format!("{err} (is `benchling.tenant` right? the API is {base})"),
        ),
    }
}

async fn bucket(aws: &Aws, profile: &Profile) -> Check {
    const NAME: &str = "package bucket";
    let Some(bucket) = profile.packages.bucket.as_deref() else {
        return Check::fail(NAME, "`packages.bucket` is not set");
    };
    let region = profile
        .quilt
        .region
        .as_deref()
        .or(profile.deployment.region.as_deref());
    let s3 = region.map_or_else(|| aws.s3(), |r| aws.in_region(r).s3());
    if let Err(err) = s3.head_bucket().bucket(bucket).send().await {
        let status = err.raw_response().map(|r| r.status().as_u16());
        return Check::fail(
            NAME,
            match status {
                Some(404) => format!("s3://{bucket} does not exist (check `packages.bucket`)"),
                Some(403) => format!(
                    "access denied to s3://{bucket}: the AWS identity needs s3:ListBucket on it"
                ),
                _ => format!("s3://{bucket}: {}", describe(&err)),
            },
        );
    }
    if let Err(err) = s3.list_objects_v2().bucket(bucket).max_keys(1).send().await {
        return Check::fail(
            NAME,
            format!(
                "s3://{bucket} exists but cannot be listed: {}",
                describe(&err)
            ),
        );
    }
    let location = match s3.get_bucket_location().bucket(bucket).send().await {
        // An empty location constraint is us-east-1, by S3's old convention.
        Ok(found) => found
            .location_constraint()
            .map(|c| c.as_str().to_owned())
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| "us-east-1".into()),
        Err(err) => {
            return Check::warn(
                NAME,
                format!(
                    "s3://{bucket} exists and is listable; its region is unknown: {}",
                    describe(&err)
                ),
            );
        }
    };
    match region {
        Some(expected) if expected != location => Check::warn(
            NAME,
            format!(
                "s3://{bucket} is in {location}, but the Quilt stack is in {expected}: packages cross regions"
            ),
        ),
        _ => Check::ok(
            NAME,
            format!("s3://{bucket} exists, is listable, in {location}"),
        ),
    }
}

async fn queue(aws: &Aws, profile: &Profile) -> Check {
    const NAME: &str = "packager queue";
    let Some(url) = profile.quilt.queue_url.as_deref() else {
        return Check::fail(
            NAME,
            "`quilt.queueUrl` is not set (`cargo xtask config infer` finds it)",
        );
    };
    let sqs = profile
        .quilt
        .region
        .as_deref()
        .map_or_else(|| aws.sqs(), |r| aws.in_region(r).sqs());
    let request = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn);
    match request.send().await {
        Ok(answer) => {
            let arn = answer
                .attributes()
                .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn));
            Check::ok(
                NAME,
                format!("{} is reachable", arn.map_or(url, String::as_str)),
            )
        }
        Err(err) => {
            let hint = match err.code() {
                Some("AWS.SimpleQueueService.NonExistentQueue") | Some("QueueDoesNotExist") => {
                    "does not exist (check `quilt.queueUrl`)".to_owned()
                }
                Some("AccessDenied") | Some("AccessDeniedException") => {
                    "access denied: the AWS identity needs sqs:GetQueueAttributes".to_owned()
                }
                _ => describe(&err),
            };
            Check::fail(NAME, format!("{url}: {hint}"))
        }
    }
}

/// An SDK error's code and message, or its cause chain when the service never answered.
fn describe<E: ProvideErrorMetadata + std::error::Error + 'static>(err: &E) -> String {
    match (err.code(), err.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_owned(),
        _ => aws_sdk_s3::error::DisplayErrorContext(err).to_string(),
    }
}
