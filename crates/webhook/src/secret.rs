//! The Benchling secret, read from Secrets Manager through a short cache, so that a rotated secret takes
//! effect without a restart and a missing one leaves the service degraded rather than dead.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use config::aws::Aws;
use config::secrets::{self, BenchlingSecret, SecretLocation};

/// How long a failure to read the secret is remembered: short, so a fixed secret is noticed quickly.
const FAILURE_TTL: Duration = Duration::from_secs(5);

/// The secret, or why it cannot be had.
type Lookup = Result<Arc<BenchlingSecret>, String>;

pub struct SecretCache {
    aws: Aws,
    location: Result<SecretLocation, String>,
    ttl: Duration,
    cached: RwLock<Option<(Instant, Lookup)>>,
    refreshing: tokio::sync::Mutex<()>,
}

impl SecretCache {
    pub fn new(aws: Aws, secret_id: Option<&str>, region: Option<&str>, ttl: Duration) -> Self {
        let location = match secret_id {
            None => Err("BenchlingSecret is not set: give the service the name or ARN of the Benchling secret".to_owned()),
            Some(id) => {
                let from_arn = id.starts_with("arn:");
                let region = if from_arn { id.split(':').nth(3).map(str::to_owned) } else { region.map(str::to_owned) };
                match region {
                    Some(region) => Ok(SecretLocation { id: id.to_owned(), region, from_arn }),
                    None => Err(format!("no region for secret {id}: set AWS_REGION or give BenchlingSecret as an ARN")),
                }
            }
        };
        SecretCache {
            aws,
            location,
            ttl,
            cached: RwLock::new(None),
            refreshing: tokio::sync::Mutex::new(()),
        }
    }

    /// The secret, or why the service cannot have it (what the operator should do, never a value).
    pub async fn get(&self) -> Lookup {
        if let Some(fresh) = self.fresh() {
            return fresh;
        }
        let _one_reader = self.refreshing.lock().await;
        if let Some(fresh) = self.fresh() {
            return fresh;
        }
        let result = self.read().await;
        *self.cached.write().expect("secret cache lock") = Some((Instant::now(), result.clone()));
        result
    }

    fn fresh(&self) -> Option<Lookup> {
        let cached = self.cached.read().expect("secret cache lock");
        let (read_at, result) = cached.as_ref()?;
        let ttl = if result.is_ok() {
            self.ttl
        } else {
            FAILURE_TTL
        };
        (read_at.elapsed() < ttl).then(|| result.clone())
    }

    async fn read(&self) -> Lookup {
        let location = self.location.as_ref().map_err(Clone::clone)?;
        match secrets::read_current(&self.aws, location).await {
            Ok(Some((_, secret))) => Ok(Arc::new(secret)),
            Ok(None) => Err(format!(
                "secret {} does not exist in {}: create it with `cargo xtask config sync-secrets`",
                location.id, location.region
            )),
            Err(err) => Err(format!("{err:#}")),
        }
    }
}
