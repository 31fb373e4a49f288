//! `cargo xtask docker build|run`: the service image (docker/Dockerfile) and running it with a
//! profile's settings.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use xshell::{Shell, cmd};

use crate::flags::{self, DockerCommand, Global};
use crate::service::{self, Launch};
use crate::step::{self, RunOptions, Step};

pub const REPOSITORY: &str = "benchling-webhook";
/// The image must stay small: it is pulled on every deployment and scale-out.
const TARGET_MB: f64 = 25.0;
/// Where the host build is staged for the Dockerfile's `COPY target/docker/rootfs/ /`.
const ROOTFS: &str = "target/docker/rootfs";
const HOST_TRIPLE: &str = "x86_64-unknown-linux-gnu";
const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// A built image.
pub struct Image {
    pub id: String,
    pub tags: Vec<String>,
    pub size_bytes: u64,
    pub tls_roots: String,
}

impl Image {
    /// The tag that names this exact source tree (git short sha, `-dirty` when it has changes).
    pub fn exact_tag(&self) -> &str {
        self.tags.last().expect("an image has at least one tag")
    }

    /// How to start a container of this exact image.
    pub fn launch(&self) -> Launch {
        Launch::Container {
            image: self.exact_tag().to_owned(),
        }
    }
}

impl flags::Docker {
    pub fn run(self, sh: &Shell, global: &Global) -> anyhow::Result<()> {
        match self.command {
            DockerCommand::Build => {
                if let Some(image) = build(sh, global)? {
                    print_image(&image);
                }
                Ok(())
            }
            DockerCommand::Run { port } => run(sh, global, port),
        }
    }
}

pub fn print_image(image: &Image) {
    let mb = image.size_bytes as f64 / 1e6;
    println!("image  {}", image.id);
    println!("tags   {}", image.tags.join(", "));
    println!(
        "size   {mb:.1} MB (target < {TARGET_MB:.0} MB{})",
        if mb < TARGET_MB { "" } else { ": OVER" }
    );
    println!("tls    {}", image.tls_roots);
}

/// Whether this host builds the binary itself (fast, reuses the cargo cache) or Docker compiles it.
fn host_builds_binary() -> bool {
    cfg!(all(target_os = "linux", target_arch = "x86_64"))
}

/// Builds and tags the image; `None` in a dry run (the commands are printed instead).
pub fn build(sh: &Shell, global: &Global) -> anyhow::Result<Option<Image>> {
    require_daemon(sh)?;
    let version = env!("CARGO_PKG_VERSION");
    let revision = git_revision(sh);
    let mut tags = vec![format!("{REPOSITORY}:{version}")];
    if let Some(revision) = &revision {
        tags.push(format!("{REPOSITORY}:{}", revision.short_tag()));
    }
    let opts = RunOptions {
        dry_run: global.dry_run,
        verbose: global.verbose,
        ..RunOptions::default()
    };
    let stage = if host_builds_binary() {
        step::run(
            vec![Step {
                name: "build static binary",
                cmd: cmd!(
                    sh,
                    "cargo build --profile image --target {HOST_TRIPLE} --package benchling-webhook"
                )
                .env("RUSTFLAGS", "-C target-feature=+crt-static"),
                fix: "fix the build errors above",
            }],
            opts,
        )?;
        let binary = crate::machine::cargo_target_dir(sh)?
            .join(HOST_TRIPLE)
            .join("image/benchling-webhook");
        if !global.dry_run {
            stage_rootfs(sh, Some(&binary))?;
        }
        "runtime"
    } else {
        if !global.dry_run {
            stage_rootfs(sh, None)?;
        }
        "compiled"
    };
    let build_args = [
        format!("VERSION={version}"),
        format!(
            "REVISION={}",
            revision.as_ref().map_or("unknown".to_owned(), |r| r.full())
        ),
        format!("CREATED={}", created(revision.as_ref())),
        format!("SOURCE={}", env!("CARGO_PKG_REPOSITORY")),
    ];
    let mut flags: Vec<String> = Vec::new();
    for arg in &build_args {
        flags.extend(["--build-arg".to_owned(), arg.clone()]);
    }
    for tag in &tags {
        flags.extend(["--tag".to_owned(), tag.clone()]);
    }
    step::run(
        vec![Step {
            name: "docker build",
            cmd: cmd!(
                sh,
                "docker build --quiet --network host --file docker/Dockerfile --target {stage} {flags...} ."
            )
            .ignore_stdout(),
            fix: "see Docker's message above; `cargo xtask doctor` checks the daemon",
        },
        // Moving a tag to the new build leaves the old image untagged; only ours are removed.
        Step {
            name: "remove untagged builds",
            cmd: cmd!(
                sh,
                "docker image prune --force --filter label=org.opencontainers.image.title={REPOSITORY}"
            )
            .ignore_stdout(),
            fix: "remove them by hand: `docker image prune --filter label=org.opencontainers.image.title=benchling-webhook`",
        }],
        opts,
    )?;
    if global.dry_run {
        return Ok(None);
    }
    let exact = tags.last().expect("the version tag");
    let format = "{{.Id}} {{.Size}}";
    let inspected = cmd!(sh, "docker image inspect --format {format} {exact}")
        .quiet()
        .read()
        .context("inspecting the built image")?;
    let (id, size) = inspected
        .split_once(' ')
        .context("docker image inspect: expected `<id> <size>`")?;
    let tls_roots = cmd!(sh, "docker run --rm --network none {exact} tls-roots")
        .quiet()
        .read()
        .context("the image could not report its CA roots")?;
    Ok(Some(Image {
        id: id.to_owned(),
        tags,
        size_bytes: size.trim().parse().context("the image size")?,
        tls_roots,
    }))
}

/// Puts the binary (when built here) and the CA bundle where the Dockerfile copies them from.
fn stage_rootfs(sh: &Shell, binary: Option<&Path>) -> anyhow::Result<()> {
    let rootfs = sh.current_dir().join(ROOTFS);
    if rootfs.exists() {
        std::fs::remove_dir_all(&rootfs)
            .with_context(|| format!("clearing {}", rootfs.display()))?;
    }
    std::fs::create_dir_all(&rootfs)?;
    let Some(binary) = binary else {
        return Ok(());
    };
    std::fs::copy(binary, rootfs.join("benchling-webhook"))
        .with_context(|| format!("staging {}", binary.display()))?;
    let bundle =
        std::env::var_os("SSL_CERT_FILE").map_or_else(|| PathBuf::from(CA_BUNDLE), PathBuf::from);
    let certs = rootfs.join("etc/ssl/certs");
    std::fs::create_dir_all(&certs)?;
    std::fs::copy(&bundle, certs.join("ca-certificates.crt")).with_context(|| {
        format!(
            "copying the CA bundle {} into the image: install it with `apt-get install ca-certificates` \
             or point SSL_CERT_FILE at a PEM bundle",
            bundle.display()
        )
    })?;
    Ok(())
}

pub fn require_daemon(sh: &Shell) -> anyhow::Result<()> {
    if crate::machine::docker_daemon_answers(sh) {
        return Ok(());
    }
    bail!(
        "no Docker daemon answers: install Docker (Debian: `apt-get install docker.io`) and start it \
         (`sudo systemctl start docker`, or `sudo dockerd &`); `cargo xtask doctor` checks"
    )
}

/// The commit the image is built from, and whether the tree differs from it.
pub struct Revision {
    sha: String,
    /// The commit's time (RFC 3339).
    committed: String,
    dirty: bool,
}

/// The image's `created` label: the commit's time for a clean tree, so rebuilding a commit gives the
/// same image (Docker's cache answers every step) instead of a new one that only differs by a label;
/// now for a changed tree or outside git.
fn created(revision: Option<&Revision>) -> String {
    match revision {
        Some(revision) if !revision.dirty => revision.committed.clone(),
        _ => config::now_rfc3339(),
    }
}

impl Revision {
    fn short_tag(&self) -> String {
        let short = &self.sha[..self.sha.len().min(12)];
        if self.dirty {
            format!("{short}-dirty")
        } else {
            short.to_owned()
        }
    }

    fn full(&self) -> String {
        if self.dirty {
            format!("{}-dirty", self.sha)
        } else {
            self.sha.clone()
        }
    }
}

fn git_revision(sh: &Shell) -> Option<Revision> {
    let sha = cmd!(sh, "git rev-parse HEAD")
        .quiet()
        .ignore_stderr()
        .read()
        .ok()?;
    let committed = cmd!(sh, "git log -1 --format=%cI HEAD")
        .quiet()
        .read()
        .ok()?;
    let status = cmd!(sh, "git status --porcelain").quiet().read().ok()?;
    Some(Revision {
        sha: sha.trim().to_owned(),
        committed: committed.trim().to_owned(),
        dirty: !status.trim().is_empty(),
    })
}

/// `docker run --profile P`: the image in the foreground with the profile's settings. The secret stays
/// in Secrets Manager: the container gets its name or ARN and AWS access, never its value.
fn run(sh: &Shell, global: &Global, port: u16) -> anyhow::Result<()> {
    let store = crate::config::open_store()?;
    let profile = store.load(&global.profile)?;
    let sandbox = if global.profile == crate::sandbox::PROFILE {
        let state = crate::sandbox::read_state(sh)?.filter(|s| s.running());
        Some(state.context(
            "the `local` profile needs the sandbox: start it with `cargo xtask sandbox up`",
        )?)
    } else {
        None
    };
    let env = service::environment(&global.profile, &profile, sandbox.as_ref(), port)?;
    let Some(image) = build(sh, global)? else {
        return Ok(());
    };
    let name = format!(
        "benchling-webhook-{}-{}",
        global.profile,
        std::process::id()
    );
    let running = service::Service::start_ready(sh, image.launch(), &env, &name)?;
    println!(
        "serving {} at {} (container {name}); its log follows, Ctrl-C stops it",
        image.exact_tag(),
        running.base
    );
    cmd!(sh, "docker logs --follow {name}")
        .run()
        .context("following the container's log")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_tree_is_never_tagged_or_dated_as_its_commit() {
        let sha = "7eb7ca13c16b16c2afd661a05e6e1624f0d50369";
        let clean = Revision {
            sha: sha.into(),
            committed: "2026-12-03T19:27:11+00:00".into(),
            dirty: false,
        };
        assert_eq!(clean.short_tag(), "7eb7ca13c16b");
        assert_eq!(clean.full(), sha);
        assert_eq!(created(Some(&clean)), "2026-12-03T19:27:11+00:00");
        let dirty = Revision {
            dirty: true,
            ..clean
        };
        assert_eq!(dirty.short_tag(), "7eb7ca13c16b-dirty");
        assert_eq!(dirty.full(), format!("{sha}-dirty"));
        assert_ne!(
            created(Some(&dirty)),
            dirty.committed,
            "a changed tree is not dated as its commit"
        );
    }

    #[test]
    fn the_dockerfile_builds_runtime_first_and_never_from_the_builder() {
        let dockerfile =
            std::fs::read_to_string(crate::project_root().join("docker/Dockerfile")).unwrap();
        let stages: Vec<&str> = dockerfile
            .lines()
            .filter(|l| l.starts_with("FROM "))
            .collect();
        assert_eq!(
            stages,
            [
                "FROM scratch AS runtime",
                "FROM rust:1-bookworm AS builder",
                "FROM runtime AS compiled"
            ],
            "the legacy builder builds every stage before its target: `runtime` must come first"
        );
        for needed in [
            "HEALTHCHECK",
            "USER 65532",
            "EXPOSE 8080",
            "SSL_CERT_FILE",
            "org.opencontainers.image.revision",
        ] {
            assert!(dockerfile.contains(needed), "the Dockerfile has {needed}");
        }
    }
}
