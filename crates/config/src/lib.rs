//! Deployment profiles of benchling-webhook.
//!
//! A profile is a directory `<base>/<name>/` holding `config.json` and `deployments.json`, where `<base>`
//! is `$XDG_CONFIG_HOME/benchling-webhook` or `~/.config/benchling-webhook`: the layout of the older
//! TypeScript tool, so its users' files keep working.

mod paths;

pub use paths::{ConfigBase, DEFAULT_PROFILE, PathError};
