use clap::{Args, Parser, Subcommand};

/// Build, test, run, deploy and release benchling-webhook.
#[derive(Debug, Parser)]
#[command(bin_name = "cargo xtask")]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    /// With no command, the command list is printed.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Flags every command accepts, before or after its name.
#[derive(Debug, Args)]
pub struct Global {
    /// Deployment profile to use (a directory under $XDG_CONFIG_HOME/benchling-webhook)
    #[arg(long, global = true, default_value = config::DEFAULT_PROFILE, value_name = "NAME")]
    pub profile: String,
    /// Print each external command (with its working directory and environment) instead of running
    /// anything that changes state
    #[arg(long, global = true)]
    pub dry_run: bool,
    /// Never prompt: use existing and given values, and fail listing whatever is still missing
    #[arg(long, global = true)]
    pub yes: bool,
    /// Say more about what is happening
    #[arg(short, long, global = true)]
    pub verbose: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Lint and unit-test the workspace: rustfmt, clippy, tests, cfn-lint
    Test(crate::test::Test),
    /// Set up a profile: ask for each setting, check it online, store the secret in Secrets Manager
    Install(crate::install::Install),
    /// Show, list, validate, check and sync deployment profiles
    Config(crate::config::Config),
    /// Measure the release service: signed webhooks per second, latency, memory
    Bench(crate::bench::Bench),
    /// Check the tools the other commands need and say how to install what is missing
    Doctor(crate::doctor::Doctor),
    /// Print a shell completion script for `cargo xtask` (bash, zsh or fish)
    Completions(crate::completions::Completions),
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_flags_are_accepted_after_the_command_name() {
        let cli =
            Cli::try_parse_from(["xtask", "test", "--dry-run", "--profile", "dev", "-v"]).unwrap();
        assert!(cli.global.dry_run && cli.global.verbose);
        assert_eq!(cli.global.profile, "dev");
    }

    #[test]
    fn every_command_has_help_text() {
        for sub in Cli::command().get_subcommands() {
            assert!(
                sub.get_about().is_some(),
                "`{}` has no doc comment",
                sub.get_name()
            );
        }
    }
}
