//! Schema-directed conversion between serde JSON and Avro values.
//!
//! JSON conventions (shared by the Rust types and `souk produce`/`consume`):
//! - a union with one non-null branch is the plain value or `null`;
//! - a union of several records is `{"ShortName": {...}}` (serde's externally tagged enum; the full
//!   name is accepted too);
//! - `decimal` is a JSON string (`"20.500"`) or number, converted exactly; `timestamp-millis` is a number.

use crate::decimal::{from_avro_bytes, to_avro_bytes};
use apache_avro::types::Value as Avro;
use rust_decimal::Decimal;
use serde_json::{Map, Value as Json};
use std::collections::HashMap;
use std::str::FromStr;

/// A value that does not fit its schema, with the path to the offending field.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("at {path}: {reason}")]
pub struct ConvertError {
    /// Dotted path from the top of the record, e.g. `Reserved.allocations[0].meters`.
    pub path: String,
    /// What is wrong there.
    pub reason: String,
}

struct Named<'a>(HashMap<String, &'a Json>);

impl<'a> Named<'a> {
    fn collect(schema: &'a Json) -> Named<'a> {
        let mut map = HashMap::new();
        collect_named(schema, None, &mut map);
        Named(map)
    }
    fn resolve(&self, schema: &'a Json) -> &'a Json {
        match schema {
            Json::String(n) => self.0.get(n.as_str()).copied().unwrap_or(schema),
            _ => schema,
        }
    }
}

fn collect_named<'a>(schema: &'a Json, ns: Option<&str>, map: &mut HashMap<String, &'a Json>) {
    match schema {
        Json::Array(items) => items.iter().for_each(|s| collect_named(s, ns, map)),
        Json::Object(obj) => {
            let mut own = ns.map(str::to_string);
            if let Some(full) = crate::catalog::full_name(schema, ns) {
                if matches!(obj.get("type").and_then(Json::as_str), Some("record" | "enum" | "fixed")) {
                    own = full.rsplit_once('.').map(|(n, _)| n.to_string());
                    map.insert(full, schema);
                }
            }
            for key in ["type", "items", "values"] {
                if let Some(v) = obj.get(key) {
                    collect_named(v, own.as_deref(), map);
                }
            }
            for f in obj.get("fields").and_then(Json::as_array).into_iter().flatten() {
                if let Some(t) = f.get("type") {
                    collect_named(t, own.as_deref(), map);
                }
            }
        }
        _ => {}
    }
}

fn err(path: &str, reason: impl Into<String>) -> ConvertError {
    ConvertError { path: if path.is_empty() { "$".into() } else { path.to_string() }, reason: reason.into() }
}

fn type_name(schema: &Json) -> &str {
    match schema {
        Json::String(s) => s,
        Json::Object(o) => o.get("type").and_then(Json::as_str).unwrap_or("?"),
        Json::Array(_) => "union",
        _ => "?",
    }
}

fn short(name: &str) -> &str {
    name.rsplit('.').next().unwrap_or(name)
}

/// Converts JSON to an Avro value of `schema` (a self-contained schema as composed by the catalog).
pub fn json_to_avro(schema: &Json, value: &Json) -> Result<Avro, ConvertError> {
    let named = Named::collect(schema);
    to_avro(&named, schema, value, "")
}

fn to_avro(named: &Named, schema: &Json, value: &Json, path: &str) -> Result<Avro, ConvertError> {
    let schema = named.resolve(schema);
    if let Json::Array(branches) = schema {
        return union_to_avro(named, branches, value, path);
    }
    let obj = schema.as_object();
    let logical = obj.and_then(|o| o.get("logicalType")).and_then(Json::as_str);
    let mismatch = || err(path, format!("expected {}, got {value}", type_name(schema)));
    match (type_name(schema), logical) {
        ("null", _) => value.is_null().then_some(Avro::Null).ok_or_else(mismatch),
        ("boolean", _) => value.as_bool().map(Avro::Boolean).ok_or_else(mismatch),
        ("int", _) => value.as_i64().and_then(|v| i32::try_from(v).ok()).map(Avro::Int).ok_or_else(mismatch),
        ("long", Some("timestamp-millis")) => value.as_i64().map(Avro::TimestampMillis).ok_or_else(mismatch),
        ("long", _) => value.as_i64().map(Avro::Long).ok_or_else(mismatch),
        ("double", _) => value.as_f64().map(Avro::Double).ok_or_else(mismatch),
        ("float", _) => value.as_f64().map(|v| Avro::Float(v as f32)).ok_or_else(mismatch),
        ("string", _) => value.as_str().map(|s| Avro::String(s.to_string())).ok_or_else(mismatch),
        ("bytes", Some("decimal")) => {
            let o = obj.expect("decimal is an object schema");
            let precision = o.get("precision").and_then(Json::as_u64).unwrap_or(38) as u32;
            let scale = o.get("scale").and_then(Json::as_u64).unwrap_or(0) as u32;
            let text = match value {
                Json::String(s) => s.clone(),
                Json::Number(n) => n.to_string(),
                _ => return Err(mismatch()),
            };
            let dec = Decimal::from_str(&text).or_else(|_| Decimal::from_scientific(&text)).map_err(|e| err(path, format!("{text:?} is not a decimal: {e}")))?;
            let bytes = to_avro_bytes(dec, precision, scale).map_err(|e| err(path, e.to_string()))?;
            Ok(Avro::Decimal(apache_avro::Decimal::from(bytes)))
        }
        ("bytes", _) => {
            let items = value.as_array().ok_or_else(mismatch)?;
            items.iter().map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok())).collect::<Option<Vec<u8>>>().map(Avro::Bytes).ok_or_else(mismatch)
        }
        ("array", _) => {
            let items = value.as_array().ok_or_else(mismatch)?;
            let item_schema = &obj.expect("array schema")["items"];
            let out = items.iter().enumerate().map(|(i, v)| to_avro(named, item_schema, v, &format!("{path}[{i}]"))).collect::<Result<_, _>>()?;
            Ok(Avro::Array(out))
        }
        ("map", _) => {
            let entries = value.as_object().ok_or_else(mismatch)?;
            let value_schema = &obj.expect("map schema")["values"];
            let out = entries.iter().map(|(k, v)| Ok((k.clone(), to_avro(named, value_schema, v, &format!("{path}.{k}"))?))).collect::<Result<_, ConvertError>>()?;
            Ok(Avro::Map(out))
        }
        ("enum", _) => {
            let symbol = value.as_str().ok_or_else(mismatch)?;
            let symbols = obj.and_then(|o| o.get("symbols")).and_then(Json::as_array).cloned().unwrap_or_default();
            let idx = symbols.iter().position(|s| s.as_str() == Some(symbol)).ok_or_else(|| err(path, format!("{symbol:?} is not one of {symbols:?}")))?;
            Ok(Avro::Enum(idx as u32, symbol.to_string()))
        }
        ("record", _) => {
            let o = obj.expect("record schema");
            let fields_in = value.as_object().ok_or_else(mismatch)?;
            let name = o.get("name").and_then(Json::as_str).unwrap_or("record");
            let mut fields = Vec::new();
            for f in o.get("fields").and_then(Json::as_array).into_iter().flatten() {
                let fname = f["name"].as_str().unwrap_or_default();
                let fpath = if path.is_empty() { format!("{}.{fname}", short(name)) } else { format!("{path}.{fname}") };
                let v = match (fields_in.get(fname), f.get("default")) {
                    (Some(v), _) => v,
                    (None, Some(default)) => default,
                    (None, None) => return Err(err(&fpath, "missing field")),
                };
                fields.push((fname.to_string(), to_avro(named, &f["type"], v, &fpath)?));
            }
            Ok(Avro::Record(fields))
        }
        (other, _) => Err(err(path, format!("unsupported schema type {other}"))),
    }
}

fn union_to_avro(named: &Named, branches: &[Json], value: &Json, path: &str) -> Result<Avro, ConvertError> {
    if value.is_null() {
        if let Some(i) = branches.iter().position(|b| b == "null") {
            return Ok(Avro::Union(i as u32, Box::new(Avro::Null)));
        }
    }
    // Tagged form {"Name": {...}} selects a named branch.
    if let Some((tag, inner)) = value.as_object().filter(|o| o.len() == 1).and_then(|o| o.iter().next()) {
        for (i, b) in branches.iter().enumerate() {
            if let Some(full) = branch_name(named, b) {
                if full == *tag || short(&full) == tag {
                    let v = to_avro(named, b, inner, &format!("{path}{}", short(&full)))?;
                    return Ok(Avro::Union(i as u32, Box::new(v)));
                }
            }
        }
    }
    let non_null: Vec<usize> = (0..branches.len()).filter(|&i| branches[i] != "null").collect();
    let mut last = None;
    for i in non_null {
        match to_avro(named, &branches[i], value, path) {
            Ok(v) => return Ok(Avro::Union(i as u32, Box::new(v))),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| err(path, format!("{value} matches no branch of the union"))))
}

fn branch_name(named: &Named, branch: &Json) -> Option<String> {
    let resolved = named.resolve(branch);
    resolved.get("name").and_then(Json::as_str).map(str::to_string).or_else(|| branch.as_str().map(str::to_string))
}

/// The same schema with every named-type reference spelled by its full name and every named
/// type declared as short name + explicit namespace (one spelling for equal schemas). Registries may hand back a schema rewritten with short
/// references relative to the enclosing namespace (Apicurio does: `"BatchAllocation"` inside
/// `souk.inventory.Committed`); the converter looks named types up by full name.
pub fn qualify_references(schema: &Json) -> Json {
    qualify_in(schema, None)
}

const PRIMITIVES: [&str; 8] = ["null", "boolean", "int", "long", "float", "double", "bytes", "string"];

fn qualify_in(schema: &Json, ns: Option<&str>) -> Json {
    match schema {
        Json::String(name) if !PRIMITIVES.contains(&name.as_str()) && !name.contains('.') => match ns {
            Some(ns) => Json::String(format!("{ns}.{name}")),
            None => schema.clone(),
        },
        Json::Array(items) => Json::Array(items.iter().map(|s| qualify_in(s, ns)).collect()),
        Json::Object(obj) => {
            let mut out = obj.clone();
            let kind = obj.get("type").and_then(Json::as_str);
            let mut own = ns.map(str::to_string);
            if matches!(kind, Some("record" | "enum" | "fixed")) {
                if let Some(full) = crate::catalog::full_name(schema, ns) {
                    if let Some((namespace, short)) = full.rsplit_once('.') {
                        out.insert("name".into(), Json::String(short.to_string()));
                        out.insert("namespace".into(), Json::String(namespace.to_string()));
                        own = Some(namespace.to_string());
                    }
                }
            } else if let Some(t) = obj.get("type") {
                if !matches!(kind, Some("array" | "map")) {
                    out.insert("type".into(), qualify_in(t, ns));
                }
            }
            for key in ["items", "values"] {
                if let Some(v) = obj.get(key) {
                    out.insert(key.into(), qualify_in(v, ns));
                }
            }
            if let Some(fields) = obj.get("fields").and_then(Json::as_array) {
                let fields = fields
                    .iter()
                    .map(|f| {
                        let mut f = f.clone();
                        if let Some(t) = f.get("type").cloned() {
                            f["type"] = qualify_in(&t, own.as_deref());
                        }
                        f
                    })
                    .collect();
                out.insert("fields".into(), Json::Array(fields));
            }
            Json::Object(out)
        }
        _ => schema.clone(),
    }
}

/// Converts a decoded Avro value of `schema` back to JSON (the inverse of [`json_to_avro`]).
pub fn avro_to_json(schema: &Json, value: &Avro) -> Result<Json, ConvertError> {
    let named = Named::collect(schema);
    to_json(&named, schema, value, "")
}

fn to_json(named: &Named, schema: &Json, value: &Avro, path: &str) -> Result<Json, ConvertError> {
    let schema = named.resolve(schema);
    if let Json::Array(branches) = schema {
        let (idx, inner) = match value {
            Avro::Union(i, v) => (*i as usize, v.as_ref()),
            other => return Err(err(path, format!("expected a union value, got {other:?}"))),
        };
        let branch = branches.get(idx).ok_or_else(|| err(path, format!("union branch {idx} out of range")))?;
        let json = to_json(named, branch, inner, path)?;
        let non_null = branches.iter().filter(|b| *b != "null").count();
        return match branch_name(named, branch).filter(|_| non_null > 1) {
            Some(name) => Ok(Json::Object(Map::from_iter([(short(&name).to_string(), json)]))),
            None => Ok(json),
        };
    }
    let obj = schema.as_object();
    Ok(match value {
        Avro::Null => Json::Null,
        Avro::Boolean(b) => Json::Bool(*b),
        Avro::Int(i) => Json::from(*i),
        Avro::Long(i) | Avro::TimestampMillis(i) | Avro::TimestampMicros(i) => Json::from(*i),
        Avro::Float(f) => Json::from(*f as f64),
        Avro::Double(f) => Json::from(*f),
        Avro::String(s) | Avro::Enum(_, s) => Json::String(s.clone()),
        Avro::Uuid(u) => Json::String(u.to_string()),
        Avro::Bytes(b) => Json::Array(b.iter().map(|x| Json::from(*x)).collect()),
        Avro::Decimal(d) => {
            let scale = obj.and_then(|o| o.get("scale")).and_then(Json::as_u64).unwrap_or(0) as u32;
            let bytes = Vec::<u8>::try_from(d).map_err(|e| err(path, e.to_string()))?;
            Json::String(from_avro_bytes(&bytes, scale).map_err(|e| err(path, e.to_string()))?.to_string())
        }
        Avro::Array(items) => {
            let item_schema = obj.map(|o| &o["items"]).ok_or_else(|| err(path, "array without items schema"))?;
            Json::Array(items.iter().enumerate().map(|(i, v)| to_json(named, item_schema, v, &format!("{path}[{i}]"))).collect::<Result<_, _>>()?)
        }
        Avro::Map(entries) => {
            let value_schema = obj.map(|o| &o["values"]).ok_or_else(|| err(path, "map without values schema"))?;
            let mut sorted: Vec<_> = entries.iter().collect();
            sorted.sort_by(|a, b| a.0.cmp(b.0));
            Json::Object(sorted.into_iter().map(|(k, v)| Ok((k.clone(), to_json(named, value_schema, v, &format!("{path}.{k}"))?))).collect::<Result<_, ConvertError>>()?)
        }
        Avro::Record(fields) => {
            let defs = obj.and_then(|o| o.get("fields")).and_then(Json::as_array).cloned().unwrap_or_default();
            let mut out = Map::new();
            for (name, v) in fields {
                let fschema = defs.iter().find(|f| f["name"] == name.as_str()).map(|f| &f["type"]).ok_or_else(|| err(path, format!("field {name} not in schema")))?;
                out.insert(name.clone(), to_json(named, fschema, v, &format!("{path}.{name}"))?);
            }
            Json::Object(out)
        }
        other => return Err(err(path, format!("unsupported Avro value {other:?}"))),
    })
}

#[cfg(test)]
#[allow(deprecated)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use serde_json::json;

    fn inventory_schema() -> Json {
        Catalog::builtin().unwrap().topic_schema(&["souk.inventory.ReserveRequested".into(), "souk.clock.Tick".into()]).unwrap()
    }

    #[test]
    fn short_references_of_a_rewritten_schema_are_qualified() {
        let schema = json!([
            {"type": "record", "name": "A", "namespace": "souk.x", "fields": [
                {"name": "items", "type": {"type": "array", "items": {"type": "record", "name": "Item", "fields": [{"name": "id", "type": "string"}]}}}
            ]},
            {"type": "record", "name": "B", "namespace": "souk.x", "fields": [
                {"name": "items", "type": {"type": "array", "items": "Item"}},
                {"name": "maybe", "type": ["null", "Item"]},
                {"name": "other", "type": "souk.y.Z"}
            ]}
        ]);
        let q = qualify_references(&schema);
        assert_eq!(q[1]["fields"][0]["type"]["items"], json!("souk.x.Item"));
        assert_eq!(q[1]["fields"][1]["type"], json!(["null", "souk.x.Item"]));
        assert_eq!(q[1]["fields"][2]["type"], json!("souk.y.Z"));
        assert_eq!(q[0]["fields"][0]["type"]["items"]["namespace"], json!("souk.x"));
        let full = json!({"type": "record", "name": "souk.x.A", "fields": []});
        assert_eq!(qualify_references(&full), json!({"type": "record", "name": "A", "namespace": "souk.x", "fields": []}));
        assert_eq!(q[0]["fields"][0]["type"]["items"]["fields"][0]["type"], json!("string"));
    }

    #[test]
    fn union_of_records_round_trips_through_avro_bytes() {
        let schema = inventory_schema();
        let input = json!({"ReserveRequested": {
            "envelope": {"event_id": "e1", "tenant_id": "acme", "occurred_at": 5, "causation_id": null, "correlation_id": "c"},
            "hold_id": "h1", "order_id": "o1", "line_id": "l1", "meters": "20.5", "ttl_ms": 1000}});
        let avro = json_to_avro(&schema, &input).unwrap();
        let parsed = apache_avro::Schema::parse(&schema).unwrap();
        let bytes = apache_avro::to_avro_datum(&parsed, avro).unwrap();
        let back = apache_avro::from_avro_datum(&parsed, &mut bytes.as_slice(), None).unwrap();
        let json = avro_to_json(&schema, &back).unwrap();
        assert_eq!(json["ReserveRequested"]["meters"], "20.500");
        assert_eq!(json["ReserveRequested"]["hold_id"], "h1");
    }

    #[test]
    fn missing_field_names_its_path() {
        let schema = inventory_schema();
        let input = json!({"ReserveRequested": {"hold_id": "h1"}});
        let e = json_to_avro(&schema, &input).unwrap_err();
        assert_eq!(e.path, "ReserveRequested.envelope");
    }

    #[test]
    fn defaults_fill_missing_fields() {
        let schema = inventory_schema();
        let input = json!({"ReserveRequested": {
            "envelope": {"event_id": "e1", "tenant_id": "acme", "occurred_at": 5, "correlation_id": "c"},
            "hold_id": "h1", "order_id": "o1", "line_id": "l1", "meters": 3}});
        assert!(json_to_avro(&schema, &input).is_ok());
    }
}
