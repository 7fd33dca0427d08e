//! Shared by the gateway tests: two tenants, test doubles for the gateway's own traits (a
//! recording `EventPublisher`, an in-memory `OrderDirectory`), a server on 127.0.0.1:0 with a
//! pinned clock, and Meta-shaped webhook payloads (WhatsApp Cloud API `messages` webhook).
#![allow(dead_code)]

use futures::future::BoxFuture;
use serde_json::{json, Value};
use souk_producers::gateway::{router, sign, EventPublisher, GatewayState, OrderDirectory, Publish, PublishError};
use souk_runtime::tenants::{Secret, Tenant, Tenants};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

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
    fn tenant(&self) -> Tenant {
        Tenant {
            id: self.id.into(),
            name: format!("{} textiles", self.id),
            phone_number_id: self.phone_number_id.into(),
            app_secret: Secret::new(self.app_secret),
            verify_token: Secret::new(self.verify_token),
            api_key: Secret::new(self.api_key),
            access_token: Secret::new("EAAG-test"),
            intent_confidence_threshold: None,
        }
    }
}

/// Records every batch; fails on demand (a broker outage).
#[derive(Default)]
pub struct RecordingPublisher {
    pub published: Mutex<Vec<Publish>>,
    pub fail: AtomicBool,
}

impl EventPublisher for RecordingPublisher {
    fn publish(&self, records: Vec<Publish>) -> BoxFuture<'_, Result<(), PublishError>> {
        Box::pin(async move {
            if self.fail.load(Ordering::SeqCst) {
                return Err(PublishError::Unavailable("broker down (test)".into()));
            }
            self.published.lock().unwrap().extend(records);
            Ok(())
        })
    }
}

/// Orders by (tenant, order id) → customer.
#[derive(Default)]
pub struct FakeOrders(pub HashMap<(String, String), String>);

impl OrderDirectory for FakeOrders {
    fn customer_of<'a>(&'a self, tenant: &'a str, order_id: &'a str) -> BoxFuture<'a, anyhow::Result<Option<String>>> {
        Box::pin(async move { Ok(self.0.get(&(tenant.to_string(), order_id.to_string())).cloned()) })
    }
}

/// A running gateway with its doubles.
pub struct Gateway {
    pub base: String,
    pub publisher: Arc<RecordingPublisher>,
    pub http: reqwest::Client,
}

impl Gateway {
    /// Starts the router on 127.0.0.1:0 with both tenants, the clock pinned at `NOW_MS`, and one
    /// order `o-1` of customer 919800000001 at bharat.
    pub async fn start() -> Gateway {
        let tenants = Tenants::from_list(vec![BHARAT.tenant(), SUTRA.tenant()]).unwrap();
        let publisher = Arc::new(RecordingPublisher::default());
        let orders = FakeOrders([(("bharat".to_string(), "o-1".to_string()), "919800000001".to_string())].into_iter().collect());
        let state = GatewayState::new(Arc::new(tenants), publisher.clone(), Arc::new(orders)).with_clock(|| NOW_MS);
        let base = serve(router(state).into_router()).await;
        Gateway { base, publisher, http: reqwest::Client::new() }
    }

    /// Everything published so far.
    pub fn published(&self) -> Vec<Publish> {
        self.publisher.published.lock().unwrap().clone()
    }

    /// Makes the publisher fail (or succeed again).
    pub fn broker_down(&self, down: bool) {
        self.publisher.fail.store(down, Ordering::SeqCst);
    }

    /// POSTs a raw webhook body with the given headers.
    pub async fn post_webhook(&self, body: &[u8], headers: &[(&str, String)]) -> (u16, Value) {
        let mut req = self.http.post(format!("{}/webhooks/whatsapp", self.base)).header("content-type", "application/json").body(body.to_vec());
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
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        answer(req.send().await.unwrap()).await
    }
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
