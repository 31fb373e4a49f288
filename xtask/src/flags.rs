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
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// Deployment profile to use (a directory under $XDG_CONFIG_HOME/benchling-webhook)
    #[arg(long, global = true, default_value = "default", value_name = "NAME")]
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
    Install(Install),
    /// Show, list, validate, check and sync deployment profiles
    Config(Config),
    /// Measure the release service: signed webhooks per second, latency, memory
    Bench(Bench),
    /// Check the tools the other commands need and say how to install what is missing
    Doctor(Doctor),
    /// Start or stop the local sandbox: AWS (moto) and Benchling (simulator) on 127.0.0.1, profile `local`
    Sandbox(Sandbox),
    /// Build the service image, or run it with a profile's settings
    Docker(Docker),
    /// Run the whole system here: sandbox, image, signed events, and the package they produce
    Demo(Demo),
    /// Test the real image end to end with signed fixture events, against the sandbox or a profile
    TestLocal(TestLocal),
    /// Print a shell completion script for `cargo xtask` (bash, zsh or fish)
    Completions(crate::completions::Completions),
}

impl Command {
    /// Whether the command needs the AWS-enabled build (see `aws_build`).
    pub fn needs_aws(&self) -> bool {
        !matches!(self, Command::Test(_) | Command::Completions(_))
    }
}

// The flags of the commands that need the AWS-enabled build live here, so that the light build knows
// the whole command line (help, completions) without compiling their code.

#[derive(Debug, Args)]
pub struct Install {
    /// Set a field without being asked, e.g. `--set benchling.tenant=acme` (repeatable). The client secret
    /// comes from the prompt or BENCHLING_CLIENT_SECRET, never from the command line
    #[arg(long = "set", value_name = "FIELD=VALUE")]
    pub sets: Vec<String>,
}

#[derive(Debug, Args)]
pub struct Config {
    #[command(subcommand)]
    pub command: ConfigCommand,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the profile with what it inherits merged in; secrets are redacted
    Show {
        /// Print JSON for machines
        #[arg(long)]
        json: bool,
    },
    /// List the profiles: which inherits from which, which has a deployment
    List,
    /// Check the profile offline: required fields, formats, file permissions
    Validate,
    /// Print the JSON Schema of config.json (profiles point at a copy beside them)
    Schema,
    /// Move legacy (v0.6) files to the current layout after a backup; with --dry-run, show the plan
    Migrate,
    /// Write the Benchling secret to Secrets Manager if it differs from the profile; --dry-run shows the diff
    SyncSecrets,
    /// Check online: AWS identity, the secret, Benchling credentials, package bucket, packager queue
    Health {
        /// Print JSON for machines
        #[arg(long)]
        json: bool,
    },
    /// Fill in quilt.* from the Quilt CLI, the catalog's config.json and its CloudFormation stack
    Infer {
        /// Replace values already in the profile with what is found
        #[arg(long)]
        overwrite: bool,
    },
}

#[derive(Debug, Args)]
pub struct Bench {
    #[command(subcommand)]
    pub target: BenchTarget,
}

#[derive(Debug, Subcommand)]
pub enum BenchTarget {
    /// Signed webhook deliveries against the release service on 127.0.0.1
    Webhook {
        /// Stop after this many seconds of load
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Stop after this many requests
        #[arg(long, default_value_t = 200_000)]
        requests: u64,
        /// Requests in flight at once. 32 already keeps both cores busy here; more only adds queueing
        #[arg(long, default_value_t = 32)]
        connections: usize,
    },
}

#[derive(Debug, Args)]
pub struct Doctor {}

#[derive(Debug, Args)]
pub struct Sandbox {
    #[command(subcommand)]
    pub command: SandboxCommand,
}

#[derive(Debug, Subcommand)]
pub enum SandboxCommand {
    /// Start moto_server and benchling-sim, create the bucket, queues and secret, write profile `local`
    Up,
    /// Stop the processes `up` started
    Down,
    /// Say what runs where
    Status,
}

#[derive(Debug, Args)]
pub struct Docker {
    #[command(subcommand)]
    pub command: DockerCommand,
}

#[derive(Debug, Subcommand)]
pub enum DockerCommand {
    /// Build the image and tag it with the version and the git revision (`-dirty` for changed trees)
    Build,
    /// Build and run the image with the profile's settings; the secret stays in Secrets Manager
    Run {
        /// Port the service listens on (the container shares this machine's network)
        #[arg(long, default_value_t = 8080)]
        port: u16,
    },
}

#[derive(Debug, Args)]
pub struct Demo {}

#[derive(Debug, Args)]
pub struct TestLocal {}

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

    #[cfg(feature = "aws")]
    #[test]
    fn the_default_profile_is_the_one_the_store_uses() {
        let cli = Cli::try_parse_from(["xtask", "test"]).unwrap();
        assert_eq!(cli.global.profile, config::DEFAULT_PROFILE);
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
