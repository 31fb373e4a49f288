//! Turns packaging requests into Quilt packages: export the entry from Benchling, put its files in S3,
//! ask Quilt's packager to build the package, and show it on the entry's canvas. Doing an entry twice
//! writes the same keys and the same package, so retries are harmless.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use aws_sdk_s3::primitives::ByteStream;
use benchling::client::{Api, Credentials};
use config::secrets::BenchlingSecret;
use serde_json::{Value, json};

use crate::events::{UPDATE_BUTTON_PREFIX, opens_canvas};
use crate::queue::{PackagingRequest, Queue, Received};
use crate::secret::SecretCache;

pub struct Worker {
    pub secrets: Arc<SecretCache>,
    pub queue: Arc<Queue>,
    pub s3: aws_sdk_s3::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub packager_queue_url: Option<String>,
    pub quilt_web_host: Option<String>,
    pub benchling_base_url: Option<String>,
    pub export_poll: Duration,
    pub export_timeout: Duration,
    pub wait: Duration,
    pub retry_base: Duration,
    /// One API client per set of credentials, so its token is reused until the secret changes.
    api: Mutex<Option<(ApiKey, Arc<Api>)>>,
}

/// The credentials an API client was made for: tenant, client id, client secret.
type ApiKey = (String, String, secret::SecretString);

/// What one request produced.
#[derive(Debug)]
pub struct Packaged {
    pub package_name: String,
    pub bucket: String,
    /// The files exported and written; `None` when Quilt had the package already and the canvas only
    /// had to show it.
    pub files: Option<usize>,
}

impl Worker {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        secrets: Arc<SecretCache>,
        queue: Arc<Queue>,
        s3: aws_sdk_s3::Client,
        sqs: aws_sdk_sqs::Client,
        packager_queue_url: Option<String>,
        quilt_web_host: Option<String>,
        benchling_base_url: Option<String>,
        wait: Duration,
        retry_base: Duration,
    ) -> Self {
        Worker {
            secrets,
            queue,
            s3,
            sqs,
            packager_queue_url,
            quilt_web_host,
            benchling_base_url,
            export_poll: Duration::from_secs(1),
            export_timeout: Duration::from_secs(300),
            wait,
            retry_base,
            api: Mutex::new(None),
        }
    }

    /// Takes requests until `stop` says so; the request in hand is finished first.
    pub async fn run(&self, mut stop: tokio::sync::watch::Receiver<bool>) {
        tracing::info!(queue = %self.queue.describe(), "worker started");
        while !*stop.borrow() {
            let batch = tokio::select! {
                batch = self.queue.receive(1, self.wait) => batch,
                _ = stop.changed() => break,
            };
            match batch {
                Ok(batch) => {
                    for received in batch {
                        self.handle(received).await;
                    }
                }
                Err(err) => {
                    tracing::error!(error = %format!("{err:#}"), "receiving failed; trying again shortly");
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
            }
        }
        tracing::info!("worker stopped");
    }

    async fn handle(&self, received: Received) {
        let entry = received.request.entry_id.clone();
        match self.package(&received.request).await {
            Ok(done) => {
                match done.files {
                    Some(files) => {
                        tracing::info!(entry_id = %entry, package = %done.package_name, bucket = %done.bucket, files, "packaged")
                    }
                    None => {
                        tracing::info!(entry_id = %entry, package = %done.package_name, bucket = %done.bucket, "package already in Quilt: shown on the canvas")
                    }
                }
                if let Err(err) = self.queue.delete(&received).await {
                    tracing::error!(entry_id = %entry, error = %format!("{err:#}"), "packaged, but the request could not be deleted; it will be done again");
                }
            }
            Err(err) => {
                // Backs off 2, 4, 8 … times the base, up to 15 min; the queue's redrive policy ends it in
                // the dead-letter queue once its receives run out.
                let delay = self
                    .retry_base
                    .saturating_mul(1 << received.receive_count.min(7))
                    .min(Duration::from_secs(900));
                tracing::error!(entry_id = %entry, attempt = received.receive_count, retry_in_s = delay.as_secs(), error = %format!("{err:#}"), "packaging failed");
                if let Err(err) = self.queue.retry_later(&received, delay).await {
                    tracing::error!(entry_id = %entry, error = %format!("{err:#}"), "could not delay the retry");
                }
            }
        }
    }

    fn api(&self, secret: &BenchlingSecret) -> Arc<Api> {
        let key = (
            secret.tenant.clone(),
            secret.client_id.clone(),
            secret.client_secret.clone(),
        );
        let mut cached = self.api.lock().expect("api cache lock");
        if let Some((_, api)) = cached.as_ref().filter(|(k, _)| *k == key) {
            return api.clone();
        }
        let base = self
            .benchling_base_url
            .clone()
            .unwrap_or_else(|| format!("https://{}.benchling.com", secret.tenant));
        let credentials = Credentials {
            client_id: secret.client_id.clone(),
            client_secret: secret.client_secret.clone(),
        };
        let api = Arc::new(Api::new(
            benchling::client::http_client(),
            &base,
            credentials,
        ));
        *cached = Some((key, api.clone()));
        api
    }

    /// Does one request, start to finish.
    pub async fn package(&self, request: &PackagingRequest) -> anyhow::Result<Packaged> {
        let secret = self
            .secrets
            .get()
            .await
            .map_err(|reason| anyhow::anyhow!(reason))?;
        let api = self.api(&secret);
        let mut entry_id = request.entry_id.clone();
        if entry_id.is_empty() {
            let canvas_id = request
                .canvas_id
                .as_deref()
                .context("a request with neither entry nor canvas")?;
            let canvas = api.get_canvas(canvas_id).await?;
            entry_id = canvas["resourceId"]
                .as_str()
                .context("the canvas names no entry (`resourceId`)")?
                .to_owned();
        }
        let entry = api.get_entry(&entry_id).await?;
        let display_id = entry["displayId"]
            .as_str()
            .filter(|d| !d.is_empty())
            .context("the entry has no displayId")?
            .to_owned();
        let canvas_id = request.canvas_id.clone().or_else(|| canvas_in(&entry));
        let bucket = secret.user_bucket.clone();
        let package_name = format!("{}/{display_id}", secret.pkg_prefix.trim_end_matches('/'));
        // The canvas's package view: a link to the package as of `at`, and the update button.
        let show_package = async |canvas_id: &str, at: &str| {
            let blocks = canvas_blocks(
                self.quilt_web_host.as_deref(),
                &bucket,
                &package_name,
                &entry_id,
                at,
            );
            api.patch_canvas(canvas_id, blocks).await
        };

        // A canvas being put on an entry shows its package; only an entry Quilt has no package of yet
        // is exported for it (entry events and the update button always export).
        if let Some(canvas_id) = canvas_id.as_deref()
            && opens_canvas(&request.event_type)
            && let Some(published) = self.published_at(&bucket, &package_name).await?
        {
            show_package(canvas_id, &published).await?;
            return Ok(Packaged {
                package_name,
                bucket,
                files: None,
            });
        }

        let task = api.start_export(&entry_id).await?;
        let url = api
            .wait_for_task(&task, self.export_poll, self.export_timeout)
            .await?;
        let archive = api.download(&url).await?;

        let mut files = BTreeMap::new();
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(archive))
            .context("the export is not a ZIP file")?;
        for index in 0..zip.len() {
            let mut member = zip.by_index(index).context("reading the export")?;
            if member.is_dir() {
                continue;
            }
            let Some(name) = member
                .enclosed_name()
                .map(|p| p.to_string_lossy().replace('\\', "/"))
            else {
                bail!(
                    "the export holds a file with an unsafe name: {:?}",
                    member.name()
                );
            };
            let mut bytes = Vec::with_capacity(member.size() as usize);
            member
                .read_to_end(&mut bytes)
                .with_context(|| format!("unpacking {name}"))?;
            let key = format!("{package_name}/{name}");
            let size = bytes.len();
            self.put(&bucket, &key, bytes, None).await?;
            files.insert(name, json!({"s3_key": key, "size": size}));
        }

        let now = config::now_rfc3339();
        let base_url = api.base_url().to_owned();
        let mut metadata = json!({
            "package_name": package_name,
            "entry_id": entry_id,
            "display_id": display_id,
            "name": entry["name"],
            "web_url": entry["webURL"],
            "creator": entry["creator"],
            "authors": entry["authors"],
            "created_at": entry["createdAt"],
            "modified_at": entry["modifiedAt"],
            "export_timestamp": now,
            "benchling_base_url": base_url,
            "canvas_id": canvas_id,
            "files": files,
        });
        metadata[secret.pkg_key.as_str()] = json!(display_id);
        self.put(
            &bucket,
            &format!("{package_name}/entry.json"),
            serde_json::to_vec_pretty(&metadata)?,
            Some("application/json"),
        )
        .await?;
        self.put(
            &bucket,
            &format!("{package_name}/README.md"),
            readme(&entry, &package_name, &files).into_bytes(),
            Some("text/markdown"),
        )
        .await?;

        let packager_url = self.packager_queue_url.as_deref().context(
            "PACKAGER_SQS_URL is not set: the service cannot ask Quilt to build packages",
        )?;
        let at = request.event_time.clone().unwrap_or_else(|| now.clone());
        let message = json!({
            "source_prefix": format!("s3://{bucket}/{package_name}/"),
            "registry": bucket,
            "package_name": package_name,
            "metadata_uri": "entry.json",
            "commit_message": format!("Benchling {} at {at}", request.event_type),
        });
        self.sqs
            .send_message()
            .queue_url(packager_url)
            .message_body(message.to_string())
            .send()
            .await
            .map_err(|err| anyhow::anyhow!("{}", aws_sdk_sqs::error::DisplayErrorContext(err)))
            .context("sending the package to Quilt's packager queue")?;

        if let Some(canvas_id) = &canvas_id {
            show_package(canvas_id, &now).await?;
        }
        Ok(Packaged {
            package_name,
            bucket,
            files: Some(files.len()),
        })
    }

    /// When Quilt last published `package` to the registry `bucket` (the time of its
    /// `.quilt/named_packages/{package}/latest` pointer), or `None` when it has no such package.
    async fn published_at(&self, bucket: &str, package: &str) -> anyhow::Result<Option<String>> {
        use aws_sdk_s3::primitives::DateTimeFormat;
        let key = format!(".quilt/named_packages/{package}/latest");
        match self.s3.head_object().bucket(bucket).key(&key).send().await {
            Ok(head) => Ok(Some(
                head.last_modified()
                    .and_then(|at| at.fmt(DateTimeFormat::DateTime).ok())
                    .unwrap_or_else(config::now_rfc3339),
            )),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(None),
            // Without s3:ListBucket, S3 answers a missing key with 403: packaging again is harmless.
            Err(err)
                if err
                    .raw_response()
                    .is_some_and(|r| r.status().as_u16() == 403) =>
            {
                tracing::warn!(
                    bucket,
                    key,
                    "access denied looking for the package in Quilt's registry (grant s3:GetObject and s3:ListBucket on the bucket); packaging the entry instead"
                );
                Ok(None)
            }
            Err(err) => Err(anyhow::anyhow!(
                "looking for the package at s3://{bucket}/{key}: {}",
                aws_sdk_s3::error::DisplayErrorContext(err)
            )),
        }
    }

    async fn put(
        &self,
        bucket: &str,
        key: &str,
        bytes: Vec<u8>,
        content_type: Option<&str>,
    ) -> anyhow::Result<()> {
        let mut put = self
            .s3
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(ByteStream::from(bytes));
        if let Some(content_type) = content_type {
            put = put.content_type(content_type);
        }
        put.send()
            .await
            .map_err(|err| anyhow::anyhow!("{}", aws_sdk_s3::error::DisplayErrorContext(err)))
            .with_context(|| format!("writing s3://{bucket}/{key}"))?;
        Ok(())
    }
}

/// The entry's canvas, from its notes (`type: app_canvas`), when the event did not name one.
fn canvas_in(entry: &Value) -> Option<String> {
    entry["days"]
        .as_array()?
        .iter()
        .flat_map(|day| day["notes"].as_array().into_iter().flatten())
        .find_map(|note| {
            (note["type"] == "app_canvas")
                .then(|| note["canvasId"].as_str().map(str::to_owned))
                .flatten()
        })
}

/// The package link and the button that packages the entry again.
pub fn canvas_blocks(
    catalog: Option<&str>,
    bucket: &str,
    package: &str,
    entry_id: &str,
    at: &str,
) -> Value {
    let link = match catalog {
        Some(host) => format!("[{package}](https://{host}/b/{bucket}/packages/{package})"),
        None => format!("`s3://{bucket}/{package}/`"),
    };
    json!([
        {"id": "quilt-package", "type": "MARKDOWN", "value": format!("**Quilt package:** {link}\n\nUpdated {at}.")},
        {"id": format!("{UPDATE_BUTTON_PREFIX}{entry_id}"), "type": "BUTTON", "text": "Update package", "enabled": true},
    ])
}

fn readme(entry: &Value, package: &str, files: &BTreeMap<String, Value>) -> String {
    let text = |key: &str| entry[key].as_str().unwrap_or("").to_owned();
    let mut out = format!("# {} ({})\n\n", text("name"), text("displayId"));
    out.push_str(&format!(
        "Exported from Benchling as the Quilt package `{package}`.\n\n"
    ));
    if !text("webURL").is_empty() {
        out.push_str(&format!("- Benchling entry: {}\n", text("webURL")));
    }
    out.push_str(&format!(
        "- Created {}, modified {}\n",
        text("createdAt"),
        text("modifiedAt")
    ));
    out.push_str("\n## Files\n\n");
    for (name, info) in files {
        out.push_str(&format!("- `{name}` ({} bytes)\n", info["size"]));
    }
    out.push_str("- `entry.json`: the entry's metadata\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_canvas_is_found_in_the_entrys_notes() {
        let entry: Value =
            serde_json::from_str(include_str!("../../benchling/fixtures/entry.json")).unwrap();
        assert_eq!(canvas_in(&entry["entry"]).as_deref(), Some("cnvs_pHGVgdN1"));
    }

    #[test]
    fn the_canvas_links_the_package_in_the_catalog_and_offers_an_update() {
        let blocks = canvas_blocks(
            Some("quilt.example.com"),
            "pkgs",
            "benchling/EXP1",
            "etr_1",
            "now",
        );
        assert!(
            blocks[0]["value"]
                .as_str()
                .unwrap()
                .contains("(https://quilt.example.com/b/pkgs/packages/benchling/EXP1)")
        );
        assert_eq!(blocks[1]["id"], "update-package-etr_1");
        assert_eq!(blocks[1]["type"], "BUTTON");
    }
}
