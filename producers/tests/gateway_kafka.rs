//! The gateway on the real local stack (`./dev up`, or SOUK_* env): a signed webhook delivery and
//! every owner command go through `KafkaPublisher` (Avro via the registry, acks=all) and
//! `PgOrderDirectory`, and are read back from their topics with the codec, with their trace headers.

mod gateway_support;

use gateway_support::*;
use souk_producers::gateway::{router, sign, GatewayState, KafkaPublisher, PgOrderDirectory};
use souk_runtime::kafka::headers;
use souk_runtime::testkit::{read_to_end, unique_prefix};
use souk_runtime::topology::Topology;
use souk_runtime::tenants::{Secret, Tenant, Tenants};
use souk_runtime::stack;
use souk_schemas::billing::{BillingCommand, LedgerInput};
use souk_schemas::inventory::InventoryCommand;
use souk_schemas::orders::OrderInput;
use souk_schemas::whatsapp::InboundMessage;
use souk_schemas::{Catalog, Envelope};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::str::FromStr;
use std::sync::Arc;

/// The shipped topology, reduced to the topics this test writes.
fn topology(prefix: &str) -> Topology {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../topology.toml")).unwrap();
    let mut t = Topology::parse(&text, prefix).unwrap();
    t.topics.retain(|name, _| ["whatsapp.inbound", "whatsapp.status", "orders.inputs", "ledger.inputs", "inventory.commands", "billing.commands"].contains(&name.as_str()));
    t.processors.clear();
    t.stages.clear();
    t.sinks.clear();
    t.producers.clear();
    t
}

/// A pool on a fresh schema holding the `orders` columns the gateway relies on
/// (`tenant_id`, `order_id`, `customer`; the full table is `projections/migrations/0003_commerce.sql`).
async fn orders_schema(admin: &sqlx::PgPool, schema: &str) -> sqlx::PgPool {
    sqlx::query(&format!("CREATE SCHEMA {schema}")).execute(admin).await.unwrap();
    let options = PgConnectOptions::from_str(&stack::database_url()).unwrap().options([("search_path", schema)]);
    let pool = PgPoolOptions::new().max_connections(2).connect_with(options).await.unwrap();
    sqlx::query("CREATE TABLE orders (tenant_id TEXT NOT NULL, order_id TEXT NOT NULL, customer TEXT NOT NULL, PRIMARY KEY (tenant_id, order_id))").execute(&pool).await.unwrap();
    sqlx::query("INSERT INTO orders VALUES ('bharat', 'o-77', '919800000001'), ('sutra', 'o-77', '919811111111')").execute(&pool).await.unwrap();
    pool
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_and_approval_reach_kafka() {
    let prefix = unique_prefix("gw");
    let topology = topology(&prefix);
    let catalog = Catalog::builtin().unwrap();
    let (bootstrap, registry) = (stack::kafka_bootstrap(), stack::schema_registry_url());
    souk_runtime::admin::apply(&topology, &catalog, &bootstrap, &registry).await.expect("the local stack must be up (./dev up)");
    let codec = Arc::new(stack::codec_for(&topology, &catalog, &registry).unwrap());
    let publisher = KafkaPublisher::connect(&bootstrap, codec.clone(), &topology).unwrap();
    let schema = prefix.trim_end_matches('.').replace('.', "_");
    let admin = PgPoolOptions::new().max_connections(1).connect(&stack::database_url()).await.expect("Postgres of the local stack");
    let orders = PgOrderDirectory::new(orders_schema(&admin, &schema).await);
    let tenant = Tenant {
        id: BHARAT.id.into(),
        name: "Bharat Textiles".into(),
        phone_number_id: BHARAT.phone_number_id.into(),
        app_secret: Secret::new(BHARAT.app_secret),
        verify_token: Secret::new(BHARAT.verify_token),
        api_key: Secret::new(BHARAT.api_key),
        access_token: Secret::new("EAAG"),
        intent_confidence_threshold: None,
    };
    let state = GatewayState::new(Arc::new(Tenants::from_list(vec![tenant]).unwrap()), Arc::new(publisher), Arc::new(orders));
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
        (reqwest::Method::POST, "/v1/stock", serde_json::json!({ "batch_id": "B1", "material": "cotton", "color": "blue", "rolls": 4, "meters_per_roll": "25.5", "loose_meters": "12.125", "price_per_meter": "118" })),
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

    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE")).execute(&admin).await.unwrap();
}
