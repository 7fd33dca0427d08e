//! Small builders for OpenAPI 3.1 fragments (plain `serde_json`, no codegen), shared by every
//! HTTP surface so their documents merge into the one `GET /openapi.json` the CLI serves.
//!
//! Each surface contributes a [`Fragment`] (its paths and component schemas); [`document`] merges
//! them. The route table of [`crate::http::Routes`] is compared with the merged paths in tests.

use crate::http::Route;
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;

/// `{"type": "string"}`.
pub fn string() -> Value {
    json!({ "type": "string" })
}

/// `{"type": [t, "null"]}`.
pub fn nullable(t: &str) -> Value {
    json!({ "type": [t, "null"] })
}

/// `{"type": "integer"}`.
pub fn int() -> Value {
    json!({ "type": "integer" })
}

/// An RFC 3339 timestamp.
pub fn time() -> Value {
    json!({ "type": "string", "format": "date-time" })
}

/// `$ref` to a component schema.
pub fn reference(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// An array of component `name`.
pub fn array_of(name: &str) -> Value {
    json!({ "type": "array", "items": reference(name) })
}

/// An object schema whose listed properties are all required.
pub fn object(props: &[(&str, Value)]) -> Value {
    let properties: Map<String, Value> = props.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    let required: Vec<&str> = props.iter().map(|(k, _)| *k).collect();
    json!({ "type": "object", "properties": properties, "required": required })
}

/// A JSON response of the shared `Error` schema.
pub fn error_response(description: &str) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": reference("Error") } } })
}

/// The shared refusal shape ([`crate::api_error::ApiError`]): `{"error": CODE, "reason": why}`,
/// and `retry_after` (seconds) on a 429.
pub fn error_schema() -> Value {
    json!({ "type": "object", "required": ["error", "reason"], "additionalProperties": false, "properties": {
        "error": string(), "reason": string(), "retry_after": { "type": "integer", "minimum": 1 } } })
}

/// One surface's part of the document.
#[derive(Debug, Default, Clone)]
pub struct Fragment {
    /// `paths`: template → `{method: operation}`.
    pub paths: Map<String, Value>,
    /// `components.schemas`.
    pub schemas: Map<String, Value>,
    /// `components.securitySchemes`.
    pub security_schemes: Map<String, Value>,
}

impl Fragment {
    /// Adds operation `op` for `method` (lower case) on `path`, beside other methods of the path.
    pub fn operation(&mut self, path: &str, method: &str, op: Value) {
        let entry = self.paths.entry(path.to_string()).or_insert_with(|| json!({}));
        entry[method] = op;
    }
}

/// The merged OpenAPI 3.1 document of `fragments` (paths shared by two surfaces get both method
/// sets; a method documented twice panics: two surfaces cannot serve it).
pub fn document(title: &str, version: &str, description: &str, fragments: &[Fragment]) -> Value {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    let mut security = Map::new();
    schemas.insert("Error".into(), error_schema());
    for f in fragments {
        for (path, ops) in &f.paths {
            let entry = paths.entry(path.clone()).or_insert_with(|| json!({}));
            for (method, op) in ops.as_object().into_iter().flatten() {
                assert!(entry.get(method).is_none(), "{method} {path} is documented by two surfaces");
                let mut op = op.clone();
                // Every route an API key opens may refuse a staff key whose role lacks its
                // permission (crate::permissions).
                let method_upper = method.to_ascii_uppercase();
                let needs = axum::http::Method::from_bytes(method_upper.as_bytes()).ok().and_then(|m| crate::permissions::required(&m, path));
                if let (Some(permission), Some(responses)) = (needs, op.get_mut("responses").and_then(Value::as_object_mut)) {
                    responses.entry("403").or_insert_with(|| error_response(&format!("Insufficient permissions: the key's role lacks {permission}")));
                }
                let limited = axum::http::Method::from_bytes(method_upper.as_bytes()).is_ok_and(|m| crate::rate_limit::limited(&m, path));
                if let (true, Some(responses)) = (limited, op.get_mut("responses").and_then(Value::as_object_mut)) {
                    responses.entry("429").or_insert_with(|| error_response(crate::rate_limit::DOCUMENTED));
                }
                entry[method] = op;
            }
        }
        schemas.extend(f.schemas.clone());
        security.extend(f.security_schemes.clone());
    }
    json!({
        "openapi": "3.1.0",
        "info": { "title": title, "version": version, "description": description },
        "paths": paths,
        "components": { "securitySchemes": security, "schemas": schemas },
    })
}

/// Every `(METHOD, path)` a document describes.
pub fn documented_routes(document: &Value) -> BTreeSet<Route> {
    let mut out = BTreeSet::new();
    for (path, ops) in document["paths"].as_object().into_iter().flatten() {
        for method in ops.as_object().into_iter().flatten().map(|(m, _)| m) {
            if ["get", "put", "post", "delete", "patch", "head", "options", "trace"].contains(&method.as_str()) {
                out.insert(Route { method: method.to_uppercase(), path: path.clone() });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragments_merge_by_path_and_list_their_routes() {
        let mut a = Fragment::default();
        a.operation("/v1/stock", "get", json!({ "summary": "read" }));
        let mut b = Fragment::default();
        b.operation("/v1/stock", "post", json!({ "summary": "write" }));
        b.operation("/v1/x/{id}", "put", json!({}));
        let doc = document("t", "1", "d", &[a, b]);
        let routes: Vec<String> = documented_routes(&doc).iter().map(Route::to_string).collect();
        assert_eq!(routes, ["GET /v1/stock", "POST /v1/stock", "PUT /v1/x/{id}"]);
        assert!(doc["components"]["schemas"]["Error"].is_object());
    }
}
