//! A credential type shared by every crate that handles one, so redaction follows the type.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A credential. It serialises as itself (profile files and the AWS secret must hold the value), but
/// `Debug` and `Display` never show it, so it cannot reach a log or an error message by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

pub const REDACTED: &str = "<redacted>";

impl SecretString {
    pub fn new(value: impl Into<String>) -> Self {
        SecretString(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// What `config show` and diffs print in place of the value.
    pub fn redacted() -> Self {
        SecretString(REDACTED.to_owned())
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for SecretString {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SecretString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(SecretString)
    }
}

impl schemars::JsonSchema for SecretString {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "SecretString".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        String::json_schema(generator)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_never_shows_the_value() {
        let secret = SecretString::new("s3cr3t");
        assert_eq!(
            format!("{secret} {secret:?} {:?}", Some(&secret)),
            "<redacted> <redacted> Some(<redacted>)"
        );
    }

    #[test]
    fn serialisation_keeps_the_value_for_storage() {
        let secret = SecretString::new("s3cr3t");
        assert_eq!(serde_json::to_string(&secret).unwrap(), "\"s3cr3t\"");
    }
}
