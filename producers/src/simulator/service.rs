//! The simulator's HTTP surface and what it does: simulated partners declared over HTTP onto the
//! compacted `simulator.partners` topic (read back as a table, so a restart forgets nothing); the
//! inbox the local Cloud API hands souk's messages to; answers delivered to souk's WhatsApp
//! webhook as Meta would deliver the partner's message (signed with the tenant's app secret); the
//! manual queue on the compacted `simulator.queue`; every decision logged on `simulator.log`.

use super::engine::{self, Answer, Profile, Scenario, Stock};
use crate::gateway::{sign, ApiError};
use crate::meta::{messages_delivery, CustomerAction, InboundSpec};
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use rdkafka::producer::FutureProducer;
use serde::Deserialize;
use serde_json::{json, Value};
use souk_runtime::api_error::authenticate;
use souk_runtime::codec::Codec;
use souk_runtime::global_table::GlobalTable;
use souk_runtime::kafka::{send_all, OutRecord};
use souk_runtime::tenants::Tenants;
use souk_schemas::simulator::{SimulatedPartnerEvent, SimulatedPartnerUpserted, SimulatorAnswered, SimulatorQueueEvent, SimulatorQueueItem};
use souk_schemas::Envelope;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Longest wait for a table to catch up.
const CATCH_UP: Duration = Duration::from_secs(10);

/// Everything the handlers share.
#[derive(Clone)]
pub struct Simulator {
    pub(super) tenants: Arc<Tenants>,
    pub(super) producer: FutureProducer,
    pub(super) codec: Arc<Codec>,
    /// Logical output (`partners`, `queue`, `log`) → topic.
    pub(super) topics: Arc<BTreeMap<String, String>>,
    pub(super) partners: Arc<GlobalTable<SimulatedPartnerEvent, SimulatedPartnerUpserted>>,
    pub(super) queue: Arc<GlobalTable<SimulatorQueueEvent, SimulatorQueueItem>>,
    /// How many requests each simulated partner has answered, by `<tenant>|<number>` (its log):
    /// none yet ⇒ the request is from a new user.
    pub(super) answered: Arc<GlobalTable<SimulatorAnswered, u64>>,
    /// souk's HTTP base (its WhatsApp webhook and, for the live demo's setup, its commands).
    pub(super) souk_url: String,
    pub(super) http: reqwest::Client,
}

fn unavailable(e: impl std::fmt::Display) -> ApiError {
    ApiError::unavailable(format!("{e:#}"))
}

impl Simulator {
    /// Publishes one record (union JSON `{"Record": {...}}`) on logical output `output`.
    async fn publish(&self, output: &str, key: &str, record: &str, value: Value, envelope: &Envelope) -> Result<(), ApiError> {
        let topic = self.topics.get(output).ok_or_else(|| ApiError::internal("simulator", &anyhow::anyhow!("no `{output}` output in topology.toml")))?;
        let payload = self.codec.encode_json(topic, &json!({ record: value })).await.map_err(unavailable)?;
        send_all(&self.producer, vec![OutRecord::event(topic, key, payload, envelope)]).await.map(drop).map_err(unavailable)
    }

    fn partner(&self, tenant: &str, number: &str) -> Option<SimulatedPartnerUpserted> {
        self.partners.read(|rows| rows.get(&format!("{tenant}|{number}")).cloned()).filter(|p| p.active)
    }

    /// Delivers `text` to souk's webhook as a WhatsApp message from `number`, signed like Meta,
    /// retried while souk answers 5xx or is unreachable (Meta redelivers too).
    pub(super) async fn deliver(&self, tenant: &str, number: &str, wamid: &str, text: &str) -> anyhow::Result<()> {
        let t = self.tenants.get(tenant).ok_or_else(|| anyhow::anyhow!("unknown tenant {tenant}"))?;
        let spec = InboundSpec {
            phone_number_id: t.phone_number_id.clone(),
            from: number.into(),
            profile_name: number.into(),
            wamid: wamid.into(),
            timestamp_s: chrono::Utc::now().timestamp(),
            action: CustomerAction::Text(text.into()),
        };
        let body = serde_json::to_vec(&messages_delivery(&[spec]))?;
        let signature = sign(t.app_secret.expose(), &body);
        for attempt in 0..60 {
            let sent =
                self.http.post(format!("{}/webhooks/whatsapp", self.souk_url)).header("content-type", "application/json").header("x-hub-signature-256", &signature).body(body.clone()).send().await;
            match sent {
                Ok(r) if r.status().is_success() => return Ok(()),
                Ok(r) if r.status().is_client_error() => anyhow::bail!("souk refused the partner's message: {}", r.status()),
                _ => tokio::time::sleep(Duration::from_millis(200 * (attempt + 1).min(10))).await,
            }
        }
        anyhow::bail!("souk's webhook did not take the partner's message")
    }
}

fn answer(result: Result<Value, ApiError>, ok: StatusCode) -> Response {
    match result {
        Ok(v) => (ok, Json(v)).into_response(),
        Err(e) => {
            tracing::warn!(code = e.code, reason = %e.reason, "simulator request refused");
            e.into_response()
        }
    }
}

/// Parses a JSON object body strictly (the type's `deny_unknown_fields`), naming the field at fault.
pub(super) fn strict<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    let json: Value = serde_json::from_slice(body).map_err(|e| ApiError::bad_request("MALFORMED_BODY", e.to_string()))?;
    if !json.is_object() {
        return Err(ApiError::bad_request("MALFORMED_BODY", "the body must be a JSON object"));
    }
    serde_path_to_error::deserialize(json).map_err(|e| ApiError::bad_request("MALFORMED_BODY", format!("{}: {}", e.path(), e.inner())))
}

/// Body of `PUT /v1/simulator/partners/{number}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PartnerBody {
    name: String,
    #[serde(default = "automated")]
    mode: String,
    #[serde(default)]
    scenarios: Vec<Scenario>,
    #[serde(default)]
    stock: Vec<Stock>,
    #[serde(default = "yes")]
    active: bool,
}

fn automated() -> String {
    "automated".into()
}
fn yes() -> bool {
    true
}

/// `PUT /v1/simulator/partners/{number}`: how the partner at `number` answers.
pub async fn put_partner(State(s): State<Simulator>, Path(number): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let result = async {
        let tenant = authenticate(&s.tenants, &headers)?.id.clone();
        let b: PartnerBody = strict(&body)?;
        let number = number.trim().trim_start_matches('+').to_string();
        if !(5..=20).contains(&number.len()) || !number.chars().all(|c| c.is_ascii_digit()) {
            return Err(ApiError::bad_request("INVALID_FIELD", "number: digits of a WhatsApp number"));
        }
        let manual = match b.mode.as_str() {
            "automated" => false,
            "manual" => true,
            _ => return Err(ApiError::bad_request("INVALID_FIELD", "mode: automated or manual")),
        };
        if let Some(bad) = b.stock.iter().find(|st| st.inventory_count < -1 || st.item.trim().is_empty()) {
            return Err(ApiError::bad_request("INVALID_FIELD", format!("stock: {:?} needs an item name and an inventory_count of -1 or more", bad.item)));
        }
        if b.scenarios.iter().any(|sc| sc.delay_seconds > engine::MAX_DELAY_SECONDS) {
            return Err(ApiError::bad_request("INVALID_FIELD", format!("scenarios: delay_seconds is at most {}", engine::MAX_DELAY_SECONDS)));
        }
        let profile = Profile { manual, scenarios: b.scenarios, stock: b.stock };
        let envelope = Envelope::external(&tenant, &format!("simulator/partner/{number}/{}", uuid::Uuid::new_v4()), chrono::Utc::now().timestamp_millis());
        let event = SimulatedPartnerUpserted {
            envelope: envelope.clone(),
            number: number.clone(),
            name: b.name.trim().to_string(),
            manual,
            profile_json: serde_json::to_string(&profile).expect("a profile serializes"),
            active: b.active,
        };
        s.publish("partners", &format!("{tenant}|{number}"), "SimulatedPartnerUpserted", serde_json::to_value(&event).expect("serializes"), &envelope).await?;
        Ok(json!({ "status": "accepted", "number": number }))
    }
    .await;
    answer(result, StatusCode::ACCEPTED)
}

/// `GET /v1/simulator/partners`: the tenant's simulated partners.
pub async fn list_partners(State(s): State<Simulator>, headers: HeaderMap) -> Response {
    let result = async {
        let tenant = authenticate(&s.tenants, &headers)?.id.clone();
        s.partners.catch_up(CATCH_UP).await.map_err(unavailable)?;
        let mut partners: Vec<Value> = s.partners.read(|rows| {
            rows.values()
                .filter(|p| p.envelope.tenant_id == tenant)
                .map(|p| json!({ "number": p.number, "name": p.name, "mode": if p.manual { "manual" } else { "automated" }, "active": p.active, "profile": serde_json::from_str::<Value>(&p.profile_json).unwrap_or(Value::Null) }))
                .collect()
        });
        partners.sort_by(|a, b| a["number"].as_str().cmp(&b["number"].as_str()));
        Ok(json!({ "partners": partners }))
    }
    .await;
    answer(result, StatusCode::OK)
}

/// Body the local Cloud API hands over: souk's send request as it received it.
#[derive(Debug, Deserialize)]
pub struct Handover {
    /// The business number souk sent from (routes to the tenant).
    pub phone_number_id: String,
    /// The wamid the Cloud API gave the message.
    pub wamid: String,
    /// The send request's JSON (`to`, `text` or `interactive`).
    pub message: Value,
}

/// `POST /v1/simulator/inbox`: one of souk's messages, handed over by the (local) Cloud API,
/// signed with the tenant's app secret. A message to a number nobody simulates is ignored.
pub async fn inbox(State(s): State<Simulator>, headers: HeaderMap, body: Bytes) -> Response {
    let result = async {
        let signature = headers.get(crate::gateway::SIGNATURE_HEADER).and_then(|v| v.to_str().ok()).ok_or_else(|| ApiError::unauthorized("MISSING_SIGNATURE", "X-Hub-Signature-256 is required"))?;
        let h: Handover = strict(&body)?;
        let t = s.tenants.by_phone_number_id(&h.phone_number_id).ok_or_else(|| ApiError::not_found("UNKNOWN_PHONE_NUMBER", format!("no tenant owns {}", h.phone_number_id)))?;
        if !crate::gateway::verify(t.app_secret.expose(), &body, signature) {
            return Err(ApiError::unauthorized("BAD_SIGNATURE", "the hand-over is not signed with the tenant's app secret"));
        }
        let tenant = t.id.clone();
        let to = h.message["to"].as_str().unwrap_or_default().to_string();
        s.partners.catch_up(CATCH_UP).await.map_err(unavailable)?;
        let Some(partner) = s.partner(&tenant, &to) else { return Ok(json!({ "status": "not_simulated" })) };
        let profile: Profile = serde_json::from_str(&partner.profile_json).map_err(|e| ApiError::internal("simulator", &anyhow::anyhow!("stored profile: {e}")))?;
        let text = h.message.pointer("/text/body").or_else(|| h.message.pointer("/interactive/body/text")).and_then(Value::as_str).unwrap_or_default().to_string();
        let buttons = h.message.pointer("/interactive/action/buttons").and_then(Value::as_array).is_some_and(|b| !b.is_empty());
        let hour = chrono::Timelike::hour(&chrono::Utc::now());
        s.answered.catch_up(CATCH_UP).await.map_err(unavailable)?;
        let first_contact = s.answered.read(|rows| rows.get(&format!("{tenant}|{to}")).copied().unwrap_or(0) == 0);
        let request = engine::Request { first_contact, ..engine::read_request(&text, buttons, hour, &h.wamid) };
        let envelope = Envelope::external(&tenant, &format!("simulator/{}", h.wamid), chrono::Utc::now().timestamp_millis());
        let log = |scenario: &str, reply: &str, delay: u64| SimulatorAnswered {
            envelope: envelope.clone(),
            number: to.clone(),
            message_id: h.wamid.clone(),
            request_kind: request.kind.clone(),
            product: request.product.clone(),
            scenario: scenario.to_string(),
            text: reply.to_string(),
            delay_seconds: delay as i64,
        };
        match engine::answer(&profile, &request) {
            Answer::Silent => Ok(json!({ "status": "silent" })),
            Answer::Queue => {
                let item = SimulatorQueueItem {
                    envelope: envelope.clone(),
                    queue_id: format!("q-{}", h.wamid),
                    number: to.clone(),
                    message_id: h.wamid.clone(),
                    request_text: text.clone(),
                    request_kind: request.kind.clone(),
                    product: request.product.clone(),
                    status: "pending".into(),
                    response: None,
                    responded_by: None,
                    responded_at: None,
                };
                s.publish("queue", &format!("{tenant}|{}", item.queue_id), "SimulatorQueueItem", serde_json::to_value(&item).expect("serializes"), &envelope).await?;
                tracing::info!(tenant, number = %to, queue_id = %item.queue_id, "simulator: waiting for a manual response");
                Ok(json!({ "status": "pending_manual", "queue_id": item.queue_id, "message": "Waiting for manual response" }))
            }
            Answer::Reply { text: reply, delay_seconds, scenario } => {
                s.publish("log", &format!("{tenant}|{to}"), "SimulatorAnswered", serde_json::to_value(log(&scenario, &reply, delay_seconds)).expect("serializes"), &envelope).await?;
                let (sim, wamid) = (s.clone(), format!("wamid.sim.{}", h.wamid));
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_secs(delay_seconds)).await;
                    if let Err(e) = sim.deliver(&tenant, &to, &wamid, &reply).await {
                        tracing::warn!(error = format!("{e:#}"), "simulator: the partner's answer was not delivered");
                    }
                });
                Ok(json!({ "status": "answered", "scenario": scenario, "delay_seconds": delay_seconds }))
            }
        }
    }
    .await;
    answer(result, StatusCode::OK)
}

/// Query of `GET /v1/simulator/queue`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueQuery {
    status: Option<String>,
}

/// The statuses of a queue item.
pub const QUEUE_STATUSES: [&str; 2] = ["pending", "responded"];

/// `GET /v1/simulator/queue?status=`: the manual queue, oldest first.
pub async fn list_queue(State(s): State<Simulator>, headers: HeaderMap, q: Result<Query<QueueQuery>, QueryRejection>) -> Response {
    let result = async {
        let tenant = authenticate(&s.tenants, &headers)?.id.clone();
        let Query(q) = q.map_err(|e| ApiError::bad_request("BAD_QUERY", e.body_text()))?;
        if let Some(status) = q.status.as_deref().filter(|st| !QUEUE_STATUSES.contains(st)) {
            return Err(ApiError::bad_request("BAD_QUERY", format!("status must be pending or responded, not {status:?}")));
        }
        s.queue.catch_up(CATCH_UP).await.map_err(unavailable)?;
        let mut items: Vec<SimulatorQueueItem> = s.queue.read(|rows| rows.values().filter(|i| i.envelope.tenant_id == tenant && q.status.as_ref().is_none_or(|st| &i.status == st)).cloned().collect());
        items.sort_by(|a, b| (a.envelope.occurred_at, &a.queue_id).cmp(&(b.envelope.occurred_at, &b.queue_id)));
        let items: Vec<Value> = items
            .iter()
            .map(|i| json!({ "queue_id": i.queue_id, "number": i.number, "request_text": i.request_text, "request_kind": i.request_kind, "product": i.product, "status": i.status, "response": i.response, "responded_by": i.responded_by }))
            .collect();
        Ok(json!({ "queue": items }))
    }
    .await;
    answer(result, StatusCode::OK)
}

/// Body of `POST /v1/simulator/queue/{queue_id}/respond`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RespondBody {
    text: String,
    responded_by: String,
}

/// `POST /v1/simulator/queue/{queue_id}/respond`: an admin answers for the partner; the answer
/// goes to souk like any partner message, the item becomes `responded` (once).
pub async fn respond(State(s): State<Simulator>, Path(queue_id): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let result = async {
        let tenant = authenticate(&s.tenants, &headers)?.id.clone();
        let b: RespondBody = strict(&body)?;
        let text = crate::gateway::text("text", &b.text)?;
        s.queue.catch_up(CATCH_UP).await.map_err(unavailable)?;
        let key = format!("{tenant}|{queue_id}");
        let item = s.queue.read(|rows| rows.get(&key).cloned()).ok_or_else(|| ApiError::not_found("UNKNOWN_QUEUE_ITEM", format!("no queue item {queue_id}")))?;
        if item.status != "pending" {
            return Err(ApiError::new(StatusCode::CONFLICT, "ALREADY_RESPONDED", format!("queue item {queue_id} was answered")));
        }
        s.deliver(&tenant, &item.number, &format!("wamid.sim.{}", item.message_id), &text).await.map_err(unavailable)?;
        let now = chrono::Utc::now().timestamp_millis();
        let envelope = Envelope::external(&tenant, &format!("simulator/respond/{queue_id}"), now);
        let answered =
            SimulatorQueueItem { envelope: envelope.clone(), status: "responded".into(), response: Some(text), responded_by: Some(b.responded_by.trim().to_string()), responded_at: Some(now), ..item };
        s.publish("queue", &key, "SimulatorQueueItem", serde_json::to_value(&answered).expect("serializes"), &envelope).await?;
        Ok(json!({ "status": "responded", "queue_id": queue_id }))
    }
    .await;
    answer(result, StatusCode::ACCEPTED)
}
