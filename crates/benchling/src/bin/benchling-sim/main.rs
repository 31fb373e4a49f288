//! `benchling-sim`: plays Benchling on 127.0.0.1 for local runs, and sends it signed webhooks.

use std::net::SocketAddr;
use std::time::Duration;

mod load;

use anyhow::Context;
use benchling::sim::{AppCredentials, FIXTURE_EVENTS, Simulator};
use clap::Parser;
use secret::SecretString;

/// Plays Benchling over HTTP on 127.0.0.1: token, JWKS, entries, exports, tasks, app canvases.
#[derive(Debug, Parser)]
#[command(name = "benchling-sim", version)]
enum Cli {
    /// Serve until interrupted; the client secret it accepts is read from BENCHLING_SIM_CLIENT_SECRET
    Serve {
        /// Port on 127.0.0.1 (0 picks a free one)
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// The app client id it accepts
        #[arg(long, default_value = "benchling-sim-client")]
        client_id: String,
    },
    /// Have a running simulator sign an event and POST it to a webhook URL, as Benchling does
    Send {
        /// The simulator's base URL, e.g. http://127.0.0.1:8081
        #[arg(long)]
        sim: String,
        /// The webhook URL, e.g. http://127.0.0.1:8080/event
        #[arg(long)]
        to: String,
        /// A fixture name (entry-created, canvas-initialized, app-installed, …) or a JSON file
        event: String,
    },
    /// Load-test a webhook URL with deliveries pre-signed by a running simulator; prints a JSON report
    Load {
        #[arg(long)]
        sim: String,
        #[arg(long)]
        to: String,
        #[arg(long, default_value_t = 64)]
        connections: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        #[arg(long, default_value_t = 200_000)]
        requests: u64,
    },
    /// How many P-256 webhook signatures one core verifies per second here (ring), over one second
    VerifySpeed,
}

fn main() -> std::process::ExitCode {
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match cli {
        Cli::Load {
            sim,
            to,
            connections,
            seconds,
            requests,
        } => {
            let report = runtime.block_on(load::run(
                &sim,
                &to,
                connections.max(1),
                Duration::from_secs(seconds),
                requests,
            ))?;
            println!("{report}");
            Ok(())
        }
        Cli::VerifySpeed => {
            println!("{:.0}", load::verify_speed()?);
            Ok(())
        }
        Cli::Serve { port, client_id } => {
            let secret = std::env::var("BENCHLING_SIM_CLIENT_SECRET")
                .context("BENCHLING_SIM_CLIENT_SECRET is not set: it is the client secret the simulator accepts")?;
            let credentials = AppCredentials {
                client_id,
                client_secret: SecretString::new(secret),
            };
            let sim = Simulator::start_at(SocketAddr::from(([127, 0, 0, 1], port)), credentials)?;
            println!("benchling-sim listening on {}", sim.base_url());
            runtime.block_on(tokio::signal::ctrl_c())?;
            drop(sim);
            Ok(())
        }
        Cli::Send { sim, to, event } => {
            let body = match FIXTURE_EVENTS.iter().find(|(name, _)| *name == event) {
                Some((_, body)) => (*body).to_owned(),
                None => std::fs::read_to_string(&event).with_context(|| {
                    let names: Vec<&str> = FIXTURE_EVENTS.iter().map(|(name, _)| *name).collect();
                    format!(
                        "{event:?} is neither a fixture ({}) nor a readable file",
                        names.join(", ")
                    )
                })?,
            };
            let answer: serde_json::Value = runtime.block_on(async {
                let response = benchling::client::http_client()
                    .post(format!("{}/_sim/deliver", sim.trim_end_matches('/')))
                    .json(&serde_json::json!({"url": to, "body": body}))
                    .send()
                    .await
                    .with_context(|| format!("reaching the simulator at {sim}"))?;
                anyhow::ensure!(
                    response.status().is_success(),
                    "the simulator answered HTTP {}",
                    response.status()
                );
                Ok::<_, anyhow::Error>(response.json().await?)
            })?;
            println!(
                "{} {}",
                answer["status"],
                answer["body"].as_str().unwrap_or_default()
            );
            Ok(())
        }
    }
}
