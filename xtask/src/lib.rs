//! `cargo xtask`: the one entry point for contributors and CI. This file only dispatches; each command
//! lives in its own module.
//!
//! Two builds of one program: the light one (`src/main.rs`, what `cargo xtask` runs) knows every
//! command's flags but compiles without the AWS SDK, so `cargo xtask --help` and `cargo xtask test` stay
//! quick to start; commands that talk to AWS run in the full build (`src/bin/xtask-aws.rs`, feature
//! `aws`), which the light one hands over to (`aws_build`).

#[cfg(feature = "aws")]
mod bench;
#[cfg(feature = "aws")]
mod cleanup;
mod completions;
#[cfg(feature = "aws")]
mod config;
#[cfg(feature = "aws")]
mod demo;
#[cfg(feature = "aws")]
mod docker;
#[cfg(feature = "aws")]
mod doctor;
mod flags;
#[cfg(feature = "aws")]
mod install;
#[cfg(feature = "aws")]
mod machine;
#[cfg(feature = "aws")]
mod sandbox;
#[cfg(feature = "aws")]
mod service;
mod step;
mod test;
#[cfg(feature = "aws")]
mod test_local;
#[cfg(test)]
mod tidy;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use xshell::Shell;

/// Parses the command line, runs the command and turns its outcome into the exit code.
pub fn main() -> ExitCode {
    let cli = flags::Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => match err.downcast_ref::<Exit>() {
            Some(exit) => {
                eprintln!("{}", exit.message);
                ExitCode::from(exit.code)
            }
            None => {
                eprintln!("error: {err:#}");
                ExitCode::FAILURE
            }
        },
    }
}

/// Ends the run with a particular exit code, e.g. 2 for "degraded" from `config health`.
#[derive(Debug)]
pub struct Exit {
    pub code: u8,
    pub message: String,
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Exit {}

fn run(cli: flags::Cli) -> anyhow::Result<()> {
    check_built_from_this_checkout(std::env::var_os("CARGO_MANIFEST_DIR").as_deref())?;
    let sh = Shell::new()?;
    sh.change_dir(project_root());
    let global = cli.global;
    match cli.command {
        None => Ok(flags::Cli::command().print_help()?),
        Some(command) if command.needs_aws() => run_with_aws(command, &sh, &global),
        Some(flags::Command::Test(cmd)) => cmd.run(&sh, &global),
        Some(flags::Command::Completions(cmd)) => cmd.run(),
        Some(_) => unreachable!("the light build runs every command that does not need AWS"),
    }
}

#[cfg(feature = "aws")]
fn run_with_aws(command: flags::Command, sh: &Shell, global: &flags::Global) -> anyhow::Result<()> {
    match command {
        flags::Command::Install(cmd) => cmd.run(global),
        flags::Command::Config(cmd) => cmd.run(global),
        flags::Command::Bench(cmd) => cmd.run(sh, global),
        flags::Command::Doctor(cmd) => cmd.run(sh, global),
        flags::Command::Sandbox(cmd) => cmd.run(sh, global),
        flags::Command::Docker(cmd) => cmd.run(sh, global),
        flags::Command::Demo(cmd) => cmd.run(sh, global),
        flags::Command::TestLocal(cmd) => cmd.run(sh, global),
        flags::Command::Test(_) | flags::Command::Completions(_) => {
            unreachable!("needs_aws() is false for these")
        }
    }
}

#[cfg(not(feature = "aws"))]
fn run_with_aws(_: flags::Command, _: &Shell, global: &flags::Global) -> anyhow::Result<()> {
    aws_build(global.verbose)
}

/// Hands the same command line to the full build: `cargo build --package xtask --features aws`, then
/// the binary it made. The build is quiet when it is up to date; when it compiles (the first AWS
/// command takes minutes) it says so and counts the crates, instead of a silent wait. On Unix the
/// process is replaced, so signals (Ctrl-C) and the exit code reach the command directly.
#[cfg(not(feature = "aws"))]
fn aws_build(verbose: bool) -> anyhow::Result<()> {
    use anyhow::Context;
    use std::io::{BufRead, IsTerminal, Write};

    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = std::process::Command::new(cargo);
    build
        .args([
            "build",
            "--package",
            "xtask",
            "--features",
            "aws",
            "--bin",
            "xtask-aws",
        ])
        // Compiler errors are rendered on stderr as usual; stdout carries one JSON line per crate.
        .arg("--message-format=json-render-diagnostics")
        .args((!verbose).then_some("--quiet"))
        .arg("--manifest-path")
        .arg(project_root().join("Cargo.toml"))
        .stdout(std::process::Stdio::piped());
    let mut child = build
        .spawn()
        .context("could not start cargo to build the AWS-enabled xtask")?;
    let stdout = child.stdout.take().context("cargo's stdout")?;
    let live = std::io::stderr().is_terminal();
    let mut compiled = 0;
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.context("reading cargo's output")?;
        if !(line.contains(r#""reason":"compiler-artifact""#) && line.contains(r#""fresh":false"#))
        {
            continue;
        }
        compiled += 1;
        if compiled == 1 {
            eprintln!(
                "building xtask's AWS tools (the AWS SDK: a few minutes the first time, seconds after a change) …"
            );
        }
        if live {
            eprint!("\r  crates compiled: {compiled}");
            let _ = std::io::stderr().flush();
        }
    }
    if live && compiled > 0 {
        eprintln!();
    }
    let status = child.wait().context("waiting for cargo")?;
    if !status.success() {
        anyhow::bail!("building the AWS-enabled xtask failed (see cargo's errors above)");
    }
    // Cargo put it beside this build, in the same target directory and profile.
    let binary = std::env::current_exe()
        .context("locating this xtask")?
        .with_file_name(format!("xtask-aws{}", std::env::consts::EXE_SUFFIX));
    let mut command = std::process::Command::new(&binary);
    command.args(std::env::args_os().skip(1));
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let err = command.exec();
        Err(err).with_context(|| format!("could not start {}", binary.display()))
    }
    #[cfg(not(unix))]
    {
        let status = command
            .status()
            .with_context(|| format!("could not start {}", binary.display()))?;
        std::process::exit(status.code().unwrap_or(1))
    }
}

/// Refuses to run a build of another checkout. Cargo leaves a checkout's own path out of what makes
/// a build unique, so two checkouts sharing one target directory (a global `CARGO_TARGET_DIR`) can
/// each take the other's newer build for up to date: `cargo xtask` would then run the other tree's
/// code on the other tree. `running_for` is the `CARGO_MANIFEST_DIR` that `cargo run` gives the
/// process; started otherwise (tests run the binary directly), there is nothing to compare.
fn check_built_from_this_checkout(running_for: Option<&std::ffi::OsStr>) -> anyhow::Result<()> {
    let Some(running_for) = running_for.map(Path::new) else {
        return Ok(());
    };
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR"));
    let canonical = |path: &Path| path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    if canonical(built_from) == canonical(running_for) {
        return Ok(());
    }
    let here = running_for.parent().unwrap_or(running_for);
    anyhow::bail!(
        "this xtask was built from {} but is run for {}: the checkout moved, or two checkouts share a \
         target directory and cargo took the other's build for this one's; give each checkout its \
         own (unset CARGO_TARGET_DIR or set one per checkout), or rebuild from this one with \
         `find {} -name '*.rs' -exec touch {{}} +`",
        built_from.display(),
        running_for.display(),
        here.display()
    )
}

fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_build_of_another_checkout_is_refused_with_the_way_out() {
        assert!(check_built_from_this_checkout(None).is_ok());
        assert!(check_built_from_this_checkout(Some(env!("CARGO_MANIFEST_DIR").as_ref())).is_ok());

        let other = tempfile::tempdir().unwrap();
        let err = check_built_from_this_checkout(Some(other.path().join("xtask").as_os_str()))
            .unwrap_err()
            .to_string();
        assert!(err.contains(env!("CARGO_MANIFEST_DIR")), "{err}");
        assert!(err.contains("CARGO_TARGET_DIR"), "{err}");
        assert!(
            err.contains(&format!(
                "find {} -name '*.rs' -exec touch {{}} +",
                other.path().display()
            )),
            "{err}"
        );
    }
}
