//! Checks that the files people read agree with the CLI they describe.

use std::collections::BTreeSet;

use clap::CommandFactory;

use crate::flags::Cli;

fn read(path: &str) -> String {
    std::fs::read_to_string(crate::project_root().join(path))
        .unwrap_or_else(|err| panic!("reading {path}: {err}"))
}

fn cli_commands() -> BTreeSet<String> {
    Cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_owned())
        .collect()
}

/// Targets of one-line rules `name: ; recipe`, with their recipes.
fn makefile_rules() -> Vec<(String, String)> {
    read("Makefile")
        .lines()
        .filter(|line| !line.starts_with(['.', '#', '\t']))
        .filter_map(|line| line.split_once(": ;"))
        .map(|(target, recipe)| (target.trim().to_owned(), recipe.trim().to_owned()))
        .collect()
}

/// The commands named in the README's command table, as `cargo xtask NAME` in its rows.
fn readme_table_commands() -> BTreeSet<String> {
    read("README.md")
        .lines()
        .filter(|line| line.starts_with('|'))
        .filter_map(|line| line.split("`cargo xtask ").nth(1))
        .filter_map(|rest| rest.split([' ', '`']).next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_makefile_target_runs_the_xtask_command_of_the_same_name() {
    let commands = cli_commands();
    for (target, recipe) in makefile_rules().into_iter().filter(|(t, _)| t != "help") {
        assert!(
            commands.contains(&target),
            "Makefile target `{target}` has no `cargo xtask {target}`"
        );
        assert_eq!(
            recipe,
            format!("cargo xtask {target} $(ARGS)"),
            "Makefile target `{target}`"
        );
    }
}

#[test]
fn every_xtask_command_has_a_makefile_target() {
    let targets: BTreeSet<String> = makefile_rules().into_iter().map(|(t, _)| t).collect();
    for command in cli_commands() {
        assert!(
            targets.contains(&command),
            "`cargo xtask {command}` has no Makefile target"
        );
    }
    let phony = read("Makefile");
    let phony = phony
        .lines()
        .find_map(|l| l.strip_prefix(".PHONY:"))
        .expect("Makefile has a .PHONY line");
    let phony: BTreeSet<String> = phony.split_whitespace().map(str::to_owned).collect();
    assert_eq!(
        phony, targets,
        "Makefile's .PHONY line lists exactly its targets"
    );
}

#[test]
fn readme_table_names_exactly_the_cli_commands() {
    let mut commands = cli_commands();
    commands.remove("help");
    assert_eq!(
        readme_table_commands(),
        commands,
        "the README's command table and the CLI disagree"
    );
}

#[test]
fn ci_runs_test_local_and_the_readme_first_command() {
    let readme = read("README.md");
    let quick_start = readme
        .split("```sh\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the README's Quick start has a sh block");
    let first = quick_start
        .lines()
        .next()
        .and_then(|line| line.split('#').next())
        .map(str::trim)
        .expect("the Quick start's first command");
    let ci = read(".ci/run");
    let workflow = read(".github/workflows/ci.yml");
    // The interrupt check is what proves an interrupted test-local leaves nothing behind.
    for command in [first, "cargo xtask test-local", ".ci/interrupt-test-local"] {
        assert!(
            ci.lines().any(|l| l.trim() == command),
            ".ci/run runs `{command}`"
        );
        assert!(
            workflow.contains(&format!("run: {command}")),
            "ci.yml runs `{command}`"
        );
    }
}

#[test]
fn ci_runs_the_readme_test_command() {
    let readme = read("README.md");
    assert!(
        readme.contains("cargo xtask test"),
        "the README names the test command"
    );
    let ci = read(".ci/run");
    assert!(
        ci.lines().any(|l| l.trim() == "cargo xtask test"),
        ".ci/run runs `cargo xtask test`"
    );
    let workflow = read(".github/workflows/ci.yml");
    assert!(
        workflow.contains("run: cargo xtask test"),
        "ci.yml runs `cargo xtask test`"
    );
}

#[test]
fn readme_documents_every_profile_field() {
    let readme = read("README.md");
    for path in config::schema::field_paths() {
        assert!(
            readme.contains(&format!("| `{path}`")),
            "README's field table lacks `{path}`"
        );
    }
}
