//! `cargo xtask test-local`: the real image, end to end, with real payloads, before anything touches
//! the cloud. Builds the image, starts it against the profile's AWS (the sandbox for `local`), sends
//! every fixture event to its route signed as Benchling signs, checks the answers and the effects (S3
//! objects, `entry.json`, the packager message, the canvas update) and the refusals, and prints a
//! table. The container is removed on every way out, Ctrl-C included; so is a sandbox it started.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use benchling::sim::{FIXTURE_EVENT_ENTRY_ID, FIXTURE_EVENTS};
use config::Profile;
use config::aws::{Aws, block_on};
use serde_json::{Value, json};
use xshell::Shell;

use crate::flags::{self, Global};
use crate::service::{self, Service};
use crate::{cleanup, docker, sandbox};

/// How long the worker gets to turn an accepted entry into a package.
const EFFECTS_WITHIN: Duration = Duration::from_secs(120);
const MAX_BODY: usize = 1024 * 1024;

/// Where test-local runs: the sandbox, or a real profile's AWS and Benchling tenant.
enum Target {
    Sandbox(Box<sandbox::State>),
    Real { test_entry_id: String },
}

impl flags::TestLocal {
    pub fn run(self, sh: &Shell, global: &Global) -> anyhow::Result<()> {
        docker::require_daemon(sh)?;
        let store = crate::config::open_store()?;
        let profile_name = if global.profile == config::DEFAULT_PROFILE
            && !store.exists(config::DEFAULT_PROFILE)
        {
            eprintln!(
                "no `default` profile: testing against the sandbox (`--profile {}`)",
                sandbox::PROFILE
            );
            sandbox::PROFILE.to_owned()
        } else {
            global.profile.clone()
        };
        if global.dry_run {
            docker::build(sh, global)?;
            println!(
                "--dry-run: then start the image with `{profile_name}`'s settings and run the event suite"
            );
            return Ok(());
        }
        let mut _sandbox_guard = None;
        let target = if profile_name == sandbox::PROFILE {
            let (state, started) = sandbox::up(sh, global)?;
            if started {
                // Stopped again at the end: test-local leaves the machine as it found it.
                let project = sh.current_dir();
                let global = Global {
                    dry_run: false,
                    ..global.clone()
                };
                _sandbox_guard = Some(cleanup::on_exit(move || {
                    if let Ok(sh) = Shell::new() {
                        sh.change_dir(project);
                        let _ = sandbox::down(&sh, &global);
                    }
                }));
            }
            Target::Sandbox(Box::new(state))
        } else {
            let profile = store.load(&profile_name)?;
            let test_entry_id = profile.benchling.test_entry_id.clone().with_context(|| {
                format!(
                    "`benchling.testEntryId` is not set in `{profile_name}`: test-local packages that \
                     entry; set it with `cargo xtask install --profile {profile_name} --set benchling.testEntryId=<entry id>`"
                )
            })?;
            Target::Real { test_entry_id }
        };
        let profile = store.load(&profile_name)?;
        let aws = match &target {
            Target::Sandbox(state) => state.aws(),
            Target::Real { .. } => crate::config::aws_for(&profile),
        };
        let client_secret = check_secret(&aws, &profile_name, &profile)?;

        eprintln!("building the image …");
        let image = docker::build(sh, global)?.context("the image was not built")?;
        docker::print_image(&image);

        let port = crate::machine::free_port()?;
        let sandbox_state = match &target {
            Target::Sandbox(state) => Some(state.as_ref()),
            Target::Real { .. } => None,
        };
        let mut env = service::environment(&profile_name, &profile, sandbox_state, port)?;
        if let Target::Real { .. } = target {
            eprintln!(
                "note: a real tenant's webhooks cannot be signed here, so verification is OFF in this \
                 container only (ENABLE_WEBHOOK_VERIFICATION=false), and the signature cases are skipped"
            );
            env.push(("ENABLE_WEBHOOK_VERIFICATION", "false".to_owned()));
        }
        let name = format!("benchling-webhook-test-local-{}", std::process::id());
        eprintln!("starting {} as {name} …", image.exact_tag());
        let service = Service::start_ready(sh, image.launch(), &env, &name)?;
        eprintln!("ready at {}; running the event suite …\n", service.base);

        let fresh = Fresh::mark(&aws, sandbox_state)?;
        let mut results = suite(&service, &target, &aws, &profile, &fresh);
        // Last, so the log holds everything the service did for the suite.
        results.push(timed(
            "client secret kept out of the container",
            "not in its env, args or log",
            || {
                let seen = service.started_with(sh)? + &service.logs(sh);
                Ok(if seen.contains(client_secret.expose()) {
                    (false, "FOUND in its env, args or log".to_owned())
                } else {
                    (true, "not in its env, args or log".to_owned())
                })
            },
        ));
        print_table(&results);
        let failed = results.iter().filter(|r| !r.passed).count();
        if failed > 0 {
            eprintln!("\nthe service's log:\n{}", service.logs(sh));
            bail!("{failed} of {} cases failed", results.len());
        }
        println!("\nall {} cases passed", results.len());
        Ok(())
    }
}

/// The secret must be there and complete before the container is asked to read it; its client
/// secret, to check that it stays out of the container.
fn check_secret(
    aws: &Aws,
    profile_name: &str,
    profile: &Profile,
) -> anyhow::Result<config::SecretString> {
    let location = config::secrets::SecretLocation::of(profile_name, profile, aws.region())?;
    match block_on(config::secrets::read_current(aws, &location))? {
        Some((arn, secret)) => {
            eprintln!(
                "secret {arn}: found (tenant {}, client id {})",
                secret.tenant, secret.client_id
            );
            Ok(secret.client_secret)
        }
        None => bail!(
            "the secret {} does not exist in {}: run `cargo xtask config sync-secrets --profile {profile_name}`",
            location.id,
            location.region
        ),
    }
}

pub struct CaseResult {
    pub case: String,
    pub expected: String,
    pub got: String,
    pub passed: bool,
    pub time: Duration,
}

/// How a delivery is signed.
#[derive(Clone, Copy)]
pub enum Signing {
    /// By the simulator, now, as Benchling signs.
    Now,
    /// By the simulator, ten minutes ago: outside the five minutes a signature is valid.
    Stale,
    /// Signed, then the body changed by one byte.
    Tampered,
    /// Not at all (a real tenant, verification off).
    Unsigned,
}

/// POSTs `body` to the service's `route`, signed as asked; the status and the JSON answer.
pub fn deliver(
    base: &str,
    sim: Option<&str>,
    route: &str,
    body: &[u8],
    signing: Signing,
) -> anyhow::Result<(u16, Value)> {
    block_on(async {
        let http = benchling::client::http_client();
        let mut headers: Vec<(String, String)> = Vec::new();
        if let (Some(sim), Signing::Now | Signing::Stale | Signing::Tampered) = (sim, signing) {
            let mut url = format!("{sim}/_sim/sign");
            if let Signing::Stale = signing {
                let ten_minutes_ago = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)?
                    .as_secs()
                    - 600;
                url.push_str(&format!("?timestamp={ten_minutes_ago}"));
            }
            let signed: serde_json::Map<String, Value> = http
                .post(url)
                .body(body.to_vec())
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            headers = signed
                .into_iter()
                .map(|(k, v)| (k, v.as_str().unwrap_or_default().to_owned()))
                .collect();
        }
        let mut sent = body.to_vec();
        if let Signing::Tampered = signing {
            sent.push(b' ');
        }
        let mut request = http
            .post(format!("{base}/{route}"))
            .header("content-type", "application/json")
            .body(sent);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        Ok((
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ))
    })
}

/// The route Benchling posts a fixture to.
pub fn route_of(fixture: &str) -> &'static str {
    if fixture.starts_with("app-") {
        "lifecycle"
    } else if fixture.starts_with("canvas-") {
        "canvas"
    } else {
        "event"
    }
}

/// What the service answers each fixture with: status and the body field that says what happened.
fn expected_answer(fixture: &str) -> (u16, &'static str, &'static str) {
    match fixture {
        f if f.starts_with("app-") => (200, "status", "ok"),
        // Its button is not one this app made.
        "canvas-interaction" => (200, "status", "ignored"),
        _ => (202, "status", "accepted"),
    }
}

/// A fixture with its entry id replaced (a real tenant's test entry).
fn fixture_for(body: &str, entry_id: Option<&str>) -> Vec<u8> {
    match entry_id {
        None => body.as_bytes().to_vec(),
        Some(id) => {
            let mut event: Value = serde_json::from_str(body).expect("fixtures are JSON");
            if event["message"].get("resourceId").is_some() {
                event["message"]["resourceId"] = json!(id);
            }
            serde_json::to_vec(&event).expect("JSON serialises")
        }
    }
}

fn timed(
    case: impl Into<String>,
    expected: impl Into<String>,
    check: impl FnOnce() -> anyhow::Result<(bool, String)>,
) -> CaseResult {
    let started = Instant::now();
    let (passed, got) = match check() {
        Ok(outcome) => outcome,
        Err(err) => (false, format!("error: {err:#}")),
    };
    CaseResult {
        case: case.into(),
        expected: expected.into(),
        got,
        passed,
        time: started.elapsed(),
    }
}

fn answer_case(
    base: &str,
    sim: Option<&str>,
    case: &str,
    route: &str,
    body: &[u8],
    signing: Signing,
    (status, field, value): (u16, &str, &str),
) -> CaseResult {
    timed(case, format!("{status} {field}={value}"), || {
        let (got_status, answer) = deliver(base, sim, route, body, signing)?;
        let got_value = answer[field].as_str().unwrap_or("-").to_owned();
        Ok((
            got_status == status && got_value == value,
            format!("{got_status} {field}={got_value}"),
        ))
    })
}

fn suite(
    service: &Service,
    target: &Target,
    aws: &Aws,
    profile: &Profile,
    fresh: &Fresh,
) -> Vec<CaseResult> {
    let base = service.base.as_str();
    let (sim, signing, entry_id) = match target {
        Target::Sandbox(state) => (Some(state.simulator.url()), Signing::Now, None),
        Target::Real { test_entry_id } => (None, Signing::Unsigned, Some(test_entry_id.as_str())),
    };
    let sim = sim.as_deref();
    let mut results = Vec::new();
    for (fixture, body) in FIXTURE_EVENTS {
        let route = route_of(fixture);
        results.push(answer_case(
            base,
            sim,
            &format!("{fixture} → /{route}"),
            route,
            &fixture_for(body, entry_id),
            signing,
            expected_answer(fixture),
        ));
    }
    let entry_created = fixture_for(
        FIXTURE_EVENTS
            .iter()
            .find(|(name, _)| *name == "entry-created")
            .expect("the entry-created fixture")
            .1,
        entry_id,
    );
    let mut unknown: Value = serde_json::from_slice(&entry_created).expect("fixtures are JSON");
    unknown["message"]["type"] = json!("v2.request.created");
    results.push(answer_case(
        base,
        sim,
        "unknown event type → /event",
        "event",
        &serde_json::to_vec(&unknown).expect("JSON serialises"),
        signing,
        (200, "status", "ignored"),
    ));
    results.push(answer_case(
        base,
        sim,
        "malformed JSON",
        "event",
        b"{\"message\": ",
        signing,
        (400, "error", "Bad Request"),
    ));
    let mut oversized = b"{\"padding\": \"".to_vec();
    oversized.resize(MAX_BODY + 1, b'x');
    results.push(timed("oversized body (1 MiB + 1)", "413", || {
        let (status, _) = deliver(base, None, "event", &oversized, Signing::Unsigned)?;
        Ok((status == 413, status.to_string()))
    }));
    if sim.is_some() {
        for (case, how, reason) in [
            (
                "bad signature (body changed)",
                Signing::Tampered,
                "invalid_signature",
            ),
            (
                "stale timestamp (10 min old)",
                Signing::Stale,
                "invalid_signature",
            ),
            ("unsigned", Signing::Unsigned, "missing_headers"),
        ] {
            results.push(answer_case(
                base,
                sim,
                case,
                "event",
                &entry_created,
                how,
                (403, "reason", reason),
            ));
        }
    }
    let entry = entry_id.unwrap_or(FIXTURE_EVENT_ENTRY_ID);
    let bucket = match target {
        Target::Sandbox(state) => state.bucket.clone(),
        Target::Real { .. } => profile.packages.bucket.clone().unwrap_or_default(),
    };
    let prefix = profile
        .packages
        .prefix
        .clone()
        .unwrap_or_else(|| "benchling".into());
    let mut package = None;
    results.push(timed(
        "entry.json and files in S3",
        format!("s3://{bucket}/{prefix}/<display id>/"),
        || {
            let found = wait_for_package(aws, &bucket, &prefix, entry, fresh.since)?;
            let summary = format!("{} objects under {}", found.objects.len(), found.folder());
            package = Some(found);
            Ok((true, summary))
        },
    ));
    if let (Some(package), Target::Sandbox(state)) = (&package, target) {
        results.push(timed(
            "packager message",
            format!("package_name={}", package.name),
            || {
                let message =
                    wait_for_packager_message(aws, &state.packager_queue_url, &package.name)?;
                let expected_source = format!("s3://{}/", package.folder());
                let ok = message["source_prefix"] == json!(expected_source)
                    && message["registry"] == json!(package.bucket)
                    && message["metadata_uri"] == json!("entry.json");
                Ok((
                    ok,
                    format!(
                        "package_name={} source_prefix={}",
                        message["package_name"].as_str().unwrap_or("-"),
                        message["source_prefix"].as_str().unwrap_or("-")
                    ),
                ))
            },
        ));
        let link = package.catalog_link(&state.catalog);
        results.push(timed("canvas shows the package link", link.clone(), || {
            let patch =
                wait_for_canvas_link(&state.simulator.url(), &link, fresh.canvas_patches_before)?;
            Ok((
                true,
                format!(
                    "PATCH of canvas {}",
                    patch["canvas_id"].as_str().unwrap_or("-")
                ),
            ))
        }));
    }
    results
}

/// A package as found in S3.
pub struct Package {
    pub bucket: String,
    pub name: String,
    pub entry_json: Value,
    /// Keys and sizes under the package's folder.
    pub objects: Vec<(String, i64)>,
}

impl Package {
    pub fn folder(&self) -> String {
        format!("{}/{}", self.bucket, self.name)
    }

    pub fn catalog_link(&self, catalog: &str) -> String {
        format!("https://{catalog}/b/{}/packages/{}", self.bucket, self.name)
    }
}

/// Waits for `entry.json` of `entry_id` under `prefix`, written at `since` or later (an earlier run's
/// package does not count), and checks it against the objects beside it.
pub fn wait_for_package(
    aws: &Aws,
    bucket: &str,
    prefix: &str,
    entry_id: &str,
    since: SystemTime,
) -> anyhow::Result<Package> {
    // S3 keeps whole seconds.
    let since = since
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let s3 = aws.s3();
    let deadline = Instant::now() + EFFECTS_WITHIN;
    loop {
        let found = block_on(async {
            let listing = s3
                .list_objects_v2()
                .bucket(bucket)
                .prefix(format!("{prefix}/"))
                .send()
                .await?;
            for object in listing.contents() {
                let Some(key) = object.key().filter(|k| k.ends_with("/entry.json")) else {
                    continue;
                };
                if object.last_modified().is_none_or(|t| t.secs() < since) {
                    continue;
                }
                let body = s3
                    .get_object()
                    .bucket(bucket)
                    .key(key)
                    .send()
                    .await?
                    .body
                    .collect()
                    .await?;
                let entry_json: Value = serde_json::from_slice(&body.into_bytes())
                    .with_context(|| format!("s3://{bucket}/{key} is not JSON"))?;
                if entry_json["entry_id"] != json!(entry_id) {
                    continue;
                }
                let folder = key.trim_end_matches("entry.json");
                let objects = listing
                    .contents()
                    .iter()
                    .filter_map(|o| Some((o.key()?.to_owned(), o.size().unwrap_or(0))))
                    .filter(|(k, _)| k.starts_with(folder))
                    .collect::<Vec<_>>();
                return Ok::<_, anyhow::Error>(Some((entry_json, objects)));
            }
            Ok(None)
        })?;
        if let Some((entry_json, objects)) = found {
            let name = entry_json["package_name"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let display_id = entry_json["display_id"].as_str().unwrap_or_default();
            anyhow::ensure!(
                !display_id.is_empty() && name == format!("{prefix}/{display_id}"),
                "entry.json: package_name {name:?} is not {prefix}/<display_id {display_id:?}>"
            );
            let files = entry_json["files"].as_object().cloned().unwrap_or_default();
            anyhow::ensure!(!files.is_empty(), "entry.json lists no files");
            for (file, meta) in &files {
                let key = meta["s3_key"].as_str().unwrap_or_default();
                anyhow::ensure!(
                    objects.iter().any(|(k, _)| k == key),
                    "entry.json lists {file} at {key:?}, which is not in the bucket"
                );
            }
            anyhow::ensure!(
                objects.iter().any(|(k, _)| k.ends_with("/README.md")),
                "no README.md beside entry.json"
            );
            return Ok(Package {
                bucket: bucket.to_owned(),
                name,
                entry_json,
                objects,
            });
        }
        if Instant::now() > deadline {
            bail!(
                "no entry.json for entry {entry_id} under s3://{bucket}/{prefix}/ within {EFFECTS_WITHIN:?}"
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Takes the packager message for `package` off the queue (Quilt would consume it in a deployment).
pub fn wait_for_packager_message(
    aws: &Aws,
    queue_url: &str,
    package: &str,
) -> anyhow::Result<Value> {
    let sqs = aws.sqs();
    let deadline = Instant::now() + EFFECTS_WITHIN;
    while Instant::now() < deadline {
        let received = block_on(
            sqs.receive_message()
                .queue_url(queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send(),
        )?;
        for message in received.messages() {
            let body: Value =
                serde_json::from_str(message.body().unwrap_or_default()).unwrap_or_default();
            if let Some(handle) = message.receipt_handle() {
                block_on(
                    sqs.delete_message()
                        .queue_url(queue_url)
                        .receipt_handle(handle)
                        .send(),
                )?;
            }
            if body["package_name"] == json!(package) {
                return Ok(body);
            }
        }
    }
    bail!("no packager message for {package} on {queue_url} within {EFFECTS_WITHIN:?}")
}

/// How many canvas PATCHes the simulator has recorded so far.
pub fn canvas_patch_count(sim: &str) -> anyhow::Result<usize> {
    block_on(async {
        let patches: Vec<Value> = benchling::client::http_client()
            .get(format!("{sim}/_sim/canvas-patches"))
            .send()
            .await?
            .json()
            .await?;
        Ok(patches.len())
    })
}

/// Where a run's effects start: packages, packager messages and canvas updates of earlier runs
/// (the sandbox keeps them) do not count.
pub struct Fresh {
    pub since: SystemTime,
    pub canvas_patches_before: usize,
}

impl Fresh {
    pub fn mark(aws: &Aws, sandbox: Option<&sandbox::State>) -> anyhow::Result<Fresh> {
        let since = SystemTime::now();
        let mut canvas_patches_before = 0;
        if let Some(state) = sandbox {
            // Quilt does not consume the sandbox's packager queue: what is on it is from earlier runs.
            let queue = &state.packager_queue_url;
            block_on(aws.sqs().purge_queue().queue_url(queue).send())
                .with_context(|| format!("purging {queue}"))?;
            canvas_patches_before = canvas_patch_count(&state.simulator.url())?;
        }
        Ok(Fresh {
            since,
            canvas_patches_before,
        })
    }
}

/// The simulator's record of a canvas PATCH that shows `link`, among those after the first `skip`.
pub fn wait_for_canvas_link(sim: &str, link: &str, skip: usize) -> anyhow::Result<Value> {
    block_on(async {
        let http = benchling::client::http_client();
        let deadline = Instant::now() + EFFECTS_WITHIN;
        while Instant::now() < deadline {
            let patches: Vec<Value> = http
                .get(format!("{sim}/_sim/canvas-patches"))
                .send()
                .await?
                .json()
                .await?;
            if let Some(patch) = patches
                .into_iter()
                .skip(skip)
                .find(|p| p["body"].to_string().contains(link))
            {
                return Ok(patch);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        bail!("no canvas PATCH showing {link} within {EFFECTS_WITHIN:?}")
    })
}

fn print_table(results: &[CaseResult]) {
    let width = |f: fn(&CaseResult) -> &str, title: &str| {
        results
            .iter()
            .map(|r| f(r).chars().count())
            .max()
            .unwrap_or(0)
            .max(title.len())
    };
    let (case_w, expected_w) = (
        width(|r| &r.case, "case"),
        width(|r| &r.expected, "expected"),
    );
    println!(
        "{:<case_w$}  {:<expected_w$}  {:<6} {:>8}  got",
        "case", "expected", "result", "time"
    );
    for r in results {
        println!(
            "{:<case_w$}  {:<expected_w$}  {:<6} {:>6}ms  {}",
            r.case,
            r.expected,
            if r.passed { "pass" } else { "FAIL" },
            r.time.as_millis(),
            r.got
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fixture_goes_to_the_route_benchling_uses() {
        let routes: Vec<(&str, &str)> = FIXTURE_EVENTS
            .iter()
            .map(|(name, body)| {
                let event: Value = serde_json::from_str(body).unwrap();
                let kind = event["message"]["type"].as_str().unwrap().to_owned();
                let expected = if kind.contains(".app.") {
                    "lifecycle"
                } else if kind.contains(".canvas.") {
                    "canvas"
                } else {
                    "event"
                };
                (route_of(name), expected)
            })
            .collect();
        for (got, expected) in routes {
            assert_eq!(got, expected);
        }
    }

    #[test]
    fn a_real_test_entry_replaces_the_fixture_entry() {
        let (_, body) = FIXTURE_EVENTS
            .iter()
            .find(|(name, _)| *name == "entry-created")
            .unwrap();
        let event: Value = serde_json::from_slice(&fixture_for(body, Some("etr_mine"))).unwrap();
        assert_eq!(event["message"]["resourceId"], "etr_mine");
        assert_eq!(fixture_for(body, None), body.as_bytes());
    }
}
