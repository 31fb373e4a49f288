//! The Benchling app manifest for this service: its canvas feature and the events it subscribes to.

/// Every event type the service handles, as subscribed in the manifest.
pub const SUBSCRIBED: &[&str] = &[
    "v2.entry.created",
    "v2.entry.updated.fields",
    "v2.entry.updated.reviewRecord",
    "v2.canvas.initialized",
    "v2.canvas.userInteracted",
    "v2.canvas.created",
    "v2.app.installed",
    "v2.app.activateRequested",
    "v2.app.deactivated",
    "v2-beta.app.configuration.updated",
];

pub fn yaml() -> String {
    let mut out = format!(
        "manifestVersion: 1\ninfo:\n  name: Quilt Integration\n  description: Packages Benchling notebook entries as Quilt data packages\n  version: {}\nfeatures:\n  - name: Quilt Package\n    id: quilt_integration\n    type: CANVAS\nsubscriptions:\n  deliveryMethod: WEBHOOK\n  messages:\n",
        env!("CARGO_PKG_VERSION")
    );
    for event in SUBSCRIBED {
        out.push_str(&format!("    - type: {event}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_subscribed_event_is_one_the_service_acts_on() {
        for event in super::SUBSCRIBED {
            let envelope = serde_json::json!({"message": {"type": event, "resourceId": "etr_1", "canvasId": "cnvs_1", "buttonId": "update-package-etr_1"}});
            let action = crate::events::classify(&envelope).unwrap();
            assert!(
                !matches!(action, crate::events::Action::Ignore { .. }),
                "{event} is subscribed but ignored"
            );
        }
    }

    #[test]
    fn the_manifest_carries_the_workspace_version() {
        assert!(super::yaml().contains(&format!("  version: {}\n", env!("CARGO_PKG_VERSION"))));
    }
}
