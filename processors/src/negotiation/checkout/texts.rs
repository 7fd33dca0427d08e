//! What the checkout saga says to partners and to the user's thread.

use super::state::PaidLeg;
use chrono::DateTime;
use rust_decimal::Decimal;

fn when(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms).map_or_else(|| ms.to_string(), |t| t.format("%Y-%m-%d %H:%M UTC").to_string())
}

/// Asks the partner to reserve the leg (sent with Accept / Decline).
pub fn reserve(l: &PaidLeg) -> String {
    let leg = &l.leg;
    format!(
        "Hello {}, a new order: {} at {} {}, to be delivered by {}. Can you reserve it for us? Please choose Accept or Decline.",
        leg.partner_name,
        leg.item,
        leg.price,
        leg.currency,
        when(leg.deadline)
    )
}

/// Asked once after a reply to a reservation that could not be read.
pub fn reserve_clarify(l: &PaidLeg) -> String {
    format!("Sorry, I didn't understand. Can you reserve {} for this order? Please choose Accept or Decline.", l.leg.item)
}

/// The order is firm: paid for, the partner's share held until delivery.
pub fn confirmed(l: &PaidLeg) -> String {
    format!("Order confirmed: {} at {} {} is paid. Your {} {} is released to you when the delivery is confirmed.", l.leg.item, l.leg.price, l.leg.currency, l.view.partner_share, l.leg.currency)
}

/// A reservation (answered or not) is no longer needed.
pub fn released(l: &PaidLeg, reason: &str) -> String {
    format!("The order for {} is not going ahead ({reason}). Please release the reservation. Thank you.", l.leg.item)
}

/// A confirmed order is called off before any money moved.
pub fn cancelled(l: &PaidLeg, reason: &str) -> String {
    format!("We are cancelling the confirmed order for {} ({reason}). Nothing will be charged. Thank you.", l.leg.item)
}

/// To the user: the checkout is paid.
pub fn paid(total: Decimal, currency: &str) -> String {
    format!("Payment of {total} {currency} received. Each partner is paid from escrow when their part is delivered.")
}

/// To the user: the checkout was compensated.
pub fn not_placed(reason: &str, voided: Option<(Decimal, &str)>) -> String {
    match voided {
        Some((total, currency)) => format!("Your order was not placed: {reason}. The hold of {total} {currency} on your card was released."),
        None => format!("Your order was not placed: {reason}. Nothing was charged."),
    }
}

/// To the user: a partner was paid out of escrow.
pub fn partner_paid(l: &PaidLeg, delivered: bool) -> String {
    let why = if delivered { "delivery confirmed" } else { "the bundle's time chain is complete" };
    format!("{} has been paid {} {} for {} ({why}).", l.leg.partner_name, l.view.partner_share, l.leg.currency, l.leg.item)
}

/// To the user: a replaced leg's money came back.
pub fn refunded(l: &PaidLeg) -> String {
    format!("{} {} for {} from {} has been refunded to you.", l.view.amount, l.leg.currency, l.leg.item, l.leg.partner_name)
}

/// To the user: a replacement leg was charged.
pub fn charged(l: &PaidLeg) -> String {
    format!("{} {} for {} from {} was charged; it is held in escrow until delivery.", l.view.amount, l.leg.currency, l.leg.item, l.leg.partner_name)
}

/// To the user: everything is settled.
pub const SETTLED: &str = "Every part of your order is delivered and settled.";
