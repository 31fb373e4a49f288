//! `benchling-webhook`: the service that turns Benchling notebook entries into Quilt packages.

mod app;
mod events;
mod manifest;
mod queue;
mod secret;
mod settings;
mod tls_roots;
mod worker;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;

/// Receives Benchling's webhooks and packages notebook entries in Quilt.
#[derive(Debug, Parser)]
#[command(name = "benchling-webhook", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Serve the webhooks (the default), with the packaging worker in-process unless WORKER=off
    Serve,
    /// Run only the packaging worker
    Worker,
    /// Exit 0 if the server on $PORT answers /health/live, else 1 (Docker's HEALTHCHECK)
    Healthcheck,
    /// Print the Benchling app manifest (YAML)
    Manifest,
    /// Say how many CA roots the TLS clients trust and where they come from; exit 1 if none
    TlsRoots,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Manifest => {
            print!("{}", manifest::yaml());
            Ok(())
        }
        Command::Healthcheck => healthcheck(),
        Command::TlsRoots => tls_roots::report(),
        Command::Serve => runtime().and_then(|rt| rt.block_on(serve(true))),
        Command::Worker => runtime().and_then(|rt| rt.block_on(serve(false))),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn init_logging(settings: &settings::Settings) {
    let level = match settings.log_level.as_str() {
        "DEBUG" => "debug",
        "WARNING" | "WARN" => "warn",
        "ERROR" => "error",
        _ => "info",
    };
    // Our crates at the chosen level; the SDKs only when they warn.
    let filter = tracing_subscriber::EnvFilter::new(format!(
        "warn,benchling_webhook={level},benchling={level},config={level}"
    ));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    if settings.log_json {
        builder.json().flatten_event(true).init()
    } else {
        builder.init()
    }
}

/// The server (`with_http`) or the worker alone, until SIGTERM or Ctrl-C.
async fn serve(with_http: bool) -> anyhow::Result<()> {
    let settings = settings::Settings::from_env()?;
    init_logging(&settings);
    let aws = config::aws::Aws::from_env(settings.region.as_deref()).await;
    let secrets = Arc::new(secret::SecretCache::new(
        aws.clone(),
        settings.secret_id.as_deref(),
        settings.region.as_deref(),
        settings.secret_ttl,
    ));
    let queue_url = settings
        .request_queue_url
        .clone()
        .context("PACKAGING_REQUEST_QUEUE_URL is not set: accepted events need a queue")?;
    let queue = Arc::new(queue::Queue::new(aws.sqs(), &queue_url));
    if settings.verification_override == Some(false) {
        tracing::warn!(
            "WEBHOOK SIGNATURE VERIFICATION IS OFF (ENABLE_WEBHOOK_VERIFICATION=false): anyone who can reach this service can trigger exports"
        );
    }
    match secrets.get().await {
        Ok(secret)
            if !secret.enable_webhook_verification && settings.verification_override.is_none() =>
        {
            tracing::warn!(
                "WEBHOOK SIGNATURE VERIFICATION IS OFF (the secret's enable_webhook_verification is false)"
            );
        }
        Ok(_) => {}
        Err(reason) => {
            tracing::error!(%reason, "starting DEGRADED: webhooks are refused until the secret can be read")
        }
    }

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let worker = (!with_http || settings.worker_in_server).then(|| {
        let worker = worker::Worker::new(
            secrets.clone(),
            queue.clone(),
            aws.s3(),
            aws.sqs(),
            settings.packager_queue_url.clone(),
            settings.quilt_web_host.clone(),
            settings.benchling_base_url.clone(),
            settings.sqs_wait,
            settings.retry_base,
        );
        let stop = stop_rx.clone();
        tokio::spawn(async move { worker.run(stop).await })
    });

    if with_http {
        let http = benchling::client::http_client();
        let state = Arc::new(app::AppState {
            secrets: secrets.clone(),
            jwks: benchling::jwks::JwksCache::new(http, &settings.jwks_base_url),
            queue: queue.clone(),
            verification_override: settings.verification_override,
        });
        let listener = tokio::net::TcpListener::bind(("0.0.0.0", settings.port))
            .await
            .with_context(|| format!("listening on port {}", settings.port))?;
        tracing::info!(port = settings.port, version = env!("CARGO_PKG_VERSION"), queue = %queue.describe(), tls_roots = tls_roots::load().count, "serving");
        axum::serve(listener, app::router(state))
            .with_graceful_shutdown(shutdown_signal())
            .await
            .context("serving")?;
    } else {
        shutdown_signal().await;
    }
    let _ = stop_tx.send(true);
    if let Some(worker) = worker {
        // The packaging job in hand is finished, within bounds.
        if tokio::time::timeout(Duration::from_secs(60), worker)
            .await
            .is_err()
        {
            tracing::warn!(
                "the packaging job did not finish within 60 s; its request will be retried"
            );
        }
    }
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing the SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::info!("shutting down: no new requests; finishing those in flight");
}

/// `GET /health/live` on 127.0.0.1:$PORT with a plain socket: the image has no curl.
fn healthcheck() -> anyhow::Result<()> {
    use std::io::{Read, Write};
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8080);
    let mut stream = std::net::TcpStream::connect_timeout(
        &([127, 0, 0, 1], port).into(),
        Duration::from_secs(2),
    )
    .with_context(|| format!("nothing answers on port {port}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(3)))?;
    stream.write_all(b"GET /health/live HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head)?;
    anyhow::ensure!(
        &head[9..12] == b"200",
        "/health/live answered {}",
        String::from_utf8_lossy(&head[9..12])
    );
    Ok(())
}
