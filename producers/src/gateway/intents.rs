//! Standing intents at the edge (docs/rules/intents.md): a user's intent with its conditions and
//! legs (snapshotted from the catalog, checked feasible against the time chain, its vendors
//! scouted), the user's approval, rejection and cancellation, and connectors' observations.
//! Authenticated like every owner command; each accepted request is one event, answered 202.

use super::commands::{command_id, envelope, fresh, parse};
use super::error::ApiError;
use super::orchestration::{caught_up, leg_snapshot, run, tables, time, LegOrder, Point};
use super::publisher::{GatewayEvent, Publish};
use super::validate::{amount, decimal, ident, invalid, opt_ident, text, whole, MONEY_SCALE};
use super::GatewayState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::json;
use souk_processors::negotiation::bundle::arrival_minutes;
use souk_processors::negotiation::MINUTE_MS;
use souk_processors::standing_intent::conditions::{weekday, window};
use souk_processors::standing_intent::state as intent_state;
use souk_schemas::envelope::SOUK_ID_NAMESPACE;
use souk_schemas::intents::{IntentCancelRequested, IntentCondition, IntentDecided, ObservationRecorded, StandingIntentRequested};
use souk_schemas::key::{IntentKey, SubjectKey};
use souk_schemas::Envelope;
use std::collections::BTreeSet;
use uuid::Uuid;

/// `price_below` of a body's conditions.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PriceBelow {
    product_id: String,
    #[serde(deserialize_with = "decimal")]
    amount: Decimal,
}

/// The conditions, as the source writes them: `{"weather": "sunny", "day_of_week": "thursday"}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Conditions {
    weather: Option<String>,
    /// Where the weather is wanted.
    location: Option<String>,
    day_of_week: Option<String>,
    time: Option<String>,
    /// A product id that must be in stock.
    in_stock: Option<String>,
    price_below: Option<PriceBelow>,
}

/// One leg of an intent: like a bundle leg, due `within_minutes` after the intent fires.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IntentLegBody {
    leg_id: Option<String>,
    name: String,
    product_id: String,
    #[serde(deserialize_with = "whole")]
    within_minutes: i64,
    #[serde(default)]
    is_jit: bool,
    #[serde(default)]
    hard_locked: bool,
    destination: Point,
}

fn yes() -> bool {
    true
}
fn medium() -> String {
    "medium".into()
}
fn hours_24() -> i64 {
    24
}
fn days_30() -> i64 {
    30
}
fn minutes_60() -> i64 {
    60
}

/// Body of `POST /v1/standing-intents` (seed-000 module 23's create body).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IntentBody {
    intent_id: Option<String>,
    user_id: String,
    description: String,
    conditions: Conditions,
    legs: Vec<IntentLegBody>,
    #[serde(default = "yes")]
    requires_approval: bool,
    #[serde(default = "medium")]
    trust_level: String,
    #[serde(default = "hours_24", deserialize_with = "whole")]
    approval_timeout_hours: i64,
    #[serde(default = "days_30", deserialize_with = "whole")]
    max_wait_days: i64,
    #[serde(default = "minutes_60", deserialize_with = "whole")]
    check_frequency_minutes: i64,
    #[serde(default, deserialize_with = "whole")]
    utc_offset_minutes: i64,
    /// What the intent checks out with when it fires (the provider's payment method token).
    payment_method: String,
    command_id: Option<String>,
}

/// Body of approve, reject and cancel.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AnswerBody {
    actor: Option<String>,
    command_id: Option<String>,
}

/// Body of `POST /v1/observations`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ObservationBody {
    observation_id: Option<String>,
    kind: String,
    location: Option<String>,
    date: Option<String>,
    product_id: Option<String>,
    value: Option<String>,
    quantity: Option<i64>,
    #[serde(default, deserialize_with = "super::validate::opt_decimal")]
    price: Option<Decimal>,
    currency: Option<String>,
    observed_at: Option<String>,
    source: Option<String>,
}

fn lower_ident(field: &str, value: &str) -> Result<String, ApiError> {
    ident(field, &value.trim().to_lowercase())
}

/// The body's conditions as the intent's list (in the order of the card: weather, day, time,
/// stock, price), with product names for the narration.
fn conditions(c: &Conditions, names: impl Fn(&str) -> Option<String>) -> Result<Vec<IntentCondition>, ApiError> {
    let condition = |kind: &str, value: String| IntentCondition { kind: kind.into(), value, location: None, amount: None, label: None };
    let mut out = Vec::new();
    match (&c.weather, &c.location) {
        (Some(w), Some(l)) => out.push(IntentCondition { location: Some(lower_ident("conditions.location", l)?), ..condition("weather", lower_ident("conditions.weather", w)?) }),
        (Some(_), None) => return Err(invalid("conditions.location", "a weather condition needs the location of the forecast")),
        (None, Some(_)) => return Err(invalid("conditions.location", "a location is only for a weather condition")),
        (None, None) => {}
    }
    if let Some(day) = &c.day_of_week {
        weekday(day).ok_or_else(|| invalid("conditions.day_of_week", "a weekday: monday … sunday"))?;
        out.push(condition("day_of_week", day.trim().to_lowercase()));
    }
    if let Some(t) = &c.time {
        window(t).ok_or_else(|| invalid("conditions.time", "morning, afternoon, evening, night or HH:MM-HH:MM"))?;
        out.push(condition("time", t.trim().to_lowercase()));
    }
    if let Some(p) = &c.in_stock {
        let id = ident("conditions.in_stock", p)?;
        let label = names(&id).ok_or_else(|| ApiError::not_found("UNKNOWN_PRODUCT", format!("no product {id}")))?;
        out.push(IntentCondition { label: Some(label), ..condition("in_stock", id) });
    }
    if let Some(p) = &c.price_below {
        let id = ident("conditions.price_below.product_id", &p.product_id)?;
        let label = names(&id).ok_or_else(|| ApiError::not_found("UNKNOWN_PRODUCT", format!("no product {id}")))?;
        let target = amount("conditions.price_below.amount", p.amount, MONEY_SCALE, true)?;
        out.push(IntentCondition { label: Some(label), amount: Some(target), ..condition("price_below", id) });
    }
    if out.is_empty() {
        return Err(invalid("conditions", "a standing intent needs at least one condition"));
    }
    Ok(out)
}

/// `POST /v1/standing-intents`: a standing intent, its legs snapshotted and checked feasible
/// (each leg's preparation and ride fit its `within_minutes`, rules TC1), its vendors scouted.
pub async fn create(State(state): State<GatewayState>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    run(&state, &headers, async |tenant, now| {
        let b: IntentBody = parse(body, false)?;
        let t = tables(&state)?;
        let command_id = command_id(b.command_id.as_deref(), fresh)?;
        let intent_id = match opt_ident("intent_id", b.intent_id.as_deref())? {
            Some(id) => id,
            None => format!("si-{}", Uuid::new_v5(&SOUK_ID_NAMESPACE, format!("{tenant}/standing-intent/{command_id}").as_bytes())),
        };
        if b.legs.is_empty() || b.legs.len() > 20 {
            return Err(invalid("legs", "a standing intent orders 1 to 20 legs"));
        }
        caught_up(t).await?;
        let conditions = conditions(&b.conditions, |id| t.catalog.product(tenant, id).filter(|p| p.active).map(|p| p.name))?;
        let mut legs = Vec::with_capacity(b.legs.len());
        for (i, leg) in b.legs.iter().enumerate() {
            if !(1..=7 * 24 * 60).contains(&leg.within_minutes) {
                return Err(invalid(&format!("legs[{i}].within_minutes"), "1 to 10080 (a week)"));
            }
            let order = LegOrder { leg_id: leg.leg_id.as_deref(), name: &leg.name, product_id: &leg.product_id, is_jit: leg.is_jit, hard_locked: leg.hard_locked, destination: &leg.destination };
            let snapshot = leg_snapshot(t, tenant, i, &order, 0, leg.within_minutes * MINUTE_MS)?;
            let needs = arrival_minutes(&snapshot);
            if needs > leg.within_minutes {
                let reason = format!("legs[{i}] ({}) needs {needs} minutes from {} (preparation and the ride), more than its {} minutes", snapshot.name, snapshot.partner_name, leg.within_minutes);
                return Err(ApiError::bad_request("INFEASIBLE", reason));
            }
            if legs.iter().any(|l: &souk_schemas::bundles::BundleLeg| l.leg_id == snapshot.leg_id) {
                return Err(invalid(&format!("legs[{i}].leg_id"), format!("{} appears twice", snapshot.leg_id)));
            }
            legs.push(snapshot);
        }
        let event = StandingIntentRequested {
            envelope: envelope(tenant, &command_id, now),
            intent_id: intent_id.clone(),
            user_id: ident("user_id", &b.user_id)?,
            thread_id: format!("thread-{intent_id}"),
            description: text("description", &b.description)?,
            conditions,
            requires_approval: b.requires_approval,
            trust_level: b.trust_level.trim().to_lowercase(),
            approval_timeout_hours: b.approval_timeout_hours,
            max_wait_days: b.max_wait_days,
            check_frequency_minutes: b.check_frequency_minutes,
            utc_offset_minutes: b.utc_offset_minutes,
            vendors_found: vendors_found(t, tenant, &legs),
            legs,
            payment_method: Some(super::validate::payment_method("payment_method", &b.payment_method)?),
        };
        if !(-12 * 60..=14 * 60).contains(&event.utc_offset_minutes) {
            return Err(invalid("utc_offset_minutes", "-720 to 840"));
        }
        intent_state::validate(&event).map_err(|reason| ApiError::bad_request("INVALID_FIELD", reason))?;
        let answer = json!({ "command_id": command_id, "status": "accepted", "intent_id": intent_id, "thread_id": event.thread_id });
        Ok((vec![Publish::new(IntentKey::of(tenant, &intent_id), GatewayEvent::StandingIntent(event))], answer))
    })
    .await
}

/// The scout (module 23's first activity): active partners with an active product in stock that
/// has every word of a leg's item.
fn vendors_found(t: &super::OrchestrationTables, tenant: &str, legs: &[souk_schemas::bundles::BundleLeg]) -> i32 {
    let words = |s: &str| s.to_lowercase().split(|c: char| !c.is_alphanumeric()).filter(|w| w.len() > 2).map(str::to_string).collect::<Vec<_>>();
    let mut partners = BTreeSet::new();
    for (product, partner) in t.catalog.offers(tenant) {
        let name = words(&product.name);
        let fits = |leg: &souk_schemas::bundles::BundleLeg| words(&leg.item).iter().all(|w| name.iter().any(|n| n.trim_end_matches('s') == w.trim_end_matches('s')));
        if product.inventory_count != 0 && legs.iter().any(fits) {
            partners.insert(partner.partner_id);
        }
    }
    partners.len() as i32
}

async fn answer(state: &GatewayState, headers: &HeaderMap, intent_id: String, body: Result<Bytes, BytesRejection>, build: impl FnOnce(Envelope, String, String) -> GatewayEvent) -> Response {
    run(state, headers, async |tenant, now| {
        let b: AnswerBody = parse(body, true)?;
        let intent_id = ident("intent_id", &intent_id)?;
        let command_id = command_id(b.command_id.as_deref(), fresh)?;
        let actor = opt_ident("actor", b.actor.as_deref())?.unwrap_or_else(|| "user".into());
        let event = build(envelope(tenant, &command_id, now), intent_id.clone(), actor);
        let answer = json!({ "command_id": command_id, "status": "accepted", "intent_id": intent_id });
        Ok((vec![Publish::new(IntentKey::of(tenant, &intent_id), event)], answer))
    })
    .await
}

/// `POST /v1/standing-intents/{intent_id}/approve`.
pub async fn approve(State(state): State<GatewayState>, Path(intent_id): Path<String>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    answer(&state, &headers, intent_id, body, |envelope, intent_id, actor| GatewayEvent::IntentDecided(IntentDecided { envelope, intent_id, approved: true, actor })).await
}

/// `POST /v1/standing-intents/{intent_id}/reject`.
pub async fn reject(State(state): State<GatewayState>, Path(intent_id): Path<String>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    answer(&state, &headers, intent_id, body, |envelope, intent_id, actor| GatewayEvent::IntentDecided(IntentDecided { envelope, intent_id, approved: false, actor })).await
}

/// `DELETE /v1/standing-intents/{intent_id}`: cancel (the source's DELETE).
pub async fn cancel(State(state): State<GatewayState>, Path(intent_id): Path<String>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    answer(&state, &headers, intent_id, body, |envelope, intent_id, actor| GatewayEvent::IntentCancel(IntentCancelRequested { envelope, intent_id, actor })).await
}

/// `POST /v1/observations`: a weather forecast, a product's stock or its price, stamped with the
/// connector's `observed_at` (the gateway's clock when absent).
pub async fn observation(State(state): State<GatewayState>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    run(&state, &headers, async |tenant, now| {
        let b: ObservationBody = parse(body, false)?;
        let at = b.observed_at.as_deref().map(|s| time("observed_at", s)).transpose()?.unwrap_or(now);
        let kind = b.kind.trim().to_lowercase();
        let (subject, date, value, quantity, price) = match kind.as_str() {
            "weather" => {
                let location = lower_ident("location", b.location.as_deref().ok_or_else(|| invalid("location", "a forecast names its location"))?)?;
                let date = b.date.as_deref().ok_or_else(|| invalid("date", "a forecast names its date"))?.trim().to_string();
                chrono::NaiveDate::parse_from_str(&date, "%Y-%m-%d").map_err(|_| invalid("date", "YYYY-MM-DD"))?;
                let value = lower_ident("value", b.value.as_deref().ok_or_else(|| invalid("value", "the forecast: sunny, rainy, …"))?)?;
                (location, Some(date), value, None, None)
            }
            "stock" => {
                let product = ident("product_id", b.product_id.as_deref().ok_or_else(|| invalid("product_id", "stock is about a product"))?)?;
                let quantity = b.quantity.ok_or_else(|| invalid("quantity", "the units available, 0 or more"))?;
                if quantity < 0 {
                    return Err(invalid("quantity", "0 or more"));
                }
                (product, None, if quantity > 0 { "in_stock" } else { "out_of_stock" }.to_string(), Some(quantity), None)
            }
            "price" => {
                let product = ident("product_id", b.product_id.as_deref().ok_or_else(|| invalid("product_id", "a price is about a product"))?)?;
                let price = amount("price", b.price.ok_or_else(|| invalid("price", "the current price"))?, MONEY_SCALE, false)?;
                let currency = b.currency.as_deref().map(|c| c.trim().to_uppercase()).unwrap_or_default();
                if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_alphabetic()) {
                    return Err(invalid("currency", "an ISO 4217 code such as USD"));
                }
                (product, None, currency, None, Some(price))
            }
            _ => return Err(invalid("kind", "weather, stock or price")),
        };
        let fallback = || format!("{kind}/{subject}/{}/{at}/{value}", date.as_deref().unwrap_or("-"));
        let observation_id = command_id(b.observation_id.as_deref(), fallback)?;
        let source = opt_ident("source", b.source.as_deref())?.unwrap_or_else(|| "api".into());
        let event = ObservationRecorded {
            envelope: Envelope::external(tenant, &format!("obs/{observation_id}"), at),
            observation_id: observation_id.clone(),
            kind,
            subject,
            date,
            value,
            quantity,
            price,
            source,
        };
        let key = SubjectKey::of(tenant, event.subject_kind(), &event.subject);
        let answer = json!({ "observation_id": observation_id, "status": "accepted" });
        Ok((vec![Publish::new(key, GatewayEvent::Observation(event))], answer))
    })
    .await
}
