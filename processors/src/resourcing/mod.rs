//! Choosing a replacement for a leg whose partner refused a product change (rules R1, R2, B3):
//! the pure search the re-sourcing stage runs over the partners' products when a negotiation asks
//! (`ResourcingRequested`). Nothing is cancelled before this finds something.

pub use crate::geo::{distance_km, Location};

use rust_decimal::Decimal;
use std::cmp::Ordering;

/// One product some partner offers, with what ranking needs about the partner.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The product.
    pub product_id: String,
    /// Its name.
    pub name: String,
    /// Who sells it.
    pub partner_id: String,
    /// Its price, in the request's currency.
    pub price: Decimal,
    /// ISO 4217.
    pub currency: String,
    /// Capability tags of the product.
    pub capabilities: Vec<String>,
    /// Units in stock: −1 unlimited, 0 out of stock.
    pub inventory: i64,
    /// Where the partner is.
    pub location: Location,
    /// Epoch ms the partner could have it ready (now + preparation time).
    pub ready_at: i64,
    /// The partner's trust score, 0–100.
    pub trust: i32,
    /// The partner is hard-locked to another bundle's legs (never offered as a swap either).
    pub hard_locked: bool,
}

/// What the replacement must satisfy (from `ResourcingRequested`).
#[derive(Debug, Clone, PartialEq)]
pub struct Search {
    /// What the user asked for ("pink flowers"): every word of it must be in the product's name.
    pub item: String,
    /// The partner who refused.
    pub exclude_partner_id: String,
    /// Lowest acceptable price (0.8 × original).
    pub min_price: Decimal,
    /// Highest acceptable price (1.2 × original).
    pub max_price: Decimal,
    /// The original price (closeness is measured to it).
    pub original_price: Decimal,
    /// The request's currency.
    pub currency: String,
    /// Every one of these must be among the candidate's capabilities.
    pub capabilities: Vec<String>,
    /// Epoch ms the leg must be done by.
    pub deadline: i64,
    /// Where the leg is delivered (distance is measured from the partner to it).
    pub destination: Location,
}

/// Why a candidate is out (rules R1), for the record of a search that found nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Excluded {
    /// The partner who refused.
    SamePartner,
    /// Outside 0.8–1.2 × the original price, or in another currency.
    Price,
    /// Lacks a required capability.
    Capabilities,
    /// Nothing in stock.
    OutOfStock,
    /// A hard-locked partner.
    HardLocked,
    /// Not the item asked for.
    OtherItem,
}

/// The words of a name that identify it: lower case, 3 letters or more, a plural `s` dropped.
fn words(name: &str) -> Vec<String> {
    name.to_lowercase().split(|c: char| !c.is_alphanumeric()).filter(|w| w.chars().count() > 2).map(|w| w.strip_suffix('s').unwrap_or(w).to_string()).collect()
}

/// Whether a product called `name` is the item asked for: every word of `item` is in the name
/// ("pink flowers" is "Pink Flowers" and "Fresh pink flower bouquet", never "Red Flowers").
pub fn is_item(item: &str, name: &str) -> bool {
    let (wanted, has) = (words(item), words(name));
    !wanted.is_empty() && wanted.iter().all(|w| has.contains(w))
}

/// Whether `c` may replace the leg at all (rules R1); the first reason it may not.
pub fn admissible(search: &Search, c: &Candidate) -> Result<(), Excluded> {
    if c.partner_id == search.exclude_partner_id {
        return Err(Excluded::SamePartner);
    }
    if !is_item(&search.item, &c.name) {
        return Err(Excluded::OtherItem);
    }
    if c.hard_locked {
        return Err(Excluded::HardLocked);
    }
    if c.currency != search.currency || c.price < search.min_price || c.price > search.max_price {
        return Err(Excluded::Price);
    }
    if !search.capabilities.iter().all(|needed| c.capabilities.iter().any(|has| has.eq_ignore_ascii_case(needed))) {
        return Err(Excluded::Capabilities);
    }
    if c.inventory == 0 || c.inventory < -1 {
        return Err(Excluded::OutOfStock);
    }
    Ok(())
}

/// The admissible candidates, best first (rules R2): ready before the deadline, then price
/// closest to the original, then nearest to the destination, then highest trust, then product id
/// (so equal candidates always come out in the same order).
pub fn rank<'a>(search: &Search, candidates: &'a [Candidate]) -> Vec<&'a Candidate> {
    let mut fit: Vec<(&Candidate, f64)> = candidates.iter().filter(|c| admissible(search, c).is_ok()).map(|c| (c, distance_km(c.location, search.destination))).collect();
    fit.sort_by(|(a, da), (b, db)| {
        let late = |c: &Candidate| c.ready_at > search.deadline;
        late(a)
            .cmp(&late(b))
            .then_with(|| (a.price - search.original_price).abs().cmp(&(b.price - search.original_price).abs()))
            .then_with(|| da.partial_cmp(db).unwrap_or(Ordering::Equal))
            .then_with(|| b.trust.cmp(&a.trust))
            .then_with(|| a.product_id.cmp(&b.product_id))
    });
    fit.into_iter().map(|(c, _)| c).collect()
}

#[cfg(test)]
mod tests;
