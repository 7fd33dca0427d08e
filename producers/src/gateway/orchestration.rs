//! Multi-vendor orchestration at the edge (docs/rules/orchestration.md): partners and their
//! products declared by the owner or an admin, bundles ordered by a user or their AI agent, the
//! user's chat in a bundle's thread, and partners' WhatsApp replies routed to the bundle whose
//! negotiation waits on their number. Authenticated like every owner command; each accepted
//! request is one event, answered 202 once the broker acknowledged it.

use super::commands::{begin, command_id, envelope, fresh, parse};
use super::error::ApiError;
use super::publisher::{GatewayEvent, Publish};
use super::validate::{amount, decimal, ident, invalid, opt_decimal, opt_ident, opt_whole, payment_token, percent, text, whole, MONEY_SCALE};
use super::{GatewayState, OrchestrationTables};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{json, Value as Json_};
use souk_processors::trust::{self, TrustFacts};
use souk_schemas::bundles::{BundleLeg, BundleRequested, ChatMessageReceived, Degrees, ItemAddRequested, PartnerUpserted, ProductUpserted};
use souk_schemas::envelope::SOUK_ID_NAMESPACE;
use souk_schemas::key::{BundleKey, CatalogKey};
use souk_schemas::orchestration::PartnerReplied;
use souk_schemas::whatsapp::{ConsentChanged, InboundMessage};
use souk_schemas::Envelope as Envelope_;
use uuid::Uuid;

/// A point on the map.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Point {
    lat: f64,
    lng: f64,
}

/// Opening hours (the source's `{open, close, days}`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Hours {
    open: String,
    close: String,
    days: Vec<i32>,
}

/// Verified documents (rules T1).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Verification {
    #[serde(default)]
    licence: bool,
    #[serde(default)]
    insurance: bool,
    #[serde(default)]
    tax_id: bool,
}

/// Body of `PUT /v1/partners/{partner_id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PartnerBody {
    name: String,
    #[serde(default)]
    business_type: String,
    location: Point,
    #[serde(default)]
    capabilities: Vec<String>,
    #[serde(default = "whatsapp")]
    channel: String,
    channel_id: String,
    opted_in: bool,
    business_hours: Option<Hours>,
    #[serde(default = "no_lock")]
    lock_type: String,
    #[serde(default, deserialize_with = "whole")]
    preparation_minutes: i64,
    #[serde(default)]
    verification: Verification,
    #[serde(default, deserialize_with = "whole")]
    positive_reviews: i64,
    #[serde(default, deserialize_with = "opt_whole")]
    on_time_percent: Option<i64>,
    #[serde(default = "yes")]
    active: bool,
    /// Their payout account at the payment provider (Stripe Connect `acct_...`): a checkout pays
    /// each leg's partner share there.
    payout_account: Option<String>,
    command_id: Option<String>,
}

/// Body of `PUT /v1/products/{product_id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProductBody {
    partner_id: String,
    name: String,
    #[serde(default)]
    description: String,
    #[serde(deserialize_with = "decimal")]
    price: Decimal,
    currency: String,
    #[serde(default)]
    capabilities: Vec<String>,
    /// The source's default stock.
    #[serde(default = "default_inventory", deserialize_with = "whole")]
    inventory_count: i64,
    #[serde(default = "yes")]
    active: bool,
    /// The platform's commission on it, percent of the price (discovery's margin signal).
    #[serde(default, deserialize_with = "opt_decimal")]
    margin_percent: Option<Decimal>,
    command_id: Option<String>,
}

/// One leg of `POST /v1/bundles`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LegBody {
    leg_id: Option<String>,
    name: String,
    product_id: String,
    starts_at: String,
    deadline: String,
    #[serde(default)]
    is_jit: bool,
    #[serde(default)]
    hard_locked: bool,
    destination: Point,
}

/// Body of `POST /v1/bundles`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BundleBody {
    bundle_id: Option<String>,
    user_id: String,
    starts_at: String,
    legs: Vec<LegBody>,
    command_id: Option<String>,
}

/// Body of `POST /v1/chat`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChatBody {
    bundle_id: String,
    user_id: String,
    text: String,
    /// The client's id of the message; a retry with the same id is the same event.
    message_id: Option<String>,
}

/// Most positive reviews a partner can be declared with.
pub const MAX_REVIEWS: i64 = 1_000_000;
/// Most units of stock a product can be declared with (−1 is unlimited).
pub const MAX_INVENTORY: i64 = 1_000_000_000;

fn whatsapp() -> String {
    "whatsapp".into()
}
fn no_lock() -> String {
    "none".into()
}
fn yes() -> bool {
    true
}
fn default_inventory() -> i64 {
    999
}

/// A WhatsApp number: 5 to 20 digits, a leading `+` dropped.
fn whatsapp_number(value: &str) -> Result<String, ApiError> {
    let digits = value.strip_prefix('+').unwrap_or(value);
    if !(5..=20).contains(&digits.len()) || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(invalid("channel_id", "a WhatsApp number: 5 to 20 digits, optionally after a +"));
    }
    Ok(digits.to_string())
}

fn point(field: &str, p: &Point) -> Result<(Degrees, Degrees), ApiError> {
    if !p.lat.is_finite() || !p.lng.is_finite() || p.lat.abs() > 90.0 || p.lng.abs() > 180.0 {
        return Err(invalid(field, "lat must be within ±90 and lng within ±180"));
    }
    Ok((Degrees(p.lat), Degrees(p.lng)))
}

fn tags(field: &str, values: &[String]) -> Result<Vec<String>, ApiError> {
    let mut out: Vec<String> = Vec::new();
    for (i, v) in values.iter().enumerate() {
        let v = ident(&format!("{field}[{i}]"), &v.to_lowercase())?;
        if !out.contains(&v) {
            out.push(v);
        }
    }
    Ok(out)
}

pub(super) fn time(field: &str, value: &str) -> Result<i64, ApiError> {
    Ok(chrono::DateTime::parse_from_rfc3339(value.trim()).map_err(|e| invalid(field, format!("not RFC 3339: {e}")))?.timestamp_millis())
}

fn hhmm(field: &str, value: &str) -> Result<String, ApiError> {
    chrono::NaiveTime::parse_from_str(value.trim(), "%H:%M").map_err(|_| invalid(field, "must be HH:MM"))?;
    Ok(value.trim().to_string())
}

pub(super) fn tables(state: &GatewayState) -> Result<&OrchestrationTables, ApiError> {
    state.orchestration.as_deref().ok_or_else(|| ApiError::unavailable("this gateway runs without the orchestration tables (partners, partner.products, negotiations.directory)"))
}

pub(super) async fn caught_up(t: &OrchestrationTables) -> Result<(), ApiError> {
    t.catalog.catch_up().await.map_err(|e| ApiError::unavailable(format!("catalog lookup failed: {e:#}")))
}

/// Authenticates, builds the command's event(s), publishes them and answers 202 with `answer`.
pub(super) async fn run(state: &GatewayState, headers: &HeaderMap, build: impl AsyncFnOnce(&str, i64) -> Result<(Vec<Publish>, Json_), ApiError>) -> Response {
    let result = async {
        let (tenant, now) = begin(state, headers)?;
        let (records, answer) = build(tenant, now).await?;
        state.publish(records).await?;
        tracing::info!(tenant, "orchestration command accepted");
        Ok::<_, ApiError>(answer)
    }
    .await;
    match result {
        Ok(answer) => (StatusCode::ACCEPTED, Json(answer)).into_response(),
        Err(e) => {
            tracing::warn!(status = e.status.as_u16(), code = e.code, reason = %e.reason, "orchestration command refused");
            e.into_response()
        }
    }
}

/// `PUT /v1/partners/{partner_id}`: declares (or replaces) a partner; answers with the trust score
/// its facts earn (rules T1).
pub async fn partner(State(state): State<GatewayState>, Path(partner_id): Path<String>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    run(&state, &headers, async |tenant, now| {
        let b: PartnerBody = parse(body, false)?;
        let partner_id = ident("partner_id", &partner_id)?;
        let (lat, lng) = point("location", &b.location)?;
        if b.channel != "whatsapp" {
            return Err(invalid("channel", "only whatsapp is supported"));
        }
        if !["none", "soft", "hard"].contains(&b.lock_type.as_str()) {
            return Err(invalid("lock_type", "must be none, soft or hard"));
        }
        if !(0..=24 * 60).contains(&b.preparation_minutes) {
            return Err(invalid("preparation_minutes", "must be 0 to 1440"));
        }
        let on_time = b.on_time_percent.unwrap_or(0);
        if !(0..=100).contains(&on_time) {
            return Err(invalid("on_time_percent", "must be 0 to 100"));
        }
        if !(0..=MAX_REVIEWS).contains(&b.positive_reviews) {
            return Err(invalid("positive_reviews", format!("must be 0 to {MAX_REVIEWS}")));
        }
        let hours = b.business_hours.unwrap_or(Hours { open: "09:00".into(), close: "17:00".into(), days: vec![1, 2, 3, 4, 5] });
        if hours.days.iter().any(|d| !(1..=7).contains(d)) {
            return Err(invalid("business_hours.days", "ISO weekdays 1 (Monday) to 7"));
        }
        let command_id = command_id(b.command_id.as_deref(), fresh)?;
        let facts = TrustFacts {
            licence: b.verification.licence,
            insurance: b.verification.insurance,
            tax_id: b.verification.tax_id,
            positive_reviews: b.positive_reviews as u32,
            on_time_percent: b.on_time_percent.map(|p| p as u8),
        };
        let event = PartnerUpserted {
            envelope: envelope(tenant, &command_id, now),
            partner_id: partner_id.clone(),
            name: text("name", &b.name)?,
            business_type: b.business_type.trim().to_lowercase(),
            lat,
            lng,
            capabilities: tags("capabilities", &b.capabilities)?,
            channel: b.channel,
            channel_id: whatsapp_number(&b.channel_id)?,
            opted_in: b.opted_in,
            opens_at: hhmm("business_hours.open", &hours.open)?,
            closes_at: hhmm("business_hours.close", &hours.close)?,
            business_days: hours.days,
            lock_type: b.lock_type,
            preparation_minutes: b.preparation_minutes,
            licence_verified: facts.licence,
            insurance_verified: facts.insurance,
            tax_id_verified: facts.tax_id,
            positive_reviews: b.positive_reviews as i32,
            on_time_percent: on_time as i32,
            active: b.active,
            payout_account: b.payout_account.as_deref().map(|a| payment_token("payout_account", a, "acct_")).transpose()?,
        };
        let answer = json!({ "command_id": command_id, "status": "accepted", "partner_id": partner_id, "trust_score": trust::score(&facts), "white_glove": trust::is_white_glove(&facts) });
        // The partner's number gets the declared consent: what the dispatcher gates their messages by.
        let consent =
            ConsentChanged { envelope: event.envelope.derive("whatsapp-consent", 0, now), wa_id: event.channel_id.clone(), opted_in: event.opted_in, source: ConsentChanged::PARTNER_DECLARED.into() };
        Ok((vec![Publish::new(CatalogKey::of(tenant, &partner_id), GatewayEvent::Partner(event)), Publish::new(consent.key(), GatewayEvent::Consent(consent))], answer))
    })
    .await
}

/// `PUT /v1/products/{product_id}`: declares (or replaces) a product of a known partner.
pub async fn product(State(state): State<GatewayState>, Path(product_id): Path<String>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    run(&state, &headers, async |tenant, now| {
        let b: ProductBody = parse(body, false)?;
        let t = tables(&state)?;
        let product_id = ident("product_id", &product_id)?;
        let partner_id = ident("partner_id", &b.partner_id)?;
        if !(-1..=MAX_INVENTORY).contains(&b.inventory_count) {
            return Err(invalid("inventory_count", format!("-1 (unlimited), 0 (out of stock) or up to {MAX_INVENTORY}")));
        }
        let currency = b.currency.trim().to_uppercase();
        if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_alphabetic()) {
            return Err(invalid("currency", "an ISO 4217 code such as USD"));
        }
        caught_up(t).await?;
        if t.catalog.partner(tenant, &partner_id).is_none() {
            return Err(ApiError::not_found("UNKNOWN_PARTNER", format!("no partner {partner_id}; declare it with PUT /v1/partners/{partner_id} first")));
        }
        let command_id = command_id(b.command_id.as_deref(), fresh)?;
        let event = ProductUpserted {
            envelope: envelope(tenant, &command_id, now),
            product_id: product_id.clone(),
            partner_id,
            name: text("name", &b.name)?,
            description: b.description.trim().to_string(),
            price: amount("price", b.price, MONEY_SCALE, false)?,
            currency,
            capabilities: tags("capabilities", &b.capabilities)?,
            inventory_count: b.inventory_count,
            active: b.active,
            margin_percent: b.margin_percent.map(|m| percent("margin_percent", m)).transpose()?,
        };
        let answer = json!({ "command_id": command_id, "status": "accepted", "product_id": product_id });
        Ok((vec![Publish::new(CatalogKey::of(tenant, &product_id), GatewayEvent::Product(event))], answer))
    })
    .await
}

/// `POST /v1/bundles`: a bundle of legs, each snapshotting its product and partner as the catalog
/// says now (rules BU1); the bundle's thread is `thread-<bundle id>`.
pub async fn bundle(State(state): State<GatewayState>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    run(&state, &headers, async |tenant, now| {
        let b: BundleBody = parse(body, false)?;
        let t = tables(&state)?;
        let command_id = command_id(b.command_id.as_deref(), fresh)?;
        let bundle_id = match opt_ident("bundle_id", b.bundle_id.as_deref())? {
            Some(id) => id,
            None => format!("bundle-{}", Uuid::new_v5(&SOUK_ID_NAMESPACE, format!("{tenant}/bundle/{command_id}").as_bytes())),
        };
        if b.legs.is_empty() || b.legs.len() > 20 {
            return Err(invalid("legs", "a bundle has 1 to 20 legs"));
        }
        caught_up(t).await?;
        let mut legs: Vec<BundleLeg> = Vec::with_capacity(b.legs.len());
        for (i, leg) in b.legs.iter().enumerate() {
            let field = |f: &str| format!("legs[{i}].{f}");
            let (starts_at, deadline) = (time(&field("starts_at"), &leg.starts_at)?, time(&field("deadline"), &leg.deadline)?);
            if deadline < starts_at {
                return Err(invalid(&field("deadline"), "must not be before starts_at"));
            }
            let order = LegOrder { leg_id: leg.leg_id.as_deref(), name: &leg.name, product_id: &leg.product_id, is_jit: leg.is_jit, hard_locked: leg.hard_locked, destination: &leg.destination };
            let snapshot = leg_snapshot(t, tenant, i, &order, starts_at, deadline)?;
            if legs.iter().any(|l| l.leg_id == snapshot.leg_id) {
                return Err(invalid(&field("leg_id"), format!("{} appears twice", snapshot.leg_id)));
            }
            legs.push(snapshot);
        }
        let thread_id = format!("thread-{bundle_id}");
        let event = BundleRequested {
            envelope: envelope(tenant, &command_id, now),
            bundle_id: bundle_id.clone(),
            user_id: ident("user_id", &b.user_id)?,
            thread_id: thread_id.clone(),
            starts_at: time("starts_at", &b.starts_at)?,
            legs,
        };
        let answer = json!({ "command_id": command_id, "status": "accepted", "bundle_id": bundle_id, "thread_id": thread_id });
        Ok((vec![Publish::new(BundleKey::of(tenant, &bundle_id), GatewayEvent::Bundle(event))], answer))
    })
    .await
}

/// What one leg orders, as a bundle or a standing intent's body says it.
pub(super) struct LegOrder<'b> {
    pub leg_id: Option<&'b str>,
    pub name: &'b str,
    pub product_id: &'b str,
    pub is_jit: bool,
    pub hard_locked: bool,
    pub destination: &'b Point,
}

/// Leg `i` with its product and partner as the catalog says now (rules BU1).
pub(super) fn leg_snapshot(t: &OrchestrationTables, tenant: &str, i: usize, leg: &LegOrder<'_>, starts_at: i64, deadline: i64) -> Result<BundleLeg, ApiError> {
    let field = |f: &str| format!("legs[{i}].{f}");
    let product_id = ident(&field("product_id"), leg.product_id)?;
    let product = t.catalog.product(tenant, &product_id).filter(|p| p.active).ok_or_else(|| ApiError::not_found("UNKNOWN_PRODUCT", format!("no active product {product_id}")))?;
    let partner = t
        .catalog
        .partner(tenant, &product.partner_id)
        .filter(|p| p.active)
        .ok_or_else(|| ApiError::not_found("UNKNOWN_PARTNER", format!("product {product_id}'s partner {} is not active", product.partner_id)))?;
    let (destination_lat, destination_lng) = point(&field("destination"), leg.destination)?;
    Ok(BundleLeg {
        leg_id: opt_ident(&field("leg_id"), leg.leg_id)?.unwrap_or_else(|| format!("leg-{}", i + 1)),
        name: text(&field("name"), leg.name)?,
        partner_id: partner.partner_id.clone(),
        partner_name: partner.name.clone(),
        partner_contact: partner.channel_id.clone(),
        partner_lat: partner.lat,
        partner_lng: partner.lng,
        preparation_minutes: partner.preparation_minutes,
        hard_locked: leg.hard_locked || partner.lock_type == "hard",
        product_id,
        item: product.name.clone(),
        price: product.price,
        currency: product.currency.clone(),
        capabilities: product.capabilities.clone(),
        is_jit: leg.is_jit,
        starts_at,
        deadline,
        destination_lat,
        destination_lng,
        arrives_at: None,
        partner_opted_in: partner.opted_in,
        margin_percent: product.margin_percent,
        payout_account: partner.payout_account.clone(),
    })
}

/// Body of `POST /v1/bundles/{bundle_id}/items`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ItemBody {
    leg_id: String,
    product_id: String,
    command_id: Option<String>,
}

/// `POST /v1/bundles/{bundle_id}/items`: what adding a product to a leg's delivery does to its
/// deadline (rules TC2, TC3); the product and its partner are snapshotted as for a bundle.
pub async fn add_item(State(state): State<GatewayState>, Path(bundle_id): Path<String>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    run(&state, &headers, async |tenant, now| {
        let b: ItemBody = parse(body, false)?;
        let t = tables(&state)?;
        let (bundle_id, leg_id, product_id) = (ident("bundle_id", &bundle_id)?, ident("leg_id", &b.leg_id)?, ident("product_id", &b.product_id)?);
        let command_id = command_id(b.command_id.as_deref(), fresh)?;
        caught_up(t).await?;
        let product = t.catalog.product(tenant, &product_id).filter(|p| p.active).ok_or_else(|| ApiError::not_found("UNKNOWN_PRODUCT", format!("no active product {product_id}")))?;
        let partner = t
            .catalog
            .partner(tenant, &product.partner_id)
            .filter(|p| p.active)
            .ok_or_else(|| ApiError::not_found("UNKNOWN_PARTNER", format!("product {product_id}'s partner {} is not active", product.partner_id)))?;
        let event = ItemAddRequested {
            envelope: envelope(tenant, &command_id, now),
            command_id: command_id.clone(),
            bundle_id: bundle_id.clone(),
            leg_id,
            item: product.name,
            product_id,
            partner_id: partner.partner_id,
            partner_name: partner.name,
            partner_lat: partner.lat,
            partner_lng: partner.lng,
            preparation_minutes: partner.preparation_minutes,
            price: product.price,
            currency: product.currency,
        };
        let answer = json!({ "command_id": command_id, "status": "accepted", "bundle_id": bundle_id });
        Ok((vec![Publish::new(BundleKey::of(tenant, &bundle_id), GatewayEvent::ItemAdd(event))], answer))
    })
    .await
}

/// `POST /v1/chat`: a user's message in a bundle's thread; the chat stage reads it.
pub async fn chat(State(state): State<GatewayState>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    run(&state, &headers, async |tenant, now| {
        let b: ChatBody = parse(body, false)?;
        let bundle_id = ident("bundle_id", &b.bundle_id)?;
        let message_id = command_id(b.message_id.as_deref(), fresh)?;
        let event = ChatMessageReceived {
            envelope: Envelope_::external(tenant, &format!("chat/{bundle_id}/{message_id}"), now),
            bundle_id: bundle_id.clone(),
            user_id: ident("user_id", &b.user_id)?,
            text: text("text", &b.text)?,
        };
        let answer = json!({ "message_id": message_id, "status": "accepted", "bundle_id": bundle_id });
        Ok((vec![Publish::new(BundleKey::of(tenant, &bundle_id), GatewayEvent::Chat(event))], answer))
    })
    .await
}

/// A WhatsApp message from a number a negotiation waits on (or waited on) is that partner's reply:
/// it goes to the bundle's `negotiation.inputs` instead of `whatsapp.inbound`. Same event id as
/// the inbound message would have had, so a redelivery is dropped the same way.
pub(super) async fn route_partner_reply(state: &GatewayState, record: Publish) -> Result<Publish, ApiError> {
    let (Some(t), GatewayEvent::Inbound(m)) = (state.orchestration.as_deref(), &record.event) else { return Ok(record) };
    let InboundMessage { envelope, wa_id, text, reply_id, .. } = m;
    let route = t.routes.route(&envelope.tenant_id, wa_id).await.map_err(|e| ApiError::unavailable(format!("negotiation lookup failed: {e:#}")))?;
    let Some(route) = route else { return Ok(record) };
    let reply = PartnerReplied {
        envelope: envelope.clone(),
        bundle_id: route.bundle_id.clone(),
        partner_id: route.partner_id,
        negotiation_id: Some(route.negotiation_id),
        text: text.clone(),
        button_id: reply_id.clone(),
    };
    Ok(Publish::new(BundleKey::of(&envelope.tenant_id, &route.bundle_id), GatewayEvent::PartnerReply(reply)))
}
