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

/// One field's rule: where it is, whether it must be there, and what a valid value looks like.
struct Rule {
    path: &'static str,
    required: bool,
    expected: &'static str,
    valid: fn(&str) -> bool,
    value: fn(&Profile) -> Option<&str>,
}

const RULES: &[Rule] = &[
    Rule {
        path: "quilt.catalog",
        required: true,
        expected: "the Quilt catalog host, e.g. quilt.example.com",
        valid: is_host,
        value: |p| p.quilt.catalog.as_deref(),
    },
    Rule {
        path: "quilt.database",
        required: true,
        expected: "the Quilt Athena database name",
        valid: non_empty,
        value: |p| p.quilt.database.as_deref(),
    },
    Rule {
        path: "quilt.queueUrl",
        required: true,
        expected: "an SQS queue URL like https://sqs.<region>.amazonaws.com/<account>/<name>",
        valid: is_sqs_url,
        value: |p| p.quilt.queue_url.as_deref(),
    },
    Rule {
        path: "quilt.region",
        required: true,
        expected: "an AWS region like us-east-1",
        valid: is_region,
        value: |p| p.quilt.region.as_deref(),
    },
    Rule {
        path: "quilt.stackArn",
        required: false,
        expected: "a CloudFormation stack ARN",
        valid: |v| is_arn(v, "cloudformation"),
        value: |p| p.quilt.stack_arn.as_deref(),
    },
    Rule {
        path: "benchling.tenant",
        required: true,
        expected: "a Benchling tenant: the `acme` of acme.benchling.com",
        valid: is_tenant,
        value: |p| p.benchling.tenant.as_deref(),
    },
    Rule {
        path: "benchling.clientId",
        required: true,
        expected: "the OAuth client id of the Benchling app",
        valid: non_empty,
        value: |p| p.benchling.client_id.as_deref(),
    },
    Rule {
        path: "benchling.appDefinitionId",
        required: true,
        expected: "the Benchling app definition id",
        valid: non_empty,
        value: |p| p.benchling.app_definition_id.as_deref(),
    },
    Rule {
        path: "benchling.secretArn",
        required: false,
        expected: "a Secrets Manager secret ARN",
        valid: |v| is_arn(v, "secretsmanager"),
        value: |p| p.benchling.secret_arn.as_deref(),
    },
    Rule {
        path: "packages.bucket",
        required: true,
        expected: "an S3 bucket name (3-63 of a-z 0-9 . -)",
        valid: is_bucket,
        value: |p| p.packages.bucket.as_deref(),
    },
    Rule {
        path: "packages.prefix",
        required: true,
        expected: "a package prefix (usually `benchling`)",
        valid: is_prefix,
        value: |p| p.packages.prefix.as_deref(),
    },
    Rule {
        path: "packages.metadataKey",
        required: true,
        expected: "a metadata key (usually `experiment_id`)",
        valid: non_empty,
        value: |p| p.packages.metadata_key.as_deref(),
    },
    Rule {
        path: "deployment.region",
        required: true,
        expected: "an AWS region like us-east-1",
        valid: is_region,
        value: |p| p.deployment.region.as_deref(),
    },
    Rule {
        path: "deployment.account",
        required: false,
        expected: "a 12-digit AWS account id",
        valid: |v| v.len() == 12 && v.bytes().all(|c| c.is_ascii_digit()),
        value: |p| p.deployment.account.as_deref(),
    },
    Rule {
        path: "logging.level",
        required: false,
        expected: "one of DEBUG, INFO, WARNING, ERROR",
        valid: |v| matches!(v, "DEBUG" | "INFO" | "WARNING" | "ERROR"),
        value: |p| p.logging.level.as_deref(),
    },
    Rule {
        path: "security.webhookAllowList",
        required: false,
        expected: "comma-separated IPv4 addresses or CIDRs (empty allows everyone)",
        valid: is_allow_list,
        value: |p| p.security.webhook_allow_list.as_deref(),
    },
];

/// Every problem of the profile; no error means it is complete enough to deploy and run.
pub fn validate(profile: &Profile) -> Vec<Problem> {
    let mut problems: Vec<Problem> = RULES
        .iter()
        .filter_map(|rule| {
            let found = match (rule.value)(profile) {
                None if rule.required => "nothing".to_owned(),
                Some(v) if !(rule.valid)(v) => format!("{v:?}"),
                _ => return None,
            };
            Some(Problem {
                severity: Severity::Error,
                path: rule.path,
                expected: rule.expected,
                found,
            })
        })
        .collect();
    let b = &profile.benchling;
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
