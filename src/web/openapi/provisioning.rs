//! The OpenAPI schemas of the enrolment and of the appliance's update slots: `StatusFacts.provisioning` (where the box stands
//! with provincial IT, as `enrolment::status::ProvisioningStatus` serialises it) and the
//! answer of a box that is not enrolled yet (`not_provisioned`, from the page
//! `web::enrol_page` serves instead of the gateway). The standings come from the Rust type.

use serde_json::{json, Value};

use super::schemas::{object, reference};
use crate::enrolment::status::Standing;

/// The component schemas this module adds.
pub(super) fn schemas() -> Vec<(&'static str, Value)> {
    vec![
        ("Provisioning", provisioning()),
        ("NotProvisioned", not_provisioned()),
        ("HealthNotProvisioned", health_not_provisioned()),
    ]
}

/// Every standing, as its JSON spelling.
fn standings() -> Vec<Value> {
    use Standing::*;
    let all = [
        Manual,
        NotProvisioned,
        Enrolled,
        InGrace,
        Lapsed,
        CertificateExpired,
        Decommissioned,
    ];
    all.iter()
        .map(|standing| {
            // A new standing stops this from compiling until it is listed above.
            match standing {
                Manual | NotProvisioned | Enrolled | InGrace | Lapsed | CertificateExpired
                | Decommissioned => json!(standing),
            }
        })
        .collect()
}

fn provisioning() -> Value {
    let text = || json!({"type": "string"});
    let instant = || json!({"type": "string", "description": "RFC 3339, UTC"});
    let count = || json!({"type": "integer", "minimum": 0});
    let mut schema = object(
        &[("standing", json!({"type": "string", "enum": standings()}))],
        &[
            ("agency_code", text()),
            ("system_id", text()),
            ("axis_url", text()),
            ("generation", count()),
            ("bundle_serial", count()),
            ("bundle_expires_at", instant()),
            ("grace_ends_at", instant()),
            ("certificate_not_after", instant()),
            ("renew_from", instant()),
            ("last_renewal_at", instant()),
            ("last_bundle_check_at", instant()),
            ("last_error", text()),
        ],
    );
    schema["description"] = json!(
        "where the box stands with provincial IT; `manual` (and nothing else) for a box \
         configured by hand. The other fields appear once they are known."
    );
    schema
}

fn not_provisioned() -> Value {
    json!({
        "description": "the box is not enrolled yet (`not_provisioned`): its page at `/` offers the enrolment form",
        "allOf": [
            reference("Error"),
            object(&[("provisioning", reference("Provisioning"))], &[]),
        ],
    })
}

/// The appliance's system slots (`system::update_slots::UpdateSlots`).
pub(super) fn update_slots() -> Value {
    let text = || json!({"type": "string"});
    let slot = || {
        object(
            &[("slot", text())],
            &[
                ("version", text()),
                ("boot_status", text()),
                (
                    "installed_at",
                    json!({"type": "string", "description": "RFC 3339, UTC"}),
                ),
            ],
        )
    };
    let mut schema = object(
        &[("running", slot()), ("next_boot", text())],
        &[("other", slot())],
    );
    schema["description"] = json!(
        "on the appliance: the system slot running and its version, the other slot (its \
         `boot_status` is `bad` when an update installed there failed to come up) and the \
         slot the next boot starts"
    );
    schema
}

/// `/healthz` of a box that is not enrolled yet.
fn health_not_provisioned() -> Value {
    let mut schema = object(
        &[
            (
                "status",
                json!({"type": "string", "enum": ["not_provisioned"]}),
            ),
            (
                "reasons",
                json!({"type": "array", "items": object(&[("component", json!({"type": "string"})), ("message", json!({"type": "string"}))], &[])}),
            ),
            ("provisioning", reference("Provisioning")),
        ],
        &[],
    );
    schema["description"] = json!(
        "a box not enrolled yet: no link, no checks; its page at `/` offers the enrolment form"
    );
    schema
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_lists_every_standing_as_serialised() {
        let schema = provisioning();
        let listed = schema["properties"]["standing"]["enum"]
            .as_array()
            .expect("enum")
            .clone();
        assert_eq!(listed.len(), 7);
        assert!(listed.contains(&json!("in_grace")));
        assert!(listed.contains(&json!("certificate_expired")));
        let manual = serde_json::to_value(crate::enrolment::status::ProvisioningStatus::bare(
            Standing::Manual,
        ))
        .expect("json");
        assert_eq!(manual, json!({"standing": "manual"}), "compact by hand");
    }
}
