//! Deployment profiles of benchling-webhook.
//!
//! A profile is a directory `<base>/<name>/` holding `config.json` and `deployments.json`, where `<base>`
//! is `$XDG_CONFIG_HOME/benchling-webhook` or `~/.config/benchling-webhook`: the layout of the older
//! TypeScript tool, so its users' files keep working.

pub mod aws;
pub mod deployments;
mod fsutil;
pub mod health;
pub mod infer;
pub mod migrate;
mod paths;
pub mod schema;
pub mod secrets;
mod store;
pub mod validate;
pub mod wizard;

pub use paths::{ConfigBase, DEFAULT_PROFILE, PathError};
pub use schema::Profile;
pub use secret::SecretString;
pub use store::{Listing, Source, Store};

/// The current time as RFC 3339 in UTC to the second, e.g. `2025-11-04T10:00:00Z`.
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    rfc3339(secs)
}

/// Howard Hinnant's days-to-civil algorithm; no calendar crate needed for one format.
fn rfc3339(unix_secs: u64) -> String {
    let days = (unix_secs / 86_400) as i64;
    let secs_of_day = unix_secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s) = (
        secs_of_day / 3_600,
        secs_of_day % 3_600 / 60,
        secs_of_day % 60,
    );
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z")
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_matches_known_instants() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(1_762_250_400), "2025-11-04T10:00:00Z");
        assert_eq!(super::rfc3339(951_825_599), "2000-02-29T11:59:59Z");
    }
}
