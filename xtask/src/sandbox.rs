//! `cargo xtask sandbox up|down|status`: what a deployment has, on 127.0.0.1 and without a cloud
//! account. `moto_server` plays AWS (packages bucket, Quilt's packager queue, the packaging FIFO queue
//! and its dead-letter queue, the Benchling secret) and `benchling-sim` plays Benchling; the `local`
//! profile points at them. The processes run detached, so the sandbox outlives the command that
//! started it; `target/sandbox/state.json` records their pids and ports, and `down` stops exactly those.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use config::aws::{Aws, ServiceQueues, block_on};
use config::{Profile, SecretString, Source};
use serde::{Deserialize, Serialize};
use xshell::{Shell, cmd};

use crate::flags::{self, Global, SandboxCommand};

/// The profile `sandbox up` writes; commands given `--profile local` run against the sandbox.
pub const PROFILE: &str = "local";
const TENANT: &str = "sandbox";
const CLIENT_ID: &str = "sandbox-client";
const APP_DEFINITION_ID: &str = "appdef_sandbox";
const BUCKET: &str = "sandbox-packages";
const PREFIX: &str = "benchling";
/// Reserved (RFC 2606): no catalog runs in the sandbox, and the link says so by its name.
const CATALOG: &str = "catalog.sandbox.invalid";
const READY_WITHIN: Duration = Duration::from_secs(60);

/// What `up` started and created, as written to `target/sandbox/state.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    pub moto: Process,
    pub simulator: Process,
    pub region: String,
    pub bucket: String,
    pub prefix: String,
    pub catalog: String,
    pub packager_queue_url: String,
    pub packaging_queue_url: String,
    pub dead_letter_queue_url: String,
    pub secret_name: String,
    pub started_at: String,
}

/// A process the sandbox started: its pid, the program it runs (checked before it is signalled, so a
/// recycled pid is never killed) and the port it serves on 127.0.0.1.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Process {
    pub pid: u32,
    pub program: String,
    pub port: u16,
}

impl Process {
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Whether the pid still runs the program the sandbox started.
    pub fn alive(&self) -> bool {
        let name = Path::new(&self.program)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match std::fs::read(format!("/proc/{}/cmdline", self.pid)) {
            Ok(cmdline) => String::from_utf8_lossy(&cmdline).contains(&name),
            // No /proc (macOS): ask ps.
            Err(_) => Command::new("ps")
                .args(["-p", &self.pid.to_string(), "-o", "command="])
                .output()
                .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains(&name)),
        }
    }

    fn stop(&self) -> anyhow::Result<()> {
        if !self.alive() {
            return Ok(());
        }
        let pid = self.pid.to_string();
        let _ = Command::new("kill").arg(&pid).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.alive() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        if self.alive() {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
        }
        Ok(())
    }
}

impl State {
    pub fn running(&self) -> bool {
        self.moto.alive() && self.simulator.alive()
    }

    /// The AWS emulator, with the credentials it accepts.
    pub fn aws(&self) -> Aws {
        block_on(Aws::emulator(&self.moto.url(), &self.region))
    }

    /// What the service needs besides its profile to use the sandbox instead of AWS and Benchling.
    pub fn service_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.moto.url()),
            ("AWS_ACCESS_KEY_ID", moto::ACCESS_KEY_ID.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", moto::SECRET_ACCESS_KEY.to_owned()),
            ("BENCHLING_BASE_URL", self.simulator.url()),
            ("BENCHLING_JWKS_BASE_URL", self.simulator.url()),
            (
                "PACKAGING_REQUEST_QUEUE_URL",
                self.packaging_queue_url.clone(),
            ),
        ]
    }
}

/// `target/sandbox`, or `$XTASK_SANDBOX_DIR` (tests keep theirs apart from yours).
pub fn dir(sh: &Shell) -> PathBuf {
    std::env::var_os("XTASK_SANDBOX_DIR")
        .map_or_else(|| sh.current_dir().join("target/sandbox"), PathBuf::from)
}

fn state_path(sh: &Shell) -> PathBuf {
    dir(sh).join("state.json")
}

/// The recorded state, if `up` has run and `down` has not.
pub fn read_state(sh: &Shell) -> anyhow::Result<Option<State>> {
    let path = state_path(sh);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some(serde_json::from_str(&text).with_context(|| {
            format!(
                "{}: not a sandbox state file; run `cargo xtask sandbox down` to start afresh",
                path.display()
            )
        })?)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err).with_context(|| format!("reading {}", path.display())),
    }
}

impl flags::Sandbox {
    pub fn run(self, sh: &Shell, global: &Global) -> anyhow::Result<()> {
        match self.command {
            SandboxCommand::Up => {
                let (state, started) = up(sh, global)?;
                if started {
                    println!("sandbox up:");
                } else {
                    println!("sandbox already running:");
                }
                print_status(&state);
                Ok(())
            }
            SandboxCommand::Down => down(sh, global),
            SandboxCommand::Status => match read_state(sh)? {
                Some(state) => {
                    print_status(&state);
                    if !state.running() {
                        bail!(
                            "the sandbox is not fully running; `cargo xtask sandbox up` restarts it"
                        );
                    }
                    Ok(())
                }
                None => bail!("no sandbox is running; start one with `cargo xtask sandbox up`"),
            },
        }
    }
}

fn print_status(state: &State) {
    let line = |name: &str, process: &Process| {
        let health = if process.alive() {
            "running"
        } else {
            "NOT RUNNING"
        };
        println!(
            "  {name:<10} {:<24} pid {:<8} {health}",
            process.url(),
            process.pid
        );
    };
    line("aws (moto)", &state.moto);
    line("benchling", &state.simulator);
    println!("  bucket     s3://{}/{}/", state.bucket, state.prefix);
    println!(
        "  packaging  {} (FIFO; dead letters: {})",
        state.packaging_queue_url, state.dead_letter_queue_url
    );
    println!("  packager   {} (Quilt's queue)", state.packager_queue_url);
    println!("  secret     {}", state.secret_name);
    println!(
        "  profile    `{PROFILE}` (use --profile {PROFILE}); stop with `cargo xtask sandbox down`"
    );
}

/// Brings the sandbox up unless it already runs; also says whether this call started it.
pub fn up(sh: &Shell, global: &Global) -> anyhow::Result<(State, bool)> {
    crate::cleanup::install_signal_handler();
    if let Some(state) = read_state(sh)? {
        if state.running() {
            return Ok((state, false));
        }
        // Half up (a process died or was killed): start afresh rather than patch it.
        stop(&state)?;
    }
    if global.dry_run {
        bail!(
            "--dry-run: `sandbox up` would start moto_server and benchling-sim on free ports on 127.0.0.1, create the bucket, queues and secret in moto, and write the `{PROFILE}` profile"
        );
    }
    std::fs::create_dir_all(dir(sh))?;
    let moto_program = moto_server(sh)?;
    let sim_program = simulator(sh)?;

    eprintln!("starting moto_server and benchling-sim on 127.0.0.1 …");
    let moto_port = crate::machine::free_port()?;
    let moto = spawn_detached(
        &moto_program,
        &["-H", "127.0.0.1", "-p", &moto_port.to_string()],
        &[],
        &dir(sh).join("moto.log"),
        moto_port,
    )?;
    // Until the sandbox is complete, any failure (or Ctrl-C) stops what was started.
    let moto_guard = stop_on_exit(&moto);
    let client_secret = random_secret()?;
    let sim_port = crate::machine::free_port()?;
    let simulator = spawn_detached(
        &sim_program,
        &[
            "serve",
            "--port",
            &sim_port.to_string(),
            "--client-id",
            CLIENT_ID,
        ],
        &[("BENCHLING_SIM_CLIENT_SECRET", client_secret.expose())],
        &dir(sh).join("simulator.log"),
        sim_port,
    )?;
    let simulator_guard = stop_on_exit(&simulator);
    wait_ready(&moto, "/moto-api/")
        .and_then(|()| {
            wait_ready(
                &simulator,
                &format!("/api/v1/apps/{APP_DEFINITION_ID}/jwks"),
            )
        })
        .with_context(|| format!("logs are in {}", dir(sh).display()))?;

    eprintln!("creating the bucket, queues and secret …");
    let aws = block_on(Aws::emulator(&moto.url(), moto::REGION));
    let queues =
        block_on(create_resources(&aws)).context("creating the sandbox's AWS resources")?;
    let profile = local_profile(&queues.packager);
    let mut with_secret = profile.clone();
    with_secret.benchling.client_secret = Some(client_secret);
    block_on(config::secrets::sync(&aws, PROFILE, &with_secret, false))
        .context("storing the sandbox's Benchling secret in moto")?;
    let store = crate::config::open_store()?;
    let path = store.save(PROFILE, &profile, Source::Cli)?;
    eprintln!("wrote the `{PROFILE}` profile: {}", path.display());

    let state = State {
        moto,
        simulator,
        region: moto::REGION.to_owned(),
        bucket: BUCKET.to_owned(),
        prefix: PREFIX.to_owned(),
        catalog: CATALOG.to_owned(),
        packager_queue_url: queues.packager,
        packaging_queue_url: queues.packaging,
        dead_letter_queue_url: queues.dead_letter,
        secret_name: config::secrets::secret_name(PROFILE, TENANT),
        started_at: config::now_rfc3339(),
    };
    std::fs::write(state_path(sh), serde_json::to_string_pretty(&state)?)
        .context("writing the sandbox state")?;
    moto_guard.disarm();
    simulator_guard.disarm();
    Ok((state, true))
}

pub fn down(sh: &Shell, global: &Global) -> anyhow::Result<()> {
    let Some(state) = read_state(sh)? else {
        println!("no sandbox is running");
        return Ok(());
    };
    if global.dry_run {
        println!(
            "--dry-run: would stop moto_server (pid {}) and benchling-sim (pid {}) and remove {}",
            state.moto.pid,
            state.simulator.pid,
            state_path(sh).display()
        );
        return Ok(());
    }
    stop(&state)?;
    std::fs::remove_file(state_path(sh))?;
    println!(
        "sandbox stopped (moto_server pid {}, benchling-sim pid {}); the `{PROFILE}` profile stays and \
         `cargo xtask sandbox up` brings it back",
        state.moto.pid, state.simulator.pid
    );
    Ok(())
}

fn stop_on_exit(process: &Process) -> crate::cleanup::Guard {
    let process = process.clone();
    crate::cleanup::on_exit(move || {
        let _ = process.stop();
    })
}

fn stop(state: &State) -> anyhow::Result<()> {
    state.simulator.stop()?;
    state.moto.stop()
}

/// The profile the sandbox writes: Benchling is the simulator, AWS is moto.
fn local_profile(packager_queue_url: &str) -> Profile {
    let mut profile = Profile::default();
    for (field, value) in [
        ("benchling.tenant", TENANT),
        ("benchling.clientId", CLIENT_ID),
        ("benchling.appDefinitionId", APP_DEFINITION_ID),
        (
            "benchling.testEntryId",
            benchling::sim::FIXTURE_EVENT_ENTRY_ID,
        ),
        ("packages.bucket", BUCKET),
        ("packages.prefix", PREFIX),
        ("quilt.catalog", CATALOG),
        ("quilt.queueUrl", packager_queue_url),
        ("quilt.region", moto::REGION),
        ("deployment.region", moto::REGION),
    ] {
        config::schema::set_field(&mut profile, field, value)
            .expect("the sandbox profile's fields are valid");
    }
    profile
}

/// The packages bucket and the queues a stack would make, named `sandbox-…`.
async fn create_resources(aws: &Aws) -> anyhow::Result<ServiceQueues> {
    aws.s3().create_bucket().bucket(BUCKET).send().await?;
    aws.create_service_queues("sandbox-", Duration::from_secs(30))
        .await
}

/// `benchling-sim` from `$BENCHLING_SIM`, else built now (a no-op when it is up to date).
fn simulator(sh: &Shell) -> anyhow::Result<PathBuf> {
    if let Some(program) = std::env::var_os("BENCHLING_SIM") {
        return Ok(PathBuf::from(program));
    }
    eprintln!("building benchling-sim …");
    cmd!(
        sh,
        "cargo build --quiet --package benchling --features sim --bin benchling-sim"
    )
    .run()
    .context("building the Benchling simulator")?;
    Ok(crate::machine::cargo_target_dir(sh)?.join("debug/benchling-sim"))
}

/// `moto_server` from `$MOTO_SERVER` or PATH; else installed into a virtualenv under target/sandbox
/// (never a global install).
fn moto_server(sh: &Shell) -> anyhow::Result<PathBuf> {
    if let Some(program) = std::env::var_os("MOTO_SERVER") {
        return Ok(PathBuf::from(program));
    }
    if cmd!(sh, "moto_server --help")
        .quiet()
        .ignore_stdout()
        .ignore_stderr()
        .run()
        .is_ok()
    {
        return Ok(PathBuf::from("moto_server"));
    }
    let venv = dir(sh).join("venv");
    let program = venv.join("bin/moto_server");
    if !program.exists() {
        eprintln!(
            "moto_server is not on PATH: installing moto[server] into {} …",
            venv.display()
        );
        cmd!(sh, "python3 -m venv {venv}").run().context(
            "creating a virtualenv for moto (needs python3 with venv: `apt-get install python3-venv`)",
        )?;
        let pip = venv.join("bin/pip");
        cmd!(
            sh,
            "{pip} install --quiet --disable-pip-version-check moto[server]"
        )
        .run()
        .context("installing moto[server] into the sandbox's virtualenv")?;
    }
    Ok(program)
}

/// Starts `program` in its own process group (so Ctrl-C in this terminal does not reach it) with its
/// output in `log`, and leaves it running.
fn spawn_detached(
    program: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    log: &Path,
    port: u16,
) -> anyhow::Result<Process> {
    use std::os::unix::process::CommandExt;
    let log_file =
        std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let child = Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(log_file.try_clone()?)
        .stderr(log_file)
        .process_group(0)
        .spawn()
        .with_context(|| format!("starting {}", program.display()))?;
    Ok(Process {
        pid: child.id(),
        program: program.display().to_string(),
        port,
    })
}

fn wait_ready(process: &Process, path: &str) -> anyhow::Result<()> {
    let url = format!("{}{path}", process.url());
    block_on(async {
        let http = benchling::client::http_client();
        let started = Instant::now();
        while started.elapsed() < READY_WITHIN {
            if !process.alive() {
                bail!("{} exited before it was ready", process.program);
            }
            if http
                .get(&url)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!(
            "{} did not answer {url} within {READY_WITHIN:?}",
            process.program
        )
    })
}

/// A fresh client secret for the simulator: it lives in the simulator's environment and in moto's
/// Secrets Manager, never in a file.
fn random_secret() -> anyhow::Result<SecretString> {
    use std::io::Read;
    let mut bytes = [0u8; 24];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("reading /dev/urandom")?;
    Ok(SecretString::new(
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pid_running_another_program_is_not_the_sandbox_process() {
        let own = std::env::current_exe().unwrap();
        let this = Process {
            pid: std::process::id(),
            program: own.display().to_string(),
            port: 1,
        };
        assert!(this.alive());
        let recycled = Process {
            program: "/usr/bin/moto_server".into(),
            ..this.clone()
        };
        assert!(!recycled.alive(), "a recycled pid must never be signalled");
    }

    #[test]
    fn a_damaged_state_file_is_named_with_the_way_out() {
        let dir = tempfile::tempdir().unwrap();
        let sh = Shell::new().unwrap();
        sh.change_dir(dir.path());
        std::fs::create_dir_all(dir.path().join("target/sandbox")).unwrap();
        std::fs::write(dir.path().join("target/sandbox/state.json"), "{").unwrap();
        let err = read_state(&sh).unwrap_err().to_string();
        assert!(
            err.contains("target/sandbox/state.json") && err.contains("cargo xtask sandbox down"),
            "{err}"
        );
    }
}
