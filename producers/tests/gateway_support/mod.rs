//! Shared by the gateway tests: two tenants, the gateway on the real local stack (Kafka through the
//! registry, orders in Postgres) on 127.0.0.1:0 with a pinned clock, what it produced read back from
//! the broker, an outage as a broker address nobody answers on, and Meta-shaped webhook payloads
//! (WhatsApp Cloud API `messages` webhook).
#![allow(dead_code)]

use serde_json::{json, Value};
use souk_producers::gateway::{router, sign, GatewayConfig, GatewayEvent, GatewayState, KafkaPublisher, LogOrderDirectory, Publish};
use souk_runtime::codec::Codec;
use souk_runtime::stack;
use souk_runtime::tenants::{Secret, Tenant, Tenants};
use souk_runtime::testkit::read_to_end;
use souk_runtime::topology::Topology;
use souk_schemas::billing::{BillingCommand, LedgerInput};
use souk_schemas::bundles::PartnerUpserted;
use souk_schemas::inventory::InventoryCommand;
use souk_schemas::orchestration::NegotiationInput;
use souk_schemas::orders::OrderInput;
use souk_schemas::whatsapp::{ConsentEvent, InboundMessage, StatusEvent};
use souk_schemas::Catalog;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The pinned wall clock of every test server (epoch ms).
pub const NOW_MS: i64 = 1_700_000_000_000;
/// `NOW_MS` in seconds.
pub const NOW_S: i64 = NOW_MS / 1000;

/// Tenant "bharat": business number 1001.
pub const BHARAT: Creds = Creds { id: "bharat", phone_number_id: "1001", app_secret: "bharat-app-secret", verify_token: "bharat-verify", api_key: "bharat-owner-key" };
/// Tenant "sutra": business number 2002.
pub const SUTRA: Creds = Creds { id: "sutra", phone_number_id: "2002", app_secret: "sutra-app-secret", verify_token: "sutra-verify", api_key: "sutra-owner-key" };

/// One tenant's configuration, as plain strings for the tests.
#[derive(Clone, Copy)]
pub struct Creds {
    pub id: &'static str,
    pub phone_number_id: &'static str,
    pub app_secret: &'static str,
    pub verify_token: &'static str,
    pub api_key: &'static str,
}

impl Creds {
    pub fn tenant(&self) -> Tenant {
        Tenant {
            id: self.id.into(),
            name: format!("{} textiles", self.id),
            phone_number_id: self.phone_number_id.into(),
            app_secret: Secret::new(self.app_secret),
            verify_token: Secret::new(self.verify_token),
            api_key: Secret::new(self.api_key),
            access_token: Secret::new("EAAG-test"),
            payments_secret_key: None,
            instagram: None,
            whatsapp_inbox: false,
            staff: vec![],
            rate_limits: None,
            intent_confidence_threshold: None,
        }
    }
}

/// The shipped topology reduced to the topics the gateway writes, one partition each so the
/// records of a test read back in the order they were published.
pub fn gateway_topology(prefix: &str) -> Topology {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../topology.toml")).unwrap();
    let mut t = Topology::parse(&text, prefix).unwrap();
    t.topics.retain(|name, _| TOPICS.contains(&name.as_str()) || name == "orders.directory");
    for spec in t.topics.values_mut() {
        spec.partitions = Some(1);
    }
    t.processors.clear();
    t.stages.clear();
    t.sinks.clear();
    t.producers.retain(|_, p| p.kind.get_ref() == souk_producers::gateway::GATEWAY_KIND);
    t
}

/// The topics the gateway writes, in the order [`Gateway::published`] lists them, with the
/// gateway's logical output of each (its `outputs` in topology.toml).
pub const TOPICS: [&str; 9] = ["whatsapp.inbound", "whatsapp.status", "orders.inputs", "ledger.inputs", "inventory.commands", "billing.commands", "whatsapp.consent", "partners", "negotiation.inputs"];

/// The gateway's output that writes `topic`, as topology.toml declares it.
pub fn output_of(topology: &Topology, topic: &str) -> String {
    let (name, _) = topology.producers.iter().find(|(_, p)| p.kind.get_ref() == souk_producers::gateway::GATEWAY_KIND).expect("the gateway producer");
    let spec = topology.component(souk_runtime::topology::Role::Producer, name).expect("gateway spec");
    spec.outputs.iter().find(|(_, t)| **t == topology.topic(topic)).map(|(o, _)| o.clone()).unwrap_or_else(|| panic!("the gateway declares no output to {topic}"))
}

/// The orders the gateway tests approve and reject: (tenant, order id, customer).
pub const ORDERS: [(&str, &str, &str); 3] = [("bharat", "o-1", "919800000001"), ("bharat", "o-77", "919800000001"), ("sutra", "o-77", "919811111111")];

/// Writes [`ORDERS`] to the topology's `orders.directory` as the order sessions would (their
/// latest snapshot under `<tenant>|<order id>`) and loads the gateway's directory table of it.
pub async fn order_directory(topology: &Topology, codec: &Arc<Codec>, bootstrap: &str) -> LogOrderDirectory {
    use souk_runtime::kafka::{make_headers, send_all, OutRecord};
    use souk_schemas::orders::{OrderEvent, OrderUpdated};
    let topic = topology.topic("orders.directory");
    let mut records = Vec::new();
    for (tenant, order_id, customer) in ORDERS {
        let snapshot = OrderUpdated {
            envelope: souk_schemas::Envelope::external(tenant, &format!("order/{order_id}"), NOW_MS),
            order_id: order_id.into(),
            customer: customer.into(),
            state: "WAITING_OWNER_CONFIRMATION".into(),
            previous_state: Some("FINAL_CONFIRMATION".into()),
            cause: "test".into(),
            cause_wamid: None,
            lines: vec![],
            negotiation_turns: 0,
            unknown_streak: 0,
            opened_at: NOW_MS,
            subtotal: None,
        };
        let payload = codec.encode(&topic, &OrderEvent::OrderUpdated(snapshot)).await.expect("encode");
        records.push(OutRecord { topic: topic.clone(), partition: None, key: Some(souk_schemas::key::OrderKey::of(tenant, order_id)), payload: Some(payload), headers: make_headers(&[]) });
    }
    send_all(&souk_runtime::kafka::producer(bootstrap).unwrap(), records).await.expect("directory records");
    let spec = topology.component(souk_runtime::topology::Role::Producer, "gateway").expect("gateway spec");
    LogOrderDirectory::load(bootstrap, codec.clone(), spec.table("orders.directory").unwrap()).await.expect("the directory table")
}

/// A port on loopback where nothing listens (bound, then released).
pub fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The gateway on the real local stack: `KafkaPublisher` to the broker (a fresh topic prefix per
/// test), the order directory table of `orders.directory` (seeded with [`ORDERS`]), both tenants, the clock pinned at `NOW_MS`. A second
/// server with the same tenants publishes to a broker address nobody answers on (an outage).
pub struct Gateway {
    pub base: String,
    down_base: String,
    down: AtomicBool,
    pub http: reqwest::Client,
    pub topology: Topology,
    pub codec: Arc<Codec>,
    pub bootstrap: String,
}

impl Gateway {
    /// Applies the gateway's topics under a fresh prefix and starts both servers.
    pub async fn start() -> Gateway {
        souk_runtime::testkit::require_stack("gateway tests").await;
        let topology = gateway_topology(&souk_runtime::testkit::unique_prefix("gw"));
        let catalog = Catalog::builtin().unwrap();
        let (bootstrap, registry) = (stack::kafka_bootstrap(), stack::schema_registry_url());
        souk_runtime::testkit::with_retries("topology apply", || souk_runtime::admin::apply(&topology, &catalog, &bootstrap, &registry)).await.expect("apply");
        let codec = Arc::new(stack::codec_for(&topology, &catalog, &registry).unwrap());
        let tenants = Arc::new(Tenants::from_list(vec![BHARAT.tenant(), SUTRA.tenant()]).unwrap());
        let orders = Arc::new(order_directory(&topology, &codec, &bootstrap).await);
        let live = KafkaPublisher::connect(&bootstrap, codec.clone(), &topology).expect("the gateway's outputs");
        let state = GatewayState::new(tenants.clone(), Arc::new(live), orders.clone()).with_clock(|| NOW_MS);
        let base = serve(router(state).into_router()).await;
        let unreachable = KafkaPublisher::connect(&format!("127.0.0.1:{}", closed_port()), codec.clone(), &topology).unwrap();
        let config = GatewayConfig { publish_timeout_ms: 2_000, ..GatewayConfig::default() };
        let down_state = GatewayState::new(tenants, Arc::new(unreachable), orders).with_clock(|| NOW_MS).with_config(config);
        let down_base = serve(router(down_state).into_router()).await;
        Gateway { base, down_base, down: AtomicBool::new(false), http: reqwest::Client::new(), topology, codec, bootstrap }
    }

    fn url(&self) -> &str {
        if self.down.load(Ordering::SeqCst) {
            &self.down_base
        } else {
            &self.base
        }
    }

    /// Everything the gateway produced so far, read back from the broker and decoded: topic by
    /// topic in [`TOPICS`] order, each in offset order.
    pub async fn published(&self) -> Vec<Publish> {
        let mut out = Vec::new();
        for topic in TOPICS {
            for r in read_to_end(&self.bootstrap, &self.topology.topic(topic)).await.expect("reading back") {
                let bytes = r.payload.as_deref().expect("a value");
                let event = match topic {
                    "whatsapp.inbound" => GatewayEvent::Inbound(self.codec.decode::<InboundMessage>(bytes).await.expect("decode")),
                    "whatsapp.status" => match self.codec.decode(bytes).await.expect("decode") {
                        StatusEvent::DeliveryStatus(s) => GatewayEvent::Status(s),
                        other => panic!("the gateway does not produce {other:?}"),
                    },
                    "orders.inputs" => match self.codec.decode(bytes).await.expect("decode") {
                        OrderInput::OwnerDecision(d) => GatewayEvent::OwnerDecision(d),
                        other => panic!("the gateway does not produce {other:?}"),
                    },
                    "ledger.inputs" => match self.codec.decode(bytes).await.expect("decode") {
                        LedgerInput::PaymentRecorded(p) => GatewayEvent::Payment(p),
                        other => panic!("the gateway does not produce {other:?}"),
                    },
                    "inventory.commands" => match self.codec.decode(bytes).await.expect("decode") {
                        InventoryCommand::CatalogItemUpserted(c) => GatewayEvent::CatalogItem(c),
                        InventoryCommand::BatchReceived(b) => GatewayEvent::Batch(b),
                        other => panic!("the gateway does not produce {other:?}"),
                    },
                    "whatsapp.consent" => match self.codec.decode(bytes).await.expect("decode") {
                        ConsentEvent::ConsentChanged(c) => GatewayEvent::Consent(c),
                    },
                    "partners" => GatewayEvent::Partner(self.codec.decode::<PartnerUpserted>(bytes).await.expect("decode")),
                    "negotiation.inputs" => match self.codec.decode(bytes).await.expect("decode") {
                        NegotiationInput::BundleRequested(b) => GatewayEvent::Bundle(b),
                        NegotiationInput::ItemAddRequested(i) => GatewayEvent::ItemAdd(i),
                        NegotiationInput::PartnerReplied(r) => GatewayEvent::PartnerReply(r),
                        NegotiationInput::HumanIntervened(h) => GatewayEvent::Intervened(h),
                        NegotiationInput::CheckoutRequested(c) => GatewayEvent::Checkout(c),
                        NegotiationInput::LegDelivered(d) => GatewayEvent::LegDelivered(d),
                        other => panic!("the gateway does not produce {other:?}"),
                    },
                    _ => match self.codec.decode(bytes).await.expect("decode") {
                        BillingCommand::TenantSettingsChanged(t) => GatewayEvent::Settings(t),
                        other => panic!("the gateway does not produce {other:?}"),
                    },
                };
                let publish = Publish::new(r.key.clone().expect("a key"), event);
                assert_eq!(publish.output, output_of(&self.topology, topic), "{publish:?} is on its own topic");
                out.push(publish);
            }
        }
        out
    }

    /// Routes the next requests to the server whose broker is unreachable (`true`) or back.
    pub fn broker_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// POSTs a raw webhook body with the given headers.
    pub async fn post_webhook(&self, body: &[u8], headers: &[(&str, String)]) -> (u16, Value) {
        let mut req = self.http.post(format!("{}/webhooks/whatsapp", self.url())).header("content-type", "application/json").body(body.to_vec());
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        answer(req.send().await.unwrap()).await
    }

    /// POSTs a body signed with `secret` (Meta's signature).
    pub async fn deliver(&self, secret: &str, body: &Value) -> (u16, Value) {
        let bytes = serde_json::to_vec(body).unwrap();
        self.post_webhook(&bytes, &[("X-Hub-Signature-256", sign(secret, &bytes))]).await
    }

    /// Sends an owner command with a bearer key (`None` = no Authorization header).
    pub async fn command(&self, method: reqwest::Method, path: &str, key: Option<&str>, body: Option<Value>) -> (u16, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.url()));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        answer(req.send().await.unwrap()).await
    }
}

/// Asserts a 202 and returns the one event published by it.
pub async fn accepted(gw: &Gateway, (status, body): (u16, Value)) -> (String, Publish) {
    assert_eq!((status, body["status"].as_str()), (202, Some("accepted")), "{body}");
    let published = gw.published().await;
    assert_eq!(published.len(), 1, "one event per command");
    (body["command_id"].as_str().unwrap().to_string(), published[0].clone())
}

/// Asserts a refusal with `code` whose reason mentions `mentions`, and that nothing was published.
pub async fn refused(gw: &Gateway, (status, body): (u16, Value), expected: u16, code: &str, mentions: &str) {
    assert_eq!((status, body["error"].as_str()), (expected, Some(code)), "{body}");
    assert!(body["reason"].as_str().unwrap().contains(mentions), "{body} should mention {mentions}");
    assert!(gw.published().await.is_empty(), "nothing published for {body}");
}

/// Status and JSON body (Null when the body is not JSON).
pub async fn answer(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Serves `app` on 127.0.0.1:0 in the background; returns `http://127.0.0.1:<port>`.
pub async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// A Meta `messages` webhook delivery for one business number.
pub fn delivery(phone_number_id: &str, contacts: Vec<Value>, messages: Vec<Value>, statuses: Vec<Value>) -> Value {
    let mut value = json!({
        "messaging_product": "whatsapp",
        "metadata": { "display_phone_number": "15550001111", "phone_number_id": phone_number_id },
    });
    if !contacts.is_empty() {
        value["contacts"] = Value::Array(contacts);
    }
    if !messages.is_empty() {
        value["messages"] = Value::Array(messages);
    }
    if !statuses.is_empty() {
        value["statuses"] = Value::Array(statuses);
    }
    json!({ "object": "whatsapp_business_account", "entry": [{ "id": "102290129340398", "changes": [{ "value": value, "field": "messages" }] }] })
}

/// `contacts[]` item.
pub fn contact(wa_id: &str, name: &str) -> Value {
    json!({ "profile": { "name": name }, "wa_id": wa_id })
}

/// A text message.
pub fn text(from: &str, wamid: &str, ts: i64, body: &str) -> Value {
    json!({ "from": from, "id": wamid, "timestamp": ts.to_string(), "text": { "body": body }, "type": "text" })
}

/// A reply-button tap on a message souk sent.
pub fn button_reply(from: &str, wamid: &str, ts: i64, id: &str, title: &str, context: &str) -> Value {
    json!({
        "context": { "from": "15550001111", "id": context },
        "from": from, "id": wamid, "timestamp": ts.to_string(), "type": "interactive",
        "interactive": { "type": "button_reply", "button_reply": { "id": id, "title": title } }
    })
}

/// A list row choice.
pub fn list_reply(from: &str, wamid: &str, ts: i64, id: &str, title: &str, description: &str) -> Value {
    json!({
        "context": { "from": "15550001111", "id": "wamid.list-sent" },
        "from": from, "id": wamid, "timestamp": ts.to_string(), "type": "interactive",
        "interactive": { "type": "list_reply", "list_reply": { "id": id, "title": title, "description": description } }
    })
}

/// A photo (not something souk reads).
pub fn image(from: &str, wamid: &str, ts: i64) -> Value {
    json!({
        "from": from, "id": wamid, "timestamp": ts.to_string(), "type": "image",
        "image": { "caption": "this colour?", "mime_type": "image/jpeg", "sha256": "abc123", "id": "media-777" }
    })
}

/// A status callback.
pub fn status(wamid: &str, status: &str, ts: i64, recipient: &str) -> Value {
    json!({
        "id": wamid, "status": status, "timestamp": ts.to_string(), "recipient_id": recipient,
        "conversation": { "id": "conv-1", "origin": { "type": "service" } },
        "pricing": { "billable": true, "pricing_model": "CBP", "category": "service" }
    })
}
