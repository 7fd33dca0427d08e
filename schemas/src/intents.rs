//! Standing intents (docs/rules/intents.md): an order that waits days for its conditions, the
//! observations it waits on, its progress ledger and the narrated updates of the user's thread.
//!
//! Keys: an intent's inputs and events are keyed `<tenant>|<intent id>`; observations and the
//! intents' subscriptions to them `<tenant>|<kind>|<subject>` (a place's weather, a product), so
//! the observation join keeps each subject's latest facts and its watchers in one place.

use crate::bundles::BundleLeg;
use crate::clock::Tick;
use crate::envelope::Envelope;
use crate::payments::CheckoutFinished;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// One condition; an intent's conditions are ANDed (rules B5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntentCondition {
    /// `weather`, `day_of_week`, `time`, `in_stock` or `price_below`.
    pub kind: String,
    /// The wanted weather, weekday or time window; the product id for stock and price.
    pub value: String,
    /// Weather: where.
    pub location: Option<String>,
    /// Price: at or below this.
    pub amount: Option<Decimal>,
    /// Stock and price: the product's name, for narration.
    #[serde(default)]
    pub label: Option<String>,
}

/// A user's standing intent, with its legs as the catalog said at creation (times relative to
/// the moment it fires: `starts_at` 0, `deadline` = ms allowed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StandingIntentRequested {
    pub envelope: Envelope,
    pub intent_id: String,
    pub user_id: String,
    pub thread_id: String,
    pub description: String,
    pub conditions: Vec<IntentCondition>,
    pub requires_approval: bool,
    /// `high`, `medium` or `low`.
    pub trust_level: String,
    pub approval_timeout_hours: i64,
    pub max_wait_days: i64,
    pub check_frequency_minutes: i64,
    pub utc_offset_minutes: i64,
    pub vendors_found: i32,
    pub legs: Vec<BundleLeg>,
    /// What the intent checks out with when it fires.
    #[serde(default)]
    pub payment_method: Option<String>,
}

/// An observation from a connector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservationRecorded {
    pub envelope: Envelope,
    pub observation_id: String,
    /// `weather`, `stock` or `price`.
    pub kind: String,
    /// The location (weather) or product id.
    pub subject: String,
    /// Weather: the local date, `YYYY-MM-DD`.
    pub date: Option<String>,
    /// Weather: the forecast; stock: `in_stock`/`out_of_stock`; price: the currency.
    pub value: String,
    pub quantity: Option<i64>,
    pub price: Option<Decimal>,
    pub source: String,
}

impl ObservationRecorded {
    /// The subject kind observations of this kind belong to: `weather` or `product`.
    pub fn subject_kind(&self) -> &'static str {
        if self.kind == "weather" {
            "weather"
        } else {
            "product"
        }
    }
}

/// An intent starts or stops watching a subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchChanged {
    pub envelope: Envelope,
    pub intent_id: String,
    /// `weather` or `product`.
    pub kind: String,
    pub subject: String,
    pub watching: bool,
}

/// An observation forwarded to an intent that watches its subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConditionObserved {
    pub envelope: Envelope,
    pub intent_id: String,
    pub observation: ObservationRecorded,
}

/// The user's answer to an intent waiting for approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntentDecided {
    pub envelope: Envelope,
    pub intent_id: String,
    pub approved: bool,
    pub actor: String,
}

/// The user cancels an intent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntentCancelRequested {
    pub envelope: Envelope,
    pub intent_id: String,
    pub actor: String,
}

/// One condition at the last evaluation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConditionCheck {
    pub kind: String,
    pub value: String,
    pub met: bool,
    pub observed: Option<String>,
}

/// An intent's snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StandingIntentUpdated {
    pub envelope: Envelope,
    pub intent_id: String,
    pub user_id: String,
    pub thread_id: String,
    pub description: String,
    pub status: String,
    pub trust_level: String,
    pub requires_approval: bool,
    pub if_text: String,
    pub then_text: String,
    pub checks: Vec<ConditionCheck>,
    pub checks_count: i64,
    pub last_checked_at: i64,
    pub expires_at: i64,
    pub approval_due_at: Option<i64>,
    pub bundle_id: Option<String>,
    pub reason: Option<String>,
    pub created_at: i64,
    pub vendors_found: i32,
}

/// An entry of an intent's progress ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgressLogged {
    pub envelope: Envelope,
    pub subject_kind: String,
    pub subject_id: String,
    pub thread_id: String,
    pub step: i64,
    pub step_name: String,
    /// `thought`, `narrative`, `activity` or `event`.
    pub log_type: String,
    pub status: String,
    pub text: String,
    /// JSON facts (module 14's reasoning context).
    pub context: String,
    pub if_text: Option<String>,
    pub then_text: Option<String>,
}

/// A narrative entry rendered for the user's thread.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Narrated {
    pub envelope: Envelope,
    pub subject_kind: String,
    pub subject_id: String,
    pub thread_id: String,
    pub entry_id: String,
    pub step: i64,
    pub status: String,
    pub narrative: String,
    pub reasoning: String,
    pub renderer: String,
    /// Adaptive Card 1.5 JSON.
    pub card: String,
}

/// `intents.inputs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum IntentInput {
    StandingIntentRequested(StandingIntentRequested),
    ConditionObserved(ConditionObserved),
    IntentDecided(IntentDecided),
    IntentCancelRequested(IntentCancelRequested),
    CheckoutFinished(CheckoutFinished),
    Tick(Tick),
}

/// `intents.events`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum IntentEvent {
    StandingIntentUpdated(StandingIntentUpdated),
    ProgressLogged(ProgressLogged),
}

/// `observations`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ObservationInput {
    ObservationRecorded(ObservationRecorded),
    WatchChanged(WatchChanged),
}

/// `narrations`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum NarrationEvent {
    Narrated(Narrated),
}

crate::stream_event!(IntentInput { StandingIntentRequested, ConditionObserved, IntentDecided, IntentCancelRequested, CheckoutFinished, Tick } tick Tick);
crate::stream_event!(IntentEvent { StandingIntentUpdated, ProgressLogged });
crate::stream_event!(ObservationInput { ObservationRecorded, WatchChanged });
crate::stream_event!(NarrationEvent { Narrated });

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orders::tests::round_trip;

    fn observation() -> ObservationRecorded {
        ObservationRecorded {
            envelope: Envelope::external("acme", "obs-1", 5),
            observation_id: "obs-1".into(),
            kind: "weather".into(),
            subject: "amsterdam".into(),
            date: Some("2026-12-03".into()),
            value: "rainy".into(),
            quantity: None,
            price: None,
            source: "forecast-connector".into(),
        }
    }

    /// The Rust types and the `.avsc` files agree, decimals and nested records included.
    #[test]
    fn intent_records_round_trip_through_avro() {
        let envelope = Envelope::external("acme", "i1", 5);
        let condition = |kind: &str, value: &str| IntentCondition { kind: kind.into(), value: value.into(), location: None, amount: None, label: None };
        let inputs = ["souk.intents.StandingIntentRequested", "souk.intents.ConditionObserved", "souk.intents.IntentDecided", "souk.intents.IntentCancelRequested", "souk.clock.Tick"];
        round_trip(
            &inputs,
            &IntentInput::StandingIntentRequested(StandingIntentRequested {
                envelope: envelope.clone(),
                intent_id: "i1".into(),
                user_id: "u1".into(),
                thread_id: "thread-i1".into(),
                description: "flowers on the next sunny Thursday".into(),
                conditions: vec![
                    IntentCondition { location: Some("amsterdam".into()), ..condition("weather", "sunny") },
                    condition("day_of_week", "thursday"),
                    IntentCondition { amount: Some("40.00".parse().unwrap()), label: Some("Chocolates".into()), ..condition("price_below", "p2") },
                ],
                requires_approval: true,
                trust_level: "medium".into(),
                approval_timeout_hours: 24,
                max_wait_days: 30,
                check_frequency_minutes: 60,
                utc_offset_minutes: 60,
                vendors_found: 3,
                legs: Vec::new(),
                payment_method: Some("pm_card_visa".into()),
            }),
        );
        round_trip(&inputs, &IntentInput::ConditionObserved(ConditionObserved { envelope: envelope.clone(), intent_id: "i1".into(), observation: observation() }));
        let price = ObservationRecorded { kind: "price".into(), subject: "p2".into(), date: None, value: "USD".into(), price: Some("39.99".parse().unwrap()), quantity: Some(4), ..observation() };
        round_trip(&["souk.intents.ObservationRecorded", "souk.intents.WatchChanged"], &ObservationInput::ObservationRecorded(price));
        round_trip(
            &["souk.intents.StandingIntentUpdated", "souk.intents.ProgressLogged"],
            &IntentEvent::StandingIntentUpdated(StandingIntentUpdated {
                envelope,
                intent_id: "i1".into(),
                user_id: "u1".into(),
                thread_id: "thread-i1".into(),
                description: "d".into(),
                status: "active".into(),
                trust_level: "high".into(),
                requires_approval: false,
                if_text: "Weather == Sunny".into(),
                then_text: "Order Flowers".into(),
                checks: vec![ConditionCheck { kind: "weather".into(), value: "sunny".into(), met: false, observed: Some("rainy".into()) }],
                checks_count: 2,
                last_checked_at: 7,
                expires_at: 9,
                approval_due_at: Some(8),
                bundle_id: None,
                reason: None,
                created_at: 1,
                vendors_found: 2,
            }),
        );
    }
}
