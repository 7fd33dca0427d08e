//! Order-session events (rules A1–A12): what customer messages mean (`IntentResolved`), owner
//! decisions, the session's snapshots, command outcomes and escalations.
//! Key: `<tenant>|<customer wa_id>` — one active session per customer (A11).

use crate::clock::Tick;
use crate::envelope::Envelope;
use crate::inventory::{BatchAllocation, Committed, HoldCommandRejected, HoldExpired, Released, ReserveRejected, Reserved};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// A suggested replacement pool for an out-of-stock line (A9).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockAlternative {
    /// Catalog material.
    pub material: String,
    /// Catalog color.
    pub color: String,
    /// Availability seen.
    pub available_meters: Decimal,
    /// Pool price.
    pub price_per_meter: Option<Decimal>,
}

/// One extracted order line, matched against the catalog, with the stock snapshot the extractor saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntentLine {
    /// Catalog material (normalized).
    pub material: String,
    /// Catalog color (normalized).
    pub color: String,
    /// Quantity as said.
    pub quantity: Decimal,
    /// `m`, `yard`, `gaj` or `roll`.
    pub unit: String,
    /// Quantity in meters (A10); `None` when rolls could not be converted.
    pub requested_meters: Option<Decimal>,
    /// How sure the catalog match is, in [0,1].
    pub match_confidence: Decimal,
    /// The fragment the line came from.
    pub source_text: String,
    /// Pool availability seen (a snapshot; holds decide).
    pub available_meters: Option<Decimal>,
    /// Pool price seen.
    pub price_per_meter: Option<Decimal>,
    /// Roll length of the pool, when known.
    pub meters_per_roll: Option<Decimal>,
    /// For out-of-stock lines only, at most 3 (A9).
    pub alternatives: Vec<StockAlternative>,
}

/// A decision about one existing line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemDecision {
    /// `ACCEPT_AVAILABLE`, `CANCEL_ITEM`, `REQUEST_ALTERNATIVE`, `EDIT_ITEM` or `REPLACE`.
    pub action: String,
    /// Line named by material.
    pub material: Option<String>,
    /// Line named by color.
    pub color: Option<String>,
    /// Line named by its 1-based number in the last summary.
    pub index: Option<i32>,
    /// New meters for `EDIT_ITEM`.
    pub meters: Option<Decimal>,
    /// The new line for `REPLACE`.
    pub replacement: Option<IntentLine>,
}

/// What a customer message means; logged once, replays never call a model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntentResolved {
    pub envelope: Envelope,
    /// Customer wa_id.
    pub customer: String,
    /// `event_id` of the `InboundMessage`.
    pub message_event_id: String,
    /// Meta's id of the message.
    pub wamid: String,
    /// The text, if any.
    pub text: Option<String>,
    /// The reply button id, if any (mapped exactly, A12).
    pub reply_id: Option<String>,
    /// `ORDER`, `CONFIRM`, `CANCEL_ALL`, `EDIT`, `ADD`, `ACCEPT_AVAILABLE`, `CANCEL_ITEM`,
    /// `REQUEST_ALTERNATIVE`, `GREETING` or `UNKNOWN`.
    pub decision: String,
    /// In [0,1]; below the tenant threshold the session asks once, then escalates (B6).
    pub confidence: Decimal,
    /// Extracted lines.
    pub lines: Vec<IntentLine>,
    /// Per-line decisions (several for mixed messages).
    pub decisions: Vec<ItemDecision>,
    /// `en` or `hinglish`.
    pub language: String,
    /// Extractor name and version.
    pub extractor: String,
    /// The tenant's confidence threshold this message was judged against, stamped by the intent
    /// stage from the tenant registry so the session's decision replays the same (B6/C2).
    /// `None` (events logged before tenants could set it) means the default 0.80.
    pub confidence_threshold: Option<Decimal>,
}

/// The owner approves or rejects an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerDecision {
    pub envelope: Envelope,
    /// Id of the HTTP command (answers are keyed by it).
    pub command_id: String,
    /// The order.
    pub order_id: String,
    /// The customer (session key).
    pub customer: String,
    /// `APPROVE` or `REJECT`.
    pub decision: String,
    /// Who clicked.
    pub actor: Option<String>,
    /// Free text (reject reason).
    pub reason: Option<String>,
}

/// One line of an order session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    /// Deterministic id (UUIDv5 of the causing event).
    pub line_id: String,
    /// Material.
    pub material: String,
    /// Color.
    pub color: String,
    /// Original demand.
    pub requested_meters: Decimal,
    /// Current active quantity.
    pub normalized_meters: Decimal,
    /// `NEGOTIATING`, `ACCEPTED`, `CANCELLED` or `REPLACED`.
    pub status: String,
    /// The line that replaced this one.
    pub replaced_by: Option<String>,
    /// `FULL_AVAILABLE`, `PARTIAL_AVAILABLE` or `OUT_OF_STOCK`.
    pub inventory_status: Option<String>,
    /// Availability last seen.
    pub available_meters: Option<Decimal>,
    /// Price snapshot (A4).
    pub price_per_meter: Option<Decimal>,
    /// Current hold.
    pub hold_id: Option<String>,
    /// `PENDING`, `HELD`, `REJECTED`, `COMMITTED`, `RELEASED` or `EXPIRED`.
    pub hold_status: Option<String>,
    /// What the hold takes per batch.
    pub allocations: Vec<BatchAllocation>,
    /// Suggestions for an out-of-stock line.
    pub alternatives: Vec<StockAlternative>,
}

/// The order session after a change (a full snapshot).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderUpdated {
    pub envelope: Envelope,
    /// Order id (UUIDv5 of the first message).
    pub order_id: String,
    /// Customer wa_id.
    pub customer: String,
    /// Workflow state.
    pub state: String,
    /// State before the change.
    pub previous_state: Option<String>,
    /// What changed it.
    pub cause: String,
    /// The inbound message that caused it.
    pub cause_wamid: Option<String>,
    /// All lines, in order.
    pub lines: Vec<OrderLine>,
    /// Customer turns in negotiation (A7).
    pub negotiation_turns: i32,
    /// Consecutive unclassifiable messages (A7).
    pub unknown_streak: i32,
    /// When the session opened (epoch ms).
    pub opened_at: i64,
    /// Σ meters × price of accepted lines, when priced.
    pub subtotal: Option<Decimal>,
}

/// The answer to an owner command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandOutcome {
    pub envelope: Envelope,
    /// The command.
    pub command_id: String,
    /// The order.
    pub order_id: String,
    /// `APPROVE` or `REJECT`.
    pub command: String,
    /// Applied?
    pub accepted: bool,
    /// Refusal code.
    pub code: Option<String>,
    /// Explanation.
    pub detail: String,
}

/// A human must look at something.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscalationRaised {
    pub envelope: Envelope,
    /// Deterministic id.
    pub escalation_id: String,
    /// Customer, if any.
    pub customer: Option<String>,
    /// Order, if any.
    pub order_id: Option<String>,
    /// Kind (B7 types mapped to this workflow).
    pub kind: String,
    /// `high` or `medium`.
    pub priority: String,
    /// What happened.
    pub detail: String,
}

/// Everything on `orders.inputs`: intents, owner decisions and the inventory pools' answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderInput {
    IntentResolved(IntentResolved),
    OwnerDecision(OwnerDecision),
    Reserved(Reserved),
    ReserveRejected(ReserveRejected),
    Committed(Committed),
    Released(Released),
    HoldExpired(HoldExpired),
    HoldCommandRejected(HoldCommandRejected),
    Tick(Tick),
}

/// Everything on `orders.events`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderEvent {
    OrderUpdated(OrderUpdated),
    CommandOutcome(CommandOutcome),
}

/// Everything on `escalations`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EscalationEvent {
    EscalationRaised(EscalationRaised),
}

crate::stream_event!(OrderInput { IntentResolved, OwnerDecision, Reserved, ReserveRejected, Committed, Released, HoldExpired, HoldCommandRejected, Tick } tick Tick);
crate::stream_event!(OrderEvent { OrderUpdated, CommandOutcome });
crate::stream_event!(EscalationEvent { EscalationRaised });

#[cfg(test)]
#[allow(deprecated)]
pub(crate) mod tests {
    use super::*;
    use crate::{avro_to_json, json_to_avro, Catalog};

    /// Encodes `value` with the topic schema of `records` and decodes it back (shared by every
    /// area's round-trip test).
    pub(crate) fn round_trip<T: Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug>(records: &[&str], value: &T) {
        let schema = Catalog::builtin().unwrap().topic_schema(&records.iter().map(|r| r.to_string()).collect::<Vec<_>>()).unwrap();
        let parsed = apache_avro::Schema::parse(&schema).unwrap();
        let avro = json_to_avro(&schema, &serde_json::to_value(value).unwrap()).unwrap();
        let bytes = apache_avro::to_avro_datum(&parsed, avro).unwrap();
        let decoded = apache_avro::from_avro_datum(&parsed, &mut bytes.as_slice(), None).unwrap();
        let back: T = serde_json::from_value(avro_to_json(&schema, &decoded).unwrap()).unwrap();
        assert_eq!(&back, value);
    }

    fn line() -> IntentLine {
        IntentLine {
            material: "cotton".into(),
            color: "blue".into(),
            quantity: "20".parse().unwrap(),
            unit: "m".into(),
            requested_meters: Some("20.000".parse().unwrap()),
            match_confidence: "0.950".parse().unwrap(),
            source_text: "20m blue cotton".into(),
            available_meters: Some("119".parse().unwrap()),
            price_per_meter: Some("120.00".parse().unwrap()),
            meters_per_roll: None,
            alternatives: vec![StockAlternative { material: "cotton".into(), color: "red".into(), available_meters: "100".parse().unwrap(), price_per_meter: None }],
        }
    }

    /// The Rust types and the .avsc files agree for every record of the order topics (nested
    /// records carry no envelope of their own).
    #[test]
    fn order_records_round_trip_through_avro() {
        let env = Envelope::external("acme", "w1", 5);
        round_trip(
            &["souk.orders.IntentResolved", "souk.orders.OwnerDecision", "souk.inventory.Reserved"],
            &OrderInput::IntentResolved(IntentResolved {
                envelope: env.clone(),
                customer: "91".into(),
                message_event_id: "m".into(),
                wamid: "w".into(),
                text: Some("t".into()),
                reply_id: None,
                decision: "REPLACE".into(),
                confidence: "0.800".parse().unwrap(),
                lines: vec![line()],
                decisions: vec![ItemDecision { action: "REPLACE".into(), material: None, color: None, index: Some(2), meters: None, replacement: Some(line()) }],
                language: "en".into(),
                extractor: "offline-1".into(),
                confidence_threshold: Some("0.850".parse().unwrap()),
            }),
        );
        round_trip(
            &["souk.orders.OrderUpdated", "souk.orders.CommandOutcome"],
            &OrderEvent::OrderUpdated(OrderUpdated {
                envelope: env,
                order_id: "o".into(),
                customer: "91".into(),
                state: "WAITING_OWNER_CONFIRMATION".into(),
                previous_state: None,
                cause: "hold_placed".into(),
                cause_wamid: None,
                negotiation_turns: 0,
                unknown_streak: 0,
                opened_at: 1,
                subtotal: Some("2400.00".parse().unwrap()),
                lines: vec![OrderLine {
                    line_id: "l".into(),
                    material: "cotton".into(),
                    color: "blue".into(),
                    requested_meters: "20".parse().unwrap(),
                    normalized_meters: "20".parse().unwrap(),
                    status: "ACCEPTED".into(),
                    replaced_by: None,
                    inventory_status: Some("FULL_AVAILABLE".into()),
                    available_meters: None,
                    price_per_meter: None,
                    hold_id: Some("h".into()),
                    hold_status: Some("HELD".into()),
                    allocations: vec![],
                    alternatives: vec![],
                }],
            }),
        );
    }
}
