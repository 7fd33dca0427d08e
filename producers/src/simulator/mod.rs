//! The partner simulator (seed-000 module 25): simulated partners answer souk's WhatsApp messages
//! as real ones would. In demos and tests the local Cloud API hands each accepted message over
//! (`POST /v1/simulator/inbox`); the simulator reads it as a partner would ([`engine`]) and
//! answers by posting a signed WhatsApp webhook delivery from the partner's number — or queues it
//! for an admin who answers over HTTP (manual mode). [`service`] holds the HTTP surface,
//! [`live_demo`] the setup and reset of seed-000 §6.1.

pub mod engine;
pub mod live_demo;
pub mod service;

use serde_json::json;
use service::Simulator;
use souk_runtime::codec::Codec;
use souk_runtime::global_table::GlobalTable;
use souk_runtime::http::{Routes, Surface};
use souk_runtime::openapi::{error_response, Fragment};
use souk_runtime::tenants::Tenants;
use souk_runtime::topology::{ComponentSpec, SourceTopic};
use std::sync::Arc;
use std::time::Duration;

/// The simulator as `[producers.partner-simulator]` declares it: its tables (`simulator.partners`,
/// `simulator.queue`) and outputs (`partners`, `queue`, `log`); `log` is its `log` output as a
/// source, read back whole to know whom each partner has answered (the `new_user` trigger);
/// `souk_url` is where souk's webhook and commands are (its own HTTP address inside `souk run`).
pub async fn start(spec: &ComponentSpec, log: &SourceTopic, bootstrap: &str, codec: Arc<Codec>, tenants: Arc<Tenants>, souk_url: &str) -> anyhow::Result<Surface> {
    let load = Duration::from_secs(60);
    let (p, q) = (spec.table("simulator.partners")?, spec.table("simulator.queue")?);
    let partners = GlobalTable::of(
        bootstrap,
        codec.clone(),
        p,
        Box::new(|rows, key, souk_schemas::simulator::SimulatedPartnerEvent::SimulatedPartnerUpserted(e)| {
            rows.insert(key.to_string(), e);
        }),
        load,
    );
    let queue = GlobalTable::of(
        bootstrap,
        codec.clone(),
        q,
        Box::new(|rows, key, souk_schemas::simulator::SimulatorQueueEvent::SimulatorQueueItem(e)| {
            rows.insert(key.to_string(), e);
        }),
        load,
    );
    let answered = GlobalTable::of(
        bootstrap,
        codec.clone(),
        log,
        Box::new(|rows, key, _: souk_schemas::simulator::SimulatorAnswered| {
            *rows.entry(key.to_string()).or_insert(0) += 1;
        }),
        load,
    );
    let (partners, queue, answered) = tokio::try_join!(partners, queue, answered)?;
    let state = Simulator {
        tenants,
        producer: souk_runtime::kafka::producer(bootstrap)?,
        codec,
        topics: Arc::new(spec.outputs.clone()),
        partners: Arc::new(partners),
        queue: Arc::new(queue),
        answered: Arc::new(answered),
        souk_url: souk_url.trim_end_matches('/').to_string(),
        http: reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?,
    };
    Ok(surface(state))
}

fn surface(state: Simulator) -> Surface {
    let routes = Routes::new()
        .put("/v1/simulator/partners/{number}", service::put_partner)
        .get("/v1/simulator/partners", service::list_partners)
        .post("/v1/simulator/inbox", service::inbox)
        .get("/v1/simulator/queue", service::list_queue)
        .post("/v1/simulator/queue/{queue_id}/respond", service::respond)
        .post("/v1/simulator/live-demo/setup", live_demo::setup)
        .post("/v1/simulator/live-demo/reset", live_demo::reset)
        .with_state(state);
    Surface { routes, doc: doc(), audit: None }
}

fn doc() -> Fragment {
    let mut f = Fragment::default();
    let bearer = json!([{ "bearer": [] }]);
    let obj = |props: serde_json::Value, required: &[&str]| json!({ "type": "object", "properties": props, "required": required });
    let ok = |d: &str, schema: serde_json::Value| json!({ "description": d, "content": { "application/json": { "schema": schema } } });
    let body = |schema: serde_json::Value, required: bool| json!({ "required": required, "content": { "application/json": { "schema": schema } } });
    let param = |name: &str| {
        let schema = if name == "number" { json!({ "type": "string", "pattern": "^\\+?[0-9]{5,20}$" }) } else { json!({ "type": "string" }) };
        json!({ "name": name, "in": "path", "required": true, "schema": schema })
    };
    let unauthorized = error_response("missing or unknown API key");
    let partner_body = json!({ "type": "object", "additionalProperties": false, "required": ["name"], "properties": {
        "name": { "type": "string" }, "mode": { "enum": ["automated", "manual"] }, "active": { "type": "boolean" },
        "stock": { "type": "array", "items": { "type": "object", "additionalProperties": false, "required": ["item", "inventory_count"], "properties": { "item": { "type": "string", "minLength": 1 }, "inventory_count": { "type": "integer", "minimum": -1 } } } },
        "scenarios": { "type": "array", "description": "tried in order: {trigger, behaviour, delay_seconds}; trigger \"always\" | \"new_user\" (the partner has never answered this tenant) | {product_contains} | {request_type} | {order_value_over} | {after_hour} | {all: [...]} | {any: [...]}; behaviour {type: rejection|acceptance|counter_offer|price_change|conditional|random|slow_response, ...}", "items": { "type": "object" } } } });
    f.operation("/v1/simulator/partners/{number}", "put", json!({ "summary": "Declare how the simulated partner at a WhatsApp number answers", "parameters": [param("number")], "requestBody": body(partner_body, true),
        "responses": { "202": ok("accepted", obj(json!({ "status": { "const": "accepted" }, "number": { "type": "string" } }), &["status", "number"])), "400": error_response("malformed body or an invalid number, mode or scenario"), "401": unauthorized.clone(), "503": error_response("the broker is unavailable") }, "security": bearer }));
    f.operation("/v1/simulator/partners", "get", json!({ "summary": "The tenant's simulated partners", "responses": { "200": ok("the partners", obj(json!({ "partners": { "type": "array", "items": { "type": "object" } } }), &["partners"])), "401": unauthorized.clone(), "503": error_response("the table is not caught up") }, "security": bearer }));
    f.operation("/v1/simulator/inbox", "post", json!({ "summary": "souk's message handed over by the (local) Cloud API, signed with the tenant's app secret",
        "parameters": [{ "name": "X-Hub-Signature-256", "in": "header", "required": true, "schema": { "type": "string" } }],
        "requestBody": body(obj(json!({ "phone_number_id": { "type": "string" }, "wamid": { "type": "string" }, "message": { "type": "object" } }), &["phone_number_id", "wamid", "message"]), true),
        "responses": { "200": ok("answered, queued, silent or not simulated", obj(json!({ "status": { "enum": ["answered", "pending_manual", "silent", "not_simulated"] } }), &["status"])), "400": error_response("malformed hand-over"), "401": error_response("bad signature"), "404": error_response("no tenant owns the phone_number_id"), "503": error_response("the broker is unavailable") }, "security": [] }));
    f.operation("/v1/simulator/queue", "get", json!({ "summary": "The manual queue, oldest first", "parameters": [{ "name": "status", "in": "query", "required": false, "schema": { "enum": ["pending", "responded"] } }],
        "responses": { "200": ok("the queue", obj(json!({ "queue": { "type": "array", "items": { "type": "object" } } }), &["queue"])), "400": error_response("unknown query parameter"), "401": unauthorized.clone(), "503": error_response("the table is not caught up") }, "security": bearer }));
    f.operation("/v1/simulator/queue/{queue_id}/respond", "post", json!({ "summary": "An admin answers a queued request for the partner (sent to souk like any partner message)", "parameters": [param("queue_id")],
        "requestBody": body(json!({ "type": "object", "additionalProperties": false, "required": ["text", "responded_by"], "properties": { "text": { "type": "string", "minLength": 1, "maxLength": 4096, "pattern": crate::gateway::TEXT_PATTERN }, "responded_by": { "type": "string" } } }), true),
        "responses": { "202": ok("sent", obj(json!({ "status": { "const": "responded" }, "queue_id": { "type": "string" } }), &["status", "queue_id"])), "400": error_response("malformed body"), "401": unauthorized.clone(), "404": error_response("no such queue item"), "409": error_response("already answered"), "503": error_response("souk or the broker is unavailable") }, "security": bearer }));
    let demo = |summary: &str, with_body: bool| {
        let mut op = json!({ "summary": summary, "responses": { "200": ok("done", json!({ "type": "object", "required": ["demo_ready"], "properties": { "demo_ready": { "type": "boolean" }, "partner_a": { "type": "object" }, "partner_b": { "type": "object" } } })), "400": error_response("malformed body"), "401": unauthorized.clone(), "503": error_response("souk or the broker is unavailable") }, "security": bearer.clone() });
        if with_body {
            op["requestBody"] = body(
                json!({ "type": "object", "additionalProperties": false, "properties": { "partner_b_price": { "type": ["string", "null"], "pattern": "^[0-9]{1,12}(\\.[0-9]{1,2})?$", "description": "default 55.00 (61.00 is outside the re-sourcing window)" } } }),
                false,
            );
        }
        op
    };
    f.operation("/v1/simulator/live-demo/setup", "post", demo("Set up seed-000 §6.1's live demo: Flower Shop A and B in souk and as simulated partners", true));
    f.operation("/v1/simulator/live-demo/reset", "post", demo("Take the live demo's partners away again", false));
    f
}
