//! `cargo xtask sandbox up|status|down` as a user runs them: the real binary, a private HOME,
//! XDG_CONFIG_HOME and sandbox directory, and the real moto_server and benchling-sim it starts.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

struct Env {
    home: tempfile::TempDir,
}

impl Env {
    fn xtask(&self, args: &[&str]) -> Output {
        let home = self.home.path();
        Command::new(env!("CARGO_BIN_EXE_xtask-aws"))
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", home)
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("XTASK_SANDBOX_DIR", home.join("sandbox"))
            .env("BENCHLING_SIM", simulator())
            .output()
            .unwrap()
    }

    fn state(&self) -> Option<Value> {
        let text = std::fs::read_to_string(self.home.path().join("sandbox/state.json")).ok()?;
        Some(serde_json::from_str(&text).unwrap())
    }
}

/// Built beside this test by `cargo xtask test` (the workspace with all features).
fn simulator() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let program = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("benchling-sim");
    assert!(
        program.exists(),
        "{} is missing: build it with `cargo build -p benchling --features sim`",
        program.display()
    );
    program
}

/// Running, not a zombie waiting for whoever inherited it to reap it (a zombie has no command line).
fn running(pid: &Value) -> bool {
    std::fs::read(format!("/proc/{}/cmdline", pid.as_u64().unwrap()))
        .is_ok_and(|cmdline| !cmdline.is_empty())
}

fn text(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr)
}

#[test]
fn up_is_idempotent_writes_the_local_profile_and_down_stops_exactly_what_it_started() {
    let env = Env {
        home: tempfile::tempdir().unwrap(),
    };
    let up = env.xtask(&["sandbox", "up"]);
    assert!(up.status.success(), "{}", text(&up));
    let state = env.state().expect("up writes the state file");
    let (moto, sim) = (&state["moto"]["pid"], &state["simulator"]["pid"]);
    assert!(running(moto) && running(sim), "{state:#}");

    let again = env.xtask(&["sandbox", "up"]);
    assert!(again.status.success(), "{}", text(&again));
    assert!(
        text(&again).contains("sandbox already running"),
        "{}",
        text(&again)
    );
    assert_eq!(
        env.state().unwrap(),
        state,
        "the second `up` starts nothing new"
    );

    let status = env.xtask(&["sandbox", "status"]);
    assert!(status.status.success(), "{}", text(&status));
    let moto_url = format!("http://127.0.0.1:{}", state["moto"]["port"]);
    assert!(text(&status).contains(&moto_url), "{}", text(&status));

    let profile: Value = serde_json::from_str(
        &std::fs::read_to_string(
            env.home
                .path()
                .join("config/benchling-webhook/local/config.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(profile["benchling"]["tenant"], "sandbox");
    assert_eq!(profile["packages"]["bucket"], state["bucket"]);
    assert_eq!(profile["quilt"]["queueUrl"], state["packagerQueueUrl"]);
    assert!(
        profile["benchling"].get("clientSecret").is_none(),
        "the client secret is only in the emulated Secrets Manager"
    );

    let down = env.xtask(&["sandbox", "down"]);
    assert!(down.status.success(), "{}", text(&down));
    assert!(!running(moto) && !running(sim), "down stops both processes");
    assert!(env.state().is_none(), "down removes the state file");
    let status = env.xtask(&["sandbox", "status"]);
    assert_eq!(status.status.code(), Some(1));
    assert!(
        text(&status).contains("no sandbox is running"),
        "{}",
        text(&status)
    );
}
