//! The OpenAPI path items of the registers (sổ văn bản): one path per register, so that the
//! outgoing register's `series` is documented only where it exists.

use serde_json::{json, Value};

use super::paths::{common_errors, error_answer, json_answer};
use super::schemas::{nullable, object, reference};
use crate::workflow::register::{FIRST_YEAR, LAST_YEAR};

/// The register paths.
pub(super) fn paths() -> Vec<(&'static str, Value)> {
    vec![
        ("/api/v1/registers/out", show(Register::Outgoing)),
        ("/api/v1/registers/in", show(Register::Incoming)),
        (
            "/api/v1/registers/out/{year}/close",
            close(Register::Outgoing),
        ),
        (
            "/api/v1/registers/in/{year}/close",
            close(Register::Incoming),
        ),
    ]
}

#[derive(Clone, Copy)]
enum Register {
    Outgoing,
    Incoming,
}

fn year_schema() -> Value {
    json!({"type": "integer", "minimum": FIRST_YEAR, "maximum": LAST_YEAR})
}

fn series_parameter() -> Value {
    json!({
        "name": "series", "in": "query",
        "description": "general (default) or secret: the secret series of documents that are registered but never sent",
        "schema": {"type": "string", "enum": ["general", "secret"]}
    })
}

fn show(register: Register) -> Value {
    let (operation_id, summary, entry) = match register {
        Register::Outgoing => (
            "getOutgoingRegister",
            "The outgoing register (sổ văn bản đi) of a year",
            "OutgoingRegisterEntry",
        ),
        Register::Incoming => (
            "getIncomingRegister",
            "The incoming register (sổ văn bản đến) of a year, in số đến order",
            "IncomingRegisterEntry",
        ),
    };
    let mut parameters = vec![
        json!({"name": "year", "in": "query", "required": true, "schema": year_schema()}),
        json!({
            "name": "format", "in": "query",
            "description": "json (default), csv (UTF-8 with BOM, NĐ 30 Phụ lục IV headers) or html (printable, A4 landscape)",
            "schema": {"type": "string", "enum": ["json", "csv", "html"]}
        }),
    ];
    if matches!(register, Register::Outgoing) {
        parameters.push(series_parameter());
    }
    let mut responses = json!({
        "200": {
            "description": "the register; its entries in number order",
            "content": {
                "application/json": {"schema": register_schema(register, entry)},
                "text/csv": {"schema": {"type": "string"}},
                "text/html": {"schema": {"type": "string"}},
            },
        },
        "400": error_answer("a parameter is malformed (`malformed_request`, `unknown_register`)"),
    });
    common_errors(&mut responses);
    json!({
        "get": {
            "operationId": operation_id,
            "summary": summary,
            "parameters": parameters,
            "responses": responses,
        }
    })
}

fn register_schema(register: Register, entry: &str) -> Value {
    let mut required = vec![
        (
            "register",
            json!({"type": "string", "enum": [match register { Register::Outgoing => "out", Register::Incoming => "in" }]}),
        ),
        ("year", year_schema()),
        ("closed", nullable(closure())),
        (
            "entries",
            json!({"type": "array", "items": reference(entry)}),
        ),
    ];
    if matches!(register, Register::Outgoing) {
        required.push((
            "series",
            json!({"type": "string", "enum": ["general", "secret"]}),
        ));
    }
    object(&required, &[])
}

fn closure() -> Value {
    object(
        &[
            (
                "at",
                json!({"type": "string", "description": "RFC 3339, UTC"}),
            ),
            (
                "digest",
                json!({"type": "string", "pattern": "^[0-9a-f]{64}$", "description": "SHA-256 of the register's CSV export"}),
            ),
            ("entries", json!({"type": "integer", "minimum": 0})),
        ],
        &[],
    )
}

fn close(register: Register) -> Value {
    let (operation_id, summary) = match register {
        Register::Outgoing => (
            "closeOutgoingRegister",
            "Close the outgoing register of an ended year",
        ),
        Register::Incoming => (
            "closeIncomingRegister",
            "Close the incoming register of an ended year",
        ),
    };
    let mut parameters =
        vec![json!({"name": "year", "in": "path", "required": true, "schema": year_schema()})];
    if matches!(register, Register::Outgoing) {
        parameters.push(series_parameter());
    }
    let mut body = vec![
        (
            "register",
            json!({"type": "string", "enum": [match register { Register::Outgoing => "out", Register::Incoming => "in" }]}),
        ),
        ("year", year_schema()),
        ("closed", closure()),
        (
            "already_closed",
            json!({"type": "boolean", "description": "true when the year had been closed before with the same contents"}),
        ),
    ];
    if matches!(register, Register::Outgoing) {
        body.push((
            "series",
            json!({"type": "string", "enum": ["general", "secret"]}),
        ));
    }
    let mut responses = json!({
        "200": json_answer("closed: the digest is in the evidence log", object(&body, &[])),
        "400": error_answer("a parameter is malformed (`malformed_request`)"),
        "409": error_answer("the year has not ended (`year_not_ended`), a document of it is still waiting to be sent (`register_not_all_sent`), or the register changed since it was closed (`register_changed`)"),
    });
    common_errors(&mut responses);
    json!({
        "post": {
            "operationId": operation_id,
            "summary": summary,
            "description": "Records the SHA-256 of the register's CSV export in the register closures and in the signed evidence log, so a later change to the register is detectable. Repeating it answers the same closure.",
            "parameters": parameters,
            "responses": responses,
        }
    })
}

/// The entry schemas, for the components.
pub(super) fn entry_schemas() -> Vec<(&'static str, Value)> {
    let text = || json!({"type": "string"});
    let date = || nullable(json!({"type": "string", "format": "date"}));
    let notes = || json!({"type": "array", "items": {"type": "string"}});
    vec![
        (
            "OutgoingRegisterEntry",
            object(
                &[
                    ("id", text()),
                    ("number", json!({"type": "integer", "minimum": 1})),
                    ("notation", text()),
                    ("number_notation", text()),
                    ("date", date()),
                    ("type_name", text()),
                    ("summary", text()),
                    ("signer", text()),
                    (
                        "recipients",
                        json!({"type": "array", "items": {"type": "string"}}),
                    ),
                    ("file_copy_keeper", text()),
                    ("copies", nullable(json!({"type": "integer", "minimum": 1}))),
                    ("date_sent", date()),
                    ("notes", notes()),
                    ("state", text()),
                ],
                &[],
            ),
        ),
        (
            "IncomingRegisterEntry",
            object(
                &[
                    ("id", text()),
                    ("incoming_number", json!({"type": "integer", "minimum": 1})),
                    ("date_received", json!({"type": "string", "format": "date"})),
                    ("author", text()),
                    ("number_notation", text()),
                    ("document_date", date()),
                    ("type_name", text()),
                    ("summary", text()),
                    ("handling_unit", text()),
                    ("date_passed_on", date()),
                    ("notes", notes()),
                ],
                &[],
            ),
        ),
    ]
}
