//! The search-index sink on the real local stack: catalog levels and Hinglish messages of two
//! tenants are indexed; "laal", "cotton", a dye lot and an alias find only the asking tenant's
//! documents (through `search` and through `GET /v1/search`); a poison record lands in the DLQ with
//! provenance; a restart resumes from the commit payload (no record read twice, no duplicate doc).
//! Needs `./dev up` (SOUK_KAFKA_BOOTSTRAP, SOUK_SCHEMA_REGISTRY_URL).

mod support;

use rust_decimal::Decimal;
use souk_projections::search::{count_doc_id, count_tenant, schema::open_existing, search, search_router, DocKind};
use souk_runtime::metrics::Metrics;
use souk_runtime::privacy::{KeyRing, MasterKey};
use souk_runtime::tenants::{Secret, Tenant, Tenants};
use souk_runtime::testkit::read_to_end;
use souk_runtime::topology::Role;
use souk_schemas::inventory::{BatchLevel, InventoryEvent, StockLevelChanged};
use souk_schemas::whatsapp::{InboundMessage, OutboundMessageRequested};
use souk_schemas::Envelope;
use souk_sinks::search::{run_search_sink, stored_positions};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::Stack;
use tantivy::IndexReader;

const SINK: &str = "search-index";
const INPUTS: [&str; 3] = ["inventory.events", "whatsapp.inbound", "whatsapp.outbound"];

fn level(tenant: &str, n: &str, material: &str, color: &str, lot: &str, price: i64) -> (String, InventoryEvent) {
    let batch = BatchLevel {
        batch_id: "b1".into(),
        dye_lot: Some(lot.into()),
        rolls: 2,
        meters_per_roll: Decimal::new(50, 0),
        loose_meters: Decimal::new(125, 1),
        held_meters: Decimal::ZERO,
        available_meters: Decimal::new(1125, 1),
        price_per_meter: None,
        received_at: 1_700_000_000_000,
    };
    let e = StockLevelChanged {
        envelope: Envelope::external(tenant, n, 1_750_000_000_000),
        material: material.into(),
        color: color.into(),
        batches: vec![batch],
        on_hand_meters: Decimal::new(1125, 1),
        held_meters: Decimal::ZERO,
        available_meters: Decimal::new(1125, 1),
        price_per_meter: Some(Decimal::new(price, 2)),
        aliases: vec!["sooti".into()],
    };
    (format!("{tenant}|{material}|{color}"), InventoryEvent::StockLevelChanged(e))
}

fn inbound(tenant: &str, wamid: &str, wa_id: &str, text: &str) -> (String, InboundMessage) {
    (format!("{tenant}|{wa_id}"), support::inbound_text(tenant, wamid, wa_id, text, 1_750_000_001_000))
}

fn outbound(tenant: &str, id: &str, to: &str, text: &str) -> (String, OutboundMessageRequested) {
    let m = OutboundMessageRequested { envelope: Envelope::external(tenant, id, 1_750_000_002_000), to: to.into(), order_id: None, purpose: "summary".into(), text: text.into(), buttons: vec![] };
    (format!("{tenant}|{to}"), m)
}

fn reader(dir: &Path) -> IndexReader {
    let index = open_existing(dir).expect("open").expect("index exists");
    index.reader_builder().reload_policy(tantivy::ReloadPolicy::Manual).try_into().expect("reader")
}

fn ids(hits: &[souk_projections::search::Hit]) -> Vec<String> {
    let mut v: Vec<String> = hits.iter().map(|h| h.doc_id.clone()).collect();
    v.sort();
    v
}

/// Sum of the sink's records_in counter (this process) over the inputs' partitions.
fn records_in(s: &Stack) -> u64 {
    let m = Metrics::global();
    INPUTS.iter().flat_map(|t| (0..s.topology.partitions(t)).map(move |p| m.records_in.with_label_values(&[SINK, &s.topology.topic(t), &p.to_string()]).get())).sum()
}

async fn run_until_caught_up(s: &Stack, dir: &Path) {
    let (tx, rx) = tokio::sync::watch::channel(false);
    let (topology, codec, bootstrap, path) = (s.topology.clone(), s.codec.clone(), s.bootstrap.clone(), dir.to_path_buf());
    // The sink reads the inbox's sealed social.events too, so it opens them with the key ring.
    let keys = topology.component(Role::Sink, SINK).unwrap().table("privacy.keys").unwrap().clone();
    let ring = Arc::new(KeyRing::load(&bootstrap, codec.clone(), &keys, MasterKey::from_env().unwrap(), Duration::from_secs(30)).await.unwrap());
    let task = tokio::spawn(async move { run_search_sink(&topology, SINK, &bootstrap, codec, Some(ring), path, rx).await });
    let end: i64 = tokio::task::block_in_place(|| INPUTS.iter().map(|t| s.topic_end(t)).sum());
    let started = Instant::now();
    loop {
        let at: i64 = stored_positions(dir).expect("positions").values().sum();
        if at >= end {
            assert_eq!(at, end, "payload offsets equal the topics' ends");
            break;
        }
        assert!(!task.is_finished(), "sink stopped early");
        assert!(started.elapsed() < Duration::from_secs(120), "sink did not catch up ({at} of {end})");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tx.send(true).expect("shutdown");
    task.await.expect("join").expect("sink ran cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn search_index_scopes_by_tenant_and_resumes_from_the_commit_payload() {
    let s = support::stack("sinksearch").await;
    let run = s.prefix.trim_end_matches('.').replace('.', "");
    let (a, b) = (format!("a{run}"), format!("b{run}"));
    s.produce(
        "inventory.events",
        &[
            level(&a, "l1", "cotton", "laal", "LOTA7", 11000),
            level(&a, "l2", "cotton", "laal", "LOTA7", 12050),
            level(&a, "l3", "silk", "neela", "LOTA8", 45000),
            level(&b, "l1", "cotton", "laal", "LOTB9", 9900),
        ],
    )
    .await;
    s.produce("whatsapp.inbound", &[inbound(&a, "wamid.a1", "9111", "bhaiya laal cotton 20 meter chahiye"), inbound(&b, "wamid.b1", "9222", "kya aapke paas laal silk hai?")]).await;
    s.produce("whatsapp.outbound", &[outbound(&a, "r1", "9111", "Ji, laal cotton available hai")]).await;
    s.produce_bytes("whatsapp.inbound", &format!("{a}|9111"), b"\0not-avro").await;

    let dir = tempfile::tempdir().expect("tempdir");
    run_until_caught_up(&s, dir.path()).await;
    let first_run = records_in(&s);
    assert_eq!(first_run, 8, "every input record read once");

    let r = reader(dir.path());
    let cat_a = format!("catalog:{a}|cotton|laal");
    let laal_a = search(&r, &a, "laal", None, 20).expect("search");
    assert_eq!(ids(&laal_a), vec![cat_a.clone(), format!("message:{a}|{}", Envelope::external(&a, "r1", 0).event_id), format!("message:{a}|wamid.a1")]);
    let catalog = laal_a.iter().find(|h| h.doc_id == cat_a).expect("catalog hit");
    assert_eq!((catalog.price_per_meter.as_deref(), catalog.available_meters.as_deref()), (Some("120.50"), Some("112.500")), "the latest level wins (meters keep their 3 decimals)");
    assert_eq!(ids(&search(&r, &b, "cotton", Some(DocKind::Catalog), 20).expect("search")), vec![format!("catalog:{b}|cotton|laal")]);
    assert_eq!(ids(&search(&r, &a, "LOTA7", None, 20).expect("search")), vec![cat_a.clone()]);
    assert!(search(&r, &b, "LOTA7", None, 20).expect("search").is_empty(), "another tenant's dye lot is invisible");
    assert_eq!(ids(&search(&r, &a, "sooti", None, 20).expect("search")), vec![cat_a.clone(), format!("catalog:{a}|silk|neela")]);
    assert_eq!(ids(&search(&r, &b, "laal", Some(DocKind::Message), 20).expect("search")), vec![format!("message:{b}|wamid.b1")]);
    assert!(matches!(search(&r, &a, "nosuchfield:x", None, 20), Err(souk_projections::search::SearchError::BadQuery(_))));
    assert_eq!(count_doc_id(&r, &cat_a).expect("count"), 1, "two levels of one pool are one document");
    assert_eq!(count_tenant(&r, &a).expect("count"), 4);

    let dlq = read_to_end(&s.bootstrap, &s.topology.dlq_topic(SINK)).await.expect("dlq");
    assert_eq!(dlq.len(), 1);
    assert_eq!(dlq[0].headers.get("souk-source-topic"), Some(&s.topology.topic("whatsapp.inbound")));
    assert_eq!(dlq[0].headers.get("souk-component").map(String::as_str), Some(SINK));

    // Restart after two more messages (one with a NUL character, which the index stores like any
    // text: no permanent error, no dead letter): only those records are read, nothing is duplicated.
    s.produce("whatsapp.inbound", &[inbound(&a, "wamid.a2", "9111", "aur laal cotton ka rate?"), inbound(&a, "wamid.a3", "9111", "nul \u{0} inside")]).await;
    run_until_caught_up(&s, dir.path()).await;
    assert_eq!(records_in(&s) - first_run, 2, "resumed at the payload offsets");
    let r = reader(dir.path());
    assert_eq!(count_tenant(&r, &a).expect("count"), 6);
    for id in [cat_a.clone(), format!("message:{a}|wamid.a1"), format!("message:{a}|wamid.a2"), format!("message:{a}|wamid.a3")] {
        assert_eq!(count_doc_id(&r, &id).expect("count"), 1, "{id}");
    }
    let dlq = read_to_end(&s.bootstrap, &s.topology.dlq_topic(SINK)).await.expect("dlq");
    assert_eq!(dlq.len(), 1, "the poison record is not dead-lettered again");

    // The HTTP API: the API key picks the tenant.
    let tenant = |id: &str, number: &str, key: &str| Tenant {
        id: id.into(),
        name: id.into(),
        phone_number_id: number.into(),
        app_secret: Secret::new("s"),
        verify_token: Secret::new("v"),
        api_key: Secret::new(key),
        access_token: Secret::new("t"),
        intent_confidence_threshold: None,
        payments_secret_key: None,
        instagram: None,
        whatsapp_inbox: false,
        staff: vec![],
        rate_limits: None,
    };
    let tenants = Arc::new(Tenants::from_list(vec![tenant(&a, "1", "key-a"), tenant(&b, "2", "key-b")]).expect("tenants"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = search_router(dir.path().to_path_buf(), tenants).into_router();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let http = reqwest::Client::new();
    let get = |q: &str, key: Option<&str>| {
        let mut req = http.get(format!("http://{addr}/v1/search?{q}"));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        req.send()
    };
    let res = get("q=laal&kind=catalog", Some("key-b")).await.expect("get");
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.expect("json");
    let hits = body["hits"].as_array().expect("hits");
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0]["doc_id"], format!("catalog:{b}|cotton|laal"));
    assert_eq!(hits[0]["price_per_meter"], "99.00");
    assert_eq!(get("q=laal", None).await.expect("get").status(), 401);
    assert_eq!(get("q=laal", Some("wrong")).await.expect("get").status(), 401);
    assert_eq!(get("q=nosuchfield:x", Some("key-a")).await.expect("get").status(), 400);
    assert_eq!(get("q=laal&kind=bogus", Some("key-a")).await.expect("get").status(), 400);
    assert_eq!(get("q=laal&limit=0", Some("key-a")).await.expect("get").status(), 400);
    let missing = search_router(dir.path().join("not-yet"), Arc::new(Tenants::from_list(vec![tenant(&a, "1", "key-a")]).expect("tenants"))).into_router();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr2 = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, missing).await });
    let res = http.get(format!("http://{addr2}/v1/search?q=laal")).bearer_auth("key-a").send().await.expect("get");
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<serde_json::Value>().await.expect("json")["hits"], serde_json::json!([]), "no index yet ⇒ empty results");
}
