//! The Benchling side of the integration: the REST API client and a simulator that plays Benchling over
//! HTTP on 127.0.0.1 for tests and local runs.

pub mod client;
pub mod jwks;
#[cfg(feature = "sim")]
pub mod sim;
pub mod verify;
