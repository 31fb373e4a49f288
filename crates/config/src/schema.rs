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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub athena_user_workgroup: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub athena_user_policy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket_write_policy_arn: Option<String>,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecr_repository: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_tag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc: Option<Vpc>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Vpc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_subnet_ids: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_subnet_ids: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_zones: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_cidr_block: Option<String>,
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

#[cfg(test)]
mod tests {
    use super::*;

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
