//! The OpenAPI 3 description of the local API, served at `/api/v1/openapi.json`. Built
//! from the same constants and enumerations the server uses (states, page size, limits), so
//! the document and the server cannot drift apart silently; `tests/openapi.rs` checks the
//! running server against it with an independent tool (schemathesis). Describes; never
//! handles a request itself.

mod clerk;
mod paths;
mod provisioning;
mod registers;
mod schemas;

use serde_json::{json, Value};

/// The whole document, for a gateway that also accepts `extra_agency_codes` (configured
/// exceptions to the agency-code shape, e.g. test systems).
pub fn document(extra_agency_codes: &[String]) -> Value {
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "docgate local API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The LAN-side API of a docgate gateway: the office's document software \
                sends outgoing documents, follows their statuses, and handles incoming ones. \
                Every answer is JSON except file downloads and register exports; every error is \
                {\"error\": {\"code\", \"message\"}}.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths::paths(),
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "api.token from docgate.toml"
                }
            },
            "schemas": schemas::components(extra_agency_codes),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `$ref` names a schema that exists.
    #[test]
    fn references_resolve() {
        let document = document(&[]);
        let schemas = document["components"]["schemas"]
            .as_object()
            .expect("schemas")
            .clone();
        let mut stack = vec![document];
        let mut seen = 0;
        while let Some(value) = stack.pop() {
            match value {
                Value::Object(map) => {
                    if let Some(Value::String(target)) = map.get("$ref") {
                        let name = target
                            .strip_prefix("#/components/schemas/")
                            .expect("local schema reference");
                        assert!(schemas.contains_key(name), "{target} does not resolve");
                        seen += 1;
                    }
                    stack.extend(map.into_iter().map(|(_, value)| value));
                }
                Value::Array(items) => stack.extend(items),
                _ => {}
            }
        }
        assert!(seen > 10, "only {seen} references");
    }

    /// Configured exceptions become part of the agency-code pattern, quoted.
    #[test]
    fn agency_code_pattern_lists_the_exceptions() {
        let document = document(&["vxp.saas.03".to_string()]);
        let pattern = document["components"]["schemas"]["Meta"]["properties"]["to"]["items"]
            ["pattern"]
            .as_str()
            .expect("pattern");
        assert!(pattern.ends_with("|vxp\\.saas\\.03)$"), "{pattern}");
    }

    /// Each operation has an id, a summary and at least one documented answer.
    #[test]
    fn operations_are_complete() {
        let document = document(&[]);
        let paths = document["paths"].as_object().expect("paths");
        for (path, item) in paths {
            for (method, operation) in item.as_object().expect("path item") {
                if method == "parameters" {
                    continue;
                }
                let what = format!("{method} {path}");
                assert!(operation["operationId"].is_string(), "{what}: operationId");
                assert!(operation["summary"].is_string(), "{what}: summary");
                assert!(
                    operation["responses"]
                        .as_object()
                        .is_some_and(|responses| !responses.is_empty()),
                    "{what}: responses"
                );
            }
        }
    }
}
