//! `cargo xtask demo`: the whole system on this machine in one command. Brings the sandbox up, builds
//! and runs the image (or, without a Docker daemon, the native binary), sends Benchling's fixture
//! events signed as Benchling signs them, and shows what came of them: the package's files in the
//! emulated S3, the message Quilt's packager received, and the canvas the entry now shows.

use std::time::Duration;

use anyhow::Context;
use benchling::sim::FIXTURE_EVENTS;
use xshell::{Shell, cmd};

use crate::flags::{self, Global};
use crate::service::{self, Launch, Service};
use crate::test_local::{self, Signing};
use crate::{docker, sandbox};

/// The events a newcomer's notebook would send: an entry created, then its canvas appearing.
const EVENTS: &[&str] = &["entry-created", "canvas-created"];

impl flags::Demo {
    pub fn run(self, sh: &Shell, global: &Global) -> anyhow::Result<()> {
        println!("1/4 sandbox: moto_server (AWS) and benchling-sim (Benchling) on 127.0.0.1");
        let (state, _) = sandbox::up(sh, global)?;
        let store = crate::config::open_store()?;
        let profile = store.load(sandbox::PROFILE)?;
        let env = service::environment(
            sandbox::PROFILE,
            &profile,
            Some(&state),
            crate::machine::free_port()?,
        )?;

        let launch = if crate::machine::docker_daemon_answers(sh) {
            println!("2/4 image: building benchling-webhook (static binary, FROM scratch)");
            let image = docker::build(sh, global)?.context("the image was not built")?;
            docker::print_image(&image);
            image.launch()
        } else {
            println!(
                "2/4 no Docker daemon answers, so the service runs as a native binary instead of the \
                 image. To run the image: install Docker (Debian: `apt-get install docker.io`), start \
                 it (`sudo systemctl start docker` or `sudo dockerd &`) and run the demo again"
            );
            cmd!(sh, "cargo build --quiet --package benchling-webhook")
                .run()
                .context("building the service")?;
            Launch::Native {
                binary: crate::machine::cargo_target_dir(sh)?.join("debug/benchling-webhook"),
                log: sandbox::dir(sh).join("service.log"),
            }
        };
        let name = format!("benchling-webhook-demo-{}", std::process::id());
        println!("3/4 service: starting, waiting for health …");
        let running = Service::start_ready(sh, launch, &env, &name)?;
        println!("    ready at {}", running.base);

        println!("4/4 events: signed like Benchling, to the routes Benchling posts them to");
        let aws = state.aws();
        let fresh = test_local::Fresh::mark(&aws, Some(&state))?;
        let sim = state.simulator.url();
        for event in EVENTS {
            let (_, body) = FIXTURE_EVENTS
                .iter()
                .find(|(name, _)| name == event)
                .expect("the demo's events are fixtures");
            let route = test_local::route_of(event);
            let (status, answer) = test_local::deliver(
                &running.base,
                Some(&sim),
                route,
                body.as_bytes(),
                Signing::Now,
            )?;
            println!("    {event:<16} POST /{route:<9} → {status} {answer}");
        }
        println!("    waiting for the worker to export the entry and write the package …");
        let package = test_local::wait_for_package(
            &aws,
            &state.bucket,
            &state.prefix,
            benchling::sim::FIXTURE_EVENT_ENTRY_ID,
            fresh.since,
        )
        .map_err(|err| anyhow::anyhow!("{err:#}\nthe service's log:\n{}", running.logs(sh)))?;
        let message =
            test_local::wait_for_packager_message(&aws, &state.packager_queue_url, &package.name)?;
        let link = package.catalog_link(&state.catalog);
        let canvas = test_local::wait_for_canvas_link(&sim, &link, fresh.canvas_patches_before)?;
        drop(running);

        summary(&state, &package, &message, &canvas, &link);
        Ok(())
    }
}

/// A GET URL for one object that needs no credentials: moto, like S3, refuses anonymous reads.
fn presigned_url(aws: &config::aws::Aws, bucket: &str, key: &str) -> anyhow::Result<String> {
    let expires = aws_sdk_s3::presigning::PresigningConfig::expires_in(Duration::from_secs(3600))?;
    let request = config::aws::block_on(
        aws.s3()
            .get_object()
            .bucket(bucket)
            .key(key)
            .presigned(expires),
    )?;
    Ok(request.uri().to_owned())
}

fn summary(
    state: &sandbox::State,
    package: &test_local::Package,
    message: &serde_json::Value,
    canvas: &serde_json::Value,
    link: &str,
) {
    let entry = &package.entry_json;
    println!(
        "\nDone: entry {} ({}) became the package {}.\n",
        entry["display_id"].as_str().unwrap_or("-"),
        entry["name"].as_str().unwrap_or("-"),
        package.name
    );
    println!(
        "Its files, in the emulated S3 (s3://{}/):",
        package.folder()
    );
    for (key, size) in &package.objects {
        println!("    {size:>9} bytes  {key}");
    }
    let entry_key = format!("{}/entry.json", package.name);
    match presigned_url(&state.aws(), &package.bucket, &entry_key) {
        Ok(url) => println!("  look at one (a presigned URL, valid for an hour): curl -s '{url}'"),
        Err(err) => println!("  (could not presign a URL to look at entry.json: {err:#})"),
    }
    println!("\nThe message Quilt's packager queue received (Quilt builds the package from it):");
    println!("    {message}");
    let canvas_text: Vec<String> = canvas["body"]["blocks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|b| b["value"].as_str().or(b["text"].as_str()))
        .map(|text| text.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    println!(
        "\nThe entry's canvas ({}) now shows: {}",
        canvas["canvas_id"].as_str().unwrap_or("-"),
        canvas_text.join(" | ")
    );
    println!("  catalog link: {link}");
    println!(
        "  (no Quilt catalog runs in the sandbox; in a deployment this link opens the package)"
    );
    println!("\nThe service has stopped; the sandbox keeps running:");
    println!("  cargo xtask sandbox status   what runs where");
    println!("  cargo xtask test-local       the full event suite against the image");
    println!("  cargo xtask sandbox down     stop it");
}
