//! Prepared commands: a command list is built first and run second, which gives `--dry-run` (print the
//! list) and `--keep-going` (run it all, then summarise) to every command that uses it.

use std::fmt::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::bail;
use xshell::Cmd;

/// One external command with a name to report it by and the fix to suggest when it fails.
pub struct Step<'a> {
    pub name: &'static str,
    pub cmd: Cmd<'a>,
    pub fix: &'static str,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    pub dry_run: bool,
    pub keep_going: bool,
    pub verbose: bool,
    /// Wrap each step in `::group::` so GitHub Actions folds its output.
    pub github_actions: bool,
}

impl RunOptions {
    pub fn github_actions_from_env() -> bool {
        std::env::var_os("GITHUB_ACTIONS").is_some_and(|v| v == "true")
    }
}

/// A step converted for running: its display line is taken first, because that is where xshell hides
/// the arguments of a command marked `.secret()`.
struct Prepared {
    name: &'static str,
    fix: &'static str,
    line: String,
    command: Command,
}

impl Prepared {
    fn new(step: Step<'_>) -> Self {
        let line = step.cmd.to_string();
        Prepared {
            name: step.name,
            fix: step.fix,
            line,
            command: Command::from(step.cmd),
        }
    }

    /// The command line, its working directory and the environment it sets; a secret command shows
    /// neither arguments nor environment values.
    fn describe(&self) -> String {
        let hidden = self.line == "<secret>";
        let mut out = format!("{}: {}\n", self.name, self.line);
        if let Some(dir) = self.command.get_current_dir() {
            let _ = writeln!(out, "    dir: {}", dir.display());
        }
        for (key, value) in self.command.get_envs() {
            let value = match value {
                _ if hidden => "<secret>".into(),
                Some(value) => value.to_string_lossy(),
                None => "(removed)".into(),
            };
            let _ = writeln!(out, "    env: {}={value}", key.to_string_lossy());
        }
        out
    }
}

/// What `--dry-run` prints for these steps.
pub fn describe(steps: Vec<Step<'_>>) -> String {
    steps
        .into_iter()
        .map(|step| Prepared::new(step).describe())
        .collect()
}

struct Outcome {
    name: &'static str,
    fix: &'static str,
    passed: bool,
    elapsed: Duration,
}

/// Runs the steps in order. Stops at the first failure unless `keep_going`; either way the error names
/// each failed step and its fix.
pub fn run(steps: Vec<Step<'_>>, opts: RunOptions) -> anyhow::Result<()> {
    if opts.dry_run {
        print!("{}", describe(steps));
        return Ok(());
    }
    let total = steps.len();
    let mut outcomes = Vec::with_capacity(total);
    for step in steps {
        let mut step = Prepared::new(step);
        if opts.github_actions {
            println!("::group::{}", step.name);
        }
        if opts.verbose {
            eprint!("==> {}", step.describe());
        } else {
            eprintln!("==> {}: {}", step.name, step.line);
        }
        let started = Instant::now();
        // Null stdin as xshell does: a step never waits for the terminal.
        let passed = match step.command.stdin(Stdio::null()).status() {
            Ok(status) => status.success(),
            Err(err) => {
                let program = step.command.get_program().to_string_lossy().into_owned();
                eprintln!(
                    "    could not start `{program}`: {err} (`cargo xtask doctor` checks the tools)"
                );
                false
            }
        };
        let elapsed = started.elapsed();
        let result = if passed { "ok" } else { "FAILED" };
        eprintln!("<== {}: {result} in {}", step.name, seconds(elapsed));
        if opts.github_actions {
            println!("::endgroup::");
        }
        outcomes.push(Outcome {
            name: step.name,
            fix: step.fix,
            passed,
            elapsed,
        });
        if !passed && !opts.keep_going {
            break;
        }
    }
    if total > 1 {
        eprint!("{}", summary(&outcomes, total));
    }
    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| !o.passed).collect();
    match failed.as_slice() {
        [] => Ok(()),
        [one] => bail!("step `{}` failed: {}", one.name, one.fix),
        many => {
            let list: Vec<String> = many
                .iter()
                .map(|o| format!("`{}` ({})", o.name, o.fix))
                .collect();
            bail!("{} steps failed: {}", many.len(), list.join(", "))
        }
    }
}

fn summary(outcomes: &[Outcome], total: usize) -> String {
    let width = outcomes
        .iter()
        .map(|o| o.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut out = format!("\n{:width$}  result  time\n", "step");
    for o in outcomes {
        let result = if o.passed { "pass" } else { "FAIL" };
        let _ = writeln!(out, "{:width$}  {result:6}  {}", o.name, seconds(o.elapsed));
    }
    if outcomes.len() < total {
        let _ = writeln!(
            out,
            "({} not run after the failure; --keep-going runs them)",
            total - outcomes.len()
        );
    }
    out
}

fn seconds(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use xshell::{Shell, cmd};

    #[test]
    fn describe_shows_command_directory_and_environment() {
        let sh = Shell::new().unwrap();
        sh.change_dir("/tmp");
        let step = Step {
            name: "greet",
            cmd: cmd!(sh, "echo hi").env("LANG", "C"),
            fix: "",
        };
        assert_eq!(
            describe(vec![step]),
            "greet: echo hi\n    dir: /tmp\n    env: LANG=C\n"
        );
    }

    #[test]
    fn describe_hides_arguments_and_environment_of_secret_commands() {
        let sh = Shell::new().unwrap();
        let token = "hunter2";
        let cmd = cmd!(sh, "login --token {token}")
            .env("TOKEN", token)
            .secret();
        let shown = describe(vec![Step {
            name: "login",
            cmd,
            fix: "",
        }]);
        assert!(!shown.contains(token), "{shown}");
        assert!(shown.starts_with("login: <secret>\n"), "{shown}");
    }

    #[test]
    fn a_failing_step_stops_the_run_and_names_the_step_and_fix() {
        let sh = Shell::new().unwrap();
        let steps = vec![
            Step {
                name: "first",
                cmd: cmd!(sh, "false"),
                fix: "fix the first",
            },
            Step {
                name: "second",
                cmd: cmd!(sh, "true"),
                fix: "",
            },
        ];
        let err = run(steps, RunOptions::default()).unwrap_err().to_string();
        assert_eq!(err, "step `first` failed: fix the first");
    }

    #[test]
    fn keep_going_runs_every_step_and_reports_all_failures() {
        let sh = Shell::new().unwrap();
        let marker = sh.create_temp_dir().unwrap();
        let touched = marker.path().join("ran");
        let steps = vec![
            Step {
                name: "a",
                cmd: cmd!(sh, "false"),
                fix: "fix a",
            },
            Step {
                name: "b",
                cmd: cmd!(sh, "touch {touched}"),
                fix: "",
            },
            Step {
                name: "c",
                cmd: cmd!(sh, "false"),
                fix: "fix c",
            },
        ];
        let opts = RunOptions {
            keep_going: true,
            ..RunOptions::default()
        };
        let err = run(steps, opts).unwrap_err().to_string();
        assert!(touched.exists(), "the step after a failure did not run");
        assert_eq!(err, "2 steps failed: `a` (fix a), `c` (fix c)");
    }

    #[test]
    fn dry_run_runs_nothing() {
        let sh = Shell::new().unwrap();
        let dir = sh.create_temp_dir().unwrap();
        let touched = dir.path().join("ran");
        let steps = vec![Step {
            name: "t",
            cmd: cmd!(sh, "touch {touched}"),
            fix: "",
        }];
        run(
            steps,
            RunOptions {
                dry_run: true,
                ..RunOptions::default()
            },
        )
        .unwrap();
        assert!(!touched.exists());
    }

    #[test]
    fn summary_lists_each_step_and_what_was_skipped() {
        let outcomes = [
            Outcome {
                name: "fmt",
                fix: "",
                passed: true,
                elapsed: Duration::from_millis(1200),
            },
            Outcome {
                name: "clippy",
                fix: "",
                passed: false,
                elapsed: Duration::from_secs(3),
            },
        ];
        let table = summary(&outcomes, 3);
        assert!(table.contains("fmt     pass    1.2s"), "{table}");
        assert!(table.contains("clippy  FAIL    3.0s"), "{table}");
        assert!(table.contains("(1 not run after the failure"), "{table}");
    }
}
