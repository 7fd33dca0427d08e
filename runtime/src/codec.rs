//! Avro in the Confluent wire format (magic 0 + 4-byte schema id) through
//! `schema_registry_converter`, subjects by TopicNameStrategy. Serde types go through the
//! schema-directed JSON converter of `souk-schemas`, so decimals stay exact.
//!
//! Errors are typed: a record that cannot be decoded is [`CodecError::Undecodable`] (a poison record:
//! dead-letter it), a registry that cannot be reached is [`CodecError::Registry`] with `retriable`
//! (retry without advancing). Retriable registry errors are evicted from the converter's cache.

use apache_avro::types::Value as Avro;
use schema_registry_converter::async_impl::avro::{AvroDecoder, AvroEncoder};
use schema_registry_converter::async_impl::schema_registry::SrSettings;
use schema_registry_converter::error::SRCError;
use schema_registry_converter::schema_registry_common::SubjectNameStrategy;
use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value as Json;
use souk_schemas::Catalog;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Why a value could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The registry failed; `retriable` tells whether trying again may help.
    #[error("schema registry: {message} (retriable: {retriable})")]
    Registry { message: String, retriable: bool },
    /// The bytes are not a valid record of their schema (poison record).
    #[error("undecodable record: {0}")]
    Undecodable(String),
    /// A value does not fit the topic's schema (a bug or bad input on the producing side).
    #[error("value does not fit the schema of {topic}: {reason}")]
    Invalid { topic: String, reason: String },
    /// The topic has no schema in the topology.
    #[error("no schema declared for topic {0}")]
    UnknownTopic(String),
}

impl CodecError {
    /// True when retrying the same operation later may succeed.
    pub fn is_retriable(&self) -> bool {
        matches!(self, CodecError::Registry { retriable: true, .. })
    }
}

fn registry_error(e: SRCError) -> CodecError {
    let message = match &e.cause {
        Some(cause) => format!("{}: {cause}", e.error),
        None => e.error.clone(),
    };
    // Bytes that name a schema id the registry does not know, or that do not parse, are poison.
    let poison = !e.retriable && (message.contains("magic") || message.contains("decod") || message.contains("Could not") || message.contains("not found") || message.contains("404"));
    if poison {
        CodecError::Undecodable(message)
    } else {
        CodecError::Registry { message, retriable: e.retriable }
    }
}

/// Where schemas are registered and looked up by id.
enum Registry {
    /// A Confluent-compatible Schema Registry (Apicurio in the local stack).
    Remote { encoder: Box<AvroEncoder>, decoder: Box<AvroDecoder> },
    /// An in-process registry for broker-free tests (the topology test driver): the same wire
    /// bytes (magic 0, 4-byte id, Avro binary), ids assigned here per distinct schema.
    InMemory(std::sync::Mutex<MemoryRegistry>),
}

/// Schemas of the in-memory registry, by id and by text.
#[derive(Default)]
struct MemoryRegistry {
    ids: HashMap<String, u32>,
    schemas: HashMap<u32, (Arc<apache_avro::Schema>, String)>,
}

impl MemoryRegistry {
    fn register(&mut self, schema: &Json) -> Result<(u32, Arc<apache_avro::Schema>), CodecError> {
        let text = schema.to_string();
        if let Some(id) = self.ids.get(&text) {
            return Ok((*id, self.schemas[id].0.clone()));
        }
        let parsed = Arc::new(apache_avro::Schema::parse(schema).map_err(|e| CodecError::Invalid { topic: String::new(), reason: format!("schema does not parse: {e}") })?);
        let id = self.ids.len() as u32 + 1;
        self.ids.insert(text.clone(), id);
        self.schemas.insert(id, (parsed.clone(), text));
        Ok((id, parsed))
    }
}

/// Encodes and decodes the values of souk's topics.
pub struct Codec {
    registry: Registry,
    /// Schema JSON per (prefixed) topic, composed from the catalog.
    topic_schemas: HashMap<String, Json>,
    /// Writer schemas by registry id, as JSON (for Avro → JSON).
    writer_schemas: RwLock<HashMap<u32, Arc<Json>>>,
}

impl Codec {
    /// A codec for `topics` (prefixed name → record names) against the registry at `url`.
    pub fn new(registry_url: &str, topics: &[(String, Vec<String>)], catalog: &Catalog) -> Result<Codec, CodecError> {
        let settings = || SrSettings::new_builder(registry_url.to_string()).set_timeout(Duration::from_secs(10)).build().map_err(|e| CodecError::Registry { message: e.to_string(), retriable: false });
        let registry = Registry::Remote { encoder: Box::new(AvroEncoder::new(settings()?)), decoder: Box::new(AvroDecoder::new(settings()?)) };
        Ok(Codec { registry, topic_schemas: Codec::topic_schemas(topics, catalog)?, writer_schemas: RwLock::new(HashMap::new()) })
    }

    /// A codec with an in-process registry: the same schemas, converter and wire bytes without a
    /// Schema Registry, for broker-free tests ([`crate::topology_driver`]).
    pub fn in_memory(topics: &[(String, Vec<String>)], catalog: &Catalog) -> Result<Codec, CodecError> {
        Ok(Codec { registry: Registry::InMemory(Default::default()), topic_schemas: Codec::topic_schemas(topics, catalog)?, writer_schemas: RwLock::new(HashMap::new()) })
    }

    fn topic_schemas(topics: &[(String, Vec<String>)], catalog: &Catalog) -> Result<HashMap<String, Json>, CodecError> {
        let mut topic_schemas = HashMap::new();
        for (topic, records) in topics {
            if records.is_empty() {
                continue;
            }
            let schema = catalog.topic_schema(records).map_err(|e| CodecError::Invalid { topic: topic.clone(), reason: e.to_string() })?;
            topic_schemas.insert(topic.clone(), schema);
        }
        Ok(topic_schemas)
    }

    /// The composed schema of a topic.
    pub fn schema(&self, topic: &str) -> Option<&Json> {
        self.topic_schemas.get(topic)
    }

    /// Encodes a serde value for `topic` (as `<topic>-value`).
    pub async fn encode<T: Serialize>(&self, topic: &str, value: &T) -> Result<Vec<u8>, CodecError> {
        let json = serde_json::to_value(value).map_err(|e| CodecError::Invalid { topic: topic.into(), reason: e.to_string() })?;
        self.encode_json(topic, &json).await
    }

    /// Encodes a JSON value for `topic` (as `<topic>-value`).
    pub async fn encode_json(&self, topic: &str, json: &Json) -> Result<Vec<u8>, CodecError> {
        let schema = self.topic_schemas.get(topic).ok_or_else(|| CodecError::UnknownTopic(topic.to_string()))?;
        let json = unwrap_single_record(schema, json);
        let avro = souk_schemas::json_to_avro(schema, json).map_err(|e| CodecError::Invalid { topic: topic.into(), reason: e.to_string() })?;
        self.encode_avro(topic, avro).await
    }

    async fn encode_avro(&self, topic: &str, avro: Avro) -> Result<Vec<u8>, CodecError> {
        let (encoder, _) = match &self.registry {
            Registry::Remote { encoder, decoder } => (encoder, decoder),
            Registry::InMemory(memory) => {
                let schema = self.topic_schemas.get(topic).ok_or_else(|| CodecError::UnknownTopic(topic.to_string()))?;
                let (id, parsed) = memory.lock().map_err(|_| CodecError::Invalid { topic: topic.into(), reason: "registry lock poisoned".into() })?.register(schema)?;
                let invalid = |e: apache_avro::Error| CodecError::Invalid { topic: topic.into(), reason: e.to_string() };
                let datum = apache_avro::writer::datum::GenericDatumWriter::builder(&parsed).build().map_err(invalid)?.write_value_to_vec(avro).map_err(invalid)?;
                let mut bytes = Vec::with_capacity(5 + datum.len());
                bytes.push(0);
                bytes.extend_from_slice(&id.to_be_bytes());
                bytes.extend_from_slice(&datum);
                return Ok(bytes);
            }
        };
        let strategy = SubjectNameStrategy::TopicNameStrategy(topic.to_string(), false);
        match encoder.encode_value(avro, &strategy).await {
            Ok(bytes) => Ok(bytes),
            Err(e) => {
                if e.retriable || e.cached {
                    encoder.remove_errors_from_cache();
                }
                Err(match registry_error(e) {
                    CodecError::Undecodable(m) => CodecError::Invalid { topic: topic.into(), reason: m },
                    other => other,
                })
            }
        }
    }

    /// Decodes wire bytes to JSON (using the writer's schema from the registry).
    pub async fn decode_json(&self, bytes: &[u8]) -> Result<Json, CodecError> {
        Ok(self.decode_with_writer(bytes).await?.0)
    }

    async fn decode_with_writer(&self, bytes: &[u8]) -> Result<(Json, Arc<Json>), CodecError> {
        if bytes.len() < 5 || bytes[0] != 0 {
            return Err(CodecError::Undecodable(format!("not Confluent-framed Avro ({} bytes, first byte {:?})", bytes.len(), bytes.first())));
        }
        let cached = |id: u32| self.writer_schemas.read().ok().and_then(|m| m.get(&id).cloned());
        // The writer schema's text, when this codec has not parsed it yet.
        let (id, raw, value) = match &self.registry {
            Registry::Remote { decoder, .. } => {
                let decoded = match decoder.decode_with_schema(Some(bytes)).await {
                    Ok(Some(d)) => d,
                    Ok(None) => return Err(CodecError::Undecodable("null value".into())),
                    Err(e) => {
                        if e.retriable {
                            decoder.remove_errors_from_cache();
                        }
                        return Err(registry_error(e));
                    }
                };
                let id = decoded.schema.id;
                (id, cached(id).is_none().then(|| decoded.schema.raw.clone()), decoded.value)
            }
            Registry::InMemory(memory) => {
                let id = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
                let (schema, raw) = memory.lock().ok().and_then(|m| m.schemas.get(&id).cloned()).ok_or_else(|| CodecError::Undecodable(format!("schema id {id} is not registered")))?;
                let undecodable = |e: apache_avro::Error| CodecError::Undecodable(e.to_string());
                let value = apache_avro::reader::datum::GenericDatumReader::builder(&schema).build().map_err(undecodable)?.read_value(&mut &bytes[5..]).map_err(undecodable)?;
                (id, cached(id).is_none().then_some(raw), value)
            }
        };
        let schema = match (cached(id), raw) {
            (Some(s), _) => s,
            (None, None) => return Err(CodecError::Undecodable(format!("schema {id} vanished from the cache"))),
            (None, Some(raw)) => {
                let parsed: Json = serde_json::from_str(&raw).map_err(|e| CodecError::Undecodable(format!("schema {id}: {e}")))?;
                let parsed = Arc::new(souk_schemas::avro_json::qualify_references(&parsed));
                if let Ok(mut m) = self.writer_schemas.write() {
                    m.insert(id, parsed.clone());
                }
                parsed
            }
        };
        let json = souk_schemas::avro_to_json(&schema, &value).map_err(|e| CodecError::Undecodable(e.to_string()))?;
        Ok((json, schema))
    }

    /// Decodes wire bytes into a serde type. The codec alone knows whether a topic's schema is a
    /// union or a bare record: a bare record is offered to `T` as its union branch
    /// `{"Record": {...}}` first (so every event enum, whose variants are named after their
    /// records, reads any topic the same way), then as the record itself (for a record type).
    pub async fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, CodecError> {
        let (json, writer) = self.decode_with_writer(bytes).await?;
        if let Some(name) = record_short_name(&writer) {
            if let Ok(v) = serde_json::from_value(serde_json::json!({ name: json.clone() })) {
                return Ok(v);
            }
        }
        serde_json::from_value(json).map_err(|e| CodecError::Undecodable(format!("does not fit the expected event type: {e}")))
    }
}

/// The short name of a schema that is a single record (not a union).
fn record_short_name(schema: &Json) -> Option<String> {
    let name = schema.as_object().filter(|o| o.get("type").and_then(Json::as_str) == Some("record"))?.get("name")?.as_str()?;
    Some(name.rsplit('.').next().unwrap_or(name).to_string())
}

/// A topic with one record type has the bare record as its schema; an event enum serializes as
/// `{"Record": {...}}` (externally tagged), which is unwrapped here so processors can emit their
/// output enums to such topics.
fn unwrap_single_record<'a>(schema: &Json, json: &'a Json) -> &'a Json {
    let Some(name) = record_short_name(schema) else { return json };
    match json.as_object() {
        Some(obj) if obj.len() == 1 => {
            let (key, inner) = obj.iter().next().expect("one entry");
            let full = schema.get("namespace").and_then(Json::as_str).map(|ns| format!("{ns}.{name}"));
            let is_field = schema.get("fields").and_then(Json::as_array).is_some_and(|f| f.iter().any(|f| f.get("name").and_then(Json::as_str) == Some(key)));
            if (key == &name || Some(key) == full.as_ref() || key.ends_with(&format!(".{name}"))) && !is_field {
                inner
            } else {
                json
            }
        }
        _ => json,
    }
}

#[cfg(test)]
mod single_record_tests {
    use super::*;

    #[test]
    fn externally_tagged_values_unwrap_for_single_record_topics() {
        let schema = serde_json::json!({"type": "record", "name": "InboundMessage", "namespace": "souk.whatsapp", "fields": [{"name": "wamid", "type": "string"}]});
        let tagged = serde_json::json!({"InboundMessage": {"wamid": "w"}});
        assert_eq!(unwrap_single_record(&schema, &tagged), &serde_json::json!({"wamid": "w"}));
        let full = serde_json::json!({"souk.whatsapp.InboundMessage": {"wamid": "w"}});
        assert_eq!(unwrap_single_record(&schema, &full), &serde_json::json!({"wamid": "w"}));
        let bare = serde_json::json!({"wamid": "w"});
        assert_eq!(unwrap_single_record(&schema, &bare), &bare);
        let union = serde_json::json!([schema.clone()]);
        assert_eq!(unwrap_single_record(&union, &tagged), &tagged);
        assert_eq!(record_short_name(&schema).as_deref(), Some("InboundMessage"));
    }
}
