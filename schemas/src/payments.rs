//! Checkout and escrow (docs/rules/checkout.md): the saga that turns a bundle into a paid order,
//! the calls it asks the payment provider to make, the provider's answers, and the escrow that
//! holds each leg's money until the leg is delivered.
//!
//! The saga lives in the bundle's keyed state (`<tenant>|<bundle id>`), so every input here is
//! keyed like the bundle: the request, the provider's results and delivery confirmations meet the
//! bundle's negotiations in one order.

use crate::envelope::Envelope;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Check out a bundle (rules CO1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckoutRequested {
    pub envelope: Envelope,
    pub checkout_id: String,
    pub bundle_id: String,
    /// The provider's payment method token (Stripe `pm_...`).
    pub payment_method: String,
    pub affiliate_id: Option<String>,
    /// The affiliate's payout account (Stripe `acct_...`).
    pub affiliate_account: Option<String>,
    /// The affiliate's share of the platform's commission, percent.
    pub affiliate_percent: Option<Decimal>,
    /// The standing intent that placed the order: told the outcome.
    pub intent_id: Option<String>,
}

/// One provider call, idempotent by `command_id` (sent as its `Idempotency-Key`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentCommand {
    pub envelope: Envelope,
    pub command_id: String,
    pub checkout_id: String,
    pub bundle_id: String,
    /// [`action`]'s names.
    pub action: String,
    pub amount: Decimal,
    pub currency: String,
    pub payment_method: Option<String>,
    pub payment_intent_id: Option<String>,
    /// A transfer's connected account.
    pub destination: Option<String>,
    /// A transfer's `partner` or `affiliate`; a refund's `user`.
    pub recipient_kind: Option<String>,
    pub leg_id: Option<String>,
}

/// The actions of a [`PaymentCommand`].
pub mod action {
    /// Authorise the total (a PaymentIntent with manual capture).
    pub const AUTHORIZE: &str = "authorize";
    /// Capture an authorised PaymentIntent.
    pub const CAPTURE: &str = "capture";
    /// Cancel an authorised, uncaptured PaymentIntent.
    pub const VOID: &str = "void";
    /// Refund part of a captured PaymentIntent.
    pub const REFUND: &str = "refund";
    /// Pay a connected account out of the platform's balance.
    pub const TRANSFER: &str = "transfer";
    /// Authorise and capture at once (a replacement leg).
    pub const CHARGE: &str = "charge";
    /// Every action.
    pub const ALL: [&str; 6] = [AUTHORIZE, CAPTURE, VOID, REFUND, TRANSFER, CHARGE];
}

/// What the provider answered to a [`PaymentCommand`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentResult {
    pub envelope: Envelope,
    pub command_id: String,
    pub checkout_id: String,
    pub bundle_id: String,
    pub action: String,
    pub leg_id: Option<String>,
    pub succeeded: bool,
    /// `pi_...`, `re_...` or `tr_...`.
    pub provider_id: Option<String>,
    pub provider_status: String,
    pub failure_code: Option<String>,
    pub failure_reason: Option<String>,
    pub amount: Decimal,
}

/// A leg's delivery confirmed (rules CO6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegDelivered {
    pub envelope: Envelope,
    pub bundle_id: String,
    pub leg_id: String,
    pub confirmed_by: String,
}

/// One leg of a checkout snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckoutLeg {
    pub leg_id: String,
    pub partner_id: String,
    pub partner_name: String,
    pub item: String,
    pub amount: Decimal,
    pub partner_share: Decimal,
    /// The platform's commission, the affiliate's share included.
    pub platform_fee: Decimal,
    pub affiliate_commission: Decimal,
    pub status: String,
    pub escrow_status: String,
    pub release_trigger: Option<String>,
    pub transfer_id: Option<String>,
    pub refund_id: Option<String>,
    /// A replacement leg charged on its own.
    pub payment_intent_id: Option<String>,
    /// The reservation request to the partner.
    pub negotiation_id: Option<String>,
}

/// A checkout's snapshot after every change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckoutUpdated {
    pub envelope: Envelope,
    pub checkout_id: String,
    pub bundle_id: String,
    pub user_id: String,
    pub thread_id: String,
    pub status: String,
    pub payment_status: String,
    pub escrow_status: String,
    pub total: Decimal,
    pub captured: Decimal,
    pub refunded: Decimal,
    pub released: Decimal,
    pub currency: String,
    pub payment_intent_id: Option<String>,
    pub platform_fee: Decimal,
    pub affiliate_id: Option<String>,
    pub affiliate_commission: Decimal,
    pub affiliate_status: String,
    pub reason: Option<String>,
    pub legs: Vec<CheckoutLeg>,
}

/// A standing intent's checkout ended (→ `intents.inputs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckoutFinished {
    pub envelope: Envelope,
    pub intent_id: String,
    pub checkout_id: String,
    pub bundle_id: String,
    pub succeeded: bool,
    pub reason: Option<String>,
}

/// `payments.commands`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PaymentCommandEvent {
    PaymentCommand(PaymentCommand),
}

crate::stream_event!(PaymentCommandEvent { PaymentCommand });

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orders::tests::round_trip;

    #[test]
    fn payment_records_round_trip_through_avro() {
        let envelope = Envelope::external("acme", "c1", 5);
        let command = PaymentCommand {
            envelope: envelope.clone(),
            command_id: "cmd-1".into(),
            checkout_id: "co-1".into(),
            bundle_id: "b1".into(),
            action: action::TRANSFER.into(),
            amount: "48.13".parse().unwrap(),
            currency: "EUR".into(),
            payment_method: None,
            payment_intent_id: Some("pi_1".into()),
            destination: Some("acct_1".into()),
            recipient_kind: Some("partner".into()),
            leg_id: Some("leg-1".into()),
        };
        round_trip(&["souk.payments.PaymentCommand"], &command);
        let leg = CheckoutLeg {
            leg_id: "leg-1".into(),
            partner_id: "p1".into(),
            partner_name: "Flower Shop A".into(),
            item: "Red roses".into(),
            amount: "55.00".parse().unwrap(),
            partner_share: "48.13".parse().unwrap(),
            platform_fee: "6.87".parse().unwrap(),
            affiliate_commission: "2.06".parse().unwrap(),
            status: "confirmed".into(),
            escrow_status: "held".into(),
            release_trigger: None,
            transfer_id: None,
            refund_id: None,
            payment_intent_id: None,
            negotiation_id: Some("res-1".into()),
        };
        let updated = CheckoutUpdated {
            envelope,
            checkout_id: "co-1".into(),
            bundle_id: "b1".into(),
            user_id: "u1".into(),
            thread_id: "thread-b1".into(),
            status: "paid".into(),
            payment_status: "captured".into(),
            escrow_status: "held".into(),
            total: "55.00".parse().unwrap(),
            captured: "55.00".parse().unwrap(),
            refunded: Decimal::ZERO,
            released: Decimal::ZERO,
            currency: "EUR".into(),
            payment_intent_id: Some("pi_1".into()),
            platform_fee: "6.87".parse().unwrap(),
            affiliate_id: Some("aff-1".into()),
            affiliate_commission: "2.06".parse().unwrap(),
            affiliate_status: "pending".into(),
            reason: None,
            legs: vec![leg],
        };
        let events = ["souk.orchestration.NegotiationUpdated", "souk.payments.CheckoutUpdated"];
        round_trip(&events, &crate::orchestration::NegotiationEvent::CheckoutUpdated(updated));
    }
}
