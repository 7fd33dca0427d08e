//! `souk topology apply`: create missing topics (declared, changelogs, DLQs) and register every value
//! schema, refusing a BACKWARD-incompatible change with the registry's reason. Idempotent.

use crate::topology::{TopicSpec, Topology};
use anyhow::{anyhow, bail, Context};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::RDKafkaErrorCode;
use serde_json::{json, Value as Json};
use souk_schemas::Catalog;
use std::time::Duration;

/// What `apply` did, for the CLI to print.
#[derive(Debug, Default)]
pub struct ApplyReport {
    /// Topics created now.
    pub created_topics: Vec<String>,
    /// Topics that already existed.
    pub existing_topics: Vec<String>,
    /// (subject, schema id, newly registered?)
    pub schemas: Vec<(String, i64, bool)>,
}

/// A Schema Registry client for the few REST calls souk needs beyond the codec.
pub struct Registry {
    url: String,
    http: reqwest::Client,
}

const SR_CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

impl Registry {
    /// A client for the registry at `url`.
    pub fn new(url: &str) -> Registry {
        Registry { url: url.trim_end_matches('/').to_string(), http: reqwest::Client::builder().timeout(Duration::from_secs(5)).build().expect("reqwest client") }
    }

    /// Sends a request built by `build`, again on a timeout or a connection error (every call
    /// souk makes is idempotent: reads, a compatibility level, re-registering an equal schema);
    /// a registry that stays silent fails after four tries. Seen on Apicurio 3.3: a 404 logged as
    /// sent that never reaches the client, about once in a few hundred requests.
    async fn send(&self, build: impl Fn() -> reqwest::RequestBuilder) -> anyhow::Result<reqwest::Response> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match build().send().await {
                Err(e) if (e.is_timeout() || e.is_connect()) && attempt < 4 => {
                    tracing::warn!(attempt, error = %e, "schema registry did not answer; retrying");
                    tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
                }
                other => return Ok(other?),
            }
        }
    }

    /// Registers `schema` under `subject` with BACKWARD compatibility; refuses an incompatible
    /// change with the registry's reason. Returns (id, newly registered).
    ///
    /// An identical schema is left alone. A changed one must pass two checks: apache-avro's
    /// schema-resolution rules (can the new schema read data written with the latest one?) and the
    /// registry's own BACKWARD rule. When the registry judges it incompatible, the version is
    /// submitted anyway so that the registry refuses it under its BACKWARD rule with its own
    /// reason (its compatibility endpoint answers only yes or no); the refusal carries both
    /// reasons. A schema the local check refuses is never submitted unless the registry refuses
    /// it too.
    pub async fn register_backward(&self, subject: &str, schema: &Json) -> anyhow::Result<(i64, bool)> {
        let body = json!({ "schema": schema.to_string() });
        let new_schema = apache_avro::Schema::parse(schema)?;
        let latest = self.send(|| self.http.get(format!("{}/subjects/{subject}/versions/latest", self.url))).await?;
        if latest.status().is_success() {
            let v: Json = latest.json().await?;
            let text = v["schema"].as_str().ok_or_else(|| anyhow!("registry answered without schema: {v}"))?;
            let old_schema = apache_avro::Schema::parse_str(text)?;
            // Registries may hand the schema back rewritten (Apicurio shortens named-type
            // references and drops namespaces it can infer): compare with every name qualified.
            let same_text = serde_json::from_str::<Json>(text).ok().map(|t| souk_schemas::avro_json::qualify_references(&t)) == Some(souk_schemas::avro_json::qualify_references(schema));
            if old_schema.canonical_form() == new_schema.canonical_form() && same_text {
                return Ok((v["id"].as_i64().unwrap_or_default(), false));
            }
            let old_json: Json = serde_json::from_str(text)?;
            let local = Catalog::check_backward(&old_json, schema);
            let check = self.send(|| self.http.post(format!("{}/compatibility/subjects/{subject}/versions/latest?verbose=true", self.url)).header("content-type", SR_CONTENT_TYPE).json(&body)).await?;
            let status = check.status();
            let verdict: Json = check.json().await.unwrap_or(Json::Null);
            let registry_ok = status.is_success() && verdict.get("is_compatible").and_then(Json::as_bool) == Some(true);
            let version = &v["version"];
            match (local, registry_ok) {
                (Err(e), true) => bail!("schema for {subject} is not BACKWARD-compatible with the registered version {version}: {e} (the registry's own check would accept it)"),
                (local, false) => {
                    // The registry enforces BACKWARD on registration: its refusal says why.
                    let registry_reason = match self.post_version(subject, &body).await {
                        Err(e) => format!("{e:#}"),
                        Ok(id) if local.is_ok() => return Ok((id, true)),
                        Ok(id) => format!("it registered it anyway as id {id}: check the subject's compatibility level"),
                    };
                    let local = local.err().map_or("schema resolution accepts it".to_string(), |e| e.to_string());
                    bail!("schema for {subject} is not BACKWARD-compatible with the registered version {version}: {local}; registry says: {registry_reason} ({})", reason(&verdict))
                }
                (Ok(_), true) => {}
            }
        } else {
            self.set_compatibility(subject, "BACKWARD").await?;
        }
        Ok((self.post_version(subject, &body).await?, true))
    }

    async fn set_compatibility(&self, subject: &str, level: &str) -> anyhow::Result<()> {
        let resp = self.send(|| self.http.put(format!("{}/config/{subject}", self.url)).header("content-type", SR_CONTENT_TYPE).json(&json!({"compatibility": level}))).await?;
        if !resp.status().is_success() {
            bail!("registry refused compatibility {level} for {subject}: {}", resp.status());
        }
        Ok(())
    }

    async fn post_version(&self, subject: &str, body: &Json) -> anyhow::Result<i64> {
        let resp = self.send(|| self.http.post(format!("{}/subjects/{subject}/versions", self.url)).header("content-type", SR_CONTENT_TYPE).json(body)).await?;
        let status = resp.status();
        let v: Json = resp.json().await.unwrap_or(Json::Null);
        if !status.is_success() {
            bail!("registry refused schema for {subject} ({status}): {}", reason(&v));
        }
        v["id"].as_i64().ok_or_else(|| anyhow!("registry answered without id: {v}"))
    }
}

fn reason(v: &Json) -> String {
    let mut parts = Vec::new();
    if let Some(m) = v.get("message").and_then(Json::as_str) {
        parts.push(m.to_string());
    }
    if let Some(ms) = v.get("messages").and_then(Json::as_array) {
        parts.extend(ms.iter().map(|m| m.as_str().map(str::to_string).unwrap_or_else(|| m.to_string())));
    }
    if parts.is_empty() {
        v.to_string()
    } else {
        parts.join("; ")
    }
}

/// Librdkafka settings shared by every client: loopback-friendly timeouts.
pub fn client_config(bootstrap: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap).set("socket.timeout.ms", "10000").set("broker.address.family", "v4");
    c
}

/// Creates the topics that do not exist yet (the broker has no auto-creation).
pub async fn create_topics(bootstrap: &str, specs: &[TopicSpec], replication: i32) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    let admin: AdminClient<DefaultClientContext> = client_config(bootstrap).create().context("admin client")?;
    let new: Vec<NewTopic> = specs
        .iter()
        .map(|s| {
            let mut t = NewTopic::new(&s.name, s.partitions, TopicReplication::Fixed(replication));
            for (k, v) in &s.config {
                t = t.set(k, v);
            }
            t
        })
        .collect();
    let results = admin.create_topics(new.iter(), &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)))).await.context("create topics")?;
    let (mut created, mut existing) = (Vec::new(), Vec::new());
    for r in results {
        match r {
            Ok(name) => created.push(name),
            Err((name, RDKafkaErrorCode::TopicAlreadyExists)) => existing.push(name),
            Err((name, code)) => bail!("creating topic {name}: {code}"),
        }
    }
    Ok((created, existing))
}

/// Applies the topology: topics first, then every value schema.
pub async fn apply(topology: &Topology, catalog: &Catalog, bootstrap: &str, registry_url: &str) -> anyhow::Result<ApplyReport> {
    let specs = topology.topic_specs();
    let (created_topics, existing_topics) = create_topics(bootstrap, &specs, topology.defaults.replication_factor).await?;
    let registry = Registry::new(registry_url);
    let mut schemas = Vec::new();
    for spec in specs.iter().filter(|s| !s.records.is_empty()) {
        let schema = catalog.topic_schema(&spec.records)?;
        let subject = format!("{}-value", spec.name);
        let (id, new) = registry.register_backward(&subject, &schema).await?;
        schemas.push((subject, id, new));
    }
    Ok(ApplyReport { created_topics, existing_topics, schemas })
}
