//! The OpenAPI path items and schemas of the clerk's actions on a document: business
//! statuses, recall, update and replacement.

use serde_json::{json, Value};

use super::paths::{common_errors, error_answer, id_parameter, json_answer};
use super::schemas::{nullable, object, reference};
use crate::workflow::business::MAX_DESCRIPTION_CHARS;

/// Control characters: a status description or a reason is one line.
const NO_CONTROL: &str = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$";
/// One line with at least one visible character.
const ONE_VISIBLE_LINE: &str =
    "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\u0000-\\u001F\\u007F-\\u009F\\s][^\\u0000-\\u001F\\u007F-\\u009F]*$";

/// The clerk's paths.
pub(super) fn paths() -> Vec<(&'static str, Value)> {
    vec![
        ("/api/v1/documents/{id}/status", status()),
        ("/api/v1/documents/{id}/recall", recall()),
        ("/api/v1/documents/{id}/update", update()),
        ("/api/v1/documents/{id}/replace", replace()),
    ]
}

fn json_body(schema: Value) -> Value {
    json!({"required": true, "content": {"application/json": {"schema": schema}}})
}

fn status() -> Value {
    let body = object(
        &[(
            "code",
            json!({
                "type": "string",
                "enum": ["02", "03", "04", "05", "06", "15", "16"],
                "description": "02 refused (description required), 03 accepted (takes the số đến), 04 assigned, 05 being handled, 06 completed, 15/16 agree/refuse a pending recall or update. 01 is automatic and 13 is /recall."
            }),
        )],
        &[
            (
                "description",
                json!({"type": "string", "maxLength": MAX_DESCRIPTION_CHARS, "pattern": NO_CONTROL}),
            ),
            (
                "staff",
                nullable({
                    let mut staff = object(
                        &[],
                        &[
                            (
                                "name",
                                nullable(
                                    json!({"type": "string", "maxLength": 200, "pattern": NO_CONTROL}),
                                ),
                            ),
                            (
                                "department",
                                nullable(
                                    json!({"type": "string", "maxLength": 200, "pattern": NO_CONTROL}),
                                ),
                            ),
                        ],
                    );
                    staff["additionalProperties"] = Value::Bool(false);
                    staff
                }),
            ),
        ],
    );
    let mut responses = json!({
        "202": json_answer("recorded; its status packet is queued for the sender", reference("StatusAnswer")),
        "400": error_answer("not a status code (`bad_status_code`) or a malformed body (`malformed_request`)"),
        "404": error_answer("no such document (`not_found`)"),
        "409": error_answer("not allowed now: `illegal_transition` (e.g. 06 before 03, or any status on an outgoing document), `no_pending_request` (15/16 with nothing to answer), `cancelled`, `quarantined`"),
        "422": error_answer("02 without a reason (`reason_required`), or a bad staff field (`invalid_meta`)"),
    });
    common_errors(&mut responses);
    operation(
        "setStatus",
        "Set a business status on an incoming document (or answer a recall/update)",
        body_strict(body),
        responses,
    )
}

fn recall() -> Value {
    let body = object(&[("reason", reason())], &[]);
    let mut responses = json!({
        "202": json_answer("withdrawn (never sent) or recall requested from every recipient", reference("RecallAnswer")),
        "400": error_answer("a malformed body (`malformed_request`)"),
        "404": error_answer("no such document (`not_found`)"),
        "409": error_answer("`not_outgoing`, `already_recalled`, `already_cancelled`, `quarantined`"),
        "422": error_answer("no reason (`reason_required`)"),
    });
    common_errors(&mut responses);
    operation(
        "recallDocument",
        "Take back an outgoing document (status 13 and a recall packet to every recipient)",
        body_strict(body),
        responses,
    )
}

fn update() -> Value {
    let codes =
        json!({"type": "array", "items": {"type": "string"}, "maxItems": 200, "uniqueItems": true});
    let body = object(
        &[("reason", reason())],
        &[
            (
                "subject",
                nullable(json!({"type": "string", "maxLength": 500})),
            ),
            (
                "due_date",
                nullable(json!({"type": "string", "format": "date"})),
            ),
            (
                "priority",
                nullable(json!({"type": "integer", "minimum": 0, "maximum": 4})),
            ),
            (
                "content",
                nullable(json!({"type": "string", "maxLength": 20000})),
            ),
            ("add_recipients", codes.clone()),
            ("remove_recipients", codes),
        ],
    );
    let mut responses = json!({
        "202": json_answer("the update packet is queued for the old and new recipients", reference("UpdateAnswer")),
        "400": error_answer("a malformed body (`malformed_request`)"),
        "404": error_answer("no such document (`not_found`)"),
        "409": error_answer("`not_sent` (not handed to the axis yet: nothing to update), `not_outgoing`, `already_cancelled`, `quarantined`"),
        "422": error_answer("no reason, nothing changes, or the result breaks a meta rule (`invalid_meta`, `reason_required`)"),
    });
    common_errors(&mut responses);
    operation(
        "updateDocument",
        "Change an outgoing document already sent, or its recipients (BussinessDocType 2)",
        body_strict(body),
        responses,
    )
}

fn replace() -> Value {
    let mut responses = json!({
        "202": json_answer("the replacement is committed; it carries its own number and names the document it replaces", reference("DocumentIdentity")),
        "400": error_answer("not multipart, or a malformed part (`malformed_request`)"),
        "404": error_answer("no such document (`not_found`)"),
        "409": error_answer("the document cannot be replaced (incoming, cancelled, or replaced already), or the number is used"),
        "413": error_answer("a file or the request is larger than allowed (`too_large`)"),
        "422": error_answer("meta, a file or the leader's signature is not acceptable (`invalid_meta`, `invalid_file`, `leader_signature_invalid`), or a recipient is not in the agency directory (`unknown_recipient`)"),
        "507": error_answer("the storage quota is reached or the disk is full (`storage_full`); nothing was stored"),
    });
    common_errors(&mut responses);
    let mut operation = operation(
        "replaceDocument",
        "Send a new document that replaces an outgoing one (BussinessDocType 3)",
        super::paths::document_upload_body(),
        responses,
    );
    operation["post"]["parameters"] = json!([
        id_parameter(),
        {"name": "Idempotency-Key", "in": "header", "required": false,
         "schema": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[!-~]+$"}},
    ]);
    operation
}

fn reason() -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": MAX_DESCRIPTION_CHARS, "pattern": ONE_VISIBLE_LINE})
}

fn body_strict(mut schema: Value) -> Value {
    schema["additionalProperties"] = Value::Bool(false);
    json_body(schema)
}

fn operation(id: &str, summary: &str, request_body: Value, responses: Value) -> Value {
    json!({
        "post": {
            "operationId": id,
            "summary": summary,
            "parameters": [id_parameter()],
            "requestBody": request_body,
            "responses": responses,
        }
    })
}

/// The answer and view schemas, for the components.
pub(super) fn schemas() -> Vec<(&'static str, Value)> {
    let text = || json!({"type": "string"});
    let codes = || json!({"type": "array", "items": {"type": "string"}});
    vec![
        (
            "StatusAnswer",
            object(
                &[
                    ("id", text()),
                    ("code", text()),
                    ("business_status", nullable(text())),
                    ("cancelled", json!({"type": "boolean"})),
                    ("version", json!({"type": "integer", "minimum": 1})),
                ],
                &[
                    ("incoming_number", json!({"type": "integer", "minimum": 1})),
                    ("registered_at", text()),
                ],
            ),
        ),
        (
            "RecallAnswer",
            object(
                &[
                    ("id", text()),
                    (
                        "outcome",
                        json!({"type": "string", "enum": ["withdrawn", "requested"]}),
                    ),
                    ("message", text()),
                    ("recipients", codes()),
                ],
                &[],
            ),
        ),
        (
            "UpdateAnswer",
            object(
                &[
                    ("id", text()),
                    ("version", json!({"type": "integer", "minimum": 1})),
                    ("recipients", codes()),
                    ("added", codes()),
                    ("removed", codes()),
                ],
                &[],
            ),
        ),
        (
            "BusinessRequest",
            object(
                &[
                    ("id", json!({"type": "integer"})),
                    (
                        "direction",
                        json!({"type": "string", "enum": ["sent", "received"]}),
                    ),
                    (
                        "kind",
                        json!({"type": "string", "enum": ["recall", "update", "replace"]}),
                    ),
                    ("organ_id", text()),
                    ("reason", text()),
                    ("changes", nullable(json!({"type": "object"}))),
                    (
                        "answer",
                        nullable(json!({"type": "string", "enum": ["15", "16"]})),
                    ),
                    ("answered_at", nullable(text())),
                    ("created_at", text()),
                ],
                &[],
            ),
        ),
        (
            "Recipient",
            object(
                &[
                    ("organ_id", text()),
                    ("latest_code", nullable(text())),
                    (
                        "statuses",
                        json!({"type": "array", "items": object(
                            &[
                                ("code", text()),
                                ("description", text()),
                                ("packet_timestamp", nullable(text())),
                                ("recorded_at", text()),
                            ],
                            &[],
                        )}),
                    ),
                    ("recalled", json!({"type": "boolean"})),
                    ("removed", json!({"type": "boolean"})),
                ],
                &[],
            ),
        ),
    ]
}

/// Named property schemas.
pub(super) type Properties = Vec<(&'static str, Value)>;

/// The business fields of a document, as `GET /api/v1/documents/{id}` adds them: those
/// always present, and those present for one direction only.
pub(super) fn document_fields() -> (Properties, Properties) {
    let required = vec![
        (
            "cancelled",
            nullable(object(
                &[
                    ("at", json!({"type": "string"})),
                    ("reason", json!({"type": "string"})),
                ],
                &[],
            )),
        ),
        ("replaces", nullable(json!({"type": "string"}))),
        ("replaced_by", nullable(json!({"type": "string"}))),
        ("version", json!({"type": "integer", "minimum": 1})),
        (
            "due_date",
            nullable(json!({"type": "string", "description": "YYYY-MM-DD as the sender wrote it"})),
        ),
        (
            "overdue",
            json!({"type": "boolean", "description": "incoming: the due date has passed (Vietnam time) and the document is not refused, completed or cancelled"}),
        ),
        (
            "requests",
            json!({"type": "array", "items": reference("BusinessRequest")}),
        ),
    ];
    let optional = vec![
        (
            "business_status",
            json!({"type": "string", "pattern": "^[0-9]{2}$"}),
        ),
        ("incoming_number", json!({"type": "integer", "minimum": 1})),
        ("registered_at", json!({"type": "string"})),
        (
            "recipients",
            json!({"type": "array", "items": reference("Recipient")}),
        ),
    ];
    (required, optional)
}
