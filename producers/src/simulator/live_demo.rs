//! The live demo of seed-000 §6.1 over HTTP: `POST /v1/simulator/live-demo/setup` declares Flower
//! Shop A and B with their exact places, numbers and products in souk (through souk's own partner
//! and product commands, with the caller's API key) and as simulated partners — A refuses
//! anything pink ("No, we don't have pink flowers available"), B accepts ("Yes, I have pink
//! flowers available!") — and answers `{partner_a, partner_b, demo_ready: true}`;
//! `POST /v1/simulator/live-demo/reset` takes all of it away again.

use super::service::Simulator;
use crate::gateway::ApiError;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

/// Partner A's WhatsApp number.
pub const PARTNER_A: &str = "1234567890";
/// Partner B's WhatsApp number.
pub const PARTNER_B: &str = "1234567891";

/// souk's `PUT /v1/partners/{id}` body for a demo florist.
pub fn florist(name: &str, at: (f64, f64), number: &str, active: bool) -> Value {
    json!({
        "name": name, "business_type": "florist", "location": { "lat": at.0, "lng": at.1 }, "capabilities": ["florist"],
        "channel": "whatsapp", "channel_id": format!("+{number}"), "opted_in": true, "preparation_minutes": 20,
        "verification": { "licence": true, "insurance": true, "tax_id": true }, "positive_reviews": 2, "on_time_percent": 95, "active": active,
        "payout_account": payout_account(name),
    })
}

/// A demo partner's payout account at the payment provider: `acct_` and their name in snake case.
pub fn payout_account(name: &str) -> String {
    format!("acct_{}", name.to_lowercase().replace(|c: char| !c.is_ascii_alphanumeric(), "_"))
}

/// souk's `PUT /v1/products/{id}` body for a demo product (10 in stock).
pub fn product(partner: &str, name: &str, price: &str, active: bool) -> Value {
    json!({ "partner_id": partner, "name": name, "price": price, "currency": "USD", "capabilities": ["florist"], "inventory_count": 10, "active": active })
}

/// The demo's partners and products as souk commands: (path, body).
pub fn souk_commands(partner_b_price: &str, active: bool) -> Vec<(String, Value)> {
    vec![
        ("/v1/partners/partner-a".into(), florist("Flower Shop A", (40.7128, -74.0060), PARTNER_A, active)),
        ("/v1/partners/partner-b".into(), florist("Flower Shop B", (40.7580, -73.9855), PARTNER_B, active)),
        ("/v1/products/red-flowers-a".into(), product("partner-a", "Red Flowers", "50.00", active)),
        ("/v1/products/pink-flowers-b".into(), product("partner-b", "Pink Flowers", partner_b_price, active)),
    ]
}

/// The two simulated partners: (number, body of `PUT /v1/simulator/partners/{number}`).
pub fn simulated(active: bool) -> Vec<(&'static str, Value)> {
    vec![
        (
            PARTNER_A,
            json!({ "name": "Flower Shop A", "active": active, "stock": [{ "item": "Red Flowers", "inventory_count": 10 }],
                    "scenarios": [{ "trigger": { "product_contains": "pink" }, "behaviour": { "type": "rejection", "message": "No, we don't have pink flowers available" } }] }),
        ),
        (
            PARTNER_B,
            json!({ "name": "Flower Shop B", "active": active, "stock": [{ "item": "Pink Flowers", "inventory_count": 10 }],
                    "scenarios": [{ "trigger": "always", "behaviour": { "type": "acceptance", "message": "Yes, I have pink flowers available!" } }] }),
        ),
    ]
}

/// Body of setup (optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetupBody {
    /// Partner B's price (the variant at 61.00 is outside the window).
    partner_b_price: Option<String>,
}

impl Simulator {
    /// `method path body` on souk (or on the simulator itself) with the caller's API key.
    async fn call(&self, auth: &str, method: reqwest::Method, path: &str, body: &Value) -> Result<Value, ApiError> {
        let url = format!("{}{path}", self.souk_url);
        let resp = self.http.request(method, &url).header(header::AUTHORIZATION, auth).json(body).send().await.map_err(|e| ApiError::unavailable(format!("{url}: {e}")))?;
        let status = resp.status();
        let answer: Value = resp.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(ApiError::unavailable(format!("{path} answered {status}: {answer}")));
        }
        Ok(answer)
    }

    async fn apply(&self, auth: &str, partner_b_price: &str, active: bool) -> Result<Vec<Value>, ApiError> {
        let mut answers = Vec::new();
        for (path, body) in souk_commands(partner_b_price, active) {
            answers.push(self.call(auth, reqwest::Method::PUT, &path, &body).await?);
        }
        for (number, body) in simulated(active) {
            self.call(auth, reqwest::Method::PUT, &format!("/v1/simulator/partners/{number}"), &body).await?;
        }
        Ok(answers)
    }
}

fn authorization(headers: &HeaderMap, s: &Simulator) -> Result<String, ApiError> {
    souk_runtime::api_error::authenticate(&s.tenants, headers)?;
    Ok(headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string())
}

/// `POST /v1/simulator/live-demo/setup`.
pub async fn setup(State(s): State<Simulator>, headers: HeaderMap, body: Bytes) -> Response {
    let result = async {
        let auth = authorization(&headers, &s)?;
        // No body at all is the defaults; anything else must be a JSON object (whitespace is not).
        let b: SetupBody = if body.is_empty() { SetupBody::default() } else { super::service::strict(&body)? };
        let price = b.partner_b_price.unwrap_or_else(|| "55.00".into());
        let valid = price.parse::<rust_decimal::Decimal>().ok().filter(|p| p.scale() <= 2 && !p.is_sign_negative() && price.chars().all(|c| c.is_ascii_digit() || c == '.'));
        if valid.is_none() {
            return Err(ApiError::bad_request("INVALID_FIELD", format!("partner_b_price: {price:?} is not a price like 55.00")));
        }
        let answers = s.apply(&auth, &price, true).await?;
        Ok::<_, ApiError>(json!({
            "partner_a": { "partner_id": "partner-a", "name": "Flower Shop A", "whatsapp": format!("+{PARTNER_A}"), "trust_score": answers[0]["trust_score"], "product": { "product_id": "red-flowers-a", "name": "Red Flowers", "price": "50.00" } },
            "partner_b": { "partner_id": "partner-b", "name": "Flower Shop B", "whatsapp": format!("+{PARTNER_B}"), "trust_score": answers[1]["trust_score"], "product": { "product_id": "pink-flowers-b", "name": "Pink Flowers", "price": price } },
            "demo_ready": true,
        }))
    }
    .await;
    match result {
        Ok(v) => (StatusCode::OK, Json(v)).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `POST /v1/simulator/live-demo/reset`.
pub async fn reset(State(s): State<Simulator>, headers: HeaderMap) -> Response {
    let result = async {
        let auth = authorization(&headers, &s)?;
        s.apply(&auth, "55.00", false).await?;
        Ok::<_, ApiError>(json!({ "demo_ready": false }))
    }
    .await;
    match result {
        Ok(v) => (StatusCode::OK, Json(v)).into_response(),
        Err(e) => e.into_response(),
    }
}
