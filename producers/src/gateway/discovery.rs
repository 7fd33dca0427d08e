//! How discovery ranks, set by the owner or an admin at run time (docs/rules/discovery.md, D2–D3):
//! the four weights and partner promotions become events on the compacted `discovery.ranking`,
//! which the search index folds in, so the next `GET /v1/discover` ranks by them.

use super::commands::{command_id, envelope, fresh, parse};
use super::error::ApiError;
use super::orchestration::{caught_up, run, tables, time};
use super::publisher::{GatewayEvent, Publish};
use super::validate::{amount, decimal, ident, invalid, MONEY_SCALE};
use super::GatewayState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::json;
use souk_schemas::discovery::{PartnerPromoted, RankingWeightsSet};
use souk_schemas::key::CatalogKey;

/// The promotion types and what each boosts before its weight (rules D3).
pub const PROMOTION_TYPES: [&str; 4] = ["sponsored", "featured", "verified", "margin_optimized"];

/// Largest promotion weight (Avro decimal(5,2)).
const MAX_WEIGHT: Decimal = Decimal::from_parts(99_999, 0, 0, false, 2);

/// Body of `PUT /v1/ranking/config`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WeightsBody {
    #[serde(deserialize_with = "decimal")]
    relevance: Decimal,
    #[serde(deserialize_with = "decimal")]
    boost: Decimal,
    #[serde(deserialize_with = "decimal")]
    quality: Decimal,
    #[serde(deserialize_with = "decimal")]
    margin: Decimal,
    command_id: Option<String>,
}

/// Body of `PUT /v1/ranking/boosts/{partner_id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BoostBody {
    promotion_type: String,
    #[serde(default = "one", deserialize_with = "decimal")]
    weight: Decimal,
    starts_at: Option<String>,
    ends_at: Option<String>,
    #[serde(default = "yes")]
    active: bool,
    command_id: Option<String>,
}

fn one() -> Decimal {
    Decimal::ONE
}
fn yes() -> bool {
    true
}

/// A weight in [0, 1] with at most 2 decimals (Avro decimal(3,2)).
fn weight(field: &str, value: Decimal) -> Result<Decimal, ApiError> {
    let value = amount(field, value, MONEY_SCALE, false)?;
    if value > Decimal::ONE {
        return Err(invalid(field, "must be 0 to 1"));
    }
    Ok(value)
}

/// `PUT /v1/ranking/config`: the tenant's ranking weights; they must sum to exactly 1 (rules D2).
pub async fn weights(State(state): State<GatewayState>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    run(&state, &headers, async |tenant, now| {
        let b: WeightsBody = parse(body, false)?;
        let (relevance, boost, quality, margin) = (weight("relevance", b.relevance)?, weight("boost", b.boost)?, weight("quality", b.quality)?, weight("margin", b.margin)?);
        let sum = relevance + boost + quality + margin;
        if sum != Decimal::ONE {
            return Err(invalid("weights", format!("relevance + boost + quality + margin must be 1, not {sum}")));
        }
        let command_id = command_id(b.command_id.as_deref(), fresh)?;
        let event = RankingWeightsSet { envelope: envelope(tenant, &command_id, now), relevance, boost, quality, margin };
        let answer = json!({ "command_id": command_id, "status": "accepted", "relevance": relevance, "boost": boost, "quality": quality, "margin": margin });
        Ok((vec![Publish::new(tenant.to_string(), GatewayEvent::RankingWeights(event))], answer))
    })
    .await
}

/// `PUT /v1/ranking/boosts/{partner_id}`: promotes (or withdraws) a declared partner's products.
pub async fn boost(State(state): State<GatewayState>, Path(partner_id): Path<String>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    run(&state, &headers, async |tenant, now| {
        let b: BoostBody = parse(body, false)?;
        let t = tables(&state)?;
        let partner_id = ident("partner_id", &partner_id)?;
        if !PROMOTION_TYPES.contains(&b.promotion_type.as_str()) {
            return Err(invalid("promotion_type", format!("must be one of {}", PROMOTION_TYPES.join(", "))));
        }
        let weight = amount("weight", b.weight, MONEY_SCALE, true)?;
        if weight > MAX_WEIGHT {
            return Err(invalid("weight", format!("at most {MAX_WEIGHT}")));
        }
        let starts_at = b.starts_at.as_deref().map(|v| time("starts_at", v)).transpose()?;
        let ends_at = b.ends_at.as_deref().map(|v| time("ends_at", v)).transpose()?;
        if let (Some(s), Some(e)) = (starts_at, ends_at) {
            if e <= s {
                return Err(invalid("ends_at", "must be after starts_at"));
            }
        }
        caught_up(t).await?;
        if t.catalog.partner(tenant, &partner_id).is_none() {
            return Err(ApiError::not_found("UNKNOWN_PARTNER", format!("no partner {partner_id}; declare it with PUT /v1/partners/{partner_id} first")));
        }
        let command_id = command_id(b.command_id.as_deref(), fresh)?;
        let event = PartnerPromoted { envelope: envelope(tenant, &command_id, now), partner_id: partner_id.clone(), promotion_type: b.promotion_type, weight, starts_at, ends_at, active: b.active };
        let answer = json!({ "command_id": command_id, "status": "accepted", "partner_id": partner_id });
        Ok((vec![Publish::new(CatalogKey::of(tenant, &partner_id), GatewayEvent::Promotion(event))], answer))
    })
    .await
}
