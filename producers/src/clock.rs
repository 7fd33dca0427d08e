//! The clock: a producer that writes a `souk.clock.Tick` into every partition of every
//! timer-driven topic at a fixed interval. It is where the wall clock enters the processors (the
//! gateway also stamps what it receives, the dispatcher times its retries): processors see time
//! only through events, so replays fire the same timers. Started by `souk run` from
//! `[producers.clock]` (kind `clock`).

use rdkafka::producer::FutureProducer;
use souk_runtime::codec::Codec;
use souk_runtime::kafka::{make_headers, send_all, OutRecord};
use souk_schemas::clock::{tick_json, TICK_KEY};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Produces one tick into every partition of `topics` at time `now_ms`.
pub async fn tick_once(producer: &FutureProducer, codec: &Codec, topics: &[(String, i32)], now_ms: i64) -> anyhow::Result<()> {
    let mut records = Vec::new();
    for (topic, partitions) in topics {
        for p in 0..*partitions {
            let payload = codec.encode_json(topic, &tick_json(topic, p, now_ms)).await?;
            records.push(OutRecord { topic: topic.clone(), partition: Some(p), key: Some(TICK_KEY.into()), payload: Some(payload), headers: make_headers(&[]) });
        }
    }
    send_all(producer, records).await.map(drop)
}

/// Ticks every `interval` until `shutdown` turns true.
pub async fn run(producer: FutureProducer, codec: Arc<Codec>, topics: Vec<(String, i32)>, interval: Duration, mut shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
    let mut every = tokio::time::interval(interval);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = shutdown.changed() => return Ok(()),
        }
        if *shutdown.borrow() {
            return Ok(());
        }
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default();
        if let Err(e) = tick_once(&producer, &codec, &topics, now).await {
            tracing::warn!(error = format!("{e:#}"), "tick failed; will tick again");
        }
    }
}

/// The driven clock (`souk run --driven-clock`, for tests and demos): no ticks of its own; each
/// `POST /v1/clock/ticks {"at": "<RFC 3339>"}` (any tenant's API key) writes one tick at that time
/// into every partition of every timer-driven topic, so 15 minutes, an hour or a day of stream
/// time pass in one request — time still arrives only as events, and a replay fires the same
/// timers. Answered 202 once every tick is acknowledged.
pub mod driven {
    use super::tick_once;
    use axum::body::Bytes;
    use axum::extract::rejection::BytesRejection;
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::{IntoResponse, Response};
    use axum::Json;
    use rdkafka::producer::FutureProducer;
    use serde::Deserialize;
    use serde_json::json;
    use souk_runtime::api_error::{authenticate, ApiError};
    use souk_runtime::codec::Codec;
    use souk_runtime::http::{Routes, Surface};
    use souk_runtime::openapi::{error_response, Fragment};
    use souk_runtime::tenants::Tenants;
    use std::sync::Arc;

    /// What the handler needs.
    #[derive(Clone)]
    struct Driven {
        producer: FutureProducer,
        codec: Arc<Codec>,
        topics: Arc<Vec<(String, i32)>>,
        tenants: Arc<Tenants>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct TickBody {
        at: String,
    }

    async fn tick(State(d): State<Driven>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
        let result = async {
            authenticate(&d.tenants, &headers)?;
            let body = body.map_err(ApiError::from_body)?;
            let b: TickBody = serde_json::from_slice(&body).map_err(|e| ApiError::bad_request("MALFORMED_BODY", e.to_string()))?;
            let at = chrono::DateTime::parse_from_rfc3339(b.at.trim()).map_err(|e| ApiError::bad_request("INVALID_FIELD", format!("at: not RFC 3339: {e}")))?.timestamp_millis();
            tick_once(&d.producer, &d.codec, &d.topics, at).await.map_err(|e| ApiError::unavailable(format!("ticking failed: {e:#}")))?;
            let partitions: i32 = d.topics.iter().map(|(_, p)| p).sum();
            tracing::info!(at, partitions, "driven clock ticked");
            Ok::<_, ApiError>(json!({ "status": "accepted", "at": at, "partitions": partitions }))
        }
        .await;
        match result {
            Ok(answer) => (StatusCode::ACCEPTED, Json(answer)).into_response(),
            Err(e) => e.into_response(),
        }
    }

    /// The driven clock's route and its documentation.
    pub fn surface(producer: FutureProducer, codec: Arc<Codec>, topics: Vec<(String, i32)>, tenants: Arc<Tenants>) -> Surface {
        let state = Driven { producer, codec, topics: Arc::new(topics), tenants };
        let mut doc = Fragment::default();
        doc.operation(
            "/v1/clock/ticks",
            "post",
            json!({
                "summary": "Drive stream time (only with souk run --driven-clock): one tick at `at` into every partition of every timer-driven topic",
                "requestBody": { "required": true, "content": { "application/json": { "schema": {
                    "type": "object", "additionalProperties": false, "required": ["at"], "properties": { "at": { "type": "string", "format": "date-time" } } } } } },
                "responses": {
                    "202": { "description": "every tick acknowledged", "content": { "application/json": { "schema": {
                        "type": "object", "required": ["status", "at", "partitions"],
                        "properties": { "status": { "const": "accepted" }, "at": { "type": "integer", "description": "epoch ms" }, "partitions": { "type": "integer" } } } } } },
                    "400": error_response("malformed body or a time that is not RFC 3339"),
                    "401": error_response("missing or unknown API key"),
                    "503": error_response("the broker is unavailable; retry"),
                },
                "security": [{ "bearer": [] }],
            }),
        );
        Surface { routes: Routes::new().post("/v1/clock/ticks", tick).with_state(state), doc, audit: None }
    }
}
