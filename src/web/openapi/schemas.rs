//! The OpenAPI component schemas: the JSON shapes the local API answers and accepts.
//! Enumerations come from the Rust types themselves, so a new state or status appears here
//! when it appears in the code.

use serde_json::{json, Value};

use crate::store::DocumentState;

/// A nullable value of `schema` (OpenAPI 3.0 spelling).
pub(super) fn nullable(mut schema: Value) -> Value {
    if let Some(object) = schema.as_object_mut() {
        object.insert("nullable".into(), Value::Bool(true));
    }
    schema
}

/// Reference to a component schema.
pub(super) fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// An object with `required` properties, each given as (name, schema).
pub(super) fn object(required: &[(&str, Value)], optional: &[(&str, Value)]) -> Value {
    let mut properties = serde_json::Map::new();
    for (name, schema) in required.iter().chain(optional) {
        properties.insert((*name).to_string(), schema.clone());
    }
    let required: Vec<&str> = required.iter().map(|(name, _)| *name).collect();
    let mut object = json!({"type": "object", "properties": properties});
    if !required.is_empty() {
        object["required"] = json!(required);
    }
    object
}

fn string() -> Value {
    json!({"type": "string"})
}

fn timestamp() -> Value {
    json!({"type": "string", "description": "RFC 3339, UTC"})
}

fn states() -> Vec<&'static str> {
    DocumentState::ALL
        .iter()
        .map(|state| state.as_str())
        .collect()
}

/// Characters the server refuses in text fields: C0 controls other than tab and line
/// feed, DEL, and C1 controls (as Rust's `char::is_control`).
const CONTROL: &str = "\\u0000-\\u0008\\u000B-\\u001F\\u007F-\\u009F";

/// Text with at least one visible character and no control characters.
fn text(max: u32) -> Value {
    json!({
        "type": "string", "minLength": 1, "maxLength": max,
        "pattern": format!("^[^{CONTROL}]*[^{CONTROL}\\s][^{CONTROL}]*$"),
    })
}

/// Text that may be empty, without control characters.
fn optional_text(max: u32) -> Value {
    json!({"type": "string", "maxLength": max, "pattern": format!("^[^{CONTROL}]*$")})
}

/// The agency codes the server accepts: `LLL.KK.JJ.Xnn`, or one of the configured exceptions.
fn agency_code(extra_agency_codes: &[String]) -> Value {
    let mut alternatives = vec!["[0-9]{3}\\.[0-9]{2}\\.[0-9]{2}\\.[A-Z][0-9]{2}".to_string()];
    alternatives.extend(extra_agency_codes.iter().map(|code| regex_literal(code)));
    json!({
        "type": "string",
        "pattern": format!("^({})$", alternatives.join("|")),
        "description": "mã định danh: LLL.KK.JJ.Xnn, e.g. 000.00.00.H41",
    })
}

/// `text` as a regular expression matching exactly it.
fn regex_literal(text: &str) -> String {
    let mut literal = String::with_capacity(text.len());
    for character in text.chars() {
        if "\\.^$*+?()[]{}|/-".contains(character) {
            literal.push('\\');
        }
        literal.push(character);
    }
    literal
}

/// Every component schema.
pub(super) fn components(extra_agency_codes: &[String]) -> Value {
    let mut schemas = serde_json::Map::new();
    for (name, schema) in [
        ("Error", error()),
        ("DocumentIdentity", identity()),
        ("DocumentSummary", summary()),
        ("DocumentPage", page()),
        ("DocumentFile", file()),
        ("DocumentEvent", event()),
        ("ExchangeInfo", exchange()),
        ("DocumentStatus", status()),
        ("Document", document()),
        ("Meta", meta(extra_agency_codes)),
        ("Link", link()),
        ("Check", check()),
        ("Health", health()),
        ("StatusFacts", status_facts()),
    ] {
        schemas.insert(name.to_string(), schema);
    }
    for (name, schema) in super::clerk::schemas() {
        schemas.insert(name.to_string(), schema);
    }
    for (name, schema) in super::registers::entry_schemas() {
        schemas.insert(name.to_string(), schema);
    }
    for (name, schema) in super::provisioning::schemas() {
        schemas.insert(name.to_string(), schema);
    }
    Value::Object(schemas)
}

fn error() -> Value {
    object(
        &[(
            "error",
            object(
                &[
                    (
                        "code",
                        json!({"type": "string", "description": "stable, machine-readable"}),
                    ),
                    (
                        "message",
                        json!({"type": "string", "description": "what happened and what to do, in words"}),
                    ),
                ],
                &[(
                    "suggestions",
                    json!({
                        "type": "array",
                        "description": "with `unknown_recipient`: the agency directory's closest agencies to each unknown recipient (`for`), closest first",
                        "items": object(&[("for", string()), ("code", string()), ("name", string())], &[]),
                    }),
                )],
            ),
        )],
        &[],
    )
}

fn identity() -> Value {
    object(
        &[
            (
                "id",
                json!({"type": "string", "description": "the gateway's id (a ULID)"}),
            ),
            (
                "document_id",
                nullable(
                    json!({"type": "string", "description": "edXML DocumentId: {OrganId},{yyyy/MM/dd},{number}/{notation}"}),
                ),
            ),
            ("state", json!({"type": "string", "enum": states()})),
        ],
        &[],
    )
}

fn summary() -> Value {
    object(
        &[
            ("id", string()),
            (
                "direction",
                json!({"type": "string", "enum": ["out", "in"]}),
            ),
            ("document_id", nullable(string())),
            ("state", json!({"type": "string", "enum": states()})),
            ("subject", string()),
            (
                "code_number",
                nullable(json!({"type": "integer", "minimum": 0})),
            ),
            ("code_notation", nullable(string())),
            ("created_at", timestamp()),
            ("updated_at", timestamp()),
            (
                "priority",
                json!({"type": "integer", "minimum": 0, "maximum": 4}),
            ),
            (
                "due_date",
                nullable(
                    json!({"type": "string", "description": "YYYY-MM-DD (incoming: as the sender wrote it)"}),
                ),
            ),
            (
                "overdue",
                json!({"type": "boolean", "description": "incoming: past its due date (Vietnam time) and neither refused, completed nor cancelled"}),
            ),
        ],
        &[
            (
                "business_status",
                json!({"type": "string", "pattern": "^0[1-6]$", "description": "incoming: the last status this office set"}),
            ),
            (
                "incoming_number",
                json!({"type": "integer", "minimum": 1, "description": "incoming: số đến, once accepted (03)"}),
            ),
        ],
    )
}

fn page() -> Value {
    object(
        &[(
            "documents",
            json!({"type": "array", "items": reference("DocumentSummary")}),
        )],
        &[(
            "next_cursor",
            json!({"type": "string", "description": "pass as `cursor` for the next page; absent on the last page"}),
        )],
    )
}

fn file() -> Value {
    object(
        &[
            ("n", json!({"type": "integer", "minimum": 1})),
            ("name", string()),
            ("content_type", string()),
            (
                "sha256",
                json!({"type": "string", "pattern": "^[0-9a-f]{64}$"}),
            ),
            ("size", json!({"type": "integer", "minimum": 0})),
        ],
        &[],
    )
}

fn event() -> Value {
    object(
        &[
            ("seq", json!({"type": "integer"})),
            ("at", timestamp()),
            ("kind", string()),
            ("state", nullable(string())),
            ("detail", string()),
        ],
        &[],
    )
}

fn exchange() -> Value {
    object(
        &[
            (
                "priority",
                json!({"type": "integer", "minimum": 0, "maximum": 4}),
            ),
            ("packet_sha256", nullable(string())),
            (
                "packet_size",
                nullable(json!({"type": "integer", "minimum": 0})),
            ),
            ("axis_doc_id", nullable(string())),
            ("peer_organ", nullable(string())),
            ("quarantine_reason", nullable(string())),
        ],
        &[],
    )
}

fn status() -> Value {
    object(
        &[
            (
                "direction",
                json!({"type": "string", "enum": ["received", "sent"]}),
            ),
            ("organ_id", string()),
            ("code", json!({"type": "string", "pattern": "^[0-9]{2}$"})),
            ("description", string()),
            ("packet_timestamp", nullable(string())),
            ("recorded_at", timestamp()),
        ],
        &[],
    )
}

fn document() -> Value {
    let mut required = vec![
        (
            "meta",
            json!({"type": "object", "description": "outgoing: the meta as accepted; incoming: the edXML header as parsed"}),
        ),
        (
            "files",
            json!({"type": "array", "items": reference("DocumentFile")}),
        ),
        (
            "events",
            json!({"type": "array", "items": reference("DocumentEvent")}),
        ),
        ("exchange", reference("ExchangeInfo")),
        (
            "statuses",
            json!({"type": "array", "items": reference("DocumentStatus")}),
        ),
        (
            "signatures",
            nullable(
                json!({"type": "object", "description": "the verification report, as `docgate verify --json` prints it"}),
            ),
        ),
    ];
    let (business_required, business_optional) = super::clerk::document_fields();
    required.extend(business_required);
    json!({"allOf": [reference("DocumentSummary"), object(&required, &business_optional)]})
}

fn meta(extra_agency_codes: &[String]) -> Value {
    let notation = json!({
        "type": "string", "minLength": 1, "maxLength": 50,
        "pattern": format!("^[^{CONTROL},/\\s]+$"),
        "description": "ký hiệu, e.g. UBND-VP; no ',', '/' or spaces; null or absent: composed from [register]",
    });
    let mut meta = object(
        &[
            (
                "to",
                json!({"type": "array", "items": agency_code(extra_agency_codes), "minItems": 1, "maxItems": 200, "uniqueItems": true}),
            ),
            ("subject", text(500)),
            (
                "type",
                object(
                    &[
                        (
                            "code",
                            json!({"type": "integer", "minimum": 1, "maximum": 255}),
                        ),
                        ("name", text(100)),
                    ],
                    &[],
                ),
            ),
            (
                "signer",
                object(
                    &[("position", text(200)), ("name", text(200))],
                    &[("competence", nullable(optional_text(20)))],
                ),
            ),
        ],
        &[
            (
                "code_number",
                nullable(
                    json!({"type": "integer", "minimum": 1, "maximum": u32::MAX, "description": "null: the register assigns the next number"}),
                ),
            ),
            ("code_notation", nullable(notation)),
            (
                "priority",
                json!({"type": "integer", "minimum": 0, "maximum": 4, "default": 0}),
            ),
            (
                "due_date",
                nullable(json!({"type": "string", "format": "date"})),
            ),
            ("content", nullable(optional_text(20_000))),
            ("place", nullable(optional_text(200))),
            (
                "secret",
                json!({"type": "boolean", "default": false, "description": "a secret document: numbered in the secret series, recorded in the register, never sent over the network"}),
            ),
            ("file_copy_keeper", nullable(optional_text(200))),
            (
                "copies",
                nullable(json!({"type": "integer", "minimum": 1, "maximum": 100_000})),
            ),
        ],
    );
    // `meta` and its parts refuse fields they do not know (a misspelt field is an error).
    meta["additionalProperties"] = Value::Bool(false);
    meta["properties"]["type"]["additionalProperties"] = Value::Bool(false);
    meta["properties"]["signer"]["additionalProperties"] = Value::Bool(false);
    meta
}

fn link() -> Value {
    object(
        &[
            ("configured", json!({"type": "boolean"})),
            ("url", nullable(string())),
            ("connected", json!({"type": "boolean"})),
            ("last_success", nullable(timestamp())),
            ("last_attempt", nullable(timestamp())),
            ("next_try", nullable(timestamp())),
            ("last_error", nullable(string())),
            ("outbox_depth", json!({"type": "integer", "minimum": 0})),
            ("incoming_paused", nullable(string())),
            ("sealing", nullable(string())),
        ],
        &[],
    )
}

fn check() -> Value {
    object(
        &[
            (
                "component",
                json!({"type": "string", "enum": ["store", "config", "link", "token", "certificate", "disk", "clock", "tsa", "directory", "provisioning"]}),
            ),
            (
                "kind",
                json!({"type": "string", "description": "a stable key of what was found, e.g. `link_down`, `certificate_expiring`, `tsa_failing`"}),
            ),
            (
                "severity",
                json!({"type": "string", "enum": ["ok", "warning", "failing"]}),
            ),
            ("message", string()),
        ],
        &[],
    )
}

fn health() -> Value {
    object(
        &[
            (
                "status",
                json!({"type": "string", "enum": ["ok", "unavailable"]}),
            ),
            ("link", reference("Link")),
            (
                "reasons",
                json!({"type": "array", "items": object(&[("component", string()), ("message", string())], &[])}),
            ),
            (
                "checks",
                json!({"type": "array", "items": reference("Check")}),
            ),
        ],
        &[],
    )
}

/// The token as its worker last found it (the sealer copies it every second).
fn token_report() -> Value {
    let mut report = object(
        &[
            ("label", string()),
            (
                "state",
                json!({"type": "string", "enum": ["starting", "ready", "absent", "pin_refused", "pin_locked", "unusable"]}),
            ),
            ("since", timestamp()),
        ],
        &[
            ("reason", string()),
            ("pin_file", string()),
            ("code", string()),
        ],
    );
    report["description"] =
        json!("`reason` with `absent` and `unusable`; `pin_file` and `code` with `pin_refused`");
    report
}

fn status_facts() -> Value {
    let count = || json!({"type": "integer", "minimum": 0});
    object(
        &[
            (
                "agency",
                object(&[("organ_id", string()), ("organ_name", string())], &[]),
            ),
            ("version", string()),
            ("now", timestamp()),
            ("started_at", timestamp()),
            ("uptime_secs", count()),
            ("link", reference("Link")),
            (
                "queues",
                object(
                    &[
                        ("waiting_to_send", count()),
                        ("oldest_waiting_since", nullable(timestamp())),
                        ("sent_unconfirmed", count()),
                        ("failed_outgoing", count()),
                        ("quarantined_incoming", count()),
                        ("awaiting_clerk", count()),
                        ("overdue", count()),
                        ("registered_only", count()),
                    ],
                    &[],
                ),
            ),
            ("update", nullable(super::provisioning::update_slots())),
            ("oldest_waiting_secs", nullable(count())),
            (
                "directory",
                object(
                    &[
                        ("agencies", count()),
                        ("refreshed_at", nullable(timestamp())),
                        ("age_secs", nullable(count())),
                    ],
                    &[],
                ),
            ),
            (
                "seal",
                object(
                    &[
                        ("configured", json!({"type": "boolean"})),
                        ("token_label", nullable(string())),
                        ("problem", nullable(string())),
                        ("token", nullable(token_report())),
                        ("tsa_url", nullable(string())),
                        (
                            "tsa",
                            object(
                                &[
                                    (
                                        "state",
                                        json!({"type": "string", "enum": ["not_configured", "not_tried", "answering", "failing"]}),
                                    ),
                                    ("last_success", nullable(timestamp())),
                                    ("last_failure", nullable(timestamp())),
                                    ("last_error", nullable(string())),
                                    ("answered_last", nullable(json!({"type": "boolean"}))),
                                ],
                                &[],
                            ),
                        ),
                    ],
                    &[],
                ),
            ),
            (
                "certificates",
                json!({"type": "array", "items": object(
                    &[
                        ("role", string()),
                        ("subject", nullable(string())),
                        ("not_before", nullable(timestamp())),
                        ("not_after", nullable(timestamp())),
                        ("seconds_left", nullable(json!({"type": "integer"}))),
                        ("state", json!({"type": "string", "enum": ["valid", "expiring", "expired", "not_yet_valid", "unreadable"]})),
                    ],
                    &[("problem", string())],
                )}),
            ),
            (
                "disk",
                object(
                    &[
                        ("used_bytes", count()),
                        ("quota_bytes", count()),
                        ("percent", count()),
                    ],
                    &[],
                ),
            ),
            ("provisioning", reference("Provisioning")),
            (
                "checks",
                json!({"type": "array", "items": reference("Check")}),
            ),
        ],
        &[],
    )
}
