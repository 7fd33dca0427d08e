//! Shared setup of the sinks' real-stack tests (search index, WhatsApp dispatcher): an isolated
//! copy of the shipped topology under a unique prefix, applied to the local stack, with its codec,
//! and a helper to produce typed events.
#![allow(dead_code)]

use serde::Serialize;
use souk_runtime::codec::Codec;
use souk_runtime::kafka::{make_headers, producer, send_all, OutRecord};
use souk_runtime::topology::Topology;
use souk_runtime::{admin, stack};
use souk_schemas::Catalog;
use std::sync::Arc;
use std::time::Duration;

/// The applied topology, its codec and the broker.
pub struct Stack {
    pub topology: Topology,
    pub codec: Arc<Codec>,
    pub bootstrap: String,
    pub prefix: String,
}

/// The topology applied on the local stack; fails the test (with what is missing) when the stack
/// does not answer.
pub async fn stack(tag: &str) -> Stack {
    souk_runtime::testkit::require_stack(tag).await;
    let prefix = souk_runtime::testkit::unique_prefix(tag);
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../topology.toml")).expect("topology.toml");
    let topology = Topology::parse(&text, &prefix).expect("topology");
    let catalog = Catalog::builtin().expect("catalog");
    let bootstrap = stack::kafka_bootstrap();
    let mut attempt = 0;
    loop {
        attempt += 1;
        match admin::apply(&topology, &catalog, &bootstrap, &stack::schema_registry_url()).await {
            Ok(_) => break,
            Err(e) if attempt < 4 => {
                eprintln!("topology apply attempt {attempt} failed ({e:#}); retrying");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            Err(e) => panic!("topology apply on the local stack: {e:#}"),
        }
    }
    let codec = Arc::new(stack::codec_for(&topology, &catalog, &stack::schema_registry_url()).expect("codec"));
    Stack { topology, codec, bootstrap, prefix }
}

impl Stack {
    /// Encodes and produces `(key, event)` pairs to declared topic `topic`, waiting for the acks.
    pub async fn produce<T: Serialize>(&self, topic: &str, events: &[(String, T)]) {
        let full = self.topology.topic(topic);
        let mut out = Vec::new();
        for (key, e) in events {
            let payload = self.codec.encode(&full, e).await.expect("encode");
            out.push(OutRecord { topic: full.clone(), partition: None, key: Some(key.clone()), payload: Some(payload), headers: make_headers(&[]) });
        }
        self.produce_raw(out).await;
    }

    /// Produces raw bytes (poison records).
    pub async fn produce_bytes(&self, topic: &str, key: &str, payload: &[u8]) {
        let out = OutRecord { topic: self.topology.topic(topic), partition: None, key: Some(key.into()), payload: Some(payload.to_vec()), headers: make_headers(&[]) };
        self.produce_raw(vec![out]).await;
    }

    async fn produce_raw(&self, out: Vec<OutRecord>) {
        let p = producer(&self.bootstrap).expect("producer");
        send_all(&p, out).await.expect("produce");
    }

    /// Sum of the high watermarks of declared topic `topic`.
    pub fn topic_end(&self, topic: &str) -> i64 {
        let full = self.topology.topic(topic);
        (0..self.topology.partitions(topic)).map(|p| souk_runtime::testkit::watermarks(&self.bootstrap, &full, p).expect("watermarks").1).sum()
    }
}

/// A TCP proxy in front of the local Postgres that can be taken down and brought back: while down
/// it cuts every open connection and resets new ones, which is what a sink sees when its database
/// goes away (a real outage, not a mocked error).
pub struct PgOutage {
    /// `postgres://…` through the proxy.
    pub url: String,
    down: Arc<std::sync::atomic::AtomicBool>,
    conns: Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl PgOutage {
    /// A proxy to the Postgres of `database_url`.
    pub async fn start(database_url: &str) -> PgOutage {
        let (scheme_auth, rest) = database_url.rsplit_once('@').expect("database url with user@host");
        let (target, db) = rest.split_once('/').expect("database url with /db");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let url = format!("{scheme_auth}@{}/{db}", listener.local_addr().expect("addr"));
        let down = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let conns: Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>> = Arc::default();
        let (target, d, c) = (target.to_string(), down.clone(), conns.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if d.load(std::sync::atomic::Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let target = target.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                c.lock().expect("conns").push(task.abort_handle());
            }
        });
        PgOutage { url, down, conns, accept }
    }

    /// Takes the database away (`true`, cutting every connection) or brings it back.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, std::sync::atomic::Ordering::SeqCst);
        if down {
            for c in self.conns.lock().expect("conns").drain(..) {
                c.abort();
            }
        }
    }
}

impl Drop for PgOutage {
    fn drop(&mut self) {
        self.set_down(true);
        self.accept.abort();
    }
}

/// A customer's text message as the gateway publishes it (`whatsapp.inbound`), sent at `at_ms`.
pub fn inbound_text(tenant: &str, wamid: &str, wa_id: &str, text: &str, at_ms: i64) -> souk_schemas::whatsapp::InboundMessage {
    souk_schemas::whatsapp::InboundMessage {
        envelope: souk_schemas::Envelope::external(tenant, wamid, at_ms),
        phone_number_id: "100".into(),
        wa_id: wa_id.into(),
        profile_name: None,
        wamid: wamid.into(),
        sent_at: at_ms,
        kind: "text".into(),
        message_type: "text".into(),
        text: Some(text.into()),
        reply_id: None,
        context_wamid: None,
        raw_json: "{}".into(),
    }
}

/// The offsets `sink` has stored in Postgres, summed over the logical `inputs`.
pub async fn stored_offsets(stack: &Stack, pool: &sqlx::PgPool, sink: &str, inputs: &[&str]) -> i64 {
    let topics: Vec<String> = inputs.iter().map(|t| stack.topology.topic(t)).collect();
    souk_projections::sink_offsets(pool, sink).await.expect("sink_offsets").iter().filter(|r| topics.contains(&r.topic)).map(|r| r.next_offset).sum()
}

/// Runs the `orchestration-postgres` projection until its stored offsets reach the end of
/// `inputs` (bounded: 120 s), then stops it.
pub async fn run_orchestration_sink_to_end(stack: &Stack, pool: &sqlx::PgPool, inputs: &[&str]) {
    const SINK: &str = "orchestration-postgres";
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let (topology, codec, db, bootstrap) = (stack.topology.clone(), stack.codec.clone(), pool.clone(), stack.bootstrap.clone());
    let handle = tokio::spawn(async move { souk_sinks::postgres::run_projection_sink(souk_sinks::postgres::OrchestrationProjection, &topology, SINK, &bootstrap, codec, db, shutdown).await });
    let end: i64 = tokio::task::block_in_place(|| inputs.iter().map(|t| stack.topic_end(t)).sum());
    let started = std::time::Instant::now();
    while stored_offsets(stack, pool, SINK, inputs).await < end {
        assert!(started.elapsed() < Duration::from_secs(120), "sink did not reach {end} (at {})", stored_offsets(stack, pool, SINK, inputs).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(stored_offsets(stack, pool, SINK, inputs).await, end, "stored offsets equal the end of the inputs");
    stop.send(true).expect("stop");
    handle.await.expect("join").expect("orchestration sink");
}
