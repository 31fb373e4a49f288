//! The simulated tenant's REST API: entries, exports and their tasks, app canvases; every call needs a
//! token the simulator issued, and fault switches make it misbehave on purpose.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Sim, error};

/// Ways to make the simulator misbehave, for tests of retries and failures.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Faults {
    /// Refuse every token request with 401.
    pub reject_credentials: bool,
    /// Answer this many API calls with 429 before serving again.
    pub rate_limit_next: u32,
    /// Answer this many API calls with 503 before serving again.
    pub server_error_next: u32,
    /// How many polls an export task stays RUNNING (a slow export); 1 when unset.
    pub export_polls: Option<u32>,
    /// Export tasks end FAILED.
    pub fail_exports: bool,
}

/// A canvas update as the simulator received it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CanvasPatch {
    pub canvas_id: String,
    pub body: Value,
}

/// The simulated tenant's data.
#[derive(Default)]
pub(super) struct Tenant {
    entries: HashMap<String, Value>,
    canvases: HashMap<String, Value>,
    tasks: HashMap<String, Task>,
    pub(super) patches: Vec<CanvasPatch>,
    pub(super) faults: Faults,
    pub(super) next_task: u64,
}

struct Task {
    entry_id: String,
    polls: u32,
}

const FIXTURE_ENTRY: &str = include_str!("../../fixtures/entry.json");
/// The entry the fixture events (`entry-created.json`, `canvas-created.json`, …) refer to.
pub const FIXTURE_EVENT_ENTRY_ID: &str = "8316d144-745d-4276-a389-f8afc8ff3115";
pub const FIXTURE_CANVAS_ID: &str = "cnvs_Q4mPJ34a";

impl Tenant {
    /// The fixture entry under its own id and under the id the fixture events name, and the fixture
    /// events' canvas on the latter.
    pub(super) fn with_fixtures() -> Self {
        let mut tenant = Tenant::default();
        let entry: Value =
            serde_json::from_str(FIXTURE_ENTRY).expect("fixtures/entry.json is JSON");
        let entry = entry["entry"].clone();
        let own_id = entry["id"]
            .as_str()
            .expect("the fixture entry has an id")
            .to_owned();
        tenant.add_entry(&own_id, entry.clone());
        let mut event_entry = entry;
        event_entry["displayId"] = json!("EXP25000008");
        tenant.add_entry(FIXTURE_EVENT_ENTRY_ID, event_entry);
        tenant.add_canvas(FIXTURE_CANVAS_ID, FIXTURE_EVENT_ENTRY_ID);
        // The canvas the `canvas-initialized` fixture names, so every fixture event can be followed
        // through to its canvas update.
        tenant.add_canvas("canvas_12345", FIXTURE_EVENT_ENTRY_ID);
        tenant
    }

    /// Makes the entry known, with the canvases its notes show (`type: app_canvas`).
    pub(super) fn add_entry(&mut self, id: &str, mut entry: Value) {
        entry["id"] = json!(id);
        let canvases: Vec<String> = entry["days"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|day| day["notes"].as_array().into_iter().flatten())
            .filter(|note| note["type"] == "app_canvas")
            .filter_map(|note| note["canvasId"].as_str().map(str::to_owned))
            .collect();
        for canvas_id in canvases {
            self.add_canvas(&canvas_id, id);
        }
        self.entries.insert(id.to_owned(), entry);
    }

    pub(super) fn add_canvas(&mut self, canvas_id: &str, entry_id: &str) {
        let canvas = json!({"id": canvas_id, "resourceId": entry_id, "featureId": "quilt_integration", "blocks": [], "enabled": true});
        self.canvases.insert(canvas_id.to_owned(), canvas);
    }
}

/// Why a call is turned away: no token the simulator issued, or a pending fault; `None` lets it through.
fn refusal(sim: &Sim, headers: &HeaderMap) -> Option<Response> {
    let issued = sim.tokens_issued.load(std::sync::atomic::Ordering::Relaxed);
    let floor = sim.token_floor.load(std::sync::atomic::Ordering::Relaxed);
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer sim-token-"));
    if !token
        .and_then(|n| n.parse::<u64>().ok())
        .is_some_and(|n| (floor..issued).contains(&n))
    {
        return Some(error(
            StatusCode::UNAUTHORIZED,
            "Invalid or expired access token",
        ));
    }
    let mut tenant = sim.tenant.lock().expect("simulator lock");
    if tenant.faults.rate_limit_next > 0 {
        tenant.faults.rate_limit_next -= 1;
        return Some(error(StatusCode::TOO_MANY_REQUESTS, "Rate limit exceeded"));
    }
    if tenant.faults.server_error_next > 0 {
        tenant.faults.server_error_next -= 1;
        return Some(error(
            StatusCode::SERVICE_UNAVAILABLE,
            "Service unavailable",
        ));
    }
    None
}

pub(super) async fn get_entry(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(refused) = refusal(&sim, &headers) {
        return refused;
    }
    match sim.tenant.lock().expect("simulator lock").entries.get(&id) {
        Some(entry) => Json(json!({ "entry": entry })).into_response(),
        None => error(StatusCode::NOT_FOUND, &format!("Entry {id} not found")),
    }
}

#[derive(Deserialize)]
pub(super) struct ExportRequest {
    id: String,
}

pub(super) async fn start_export(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
    Json(request): Json<ExportRequest>,
) -> Response {
    if let Some(refused) = refusal(&sim, &headers) {
        return refused;
    }
    let mut tenant = sim.tenant.lock().expect("simulator lock");
    if !tenant.entries.contains_key(&request.id) {
        return error(
            StatusCode::NOT_FOUND,
            &format!("Entry {} not found", request.id),
        );
    }
    tenant.next_task += 1;
    let task_id = format!("task_sim{}", tenant.next_task);
    tenant.tasks.insert(
        task_id.clone(),
        Task {
            entry_id: request.id,
            polls: 0,
        },
    );
    (StatusCode::ACCEPTED, Json(json!({ "taskId": task_id }))).into_response()
}

pub(super) async fn get_task(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(refused) = refusal(&sim, &headers) {
        return refused;
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_owned();
    let mut tenant = sim.tenant.lock().expect("simulator lock");
    let running_polls = tenant.faults.export_polls.unwrap_or(1);
    let fail = tenant.faults.fail_exports;
    let Some(task) = tenant.tasks.get_mut(&id) else {
        return error(StatusCode::NOT_FOUND, &format!("Task {id} not found"));
    };
    task.polls += 1;
    if task.polls <= running_polls {
        return Json(json!({ "id": id, "status": "RUNNING" })).into_response();
    }
    if fail {
        return Json(
            json!({ "id": id, "status": "FAILED", "message": "Export failed (simulated)" }),
        )
        .into_response();
    }
    let url = format!("http://{host}/downloads/{id}.zip");
    Json(json!({ "id": id, "status": "SUCCEEDED", "response": { "downloadURL": url } }))
        .into_response()
}

/// A finished export: a real ZIP, as a pre-signed URL would serve it (no token needed).
pub(super) async fn download(State(sim): State<Arc<Sim>>, Path(file): Path<String>) -> Response {
    let id = file.trim_end_matches(".zip");
    let tenant = sim.tenant.lock().expect("simulator lock");
    let Some(entry) = tenant
        .tasks
        .get(id)
        .and_then(|task| tenant.entries.get(&task.entry_id))
    else {
        return error(StatusCode::NOT_FOUND, "No such export");
    };
    match export_zip(entry) {
        Ok(bytes) => (
            [(header::CONTENT_TYPE, "application/zip")],
            Bytes::from(bytes),
        )
            .into_response(),
        Err(err) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("building the export: {err}"),
        ),
    }
}

/// What Benchling's export holds for an entry: its PDF, and an attachment.
pub fn export_zip(entry: &Value) -> zip::result::ZipResult<Vec<u8>> {
    let display_id = entry["displayId"].as_str().unwrap_or("entry");
    let name = entry["name"].as_str().unwrap_or("");
    let mut archive = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    archive.start_file(format!("{display_id}.pdf"), options)?;
    write!(
        archive,
        "%PDF-1.4\n% {display_id}: {name} (simulated export)\n%%EOF\n"
    )?;
    archive.start_file("attachments/notes.txt", options)?;
    writeln!(archive, "Notes exported with {display_id}.")?;
    Ok(archive.finish()?.into_inner())
}

pub(super) async fn get_canvas(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(refused) = refusal(&sim, &headers) {
        return refused;
    }
    match sim.tenant.lock().expect("simulator lock").canvases.get(&id) {
        Some(canvas) => Json(canvas.clone()).into_response(),
        None => error(StatusCode::NOT_FOUND, &format!("App canvas {id} not found")),
    }
}

pub(super) async fn patch_canvas(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    if let Some(refused) = refusal(&sim, &headers) {
        return refused;
    }
    let mut tenant = sim.tenant.lock().expect("simulator lock");
    let Some(canvas) = tenant.canvases.get_mut(&id) else {
        return error(StatusCode::NOT_FOUND, &format!("App canvas {id} not found"));
    };
    if let Some(blocks) = body.get("blocks") {
        canvas["blocks"] = blocks.clone();
    }
    let updated = canvas.clone();
    tenant.patches.push(CanvasPatch {
        canvas_id: id,
        body,
    });
    Json(updated).into_response()
}

/// `GET /_sim/canvas-patches`: what was received, for tests that drive the simulator over HTTP.
pub(super) async fn list_patches(State(sim): State<Arc<Sim>>) -> Response {
    Json(sim.tenant.lock().expect("simulator lock").patches.clone()).into_response()
}

/// `PUT /_sim/faults`: switch faults on or off.
pub(super) async fn set_faults(
    State(sim): State<Arc<Sim>>,
    Json(faults): Json<Faults>,
) -> Response {
    sim.tenant.lock().expect("simulator lock").faults = faults;
    StatusCode::NO_CONTENT.into_response()
}
