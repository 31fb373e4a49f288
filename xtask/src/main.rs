//! `cargo xtask`: the one entry point for contributors and CI. This file only parses and dispatches;
//! each command lives in its own module.

mod bench;
mod completions;
mod config;
mod doctor;
mod flags;
mod install;
mod step;
mod test;
#[cfg(test)]
mod tidy;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use xshell::Shell;

fn main() -> ExitCode {
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
    let sh = Shell::new()?;
    sh.change_dir(project_root());
    let global = cli.global;
    match cli.command {
        None => Ok(flags::Cli::command().print_help()?),
        Some(flags::Command::Test(cmd)) => cmd.run(&sh, &global),
        Some(flags::Command::Install(cmd)) => cmd.run(&global),
        Some(flags::Command::Config(cmd)) => cmd.run(&global),
        Some(flags::Command::Bench(cmd)) => cmd.run(&sh, &global),
        Some(flags::Command::Doctor(cmd)) => cmd.run(&sh, &global),
        Some(flags::Command::Completions(cmd)) => cmd.run(),
    }
}

fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}
