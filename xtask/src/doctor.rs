use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::bail;
use xshell::Shell;

use crate::flags::{self, Global};

/// A tool some command needs, and how to get it.
struct Tool {
    name: &'static str,
    needed_by: &'static str,
    install: &'static str,
    probe: fn() -> Finding,
}

#[derive(Debug, PartialEq)]
enum Finding {
    Found(String),
    /// Present but not fully usable, or absent with a fallback.
    Warning(String),
    Missing,
}

const TOOLS: &[Tool] = &[
    Tool {
        name: "cargo",
        needed_by: "everything",
        install: "https://rustup.rs",
        probe: || version("cargo", &["--version"]),
    },
    Tool {
        name: "rustfmt",
        needed_by: "test",
        install: "rustup component add rustfmt",
        probe: || version("cargo", &["fmt", "--version"]),
    },
    Tool {
        name: "clippy",
        needed_by: "test",
        install: "rustup component add clippy",
        probe: || version("cargo", &["clippy", "--version"]),
    },
    Tool {
        name: "cargo-nextest",
        needed_by: "test (optional: `cargo test` is used without it)",
        install: "cargo install cargo-nextest --locked",
        probe: || match version("cargo", &["nextest", "--version"]) {
            Finding::Missing => {
                Finding::Warning("not installed; `cargo test` runs the tests instead".into())
            }
            found => found,
        },
    },
    Tool {
        name: "cfn-lint",
        needed_by: "test, when infra/ has templates",
        install: "pip install cfn-lint",
        probe: || version("cfn-lint", &["--version"]),
    },
    Tool {
        name: "moto_server",
        needed_by: "test, sandbox, demo (the AWS emulator; the sandbox installs it into a virtualenv when missing)",
        install: "pip install 'moto[server]'",
        probe: moto_server,
    },
    Tool {
        name: "zsh",
        needed_by: "test (completion scripts are loaded into it)",
        install: "apt-get install zsh",
        probe: || version("zsh", &["--version"]),
    },
    Tool {
        name: "fish",
        needed_by: "test (completion scripts are loaded into it)",
        install: "apt-get install fish",
        probe: || version("fish", &["--version"]),
    },
    Tool {
        name: "git",
        needed_by: "tag, release, image labels",
        install: "apt-get install git (or your package manager)",
        probe: || version("git", &["--version"]),
    },
    Tool {
        name: "docker",
        needed_by: "test-local, docker, demo (which runs the binary natively without it)",
        install: "apt-get install docker.io (or Docker Desktop)",
        probe: docker,
    },
    Tool {
        name: "python3",
        needed_by: "the local AWS emulator (moto)",
        install: "apt-get install python3 python3-venv",
        probe: || version("python3", &["--version"]),
    },
    Tool {
        name: "aws credentials",
        needed_by: "install, test-remote, release",
        install: "`aws configure` or `aws sso login`",
        probe: aws_credentials,
    },
];

impl flags::Doctor {
    pub fn run(self, sh: &Shell, global: &Global) -> anyhow::Result<()> {
        let infra_has_templates =
            !crate::test::cloudformation_templates(&sh.current_dir().join("infra"))?.is_empty();
        let findings: Vec<Finding> = std::thread::scope(|scope| {
            let probes: Vec<_> = TOOLS.iter().map(|tool| scope.spawn(tool.probe)).collect();
            probes
                .into_iter()
                .map(|p| {
                    p.join()
                        .unwrap_or(Finding::Warning("probe panicked".into()))
                })
                .collect()
        });

        let mut missing_for_test = Vec::new();
        for (tool, finding) in TOOLS.iter().zip(&findings) {
            let required_for_test = match tool.name {
                "cargo" | "rustfmt" | "clippy" | "moto_server" | "zsh" | "fish" => true,
                "cfn-lint" => infra_has_templates,
                _ => false,
            };
            let (mark, detail) = match finding {
                Finding::Found(version) => ("✓", version.clone()),
                Finding::Warning(why) => ("!", format!("{why}; needed by {}", tool.needed_by)),
                Finding::Missing if required_for_test => {
                    missing_for_test.push(format!("{} ({})", tool.name, tool.install));
                    (
                        "✗",
                        format!(
                            "missing; needed by {}; install: {}",
                            tool.needed_by, tool.install
                        ),
                    )
                }
                Finding::Missing => (
                    "!",
                    format!(
                        "missing; needed by {}; install: {}",
                        tool.needed_by, tool.install
                    ),
                ),
            };
            println!("{mark} {:<16} {detail}", tool.name);
        }
        println!("  {:<16} {}", "profile", profile_line(&global.profile));

        if !missing_for_test.is_empty() {
            bail!(
                "`cargo xtask test` needs what is missing: {}",
                missing_for_test.join(", ")
            );
        }
        Ok(())
    }
}

/// The named tools that are missing or not fully usable, as `doctor` would print them.
pub fn problems(names: &[&str]) -> Vec<String> {
    let wanted: Vec<&Tool> = TOOLS.iter().filter(|t| names.contains(&t.name)).collect();
    std::thread::scope(|scope| {
        let probes: Vec<_> = wanted
            .iter()
            .map(|tool| (tool, scope.spawn(tool.probe)))
            .collect();
        probes
            .into_iter()
            .filter_map(
                |(tool, probe)| match probe.join().unwrap_or(Finding::Missing) {
                    Finding::Found(_) => None,
                    Finding::Warning(why) => Some(format!("! {}: {why}", tool.name)),
                    Finding::Missing => Some(format!(
                        "! {}: missing; install: {}",
                        tool.name, tool.install
                    )),
                },
            )
            .collect()
    })
}

fn profile_line(profile: &str) -> String {
    match config::ConfigBase::from_env().and_then(|base| base.profile_config(profile)) {
        Ok(path) if path.exists() => format!("`{profile}`: {}", path.display()),
        Ok(path) => format!("`{profile}`: {} (not created yet)", path.display()),
        Err(err) => format!("`{profile}`: {err}"),
    }
}

/// The first line a program prints, or `Missing` when it cannot run, fails or hangs.
fn version(program: &str, args: &[&str]) -> Finding {
    match output_within(program, args, Duration::from_secs(10)) {
        Some(out) => Finding::Found(out.lines().next().unwrap_or_default().trim().to_owned()),
        None => Finding::Missing,
    }
}

/// moto_server has no `--version`: it is there if `--help` runs; its version is the Python package's.
fn moto_server() -> Finding {
    if output_within("moto_server", &["--help"], Duration::from_secs(10)).is_none() {
        return Finding::Missing;
    }
    match version("python3", &["-c", "import moto; print(moto.__version__)"]) {
        Finding::Found(v) => Finding::Found(format!("moto {v}")),
        _ => Finding::Found("present".into()),
    }
}

fn docker() -> Finding {
    let Finding::Found(client) = version("docker", &["--version"]) else {
        return Finding::Missing;
    };
    match output_within(
        "docker",
        &["version", "--format", "{{.Server.Version}}"],
        Duration::from_secs(5),
    ) {
        Some(server) => Finding::Found(format!("{client}; daemon {}", server.trim())),
        None => Finding::Warning(format!(
            "{client}; the daemon does not answer: start it (`sudo systemctl start docker` or `sudo dockerd &`)"
        )),
    }
}

/// Where the AWS SDK would find credentials, by the names of the sources only: never a value.
fn aws_credentials() -> Finding {
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let file = |var: &str, default: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join(default))
    };
    let mut sources = Vec::new();
    if set("AWS_ACCESS_KEY_ID") && set("AWS_SECRET_ACCESS_KEY") {
        sources.push("environment keys".to_owned());
    }
    if let Ok(profile) = std::env::var("AWS_PROFILE") {
        sources.push(format!("AWS_PROFILE={profile}"));
    }
    if set("AWS_WEB_IDENTITY_TOKEN_FILE") {
        sources.push("web identity token".to_owned());
    }
    if set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") || set("AWS_CONTAINER_CREDENTIALS_FULL_URI") {
        sources.push("container credentials".to_owned());
    }
    for path in [
        file("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials"),
        file("AWS_CONFIG_FILE", ".aws/config"),
    ] {
        if path.is_file() {
            sources.push(path.display().to_string());
        }
    }
    if sources.is_empty() {
        Finding::Warning("none found here (an EC2 or ECS instance role may still apply)".into())
    } else {
        Finding::Found(format!("from {}", sources.join(", ")))
    }
}

/// Runs a read-only probe, killing it after `limit`: a wedged daemon must not hang `doctor`.
fn output_within(program: &str, args: &[&str], limit: Duration) -> Option<String> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().ok()? {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut out = String::new();
    child.stdout.take()?.read_to_string(&mut out).ok()?;
    status.success().then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_that_exists_reports_its_first_line() {
        assert!(
            matches!(version("cargo", &["--version"]), Finding::Found(v) if v.starts_with("cargo "))
        );
    }

    #[test]
    fn a_program_that_does_not_exist_is_missing() {
        assert_eq!(
            version("benchling-webhook-no-such-tool", &["--version"]),
            Finding::Missing
        );
    }

    #[test]
    fn a_failing_program_is_missing() {
        assert_eq!(version("false", &[]), Finding::Missing);
    }

    #[test]
    fn a_hanging_probe_is_killed_at_the_limit() {
        let started = Instant::now();
        assert_eq!(
            output_within("sleep", &["30"], Duration::from_millis(200)),
            None
        );
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
