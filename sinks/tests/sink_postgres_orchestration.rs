//! The orchestration Postgres sink on the real local stack (Apache Kafka + Apicurio + Postgres):
//! partners, products and one bundle's negotiation events of two tenants land in the read models.
//! Trust scores follow rules T1 (licence + insurance + tax id = 45; + 2 reviews + 95 % on time = 100,
//! White Glove); a snapshot that is older (by source time, or by offset at the same time) never
//! replaces a newer one; replies, thread messages and recoveries are stored once per event id even
//! when a record is in the log twice; a record keyed for another tenant is dead-lettered; one
//! tenant never sees the other's rows although both use the same ids. Then the sink's offsets are
//! wiped and the whole log is applied again, which must leave every row unchanged.
//! Needs `./dev up` (SOUK_KAFKA_BOOTSTRAP, SOUK_SCHEMA_REGISTRY_URL, SOUK_DATABASE_URL).

use rust_decimal::Decimal;
use serde::Serialize;
use souk_projections::queries::{self, NegotiationFilter, ProductFilter};
use souk_runtime::kafka::{make_headers, producer, send_all, OutRecord};
use souk_runtime::testkit::unique_prefix;
use souk_runtime::topology::Topology;
use souk_runtime::{admin, stack};
use souk_schemas::bundles::{BundleLeg, BundleUpdated, Degrees, PartnerUpserted, ProductUpserted};
use souk_schemas::orchestration::*;
use souk_schemas::{Catalog, Envelope};
use souk_sinks::postgres::{run_projection_sink, OrchestrationProjection};
use sqlx::PgPool;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SINK: &str = "orchestration-postgres";
const INPUTS: [&str; 3] = ["partners", "partner.products", "negotiation.events"];
const TABLES: [&str; 7] = ["partners", "partner_products", "bundles", "negotiations", "negotiation_replies", "thread_messages", "recoveries"];
const T0: i64 = 1_760_000_000_000;

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).expect("decimal literal")
}

/// One record to produce: topic, key, encoded value.
type Out = (String, String, Vec<u8>);

struct Setup {
    topology: Topology,
    codec: Arc<souk_runtime::codec::Codec>,
    bootstrap: String,
    pool: PgPool,
    /// The tenant most records belong to, and another one using the same ids.
    a: String,
    b: String,
}

impl Setup {
    async fn record<T: Serialize>(&self, topic: &str, tenant: &str, id: &str, value: &T) -> Out {
        let topic = self.topology.topic(topic);
        let json = serde_json::to_value(value).expect("json");
        let bytes = self.codec.encode_json(&topic, &json).await.expect("encode");
        (topic, format!("{tenant}|{id}"), bytes)
    }

    async fn produce(&self, records: Vec<Out>) {
        let p = producer(&self.bootstrap).expect("producer");
        let out = records.into_iter().map(|(topic, key, payload)| OutRecord { topic, partition: None, key: Some(key), payload: Some(payload), headers: make_headers(&[]) }).collect();
        send_all(&p, out).await.expect("produce");
    }

    fn topics(&self) -> Vec<String> {
        INPUTS.iter().map(|t| self.topology.topic(t)).collect()
    }

    fn topic_end(&self) -> i64 {
        INPUTS
            .iter()
            .flat_map(|t| (0..self.topology.partitions(t)).map(move |p| (self.topology.topic(t), p)))
            .map(|(topic, p)| souk_runtime::testkit::watermarks(&self.bootstrap, &topic, p).expect("watermarks").1)
            .sum()
    }

    async fn stored(&self) -> i64 {
        let topics = self.topics();
        souk_projections::sink_offsets(&self.pool, SINK).await.expect("sink_offsets").iter().filter(|r| topics.contains(&r.topic)).map(|r| r.next_offset).sum()
    }

    /// Runs the sink until its stored offsets reach the end of every input, then stops it.
    async fn run_to_end(&self) {
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        let (topology, codec, pool, bootstrap) = (self.topology.clone(), self.codec.clone(), self.pool.clone(), self.bootstrap.clone());
        let handle = tokio::spawn(async move { run_projection_sink(OrchestrationProjection, &topology, SINK, &bootstrap, codec, pool, shutdown).await });
        let end = tokio::task::block_in_place(|| self.topic_end());
        let started = Instant::now();
        while self.stored().await < end {
            assert!(started.elapsed() < Duration::from_secs(120), "sink did not reach {end} (at {})", self.stored().await);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(self.stored().await, end, "stored offsets equal the end of the inputs");
        stop.send(true).expect("stop");
        handle.await.expect("join").expect("orchestration sink");
    }

    /// Every row of `tenant` in every orchestration table, as JSON, in a stable order.
    async fn snapshot(&self, tenant: &str) -> Vec<(String, Vec<String>)> {
        let mut out = Vec::new();
        for table in TABLES {
            let mut rows: Vec<String> = sqlx::query_scalar(&format!("SELECT to_jsonb(t)::text FROM {table} t WHERE tenant_id = $1")).bind(tenant).fetch_all(&self.pool).await.expect("snapshot");
            rows.sort();
            out.push((table.to_string(), rows));
        }
        out
    }

    async fn count(&self, table: &str, tenant: &str) -> i64 {
        sqlx::query_scalar(&format!("SELECT count(*) FROM {table} WHERE tenant_id = $1")).bind(tenant).fetch_one(&self.pool).await.expect("count")
    }
}

async fn setup() -> Setup {
    souk_runtime::testkit::require_stack("sink_postgres_orchestration").await;
    let prefix = unique_prefix("sinkorch");
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../topology.toml")).expect("topology.toml");
    let topology = Topology::parse(&text, &prefix).expect("topology");
    let catalog = Catalog::builtin().expect("catalog");
    let (bootstrap, registry) = (stack::kafka_bootstrap(), stack::schema_registry_url());
    souk_runtime::testkit::with_retries("topology apply", || admin::apply(&topology, &catalog, &bootstrap, &registry)).await.expect("topology apply on the local stack");
    let codec = Arc::new(stack::codec_for(&topology, &catalog, &registry).expect("codec"));
    let pool = PgPool::connect(&stack::database_url()).await.expect("postgres");
    souk_projections::migrate(&pool).await.expect("migrate");
    let run = prefix.trim_end_matches('.');
    Setup { topology, codec, bootstrap, pool, a: format!("a-{run}"), b: format!("b-{run}") }
}

fn env(tenant: &str, id: &str, at: i64) -> Envelope {
    Envelope::external(tenant, id, T0 + at)
}

fn partner(tenant: &str, id: &str, at: i64, partner_id: &str, name: &str, reviews: i32, on_time: i32) -> PartnerUpserted {
    PartnerUpserted {
        envelope: env(tenant, id, at),
        partner_id: partner_id.into(),
        name: name.into(),
        business_type: "florist".into(),
        lat: Degrees(40.7128),
        lng: Degrees(-74.006),
        capabilities: vec!["florist".into()],
        channel: "whatsapp".into(),
        channel_id: "1234567890".into(),
        opted_in: true,
        opens_at: "09:00".into(),
        closes_at: "17:00".into(),
        business_days: vec![1, 2, 3, 4, 5],
        lock_type: "none".into(),
        preparation_minutes: 20,
        licence_verified: true,
        insurance_verified: true,
        tax_id_verified: true,
        positive_reviews: reviews,
        on_time_percent: on_time,
        active: true,
        payout_account: None,
    }
}

fn product(tenant: &str, id: &str, at: i64, product_id: &str, partner_id: &str, price: &str, capabilities: &[&str]) -> ProductUpserted {
    ProductUpserted {
        envelope: env(tenant, id, at),
        product_id: product_id.into(),
        partner_id: partner_id.into(),
        name: "Red Flowers".into(),
        description: "a dozen".into(),
        price: d(price),
        currency: "USD".into(),
        capabilities: capabilities.iter().map(|c| c.to_string()).collect(),
        inventory_count: -1,
        active: true,
        margin_percent: None,
    }
}

fn leg() -> BundleLeg {
    BundleLeg {
        leg_id: "l1".into(),
        name: "Flowers".into(),
        partner_id: "pa".into(),
        partner_name: "Flower Shop A".into(),
        partner_contact: "1234567890".into(),
        partner_lat: Degrees(40.7128),
        partner_lng: Degrees(-74.006),
        preparation_minutes: 20,
        hard_locked: false,
        product_id: "p1".into(),
        item: "Red Flowers".into(),
        price: d("50.00"),
        currency: "USD".into(),
        capabilities: vec!["florist".into()],
        is_jit: false,
        starts_at: T0 + 3_600_000,
        deadline: T0 + 7_200_000,
        destination_lat: Degrees(40.75),
        destination_lng: Degrees(-73.99),
        arrives_at: Some(T0 + 5_700_000),
        partner_opted_in: true,
        margin_percent: None,
        payout_account: None,
    }
}

fn bundle(tenant: &str, id: &str, at: i64, user: &str, total_minutes: i64) -> NegotiationEvent {
    NegotiationEvent::BundleUpdated(BundleUpdated {
        envelope: env(tenant, id, at),
        bundle_id: "b1".into(),
        user_id: user.into(),
        thread_id: "t1".into(),
        status: "open".into(),
        starts_at: T0 + 3_600_000,
        total_minutes,
        legs: vec![leg()],
    })
}

fn negotiation(tenant: &str, id: &str, at: i64, status: &str, counter_offers: i32, proposal: Option<(&str, &str)>) -> NegotiationEvent {
    NegotiationEvent::NegotiationUpdated(NegotiationUpdated {
        envelope: env(tenant, id, at),
        negotiation_id: "n1".into(),
        bundle_id: "b1".into(),
        leg_id: "l1".into(),
        negotiation_type: "product_change".into(),
        status: status.into(),
        partner_id: "pa".into(),
        counter_offer_count: counter_offers,
        unclear_replies: 0,
        paused: false,
        proposal: proposal.map(|(item, _)| item.to_string()),
        proposal_price: proposal.map(|(_, price)| d(price)),
        reason: None,
        partner_contact: Some("1234567890".into()),
    })
}

fn notified(tenant: &str, id: &str, at: i64, negotiation_id: &str, kind: &str, text: &str) -> NegotiationEvent {
    NegotiationEvent::UserNotified(UserNotified {
        envelope: env(tenant, id, at),
        negotiation_id: negotiation_id.into(),
        bundle_id: "b1".into(),
        thread_id: "t1".into(),
        kind: kind.into(),
        text: text.into(),
    })
}

/// Tenant A's catalog and bundle story (with stale and duplicate records); tenant B's look-alikes.
async fn records(s: &Setup) -> Vec<Out> {
    let (a, b) = (s.a.as_str(), s.b.as_str());
    let reply = NegotiationEvent::PartnerReplyClassified(PartnerReplyClassified {
        envelope: env(a, "reply-1", 12),
        negotiation_id: "n1".into(),
        bundle_id: "b1".into(),
        partner_id: "pa".into(),
        text: Some("I don't have pink, but I have red roses for $52.50".into()),
        button_id: None,
        classification: "counter_offer".into(),
        offered_item: Some("red roses".into()),
        offered_price: Some(d("52.5")),
        offered_change_percent: None,
        classifier: "offline-1".into(),
    });
    let replaced = NegotiationEvent::LegReplaced(LegReplaced {
        envelope: env(a, "replaced-1", 14),
        negotiation_id: "n1".into(),
        bundle_id: "b1".into(),
        leg_id: "l1".into(),
        old_partner_id: "pa".into(),
        new_partner_id: "pb".into(),
        product_id: "p2".into(),
        item: "Pink Flowers".into(),
        price: d("55"),
        delay_minutes: -5,
        started_at: None,
    });
    let resourcing = NegotiationEvent::ResourcingRequested(ResourcingRequested {
        envelope: env(a, "resourcing-1", 13),
        negotiation_id: "n1".into(),
        bundle_id: "b1".into(),
        leg_id: "l1".into(),
        exclude_partner_id: "pa".into(),
        requested_item: "Pink Flowers".into(),
        original_price: d("50.00"),
        min_price: d("40.00"),
        max_price: d("60.00"),
        currency: "USD".into(),
        capabilities: vec!["florist".into()],
        deadline: T0 + 7_200_000,
        destination_lat: None,
        destination_lng: None,
        original_arrival_minutes: None,
    });
    let (ne, pt, pr) = ("negotiation.events", "partners", "partner.products");
    let mut out = vec![
        s.record(pt, a, "pa", &partner(a, "pa-1", 0, "pa", "Flower Shop A", 0, 0)).await,
        s.record(pt, a, "pb", &partner(a, "pb-1", 1, "pb", "Flower Shop B", 2, 95)).await,
        s.record(pt, a, "pa", &partner(a, "pa-2", 5, "pa", "Flower Shop A (new name)", 0, 0)).await,
        // Declared earlier than the stored snapshot, produced later: never replaces it.
        s.record(pt, a, "pa", &partner(a, "pa-0", 3, "pa", "Flower Shop A (stale)", 9, 99)).await,
        s.record(pt, b, "pa", &partner(b, "pa-b", 0, "pa", "B's shop", 0, 0)).await,
        s.record(pr, a, "p1", &product(a, "p1-1", 0, "p1", "pa", "50.00", &["florist"])).await,
        s.record(pr, a, "p1", &product(a, "p1-2", 4, "p1", "pa", "55", &["florist"])).await,
        s.record(pr, a, "p1", &product(a, "p1-0", 2, "p1", "pa", "40.00", &["florist"])).await,
        s.record(pr, a, "p2", &product(a, "p2-1", 1, "p2", "pb", "52.50", &["Florist", "delivery"])).await,
        s.record(pr, b, "p1", &product(b, "p1-b", 0, "p1", "pa", "1.00", &["florist"])).await,
        s.record(ne, a, "b1", &bundle(a, "bundle-1", 10, "u1", 35)).await,
        s.record(ne, a, "b1", &notified(a, "note-1", 10, "", "bundle_confirmed", "Your bundle is confirmed.")).await,
        s.record(ne, a, "b1", &negotiation(a, "neg-1", 11, "awaiting_partner_reply", 0, None)).await,
        s.record(ne, a, "b1", &reply).await,
        s.record(ne, a, "b1", &negotiation(a, "neg-2", 12, "awaiting_user_approval", 1, Some(("Red Roses", "52.50")))).await,
        s.record(ne, a, "b1", &notified(a, "note-2", 12, "n1", "counter_offer", "Flower Shop A can't provide Pink Flowers, but offers Red Roses.")).await,
        s.record(ne, a, "b1", &resourcing).await,
        s.record(ne, a, "b1", &replaced).await,
        s.record(ne, a, "b1", &bundle(a, "bundle-2", 14, "u1", 30)).await,
        // The same stream time as the counter-offer snapshot, later in the log: newer.
        s.record(ne, a, "b1", &negotiation(a, "neg-3", 14, "recovered_autonomously", 1, None)).await,
        // Older snapshots produced after the newer ones: ignored.
        s.record(ne, a, "b1", &negotiation(a, "neg-0", 11, "awaiting_partner_reply", 0, None)).await,
        s.record(ne, a, "b1", &bundle(a, "bundle-0", 9, "u1", 99)).await,
        // A record in the log twice (a producer retry): its rows once.
        s.record(ne, a, "b1", &reply).await,
        s.record(ne, a, "b1", &replaced).await,
        s.record(ne, b, "b1", &bundle(b, "bundle-b", 10, "someone-else", 60)).await,
        s.record(ne, b, "b1", &negotiation(b, "neg-b", 10, "escalated", 0, None)).await,
    ];
    // A record keyed for another tenant than its own: dead-lettered, never projected.
    let (topic, _, bytes) = s.record(ne, a, "b1", &notified(a, "note-bad", 15, "n1", "x", "never shown")).await;
    out.push((topic, format!("{b}|b1"), bytes));
    out
}

async fn assert_projected(s: &Setup) {
    let (a, b) = (s.a.as_str(), s.b.as_str());
    let partners = queries::partners(&mut s.pool.acquire().await.unwrap(), a).await.expect("partners");
    let view: Vec<(&str, &str, i32, bool)> = partners.iter().map(|p| (p.partner_id.as_str(), p.name.as_str(), p.trust_score, p.white_glove)).collect();
    assert_eq!(view, [("pa", "Flower Shop A (new name)", 45, false), ("pb", "Flower Shop B", 100, true)], "trust by rules T1; the stale snapshot lost");
    assert_eq!((partners[0].location.lat, partners[0].location.lng, partners[0].capabilities.as_slice()), (40.7128, -74.006, &["florist".to_string()][..]));
    assert_eq!(partners[0].updated_at.timestamp_millis(), T0 + 5);

    let products = queries::products(&mut s.pool.acquire().await.unwrap(), a, &ProductFilter::default()).await.expect("products");
    let view: Vec<(&str, String)> = products.iter().map(|p| (p.product_id.as_str(), p.price.to_string())).collect();
    assert_eq!(view, [("p1", "55.00".to_string()), ("p2", "52.50".to_string())], "the newest price, exact with two decimals");
    let florists = queries::products(&mut s.pool.acquire().await.unwrap(), a, &ProductFilter { partner_id: Some("pb".into()), capability: Some("FLORIST".into()) }).await.expect("products");
    assert_eq!(florists.iter().map(|p| p.product_id.as_str()).collect::<Vec<_>>(), ["p2"], "capability matched case-insensitively");

    let detail = queries::bundle_detail(&mut s.pool.acquire().await.unwrap(), a, "b1").await.expect("bundle").expect("b1");
    assert_eq!((detail.bundle.user_id.as_str(), detail.bundle.total_minutes), ("u1", 30), "the newest bundle snapshot");
    assert_eq!(detail.bundle.legs[0]["price"], "50.00");
    assert_eq!(detail.bundle.legs[0]["arrives_at"], "2025-10-09T10:28:20Z");
    assert_eq!(detail.negotiations.len(), 1);
    let n = &detail.negotiations[0];
    assert_eq!((n.status.as_str(), n.counter_offer_count, n.proposal.as_deref()), ("recovered_autonomously", 1, None), "later offset at the same time wins");
    let thread: Vec<(Option<&str>, &str)> = detail.messages.iter().map(|m| (m.negotiation_id.as_deref(), m.kind.as_str())).collect();
    assert_eq!(thread, [(None, "bundle_confirmed"), (Some("n1"), "counter_offer")], "log order; a bundle note has no negotiation");
    assert_eq!(detail.recoveries.len(), 1, "once per event id");
    let r = &detail.recoveries[0];
    assert_eq!((r.new_partner_id.as_str(), r.price.to_string(), r.delay_minutes), ("pb", "55.00".to_string(), -5));

    let negotiation = queries::negotiation_detail(&mut s.pool.acquire().await.unwrap(), a, "n1").await.expect("negotiation").expect("n1");
    assert_eq!(negotiation.replies.len(), 1, "once per event id");
    let reply = &negotiation.replies[0];
    assert_eq!((reply.classification.as_str(), reply.offered_item.as_deref()), ("counter_offer", Some("red roses")));
    assert_eq!(reply.offered_price.map(|p| p.to_string()).as_deref(), Some("52.50"), "exact, at the log's scale (Avro decimal, 2 places)");
    let escalated = queries::negotiations(&mut s.pool.acquire().await.unwrap(), a, &NegotiationFilter { status: Some("escalated".into()), ..Default::default() }).await.expect("list");
    assert!(escalated.is_empty(), "tenant B's escalated negotiation is not tenant A's");
    for table in ["thread_messages", "negotiation_replies", "recoveries"] {
        assert_eq!(s.count(table, b).await, 0, "tenant B has no {table}; the misdirected record was dead-lettered");
    }

    // Tenant B sees its own rows under the same ids, and nothing of tenant A's.
    let partners_b = queries::partners(&mut s.pool.acquire().await.unwrap(), b).await.expect("partners");
    assert_eq!(partners_b.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["B's shop"]);
    let bundle_b = queries::bundle_detail(&mut s.pool.acquire().await.unwrap(), b, "b1").await.expect("bundle").expect("b1 of tenant B");
    assert_eq!((bundle_b.bundle.user_id.as_str(), bundle_b.negotiations[0].status.as_str()), ("someone-else", "escalated"));
    assert!(bundle_b.messages.is_empty() && bundle_b.recoveries.is_empty());
    assert_eq!(queries::products(&mut s.pool.acquire().await.unwrap(), b, &ProductFilter::default()).await.expect("products")[0].price, d("1.00"));
    assert!(queries::negotiation_detail(&mut s.pool.acquire().await.unwrap(), b, "n1").await.expect("negotiation").expect("n1 of B").replies.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orchestration_sink_projects_catalog_and_bundles_and_replays_idempotently() {
    let _ = tracing_subscriber::fmt().with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "souk_sinks=info".into())).with_test_writer().try_init();
    let s = setup().await;
    s.produce(records(&s).await).await;
    s.run_to_end().await;
    let dlq = s.topology.dlq_topic(SINK);
    let dead = tokio::task::block_in_place(|| souk_runtime::testkit::watermarks(&s.bootstrap, &dlq, 0).expect("dlq watermarks").1);
    assert_eq!(dead, 1, "only the misdirected record is a dead letter (stale snapshots are applied and lose)");
    assert_projected(&s).await;
    let rows = (s.snapshot(&s.a).await, s.snapshot(&s.b).await);

    // Forget the offsets: the whole log is applied again (every snapshot and event redelivered).
    sqlx::query("DELETE FROM sink_offsets WHERE sink = $1 AND topic = ANY($2)").bind(SINK).bind(s.topics()).execute(&s.pool).await.expect("reset offsets");
    s.run_to_end().await;
    assert_eq!((s.snapshot(&s.a).await, s.snapshot(&s.b).await), rows, "re-applying every record leaves every row unchanged");
    assert_projected(&s).await;
}
