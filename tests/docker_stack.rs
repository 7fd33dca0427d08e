//! The exactly-once-effects check on the stack the project does not run itself: Apache Kafka (KRaft,
//! single node), Confluent Schema Registry and Postgres 15, each started in a container by
//! testcontainers.
//!
//! Why it exists: every other runtime and end-to-end test runs on the local stack (Apache Kafka +
//! Apicurio Registry's Confluent-compatible API). This test proves the same protocol gives the
//! same answers with Confluent's own registry, which users also deploy: `souk topology apply`
//! registers with Confluent's BACKWARD checker, the engine runs `InventoryPool` (transactions
//! mode) until its group committed the end of its input, the
//! outputs equal the broker-free `TestDriver` over the same log (ids, content, durable state), and the
//! Postgres sink projects them with its offsets in the same SQL transaction.
//!
//! It runs only where a Docker engine runs: `cargo test --features docker --test docker_stack`.
//! Without the `docker` feature it is not compiled; `./dev test` only builds it
//! (`cargo check --features docker --tests`).
#![cfg(feature = "docker")]

mod support;

use rdkafka::consumer::{BaseConsumer, Consumer};
use souk::workload::{generate, WorkloadSpec};
use souk_processors::InventoryPool;
use souk_runtime::engine::{EngineSettings, ProcessorEngine};
use souk_schemas::inventory::InventoryEvent;
use souk_schemas::StreamEvent;
use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{assert_exactly_once_effects, Pipeline};
use testcontainers::core::IntoContainerPort;
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

const KAFKA_IMAGE: (&str, &str) = ("apache/kafka", "4.1.2");
const REGISTRY_IMAGE: (&str, &str) = ("confluentinc/cp-schema-registry", "7.9.0");
const POSTGRES_IMAGE: (&str, &str) = ("postgres", "15");
/// The container port of Kafka's listener for the host; published on a fixed host port chosen at
/// run time, because Kafka must advertise the address clients dial (see [`Stack::start`]).
const KAFKA_EXTERNAL_PORT: u16 = 19092;
const SINK: &str = "inventory-postgres";
const TENANT: &str = "acme";

/// The three containers; removed when dropped.
struct Stack {
    _kafka: ContainerAsync<GenericImage>,
    _registry: ContainerAsync<GenericImage>,
    _postgres: ContainerAsync<GenericImage>,
    bootstrap: String,
    registry_url: String,
    database_url: String,
}

/// A TCP port free on this host right now (bound, read, released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port").local_addr().unwrap().port()
}

/// Retries `probe` every 500 ms until it succeeds or `deadline` passes.
async fn wait_until<F, Fut>(what: &str, deadline: Duration, mut probe: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let started = Instant::now();
    loop {
        match probe().await {
            Ok(()) => return,
            Err(e) if started.elapsed() < deadline => {
                eprintln!("waiting for {what}: {e:#}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => panic!("{what} not ready after {deadline:?}: {e:#}"),
        }
    }
}

impl Stack {
    async fn start() -> Stack {
        let run = souk_runtime::testkit::unique_prefix("dk").trim_end_matches('.').to_string();
        let network = format!("souk-{run}");
        let kafka_name = format!("souk-{run}-kafka");
        // Where the Docker engine publishes ports; 127.0.0.1 for a local engine.
        let host = std::env::var("TESTCONTAINERS_HOST_OVERRIDE").unwrap_or_else(|_| "127.0.0.1".into());

        // Kafka answers metadata requests with its *advertised* listeners, so the host-facing one
        // must name the port the host dials. A random published port is only known after start,
        // too late for the broker's config: pick a free host port first and publish on it.
        let kafka_port = free_port();
        let kafka = GenericImage::new(KAFKA_IMAGE.0, KAFKA_IMAGE.1)
            .with_exposed_port(KAFKA_EXTERNAL_PORT.tcp())
            .with_network(&network)
            .with_container_name(&kafka_name)
            .with_mapped_port(kafka_port, KAFKA_EXTERNAL_PORT.tcp())
            // As in docker-compose.yml: the image starts from an empty config when any KAFKA_*
            // variable is set, so give the full set. INTERNAL for the registry's container,
            // EXTERNAL for souk on the host.
            .with_env_var("CLUSTER_ID", "c291ay1sb2NhbC1rcmFmdA")
            .with_env_var("KAFKA_NODE_ID", "1")
            .with_env_var("KAFKA_PROCESS_ROLES", "broker,controller")
            .with_env_var("KAFKA_CONTROLLER_QUORUM_VOTERS", "1@localhost:9093")
            .with_env_var("KAFKA_CONTROLLER_LISTENER_NAMES", "CONTROLLER")
            .with_env_var("KAFKA_LISTENERS", format!("INTERNAL://:9092,CONTROLLER://:9093,EXTERNAL://:{KAFKA_EXTERNAL_PORT}"))
            .with_env_var("KAFKA_ADVERTISED_LISTENERS", format!("INTERNAL://{kafka_name}:9092,EXTERNAL://{host}:{kafka_port}"))
            .with_env_var("KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", "INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT,EXTERNAL:PLAINTEXT")
            .with_env_var("KAFKA_INTER_BROKER_LISTENER_NAME", "INTERNAL")
            // the image's own default data dir (writable by its user without a volume)
            .with_env_var("KAFKA_LOG_DIRS", "/tmp/kraft-combined-logs")
            .with_env_var("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "1")
            .with_env_var("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1")
            .with_env_var("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1")
            .with_env_var("KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS", "0")
            .with_env_var("KAFKA_AUTO_CREATE_TOPICS_ENABLE", "false")
            .with_env_var("KAFKA_NUM_PARTITIONS", "3")
            .with_startup_timeout(Duration::from_secs(180))
            .start()
            .await
            .expect("start the Kafka container (is a Docker engine running?)");
        let bootstrap = format!("{host}:{kafka_port}");
        wait_until("Kafka", Duration::from_secs(120), || {
            let bootstrap = bootstrap.clone();
            async move {
                tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
                    let probe: BaseConsumer = souk_runtime::admin::client_config(&bootstrap).create()?;
                    let metadata = probe.fetch_metadata(None, Duration::from_secs(5))?;
                    anyhow::ensure!(!metadata.brokers().is_empty(), "no brokers in metadata");
                    Ok(())
                })
                .await?
            }
        })
        .await;

        // The registry stores schemas in Kafka (`_schemas`), so it starts once Kafka answers.
        let registry = GenericImage::new(REGISTRY_IMAGE.0, REGISTRY_IMAGE.1)
            .with_exposed_port(8081.tcp())
            .with_network(&network)
            .with_container_name(format!("souk-{run}-registry"))
            .with_env_var("SCHEMA_REGISTRY_HOST_NAME", format!("souk-{run}-registry"))
            .with_env_var("SCHEMA_REGISTRY_LISTENERS", "http://0.0.0.0:8081")
            .with_env_var("SCHEMA_REGISTRY_KAFKASTORE_BOOTSTRAP_SERVERS", format!("PLAINTEXT://{kafka_name}:9092"))
            .with_env_var("SCHEMA_REGISTRY_KAFKASTORE_TOPIC", "_schemas")
            .with_env_var("SCHEMA_REGISTRY_KAFKASTORE_TOPIC_REPLICATION_FACTOR", "1")
            .with_env_var("SCHEMA_REGISTRY_SCHEMA_COMPATIBILITY_LEVEL", "backward")
            .with_startup_timeout(Duration::from_secs(180))
            .start()
            .await
            .expect("start the Schema Registry container");
        let registry_url = format!("http://{host}:{}", registry.get_host_port_ipv4(8081).await.expect("registry port"));
        let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
        wait_until("Schema Registry", Duration::from_secs(120), || {
            let (http, url) = (http.clone(), format!("{registry_url}/subjects"));
            async move {
                let status = http.get(url).send().await?.status();
                anyhow::ensure!(status.is_success(), "GET /subjects answered {status}");
                Ok(())
            }
        })
        .await;

        let postgres = GenericImage::new(POSTGRES_IMAGE.0, POSTGRES_IMAGE.1)
            .with_exposed_port(5432.tcp())
            .with_env_var("POSTGRES_USER", "souk")
            .with_env_var("POSTGRES_PASSWORD", "souk")
            .with_env_var("POSTGRES_DB", "souk")
            .with_startup_timeout(Duration::from_secs(120))
            .start()
            .await
            .expect("start the Postgres container");
        let database_url = format!("postgres://souk:souk@{host}:{}/souk", postgres.get_host_port_ipv4(5432).await.expect("postgres port"));
        // The image's init phase runs a temporary server without TCP; a TCP connection that
        // succeeds is the real one.
        wait_until("Postgres", Duration::from_secs(120), || {
            let url = database_url.clone();
            async move {
                use sqlx::Connection;
                let conn = sqlx::PgConnection::connect(&url).await?;
                conn.close().await?;
                Ok(())
            }
        })
        .await;

        Stack { _kafka: kafka, _registry: registry, _postgres: postgres, bootstrap, registry_url, database_url }
    }

    /// Points souk (and `tests/support`, which reads `souk_runtime::stack` at call time) at the
    /// containers. This test binary holds this one test, so nothing else reads the env meanwhile.
    fn export_env(&self) {
        std::env::set_var("SOUK_KAFKA_BOOTSTRAP", &self.bootstrap);
        std::env::set_var("SOUK_SCHEMA_REGISTRY_URL", &self.registry_url);
        std::env::set_var("SOUK_DATABASE_URL", &self.database_url);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_once_effects_on_apache_kafka_confluent_registry_and_postgres() {
    let _ =
        tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::try_from_env("SOUK_LOG").unwrap_or_else(|_| "info,rdkafka=warn,librdkafka=warn".into())).with_test_writer().try_init();
    let stack = Stack::start().await;
    stack.export_env();

    // The shipped topology.toml under a unique prefix; schemas registered with Confluent's checker.
    let p = Pipeline::new("dk").await;
    let start_ms = 1_700_000_000_000;
    let spec = WorkloadSpec { tenant: TENANT.into(), pools: 32, commands: 2_000, seed: 17, start_ms };
    let commands = generate(&spec);
    p.produce(&commands).await;
    // Time is an event: one tick well past every hold's 1 h TTL expires the holds still open.
    let ticker = souk_runtime::kafka::producer(&p.bootstrap).unwrap();
    let last_ms = start_ms + 1_000 * commands.len() as i64;
    souk_producers::clock::tick_once(&ticker, &p.codec, &p.topology.ticked_topics(), last_ms + 2 * 3_600_000).await.unwrap();

    // The processor and the Postgres sink, in this process.
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let engine_spec = p.topology.component(souk_runtime::topology::Role::Processor, "inventory-pool").unwrap();
    let engine = ProcessorEngine::new(Arc::new(InventoryPool), engine_spec, p.codec.clone(), EngineSettings::new(&p.bootstrap, souk_runtime::exactly_once::Mode::Transactions)).unwrap();
    let engine = tokio::spawn(engine.run(shutdown.clone()));
    let db = sqlx::postgres::PgPoolOptions::new().max_connections(4).connect(&souk_runtime::stack::database_url()).await.expect("connect to the Postgres container");
    let sink = {
        let (topology, codec, db, bootstrap, rx) = (p.topology.clone(), p.codec.clone(), db.clone(), p.bootstrap.clone(), shutdown.clone());
        tokio::spawn(async move { souk_sinks::postgres::run_inventory_sink(&topology, SINK, &bootstrap, codec, db, rx).await })
    };

    // The processor committed the end of its input (commands and ticks): compare with the driver.
    p.wait_processed(300).await;
    let driver = assert_exactly_once_effects(&p).await;
    assert!(driver.skipped > 0, "the workload's upstream copies were skipped by event id");
    let expired = driver.outputs.iter().filter(|o| matches!(o.emitted.event, InventoryEvent::HoldExpired(_))).count();
    assert!(expired > 0, "the tick fired hold expiries");

    // The sink reaches the end of every partition of inventory.events…
    let events_topic = p.topology.topic("inventory.events");
    let outputs = p.outputs().await;
    let mut ends: BTreeMap<i32, i64> = BTreeMap::new();
    for (r, _) in &outputs {
        let end = ends.entry(r.partition).or_default();
        *end = (*end).max(r.offset + 1);
    }
    wait_until("the sink to store the end of inventory.events", Duration::from_secs(180), || {
        let (db, topic, ends) = (db.clone(), events_topic.clone(), ends.clone());
        async move {
            let stored: BTreeMap<i32, i64> = souk_projections::sink_offsets(&db, SINK).await?.into_iter().filter(|r| r.topic == topic).map(|r| (r.partition, r.next_offset)).collect();
            anyhow::ensure!(stored == ends, "stored {stored:?}, ends {ends:?}");
            Ok(())
        }
    })
    .await;
    // …and every pool's row is its latest StockLevelChanged.
    let mut latest = BTreeMap::new();
    let mut seen = HashSet::new();
    for (r, e) in &outputs {
        if let InventoryEvent::StockLevelChanged(s) = e {
            if seen.insert(e.envelope().event_id.clone()) {
                latest.insert(r.key.clone().unwrap(), s.clone());
            }
        }
    }
    let pools = souk_projections::pools(&mut *db.acquire().await.unwrap(), TENANT).await.unwrap();
    assert_eq!(pools.len(), spec.pools, "one stock_pools row per pool");
    for row in &pools {
        let s = &latest[&format!("{}|{}|{}", row.tenant_id, row.material, row.color)];
        assert_eq!(row.last_event_id, s.envelope.event_id, "pool {}/{}", row.material, row.color);
        assert_eq!((row.on_hand_meters, row.held_meters, row.available_meters), (s.on_hand_meters, s.held_meters, s.available_meters), "pool {}/{}", row.material, row.color);
    }

    stop.send(true).unwrap();
    engine.await.unwrap().unwrap();
    sink.await.unwrap().unwrap();
}
