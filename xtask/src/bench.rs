//! `cargo xtask bench webhook`: signed `POST /event` on loopback against the release build, verification
//! on, bounded in count and time; prints throughput, latency and the server's peak memory beside the
//! targets and the machine's P-256 verification ceiling.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use config::aws::{Aws, block_on};
use xshell::{Shell, cmd};

use crate::flags::{self, BenchTarget, Global};
use crate::step::{self, RunOptions, Step};

/// A child process killed when dropped, so an interrupted benchmark leaves nothing running.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const TARGET_RPS: f64 = 10_000.0;
const TARGET_P99_MS: f64 = 10.0;
const TARGET_RSS_MB: f64 = 40.0;

impl flags::Bench {
    pub fn run(self, sh: &Shell, global: &Global) -> anyhow::Result<()> {
        let BenchTarget::Webhook {
            seconds,
            requests,
            connections,
        } = self.target;
        let builds = vec![
            Step {
                name: "build service",
                cmd: cmd!(sh, "cargo build --release -p benchling-webhook"),
                fix: "fix the build errors above",
            },
            Step {
                name: "build simulator",
                cmd: cmd!(
                    sh,
                    "cargo build --release -p benchling --features sim --bin benchling-sim"
                ),
                fix: "fix the build errors above",
            },
        ];
        let opts = RunOptions {
            dry_run: global.dry_run,
            verbose: global.verbose,
            ..RunOptions::default()
        };
        step::run(builds, opts)?;
        if global.dry_run {
            return Ok(());
        }
        let release = crate::machine::cargo_target_dir(sh)?.join("release");
        webhook(
            &release,
            Duration::from_secs(seconds),
            requests,
            connections.max(1),
        )
    }
}

fn webhook(
    release: &std::path::Path,
    duration: Duration,
    max_requests: u64,
    connections: usize,
) -> anyhow::Result<()> {
    eprintln!("starting moto_server, the simulator and the service on 127.0.0.1 …");
    let moto = moto::Moto::start()?;
    let client_secret = "bench-secret";
    let mut sim = Command::new(release.join("benchling-sim"))
        .args(["serve", "--port", "0", "--client-id", "bench-client"])
        .env("BENCHLING_SIM_CLIENT_SECRET", client_secret)
        .stdout(Stdio::piped())
        .spawn()
        .context("starting benchling-sim")?;
    let mut line = String::new();
    BufReader::new(sim.stdout.take().context("the simulator's stdout")?).read_line(&mut line)?;
    let _sim = Running(sim);
    let sim_url = line
        .trim()
        .rsplit(' ')
        .next()
        .unwrap_or_default()
        .to_owned();

    let aws = block_on(Aws::emulator(&moto.endpoint(), moto::REGION));
    let mut profile = config::Profile::default();
    for (field, value) in [
        ("benchling.tenant", "bench"),
        ("benchling.clientId", "bench-client"),
        ("benchling.appDefinitionId", "appdef_bench"),
        ("packages.bucket", "bench-packages"),
        ("deployment.region", moto::REGION),
    ] {
        config::schema::set_field(&mut profile, field, value)?;
    }
    profile.benchling.client_secret = Some(config::SecretString::new(client_secret));
    block_on(config::secrets::sync(&aws, "bench", &profile, false))?;

    let verified = start_service(release, &moto, &sim_url, true)?;
    let unverified = start_service(release, &moto, &sim_url, false)?;

    let sim_binary = release.join("benchling-sim");
    let on = measure(
        &sim_binary,
        &sim_url,
        &verified,
        duration,
        max_requests,
        connections,
    )?;
    let off = measure(
        &sim_binary,
        &sim_url,
        &unverified,
        duration,
        max_requests,
        connections,
    )?;
    let ceiling = Command::new(&sim_binary)
        .arg("verify-speed")
        .output()
        .context("benchling-sim verify-speed")?;
    let ceiling: f64 = String::from_utf8_lossy(&ceiling.stdout)
        .trim()
        .parse()
        .context("benchling-sim verify-speed printed no number")?;
    println!(
        "\nbenchling-webhook: signed POST /event, {connections} connections, at most {max_requests} requests or {} s each",
        duration.as_secs()
    );
    println!(
        "packaging requests go to an in-process queue (moto is far slower than SQS); load generator and server share this machine's {} cores\n",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "{:<26} {:>16} {:>16} {:>10}",
        "metric", "verification on", "verification off", "target"
    );
    let row = |name: &str, f: &dyn Fn(&Figures) -> String, target: &str| {
        println!("{name:<26} {:>16} {:>16} {target:>10}", f(&on), f(&off))
    };
    row("requests", &|m| m.count.to_string(), "");
    row(
        "requests/s",
        &|m| format!("{:.0}", m.rps),
        &format!(">= {TARGET_RPS:.0}"),
    );
    row("p50 latency (ms)", &|m| format!("{:.2}", m.p50_ms), "");
    row(
        "p99 latency (ms)",
        &|m| format!("{:.2}", m.p99_ms),
        &format!("< {TARGET_P99_MS:.0}"),
    );
    row(
        "server peak RSS (MB)",
        &|m| m.peak_rss_mb.map_or("n/a".into(), |mb| format!("{mb:.1}")),
        &format!("< {TARGET_RSS_MB:.0}"),
    );
    println!(
        "{:<26} {:>16.0} {:>16} {:>10}",
        "P-256 verifies/s, 1 core", ceiling, "", "(ceiling)"
    );
    Ok(())
}

struct Service {
    _process: Running,
    pid: u32,
    base: String,
}

fn start_service(
    release: &std::path::Path,
    moto: &moto::Moto,
    sim_url: &str,
    verify: bool,
) -> anyhow::Result<Service> {
    let port = crate::machine::free_port()?;
    let mut command = Command::new(release.join("benchling-webhook"));
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_ENDPOINT_URL", moto.endpoint())
        .env("AWS_ACCESS_KEY_ID", moto::ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", moto::SECRET_ACCESS_KEY)
        .env("AWS_REGION", moto::REGION)
        .env("BenchlingSecret", "quiltdata/benchling-webhook/bench/bench")
        .env("PORT", port.to_string())
        .env("PACKAGING_REQUEST_QUEUE_URL", "memory://")
        .env("WORKER", "off")
        .env("BENCHLING_BASE_URL", sim_url)
        .env("BENCHLING_JWKS_BASE_URL", sim_url)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if !verify {
        command.env("ENABLE_WEBHOOK_VERIFICATION", "false");
    }
    let child = command.spawn().context("starting benchling-webhook")?;
    let pid = child.id();
    Ok(Service {
        _process: Running(child),
        pid,
        base: format!("http://127.0.0.1:{port}"),
    })
}

struct Figures {
    count: usize,
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    peak_rss_mb: Option<f64>,
}

/// One load run against `service` (after a one-second warm-up), by the release `benchling-sim load`.
fn measure(
    sim_binary: &std::path::Path,
    sim_url: &str,
    service: &Service,
    duration: Duration,
    max: u64,
    connections: usize,
) -> anyhow::Result<Figures> {
    wait_ready(&service.base)?;
    let to = format!("{}/event", service.base);
    let run = |seconds: u64, requests: u64| -> anyhow::Result<serde_json::Value> {
        let args = [
            "load",
            "--sim",
            sim_url,
            "--to",
            &to,
            "--connections",
            &connections.to_string(),
            "--seconds",
            &seconds.to_string(),
            "--requests",
            &requests.to_string(),
        ];
        let output = Command::new(sim_binary)
            .args(args)
            .stderr(Stdio::inherit())
            .output()
            .context("benchling-sim load")?;
        anyhow::ensure!(output.status.success(), "benchling-sim load failed");
        Ok(serde_json::from_slice(&output.stdout)?)
    };
    run(1, 2_000)?;
    let report = run(duration.as_secs().max(1), max)?;
    let count = report["count"].as_u64().unwrap_or(0) as usize;
    if count == 0 {
        bail!("no request to {} succeeded", service.base);
    }
    if let Some(failures) = report["failures"].as_u64().filter(|f| *f > 0) {
        eprintln!(
            "warning: {failures} requests to {} did not get 202",
            service.base
        );
    }
    let ms = |key: &str| report[key].as_f64().unwrap_or(f64::NAN) / 1000.0;
    Ok(Figures {
        count,
        rps: count as f64 / report["seconds"].as_f64().unwrap_or(f64::NAN),
        p50_ms: ms("p50_us"),
        p99_ms: ms("p99_us"),
        peak_rss_mb: peak_rss_kb(service.pid).map(|kb| kb as f64 / 1024.0),
    })
}

fn wait_ready(base: &str) -> anyhow::Result<()> {
    use std::io::{Read, Write};
    let address = base.trim_start_matches("http://");
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        let answered = std::net::TcpStream::connect(address).and_then(|mut stream| {
            stream.write_all(b"GET /health/ready HTTP/1.0\r\n\r\n")?;
            let mut head = [0u8; 12];
            stream.read_exact(&mut head)?;
            Ok(&head[9..12] == b"200")
        });
        if answered.unwrap_or(false) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("the service at {base} was not ready within 30 s")
}

/// The highest resident memory of a process (`VmHWM`, Linux).
fn peak_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        line.strip_prefix("VmHWM:")?
            .trim()
            .strip_suffix("kB")?
            .trim()
            .parse()
            .ok()
    })
}
