//! topology.toml: the declared pipeline (topics, processors, sinks, producers), its loader and the
//! checks `souk topology check` runs. Unknown fields are errors; check errors name the line.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use toml::Spanned;

/// Suffix of a processor's compacted state changelog topic.
pub const CHANGELOG_SUFFIX: &str = "changelog";
/// Suffix of a processor's (or sink's) dead-letter topic.
pub const DLQ_SUFFIX: &str = "dlq";
/// Record type of every changelog topic.
pub const STORE_RECORD: &str = "souk.runtime.StoreRecord";

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    /// Defaults for topics.
    #[serde(default)]
    pub defaults: Defaults,
    /// Topics by (unprefixed) name.
    #[serde(default)]
    pub topics: BTreeMap<String, TopicDecl>,
    /// Keyed state machines by name.
    #[serde(default)]
    pub processors: BTreeMap<String, ProcessorDecl>,
    /// Enrichment stages by name: stateless consumers that may call outside services (the NLU /
    /// an LLM) and log the result as an event, so nothing downstream ever calls them again.
    #[serde(default)]
    pub stages: BTreeMap<String, StageDecl>,
    /// Projections by name.
    #[serde(default)]
    pub sinks: BTreeMap<String, SinkDecl>,
    /// Event sources run by `souk run` (ticker, gateway, pollers).
    #[serde(default)]
    pub producers: BTreeMap<String, ProducerDecl>,
    #[serde(skip)]
    prefix: String,
    #[serde(skip)]
    source: String,
}

/// `[defaults]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// Partition count of topics that do not set one.
    pub partitions: i32,
    /// Replication factor of created topics.
    pub replication_factor: i32,
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults { partitions: 8, replication_factor: 1 }
    }
}

/// `[topics.<name>]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicDecl {
    /// What flows on it.
    pub doc: Option<String>,
    /// Key format, e.g. `tenant|material|color`.
    pub key: String,
    /// Avro record full names; several make a union (one schema per topic).
    pub records: Spanned<Vec<String>>,
    /// Overrides `defaults.partitions`.
    pub partitions: Option<i32>,
    /// Delete retention; absent means the broker default.
    pub retention_ms: Option<i64>,
    /// Log compaction instead of deletion.
    #[serde(default)]
    pub compacted: bool,
    /// Timer-driven: the clock ticker writes a Tick into each partition.
    #[serde(default)]
    pub ticks: bool,
}

/// `[processors.<name>]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessorDecl {
    /// What it decides.
    pub doc: Option<String>,
    /// Input topics (co-partitioned).
    pub inputs: Vec<Spanned<String>>,
    /// Logical output name → topic.
    pub outputs: BTreeMap<String, Spanned<String>>,
    /// Name of its keyed store (its changelog is `souk.<processor>.changelog`).
    pub store: String,
    /// Records per batch (one produce/changelog/commit round).
    pub batch_size: Option<usize>,
}

/// `[sinks.<name>]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkDecl {
    /// What it projects.
    pub doc: Option<String>,
    /// `postgres`, `tantivy` or `http`.
    pub kind: String,
    /// Topics it reads.
    pub inputs: Vec<Spanned<String>>,
    /// Topics it writes results back to (the HTTP dispatcher's statuses), by logical name.
    #[serde(default)]
    pub outputs: BTreeMap<String, Spanned<String>>,
}

/// `[stages.<name>]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageDecl {
    /// What it resolves.
    pub doc: Option<String>,
    /// Topics it reads.
    pub inputs: Vec<Spanned<String>>,
    /// Topics it writes, by logical name.
    pub outputs: BTreeMap<String, Spanned<String>>,
}

/// `[producers.<name>]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProducerDecl {
    /// What it feeds.
    pub doc: Option<String>,
    /// `ticker` (the clock) or `http` (the gateway).
    pub kind: String,
    /// Tick interval for `ticker`.
    pub interval_ms: Option<u64>,
}

/// A concrete topic to create: prefixed name, partitions, config, value schema records.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicSpec {
    /// Full (prefixed) topic name.
    pub name: String,
    /// Partition count.
    pub partitions: i32,
    /// Topic configs (cleanup.policy, retention.ms).
    pub config: Vec<(String, String)>,
    /// Avro records of its value schema; empty for raw-bytes topics (DLQ).
    pub records: Vec<String>,
}

/// A problem found by [`Topology::check`], located in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckError {
    /// 1-based line in topology.toml (0 when not locatable).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for CheckError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "topology.toml:{}: {}", self.line, self.message)
    }
}

impl Topology {
    /// Loads a file; the topic prefix comes from `SOUK_TOPIC_PREFIX` (empty when unset).
    pub fn load(path: &Path) -> anyhow::Result<Topology> {
        let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let prefix = std::env::var("SOUK_TOPIC_PREFIX").unwrap_or_default();
        Topology::parse(&text, &prefix).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }

    /// Parses topology text with a topic prefix (tests run isolated copies under a prefix).
    pub fn parse(text: &str, prefix: &str) -> anyhow::Result<Topology> {
        let mut topology: Topology = toml::from_str(text).map_err(|e| anyhow::anyhow!("{e}"))?;
        topology.prefix = prefix.to_string();
        topology.source = text.to_string();
        Ok(topology)
    }

    /// The prefix applied to every topic and group name.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The real topic name of a declared topic.
    pub fn topic(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// A processor's changelog topic.
    pub fn changelog_topic(&self, processor: &str) -> String {
        self.topic(&format!("souk.{processor}.{CHANGELOG_SUFFIX}"))
    }

    /// A processor's or sink's dead-letter topic.
    pub fn dlq_topic(&self, component: &str) -> String {
        self.topic(&format!("souk.{component}.{DLQ_SUFFIX}"))
    }

    /// The consumer group of a processor or sink.
    pub fn group_id(&self, component: &str) -> String {
        format!("{}souk.{component}", self.prefix)
    }

    /// Partition count of a declared topic.
    pub fn partitions(&self, topic: &str) -> i32 {
        self.topics.get(topic).and_then(|t| t.partitions).unwrap_or(self.defaults.partitions)
    }

    /// Every topic to create: declared ones, then each processor's changelog and DLQ, each sink's DLQ.
    pub fn topic_specs(&self) -> Vec<TopicSpec> {
        let mut specs = Vec::new();
        for (name, t) in &self.topics {
            let mut config = vec![("cleanup.policy".to_string(), if t.compacted { "compact" } else { "delete" }.to_string())];
            if let Some(ms) = t.retention_ms {
                config.push(("retention.ms".into(), ms.to_string()));
            }
            specs.push(TopicSpec { name: self.topic(name), partitions: self.partitions(name), config, records: t.records.get_ref().clone() });
        }
        for (name, p) in &self.processors {
            let partitions = p.inputs.first().map(|i| self.partitions(i.get_ref())).unwrap_or(self.defaults.partitions);
            specs.push(TopicSpec { name: self.changelog_topic(name), partitions, config: vec![("cleanup.policy".into(), "compact".into())], records: vec![STORE_RECORD.to_string()] });
            specs.push(TopicSpec { name: self.dlq_topic(name), partitions: 1, config: vec![("cleanup.policy".into(), "delete".into())], records: vec![] });
        }
        for name in self.sinks.keys().chain(self.stages.keys()) {
            specs.push(TopicSpec { name: self.dlq_topic(name), partitions: 1, config: vec![("cleanup.policy".into(), "delete".into())], records: vec![] });
        }
        specs
    }

    /// Topics with `ticks = true` and their partition counts (for the clock ticker).
    pub fn ticked_topics(&self) -> Vec<(String, i32)> {
        self.topics.iter().filter(|(_, t)| t.ticks).map(|(n, _)| (self.topic(n), self.partitions(n))).collect()
    }

    /// Validates references, schemas and co-partitioning; every error names its line.
    pub fn check(&self, known_records: &[String]) -> Vec<CheckError> {
        let mut errors = Vec::new();
        let line_of = |span: std::ops::Range<usize>| self.source[..span.start.min(self.source.len())].lines().count().max(1);
        let header_line = |needle: &str| self.source.lines().position(|l| l.trim_start().starts_with(needle)).map(|i| i + 1).unwrap_or(0);
        for (name, t) in &self.topics {
            let line = line_of(t.records.span());
            if t.records.get_ref().is_empty() {
                errors.push(CheckError { line, message: format!("topic {name} has no schema (records is empty)") });
            }
            for r in t.records.get_ref() {
                if !known_records.contains(r) {
                    errors.push(CheckError { line, message: format!("topic {name}: record {r} has no .avsc in schemas/avro") });
                }
            }
            if t.ticks && !t.records.get_ref().iter().any(|r| r == souk_schemas::clock::TICK_RECORD) {
                errors.push(CheckError { line, message: format!("topic {name} has ticks = true but its records lack {}", souk_schemas::clock::TICK_RECORD) });
            }
            if let Some(p) = t.partitions.filter(|p| *p < 1) {
                errors.push(CheckError { line: header_line(&format!("[topics.\"{name}\"]")), message: format!("topic {name}: partitions = {p} must be ≥ 1") });
            }
        }
        let check_ref = |component: &str, topic: &Spanned<String>, what: &str, errors: &mut Vec<CheckError>| {
            if !self.topics.contains_key(topic.get_ref()) {
                errors.push(CheckError { line: line_of(topic.span()), message: format!("{component}: {what} topic {} is not declared in [topics]", topic.get_ref()) });
            }
        };
        for (name, p) in &self.processors {
            if p.inputs.is_empty() {
                errors.push(CheckError { line: header_line(&format!("[processors.{name}]")), message: format!("processor {name} has no inputs") });
            }
            for input in &p.inputs {
                check_ref(&format!("processor {name}"), input, "input", &mut errors);
            }
            for output in p.outputs.values() {
                check_ref(&format!("processor {name}"), output, "output", &mut errors);
            }
            let counts: Vec<(String, i32)> = p.inputs.iter().filter(|i| self.topics.contains_key(i.get_ref())).map(|i| (i.get_ref().clone(), self.partitions(i.get_ref()))).collect();
            if let Some((first, n)) = counts.first() {
                for (other, m) in &counts[1..] {
                    if m != n {
                        errors.push(CheckError { line: line_of(p.inputs[0].span()), message: format!("processor {name}: inputs {first} ({n} partitions) and {other} ({m}) are not co-partitioned") });
                    }
                }
            }
        }
        for (name, s) in &self.sinks {
            for input in &s.inputs {
                check_ref(&format!("sink {name}"), input, "input", &mut errors);
            }
            for output in s.outputs.values() {
                check_ref(&format!("sink {name}"), output, "output", &mut errors);
            }
            if !matches!(s.kind.as_str(), "postgres" | "tantivy" | "http") {
                errors.push(CheckError { line: header_line(&format!("[sinks.{name}]")), message: format!("sink {name}: unknown kind {}", s.kind) });
            }
        }
        for (name, st) in &self.stages {
            for topic in st.inputs.iter().chain(st.outputs.values()) {
                check_ref(&format!("stage {name}"), topic, "input/output", &mut errors);
            }
        }
        for (name, p) in &self.producers {
            if !matches!(p.kind.as_str(), "ticker" | "http") {
                errors.push(CheckError { line: header_line(&format!("[producers.{name}]")), message: format!("producer {name}: unknown kind {}", p.kind) });
            }
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records() -> Vec<String> {
        souk_schemas::Catalog::builtin().unwrap().names().map(str::to_string).collect()
    }

    #[test]
    fn the_shipped_topology_is_valid() {
        let t = Topology::parse(include_str!("../../topology.toml"), "").unwrap();
        assert_eq!(t.check(&records()), vec![]);
        let names: Vec<_> = t.topic_specs().into_iter().map(|s| s.name).collect();
        assert!(names.contains(&"souk.inventory-pool.changelog".to_string()));
        assert!(names.contains(&"souk.inventory-pool.dlq".to_string()));
    }

    #[test]
    fn unknown_fields_are_errors() {
        let err = Topology::parse("[topics.a]\nkey = \"k\"\nrecords = []\nwat = 1\n", "").unwrap_err();
        assert!(err.to_string().contains("wat"), "{err}");
    }

    #[test]
    fn errors_name_the_line() {
        let text = "[topics.a]\nkey = \"k\"\nrecords = [\"souk.clock.Tick\"]\npartitions = 4\n\n[topics.b]\nkey = \"k\"\nrecords = [\"souk.clock.Tick\"]\npartitions = 8\n\n[processors.p]\ninputs = [\"a\", \"b\"]\noutputs = { events = \"nope\" }\nstore = \"s\"\n";
        let t = Topology::parse(text, "").unwrap();
        let errors = t.check(&records());
        assert!(errors.iter().any(|e| e.line == 12 && e.message.contains("co-partitioned")), "{errors:?}");
        assert!(errors.iter().any(|e| e.line == 13 && e.message.contains("nope")), "{errors:?}");
    }

    #[test]
    fn prefix_applies_to_topics_and_groups() {
        let t = Topology::parse(include_str!("../../topology.toml"), "t1.").unwrap();
        assert_eq!(t.topic("inventory.events"), "t1.inventory.events");
        assert_eq!(t.group_id("inventory-pool"), "t1.souk.inventory-pool");
    }
}
