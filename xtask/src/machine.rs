//! Facts about this machine that several commands ask for.

use anyhow::Context;
use xshell::{Shell, cmd};

/// Where cargo puts its builds (honours CARGO_TARGET_DIR and `build.target-dir`).
pub fn cargo_target_dir(sh: &Shell) -> anyhow::Result<std::path::PathBuf> {
    let metadata = cmd!(sh, "cargo metadata --format-version 1 --no-deps")
        .quiet()
        .read()?;
    let metadata: serde_json::Value = serde_json::from_str(&metadata)?;
    Ok(metadata["target_directory"]
        .as_str()
        .context("cargo metadata names no target directory")?
        .into())
}

/// A port on 127.0.0.1 nothing listens on right now.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")
        .context("finding a free port on 127.0.0.1")?
        .local_addr()?
        .port())
}

/// Whether a Docker daemon answers (not just the client being installed).
pub fn docker_daemon_answers(sh: &Shell) -> bool {
    let format = "{{.ServerVersion}}";
    cmd!(sh, "docker info --format {format}")
        .quiet()
        .ignore_stderr()
        .read()
        .is_ok_and(|version| !version.trim().is_empty())
}
