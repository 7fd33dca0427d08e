//! What negotiations say to partners and users (rules N5, B3: the source's narratives).

use rust_decimal::Decimal;
use souk_schemas::orchestration::{AlternativeFound, NegotiationRequested};

/// The request to the partner (sent with Accept / Decline / Modify).
pub fn partner_request(r: &NegotiationRequested) -> String {
    match r.negotiation_type.as_str() {
        "product_change" => format!("Hello {}, a customer would like {} instead of {} for their order. Can you provide it?", r.partner_name, r.requested_item, r.original_item),
        "price_negotiation" => format!("Hello {}, a customer asks about the price of {} ({} {} now). Can you do {}?", r.partner_name, r.original_item, r.original_price, r.currency, r.requested_item),
        _ => format!("Hello {}, a customer asks to change the timing of {}: {}. Is that possible?", r.partner_name, r.original_item, r.requested_item),
    }
}

/// Asked once after a reply that could not be read.
pub fn partner_clarify(r: &NegotiationRequested) -> String {
    format!("Sorry, I didn't understand. Can you provide {}? Please choose Accept, Decline or Modify.", r.requested_item)
}

/// To the partner when the user takes their counter-offer.
pub fn partner_counter_accepted(item: &str, price: Option<Decimal>, currency: &str) -> String {
    match price {
        Some(p) => format!("Great, please go ahead with {item} at {p} {currency}."),
        None => format!("Great, please go ahead with {item}."),
    }
}

/// To the partner when the user keeps the order as it was.
pub fn partner_counter_declined(r: &NegotiationRequested) -> String {
    format!("Thank you. The customer keeps {} as ordered.", r.original_item)
}

/// To the original partner once the replacement is approved (rules B3: only now is anything cancelled).
pub fn partner_cancelled(r: &NegotiationRequested) -> String {
    format!("We are cancelling {} for this order: Partner unable to fulfill change request. Thank you.", r.original_item)
}

/// The order to the replacement partner (sent with Accept / Decline).
pub fn partner_new_order(a: &AlternativeFound, currency: &str) -> String {
    format!("Hello {}, new order: {} at {} {currency}. Can you confirm?", a.partner_name, a.item, a.price)
}

/// To the user: the partner agreed.
pub fn user_accepted(r: &NegotiationRequested) -> String {
    format!("Good news: {} can provide {}.", r.partner_name, r.requested_item)
}

/// To the user: a counter-offer to approve.
pub fn user_counter_offer(r: &NegotiationRequested, item: &str, price: Option<Decimal>) -> String {
    let priced = price.map(|p| format!(" for {p} {}", r.currency)).unwrap_or_default();
    format!("{} can't provide {}, but offers {item}{priced}. Should I accept?", r.partner_name, r.requested_item)
}

/// To the user: the counter-offer is taken.
pub fn user_counter_taken(partner: &str, item: &str) -> String {
    format!("Done: {partner} will provide {item}.")
}

/// To the user: nothing changed (rules B3a).
pub fn user_kept(r: &NegotiationRequested) -> String {
    format!("OK, your order stays as it was: {} from {}.", r.original_item, r.partner_name)
}

/// To the user: the partner refused a change that is not re-sourced.
pub fn user_rejected(r: &NegotiationRequested) -> String {
    format!("{} can't provide {}; your order stays as it was.", r.partner_name, r.requested_item)
}

/// To the user: the replacement and what it does to the timeline (the source's three narratives).
pub fn user_recovery(r: &NegotiationRequested, a: &AlternativeFound) -> String {
    let new = a.item.to_lowercase();
    let original = r.original_item.to_lowercase();
    match a.delay_minutes {
        d if d > 0 => format!("I've found {new} from a different vendor to replace {original}. The new timeline shows a {d}-minute delay. Should I proceed?"),
        d if d < 0 => format!("Great news! I found {new} from a different vendor, and it actually improves your timeline by {} minutes! Should I proceed?", -d),
        _ => format!("I've found {new} from a different vendor to replace {original}. Your timeline remains unchanged. Should I proceed?"),
    }
}

/// To the user: the replacement partner confirmed.
pub fn user_recovered(a: &AlternativeFound) -> String {
    format!("Your bundle is updated: {} from {} is confirmed.", a.item, a.partner_name)
}

/// To the user: a person takes over.
pub fn user_escalated(r: &NegotiationRequested) -> String {
    format!("A person from our team is taking over the request to {} and will get back to you.", r.partner_name)
}
