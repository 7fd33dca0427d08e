//! Where the local stack is: the `SOUK_*` environment (set by `./dev env`, or by users pointing souk
//! at existing infrastructure), with the local stack's loopback defaults.

/// Kafka bootstrap servers (`SOUK_KAFKA_BOOTSTRAP`, default the local Apache Kafka of `./dev up`).
pub fn kafka_bootstrap() -> String {
    std::env::var("SOUK_KAFKA_BOOTSTRAP").unwrap_or_else(|_| "127.0.0.1:19092".into())
}

/// Confluent-compatible Schema Registry URL (`SOUK_SCHEMA_REGISTRY_URL`, default the local Apicurio
/// Registry's Confluent API).
pub fn schema_registry_url() -> String {
    std::env::var("SOUK_SCHEMA_REGISTRY_URL").unwrap_or_else(|_| "http://127.0.0.1:18081/apis/ccompat/v7".into())
}

/// Postgres URL (`SOUK_DATABASE_URL`).
pub fn database_url() -> String {
    std::env::var("SOUK_DATABASE_URL").unwrap_or_else(|_| "postgres://souk:souk@127.0.0.1:55432/souk".into())
}

/// A codec for every topic of `topology` (declared topics and changelogs).
pub fn codec_for(topology: &crate::topology::Topology, catalog: &souk_schemas::Catalog, registry_url: &str) -> anyhow::Result<crate::codec::Codec> {
    let topics: Vec<(String, Vec<String>)> = topology.topic_specs().into_iter().map(|s| (s.name, s.records)).collect();
    Ok(crate::codec::Codec::new(registry_url, &topics, catalog)?)
}
