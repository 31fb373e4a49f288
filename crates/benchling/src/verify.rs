//! Webhook signature verification, step for step as Benchling's SDK (`webhook_helpers.verify`) does it:
//! headers found case-insensitively, the timestamp within five minutes of now, the message
//! `{webhook-id}.{webhook-timestamp}.{raw body}`, and each `…der…` signature (base64 of an ASN.1 DER
//! ECDSA P-256/SHA-256 signature) tried against every key of the app's JWKS.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use ring::signature::{ECDSA_P256_SHA256_ASN1, UnparsedPublicKey};
use serde::Deserialize;

pub const TOLERANCE: Duration = Duration::from_secs(5 * 60);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyError {
    MissingHeader(&'static str),
    InvalidTimestamp,
    TimestampTooOld,
    TimestampTooNew,
    NoDerSignature,
    NoMatchingSignature,
    /// The app's keys could not be had (network, HTTP status, unreadable JWKS).
    Jwks(String),
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyError::MissingHeader(name) => write!(f, "Missing {name} header"),
            VerifyError::InvalidTimestamp => f.write_str("Invalid Signature Headers"),
            VerifyError::TimestampTooOld => f.write_str("Message timestamp too old"),
            VerifyError::TimestampTooNew => f.write_str("Message timestamp too new"),
            VerifyError::NoDerSignature => f.write_str("Expected to find a der encoded signature"),
            VerifyError::NoMatchingSignature => f.write_str("No matching signature found"),
            VerifyError::Jwks(why) => write!(f, "Could not get the app's signing keys: {why}"),
        }
    }
}

impl std::error::Error for VerifyError {}

impl VerifyError {
    /// The `reason` of the 403 answer, as the older service gave it.
    pub fn reason(&self) -> &'static str {
        match self {
            VerifyError::MissingHeader(_) => "missing_headers",
            VerifyError::Jwks(_) => "jwks_fetch_failed",
            _ => "invalid_signature",
        }
    }
}

/// The three signature headers, looked up case-insensitively.
#[derive(Debug, Clone, Copy)]
pub struct SignatureHeaders<'a> {
    pub id: &'a str,
    pub timestamp: &'a str,
    pub signature: &'a str,
}

impl<'a> SignatureHeaders<'a> {
    pub fn find(
        headers: impl IntoIterator<Item = (&'a str, &'a str)> + Clone,
    ) -> Result<Self, VerifyError> {
        let get = |wanted: &'static str| {
            headers
                .clone()
                .into_iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(wanted))
                .map(|(_, value)| value)
                .ok_or(VerifyError::MissingHeader(wanted))
        };
        Ok(SignatureHeaders {
            id: get("webhook-id")?,
            timestamp: get("webhook-timestamp")?,
            signature: get("webhook-signature")?,
        })
    }
}

/// A P-256 public key as the uncompressed point `04 || x || y`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey(Vec<u8>);

#[derive(Deserialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    kty: String,
    #[serde(default)]
    crv: Option<String>,
    #[serde(default)]
    x: Option<String>,
    #[serde(default)]
    y: Option<String>,
}

/// The P-256 keys of a JWKS document; other keys are skipped, no usable key is an error.
pub fn parse_jwks(json: &[u8]) -> Result<Vec<PublicKey>, String> {
    let jwks: Jwks =
        serde_json::from_slice(json).map_err(|err| format!("not a JWKS document: {err}"))?;
    let decode = |coordinate: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(coordinate.trim_end_matches('='))
            .ok()
    };
    let keys: Vec<PublicKey> = jwks
        .keys
        .iter()
        .filter(|k| k.kty == "EC" && k.crv.as_deref() == Some("P-256"))
        .filter_map(|k| {
            let (x, y) = (decode(k.x.as_deref()?)?, decode(k.y.as_deref()?)?);
            (x.len() == 32 && y.len() == 32).then(|| PublicKey([&[4u8][..], &x, &y].concat()))
        })
        .collect();
    if keys.is_empty() {
        return Err("the JWKS holds no P-256 key".into());
    }
    Ok(keys)
}

impl PublicKey {
    pub fn from_uncompressed_point(point: &[u8]) -> Self {
        PublicKey(point.to_vec())
    }
}

/// Checks the timestamp and takes out the DER signatures; done before any key is needed.
pub fn prepare(
    headers: &SignatureHeaders<'_>,
    now: SystemTime,
) -> Result<Vec<Vec<u8>>, VerifyError> {
    let sent: f64 = headers
        .timestamp
        .trim()
        .parse()
        .map_err(|_| VerifyError::InvalidTimestamp)?;
    if !sent.is_finite() {
        return Err(VerifyError::InvalidTimestamp);
    }
    let now = now
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    let tolerance = TOLERANCE.as_secs_f64();
    if sent < now - tolerance {
        return Err(VerifyError::TimestampTooOld);
    }
    if sent > now + tolerance {
        return Err(VerifyError::TimestampTooNew);
    }
    let signatures: Vec<Vec<u8>> = headers
        .signature
        .split(' ')
        .filter_map(|item| item.split_once(','))
        .filter(|(version, _)| version.contains("der"))
        .filter_map(|(_, encoded)| {
            base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .ok()
        })
        .collect();
    if signatures.is_empty() {
        return Err(VerifyError::NoDerSignature);
    }
    Ok(signatures)
}

/// Whether any signature verifies `{id}.{timestamp}.{body}` under any key.
pub fn matches(
    headers: &SignatureHeaders<'_>,
    body: &[u8],
    signatures: &[Vec<u8>],
    keys: &[PublicKey],
) -> bool {
    let message = [
        headers.id.as_bytes(),
        b".",
        headers.timestamp.as_bytes(),
        b".",
        body,
    ]
    .concat();
    keys.iter().any(|key| {
        let key = UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &key.0);
        signatures
            .iter()
            .any(|signature| key.verify(&message, signature).is_ok())
    })
}

/// The whole check against known keys.
pub fn verify(
    headers: &SignatureHeaders<'_>,
    body: &[u8],
    keys: &[PublicKey],
    now: SystemTime,
) -> Result<(), VerifyError> {
    let signatures = prepare(headers, now)?;
    if matches(headers, body, &signatures, keys) {
        Ok(())
    } else {
        Err(VerifyError::NoMatchingSignature)
    }
}

#[cfg(test)]
mod tests {
    //! Vectors made by the openssl CLI (tests/vectors/make.sh), not by this code.

    use super::*;

    const BODY: &[u8] = include_bytes!("../tests/vectors/body.json");
    const HEADERS: &str = include_str!("../tests/vectors/headers.json");

    fn headers() -> Vec<(String, String)> {
        let map: std::collections::BTreeMap<String, String> =
            serde_json::from_str(HEADERS).unwrap();
        map.into_iter().collect()
    }

    fn keys(file: &str) -> Vec<PublicKey> {
        let path = format!("{}/tests/vectors/{file}", env!("CARGO_MANIFEST_DIR"));
        parse_jwks(&std::fs::read(path).unwrap()).unwrap()
    }

    fn at(offset_secs: i64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs((1_730_000_000 + offset_secs) as u64)
    }

    fn check(
        headers: &[(String, String)],
        body: &[u8],
        jwks: &str,
        now: SystemTime,
    ) -> Result<(), VerifyError> {
        let pairs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let found = SignatureHeaders::find(pairs.iter().copied())?;
        verify(&found, body, &keys(jwks), now)
    }

    #[test]
    fn an_openssl_signature_verifies() {
        assert_eq!(check(&headers(), BODY, "jwks-key1.json", at(10)), Ok(()));
    }

    #[test]
    fn any_key_of_the_set_may_match() {
        assert_eq!(check(&headers(), BODY, "jwks-both.json", at(0)), Ok(()));
    }

    #[test]
    fn header_names_are_case_insensitive() {
        let upper: Vec<(String, String)> = headers()
            .into_iter()
            .map(|(k, v)| (k.to_uppercase(), v))
            .collect();
        assert_eq!(check(&upper, BODY, "jwks-key1.json", at(0)), Ok(()));
    }

    #[test]
    fn a_tampered_body_fails() {
        let mut body = BODY.to_vec();
        body[10] ^= 1;
        assert_eq!(
            check(&headers(), &body, "jwks-key1.json", at(0)),
            Err(VerifyError::NoMatchingSignature)
        );
    }

    #[test]
    fn re_serialised_json_fails_because_the_raw_body_is_signed() {
        let value: serde_json::Value = serde_json::from_slice(BODY).unwrap();
        let reserialised = serde_json::to_vec(&value).unwrap();
        assert_ne!(reserialised, BODY);
        assert_eq!(
            check(&headers(), &reserialised, "jwks-key1.json", at(0)),
            Err(VerifyError::NoMatchingSignature)
        );
    }

    #[test]
    fn the_wrong_key_fails() {
        assert_eq!(
            check(&headers(), BODY, "jwks-key2.json", at(0)),
            Err(VerifyError::NoMatchingSignature)
        );
    }

    #[test]
    fn timestamps_outside_five_minutes_fail() {
        assert_eq!(
            check(&headers(), BODY, "jwks-key1.json", at(301)),
            Err(VerifyError::TimestampTooOld)
        );
        assert_eq!(
            check(&headers(), BODY, "jwks-key1.json", at(-301)),
            Err(VerifyError::TimestampTooNew)
        );
        assert_eq!(check(&headers(), BODY, "jwks-key1.json", at(299)), Ok(()));
    }

    #[test]
    fn each_missing_header_is_named() {
        for missing in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
            let some: Vec<_> = headers()
                .into_iter()
                .filter(|(k, _)| k != missing)
                .collect();
            let err = check(&some, BODY, "jwks-key1.json", at(0)).unwrap_err();
            assert_eq!(err.to_string(), format!("Missing {missing} header"));
            assert_eq!(err.reason(), "missing_headers");
        }
    }

    #[test]
    fn items_that_are_not_der_are_ignored_and_none_left_is_an_error() {
        let mut h = headers();
        let signature = h
            .iter_mut()
            .find(|(k, _)| k == "webhook-signature")
            .unwrap();
        let der = signature.1.clone();
        signature.1 = format!("v1,c2lnbmF0dXJl {der}");
        assert_eq!(
            check(&h, BODY, "jwks-key1.json", at(0)),
            Ok(()),
            "a v1 item beside the der one is skipped"
        );
        h.iter_mut()
            .find(|(k, _)| k == "webhook-signature")
            .unwrap()
            .1 = "v1,c2lnbmF0dXJl".into();
        assert_eq!(
            check(&h, BODY, "jwks-key1.json", at(0)),
            Err(VerifyError::NoDerSignature)
        );
    }

    #[test]
    fn a_der_item_that_is_not_a_signature_fails_to_match() {
        let mut h = headers();
        h.iter_mut()
            .find(|(k, _)| k == "webhook-signature")
            .unwrap()
            .1 = "v1bder,bm90LWRlcg==".into();
        assert_eq!(
            check(&h, BODY, "jwks-key1.json", at(0)),
            Err(VerifyError::NoMatchingSignature)
        );
    }

    #[test]
    fn an_unparsable_timestamp_fails() {
        let mut h = headers();
        h.iter_mut()
            .find(|(k, _)| k == "webhook-timestamp")
            .unwrap()
            .1 = "yesterday".into();
        assert_eq!(
            check(&h, BODY, "jwks-key1.json", at(0)),
            Err(VerifyError::InvalidTimestamp)
        );
    }
}
