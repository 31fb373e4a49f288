//! AWS access: the standard environment through aws-config (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL,
//! SSO, instance roles), HTTPS through rustls on ring.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

#[derive(Clone, Debug)]
pub struct Aws {
    sdk: SdkConfig,
}

fn https_client() -> aws_sdk_sts::config::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

impl Aws {
    /// From the environment; `region`, when given, overrides the environment's.
    pub async fn from_env(region: Option<&str>) -> Self {
        let mut loader =
            aws_config::defaults(BehaviorVersion::latest()).http_client(https_client());
        if let Some(region) = region {
            loader = loader.region(Region::new(region.to_owned()));
        }
        Aws {
            sdk: loader.load().await,
        }
    }

    /// An AWS emulator (moto) at `endpoint`, with the dummy credentials it accepts.
    pub async fn emulator(endpoint: &str, region: &str) -> Self {
        Self::emulator_as(endpoint, region, "testing", "testing").await
    }

    /// An AWS emulator at `endpoint` as a given identity.
    pub async fn emulator_as(
        endpoint: &str,
        region: &str,
        access_key_id: &str,
        secret_access_key: &str,
    ) -> Self {
        let credentials = aws_sdk_sts::config::Credentials::new(
            access_key_id,
            secret_access_key,
            None,
            None,
            "emulator",
        );
        let sdk = aws_config::defaults(BehaviorVersion::latest())
            .http_client(https_client())
            .region(Region::new(region.to_owned()))
            .endpoint_url(endpoint)
            .credentials_provider(credentials)
            .load()
            .await;
        Aws { sdk }
    }

    /// The same access in another region.
    pub fn in_region(&self, region: &str) -> Self {
        Aws {
            sdk: self
                .sdk
                .to_builder()
                .region(Region::new(region.to_owned()))
                .build(),
        }
    }

    pub fn region(&self) -> Option<&str> {
        self.sdk.region().map(Region::as_ref)
    }

    pub fn secrets(&self) -> aws_sdk_secretsmanager::Client {
        aws_sdk_secretsmanager::Client::new(&self.sdk)
    }

    pub fn s3(&self) -> aws_sdk_s3::Client {
        // Emulators serve buckets by path, not by virtual host.
        let path_style = self.sdk.endpoint_url().is_some();
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&self.sdk)
                .force_path_style(path_style)
                .build(),
        )
    }

    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.sdk)
    }

    pub fn sts(&self) -> aws_sdk_sts::Client {
        aws_sdk_sts::Client::new(&self.sdk)
    }

    pub fn cloudformation(&self) -> aws_sdk_cloudformation::Client {
        aws_sdk_cloudformation::Client::new(&self.sdk)
    }
}

/// Runs async AWS work from synchronous code such as `cargo xtask`.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread tokio runtime builds")
        .block_on(future)
}
