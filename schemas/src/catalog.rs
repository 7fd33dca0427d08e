//! The catalog of record schemas shipped in `schemas/avro/*.avsc`, and the composition of one
//! self-contained schema per topic (a record, or a union of records so that one key's events of
//! several types keep their order on one topic).

use serde_json::{Map, Value as Json};
use std::collections::{BTreeMap, HashSet};

/// Every `.avsc` file of the project, embedded at compile time so the binary is self-sufficient.
const BUILTIN: &[(&str, &str)] = &[
    ("envelope.avsc", include_str!("../avro/envelope.avsc")),
    ("clock_tick.avsc", include_str!("../avro/clock_tick.avsc")),
    ("batch_allocation.avsc", include_str!("../avro/batch_allocation.avsc")),
    ("batch_level.avsc", include_str!("../avro/batch_level.avsc")),
    ("batch_received.avsc", include_str!("../avro/batch_received.avsc")),
    ("batch_adjusted.avsc", include_str!("../avro/batch_adjusted.avsc")),
    ("reserve_requested.avsc", include_str!("../avro/reserve_requested.avsc")),
    ("commit_requested.avsc", include_str!("../avro/commit_requested.avsc")),
    ("release_requested.avsc", include_str!("../avro/release_requested.avsc")),
    ("reserved.avsc", include_str!("../avro/reserved.avsc")),
    ("reserve_rejected.avsc", include_str!("../avro/reserve_rejected.avsc")),
    ("committed.avsc", include_str!("../avro/committed.avsc")),
    ("released.avsc", include_str!("../avro/released.avsc")),
    ("hold_expired.avsc", include_str!("../avro/hold_expired.avsc")),
    ("hold_command_rejected.avsc", include_str!("../avro/hold_command_rejected.avsc")),
    ("stock_level_changed.avsc", include_str!("../avro/stock_level_changed.avsc")),
    ("status_error.avsc", include_str!("../avro/status_error.avsc")),
    ("reply_button.avsc", include_str!("../avro/reply_button.avsc")),
    ("stock_alternative.avsc", include_str!("../avro/stock_alternative.avsc")),
    ("intent_line.avsc", include_str!("../avro/intent_line.avsc")),
    ("item_decision.avsc", include_str!("../avro/item_decision.avsc")),
    ("invoice_line.avsc", include_str!("../avro/invoice_line.avsc")),
    ("inbound_message.avsc", include_str!("../avro/inbound_message.avsc")),
    ("delivery_status.avsc", include_str!("../avro/delivery_status.avsc")),
    ("outbound_message_requested.avsc", include_str!("../avro/outbound_message_requested.avsc")),
    ("outbound_dispatched.avsc", include_str!("../avro/outbound_dispatched.avsc")),
    ("outbound_failed.avsc", include_str!("../avro/outbound_failed.avsc")),
    ("intent_resolved.avsc", include_str!("../avro/intent_resolved.avsc")),
    ("owner_decision.avsc", include_str!("../avro/owner_decision.avsc")),
    ("order_line.avsc", include_str!("../avro/order_line.avsc")),
    ("order_updated.avsc", include_str!("../avro/order_updated.avsc")),
    ("command_outcome.avsc", include_str!("../avro/command_outcome.avsc")),
    ("escalation_raised.avsc", include_str!("../avro/escalation_raised.avsc")),
    ("catalog_item_upserted.avsc", include_str!("../avro/catalog_item_upserted.avsc")),
    ("invoice_requested.avsc", include_str!("../avro/invoice_requested.avsc")),
    ("tenant_settings_changed.avsc", include_str!("../avro/tenant_settings_changed.avsc")),
    ("invoice_issued.avsc", include_str!("../avro/invoice_issued.avsc")),
    ("payment_recorded.avsc", include_str!("../avro/payment_recorded.avsc")),
    ("ledger_entry_appended.avsc", include_str!("../avro/ledger_entry_appended.avsc")),
    ("payment_reminder_due.avsc", include_str!("../avro/payment_reminder_due.avsc")),
    ("store_record.avsc", include_str!("../avro/store_record.avsc")),
    ("negotiation_requested.avsc", include_str!("../avro/negotiation_requested.avsc")),
    ("partner_replied.avsc", include_str!("../avro/partner_replied.avsc")),
    ("user_decided.avsc", include_str!("../avro/user_decided.avsc")),
    ("alternative_found.avsc", include_str!("../avro/alternative_found.avsc")),
    ("no_alternative_found.avsc", include_str!("../avro/no_alternative_found.avsc")),
    ("negotiation_updated.avsc", include_str!("../avro/negotiation_updated.avsc")),
    ("partner_reply_classified.avsc", include_str!("../avro/partner_reply_classified.avsc")),
    ("resourcing_requested.avsc", include_str!("../avro/resourcing_requested.avsc")),
    ("user_notified.avsc", include_str!("../avro/user_notified.avsc")),
    ("leg_replaced.avsc", include_str!("../avro/leg_replaced.avsc")),
    ("partner_upserted.avsc", include_str!("../avro/partner_upserted.avsc")),
    ("product_upserted.avsc", include_str!("../avro/product_upserted.avsc")),
    ("bundle_leg.avsc", include_str!("../avro/bundle_leg.avsc")),
    ("bundle_requested.avsc", include_str!("../avro/bundle_requested.avsc")),
    ("bundle_updated.avsc", include_str!("../avro/bundle_updated.avsc")),
    ("chat_message_received.avsc", include_str!("../avro/chat_message_received.avsc")),
    ("chat_intent_resolved.avsc", include_str!("../avro/chat_intent_resolved.avsc")),
    ("escalation_assigned.avsc", include_str!("../avro/escalation_assigned.avsc")),
    ("escalation_work_started.avsc", include_str!("../avro/escalation_work_started.avsc")),
    ("escalation_resolved.avsc", include_str!("../avro/escalation_resolved.avsc")),
    ("escalation_updated.avsc", include_str!("../avro/escalation_updated.avsc")),
    ("escalation_command_rejected.avsc", include_str!("../avro/escalation_command_rejected.avsc")),
    ("human_intervened.avsc", include_str!("../avro/human_intervened.avsc")),
    ("item_add_requested.avsc", include_str!("../avro/item_add_requested.avsc")),
    ("conflict_simulated.avsc", include_str!("../avro/conflict_simulated.avsc")),
    ("simulated_partner_upserted.avsc", include_str!("../avro/simulated_partner_upserted.avsc")),
    ("simulator_answered.avsc", include_str!("../avro/simulator_answered.avsc")),
    ("simulator_queue_item.avsc", include_str!("../avro/simulator_queue_item.avsc")),
    ("ranking_weights_set.avsc", include_str!("../avro/ranking_weights_set.avsc")),
    ("partner_promoted.avsc", include_str!("../avro/partner_promoted.avsc")),
    ("consent_changed.avsc", include_str!("../avro/consent_changed.avsc")),
    ("intent_condition.avsc", include_str!("../avro/intent_condition.avsc")),
    ("standing_intent_requested.avsc", include_str!("../avro/standing_intent_requested.avsc")),
    ("observation_recorded.avsc", include_str!("../avro/observation_recorded.avsc")),
    ("watch_changed.avsc", include_str!("../avro/watch_changed.avsc")),
    ("condition_observed.avsc", include_str!("../avro/condition_observed.avsc")),
    ("intent_decided.avsc", include_str!("../avro/intent_decided.avsc")),
    ("intent_cancel_requested.avsc", include_str!("../avro/intent_cancel_requested.avsc")),
    ("condition_check.avsc", include_str!("../avro/condition_check.avsc")),
    ("standing_intent_updated.avsc", include_str!("../avro/standing_intent_updated.avsc")),
    ("progress_logged.avsc", include_str!("../avro/progress_logged.avsc")),
    ("narrated.avsc", include_str!("../avro/narrated.avsc")),
    ("checkout_requested.avsc", include_str!("../avro/checkout_requested.avsc")),
    ("payment_command.avsc", include_str!("../avro/payment_command.avsc")),
    ("payment_result.avsc", include_str!("../avro/payment_result.avsc")),
    ("leg_delivered.avsc", include_str!("../avro/leg_delivered.avsc")),
    ("checkout_leg.avsc", include_str!("../avro/checkout_leg.avsc")),
    ("checkout_updated.avsc", include_str!("../avro/checkout_updated.avsc")),
    ("checkout_finished.avsc", include_str!("../avro/checkout_finished.avsc")),
    ("subject_key_issued.avsc", include_str!("../avro/subject_key_issued.avsc")),
    ("customer_message_received.avsc", include_str!("../avro/customer_message_received.avsc")),
    ("window_message.avsc", include_str!("../avro/window_message.avsc")),
    ("draft_requested.avsc", include_str!("../avro/draft_requested.avsc")),
    ("draft_generated.avsc", include_str!("../avro/draft_generated.avsc")),
    ("reply_decided.avsc", include_str!("../avro/reply_decided.avsc")),
    ("social_send_requested.avsc", include_str!("../avro/social_send_requested.avsc")),
    ("social_send_result.avsc", include_str!("../avro/social_send_result.avsc")),
    ("social_status_received.avsc", include_str!("../avro/social_status_received.avsc")),
    ("conversation_updated.avsc", include_str!("../avro/conversation_updated.avsc")),
    ("reply_updated.avsc", include_str!("../avro/reply_updated.avsc")),
    ("notification_raised.avsc", include_str!("../avro/notification_raised.avsc")),
    ("notification_closed.avsc", include_str!("../avro/notification_closed.avsc")),
    ("notification_updated.avsc", include_str!("../avro/notification_updated.avsc")),
    ("erasure_requested.avsc", include_str!("../avro/erasure_requested.avsc")),
    ("conversation_erased.avsc", include_str!("../avro/conversation_erased.avsc")),
    ("variant_definition.avsc", include_str!("../avro/variant_definition.avsc")),
    ("product_defined.avsc", include_str!("../avro/product_defined.avsc")),
    ("product_patched.avsc", include_str!("../avro/product_patched.avsc")),
    ("stock_adjust_requested.avsc", include_str!("../avro/stock_adjust_requested.avsc")),
    ("reservation_requested.avsc", include_str!("../avro/reservation_requested.avsc")),
    ("reservation_settled.avsc", include_str!("../avro/reservation_settled.avsc")),
    ("variant_level.avsc", include_str!("../avro/variant_level.avsc")),
    ("product_updated.avsc", include_str!("../avro/product_updated.avsc")),
    ("stock_movement_recorded.avsc", include_str!("../avro/stock_movement_recorded.avsc")),
    ("product_command_rejected.avsc", include_str!("../avro/product_command_rejected.avsc")),
    ("product_availability_changed.avsc", include_str!("../avro/product_availability_changed.avsc")),
    ("low_stock_crossed.avsc", include_str!("../avro/low_stock_crossed.avsc")),
    ("restocked.avsc", include_str!("../avro/restocked.avsc")),
    ("reservation_updated.avsc", include_str!("../avro/reservation_updated.avsc")),
    ("variant_availability.avsc", include_str!("../avro/variant_availability.avsc")),
    ("product_availability.avsc", include_str!("../avro/product_availability.avsc")),
    ("rule_condition.avsc", include_str!("../avro/rule_condition.avsc")),
    ("rule_taught.avsc", include_str!("../avro/rule_taught.avsc")),
    ("rule_confirmed.avsc", include_str!("../avro/rule_confirmed.avsc")),
    ("rule_changed.avsc", include_str!("../avro/rule_changed.avsc")),
    ("rule_delete_requested.avsc", include_str!("../avro/rule_delete_requested.avsc")),
    ("rule_updated.avsc", include_str!("../avro/rule_updated.avsc")),
    ("rule_command_rejected.avsc", include_str!("../avro/rule_command_rejected.avsc")),
    ("auth_attempted.avsc", include_str!("../avro/auth_attempted.avsc")),
    ("security_anomaly.avsc", include_str!("../avro/security_anomaly.avsc")),
    ("connection_authorized.avsc", include_str!("../avro/connection_authorized.avsc")),
    ("connection_disconnected.avsc", include_str!("../avro/connection_disconnected.avsc")),
    ("connection_updated.avsc", include_str!("../avro/connection_updated.avsc")),
];

/// Why a schema could not be loaded or composed.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// A file is not valid JSON or lacks a record name.
    #[error("{file}: {reason}")]
    BadFile { file: String, reason: String },
    /// A topic names a record that no `.avsc` defines.
    #[error("unknown record {0}; known: {1}")]
    UnknownRecord(String, String),
    /// The composed schema is not valid Avro.
    #[error("schema for [{records}] is not valid Avro: {reason}")]
    InvalidAvro { records: String, reason: String },
}

/// Named record schemas by full name (`souk.inventory.Reserved`).
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    records: BTreeMap<String, Json>,
}

impl Catalog {
    /// The schemas compiled into this binary.
    pub fn builtin() -> Result<Catalog, CatalogError> {
        let mut catalog = Catalog::default();
        for (file, text) in BUILTIN {
            catalog.add(file, text)?;
        }
        Ok(catalog)
    }

    /// Adds one record schema (e.g. a new version from disk, in tests of evolution).
    pub fn add(&mut self, file: &str, text: &str) -> Result<String, CatalogError> {
        let bad = |reason: String| CatalogError::BadFile { file: file.to_string(), reason };
        let json: Json = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        let name = full_name(&json, None).ok_or_else(|| bad("no record name".into()))?;
        self.records.insert(name.clone(), json);
        Ok(name)
    }

    /// The named records defined anywhere inside a composed schema (e.g. one read back from the
    /// registry), so each union branch can be recomposed standalone.
    pub fn from_composed(schema: &Json) -> Catalog {
        fn walk(schema: &Json, ns: Option<&str>, out: &mut BTreeMap<String, Json>) {
            match schema {
                Json::Array(items) => items.iter().for_each(|s| walk(s, ns, out)),
                Json::Object(obj) => {
                    let mut own = ns.map(str::to_string);
                    if matches!(obj.get("type").and_then(Json::as_str), Some("record" | "enum" | "fixed")) {
                        if let Some(full) = full_name(schema, ns) {
                            own = full.rsplit_once('.').map(|(n, _)| n.to_string());
                            let mut def = obj.clone();
                            def.insert("name".into(), Json::String(full.clone()));
                            def.remove("namespace");
                            out.insert(full, Json::Object(def));
                        }
                    }
                    for key in ["type", "items", "values"] {
                        if let Some(v) = obj.get(key) {
                            walk(v, own.as_deref(), out);
                        }
                    }
                    for f in obj.get("fields").and_then(Json::as_array).into_iter().flatten() {
                        if let Some(t) = f.get("type") {
                            walk(t, own.as_deref(), out);
                        }
                    }
                }
                _ => {}
            }
        }
        let mut records = BTreeMap::new();
        walk(schema, None, &mut records);
        Catalog { records }
    }

    /// BACKWARD compatibility of a topic schema change: data written with `old` must be readable
    /// with `new`. Unions of records are checked branch by branch (by record name, each branch
    /// recomposed standalone), because a shallow union check only compares branch names.
    pub fn check_backward(old: &Json, new: &Json) -> Result<(), String> {
        let parse = |j: &Json| apache_avro::Schema::parse(j).map_err(|e| e.to_string());
        let (old_cat, new_cat) = (Catalog::from_composed(old), Catalog::from_composed(new));
        let branches = |j: &Json| -> Vec<String> {
            match j {
                Json::Array(items) => items.iter().filter_map(|b| full_name(b, None).or_else(|| b.as_str().map(str::to_string))).collect(),
                other => full_name(other, None).into_iter().collect(),
            }
        };
        let new_branches = branches(new);
        for name in branches(old) {
            if !new_branches.contains(&name) {
                return Err(format!("{name} was removed: data written with it could not be read"));
            }
            let o = parse(&old_cat.topic_schema(std::slice::from_ref(&name)).map_err(|e| e.to_string())?)?;
            let n = parse(&new_cat.topic_schema(std::slice::from_ref(&name)).map_err(|e| e.to_string())?)?;
            apache_avro::schema_compatibility::SchemaCompatibility::can_read(&o, &n).map_err(|e| format!("{name}: {e}"))?;
        }
        Ok(())
    }

    /// Every known full name.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.records.keys().map(String::as_str)
    }

    /// A self-contained schema for a topic: the record itself when one name is given, else a
    /// union of the records in the given order; named types are defined inline at first use.
    pub fn topic_schema(&self, records: &[String]) -> Result<Json, CatalogError> {
        let mut defined = HashSet::new();
        let mut parts = Vec::with_capacity(records.len());
        for name in records {
            parts.push(self.inline(&Json::String(name.clone()), None, &mut defined)?);
        }
        let schema = if parts.len() == 1 { parts.remove(0) } else { Json::Array(parts) };
        apache_avro::Schema::parse(&schema).map_err(|e| CatalogError::InvalidAvro { records: records.join(", "), reason: e.to_string() })?;
        Ok(schema)
    }

    fn inline(&self, schema: &Json, namespace: Option<&str>, defined: &mut HashSet<String>) -> Result<Json, CatalogError> {
        match schema {
            Json::String(name) if !is_primitive(name) => {
                let full = qualify(name, namespace);
                if defined.contains(&full) {
                    return Ok(Json::String(full));
                }
                let def = self.records.get(&full).ok_or_else(|| CatalogError::UnknownRecord(full.clone(), self.records.keys().cloned().collect::<Vec<_>>().join(", ")))?;
                self.inline(def, namespace, defined)
            }
            Json::Array(items) => Ok(Json::Array(items.iter().map(|s| self.inline(s, namespace, defined)).collect::<Result<_, _>>()?)),
            Json::Object(obj) => {
                let kind = obj.get("type").and_then(Json::as_str).unwrap_or("");
                let mut out = Map::new();
                let own_ns;
                let ns = if matches!(kind, "record" | "enum" | "fixed") {
                    let full = full_name(schema, namespace).unwrap_or_default();
                    defined.insert(full.clone());
                    own_ns = full.rsplit_once('.').map(|(ns, _)| ns.to_string());
                    out.insert("name".into(), Json::String(full));
                    own_ns.as_deref()
                } else {
                    namespace
                };
                for (k, v) in obj {
                    match k.as_str() {
                        "name" | "namespace" if out.contains_key("name") => {}
                        "fields" => {
                            let mut fields = Vec::new();
                            for field in v.as_array().into_iter().flatten() {
                                let mut f = field.as_object().cloned().unwrap_or_default();
                                if let Some(t) = f.get("type").cloned() {
                                    f.insert("type".into(), self.inline(&t, ns, defined)?);
                                }
                                fields.push(Json::Object(f));
                            }
                            out.insert(k.clone(), Json::Array(fields));
                        }
                        "type" | "items" | "values" if !v.is_string() || !is_primitive(v.as_str().unwrap_or("")) => {
                            out.insert(k.clone(), self.inline(v, ns, defined)?);
                        }
                        _ => {
                            out.insert(k.clone(), v.clone());
                        }
                    }
                }
                Ok(Json::Object(out))
            }
            other => Ok(other.clone()),
        }
    }
}

fn is_primitive(name: &str) -> bool {
    matches!(name, "null" | "boolean" | "int" | "long" | "float" | "double" | "bytes" | "string" | "record" | "enum" | "array" | "map" | "fixed")
}

fn qualify(name: &str, namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) if !name.contains('.') && !ns.is_empty() => format!("{ns}.{name}"),
        _ => name.to_string(),
    }
}

/// The full name of a named schema object (`namespace.name`), if it is one.
pub fn full_name(schema: &Json, enclosing: Option<&str>) -> Option<String> {
    let name = schema.get("name")?.as_str()?;
    let ns = schema.get("namespace").and_then(Json::as_str).or(enclosing);
    Some(qualify(name, ns))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composes_a_union_with_shared_types_defined_once() {
        let catalog = Catalog::builtin().unwrap();
        let schema = catalog.topic_schema(&["souk.inventory.Reserved".into(), "souk.inventory.Committed".into()]).unwrap();
        let text = schema.to_string();
        assert_eq!(text.matches("\"name\":\"souk.Envelope\"").count(), 1);
        assert_eq!(text.matches("\"name\":\"souk.inventory.BatchAllocation\"").count(), 1);
    }

    #[test]
    fn backward_check_looks_inside_union_branches() {
        let catalog = Catalog::builtin().unwrap();
        let names = ["souk.inventory.ReserveRequested".to_string(), "souk.inventory.CommitRequested".to_string()];
        let old = catalog.topic_schema(&names).unwrap();
        assert_eq!(Catalog::check_backward(&old, &old), Ok(()));
        let mut with_default = catalog.clone();
        let mut rr: Json = catalog.records["souk.inventory.ReserveRequested"].clone();
        rr["fields"].as_array_mut().unwrap().push(serde_json::json!({"name": "note", "type": ["null", "string"], "default": null}));
        with_default.records.insert("souk.inventory.ReserveRequested".into(), rr.clone());
        assert_eq!(Catalog::check_backward(&old, &with_default.topic_schema(&names).unwrap()), Ok(()));
        let mut without_default = catalog.clone();
        rr["fields"].as_array_mut().unwrap().push(serde_json::json!({"name": "priority", "type": "int"}));
        without_default.records.insert("souk.inventory.ReserveRequested".into(), rr);
        let err = Catalog::check_backward(&old, &without_default.topic_schema(&names).unwrap()).unwrap_err();
        assert!(err.contains("ReserveRequested"), "{err}");
        let removed = catalog.topic_schema(&names[..1]).unwrap();
        assert!(Catalog::check_backward(&old, &removed).unwrap_err().contains("CommitRequested"));
    }

    #[test]
    fn unknown_record_names_the_known_ones() {
        let catalog = Catalog::builtin().unwrap();
        let err = catalog.topic_schema(&["souk.Nope".into()]).unwrap_err();
        assert!(err.to_string().contains("souk.inventory.Reserved"));
    }
}
