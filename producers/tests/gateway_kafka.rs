//! The gateway on the real local stack (`./dev up`, or SOUK_* env): a signed webhook delivery and
//! every owner command go through `KafkaPublisher` (Avro via the registry, acks=all) and
//! the order directory table, and are read back from their topics with the codec, with their trace headers.

mod gateway_support;

use gateway_support::*;
use souk_producers::gateway::{router, sign, GatewayState, KafkaPublisher};
use souk_runtime::kafka::headers;
use souk_runtime::stack;
use souk_runtime::tenants::{Secret, Tenant, Tenants};
use souk_runtime::testkit::{read_to_end, unique_prefix};
use souk_schemas::billing::{BillingCommand, LedgerInput};
use souk_schemas::inventory::InventoryCommand;
use souk_schemas::orders::OrderInput;
use souk_schemas::whatsapp::InboundMessage;
use souk_schemas::{Catalog, Envelope};
use std::sync::Arc;

fn bharat() -> Arc<Tenants> {
    let tenant = Tenant {
        id: BHARAT.id.into(),
        name: "Bharat Textiles".into(),
        phone_number_id: BHARAT.phone_number_id.into(),
        app_secret: Secret::new(BHARAT.app_secret),
        verify_token: Secret::new(BHARAT.verify_token),
        api_key: Secret::new(BHARAT.api_key),
        access_token: Secret::new("EAAG"),
        payments_secret_key: None,
        instagram: None,
        whatsapp_inbox: false,
        staff: vec![],
        rate_limits: None,
        intent_confidence_threshold: None,
    };
    Arc::new(Tenants::from_list(vec![tenant]).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nul_text_is_refused_and_an_unreachable_broker_is_a_503() {
    souk_runtime::testkit::require_stack("gateway_kafka").await;
    let prefix = unique_prefix("gwnul");
    let topology = gateway_topology(&prefix);
    let catalog = Catalog::builtin().unwrap();
    let (bootstrap, registry) = (stack::kafka_bootstrap(), stack::schema_registry_url());
    souk_runtime::testkit::with_retries("topology apply", || souk_runtime::admin::apply(&topology, &catalog, &bootstrap, &registry)).await.expect("apply");
    let codec = Arc::new(stack::codec_for(&topology, &catalog, &registry).unwrap());
    let orders = Arc::new(order_directory(&topology, &codec, &bootstrap).await);
    let http = reqwest::Client::new();

    // The real broker: a NUL anywhere in the body is a 400 naming the field, and nothing is produced.
    let live = GatewayState::new(bharat(), Arc::new(KafkaPublisher::connect(&bootstrap, codec.clone(), &topology).unwrap()), orders.clone());
    let base = serve(router(live).into_router()).await;
    let body = serde_json::to_vec(&delivery("1001", vec![], vec![text("919800000001", "wamid.NUL1", NOW_S, "50m \u{0} cotton")], vec![])).unwrap();
    let resp = http.post(format!("{base}/webhooks/whatsapp")).header("X-Hub-Signature-256", sign(BHARAT.app_secret, &body)).body(body).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    let err: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(err["error"], "INVALID_CHARACTER", "{err}");
    assert!(err["reason"].as_str().unwrap().contains("messages[0].text.body"), "{err}");
    let resp =
        http.post(format!("{base}/v1/payments")).bearer_auth(BHARAT.api_key).json(&serde_json::json!({ "payment_id": "P\u{0}1", "customer": "919800000001", "amount": "5" })).send().await.unwrap();
    assert_eq!(resp.status(), 400, "{}", resp.text().await.unwrap());
    let resp = http.post(format!("{base}/v1/orders/o%00/approve")).bearer_auth(BHARAT.api_key).send().await.unwrap();
    assert_eq!(resp.status(), 400, "NUL in a path");
    for topic in ["whatsapp.inbound", "ledger.inputs"] {
        assert!(read_to_end(&bootstrap, &topology.topic(topic)).await.unwrap().is_empty(), "nothing reached {topic}");
    }

    // A broker nobody answers on: the gateway answers 503 at its publish deadline (Meta and owner
    // clients retry), not after the producer's 30 s message timeout.
    let down = KafkaPublisher::connect(&format!("127.0.0.1:{}", closed_port()), codec, &topology).unwrap();
    let config = souk_producers::gateway::GatewayConfig { publish_timeout_ms: 2_000, ..Default::default() };
    let base = serve(router(GatewayState::new(bharat(), Arc::new(down), orders.clone()).with_config(config)).into_router()).await;
    let body = serde_json::to_vec(&delivery("1001", vec![], vec![text("919800000001", "wamid.DOWN1", NOW_S, "hi")], vec![])).unwrap();
    let started = std::time::Instant::now();
    let resp = http.post(format!("{base}/webhooks/whatsapp")).header("X-Hub-Signature-256", sign(BHARAT.app_secret, &body)).body(body).send().await.unwrap();
    let waited = started.elapsed();
    assert_eq!(resp.status(), 503);
    let err: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(err["error"], "UNAVAILABLE", "{err}");
    assert!(waited < std::time::Duration::from_secs(20), "answered at the deadline, not the producer's timeout: {waited:?}");
    let resp = http.put(format!("{base}/v1/settings")).bearer_auth(BHARAT.api_key).json(&serde_json::json!({ "gst_rate": "0.05", "reminder_days": 7 })).send().await.unwrap();
    assert_eq!(resp.status(), 503, "{}", resp.text().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_and_approval_reach_kafka() {
    let prefix = unique_prefix("gw");
    let topology = gateway_topology(&prefix);
    let catalog = Catalog::builtin().unwrap();
    let (bootstrap, registry) = (stack::kafka_bootstrap(), stack::schema_registry_url());
    souk_runtime::admin::apply(&topology, &catalog, &bootstrap, &registry).await.expect("the local stack must be up (./dev up)");
    let codec = Arc::new(stack::codec_for(&topology, &catalog, &registry).unwrap());
    let publisher = KafkaPublisher::connect(&bootstrap, codec.clone(), &topology).unwrap();
    let orders = order_directory(&topology, &codec, &bootstrap).await;
    let state = GatewayState::new(bharat(), Arc::new(publisher), Arc::new(orders));
    let base = serve(router(state).into_router()).await;
    let http = reqwest::Client::new();

    let body = serde_json::to_vec(&delivery("1001", vec![contact("919800000001", "Asha")], vec![text("919800000001", "wamid.KAFKA1", NOW_S, "50m cotton blue")], vec![])).unwrap();
    let resp = http.post(format!("{base}/webhooks/whatsapp")).header("X-Hub-Signature-256", sign(BHARAT.app_secret, &body)).body(body).send().await.unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());

    let resp = http.post(format!("{base}/v1/orders/o-77/approve")).bearer_auth(BHARAT.api_key).json(&serde_json::json!({ "command_id": "approve-77" })).send().await.unwrap();
    assert_eq!(resp.status(), 202, "{}", resp.text().await.unwrap());
    let resp = http.post(format!("{base}/v1/orders/o-missing/approve")).bearer_auth(BHARAT.api_key).send().await.unwrap();
    assert_eq!(resp.status(), 404);

    let inbound = read_to_end(&bootstrap, &topology.topic("whatsapp.inbound")).await.unwrap();
    assert_eq!(inbound.len(), 1);
    let record = &inbound[0];
    assert_eq!(record.key.as_deref(), Some("bharat|919800000001"));
    let message: InboundMessage = codec.decode(record.payload.as_deref().unwrap()).await.unwrap();
    assert_eq!(message.envelope, Envelope::external("bharat", "wa/wamid.KAFKA1", NOW_MS));
    assert_eq!((message.text.as_deref(), message.profile_name.as_deref(), message.kind.as_str()), (Some("50m cotton blue"), Some("Asha"), "text"));
    assert_eq!(record.headers.get(headers::EVENT_ID), Some(&message.envelope.event_id));
    assert_eq!(record.headers.get(headers::CORRELATION_ID), Some(&message.envelope.correlation_id));

    let decisions = read_to_end(&bootstrap, &topology.topic("orders.inputs")).await.unwrap();
    assert_eq!(decisions.len(), 1, "the unknown order produced nothing");
    assert_eq!(decisions[0].key.as_deref(), Some("bharat|919800000001"), "keyed by the order's customer");
    let OrderInput::OwnerDecision(d) = codec.decode(decisions[0].payload.as_deref().unwrap()).await.unwrap() else { panic!("not an OwnerDecision") };
    assert_eq!((d.order_id.as_str(), d.customer.as_str(), d.decision.as_str(), d.command_id.as_str()), ("o-77", "919800000001", "APPROVE", "approve-77"));
    assert_eq!(d.envelope.event_id, Envelope::external("bharat", "cmd/approve-77", 0).event_id);

    // Every other command fits its topic's schema (unions, decimal scales).
    let commands = [
        (reqwest::Method::POST, "/v1/payments", serde_json::json!({ "payment_id": "UPI-1", "customer": "919800000001", "amount": "500.00", "method": "UPI" })),
        (reqwest::Method::PUT, "/v1/catalog/cotton/blue", serde_json::json!({ "price_per_meter": "120.50", "aliases": ["sooti"] })),
        (
            reqwest::Method::POST,
            "/v1/stock",
            serde_json::json!({ "batch_id": "B1", "material": "cotton", "color": "blue", "rolls": 4, "meters_per_roll": "25.5", "loose_meters": "12.125", "price_per_meter": "118" }),
        ),
        (reqwest::Method::PUT, "/v1/settings", serde_json::json!({ "gst_rate": "0.05", "reminder_days": 7 })),
    ];
    for (method, path, body) in commands {
        let resp = http.request(method, format!("{base}{path}")).bearer_auth(BHARAT.api_key).json(&body).send().await.unwrap();
        assert_eq!(resp.status(), 202, "{path}: {}", resp.text().await.unwrap());
    }
    let ledger = read_to_end(&bootstrap, &topology.topic("ledger.inputs")).await.unwrap();
    let LedgerInput::PaymentRecorded(p) = codec.decode(ledger[0].payload.as_deref().unwrap()).await.unwrap() else { panic!("not a payment") };
    assert_eq!((ledger.len(), p.amount.to_string().as_str(), ledger[0].key.as_deref()), (1, "500.00", Some("bharat|919800000001")));
    let inventory = read_to_end(&bootstrap, &topology.topic("inventory.commands")).await.unwrap();
    assert_eq!(inventory.len(), 2);
    for r in &inventory {
        assert_eq!(r.key.as_deref(), Some("bharat|cotton|blue"));
        match codec.decode(r.payload.as_deref().unwrap()).await.unwrap() {
            InventoryCommand::CatalogItemUpserted(c) => assert_eq!((c.price_per_meter.to_string().as_str(), c.aliases), ("120.50", vec!["sooti".to_string()])),
            InventoryCommand::BatchReceived(b) => assert_eq!((b.rolls, b.loose_meters.to_string().as_str()), (4, "12.125")),
            other => panic!("{other:?}"),
        }
    }
    let billing = read_to_end(&bootstrap, &topology.topic("billing.commands")).await.unwrap();
    let BillingCommand::TenantSettingsChanged(t) = codec.decode(billing[0].payload.as_deref().unwrap()).await.unwrap() else { panic!("not settings") };
    assert_eq!((billing[0].key.as_deref(), t.reminder_days), (Some("bharat"), 7));
}
