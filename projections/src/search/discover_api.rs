//! `GET /v1/discover` and `GET /v1/ranking/config`: discovery for people and AI agents, answered in
//! the source's chat-first envelope (seed-000 §2.0) — `data` for programs, a JSON-LD `ItemList` of
//! schema.org `Product`s in `machine_readable`, an Adaptive Card product list with "Add to Bundle"
//! and "View Details" in `adaptive_card`, and `metadata` (api_version, timestamp, request_id).

use super::api::SearchState;
use super::discover::{discover, weights, DiscoverQuery, Discovered};
use super::marketplace::Weights;
use super::query::SearchError;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{json, Value};
use souk_processors::geo::Location;
use souk_runtime::api_error::{authenticate, ApiError};
use souk_runtime::openapi::{error_response, Fragment};
use std::str::FromStr;
use std::sync::Arc;

/// Results per page when `limit` is absent, and the most a page holds.
pub const DEFAULT_LIMIT: usize = 10;
/// The largest page.
pub const MAX_LIMIT: usize = 50;

/// `lat,lng` in degrees, each within its range (or empty: no location).
const LOCATION_PATTERN: &str = "^(-?(90(\\.0+)?|[1-8]?[0-9](\\.[0-9]+)?),-?(180(\\.0+)?|(1[0-7][0-9]|[1-9]?[0-9])(\\.[0-9]+)?))?$";

#[derive(Debug, Deserialize)]
pub(super) struct DiscoverParams {
    q: Option<String>,
    location: Option<String>,
    exclude_vendor: Option<String>,
    min_price: Option<String>,
    max_price: Option<String>,
    capabilities: Option<String>,
    limit: Option<String>,
}

fn bad(reason: String) -> ApiError {
    ApiError::bad_request("BAD_QUERY", reason)
}

/// A coordinate as [`LOCATION_PATTERN`] has it: an optional `-`, a whole part without leading
/// zeros up to `max` (then only zero decimals), optional decimals.
fn coordinate(text: &str, max: u32) -> Option<f64> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = match digits.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (digits, None),
    };
    let plain = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    if !plain(whole) || (whole.len() > 1 && whole.starts_with('0')) || fraction.is_some_and(|f| !plain(f)) {
        return None;
    }
    let value: u32 = whole.parse().ok()?;
    if value > max || (value == max && fraction.is_some_and(|f| f.bytes().any(|b| b != b'0'))) {
        return None;
    }
    text.parse().ok()
}

/// `lat,lng` in degrees.
fn location(text: &str) -> Result<Location, ApiError> {
    let refuse = || bad(format!("location must be \"lat,lng\" in degrees (lat within ±90, lng within ±180), not {text:?}"));
    let (lat, lng) = text.split_once(',').ok_or_else(refuse)?;
    match (coordinate(lat, 90), coordinate(lng, 180)) {
        (Some(lat), Some(lng)) => Ok(Location { lat, lng }),
        _ => Err(refuse()),
    }
}

fn price(field: &str, text: &str) -> Result<Decimal, ApiError> {
    let (int, frac) = text.split_once('.').unwrap_or((text, "0"));
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    let value = if digits(int) && digits(frac) { Decimal::from_str(text).ok() } else { None };
    value.ok_or_else(|| bad(format!("{field} must be a decimal such as 40.00, not {text:?}")))
}

impl DiscoverParams {
    fn query(self) -> Result<DiscoverQuery, ApiError> {
        let q = self.q.unwrap_or_default();
        if q.contains('\0') || q.chars().count() > 1_000 {
            return Err(bad("q must be at most 1000 characters without NUL".into()));
        }
        let min_price = self.min_price.as_deref().filter(|p| !p.is_empty()).map(|p| price("min_price", p)).transpose()?;
        let max_price = self.max_price.as_deref().filter(|p| !p.is_empty()).map(|p| price("max_price", p)).transpose()?;
        if let (Some(lo), Some(hi)) = (min_price, max_price) {
            if lo > hi {
                return Err(bad(format!("min_price {lo} is above max_price {hi}")));
            }
        }
        let capabilities = self.capabilities.unwrap_or_default().split(',').map(|c| c.trim().to_lowercase()).filter(|c| !c.is_empty()).collect();
        let limit = match self.limit.as_deref() {
            None => DEFAULT_LIMIT,
            Some(l) => l.parse::<usize>().ok().filter(|n| (1..=MAX_LIMIT).contains(n)).ok_or_else(|| bad(format!("limit must be an integer in 1..={MAX_LIMIT}, not {l:?}")))?,
        };
        Ok(DiscoverQuery {
            q,
            location: self.location.as_deref().filter(|l| !l.is_empty()).map(location).transpose()?,
            exclude_vendor: self.exclude_vendor.filter(|v| !v.is_empty()),
            min_price,
            max_price,
            capabilities,
            limit,
        })
    }
}

fn metadata() -> Value {
    json!({ "api_version": "v1", "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true), "request_id": uuid::Uuid::new_v4().to_string() })
}

fn weights_json(w: &Weights) -> Value {
    json!({ "relevance": w.relevance.to_string(), "boost": w.boost.to_string(), "quality": w.quality.to_string(), "margin": w.margin.to_string() })
}

fn availability(inventory: i64) -> &'static str {
    if inventory == 0 {
        "out_of_stock"
    } else {
        "in_stock"
    }
}

fn product_json(d: &Discovered) -> Value {
    let (p, partner, s) = (&d.product, &d.partner, &d.signals);
    json!({
        "product_id": p.product_id, "name": p.name, "description": p.description, "price": p.price.to_string(), "currency": p.currency,
        "capabilities": p.capabilities, "availability": availability(p.inventory_count),
        "partner": { "partner_id": partner.partner_id, "name": partner.name, "business_type": partner.business_type, "trust_score": partner.trust_score, "white_glove": partner.white_glove,
                     "distance_km": d.distance_km.map(|km| (km * 100.0).round() / 100.0), "arrival_minutes": d.arrival_minutes },
        "ranking": { "score": s.score, "relevance": s.relevance, "boost": s.boost, "quality": s.quality, "margin": s.margin },
    })
}

/// The JSON-LD `ItemList` of schema.org `Product`s.
fn machine_readable(results: &[Discovered]) -> Value {
    let items: Vec<Value> = results
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let p = &d.product;
            json!({ "@type": "ListItem", "position": i + 1, "item": {
                "@type": "Product", "productID": p.product_id, "name": p.name, "description": p.description,
                "offers": { "@type": "Offer", "price": p.price.to_string(), "priceCurrency": p.currency, "availability": "https://schema.org/InStock",
                            "seller": { "@type": "Organization", "name": d.partner.name, "identifier": d.partner.partner_id } },
                "additionalProperty": p.capabilities.iter().map(|c| json!({ "@type": "PropertyValue", "name": "capability", "value": c })).collect::<Vec<_>>(),
            } })
        })
        .collect();
    json!({ "@context": "https://schema.org", "@type": "ItemList", "numberOfItems": results.len(), "itemListElement": items })
}

/// The product card of each result (Adaptive Cards 1.5), with the source's two buttons.
fn adaptive_card(q: &str, results: &[Discovered]) -> Value {
    let title = if q.trim().is_empty() { format!("{} products", results.len()) } else { format!("{} products for \"{}\"", results.len(), q.trim()) };
    let mut body = vec![json!({ "type": "TextBlock", "text": title, "weight": "Bolder", "size": "Medium", "wrap": true })];
    for d in results {
        let p = &d.product;
        let mut facts = vec![json!({ "title": "Price", "value": format!("{} {}", p.price, p.currency) }), json!({ "title": "From", "value": d.partner.name })];
        if !p.capabilities.is_empty() {
            facts.push(json!({ "title": "Capabilities", "value": p.capabilities.join(", ") }));
        }
        if let Some(m) = d.arrival_minutes {
            facts.push(json!({ "title": "Arrives in", "value": format!("{m} min") }));
        }
        body.push(json!({ "type": "Container", "separator": true, "items": [
            { "type": "TextBlock", "text": p.name, "weight": "Bolder", "wrap": true },
            { "type": "FactSet", "facts": facts },
            { "type": "ActionSet", "actions": [
                { "type": "Action.Submit", "title": "Add to Bundle", "data": { "action": "add_to_bundle", "product_id": p.product_id } },
                { "type": "Action.Submit", "title": "View Details", "data": { "action": "view_details", "product_id": p.product_id } } ] } ] }));
    }
    json!({ "type": "AdaptiveCard", "$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "version": "1.5", "body": body })
}

fn index_error(e: SearchError) -> ApiError {
    match e {
        SearchError::BadQuery(reason) => bad(reason),
        other => ApiError::internal("the search index could not be queried", &anyhow::anyhow!(other)),
    }
}

/// `GET /v1/discover`.
pub(super) async fn handle_discover(State(state): State<Arc<SearchState>>, headers: HeaderMap, params: Result<Query<DiscoverParams>, QueryRejection>) -> Result<Response, ApiError> {
    let Query(params) = params?;
    let tenant = authenticate(&state.tenants, &headers)?.id.clone();
    let query = params.query()?;
    let now = chrono::Utc::now().timestamp_millis();
    let answer = tokio::task::spawn_blocking(move || -> Result<Value, ApiError> {
        let (results, weights) = match state.reader()? {
            Some(reader) => discover(&reader, &tenant, &query, now).map_err(index_error)?,
            None => (Vec::new(), Weights::default()),
        };
        Ok(json!({
            "data": { "products": results.iter().map(product_json).collect::<Vec<_>>(), "count": results.len(), "weights": weights_json(&weights) },
            "machine_readable": machine_readable(&results),
            "adaptive_card": adaptive_card(&query.q, &results),
            "metadata": metadata(),
        }))
    })
    .await
    .map_err(|e| ApiError::internal("the discovery task failed", &anyhow::anyhow!(e)))??;
    Ok(Json(answer).into_response())
}

/// `GET /v1/ranking/config`.
pub(super) async fn handle_weights(State(state): State<Arc<SearchState>>, headers: HeaderMap) -> Result<Response, ApiError> {
    let tenant = authenticate(&state.tenants, &headers)?.id.clone();
    let answer = tokio::task::spawn_blocking(move || -> Result<Value, ApiError> {
        let (w, set_at) = match state.reader()? {
            Some(reader) => weights(&reader, &tenant).map_err(index_error)?,
            None => (Weights::default(), None),
        };
        let set_at = set_at.and_then(chrono::DateTime::from_timestamp_millis).map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
        Ok(json!({ "weights": weights_json(&w), "source": if set_at.is_some() { "set" } else { "default" }, "set_at": set_at }))
    })
    .await
    .map_err(|e| ApiError::internal("the ranking task failed", &anyhow::anyhow!(e)))??;
    Ok(Json(answer).into_response())
}

/// The two routes in the OpenAPI document.
pub(super) fn document(f: &mut Fragment) {
    let q = |name: &str, schema: Value, description: &str| json!({ "name": name, "in": "query", "required": false, "schema": schema, "description": description });
    let price = json!({ "type": "string", "pattern": "^([0-9]+(\\.[0-9]+)?)?$" });
    let w = json!({ "type": "string" });
    let weights = json!({ "type": "object", "required": ["relevance", "boost", "quality", "margin"], "properties": { "relevance": w, "boost": w, "quality": w, "margin": w } });
    let product = json!({ "type": "object", "required": ["product_id", "name", "price", "currency", "partner", "ranking"], "properties": {
        "product_id": { "type": "string" }, "name": { "type": "string" }, "price": { "type": "string" }, "currency": { "type": "string" },
        "partner": { "type": "object" }, "ranking": { "type": "object" } } });
    let envelope = json!({ "type": "object", "required": ["data", "machine_readable", "adaptive_card", "metadata"], "properties": {
        "data": { "type": "object", "required": ["products", "count", "weights"], "properties": { "products": { "type": "array", "items": product }, "count": { "type": "integer" }, "weights": weights } },
        "machine_readable": { "type": "object", "required": ["@context", "@type", "itemListElement"] },
        "adaptive_card": { "type": "object", "required": ["type", "version", "body"] },
        "metadata": { "type": "object", "required": ["api_version", "timestamp", "request_id"] } } });
    f.operation(
        "/v1/discover",
        "get",
        json!({
            "summary": "Discover the tenant's products: free text and filters, ranked relevance·0.4 + boost·0.3 + quality·0.2 + margin·0.1 by default (chat-first envelope)",
            "parameters": [
                q("q", json!({ "type": "string", "maxLength": 1000, "pattern": "^[^\\u0000]*$" }), "what the user wants, in their words; empty lists every product"),
                q("location", json!({ "type": "string", "pattern": LOCATION_PATTERN }), "lat,lng of the user: distance and arrival per result"),
                q("exclude_vendor", json!({ "type": "string" }), "a partner id whose products are left out"),
                q("min_price", price.clone(), "lowest price, inclusive"),
                q("max_price", price, "highest price, inclusive"),
                q("capabilities", json!({ "type": "string" }), "comma-separated capabilities every result has"),
                q("limit", json!({ "type": "integer", "minimum": 1, "maximum": MAX_LIMIT }), "results, default 10"),
            ],
            "responses": {
                "200": { "description": "the products, best first", "content": { "application/json": { "schema": envelope } } },
                "400": error_response("a bad location, price, price range or limit"),
                "401": error_response("missing or unknown API key"),
            },
            "security": [{ "bearer": [] }],
        }),
    );
    f.operation(
        "/v1/ranking/config",
        "get",
        json!({
            "summary": "The tenant's discovery weights (the defaults until set with PUT /v1/ranking/config)",
            "responses": {
                "200": { "description": "the weights", "content": { "application/json": { "schema": { "type": "object", "required": ["weights", "source"], "properties": {
                    "weights": weights, "source": { "enum": ["default", "set"] }, "set_at": { "type": ["string", "null"] } } } } } },
                "401": error_response("missing or unknown API key"),
            },
            "security": [{ "bearer": [] }],
        }),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("40.7484,-73.9857", true)]
    #[case("90,180", true)]
    #[case("-90.000,-180.0", true)]
    #[case("0,0", true)]
    #[case("90.1,0", false)]
    #[case("0,180.5", false)]
    #[case("69.51,64841130492", false)]
    #[case("05,1", false)]
    #[case("1e1,5", false)]
    #[case(" 1,5", false)]
    #[case("1.,5", false)]
    #[case("north", false)]
    #[case("1,2,3", false)]
    fn locations_are_read_exactly_as_documented(#[case] text: &str, #[case] ok: bool) {
        assert_eq!(location(text).is_ok(), ok, "{text}");
    }
}
