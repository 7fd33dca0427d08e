//! Multi-vendor orchestration events (docs/rules/orchestration.md): negotiations with a bundle
//! leg's partner, their replies and how they were read, the user's decisions, re-sourcing and the
//! messages to the user's bundle thread. Key: `<tenant>|<bundle id>` — a negotiation is
//! co-partitioned with its bundle, so everything about one bundle is decided in order.

use crate::bundles::{BundleRequested, BundleUpdated, ChatIntentResolved, ConflictSimulated, Degrees, ItemAddRequested};
use crate::clock::Tick;
use crate::envelope::Envelope;
use crate::payments::{CheckoutRequested, CheckoutUpdated, LegDelivered, PaymentResult};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Opens a negotiation about one leg with the leg's partner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NegotiationRequested {
    pub envelope: Envelope,
    pub negotiation_id: String,
    pub bundle_id: String,
    pub leg_id: String,
    /// `product_change`, `price_negotiation` or `timing_change`.
    pub negotiation_type: String,
    pub partner_id: String,
    pub partner_name: String,
    /// The partner's WhatsApp number.
    pub partner_contact: String,
    pub original_item: String,
    pub requested_item: String,
    pub original_price: Decimal,
    pub currency: String,
    pub capabilities: Vec<String>,
    /// Just-in-time: 15 minutes to answer instead of 60.
    pub is_jit: bool,
    /// Epoch ms the leg executes.
    pub leg_starts_at: i64,
    /// Epoch ms the leg must be done by.
    pub deadline: i64,
    /// The partner can never be swapped.
    pub hard_locked: bool,
    pub thread_id: String,
}

/// A partner's answer: a reply button or free text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerReplied {
    pub envelope: Envelope,
    pub bundle_id: String,
    pub partner_id: String,
    /// Absent when the channel cannot correlate: the partner's open negotiation in the bundle.
    pub negotiation_id: Option<String>,
    pub text: Option<String>,
    pub button_id: Option<String>,
}

/// The user's answer to a proposal (counter-offer or alternative vendor).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserDecided {
    pub envelope: Envelope,
    pub bundle_id: String,
    pub negotiation_id: String,
    pub approved: bool,
    pub actor: String,
}

/// Re-sourcing's replacement for a rejected leg.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlternativeFound {
    pub envelope: Envelope,
    pub bundle_id: String,
    pub negotiation_id: String,
    pub partner_id: String,
    pub partner_name: String,
    pub partner_contact: String,
    pub product_id: String,
    pub item: String,
    pub price: Decimal,
    /// New total time − old, in minutes (negative = faster).
    pub delay_minutes: i64,
    pub partner_lat: Option<Degrees>,
    pub partner_lng: Option<Degrees>,
    pub preparation_minutes: Option<i64>,
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// The platform's commission on the replacement product, percent of its price.
    #[serde(default)]
    pub margin_percent: Option<Decimal>,
    /// The replacement partner's payout account (Stripe `acct_...`).
    #[serde(default)]
    pub payout_account: Option<String>,
}

/// Re-sourcing found nothing that fits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoAlternativeFound {
    pub envelope: Envelope,
    pub bundle_id: String,
    pub negotiation_id: String,
    pub reason: String,
}

/// A negotiation's snapshot after every change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NegotiationUpdated {
    pub envelope: Envelope,
    pub negotiation_id: String,
    pub bundle_id: String,
    pub leg_id: String,
    pub negotiation_type: String,
    pub status: String,
    pub partner_id: String,
    pub counter_offer_count: i32,
    pub unclear_replies: i32,
    pub paused: bool,
    pub proposal: Option<String>,
    pub proposal_price: Option<Decimal>,
    pub reason: Option<String>,
    /// The number of the partner it waits on (the gateway routes their replies by it).
    pub partner_contact: Option<String>,
}

/// How a partner's reply was read, logged so a replay never classifies again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerReplyClassified {
    pub envelope: Envelope,
    pub negotiation_id: String,
    pub bundle_id: String,
    pub partner_id: String,
    pub text: Option<String>,
    pub button_id: Option<String>,
    /// `accept`, `reject`, `counter_offer`, `frustrated` or `unclear`.
    pub classification: String,
    pub offered_item: Option<String>,
    pub offered_price: Option<Decimal>,
    pub offered_change_percent: Option<Decimal>,
    /// `offline-1` or `llm:<model>`.
    pub classifier: String,
}

/// Asks re-sourcing for a replacement (price window 0.8–1.2 × original, same capabilities).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourcingRequested {
    pub envelope: Envelope,
    pub negotiation_id: String,
    pub bundle_id: String,
    pub leg_id: String,
    pub exclude_partner_id: String,
    pub requested_item: String,
    pub original_price: Decimal,
    pub min_price: Decimal,
    pub max_price: Decimal,
    pub currency: String,
    pub capabilities: Vec<String>,
    pub deadline: i64,
    /// The leg's destination, for ranking by distance (R2).
    pub destination_lat: Option<Degrees>,
    pub destination_lng: Option<Degrees>,
    /// Minutes from the request until the original leg would have arrived.
    pub original_arrival_minutes: Option<i64>,
}

/// A message to the user's bundle thread.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserNotified {
    pub envelope: Envelope,
    pub negotiation_id: String,
    pub bundle_id: String,
    pub thread_id: String,
    pub kind: String,
    pub text: String,
}

/// A leg moved to another partner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegReplaced {
    pub envelope: Envelope,
    pub negotiation_id: String,
    pub bundle_id: String,
    pub leg_id: String,
    pub old_partner_id: String,
    pub new_partner_id: String,
    pub product_id: String,
    pub item: String,
    pub price: Decimal,
    pub delay_minutes: i64,
    /// When the negotiation was opened (absent in older records).
    pub started_at: Option<i64>,
}

/// An admin writes to a negotiation's partner as a human (rules B7, intervene).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HumanIntervened {
    pub envelope: Envelope,
    pub command_id: String,
    pub bundle_id: String,
    pub negotiation_id: String,
    pub actor: String,
    pub text: String,
}

/// `negotiation.inputs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum NegotiationInput {
    NegotiationRequested(NegotiationRequested),
    PartnerReplied(PartnerReplied),
    UserDecided(UserDecided),
    AlternativeFound(AlternativeFound),
    NoAlternativeFound(NoAlternativeFound),
    BundleRequested(BundleRequested),
    ChatIntentResolved(ChatIntentResolved),
    HumanIntervened(HumanIntervened),
    ItemAddRequested(ItemAddRequested),
    CheckoutRequested(CheckoutRequested),
    PaymentResult(PaymentResult),
    LegDelivered(LegDelivered),
    Tick(Tick),
}

/// `negotiation.events`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum NegotiationEvent {
    NegotiationUpdated(NegotiationUpdated),
    PartnerReplyClassified(PartnerReplyClassified),
    ResourcingRequested(ResourcingRequested),
    UserNotified(UserNotified),
    LegReplaced(LegReplaced),
    BundleUpdated(BundleUpdated),
    ConflictSimulated(ConflictSimulated),
    CheckoutUpdated(CheckoutUpdated),
}

crate::stream_event!(NegotiationInput { NegotiationRequested, PartnerReplied, UserDecided, AlternativeFound, NoAlternativeFound, BundleRequested, ChatIntentResolved, HumanIntervened, ItemAddRequested, CheckoutRequested, PaymentResult, LegDelivered, Tick } tick Tick);
crate::stream_event!(NegotiationEvent { NegotiationUpdated, PartnerReplyClassified, ResourcingRequested, UserNotified, LegReplaced, BundleUpdated, ConflictSimulated, CheckoutUpdated });

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundles::BundleLeg;
    use crate::orders::tests::round_trip;

    const INPUTS: [&str; 10] = [
        "souk.orchestration.NegotiationRequested",
        "souk.orchestration.PartnerReplied",
        "souk.orchestration.UserDecided",
        "souk.orchestration.AlternativeFound",
        "souk.orchestration.NoAlternativeFound",
        "souk.orchestration.BundleRequested",
        "souk.orchestration.ChatIntentResolved",
        "souk.orchestration.HumanIntervened",
        "souk.orchestration.ItemAddRequested",
        "souk.clock.Tick",
    ];
    const EVENTS: [&str; 7] = [
        "souk.orchestration.NegotiationUpdated",
        "souk.orchestration.PartnerReplyClassified",
        "souk.orchestration.ResourcingRequested",
        "souk.orchestration.UserNotified",
        "souk.orchestration.LegReplaced",
        "souk.orchestration.BundleUpdated",
        "souk.orchestration.ConflictSimulated",
    ];

    fn leg() -> BundleLeg {
        BundleLeg {
            leg_id: "l1".into(),
            name: "Flowers".into(),
            partner_id: "pa".into(),
            partner_name: "Flower Shop A".into(),
            partner_contact: "1234567890".into(),
            partner_lat: Degrees(40.7128),
            partner_lng: Degrees(-74.006),
            preparation_minutes: 20,
            hard_locked: false,
            product_id: "p1".into(),
            item: "Red Flowers".into(),
            price: "50.00".parse().unwrap(),
            currency: "USD".into(),
            capabilities: vec!["florist".into()],
            is_jit: false,
            starts_at: 1_000,
            deadline: 9_000_000,
            destination_lat: Degrees(40.75),
            destination_lng: Degrees(-73.99),
            arrives_at: None,
            partner_opted_in: true,
            margin_percent: None,
            payout_account: None,
        }
    }

    /// Partners, products and chat messages (single-record topics: bare records) round-trip too.
    #[test]
    fn catalog_and_chat_records_round_trip_through_avro() {
        use crate::bundles::*;
        let envelope = Envelope::external("acme", "p1", 5);
        round_trip(
            &["souk.orchestration.PartnerUpserted"],
            &PartnerUpserted {
                envelope: envelope.clone(),
                partner_id: "pa".into(),
                name: "Flower Shop A".into(),
                business_type: "florist".into(),
                lat: Degrees(40.7128),
                lng: Degrees(-74.006),
                capabilities: vec!["florist".into()],
                channel: "whatsapp".into(),
                channel_id: "1234567890".into(),
                opted_in: true,
                opens_at: "09:00".into(),
                closes_at: "17:00".into(),
                business_days: vec![1, 2, 3, 4, 5],
                lock_type: "none".into(),
                preparation_minutes: 20,
                licence_verified: true,
                insurance_verified: true,
                tax_id_verified: false,
                positive_reviews: 2,
                on_time_percent: 95,
                active: true,
                payout_account: None,
            },
        );
        round_trip(
            &["souk.orchestration.ProductUpserted"],
            &ProductUpserted {
                envelope: envelope.clone(),
                product_id: "p1".into(),
                partner_id: "pa".into(),
                name: "Red Flowers".into(),
                description: "A dozen red roses".into(),
                price: "50.00".parse().unwrap(),
                currency: "USD".into(),
                capabilities: vec!["florist".into()],
                inventory_count: -1,
                active: true,
                margin_percent: Some("12.50".parse().unwrap()),
            },
        );
        round_trip(&["souk.orchestration.ChatMessageReceived"], &ChatMessageReceived { envelope, bundle_id: "b1".into(), user_id: "u1".into(), text: "Yes, proceed".into() });
    }

    /// The Rust types and the .avsc files agree for every record of the negotiation topics.
    #[test]
    fn negotiation_records_round_trip_through_avro() {
        let envelope = Envelope::external("acme", "n1", 5);
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        let inputs = [
            NegotiationInput::NegotiationRequested(NegotiationRequested {
                envelope: envelope.clone(),
                negotiation_id: "n1".into(),
                bundle_id: "b1".into(),
                leg_id: "l1".into(),
                negotiation_type: "product_change".into(),
                partner_id: "pa".into(),
                partner_name: "Flower Shop A".into(),
                partner_contact: "1234567890".into(),
                original_item: "Red Flowers".into(),
                requested_item: "Pink Flowers".into(),
                original_price: d("50.00"),
                currency: "USD".into(),
                capabilities: vec!["florist".into()],
                is_jit: true,
                leg_starts_at: 7_200_000,
                deadline: 9_000_000,
                hard_locked: false,
                thread_id: "t1".into(),
            }),
            NegotiationInput::PartnerReplied(PartnerReplied {
                envelope: envelope.clone(),
                bundle_id: "b1".into(),
                partner_id: "pa".into(),
                negotiation_id: None,
                text: Some("No".into()),
                button_id: None,
            }),
            NegotiationInput::UserDecided(UserDecided { envelope: envelope.clone(), bundle_id: "b1".into(), negotiation_id: "n1".into(), approved: true, actor: "user".into() }),
            NegotiationInput::AlternativeFound(AlternativeFound {
                envelope: envelope.clone(),
                bundle_id: "b1".into(),
                negotiation_id: "n1".into(),
                partner_id: "pb".into(),
                partner_name: "Flower Shop B".into(),
                partner_contact: "1234567891".into(),
                product_id: "p2".into(),
                item: "Pink Flowers".into(),
                price: d("55.00"),
                delay_minutes: -5,
                partner_lat: Some(Degrees(40.758)),
                partner_lng: Some(Degrees(-73.9855)),
                preparation_minutes: Some(20),
                capabilities: vec!["florist".into()],
                margin_percent: None,
                payout_account: None,
            }),
            NegotiationInput::BundleRequested(BundleRequested {
                envelope: envelope.clone(),
                bundle_id: "b1".into(),
                user_id: "u1".into(),
                thread_id: "t1".into(),
                starts_at: 1_000,
                legs: vec![leg()],
            }),
            NegotiationInput::ChatIntentResolved(ChatIntentResolved {
                envelope: envelope.clone(),
                bundle_id: "b1".into(),
                user_id: "u1".into(),
                text: "I want pink flowers instead of red".into(),
                intent: "change_item".into(),
                requested_item: Some("pink flowers".into()),
                original_item: Some("red".into()),
                parser: "chat-offline-1".into(),
            }),
            NegotiationInput::HumanIntervened(HumanIntervened {
                envelope: envelope.clone(),
                command_id: "c1".into(),
                bundle_id: "b1".into(),
                negotiation_id: "n1".into(),
                actor: "maya".into(),
                text: "Hi, this is Maya from souk".into(),
            }),
            NegotiationInput::ItemAddRequested(ItemAddRequested {
                envelope: envelope.clone(),
                command_id: "c2".into(),
                bundle_id: "b1".into(),
                leg_id: "l1".into(),
                item: "Custom Chocolates".into(),
                product_id: "choc".into(),
                partner_id: "pc".into(),
                partner_name: "Chocolatier".into(),
                partner_lat: Degrees(40.688),
                partner_lng: Degrees(-73.9855),
                preparation_minutes: 30,
                price: d("12.00"),
                currency: "USD".into(),
            }),
            NegotiationInput::NoAlternativeFound(NoAlternativeFound { envelope: envelope.clone(), bundle_id: "b1".into(), negotiation_id: "n1".into(), reason: "none".into() }),
        ];
        for input in &inputs {
            round_trip(&INPUTS, input);
        }
        let events = [
            NegotiationEvent::NegotiationUpdated(NegotiationUpdated {
                envelope: envelope.clone(),
                negotiation_id: "n1".into(),
                bundle_id: "b1".into(),
                leg_id: "l1".into(),
                negotiation_type: "product_change".into(),
                status: "awaiting_user_approval".into(),
                partner_id: "pa".into(),
                counter_offer_count: 1,
                unclear_replies: 0,
                paused: false,
                proposal: Some("Red Roses".into()),
                proposal_price: Some(d("52.50")),
                reason: None,
                partner_contact: Some("1234567890".into()),
            }),
            NegotiationEvent::PartnerReplyClassified(PartnerReplyClassified {
                envelope: envelope.clone(),
                negotiation_id: "n1".into(),
                bundle_id: "b1".into(),
                partner_id: "pa".into(),
                text: Some("I can do it for 10% more".into()),
                button_id: None,
                classification: "counter_offer".into(),
                offered_item: None,
                offered_price: None,
                offered_change_percent: Some(d("10.00")),
                classifier: "offline-1".into(),
            }),
            NegotiationEvent::ResourcingRequested(ResourcingRequested {
                envelope: envelope.clone(),
                negotiation_id: "n1".into(),
                bundle_id: "b1".into(),
                leg_id: "l1".into(),
                exclude_partner_id: "pa".into(),
                requested_item: "Pink Flowers".into(),
                original_price: d("50.00"),
                min_price: d("40.00"),
                max_price: d("60.00"),
                currency: "USD".into(),
                capabilities: vec!["florist".into()],
                deadline: 9_000_000,
                destination_lat: Some(Degrees(40.75)),
                destination_lng: None,
                original_arrival_minutes: Some(35),
            }),
            NegotiationEvent::UserNotified(UserNotified {
                envelope: envelope.clone(),
                negotiation_id: "n1".into(),
                bundle_id: "b1".into(),
                thread_id: "t1".into(),
                kind: "recovery_proposal".into(),
                text: "…".into(),
            }),
            NegotiationEvent::LegReplaced(LegReplaced {
                envelope: envelope.clone(),
                negotiation_id: "n1".into(),
                bundle_id: "b1".into(),
                leg_id: "l1".into(),
                old_partner_id: "pa".into(),
                new_partner_id: "pb".into(),
                product_id: "p2".into(),
                item: "Pink Flowers".into(),
                price: d("55.00"),
                delay_minutes: 5,
                started_at: Some(1),
            }),
            NegotiationEvent::BundleUpdated(BundleUpdated {
                envelope: envelope.clone(),
                bundle_id: "b1".into(),
                user_id: "u1".into(),
                thread_id: "t1".into(),
                status: "open".into(),
                starts_at: 1_000,
                total_minutes: 35,
                legs: vec![BundleLeg { arrives_at: Some(2_101_000), ..leg() }],
            }),
            NegotiationEvent::ConflictSimulated(ConflictSimulated {
                envelope: envelope.clone(),
                command_id: "c2".into(),
                bundle_id: "b1".into(),
                leg_id: "l1".into(),
                leg_name: "Dinner Reservation".into(),
                item: "Custom Chocolates".into(),
                has_conflict: true,
                time_impact_minutes: 15,
                new_arrival: 5,
                deadline: 4,
                delay_minutes: 15,
                suggestion: Some("separate_delivery".into()),
                suggestion_message: Some("Adding …".into()),
                courier_cost: Some("12.99".parse().unwrap()),
            }),
        ];
        for event in &events {
            round_trip(&EVENTS, event);
        }
    }
}
