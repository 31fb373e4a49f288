//! What a delivery asks of us, decided from its envelope alone.

use serde_json::Value;

use crate::queue::PackagingRequest;

/// Ids of the canvas button that re-packages an entry carry the entry id after this prefix.
pub const UPDATE_BUTTON_PREFIX: &str = "update-package-";

#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    /// Package the entry (asynchronously).
    Package(PackagingRequest),
    /// An app lifecycle event: acknowledged, nothing to do.
    Acknowledge { event_type: String },
    /// Nothing we handle; answered 200 so Benchling does not retry.
    Ignore {
        event_type: String,
        why: &'static str,
    },
}

/// Whether an event puts the app's canvas on an entry: the canvas shows the entry's package, and the
/// entry is packaged first only when Quilt has no package of it yet.
pub fn opens_canvas(event_type: &str) -> bool {
    matches!(
        event_type,
        "v2.canvas.initialized" | "v2.canvas.created" | "v2-beta.canvas.created"
    )
}

/// The action for a delivery, or why it is malformed.
pub fn classify(envelope: &Value) -> Result<Action, String> {
    let message = envelope
        .get("message")
        .filter(|m| m.is_object())
        .ok_or("the body has no `message` object")?;
    let event_type = message
        .get("type")
        .and_then(Value::as_str)
        .ok_or("`message.type` is missing")?
        .to_owned();
    let text = |key: &str| message.get(key).and_then(Value::as_str).map(str::to_owned);
    let request = |entry_id: String, canvas_id: Option<String>| {
        Action::Package(PackagingRequest {
            entry_id,
            event_type: event_type.clone(),
            event_id: text("id"),
            event_time: text("createdAt"),
            canvas_id,
        })
    };
    Ok(match event_type.as_str() {
        "v2.entry.created" | "v2.entry.updated.fields" | "v2.entry.updated.reviewRecord" => {
            request(
                text("resourceId").ok_or("`message.resourceId` (the entry id) is missing")?,
                None,
            )
        }
        t if opens_canvas(t) => {
            let canvas_id = text("canvasId").ok_or("`message.canvasId` is missing")?;
            // Without a resource id the worker reads it from the canvas.
            request(text("resourceId").unwrap_or_default(), Some(canvas_id))
        }
        "v2.canvas.userInteracted" => match text("buttonId")
            .as_deref()
            .and_then(|b| b.strip_prefix(UPDATE_BUTTON_PREFIX))
        {
            Some(entry_id) if !entry_id.is_empty() => {
                request(entry_id.to_owned(), text("canvasId"))
            }
            _ => Action::Ignore {
                event_type,
                why: "a button this app did not make",
            },
        },
        t if t.starts_with("v2.app.") || t.starts_with("v2-beta.app.") => {
            Action::Acknowledge { event_type }
        }
        _ => Action::Ignore {
            event_type,
            why: "an event type this app does not handle",
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Value {
        let path = format!(
            "{}/../benchling/fixtures/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn packaged(name: &str) -> PackagingRequest {
        match classify(&fixture(name)).unwrap() {
            Action::Package(request) => request,
            other => panic!("{name}: {other:?}"),
        }
    }

    #[test]
    fn entry_events_package_the_entry_they_name() {
        let created = packaged("entry-created.json");
        assert_eq!(created.entry_id, "8316d144-745d-4276-a389-f8afc8ff3115");
        assert_eq!(created.event_type, "v2.entry.created");
        assert_eq!(created.event_id.as_deref(), Some("evt_dVhELK94T1Jy"));
        assert_eq!(
            packaged("entry-updated.json").event_type,
            "v2.entry.updated.fields"
        );
    }

    #[test]
    fn canvas_events_carry_the_canvas() {
        for name in ["canvas-created.json", "canvas-initialized.json"] {
            let message = fixture(name)["message"].clone();
            let request = packaged(name);
            assert_eq!(
                request.canvas_id.as_deref(),
                message["canvasId"].as_str(),
                "{name}"
            );
            assert_eq!(
                request.entry_id,
                message["resourceId"].as_str().unwrap_or_default(),
                "{name}"
            );
        }
    }

    #[test]
    fn our_update_button_repackages_its_entry_and_other_buttons_are_ignored() {
        let mut click = fixture("canvas-interaction.json");
        assert!(
            matches!(classify(&click).unwrap(), Action::Ignore { .. }),
            "the fixture's button is not ours"
        );
        click["message"]["buttonId"] = "update-package-etr_123".into();
        assert_eq!(packaged_from(&click).entry_id, "etr_123");
    }

    fn packaged_from(envelope: &Value) -> PackagingRequest {
        match classify(envelope).unwrap() {
            Action::Package(request) => request,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn lifecycle_events_are_acknowledged() {
        for name in [
            "app-installed.json",
            "app-activate-requested.json",
            "app-deactivated.json",
            "app-config-updated.json",
        ] {
            assert!(
                matches!(
                    classify(&fixture(name)).unwrap(),
                    Action::Acknowledge { .. }
                ),
                "{name}"
            );
        }
    }

    #[test]
    fn unknown_types_are_ignored_and_malformed_envelopes_explained() {
        let unknown = serde_json::json!({"message": {"type": "v2.request.created"}});
        assert!(matches!(classify(&unknown).unwrap(), Action::Ignore { .. }));
        assert_eq!(
            classify(&serde_json::json!({"nope": 1})).unwrap_err(),
            "the body has no `message` object"
        );
        let no_entry = serde_json::json!({"message": {"type": "v2.entry.created"}});
        assert_eq!(
            classify(&no_entry).unwrap_err(),
            "`message.resourceId` (the entry id) is missing"
        );
    }
}
