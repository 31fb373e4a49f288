//! Offline checks of a loaded profile: required fields, formats. Each problem names the JSON path, what
//! was expected and what was found.

use std::fmt;

use crate::Profile;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub severity: Severity,
    /// JSON path in `config.json`, e.g. `quilt.queueUrl`.
    pub path: &'static str,
    pub expected: &'static str,
    /// What the file holds, already safe to print (never a secret).
    pub found: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}`: expected {}, found {}",
            self.path, self.expected, self.found
        )
    }
}

/// Every problem of the profile; no error means it is complete enough to deploy and run.
pub fn validate(profile: &Profile) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut check = |path: &'static str,
                     value: Option<&str>,
                     expected: &'static str,
                     valid: fn(&str) -> bool| {
        match value {
            None => problems.push(Problem {
                severity: Severity::Error,
                path,
                expected,
                found: "nothing".into(),
            }),
            Some(v) if !valid(v) => problems.push(Problem {
                severity: Severity::Error,
                path,
                expected,
                found: format!("{v:?}"),
            }),
            Some(_) => {}
        }
    };
    let q = &profile.quilt;
    check(
        "quilt.catalog",
        q.catalog.as_deref(),
        "the Quilt catalog host, e.g. quilt.example.com",
        is_host,
    );
    check(
        "quilt.database",
        q.database.as_deref(),
        "the Quilt Athena database name",
        non_empty,
    );
    check(
        "quilt.queueUrl",
        q.queue_url.as_deref(),
        "an SQS queue URL like https://sqs.<region>.amazonaws.com/<account>/<name>",
        is_sqs_url,
    );
    check(
        "quilt.region",
        q.region.as_deref(),
        "an AWS region like us-east-1",
        is_region,
    );
    let b = &profile.benchling;
    check(
        "benchling.tenant",
        b.tenant.as_deref(),
        "a Benchling tenant: the `acme` of acme.benchling.com",
        is_tenant,
    );
    check(
        "benchling.clientId",
        b.client_id.as_deref(),
        "the OAuth client id of the Benchling app",
        non_empty,
    );
    check(
        "benchling.appDefinitionId",
        b.app_definition_id.as_deref(),
        "the Benchling app definition id",
        non_empty,
    );
    let p = &profile.packages;
    check(
        "packages.bucket",
        p.bucket.as_deref(),
        "an S3 bucket name (3-63 of a-z 0-9 . -)",
        is_bucket,
    );
    check(
        "packages.prefix",
        p.prefix.as_deref(),
        "a package prefix (usually `benchling`)",
        is_prefix,
    );
    check(
        "packages.metadataKey",
        p.metadata_key.as_deref(),
        "a metadata key (usually `experiment_id`)",
        non_empty,
    );
    check(
        "deployment.region",
        profile.deployment.region.as_deref(),
        "an AWS region like us-east-1",
        is_region,
    );

    let mut optional = |path: &'static str,
                        value: Option<&str>,
                        expected: &'static str,
                        valid: fn(&str) -> bool| {
        check_optional(&mut problems, path, value, expected, valid)
    };
    optional(
        "quilt.stackArn",
        q.stack_arn.as_deref(),
        "a CloudFormation stack ARN",
        |v| is_arn(v, "cloudformation"),
    );
    optional(
        "benchling.secretArn",
        b.secret_arn.as_deref(),
        "a Secrets Manager secret ARN",
        |v| is_arn(v, "secretsmanager"),
    );
    optional(
        "deployment.account",
        profile.deployment.account.as_deref(),
        "a 12-digit AWS account id",
        |v| v.len() == 12 && v.bytes().all(|c| c.is_ascii_digit()),
    );
    optional(
        "logging.level",
        profile.logging.level.as_deref(),
        "one of DEBUG, INFO, WARNING, ERROR",
        |v| matches!(v, "DEBUG" | "INFO" | "WARNING" | "ERROR"),
    );
    optional(
        "security.webhookAllowList",
        profile.security.webhook_allow_list.as_deref(),
        "comma-separated IPv4 addresses or CIDRs (empty allows everyone)",
        is_allow_list,
    );

    let has_secret =
        b.client_secret.as_ref().is_some_and(|s| !s.is_empty()) || b.secret_arn.is_some();
    if !has_secret {
        problems.push(Problem {
            severity: Severity::Error,
            path: "benchling.secretArn",
            expected: "the client secret: a secret ARN, or `clientSecret` to sync with `cargo xtask config sync-secrets`",
            found: "neither".into(),
        });
    } else if b.client_secret.is_some() {
        problems.push(Problem {
            severity: Severity::Warning,
            path: "benchling.clientSecret",
            expected: "no plaintext secret on disk (`cargo xtask config sync-secrets` moves it to Secrets Manager)",
            found: "a plaintext client secret".into(),
        });
    }
    if profile.security.enable_verification == Some(false) {
        problems.push(Problem {
            severity: Severity::Warning,
            path: "security.enableVerification",
            expected: "true: without it anyone who finds the URL can trigger exports",
            found: "false".into(),
        });
    }
    problems
}

fn check_optional(
    problems: &mut Vec<Problem>,
    path: &'static str,
    value: Option<&str>,
    expected: &'static str,
    valid: fn(&str) -> bool,
) {
    if let Some(v) = value.filter(|v| !valid(v)) {
        problems.push(Problem {
            severity: Severity::Error,
            path,
            expected,
            found: format!("{v:?}"),
        });
    }
}

fn non_empty(v: &str) -> bool {
    !v.trim().is_empty()
}

fn is_label(v: &str) -> bool {
    !v.is_empty()
        && !v.starts_with('-')
        && !v.ends_with('-')
        && v.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
}

pub fn is_tenant(v: &str) -> bool {
    is_label(v)
}

fn is_host(v: &str) -> bool {
    let host = v.split_once(':').map_or(v, |(host, port)| {
        if port.parse::<u16>().is_ok() {
            host
        } else {
            ""
        }
    });
    host.split('.').all(is_label) && !host.is_empty()
}

pub fn is_region(v: &str) -> bool {
    let parts: Vec<&str> = v.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.bytes().all(|c| c.is_ascii_digit()))
}

fn is_sqs_url(v: &str) -> bool {
    let Some(rest) = v
        .strip_prefix("https://")
        .or_else(|| v.strip_prefix("http://"))
    else {
        return false;
    };
    let mut parts = rest.split('/');
    let (Some(host), Some(account), Some(name), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    is_host(host) && !account.is_empty() && !name.is_empty()
}

fn is_bucket(v: &str) -> bool {
    (3..=63).contains(&v.len())
        && v.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-')
        && v.as_bytes()[0].is_ascii_alphanumeric()
        && v.as_bytes()[v.len() - 1].is_ascii_alphanumeric()
}

fn is_prefix(v: &str) -> bool {
    non_empty(v) && !v.starts_with('/') && !v.ends_with('/') && !v.contains("//")
}

fn is_arn(v: &str, service: &str) -> bool {
    let parts: Vec<&str> = v.splitn(6, ':').collect();
    parts.len() == 6 && parts[0] == "arn" && parts[2] == service && !parts[5].is_empty()
}

fn is_allow_list(v: &str) -> bool {
    v.trim().is_empty() || v.split(',').map(str::trim).all(is_ipv4_or_cidr)
}

fn is_ipv4_or_cidr(v: &str) -> bool {
    let (addr, bits) = v.split_once('/').map_or((v, None), |(a, b)| (a, Some(b)));
    addr.parse::<std::net::Ipv4Addr>().is_ok()
        && bits.is_none_or(|b| b.parse::<u8>().is_ok_and(|b| b <= 32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert!(
            is_region("us-east-1") && is_region("ap-southeast-2") && is_region("us-gov-west-1")
        );
        assert!(!is_region("useast1") && !is_region("us-east") && !is_region("US-EAST-1"));
        assert!(is_sqs_url(
            "https://sqs.us-east-1.amazonaws.com/123456789012/q"
        ));
        assert!(is_sqs_url("http://127.0.0.1:5000/123456789012/q.fifo"));
        assert!(
            !is_sqs_url("sqs.us-east-1.amazonaws.com/123/q") && !is_sqs_url("https://sqs.x/123")
        );
        assert!(is_bucket("benchling-packages") && !is_bucket("Bad_Bucket") && !is_bucket("ab"));
        assert!(is_allow_list("") && is_allow_list("192.168.1.0/24, 10.0.0.1"));
        assert!(!is_allow_list("192.168.1.0/33") && !is_allow_list("example.com"));
        assert!(is_host("quilt.example.com") && is_host("127.0.0.1:8080") && !is_host("https://x"));
        assert!(is_arn(
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:x",
            "secretsmanager"
        ));
        assert!(!is_arn("arn:aws:s3:::bucket", "secretsmanager"));
    }

    #[test]
    fn missing_required_fields_are_each_reported_with_their_path() {
        let problems = validate(&Profile::default());
        let paths: Vec<&str> = problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
            .map(|p| p.path)
            .collect();
        for path in [
            "quilt.catalog",
            "quilt.queueUrl",
            "benchling.tenant",
            "packages.bucket",
            "deployment.region",
        ] {
            assert!(paths.contains(&path), "{path} not reported: {paths:?}");
        }
    }

    #[test]
    fn a_wrong_format_names_what_was_expected_and_found() {
        let mut profile = Profile::default();
        profile.quilt.region = Some("Virginia".into());
        let problem = validate(&profile)
            .into_iter()
            .find(|p| p.path == "quilt.region")
            .unwrap();
        assert_eq!(
            problem.to_string(),
            "`quilt.region`: expected an AWS region like us-east-1, found \"Virginia\""
        );
    }

    #[test]
    fn a_plaintext_secret_is_a_warning_that_never_shows_the_secret() {
        let mut profile = Profile::default();
        profile.benchling.client_secret = Some(crate::SecretString::new("hunter2"));
        let problems = validate(&profile);
        let warning = problems
            .iter()
            .find(|p| p.path == "benchling.clientSecret")
            .unwrap();
        assert_eq!(warning.severity, Severity::Warning);
        assert!(!problems.iter().any(|p| p.to_string().contains("hunter2")));
    }
}
