//! The service as `docker run`, `demo` and `test-local` start it: from the image in a container, or
//! (the demo without Docker) as the native binary, with the environment its profile implies.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use config::Profile;
use config::secrets::SecretLocation;
use xshell::{Shell, cmd};

use crate::cleanup;
use crate::sandbox;

/// Label on every container xtask starts, with the pid of the xtask that started it: containers left
/// by a run that was killed outright (SIGKILL) are found and removed by the next one.
const OWNER_LABEL: &str = "benchling-webhook.xtask-pid";

/// Held while `docker run` creates a container (see `Service::start`).
static CONTAINER_STARTING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Variables whose values the container takes from this process's environment (`docker run -e NAME`),
/// so credentials never appear on a command line.
const AWS_PASSTHROUGH: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
];

/// The service's environment for `profile`: the secret's name or ARN (never its value), the catalog,
/// the queues, the region; for the sandbox also where moto and the simulator listen.
pub fn environment(
    profile_name: &str,
    profile: &Profile,
    sandbox: Option<&sandbox::State>,
    port: u16,
) -> anyhow::Result<Vec<(&'static str, String)>> {
    let default_region = std::env::var("AWS_REGION").ok();
    let location = SecretLocation::of(profile_name, profile, default_region.as_deref())?;
    let mut env = vec![
        ("BenchlingSecret", location.id),
        ("AWS_REGION", location.region),
        ("PORT", port.to_string()),
    ];
    if let Some(catalog) = &profile.quilt.catalog {
        env.push(("QUILT_WEB_HOST", catalog.clone()));
    }
    if let Some(queue) = &profile.quilt.queue_url {
        env.push(("PACKAGER_SQS_URL", queue.clone()));
    }
    match sandbox {
        Some(state) => env.extend(state.service_env()),
        None => {
            eprintln!(
                "note: no deployed stack is known for `{profile_name}`, so accepted events wait in an \
                 in-process queue (PACKAGING_REQUEST_QUEUE_URL=memory://) and a restart loses them"
            );
            env.push(("PACKAGING_REQUEST_QUEUE_URL", "memory://".to_owned()));
        }
    }
    Ok(env)
}

/// How to start the service.
pub enum Launch {
    Container { image: String },
    Native { binary: PathBuf, log: PathBuf },
}

/// A started service; stopped (container removed, process killed) when dropped or interrupted.
pub struct Service {
    pub base: String,
    pub launch: Launch,
    name: String,
    child: Option<Child>,
    _cleanup: cleanup::Guard,
}

impl Service {
    pub fn start(
        sh: &Shell,
        launch: Launch,
        env: &[(&'static str, String)],
        name: &str,
    ) -> anyhow::Result<Service> {
        let port = env
            .iter()
            .find(|(k, _)| *k == "PORT")
            .map(|(_, v)| v.clone())
            .context("the service environment has no PORT")?;
        let base = format!("http://127.0.0.1:{port}");
        match &launch {
            Launch::Container { image } => {
                remove_orphans(sh);
                let name = name.to_owned();
                let pid = std::process::id().to_string();
                let label = format!("{OWNER_LABEL}={pid}");
                let mut flags: Vec<String> = Vec::new();
                for (key, _) in env {
                    flags.extend(["--env".to_owned(), (*key).to_owned()]);
                }
                let passthrough: Vec<&str> = AWS_PASSTHROUGH
                    .iter()
                    .copied()
                    .filter(|k| std::env::var_os(k).is_some() && !env.iter().any(|(e, _)| e == k))
                    .collect();
                for key in &passthrough {
                    flags.extend(["--env".to_owned(), (*key).to_owned()]);
                }
                if let Some(aws_dir) = std::env::var_os("HOME")
                    .map(|home| PathBuf::from(home).join(".aws"))
                    .filter(|dir| {
                        dir.is_dir() && !env.iter().any(|(k, _)| *k == "AWS_ENDPOINT_URL")
                    })
                {
                    flags.extend([
                        "--volume".to_owned(),
                        format!("{}:/home/app/.aws:ro", aws_dir.display()),
                        "--env".to_owned(),
                        "HOME=/home/app".to_owned(),
                    ]);
                    // ~/.aws is private to its owner: the container runs as that user to read it.
                    let id = |flag: &str| cmd!(sh, "id {flag}").quiet().read().ok();
                    if let (Some(uid), Some(gid)) = (id("-u"), id("-g")) {
                        flags.extend(["--user".to_owned(), format!("{uid}:{gid}")]);
                    }
                }
                // The lock is taken before the cleanup is registered and held while `docker run` is in
                // flight: an interrupt at any moment then removes the container once it exists.
                let starting = CONTAINER_STARTING.lock().unwrap_or_else(|e| e.into_inner());
                let guard = {
                    let name = name.clone();
                    cleanup::on_exit(move || {
                        let _in_flight = CONTAINER_STARTING.lock();
                        remove_container(&name)
                    })
                };
                let mut run = cmd!(
                    sh,
                    "docker run --detach --name {name} --network host --label {label} {flags...} {image}"
                )
                .quiet()
                .ignore_stdout();
                for (key, value) in env {
                    run = run.env(key, value);
                }
                let started = run.run();
                drop(starting);
                started.context("starting the service container")?;
                Ok(Service {
                    base,
                    launch,
                    name,
                    child: None,
                    _cleanup: guard,
                })
            }
            Launch::Native { binary, log } => {
                let log_file = std::fs::File::create(log)
                    .with_context(|| format!("creating {}", log.display()))?;
                let child = Command::new(binary)
                    .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
                    .stdin(Stdio::null())
                    .stdout(log_file.try_clone()?)
                    .stderr(log_file)
                    .spawn()
                    .with_context(|| format!("starting {}", binary.display()))?;
                let pid = child.id().to_string();
                let guard = cleanup::on_exit(move || {
                    let _ = Command::new("kill")
                        .arg(&pid)
                        .stderr(Stdio::null())
                        .status();
                });
                Ok(Service {
                    base,
                    launch,
                    name: name.to_owned(),
                    child: Some(child),
                    _cleanup: guard,
                })
            }
        }
    }

    /// Starts the service and waits (up to a minute) until it is ready to take webhooks.
    pub fn start_ready(
        sh: &Shell,
        launch: Launch,
        env: &[(&'static str, String)],
        name: &str,
    ) -> anyhow::Result<Service> {
        let mut service = Service::start(sh, launch, env, name)?;
        service.wait_ready(sh, Duration::from_secs(60))?;
        Ok(service)
    }

    /// Waits until `/health/ready` answers 200, or fails with the service's logs.
    fn wait_ready(&mut self, sh: &Shell, within: Duration) -> anyhow::Result<()> {
        let url = format!("{}/health/ready", self.base);
        let child = &mut self.child;
        let waited = config::aws::block_on(async {
            let http = benchling::client::http_client();
            let started = Instant::now();
            let mut last = String::from("no answer yet");
            while started.elapsed() < within {
                if let Some(child) = child.as_mut()
                    && let Some(status) = child.try_wait()?
                {
                    bail!("the service exited ({status})");
                }
                match http.get(&url).send().await {
                    Ok(response) if response.status().as_u16() == 200 => return Ok(()),
                    Ok(response) => {
                        last = format!(
                            "HTTP {} {}",
                            response.status().as_u16(),
                            response.text().await.unwrap_or_default()
                        )
                    }
                    Err(err) => last = err.to_string(),
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            bail!("the service was not ready within {within:?} ({last})")
        });
        waited.map_err(|err| anyhow::anyhow!("{err:#}; its log:\n{}", self.logs(sh)))
    }

    /// The container's environment and arguments, as `docker inspect` shows them to anyone who can
    /// reach the Docker daemon.
    pub fn started_with(&self, sh: &Shell) -> anyhow::Result<String> {
        let Launch::Container { .. } = &self.launch else {
            bail!("the service runs natively, not in a container");
        };
        let name = &self.name;
        let format = "{{json .Config.Env}} {{json .Config.Entrypoint}} {{json .Config.Cmd}}";
        cmd!(sh, "docker inspect --format {format} {name}")
            .quiet()
            .read()
            .with_context(|| format!("inspecting the container {name}"))
    }

    /// What the service printed.
    pub fn logs(&self, sh: &Shell) -> String {
        match &self.launch {
            Launch::Container { .. } => {
                let name = &self.name;
                cmd!(sh, "docker logs {name}")
                    .quiet()
                    .ignore_status()
                    .output()
                    .map(|out| {
                        String::from_utf8_lossy(&out.stdout).into_owned()
                            + &String::from_utf8_lossy(&out.stderr)
                    })
                    .unwrap_or_default()
            }
            Launch::Native { log, .. } => std::fs::read_to_string(log).unwrap_or_default(),
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn remove_container(name: &str) {
    let _ = Command::new("docker")
        .args(["rm", "--force", name])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Removes containers whose xtask is gone (it was killed before it could clean up).
fn remove_orphans(sh: &Shell) {
    let filter = format!("label={OWNER_LABEL}");
    let format = format!("{{{{.Names}}}} {{{{.Label \"{OWNER_LABEL}\"}}}}");
    let Ok(listing) = cmd!(sh, "docker ps --all --filter {filter} --format {format}")
        .quiet()
        .ignore_stderr()
        .read()
    else {
        return;
    };
    for line in listing.lines() {
        let Some((name, pid)) = line.split_once(' ') else {
            continue;
        };
        let alive = Command::new("kill")
            .args(["-0", pid])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if !alive {
            eprintln!(
                "removing container {name}, left by an xtask run that was killed (pid {pid})"
            );
            remove_container(name);
        }
    }
}
