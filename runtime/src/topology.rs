//! topology.toml: the declared pipeline (topics, processors, stages, sinks, producers, apis), its loader and the
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
    pub processors: BTreeMap<String, ComponentDecl>,
    /// Enrichment stages by name: stateless consumers that may call outside services (the NLU /
    /// an LLM) and log the result as an event, so nothing downstream ever calls them again.
    #[serde(default)]
    pub stages: BTreeMap<String, ComponentDecl>,
    /// Projections by name.
    #[serde(default)]
    pub sinks: BTreeMap<String, ComponentDecl>,
    /// Event sources run by `souk run` (ticker, gateway, pollers).
    #[serde(default)]
    pub producers: BTreeMap<String, ComponentDecl>,
    /// Read-only HTTP surfaces over what the sinks built (read models, the search index).
    #[serde(default)]
    pub apis: BTreeMap<String, ComponentDecl>,
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

/// What a component is in the pipeline; each role has its own table in topology.toml.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// `[processors.<name>]`: a keyed state machine with a store (changelog) and a dead-letter topic.
    Processor,
    /// `[stages.<name>]`: a stateless enrichment step that may call an outside service and logs the result.
    Stage,
    /// `[sinks.<name>]`: a projection into Postgres, an index, or an outside API.
    Sink,
    /// `[producers.<name>]`: a source of events (the clock, the HTTP gateway, pollers).
    Producer,
    /// `[apis.<name>]`: a read-only HTTP surface over a projection or an index; reads no topic,
    /// writes none, so it scales (and fails) apart from the write path.
    Api,
}

impl Role {
    /// Every role, in the order `souk run` starts them.
    pub const ALL: [Role; 5] = [Role::Processor, Role::Stage, Role::Sink, Role::Producer, Role::Api];

    /// The topology.toml table of this role.
    pub fn table(self) -> &'static str {
        match self {
            Role::Processor => "processors",
            Role::Stage => "stages",
            Role::Sink => "sinks",
            Role::Producer => "producers",
            Role::Api => "apis",
        }
    }

    /// The role's name in messages.
    pub fn noun(self) -> &'static str {
        match self {
            Role::Processor => "processor",
            Role::Stage => "stage",
            Role::Sink => "sink",
            Role::Producer => "producer",
            Role::Api => "api",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.noun())
    }
}

/// Keys every component table understands; anything else in the table belongs to its kind.
const COMMON_KEYS: [&str; 6] = ["doc", "kind", "inputs", "outputs", "tables", "batch_size"];

/// One component table (`[processors.<name>]`, `[stages.<name>]`, `[sinks.<name>]`,
/// `[producers.<name>]`, `[apis.<name>]`): the wiring every component shares, and the options of its kind.
///
/// `kind` names the implementation in the component registry (`souk::registry`); the registry
/// parses `options` into that kind's own config struct, which refuses unknown fields, so a typo
/// in any component table is an error of `souk topology check`.
#[derive(Debug, Clone, Deserialize)]
pub struct ComponentDecl {
    /// What it does.
    pub doc: Option<String>,
    /// The implementation, looked up by name in the component registry.
    pub kind: Spanned<String>,
    /// Topics it reads (a processor's are co-partitioned).
    #[serde(default)]
    pub inputs: Vec<Spanned<String>>,
    /// Logical output name → topic.
    #[serde(default)]
    pub outputs: BTreeMap<String, Spanned<String>>,
    /// Compacted topics it keeps whole in memory as global tables (state its decisions read
    /// from the log, e.g. the catalog the intent stage matches against).
    #[serde(default)]
    pub tables: Vec<Spanned<String>>,
    /// Records per batch (one commit round), when the kind batches.
    pub batch_size: Option<usize>,
    /// The rest of the table: options of its kind.
    #[serde(skip)]
    pub options: toml::Table,
}

/// A declared component resolved against the topology: real (prefixed) topic names, its consumer
/// group, dead-letter and changelog topics, and its kind's options. Every runner (processor
/// engine, stage, sinks) is built from one.
#[derive(Debug, Clone)]
pub struct ComponentSpec {
    /// Its name in topology.toml (also its metrics label and its key in `sink_offsets`).
    pub name: String,
    /// Which table it is declared in.
    pub role: Role,
    /// The implementation's name in the registry.
    pub kind: String,
    /// Input topics, in declaration order.
    pub inputs: Vec<SourceTopic>,
    /// Logical output name → real topic.
    pub outputs: BTreeMap<String, String>,
    /// Its global tables' topics.
    pub tables: Vec<SourceTopic>,
    /// Its dead-letter topic.
    pub dlq: String,
    /// Compacted changelog of its store (processors).
    pub changelog: String,
    /// Consumer group shared by all its instances.
    pub group_id: String,
    /// Records per batch, when declared.
    pub batch_size: Option<usize>,
    /// The kind's options (everything in the table besides the common keys).
    pub options: toml::Table,
}

/// One input topic of a component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceTopic {
    /// Its name in topology.toml (unprefixed).
    pub declared: String,
    /// The real topic.
    pub topic: String,
    /// Its partition count.
    pub partitions: i32,
}

impl ComponentSpec {
    /// The real input topic names.
    pub fn input_topics(&self) -> Vec<String> {
        self.inputs.iter().map(|i| i.topic.clone()).collect()
    }

    /// The table topic declared as `declared` (unprefixed), or an error naming the component.
    pub fn table(&self, declared: &str) -> anyhow::Result<&SourceTopic> {
        self.tables.iter().find(|t| t.declared == declared).ok_or_else(|| anyhow::anyhow!("{} {} declares no table {declared} (tables = [...] in topology.toml)", self.role, self.name))
    }

    /// The real topic of logical output `name`, or an error naming the component.
    pub fn output(&self, name: &str) -> anyhow::Result<String> {
        self.outputs.get(name).cloned().ok_or_else(|| anyhow::anyhow!("{} {} declares no `{name}` output", self.role, self.name))
    }

    /// The kind's options as its config struct `T` (which should refuse unknown fields).
    pub fn options<T: serde::de::DeserializeOwned>(&self) -> anyhow::Result<T> {
        T::deserialize(toml::Value::Table(self.options.clone())).map_err(|e| anyhow::anyhow!("{} {} (kind {}): {e}", self.role, self.name, self.kind))
    }
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
        // The kind-specific rest of every component table, for its kind's config struct.
        let raw: toml::Table = toml::from_str(text).map_err(|e| anyhow::anyhow!("{e}"))?;
        for role in Role::ALL {
            let tables = raw.get(role.table()).and_then(toml::Value::as_table);
            for (name, decl) in topology.components_mut(role) {
                if let Some(toml::Value::Table(table)) = tables.and_then(|t| t.get(name.as_str())) {
                    decl.options = table.iter().filter(|(k, _)| !COMMON_KEYS.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect();
                }
            }
        }
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

    /// The components declared in `role`'s table.
    pub fn components(&self, role: Role) -> &BTreeMap<String, ComponentDecl> {
        match role {
            Role::Processor => &self.processors,
            Role::Stage => &self.stages,
            Role::Sink => &self.sinks,
            Role::Producer => &self.producers,
            Role::Api => &self.apis,
        }
    }

    fn components_mut(&mut self, role: Role) -> &mut BTreeMap<String, ComponentDecl> {
        match role {
            Role::Processor => &mut self.processors,
            Role::Stage => &mut self.stages,
            Role::Sink => &mut self.sinks,
            Role::Producer => &mut self.producers,
            Role::Api => &mut self.apis,
        }
    }

    /// Every declared component with its role, processors first (the order `souk run` starts them).
    pub fn all_components(&self) -> impl Iterator<Item = (Role, &String, &ComponentDecl)> {
        Role::ALL.into_iter().flat_map(move |role| self.components(role).iter().map(move |(n, d)| (role, n, d)))
    }

    /// Component `name` of `role`, resolved: real topics, group, dead-letter and changelog topics.
    pub fn component(&self, role: Role, name: &str) -> anyhow::Result<ComponentSpec> {
        let decl = self.components(role).get(name).ok_or_else(|| anyhow::anyhow!("{role} {name} is not declared in topology.toml"))?;
        Ok(ComponentSpec {
            name: name.to_string(),
            role,
            kind: decl.kind.get_ref().clone(),
            inputs: decl.inputs.iter().map(|i| SourceTopic { declared: i.get_ref().clone(), topic: self.topic(i.get_ref()), partitions: self.partitions(i.get_ref()) }).collect(),
            outputs: decl.outputs.iter().map(|(k, v)| (k.clone(), self.topic(v.get_ref()))).collect(),
            tables: decl.tables.iter().map(|i| SourceTopic { declared: i.get_ref().clone(), topic: self.topic(i.get_ref()), partitions: self.partitions(i.get_ref()) }).collect(),
            dlq: self.dlq_topic(name),
            changelog: self.changelog_topic(name),
            group_id: self.group_id(name),
            batch_size: decl.batch_size,
            options: decl.options.clone(),
        })
    }

    /// The 1-based line of a component's `kind` (where `souk topology check` points for problems
    /// of the component as a whole).
    pub fn line_of_kind(&self, decl: &ComponentDecl) -> usize {
        self.line_of(decl.kind.span())
    }

    fn line_of(&self, span: std::ops::Range<usize>) -> usize {
        self.source[..span.start.min(self.source.len())].lines().count().max(1)
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
        let line_of = |span: std::ops::Range<usize>| self.line_of(span);
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
        for role in [Role::Stage, Role::Sink] {
            for (name, c) in self.components(role) {
                if c.inputs.is_empty() {
                    errors.push(CheckError { line: self.line_of_kind(c), message: format!("{role} {name} has no inputs") });
                }
                for topic in &c.inputs {
                    check_ref(&format!("{role} {name}"), topic, "input", &mut errors);
                }
                for topic in c.outputs.values() {
                    check_ref(&format!("{role} {name}"), topic, "output", &mut errors);
                }
            }
        }
        for (name, p) in &self.producers {
            if let Some(input) = p.inputs.first() {
                errors.push(CheckError { line: line_of(input.span()), message: format!("producer {name} reads nothing (inputs are for processors, stages and sinks)") });
            }
            for topic in p.outputs.values() {
                check_ref(&format!("producer {name}"), topic, "output", &mut errors);
            }
        }
        for (name, a) in &self.apis {
            if let Some(topic) = a.inputs.first().or(a.outputs.values().next()) {
                errors.push(CheckError { line: line_of(topic.span()), message: format!("api {name} neither reads nor writes topics (it serves what a sink projected)") });
            }
        }
        for (role, name, c) in self.all_components() {
            for table in &c.tables {
                check_ref(&format!("{role} {name}"), table, "table", &mut errors);
                if self.topics.get(table.get_ref()).is_some_and(|t| !t.compacted) {
                    errors.push(CheckError {
                        line: line_of(table.span()),
                        message: format!("{role} {name}: table topic {} must be compacted (a table keeps the latest record per key)", table.get_ref()),
                    });
                }
            }
        }
        let mut seen: BTreeMap<&str, Role> = BTreeMap::new();
        for (role, name, decl) in self.all_components() {
            if let Some(first) = seen.insert(name, role) {
                errors.push(CheckError { line: self.line_of_kind(decl), message: format!("{role} {name}: the name is taken by a {first} (names are consumer groups and metrics labels)") });
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
        let text = "[topics.a]\nkey = \"k\"\nrecords = [\"souk.clock.Tick\"]\npartitions = 4\n\n[topics.b]\nkey = \"k\"\nrecords = [\"souk.clock.Tick\"]\npartitions = 8\n\n[processors.p]\ninputs = [\"a\", \"b\"]\noutputs = { events = \"nope\" }\nkind = \"p\"\n";
        let t = Topology::parse(text, "").unwrap();
        let errors = t.check(&records());
        assert!(errors.iter().any(|e| e.line == 12 && e.message.contains("co-partitioned")), "{errors:?}");
        assert!(errors.iter().any(|e| e.line == 13 && e.message.contains("nope")), "{errors:?}");
    }

    #[test]
    fn a_components_own_keys_are_its_options() {
        let text = "[topics.a]\nkey = \"k\"\nrecords = [\"souk.clock.Tick\"]\n\n[producers.clock]\ndoc = \"d\"\nkind = \"clock\"\ninterval_ms = 5\n";
        let t = Topology::parse(text, "p.").unwrap();
        let spec = t.component(Role::Producer, "clock").unwrap();
        assert_eq!(spec.kind, "clock");
        assert_eq!(spec.options.get("interval_ms"), Some(&toml::Value::Integer(5)));
        assert_eq!(spec.options.len(), 1, "{:?}", spec.options);
        assert_eq!(t.line_of_kind(&t.producers["clock"]), 7);
        assert!(t.component(Role::Sink, "clock").is_err());
    }

    #[test]
    fn names_are_unique_across_roles_and_producers_read_nothing() {
        let text = "[topics.a]\nkey = \"k\"\nrecords = [\"souk.clock.Tick\"]\n\n[sinks.x]\nkind = \"s\"\ninputs = [\"a\"]\n\n[producers.x]\nkind = \"p\"\ninputs = [\"a\"]\n";
        let errors = Topology::parse(text, "").unwrap().check(&records());
        assert!(errors.iter().any(|e| e.line == 11 && e.message.contains("reads nothing")), "{errors:?}");
        assert!(errors.iter().any(|e| e.line == 10 && e.message.contains("taken by a sink")), "{errors:?}");
    }

    #[test]
    fn apis_neither_read_nor_write_topics() {
        let text = "[topics.a]\nkey = \"k\"\nrecords = [\"souk.clock.Tick\"]\n\n[apis.reads]\nkind = \"read-api\"\n\n[apis.bad]\nkind = \"read-api\"\ninputs = [\"a\"]\n";
        let t = Topology::parse(text, "").unwrap();
        let errors = t.check(&records());
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].line == 10 && errors[0].message.contains("api bad neither reads nor writes"), "{errors:?}");
        assert_eq!(t.component(Role::Api, "reads").unwrap().kind, "read-api");
        assert!(t.all_components().any(|(role, name, _)| role == Role::Api && name == "reads"));
    }

    #[test]
    fn prefix_applies_to_topics_and_groups() {
        let t = Topology::parse(include_str!("../../topology.toml"), "t1.").unwrap();
        assert_eq!(t.topic("inventory.events"), "t1.inventory.events");
        assert_eq!(t.group_id("inventory-pool"), "t1.souk.inventory-pool");
    }
}
