//! AWS access: the standard environment through aws-config (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL,
//! SSO, instance roles), HTTPS through rustls on ring.

use anyhow::Context;
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

    /// Creates the queues a stack gives the service, for the sandbox and tests (in the emulator): Quilt's
    /// packager queue `{prefix}quilt-packager`, and the service's FIFO packaging queue
    /// `{prefix}packaging.fifo`, which hands a message to `{prefix}packaging-dlq.fifo` after five failed
    /// receives. Creating what exists already is harmless, in moto as in AWS.
    pub async fn create_service_queues(
        &self,
        prefix: &str,
        visibility_timeout: std::time::Duration,
    ) -> anyhow::Result<ServiceQueues> {
        use aws_sdk_sqs::error::DisplayErrorContext;
        use aws_sdk_sqs::types::QueueAttributeName as Attribute;
        let sqs = self.sqs();
        // Creates the queue `name` with `attributes` and answers its URL.
        let create = async |name: String, attributes: Vec<(Attribute, String)>| {
            let answer = sqs
                .create_queue()
                .queue_name(&name)
                .set_attributes(Some(attributes.into_iter().collect()))
                .send()
                .await
                .map_err(|err| {
                    anyhow::anyhow!("creating queue {name}: {}", DisplayErrorContext(err))
                })?;
            answer
                .queue_url()
                .map(str::to_owned)
                .with_context(|| format!("creating queue {name}: the answer has no queue URL"))
        };
        let fifo = || (Attribute::FifoQueue, "true".to_owned());

        let packager = create(format!("{prefix}quilt-packager"), vec![]).await?;
        let dead_letter = create(format!("{prefix}packaging-dlq.fifo"), vec![fifo()]).await?;
        let dead_letter_arn = sqs
            .get_queue_attributes()
            .queue_url(&dead_letter)
            .attribute_names(Attribute::QueueArn)
            .send()
            .await
            .map_err(|err| {
                anyhow::anyhow!(
                    "reading the ARN of {dead_letter}: {}",
                    DisplayErrorContext(err)
                )
            })?
            .attributes()
            .and_then(|attributes| attributes.get(&Attribute::QueueArn).cloned())
            .with_context(|| format!("queue {dead_letter} has no ARN"))?;
        let redrive =
            serde_json::json!({"deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": "5"});
        let packaging = create(
            format!("{prefix}packaging.fifo"),
            vec![
                fifo(),
                (
                    Attribute::VisibilityTimeout,
                    visibility_timeout.as_secs().to_string(),
                ),
                (Attribute::RedrivePolicy, redrive.to_string()),
            ],
        )
        .await?;
        Ok(ServiceQueues {
            packager,
            packaging,
            dead_letter,
        })
    }
}

/// The URLs of the queues made by [`Aws::create_service_queues`].
pub struct ServiceQueues {
    /// Quilt's packager queue: the service asks Quilt to publish a package here.
    pub packager: String,
    /// The service's own FIFO queue of packaging work.
    pub packaging: String,
    /// Where packaging work goes after five failed attempts.
    pub dead_letter: String,
}

/// Runs async AWS work from synchronous code such as `cargo xtask`.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread tokio runtime builds")
        .block_on(future)
}
