//! The OpenAPI path items: one function per endpoint, in the order of the router.

use serde_json::{json, Value};

use super::schemas::reference;
use crate::store::{DocumentState, MAX_PAGE};

/// The pattern of the ids and cursors this API hands out (ULIDs, Crockford base 32).
pub(super) const ULID_PATTERN: &str = "^[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{26}$";

/// Every path the server answers.
pub(super) fn paths() -> Value {
    let mut paths = serde_json::Map::new();
    for (path, item) in [
        ("/api/v1/documents", documents()),
        ("/api/v1/documents/{id}", document()),
        ("/api/v1/documents/{id}/files/{n}", document_file()),
        ("/api/v1/link", link()),
        ("/api/v1/status", status()),
        ("/api/v1/openapi.json", openapi()),
        ("/healthz", healthz()),
        ("/metrics", metrics()),
    ] {
        paths.insert(path.to_string(), item);
    }
    for (path, item) in super::clerk::paths() {
        paths.insert(path.to_string(), item);
    }
    for (path, item) in super::registers::paths() {
        paths.insert(path.to_string(), item);
    }
    Value::Object(paths)
}

/// A JSON answer of `schema`.
pub(super) fn json_answer(description: &str, schema: Value) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema}}})
}

/// An error answer.
pub(super) fn error_answer(description: &str) -> Value {
    json_answer(description, reference("Error"))
}

/// The answers every authenticated operation may give besides its own.
pub(super) fn common_errors(responses: &mut Value) {
    responses["401"] = error_answer("missing or wrong bearer token (`unauthorized`)");
    responses["500"] = error_answer("the store failed; retry, and tell IT if it persists");
    responses["503"] = error_answer("the gateway is shutting down (`shutting_down`)");
}

/// The `{id}` path parameter.
pub(super) fn id_parameter() -> Value {
    json!({
        "name": "id", "in": "path", "required": true,
        "description": "the document's id, as `POST /api/v1/documents` answered it",
        "schema": {"type": "string"}
    })
}

fn documents() -> Value {
    let mut list_responses = json!({
        "200": json_answer("one page, newest first", reference("DocumentPage")),
        "400": error_answer("a filter is malformed (`malformed_request`)"),
    });
    common_errors(&mut list_responses);
    let mut create_responses = json!({
        "202": json_answer("committed: the document is durable and will be signed, packed and sent", reference("DocumentIdentity")),
        "400": error_answer("not multipart, or a malformed part (`malformed_request`)"),
        "409": error_answer("the number is already used in its year (`duplicate_document_id`)"),
        "413": error_answer("a file or the request is larger than allowed (`too_large`)"),
        "422": error_answer("meta, a file or the leader's signature is not acceptable (`invalid_meta`, `invalid_file`, `leader_signature_invalid`, `idempotency_key_reused`), or a recipient is not in the agency directory cached from the axis (`unknown_recipient`, with `suggestions`; never while the directory was not fetched yet)"),
        "507": error_answer("the storage quota is reached or the disk is full (`storage_full`); nothing was stored"),
    });
    common_errors(&mut create_responses);
    let states: Vec<&str> = DocumentState::ALL
        .iter()
        .map(|state| state.as_str())
        .collect();
    json!({
        "get": {
            "operationId": "listDocuments",
            "summary": "List documents, newest first, one page at a time",
            "parameters": [
                {"name": "direction", "in": "query", "schema": {"type": "string", "enum": ["out", "in"]}},
                {"name": "state", "in": "query", "schema": {"type": "string", "enum": states}},
                {"name": "since", "in": "query", "description": "only documents recorded at or after this instant",
                 "schema": {"type": "string", "format": "date-time"}},
                {"name": "cursor", "in": "query", "description": "`next_cursor` of the previous page",
                 "schema": {"type": "string", "pattern": ULID_PATTERN}},
                {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 50}},
                {"name": "business_status", "in": "query", "description": "incoming documents whose last status from this office is this",
                 "schema": {"type": "string", "enum": ["01", "02", "03", "04", "05", "06"]}},
                {"name": "overdue", "in": "query", "description": "true: only incoming documents past their due date and still open; false: only the others",
                 "schema": {"type": "string", "enum": ["true", "false"]}},
                {"name": "priority_min", "in": "query", "description": "only documents at least this urgent (3: hỏa tốc and above)",
                 "schema": {"type": "integer", "minimum": 0, "maximum": 4}},
                {"name": "q", "in": "query", "description": "only documents whose trích yếu (subject) contains this text",
                 "schema": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[^\\u0000-\\u001F\\u007F-\\u009F]*$"}},
            ],
            "responses": list_responses,
        },
        "post": {
            "operationId": "createDocument",
            "summary": "Send a new outgoing document (the leader-signed PDF first, then annexes)",
            "description": "Answers 202 only once the document and its files are on disk. A retry \
                with the same Idempotency-Key gets the first answer.",
            "parameters": [
                {"name": "Idempotency-Key", "in": "header", "required": false,
                 "schema": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[!-~]+$"}},
            ],
            "requestBody": document_upload_body(),
            "responses": create_responses,
        },
    })
}

/// The multipart body of a new document (also of a replacement).
pub(super) fn document_upload_body() -> Value {
    json!({
        "required": true,
        "content": {"multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["meta", "file"],
                "additionalProperties": false,
                "properties": {
                    "meta": reference("Meta"),
                    "file": {
                        "type": "array", "minItems": 1,
                        "items": {"type": "string", "format": "binary"},
                        "description": "the files, each a part with a filename: first the PDF signed by the competent person (it must start with %PDF-), then the annexes",
                    },
                },
            },
            "encoding": {"meta": {"contentType": "application/json"}, "file": {"contentType": "application/pdf"}},
        }},
    })
}

fn document() -> Value {
    let mut responses = json!({
        "200": json_answer("the document with its files, events, statuses and signature report", reference("Document")),
        "404": error_answer("no such document (`not_found`)"),
    });
    common_errors(&mut responses);
    json!({
        "get": {
            "operationId": "getDocument",
            "summary": "One document, with everything recorded about it",
            "parameters": [id_parameter()],
            "responses": responses,
        }
    })
}

fn document_file() -> Value {
    let mut responses = json!({
        "200": {
            "description": "the file exactly as stored (incoming: as received, signed)",
            "headers": {
                "X-Content-Sha256": {"schema": {"type": "string", "pattern": "^[0-9a-f]{64}$"}},
                "Content-Disposition": {"schema": {"type": "string"}},
            },
            "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
        },
        "400": error_answer("the file number is not a number (`malformed_request`)"),
        "404": error_answer("no such document or file (`not_found`)"),
    });
    common_errors(&mut responses);
    json!({
        "get": {
            "operationId": "getDocumentFile",
            "summary": "Download one file of a document",
            "parameters": [
                id_parameter(),
                {"name": "n", "in": "path", "required": true, "description": "files count from 1",
                 "schema": {"type": "integer", "minimum": 1, "maximum": u32::MAX}},
            ],
            "responses": responses,
        }
    })
}

fn link() -> Value {
    let mut responses = json!({"200": json_answer("the link to the axis", reference("Link"))});
    common_errors(&mut responses);
    json!({
        "get": {
            "operationId": "getLink",
            "summary": "The axis link: connected or not, last error, queue depth, sealing",
            "responses": responses,
        }
    })
}

fn status() -> Value {
    let mut responses = json!({"200": json_answer("what the status page shows: counts and states, no document content", reference("StatusFacts"))});
    common_errors(&mut responses);
    responses["503"] = json_answer(
        "the gateway is shutting down (`shutting_down`), or the box is not enrolled yet (`not_provisioned`, with `provisioning`)",
        json!({"anyOf": [reference("Error"), reference("NotProvisioned")]}),
    );
    json!({
        "get": {
            "operationId": "getStatus",
            "summary": "The box's status: link, queues, seal, certificates, disk, clock, and every health check",
            "responses": responses,
        }
    })
}

fn openapi() -> Value {
    json!({
        "get": {
            "operationId": "getOpenApi",
            "summary": "This document",
            "security": [],
            "responses": {"200": json_answer("the OpenAPI 3 description of this API", json!({"type": "object"}))},
        }
    })
}

fn metrics() -> Value {
    json!({
        "get": {
            "operationId": "getMetrics",
            "summary": "The status facts in the Prometheus text format (counts and states only)",
            "security": [],
            "responses": {
                "200": {
                    "description": "Prometheus text exposition format 0.0.4",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                },
                "503": {
                    "description": "the store did not answer",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                },
            },
        }
    })
}

fn healthz() -> Value {
    json!({
        "get": {
            "operationId": "getHealth",
            "summary": "Health for monitors: 200 when no check fails, 503 with the failing checks as reasons",
            "security": [],
            "responses": {
                "200": json_answer("healthy", reference("Health")),
                "503": json_answer(
                    "something is wrong; `reasons` say what (`not_provisioned`: the box is not enrolled yet)",
                    json!({"anyOf": [reference("Health"), reference("HealthNotProvisioned")]}),
                ),
            },
        }
    })
}
