//! Completion scripts for `cargo xtask`. clap_complete writes a script for a binary named `cargo_xtask`;
//! people type `cargo xtask`, so each script gets a few lines that hand `cargo xtask …` to it and leave
//! every other `cargo …` to cargo's own completion.

use std::io::Write;

use anyhow::{Context, ensure};
use clap::CommandFactory;

#[derive(Debug, clap::Args)]
pub struct Completions {
    /// The shell to write the script for
    shell: Shell,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Shell {
    /// Source it from ~/.bashrc: `source <(cargo xtask completions bash)`
    Bash,
    /// Source it from ~/.zshrc after `compinit`: `source <(cargo xtask completions zsh)`
    Zsh,
    /// Save it as ~/.config/fish/conf.d/cargo-xtask.fish (it adds to fish's own cargo completions)
    Fish,
}

impl Completions {
    pub fn run(self) -> anyhow::Result<()> {
        let script = script(self.shell)?;
        let mut stdout = std::io::stdout().lock();
        match stdout.write_all(script.as_bytes()) {
            // `… | head` closing the pipe early is not an error worth reporting.
            Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            other => other.context("writing the completion script to stdout"),
        }
    }
}

/// No `-`: clap_complete's bash script escapes it one way in function names and another in case labels.
const BIN: &str = "cargo_xtask";

fn script(shell: Shell) -> anyhow::Result<String> {
    let generator = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    let mut generated = Vec::new();
    // One bin name throughout: clap_complete derives its function names from it.
    let mut command = crate::flags::Cli::command().bin_name(BIN);
    clap_complete::generate(generator, &mut command, BIN, &mut generated);
    let generated =
        String::from_utf8(generated).context("clap_complete wrote a non-UTF-8 script")?;
    match shell {
        Shell::Bash => Ok(generated + BASH_CARGO_HOOK),
        Shell::Zsh => Ok(generated + ZSH_CARGO_HOOK),
        Shell::Fish => fish_under_cargo(&generated),
    }
}

const BASH_CARGO_HOOK: &str = r#"
# `cargo xtask …` is completed by the function above, any other `cargo …` by cargo's own completion.
_cargo_xtask_dispatch() {
    if [[ ${COMP_CWORD} -ge 2 && ${COMP_WORDS[1]} == xtask ]]; then
        local COMP_WORDS=(cargo_xtask "${COMP_WORDS[@]:2}")
        local COMP_CWORD=$((COMP_CWORD - 1))
        _cargo_xtask cargo_xtask "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
    elif declare -F _cargo >/dev/null; then
        _cargo "$@"
    fi
}
# bash-completion loads cargo's completion lazily: load it now so `_cargo` exists to delegate to.
declare -F _completion_loader >/dev/null && _completion_loader cargo 2>/dev/null
complete -F _cargo_xtask_dispatch -o bashdefault -o default cargo
"#;

const ZSH_CARGO_HOOK: &str = r#"
# `cargo xtask …` is completed by the function above, any other `cargo …` by cargo's own completion.
_cargo_xtask_dispatch() {
    if (( CURRENT > 2 )) && [[ ${words[2]} == xtask ]]; then
        words=(cargo_xtask "${(@)words[3,-1]}")
        (( CURRENT-- ))
        _cargo_xtask "$@"
    elif (( $+functions[_cargo] )); then
        _cargo "$@"
    else
        _default
    fi
}
compdef _cargo_xtask_dispatch cargo
"#;

/// fish completes by command name: register under `cargo`, and make the generated conditions hold only
/// after `cargo xtask`, parsing what follows it.
fn fish_under_cargo(generated: &str) -> anyhow::Result<String> {
    const DROP_PROGRAM: &str = "    set -e cmd[1]\n";
    const DROP_CARGO_XTASK: &str =
        "    test \"$cmd[2]\" = xtask\n    or return 1\n    set -e cmd[1..2]\n";
    ensure!(
        generated.contains(DROP_PROGRAM) && generated.contains("complete -c cargo_xtask "),
        "clap_complete's fish script changed shape; update fish_under_cargo in xtask/src/completions.rs"
    );
    Ok(generated
        .replace(DROP_PROGRAM, DROP_CARGO_XTASK)
        .replace("complete -c cargo_xtask ", "complete -c cargo "))
}

#[cfg(test)]
mod tests {
    //! Each script is loaded into the real shell and asked to complete; `.ci/run` installs zsh and fish.

    use super::*;
    use xshell::{Shell as Sh, cmd};

    fn with_script(shell: Shell) -> (Sh, xshell::TempDir, std::path::PathBuf) {
        let sh = Sh::new().unwrap();
        let dir = sh.create_temp_dir().unwrap();
        let path = dir.path().join("completion");
        sh.write_file(&path, script(shell).unwrap()).unwrap();
        (sh, dir, path)
    }

    fn bash_complete(line: &[&str]) -> String {
        let (sh, _dir, path) = with_script(Shell::Bash);
        let words = line
            .iter()
            .map(|w| format!("'{w}'"))
            .collect::<Vec<_>>()
            .join(" ");
        let cword = line.len() - 1;
        let program = format!(
            "source {path}; COMP_WORDS=({words}); COMP_CWORD={cword}; \
             _cargo_xtask_dispatch cargo \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; \
             printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            path = path.display()
        );
        cmd!(sh, "bash --norc --noprofile -c {program}")
            .read()
            .unwrap()
    }

    #[test]
    fn bash_completes_subcommands_after_cargo_xtask() {
        let offered = bash_complete(&["cargo", "xtask", ""]);
        for name in ["test", "doctor", "completions"] {
            assert!(
                offered.lines().any(|l| l == name),
                "{name} not offered: {offered}"
            );
        }
    }

    #[test]
    fn bash_completes_a_subcommands_flags() {
        assert_eq!(
            bash_complete(&["cargo", "xtask", "test", "--keep"]),
            "--keep-going"
        );
    }

    #[test]
    fn bash_leaves_other_cargo_commands_alone() {
        assert_eq!(bash_complete(&["cargo", "bui"]), "");
    }

    fn fish_complete(line: &str) -> String {
        let (sh, _dir, path) = with_script(Shell::Fish);
        let program = format!("source {}; complete -C '{line}'", path.display());
        cmd!(sh, "fish --no-config -c {program}").read().unwrap()
    }

    #[test]
    fn fish_completes_subcommands_after_cargo_xtask() {
        let offered = fish_complete("cargo xtask ");
        for name in ["test", "doctor", "completions"] {
            assert!(
                offered.lines().any(|l| l.split('\t').next() == Some(name)),
                "{name} not offered: {offered}"
            );
        }
        assert!(fish_complete("cargo xtask test --keep").starts_with("--keep-going"));
    }

    #[test]
    fn fish_offers_nothing_of_ours_outside_cargo_xtask() {
        assert!(
            !fish_complete("cargo ")
                .lines()
                .any(|l| l.starts_with("doctor"))
        );
    }

    #[test]
    fn zsh_loads_the_script_and_routes_cargo_to_it() {
        let (sh, _dir, path) = with_script(Shell::Zsh);
        let program = format!(
            "autoload -Uz compinit && compinit -u -D; source {}; print -r -- $_comps[cargo]",
            path.display()
        );
        assert_eq!(
            cmd!(sh, "zsh -f -c {program}").read().unwrap(),
            "_cargo_xtask_dispatch"
        );
    }
}
