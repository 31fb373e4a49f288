//! `cargo xtask`: the one entry point for contributors and CI. This file only parses and dispatches;
//! each command lives in its own module.

mod completions;
mod config;
mod doctor;
mod flags;
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
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: flags::Cli) -> anyhow::Result<()> {
    let sh = Shell::new()?;
    sh.change_dir(project_root());
    let global = cli.global;
    match cli.command {
        None => Ok(flags::Cli::command().print_help()?),
        Some(flags::Command::Test(cmd)) => cmd.run(&sh, &global),
        Some(flags::Command::Config(cmd)) => cmd.run(&global),
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
