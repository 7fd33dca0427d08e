//! Shared helpers of the end-to-end tests: an isolated copy of the pipeline under a unique topic
//! prefix, `souk run` child processes that can be killed with SIGKILL, and log comparisons against
//! the broker-free driver.
#![allow(dead_code)]

pub mod inbox;
pub mod orchestration;
pub mod textile;

/// The one-call-to-action rule, shared with the processor tests.
#[path = "../../processors/tests/order_session_support/cta.rs"]
pub mod cta;

use souk::workload::KeyedCommand;
use souk_processors::InventoryPool;
use souk_runtime::codec::Codec;
use souk_runtime::exactly_once::Mode;
use souk_runtime::testkit::{read_to_end, ReadRecord};
use souk_runtime::topology::Topology;
use souk_runtime::{stack, TestDriver};
use souk_schemas::inventory::{InventoryCommand, InventoryEvent};
use souk_schemas::{Catalog, StreamEvent};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

/// One isolated copy of the pipeline (its own topics and groups), run in one exactly-once mode.
pub struct Pipeline {
    pub prefix: String,
    pub topology: Topology,
    pub codec: Arc<Codec>,
    pub bootstrap: String,
    pub logs: PathBuf,
    pub mode: Mode,
}

impl Pipeline {
    /// Applies the real topology.toml under a fresh prefix; children run in `transactions` mode.
    pub async fn new(tag: &str) -> Pipeline {
        Self::with_mode(tag, Mode::Transactions).await
    }

    /// Applies the real topology.toml under a fresh prefix; children run in `mode`.
    pub async fn with_mode(tag: &str, mode: Mode) -> Pipeline {
        let prefix = souk_runtime::testkit::unique_prefix(tag);
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/topology.toml")).unwrap();
        let topology = Topology::parse(&text, &prefix).unwrap();
        let catalog = Catalog::builtin().unwrap();
        let bootstrap = stack::kafka_bootstrap();
        let registry = stack::schema_registry_url();
        souk_runtime::testkit::with_retries("topology apply", || souk_runtime::admin::apply(&topology, &catalog, &bootstrap, &registry))
            .await
            .expect("the local stack must be up: ./dev up (or SOUK_KAFKA_BOOTSTRAP / SOUK_SCHEMA_REGISTRY_URL / SOUK_DATABASE_URL)");
        let codec = Arc::new(stack::codec_for(&topology, &catalog, &stack::schema_registry_url()).unwrap());
        let logs = std::env::temp_dir().join(format!("souk-e2e-{}", prefix.trim_end_matches('.')));
        std::fs::create_dir_all(&logs).unwrap();
        Pipeline { prefix, topology, codec, bootstrap, logs, mode }
    }

    /// Starts `souk run --only <components>` as a child process (killed when dropped, so a failing
    /// test leaves nothing running), as instance `main`: a restart after a kill -9 reuses the
    /// instance id, like a redeployed replica, so its transactional ids fence the dead one's.
    pub fn spawn(&self, components: &str, name: &str) -> Proc {
        self.spawn_with(components, name, "main", &[])
    }

    /// [`Pipeline::spawn`] as instance `instance` with extra environment (e.g. `SOUK_FAILPOINT`).
    pub fn spawn_with(&self, components: &str, name: &str, instance: &str, env: &[(&str, &str)]) -> Proc {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.logs.join(format!("{name}.log"))).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_souk"));
        cmd.args(["--topology", concat!(env!("CARGO_MANIFEST_DIR"), "/topology.toml"), "run", "--no-apply", "--metrics-addr", "off", "--only", components])
            .env("SOUK_TOPIC_PREFIX", &self.prefix)
            .env("SOUK_LOG", "info,rdkafka=warn,librdkafka=warn")
            .env("SOUK_EXACTLY_ONCE", self.mode.as_str())
            .env("SOUK_INSTANCE_ID", instance)
            .env_remove("SOUK_FAILPOINT")
            .stdout(Stdio::null())
            .stderr(log);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.spawn().map(Proc).expect("spawn souk")
    }

    /// The stderr log of a named child.
    pub fn log_of(&self, name: &str) -> String {
        std::fs::read_to_string(self.logs.join(format!("{name}.log"))).unwrap_or_default()
    }

    /// Produces commands to `inventory.commands`.
    pub async fn produce(&self, commands: &[KeyedCommand]) {
        let p = souk_runtime::kafka::producer(&self.bootstrap).unwrap();
        souk::workload::produce_commands(&p, &self.codec, &self.topology.topic("inventory.commands"), commands).await.unwrap();
    }

    /// Waits until the inventory processor committed the end of its input.
    pub async fn wait_processed(&self, secs: u64) {
        souk_runtime::testkit::wait_group_caught_up(&self.bootstrap, &self.topology.group_id("inventory-pool"), &self.topology.topic("inventory.commands"), std::time::Duration::from_secs(secs))
            .await
            .unwrap();
    }

    /// Reads a declared topic to its end.
    pub async fn read(&self, topic: &str) -> Vec<ReadRecord> {
        read_to_end(&self.bootstrap, &self.topology.topic(topic)).await.unwrap()
    }

    /// Replays the real input log through the driver.
    pub async fn driver_over_input(&self) -> TestDriver<InventoryPool> {
        let topic = self.topology.topic("inventory.commands");
        let mut driver = TestDriver::new(InventoryPool, self.topology.partitions("inventory.commands"));
        for r in self.read("inventory.commands").await {
            let Ok(event) = self.codec.decode::<InventoryCommand>(r.payload.as_deref().unwrap_or_default()).await else { continue };
            driver.feed_at(&topic, r.partition, r.offset, r.key.as_deref().unwrap_or_default(), &event);
        }
        driver
    }

    /// Decoded outputs with their raw bytes.
    pub async fn outputs(&self) -> Vec<(ReadRecord, InventoryEvent)> {
        let mut out = Vec::new();
        for r in self.read("inventory.events").await {
            let e: InventoryEvent = self.codec.decode(r.payload.as_deref().unwrap()).await.unwrap();
            out.push((r, e));
        }
        out
    }

    /// The durable state per key: what a restore takes from the changelog (`read_committed`; per
    /// key the record written at the highest input position, see `store::position_at_least`).
    pub async fn changelog_states(&self) -> HashMap<String, serde_json::Value> {
        let mut states: HashMap<String, (souk_runtime::store::Position, serde_json::Value)> = HashMap::new();
        for r in read_to_end(&self.bootstrap, &self.topology.changelog_topic("inventory-pool")).await.unwrap() {
            if r.key.as_deref() == Some(souk_runtime::store::STREAM_TIME_KEY) {
                continue;
            }
            let json = self.codec.decode_json(r.payload.as_deref().unwrap()).await.unwrap();
            let state: serde_json::Value = serde_json::from_str(json["state_json"].as_str().unwrap()).unwrap();
            let position: souk_runtime::store::Position = json["input_position"].as_object().unwrap().iter().map(|(t, o)| (t.clone(), o.as_i64().unwrap())).collect();
            let key = r.key.unwrap();
            if states.get(&key).is_none_or(|(prev, _)| souk_runtime::store::position_at_least(&position, prev)) {
                states.insert(key, (position, state));
            }
        }
        states.into_iter().map(|(k, (_, s))| (k, s)).collect()
    }
}

/// A finished test's topics are deleted (the broker keeps an open file per partition, and a suite
/// creates thousands); `./dev test` also sweeps what a killed run left behind.
impl Drop for Pipeline {
    fn drop(&mut self) {
        let (bootstrap, prefix) = (self.bootstrap.clone(), self.prefix.clone());
        let _ = std::thread::spawn(move || futures::executor::block_on(delete_topics_with_prefix(&bootstrap, &prefix))).join();
    }
}

async fn delete_topics_with_prefix(bootstrap: &str, prefix: &str) {
    use rdkafka::admin::{AdminClient, AdminOptions};
    use rdkafka::client::DefaultClientContext;
    let Ok(admin) = souk_runtime::admin::client_config(bootstrap).create::<AdminClient<DefaultClientContext>>() else { return };
    let Ok(metadata) = admin.inner().fetch_metadata(None, std::time::Duration::from_secs(10)) else { return };
    let topics: Vec<String> = metadata.topics().iter().map(|t| t.name().to_string()).filter(|t| t.starts_with(prefix)).collect();
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    if !names.is_empty() {
        let _ = admin.delete_topics(&names, &AdminOptions::new().operation_timeout(Some(std::time::Duration::from_secs(30)))).await;
    }
}

/// The random source of a seeded test: the seed is `SOUK_TEST_SEED` when set, else taken from
/// the clock, and always printed, so a failing run can be replayed exactly.
pub fn seeded_rng(test: &str) -> rand::rngs::StdRng {
    use rand::SeedableRng;
    let seed = match std::env::var("SOUK_TEST_SEED") {
        Ok(s) => s.trim().parse().unwrap_or_else(|_| panic!("SOUK_TEST_SEED must be a u64, got {s:?}")),
        Err(_) => std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64),
    };
    eprintln!("{test}: seed {seed} (replay with SOUK_TEST_SEED={seed})");
    rand::rngs::StdRng::seed_from_u64(seed)
}

/// A `souk run` child process; SIGKILLed on drop.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Sends `signal` (e.g. `-STOP`, `-CONT`) to the child.
pub fn signal(child: &Proc, signal: &str) {
    let _ = Command::new("kill").args([signal, &child.0.id().to_string()]).status();
}

/// Waits until `name`'s log contains `needle` (or panics after `secs`).
pub async fn wait_for_log(p: &Pipeline, name: &str, needle: &str, secs: u64) {
    let started = std::time::Instant::now();
    while !p.log_of(name).contains(needle) {
        assert!(started.elapsed() < std::time::Duration::from_secs(secs), "{name} did not log {needle:?} within {secs}s:\n{}", p.log_of(name));
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// SIGKILL, no chance to clean up.
pub fn kill9(child: &mut Proc) {
    let _ = Command::new("kill").args(["-9", &child.0.id().to_string()]).status();
    let _ = child.0.wait();
}

/// SIGTERM and wait (graceful: finishes the current batch).
pub fn terminate(child: &mut Proc) {
    let _ = Command::new("kill").args(["-TERM", &child.0.id().to_string()]).status();
    let _ = child.0.wait();
}

/// The exactly-once-effects checks shared by the crash and rebalance tests.
pub async fn assert_exactly_once_effects(p: &Pipeline) -> TestDriver<InventoryPool> {
    let driver = p.driver_over_input().await;
    let outputs = p.outputs().await;
    // 1. Every copy of an output is identical (same id ⇒ same bytes).
    let mut by_id: BTreeMap<String, &[u8]> = BTreeMap::new();
    let mut copies = 0;
    for (r, e) in &outputs {
        let bytes = r.payload.as_deref().unwrap();
        if let Some(prev) = by_id.insert(e.envelope().event_id.clone(), bytes) {
            copies += 1;
            assert_eq!(prev, bytes, "all copies of {} are byte-identical", e.envelope().event_id);
        }
    }
    eprintln!("outputs: {} records, {} distinct, {copies} re-emitted copies ({} mode)", outputs.len(), by_id.len(), p.mode);
    if p.mode == Mode::Transactions {
        // A read_committed reader sees each output once: aborted batches leave no trace.
        assert_eq!(copies, 0, "in transactions mode a read_committed reader sees no duplicate at all");
    }
    // 2. The distinct outputs are exactly the driver's, per key and in order.
    let mut real: BTreeMap<String, Vec<InventoryEvent>> = BTreeMap::new();
    let mut seen = std::collections::HashSet::new();
    for (r, e) in &outputs {
        if seen.insert(e.envelope().event_id.clone()) {
            real.entry(r.key.clone().unwrap()).or_default().push(e.clone());
        }
    }
    let mut expected: BTreeMap<String, Vec<InventoryEvent>> = BTreeMap::new();
    for o in driver.outputs.iter().filter(|o| o.output == "events") {
        expected.entry(o.emitted.key.clone()).or_default().push(o.emitted.event.clone());
    }
    assert_eq!(real.keys().collect::<Vec<_>>(), expected.keys().collect::<Vec<_>>());
    for (key, events) in &expected {
        assert!(real[key] == *events, "outputs of {key} differ from the driver's");
    }
    // 3. Every request has an answer caused by it.
    let causes: std::collections::HashSet<String> = outputs.iter().filter_map(|(_, e)| e.envelope().causation_id.clone()).collect();
    for r in p.read("inventory.commands").await {
        let Ok(cmd) = p.codec.decode::<InventoryCommand>(r.payload.as_deref().unwrap()).await else { continue };
        if !cmd.is_tick() {
            assert!(causes.contains(&cmd.envelope().event_id), "request {} at offset {} has an answer", cmd.envelope().event_id, r.offset);
        }
    }
    // 4. The durable state equals the driver's final state.
    let states = p.changelog_states().await;
    let driver_states = driver.all_states();
    assert_eq!(states.len(), driver_states.len());
    for (key, state) in driver_states {
        assert_eq!(states[&key], serde_json::to_value(&state).unwrap(), "state of {key}");
    }
    driver
}
