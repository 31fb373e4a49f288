//! The profile file, `config.json`, as the older tool writes it (camelCase). Every field is optional
//! here so that half-finished profiles load; `validate` says what a usable one still lacks. Fields this
//! version does not know are kept in `extra` and written back unchanged.

use schemars::JsonSchema;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::SecretString;

/// The profile layout version written into `_metadata.version` of new profiles: the first layout of the
/// older tool that this one reads and writes.
pub const LAYOUT_VERSION: &str = "0.7.0";

/// Where a profile's `$schema` points: the schema file kept beside the profiles.
pub const SCHEMA_REF: &str = "../config.schema.json";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// Another profile whose values this one starts from (objects merged, arrays replaced)
    #[serde(rename = "_inherits", default, skip_serializing_if = "Option::is_none")]
    pub inherits: Option<String>,
    #[serde(default, skip_serializing_if = "is_default")]
    pub quilt: Quilt,
    #[serde(default, skip_serializing_if = "is_default")]
    pub benchling: Benchling,
    #[serde(default, skip_serializing_if = "is_default")]
    pub packages: Packages,
    #[serde(default, skip_serializing_if = "is_default")]
    pub deployment: Deployment,
    /// Whether the webhook is deployed inside the Quilt stack rather than as its own stack
    #[serde(
        default,
        deserialize_with = "lenient_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub integrated_stack: Option<bool>,
    #[serde(default, skip_serializing_if = "is_default")]
    pub logging: Logging,
    #[serde(default, skip_serializing_if = "is_default")]
    pub security: Security,
    #[serde(rename = "_metadata", default, skip_serializing_if = "is_default")]
    pub metadata: Metadata,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Quilt {
    /// ARN of the Quilt CloudFormation stack
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack_arn: Option<String>,
    /// Catalog host name, e.g. `quilt.example.com` (a URL is accepted and reduced to its host)
    #[serde(
        default,
        deserialize_with = "catalog_host",
        skip_serializing_if = "Option::is_none"
    )]
    pub catalog: Option<String>,
    /// Athena database of the Quilt stack
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// URL of the Quilt packager SQS queue
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_url: Option<String>,
    /// AWS region of the Quilt stack
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Athena workgroup for Benchling queries (stack resource BenchlingAthenaWorkgroup)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub athena_user_workgroup: Option<String>,
    /// Name of the Athena user policy
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub athena_user_policy: Option<String>,
    /// ARN of the stack's bucket write policy (stack resource BucketWritePolicy)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket_write_policy_arn: Option<String>,
    /// ARN of the Athena user policy (stack resource UserAthenaNonManagedRolePolicy)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub athena_user_policy_arn: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Benchling {
    /// Benchling tenant: the `acme` of `acme.benchling.com` (a host or URL is accepted and reduced)
    #[serde(
        default,
        deserialize_with = "tenant",
        skip_serializing_if = "Option::is_none"
    )]
    pub tenant: Option<String>,
    /// OAuth client id of the Benchling app
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// OAuth client secret in plaintext (older profiles); `config sync-secrets` moves it to Secrets Manager
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<SecretString>,
    /// ARN of the Secrets Manager secret that holds the client secret
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_arn: Option<String>,
    /// Benchling app definition id (`appdef_...`)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_definition_id: Option<String>,
    /// A notebook entry id used by remote tests
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_entry_id: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

pub const DEFAULT_PREFIX: &str = "benchling";
pub const DEFAULT_METADATA_KEY: &str = "experiment_id";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Packages {
    /// S3 bucket the packages are written to
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    /// Package name prefix (default `benchling`)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Package metadata field holding the entry's display id (default `experiment_id`)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_key: Option<String>,
    /// Quilt workflow to attach to packages
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    /// AWS region to deploy the webhook to
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// AWS account id
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// ECR repository the service image is pushed to
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecr_repository: Option<String>,
    /// Image tag to deploy
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_tag: Option<String>,
    /// CloudFormation stack name (default BenchlingWebhookStack, or BenchlingWebhookStack-<profile>)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack_name: Option<String>,
    /// The VPC to run in; without it the stack creates one
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc: Option<Vpc>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Vpc {
    /// Id of an existing VPC (vpc-…)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_id: Option<String>,
    /// Subnets for the service's tasks and load balancer
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_subnet_ids: Option<Vec<String>>,
    /// Public subnets, when the VPC has them
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_subnet_ids: Option<Vec<String>>,
    /// Availability zones of the subnets
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_zones: Option<Vec<String>>,
    /// CIDR block of the VPC
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_cidr_block: Option<String>,
    /// Create a VPC when `vpcId` does not exist
    #[serde(
        default,
        deserialize_with = "lenient_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub create_if_missing: Option<bool>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Logging {
    /// DEBUG, INFO, WARNING or ERROR
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Security {
    /// Comma-separated IPs or CIDRs allowed to call the webhook; empty allows everyone
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_allow_list: Option<String>,
    /// Verify Benchling's webhook signatures (default true)
    #[serde(
        default,
        deserialize_with = "lenient_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub enable_verification: Option<bool>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// wizard, manual or cli
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// `acme`, `acme.benchling.com` and `https://acme.benchling.com/…` all name the tenant `acme`.
pub fn normalise_tenant(input: &str) -> String {
    let host = host_of(input);
    host.strip_suffix(".benchling.com")
        .unwrap_or(&host)
        .to_owned()
}

/// `https://quilt.example.com/b/x` names the catalog host `quilt.example.com`.
pub fn normalise_catalog(input: &str) -> String {
    host_of(input)
}

fn host_of(input: &str) -> String {
    let trimmed = input.trim();
    let without_scheme = trimmed.split_once("://").map_or(trimmed, |(_, rest)| rest);
    without_scheme
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

fn tenant<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<String>::deserialize(deserializer)?.map(|t| normalise_tenant(&t)))
}

fn catalog_host<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<String>::deserialize(deserializer)?.map(|c| normalise_catalog(&c)))
}

/// A boolean, also given as the strings `"true"`/`"false"` that the older tool wrote.
fn lenient_bool<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<bool>, D::Error> {
    struct LenientBool;

    impl<'de> Visitor<'de> for LenientBool {
        type Value = Option<bool>;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("true or false")
        }

        fn visit_bool<E: de::Error>(self, value: bool) -> Result<Self::Value, E> {
            Ok(Some(value))
        }

        fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
            parse_bool(value)
                .map(Some)
                .ok_or_else(|| E::invalid_value(de::Unexpected::Str(value), &self))
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(
            self,
            deserializer: D,
        ) -> Result<Self::Value, D::Error> {
            deserializer.deserialize_any(LenientBool)
        }
    }

    deserializer.deserialize_option(LenientBool)
}

/// `true`/`false` in any case, as the older tool's string booleans and the secret's values are written.
pub fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// The JSON Schema of `config.json`, generated from these types.
pub fn json_schema() -> Value {
    let mut schema = schemars::schema_for!(Profile).to_value();
    if let Some(object) = schema.as_object_mut() {
        object.insert(
            "title".into(),
            "benchling-webhook profile (config.json)".into(),
        );
    }
    schema
}

/// Every settable field as its JSON path (`quilt.queueUrl`), from the generated schema.
pub fn field_paths() -> Vec<String> {
    let schema = json_schema();
    let mut paths = Vec::new();
    collect_paths(&schema, &schema, "", &mut paths);
    paths
}

fn collect_paths(root: &Value, node: &Value, prefix: &str, out: &mut Vec<String>) {
    let resolved = resolve(root, node);
    let Some(properties) = resolved.get("properties").and_then(Value::as_object) else {
        if !prefix.is_empty() {
            out.push(prefix.to_owned());
        }
        return;
    };
    for (name, property) in properties {
        if name.starts_with('$') || name == "_metadata" {
            continue;
        }
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        collect_paths(root, property, &path, out);
    }
}

/// Follows `$ref` (and the `anyOf: [$ref, null]` of an optional struct) to the definition.
fn resolve<'a>(root: &'a Value, node: &'a Value) -> &'a Value {
    if let Some(reference) = node.get("$ref").and_then(Value::as_str) {
        let name = reference.rsplit('/').next().unwrap_or_default();
        return root
            .get("$defs")
            .and_then(|defs| defs.get(name))
            .map_or(node, |def| resolve(root, def));
    }
    if let Some(options) = node.get("anyOf").and_then(Value::as_array)
        && let Some(object) = options.iter().find(|o| o.get("$ref").is_some())
    {
        return resolve(root, object);
    }
    node
}

/// Sets one field from text, as `--set quilt.region=us-east-1` does: normalised and type-checked like
/// the file; a list is given comma-separated.
pub fn set_field(profile: &mut Profile, path: &str, text: &str) -> anyhow::Result<()> {
    let known = field_paths();
    if !known.iter().any(|p| p == path) {
        anyhow::bail!(
            "unknown field `{path}`: expected one of {}",
            known.join(", ")
        );
    }
    let base = serde_json::to_value(&*profile)?;
    let as_text = Value::String(text.to_owned());
    let as_list = Value::Array(
        text.split(',')
            .map(|item| Value::String(item.trim().to_owned()))
            .filter(|v| v != "")
            .collect(),
    );
    let mut first_error = None;
    for candidate in [as_text, as_list] {
        let mut value = base.clone();
        let mut node = &mut value;
        for key in path.split('.') {
            node = node
                .as_object_mut()
                .expect("profiles are objects down every field path")
                .entry(key)
                .or_insert_with(|| Value::Object(Map::new()));
        }
        *node = candidate;
        match serde_path_to_error::deserialize::<_, Profile>(value) {
            Ok(updated) => {
                *profile = updated;
                return Ok(());
            }
            Err(err) => {
                first_error.get_or_insert_with(|| format!("`{path}`: {}", err.inner()));
            }
        }
    }
    Err(anyhow::anyhow!(
        first_error.expect("both candidates failed")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_paths_reach_nested_and_optional_structs() {
        let paths = field_paths();
        for path in [
            "quilt.queueUrl",
            "benchling.clientSecret",
            "deployment.vpc.privateSubnetIds",
            "security.enableVerification",
            "integratedStack",
        ] {
            assert!(
                paths.iter().any(|p| p == path),
                "{path} missing from {paths:?}"
            );
        }
        assert!(
            !paths
                .iter()
                .any(|p| p.starts_with("_metadata") || p.starts_with('$'))
        );
    }

    #[test]
    fn set_field_normalises_and_parses_like_the_file() {
        let mut profile = Profile::default();
        set_field(
            &mut profile,
            "benchling.tenant",
            "https://acme.benchling.com",
        )
        .unwrap();
        set_field(&mut profile, "security.enableVerification", "false").unwrap();
        set_field(
            &mut profile,
            "deployment.vpc.privateSubnetIds",
            "subnet-a, subnet-b",
        )
        .unwrap();
        assert_eq!(profile.benchling.tenant.as_deref(), Some("acme"));
        assert_eq!(profile.security.enable_verification, Some(false));
        assert_eq!(
            profile.deployment.vpc.unwrap().private_subnet_ids.unwrap(),
            ["subnet-a", "subnet-b"]
        );
    }

    #[test]
    fn set_field_rejects_unknown_fields_and_wrong_types() {
        let mut profile = Profile::default();
        let unknown = set_field(&mut profile, "quilt.regoin", "x")
            .unwrap_err()
            .to_string();
        assert!(
            unknown.starts_with("unknown field `quilt.regoin`: expected one of "),
            "{unknown}"
        );
        let wrong = set_field(&mut profile, "security.enableVerification", "maybe")
            .unwrap_err()
            .to_string();
        assert_eq!(
            wrong,
            "`security.enableVerification`: invalid value: string \"maybe\", expected true or false"
        );
    }

    #[test]
    fn tenant_is_reduced_to_the_subdomain() {
        for input in [
            "acme",
            "acme.benchling.com",
            "https://acme.benchling.com/",
            " ACME.benchling.com/foo?x=1 ",
        ] {
            assert_eq!(normalise_tenant(input), "acme", "{input:?}");
        }
    }

    #[test]
    fn catalog_url_is_reduced_to_its_host() {
        assert_eq!(
            normalise_catalog("https://Quilt.Example.com/b/bucket"),
            "quilt.example.com"
        );
        assert_eq!(normalise_catalog("quilt.example.com"), "quilt.example.com");
    }

    #[test]
    fn booleans_are_read_from_bools_and_strings() {
        for (text, expected) in [
            ("true", Some(true)),
            ("\"true\"", Some(true)),
            ("\"False\"", Some(false)),
            ("null", None),
        ] {
            let json = format!(r#"{{"enableVerification": {text}}}"#);
            let security: Security = serde_json::from_str(&json).unwrap();
            assert_eq!(security.enable_verification, expected, "{text}");
        }
    }

    #[test]
    fn a_non_boolean_string_is_rejected_with_what_was_expected() {
        let err = serde_json::from_str::<Security>(r#"{"enableVerification": "yes"}"#).unwrap_err();
        assert!(
            err.to_string()
                .contains(r#"invalid value: string "yes", expected true or false"#),
            "{err}"
        );
    }

    #[test]
    fn unknown_fields_survive_a_round_trip_at_every_level() {
        let json = serde_json::json!({
            "$comment": "kept",
            "quilt": {"catalog": "q.example.com", "futureField": [1, 2]},
            "deployment": {"vpc": {"vpcId": "vpc-1", "extra": true}},
            "somethingNew": {"a": 1}
        });
        let profile: Profile = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(serde_json::to_value(&profile).unwrap(), json);
    }

    #[test]
    fn schema_describes_the_camel_case_fields() {
        let schema = json_schema().to_string();
        for field in [
            "\"queueUrl\"",
            "\"appDefinitionId\"",
            "\"_inherits\"",
            "\"webhookAllowList\"",
        ] {
            assert!(schema.contains(field), "{field} missing from the schema");
        }
    }
}
