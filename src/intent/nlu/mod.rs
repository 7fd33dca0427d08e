//! The offline NLU (rules S003.4/S003.5, A9, A10, A12, B6): a customer's WhatsApp message,
//! English or Hinglish, plus the tenant's catalog snapshot → what it means (`IntentResolved`).
//!
//! Pure and deterministic: no clock, no randomness, no I/O, so the intent stage can log its answer
//! once and a replay never recomputes it differently. Reply-button ids map exactly (confidence 1);
//! text goes through a small rule-based pipeline: `tokens` (split, units) → `clause` (vocabulary,
//! clauses at connectors, items, one act per clause) → `decide` (combine, snapshot, confidence).

mod catalog;
mod clause;
mod decide;
mod external;
mod lexicon;
mod tokens;

pub use catalog::{CatalogEntry, TenantCatalog};
pub use external::{clamp_confidence, match_color, match_material, proposed_line, proposed_replacement};

use lexicon::Unit;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::Serialize;
use souk_schemas::orders::{IntentLine, IntentResolved, ItemDecision};
use souk_schemas::whatsapp::InboundMessage;
use souk_schemas::Envelope;

/// Name and version of this extractor, logged in every `IntentResolved.extractor`.
pub const EXTRACTOR: &str = "offline-1";

/// Meters per yard (and per gaj), A10.
pub const METERS_PER_YARD: Decimal = Decimal::from_parts(9144, 0, 0, false, 4);

/// What a message means, before it is wrapped into an `IntentResolved`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Extraction {
    /// `ORDER`, `CONFIRM`, `CANCEL_ALL`, `EDIT`, `ADD`, `ACCEPT_AVAILABLE`, `CANCEL_ITEM`,
    /// `REQUEST_ALTERNATIVE`, `GREETING` or `UNKNOWN`.
    pub decision: String,
    /// In [0,1], three decimals.
    pub confidence: Decimal,
    /// Order lines (ORDER, ADD; also kept when mixed with line decisions).
    pub lines: Vec<IntentLine>,
    /// Decisions about existing lines, in message order.
    pub decisions: Vec<ItemDecision>,
    /// `en` or `hinglish`.
    pub language: String,
}

impl Extraction {
    /// Wraps the extraction into the event the intent stage logs.
    pub fn into_resolved(self, envelope: Envelope, customer: &str, message_event_id: &str, wamid: &str, text: Option<String>, reply_id: Option<String>) -> IntentResolved {
        IntentResolved {
            envelope,
            customer: customer.to_string(),
            message_event_id: message_event_id.to_string(),
            wamid: wamid.to_string(),
            text,
            reply_id,
            decision: self.decision,
            confidence: self.confidence,
            lines: self.lines,
            decisions: self.decisions,
            language: self.language,
            extractor: EXTRACTOR.to_string(),
            confidence_threshold: None,
        }
    }
}

/// Extracts the intent of one inbound message: the reply-button id when there is one (A12),
/// else the text.
pub fn extract(text: Option<&str>, reply_id: Option<&str>, catalog: &TenantCatalog) -> Extraction {
    let text = text.map(str::trim).filter(|t| !t.is_empty());
    if let Some(id) = reply_id.filter(|r| !r.is_empty()) {
        let language = text.map_or_else(|| "en".to_string(), |t| decide::from_text(t, catalog).language);
        return from_button(id, catalog, &language);
    }
    match text {
        Some(t) => decide::from_text(t, catalog),
        None => extraction("UNKNOWN", score(Decimal::ZERO), vec![], "en"),
    }
}

/// `extract` on an `InboundMessage`, wrapped into the `IntentResolved` the intent stage emits.
pub fn resolve(envelope: Envelope, message: &InboundMessage, catalog: &TenantCatalog) -> IntentResolved {
    extract(message.text.as_deref(), message.reply_id.as_deref(), catalog).into_resolved(
        envelope,
        &message.wa_id,
        &message.envelope.event_id,
        &message.wamid,
        message.text.clone(),
        message.reply_id.clone(),
    )
}

/// A quantity in meters (A10): meters as is; yards and gaj × 0.9144 rounded half-up to 3 dp;
/// rolls × the pool's roll length (`None` when unknown). `unit` is an `IntentLine.unit`.
pub fn to_meters(quantity: Decimal, unit: &str, meters_per_roll: Option<Decimal>) -> Option<Decimal> {
    let meters = match unit {
        "m" => quantity,
        "yard" | "gaj" => quantity * METERS_PER_YARD,
        "roll" => quantity * meters_per_roll?,
        _ => return None,
    };
    Some(round3(meters))
}

/// A confidence with exactly three decimals (the contract's `decimal(4,3)`).
pub(crate) fn score(d: Decimal) -> Decimal {
    let mut d = d.clamp(Decimal::ZERO, Decimal::ONE).round_dp(3);
    d.rescale(3);
    d
}

fn round3(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(3, RoundingStrategy::MidpointAwayFromZero).normalize()
}

/// Reply-button ids (A12), the contract with the order session's outbound replies.
fn from_button(id: &str, catalog: &TenantCatalog, language: &str) -> Extraction {
    let certain = score(Decimal::ONE);
    let on_line = |action: &str, n: &str, replacement: Option<IntentLine>| {
        n.parse::<i32>().ok().filter(|n| *n >= 1).map(|n| ItemDecision { action: action.to_string(), material: None, color: None, index: Some(n), meters: None, replacement })
    };
    let (decision, item) = match id.split_once(':') {
        None => match id {
            "confirm" => ("CONFIRM", None),
            "edit" => ("EDIT", None),
            "cancel_order" => ("CANCEL_ALL", None),
            _ => ("UNKNOWN", None),
        },
        Some(("accept_available", n)) => ("ACCEPT_AVAILABLE", Some(on_line("ACCEPT_AVAILABLE", n, None))),
        Some(("cancel_item", n)) => ("CANCEL_ITEM", Some(on_line("CANCEL_ITEM", n, None))),
        Some(("alternatives", n)) => ("REQUEST_ALTERNATIVE", Some(on_line("REQUEST_ALTERNATIVE", n, None))),
        Some(("replace", rest)) => {
            let decision = rest.split_once(':').and_then(|(n, pool)| {
                let (material, color) = pool.split_once('|').filter(|(m, c)| !m.is_empty() && !c.is_empty())?;
                let (material, color) = match catalog.entry(material, color) {
                    Some(e) => (e.material.as_str(), e.color.as_str()),
                    None => (material, color),
                };
                on_line("REPLACE", n, Some(pool_line(catalog, material, color, None, Decimal::ONE, id)))
            });
            ("REQUEST_ALTERNATIVE", Some(decision))
        }
        Some(_) => ("UNKNOWN", None),
    };
    match item {
        Some(None) => extraction("UNKNOWN", score(Decimal::new(2, 1)), vec![], language),
        Some(Some(d)) => extraction(decision, certain, vec![d], language),
        None if decision == "UNKNOWN" => extraction("UNKNOWN", score(Decimal::new(2, 1)), vec![], language),
        None => extraction(decision, certain, vec![], language),
    }
}

fn extraction(decision: &str, confidence: Decimal, decisions: Vec<ItemDecision>, language: &str) -> Extraction {
    Extraction { decision: decision.to_string(), confidence, lines: vec![], decisions, language: language.to_string() }
}

/// A line for the pool `material`/`color` with the catalog snapshot: availability (0 for a pool the
/// tenant does not have), price, roll length, and ≤ 3 alternatives when out of stock (A9). An empty
/// material or color (a replacement that keeps the old line's) has no snapshot.
pub(crate) fn pool_line(catalog: &TenantCatalog, material: &str, color: &str, qty: Option<(Decimal, Unit)>, match_confidence: Decimal, source_text: &str) -> IntentLine {
    let entry = catalog.entry(material, color);
    let per_roll = entry.and_then(|e| e.meters_per_roll);
    let known_pool = !material.is_empty() && !color.is_empty();
    let available = known_pool.then(|| entry.map_or(Decimal::ZERO, |e| e.available_meters));
    let (quantity, unit, requested_meters) = match qty {
        Some((n, unit)) => {
            let n = round3(n);
            (n, unit.name(), to_meters(n, unit.name(), per_roll))
        }
        None => (Decimal::ZERO, Unit::Meter.name(), None),
    };
    let alternatives = match available {
        Some(a) if a <= Decimal::ZERO => catalog.alternatives(material, color),
        _ => vec![],
    };
    IntentLine {
        material: material.to_string(),
        color: color.to_string(),
        quantity,
        unit: unit.to_string(),
        requested_meters,
        match_confidence: score(match_confidence),
        source_text: source_text.to_string(),
        available_meters: available,
        price_per_meter: entry.and_then(|e| e.price_per_meter),
        meters_per_roll: per_roll,
        alternatives,
    }
}
