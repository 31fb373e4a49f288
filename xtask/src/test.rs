use std::path::{Path, PathBuf};

use anyhow::Context;
use xshell::{Shell, cmd};

use crate::flags::Global;
use crate::step::{self, RunOptions, Step};

#[derive(Debug, clap::Args)]
pub struct Test {
    /// Run every step even after one fails, then print a summary table
    #[arg(long)]
    keep_going: bool,
}

impl Test {
    pub fn run(self, sh: &Shell, global: &Global) -> anyhow::Result<()> {
        let runner = if nextest_installed(sh) {
            TestRunner::Nextest
        } else {
            TestRunner::CargoTest
        };
        let templates = cloudformation_templates(&sh.current_dir().join("infra"))
            .context("looking for CloudFormation templates under infra/")?;
        let opts = RunOptions {
            dry_run: global.dry_run,
            keep_going: self.keep_going,
            verbose: global.verbose,
            github_actions: RunOptions::github_actions_from_env(),
        };
        step::run(steps(sh, runner, &templates), opts)
    }
}

#[derive(Debug, Clone, Copy)]
enum TestRunner {
    Nextest,
    CargoTest,
}

fn nextest_installed(sh: &Shell) -> bool {
    cmd!(sh, "cargo nextest --version")
        .quiet()
        .ignore_stdout()
        .ignore_stderr()
        .run()
        .is_ok()
}

fn steps<'a>(sh: &'a Shell, runner: TestRunner, templates: &[PathBuf]) -> Vec<Step<'a>> {
    let mut steps = vec![
        Step {
            name: "fmt",
            cmd: cmd!(sh, "cargo fmt --all --check"),
            fix: "run `cargo fmt --all`",
        },
        Step {
            name: "clippy",
            cmd: cmd!(
                sh,
                "cargo clippy --workspace --all-targets --all-features -- -D warnings"
            ),
            fix: "fix the warnings above; `cargo clippy --fix --workspace --all-targets --all-features` applies the simple ones",
        },
        Step {
            // The light build's own code (handing over to the AWS build) only compiles without features.
            name: "clippy (light xtask)",
            cmd: cmd!(sh, "cargo clippy --package xtask -- -D warnings"),
            fix: "fix the warnings above in xtask/src (the code under `cfg(not(feature = \"aws\"))`)",
        },
        match runner {
            TestRunner::Nextest => Step {
                name: "tests",
                cmd: cmd!(sh, "cargo nextest run --workspace --all-features"),
                fix: "see the failing tests above; rerun one with `cargo nextest run --workspace --all-features NAME`",
            },
            TestRunner::CargoTest => Step {
                name: "tests",
                cmd: cmd!(sh, "cargo test --workspace --all-features"),
                fix: "see the failing tests above; rerun one with `cargo test --workspace --all-features NAME`",
            },
        },
    ];
    if !templates.is_empty() {
        steps.push(Step {
            name: "cfn-lint",
            cmd: cmd!(sh, "cfn-lint {templates...}"),
            fix: "fix the template findings above (`cfn-lint --help` explains rule ids)",
        });
    }
    steps
}

/// Every `*.yaml`/`*.yml` below `infra/`, sorted, as paths relative to the project root.
pub(crate) fn cloudformation_templates(infra: &Path) -> std::io::Result<Vec<PathBuf>> {
    let root = infra.parent().unwrap_or(infra);
    let mut found = Vec::new();
    let mut pending = vec![infra.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
            Err(err) => return Err(err),
        };
        for entry in entries {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else if path
                .extension()
                .is_some_and(|ext| ext == "yaml" || ext == "yml")
            {
                found.push(path.strip_prefix(root).unwrap_or(&path).to_path_buf());
            }
        }
    }
    found.sort();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dry_run(runner: TestRunner, templates: &[PathBuf]) -> String {
        let sh = Shell::new().unwrap();
        sh.change_dir("/project");
        step::describe(steps(&sh, runner, templates))
    }

    #[test]
    fn dry_run_lists_lint_then_tests_with_nextest() {
        assert_eq!(
            dry_run(TestRunner::Nextest, &[]),
            "fmt: cargo fmt --all --check\n    dir: /project\n\
             clippy: cargo clippy --workspace --all-targets --all-features -- -D warnings\n    dir: /project\n\
             clippy (light xtask): cargo clippy --package xtask -- -D warnings\n    dir: /project\n\
             tests: cargo nextest run --workspace --all-features\n    dir: /project\n"
        );
    }

    #[test]
    fn without_nextest_the_tests_step_uses_cargo_test() {
        let plan = dry_run(TestRunner::CargoTest, &[]);
        assert!(
            plan.contains("tests: cargo test --workspace --all-features\n"),
            "{plan}"
        );
        assert!(!plan.contains("nextest"), "{plan}");
    }

    #[test]
    fn cfn_lint_step_appears_only_with_templates_and_lints_each_one() {
        assert!(!dry_run(TestRunner::Nextest, &[]).contains("cfn-lint"));
        let templates = [
            PathBuf::from("infra/a.yaml"),
            PathBuf::from("infra/nested/b.yml"),
        ];
        let plan = dry_run(TestRunner::Nextest, &templates);
        assert!(
            plan.ends_with(
                "cfn-lint: cfn-lint infra/a.yaml infra/nested/b.yml\n    dir: /project\n"
            ),
            "{plan}"
        );
    }

    #[test]
    fn templates_are_found_recursively_and_other_files_ignored() {
        let sh = Shell::new().unwrap();
        let root = sh.create_temp_dir().unwrap();
        let infra = root.path().join("infra");
        sh.write_file(infra.join("stack.yaml"), "").unwrap();
        sh.write_file(infra.join("parts/queue.yml"), "").unwrap();
        sh.write_file(infra.join("README.md"), "").unwrap();
        assert_eq!(
            cloudformation_templates(&infra).unwrap(),
            [
                PathBuf::from("infra/parts/queue.yml"),
                PathBuf::from("infra/stack.yaml")
            ]
        );
    }

    #[test]
    fn a_missing_infra_directory_means_no_templates() {
        let sh = Shell::new().unwrap();
        let root = sh.create_temp_dir().unwrap();
        assert!(
            cloudformation_templates(&root.path().join("infra"))
                .unwrap()
                .is_empty()
        );
    }
}
