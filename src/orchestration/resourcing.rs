//! The `resourcing` stage (rules R1, R2, B3): every `ResourcingRequested` on `negotiation.events`
//! is answered on `negotiation.inputs` with the best admissible replacement
//! (`AlternativeFound`, with its delay against the original leg) or `NoAlternativeFound` saying
//! why, searched in the partners and products tables as committed before the batch. Other events
//! on the topic are not its business. Partners who have not opted in to WhatsApp are never
//! proposed: souk could not send them the order.

use serde::{Deserialize, Serialize};
use souk_processors::geo::Location;
use souk_processors::resourcing::{admissible, rank, Candidate, Excluded, Search};
use souk_processors::time_chain::travel_minutes;
use souk_processors::trust::{score, TrustFacts};
use souk_producers::catalog::PartnerCatalog;
use souk_runtime::stage::{Stage, StageError, StageOutput};
use souk_schemas::bundles::{PartnerUpserted, ProductUpserted};
use souk_schemas::orchestration::{AlternativeFound, NegotiationEvent, NoAlternativeFound, ResourcingRequested};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The stage's name in topology.toml.
pub const NAME: &str = "resourcing";

/// What the stage writes (→ `answers`, `negotiation.inputs`). One value lives per answer, encoded
/// at once, so the size difference of its variants costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResourcingOutput {
    /// The replacement.
    AlternativeFound(AlternativeFound),
    /// Nothing fits.
    NoAlternativeFound(NoAlternativeFound),
}

souk_schemas::stream_event!(ResourcingOutput { AlternativeFound, NoAlternativeFound });

/// The stage over the catalog tables.
pub struct ResourcingStage {
    catalog: Arc<PartnerCatalog>,
}

impl ResourcingStage {
    /// A stage searching `catalog`.
    pub fn new(catalog: Arc<PartnerCatalog>) -> ResourcingStage {
        ResourcingStage { catalog }
    }
}

fn location(p: &PartnerUpserted) -> Location {
    Location { lat: p.lat.0, lng: p.lng.0 }
}

/// A product as a candidate, ready `preparation_minutes` after the request.
pub fn candidate(product: &ProductUpserted, partner: &PartnerUpserted, requested_at: i64) -> Candidate {
    let facts = TrustFacts {
        licence: partner.licence_verified,
        insurance: partner.insurance_verified,
        tax_id: partner.tax_id_verified,
        positive_reviews: partner.positive_reviews.max(0) as u32,
        on_time_percent: Some(partner.on_time_percent.clamp(0, 100) as u8),
    };
    Candidate {
        product_id: product.product_id.clone(),
        name: product.name.clone(),
        partner_id: partner.partner_id.clone(),
        price: product.price,
        currency: product.currency.clone(),
        capabilities: product.capabilities.clone(),
        inventory: product.inventory_count,
        location: location(partner),
        ready_at: requested_at + partner.preparation_minutes * 60_000,
        trust: score(&facts) as i32,
        hard_locked: partner.lock_type == "hard",
    }
}

/// The answer to one request from the tenant's offers (pure: the same request and offers give the
/// same answer).
pub fn answer(r: &ResourcingRequested, offers: &[(ProductUpserted, PartnerUpserted)]) -> ResourcingOutput {
    let envelope = r.envelope.derive(NAME, 0, r.envelope.occurred_at);
    let excluded_partner = offers.iter().find(|(_, p)| p.partner_id == r.exclude_partner_id).map(|(_, p)| location(p));
    let destination = match (r.destination_lat, r.destination_lng) {
        (Some(lat), Some(lng)) => Some(Location { lat: lat.0, lng: lng.0 }),
        _ => None,
    };
    let search = Search {
        item: r.requested_item.clone(),
        exclude_partner_id: r.exclude_partner_id.clone(),
        min_price: r.min_price,
        max_price: r.max_price,
        original_price: r.original_price,
        currency: r.currency.clone(),
        capabilities: r.capabilities.clone(),
        deadline: r.deadline,
        // Without a destination, nearness to the refusing partner stands in for it.
        destination: destination.or(excluded_partner).unwrap_or(Location { lat: 0.0, lng: 0.0 }),
    };
    let reachable: Vec<&(ProductUpserted, PartnerUpserted)> = offers.iter().filter(|(_, p)| p.opted_in).collect();
    let candidates: Vec<Candidate> = reachable.iter().map(|(product, partner)| candidate(product, partner, r.envelope.occurred_at)).collect();
    let Some(best) = rank(&search, &candidates).first().copied() else {
        let reason = why_none(&search, &candidates, offers.len() - reachable.len());
        return ResourcingOutput::NoAlternativeFound(NoAlternativeFound { envelope, bundle_id: r.bundle_id.clone(), negotiation_id: r.negotiation_id.clone(), reason });
    };
    let (product, partner) = reachable.iter().find(|(p, _)| p.product_id == best.product_id).map(|(a, b)| (a, b)).expect("ranked from these offers");
    let delay_minutes = match (destination, r.original_arrival_minutes) {
        (Some(to), Some(original)) => partner.preparation_minutes + travel_minutes(location(partner), to) - original,
        _ => 0,
    };
    ResourcingOutput::AlternativeFound(AlternativeFound {
        envelope,
        bundle_id: r.bundle_id.clone(),
        negotiation_id: r.negotiation_id.clone(),
        partner_id: partner.partner_id.clone(),
        partner_name: partner.name.clone(),
        partner_contact: partner.channel_id.clone(),
        product_id: product.product_id.clone(),
        item: product.name.clone(),
        price: product.price,
        delay_minutes,
        partner_lat: Some(partner.lat),
        partner_lng: Some(partner.lng),
        preparation_minutes: Some(partner.preparation_minutes),
        capabilities: product.capabilities.clone(),
        margin_percent: product.margin_percent,
        payout_account: partner.payout_account.clone(),
    })
}

/// Why nothing fits: how many candidates each rule excluded (rules R1), for the escalation.
fn why_none(search: &Search, candidates: &[Candidate], not_opted_in: usize) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for c in candidates {
        if let Err(why) = admissible(search, c) {
            let name = match why {
                Excluded::SamePartner => "the refusing partner",
                Excluded::HardLocked => "hard-locked",
                Excluded::OtherItem => "another item",
                Excluded::Price => "outside the price window",
                Excluded::Capabilities => "missing a capability",
                Excluded::OutOfStock => "out of stock",
            };
            *counts.entry(name).or_default() += 1;
        }
    }
    if not_opted_in > 0 {
        counts.insert("not opted in to WhatsApp", not_opted_in);
    }
    let window = format!("{} within {}–{} {}", search.item, search.min_price, search.max_price, search.currency);
    if counts.is_empty() {
        return format!("no partner offers {window}");
    }
    let detail: Vec<String> = counts.iter().map(|(why, n)| format!("{n} {why}")).collect();
    format!("no partner offers {window}; excluded: {}", detail.join(", "))
}

impl Stage for ResourcingStage {
    type Input = NegotiationEvent;
    type Output = ResourcingOutput;

    fn name(&self) -> &'static str {
        NAME
    }

    async fn before_batch(&self) -> Result<(), StageError> {
        self.catalog.catch_up().await.map_err(StageError::Transient)
    }

    async fn resolve(&self, key: &str, input: &NegotiationEvent) -> Result<Vec<StageOutput<ResourcingOutput>>, StageError> {
        let NegotiationEvent::ResourcingRequested(r) = input else { return Ok(Vec::new()) };
        let offers = self.catalog.offers(&r.envelope.tenant_id);
        Ok(vec![StageOutput { output: "answers", key: key.to_string(), event: answer(r, &offers) }])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;
    use souk_schemas::bundles::Degrees;
    use souk_schemas::Envelope;

    const T0: i64 = 1_705_320_000_000;

    fn partner(id: &str, name: &str, at: (f64, f64), contact: &str) -> PartnerUpserted {
        PartnerUpserted {
            envelope: Envelope::external("acme", id, T0),
            partner_id: id.into(),
            name: name.into(),
            business_type: "florist".into(),
            lat: Degrees(at.0),
            lng: Degrees(at.1),
            capabilities: vec!["florist".into()],
            channel: "whatsapp".into(),
            channel_id: contact.into(),
            opted_in: true,
            opens_at: "09:00".into(),
            closes_at: "17:00".into(),
            business_days: vec![1, 2, 3, 4, 5],
            lock_type: "none".into(),
            preparation_minutes: 20,
            licence_verified: true,
            insurance_verified: true,
            tax_id_verified: true,
            positive_reviews: 0,
            on_time_percent: 0,
            active: true,
            payout_account: None,
        }
    }

    fn product(id: &str, partner: &str, name: &str, price: &str) -> ProductUpserted {
        ProductUpserted {
            envelope: Envelope::external("acme", id, T0),
            product_id: id.into(),
            partner_id: partner.into(),
            name: name.into(),
            description: String::new(),
            price: price.parse().unwrap(),
            currency: "USD".into(),
            capabilities: vec!["florist".into()],
            inventory_count: 10,
            active: true,
            margin_percent: None,
        }
    }

    /// seed-000 §6.1's catalog, Partner B's pink flowers at `price`, with `adjust` applied to B.
    fn demo(price: &str, adjust: impl FnOnce(&mut PartnerUpserted)) -> Vec<(ProductUpserted, PartnerUpserted)> {
        let a = partner("partner-a", "Flower Shop A", (40.7128, -74.0060), "1234567890");
        let mut b = partner("partner-b", "Flower Shop B", (40.7580, -73.9855), "1234567891");
        adjust(&mut b);
        vec![(product("red-a", "partner-a", "Red Flowers", "50.00"), a), (product("pink-b", "partner-b", "Pink Flowers", price), b)]
    }

    fn request() -> ResourcingRequested {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        ResourcingRequested {
            envelope: Envelope::external("acme", "rr-1", T0),
            negotiation_id: "n1".into(),
            bundle_id: "b1".into(),
            leg_id: "leg-flowers".into(),
            exclude_partner_id: "partner-a".into(),
            requested_item: "pink flowers".into(),
            original_price: d("50.00"),
            min_price: d("40.00"),
            max_price: d("60.00"),
            currency: "USD".into(),
            capabilities: vec!["florist".into()],
            deadline: T0 + 3_600_000,
            destination_lat: Some(Degrees(40.7265)),
            destination_lng: Some(Degrees(-73.9950)),
            original_arrival_minutes: Some(26),
        }
    }

    fn reason(out: ResourcingOutput) -> String {
        match out {
            ResourcingOutput::NoAlternativeFound(n) => n.reason,
            other => panic!("expected nothing found, got {other:?}"),
        }
    }

    /// Partner B at 55.00 replaces Partner A, 5 minutes later at the destination.
    #[test]
    fn the_demo_finds_partner_b_with_its_delay() {
        let ResourcingOutput::AlternativeFound(found) = answer(&request(), &demo("55.00", |_| {})) else { panic!("partner B qualifies") };
        assert_eq!((found.partner_id.as_str(), found.item.as_str(), found.partner_contact.as_str()), ("partner-b", "Pink Flowers", "1234567891"));
        assert_eq!((found.price, found.delay_minutes, found.preparation_minutes), ("55.00".parse().unwrap(), 5, Some(20)));
        assert_eq!(found.envelope.causation_id.as_deref(), Some(request().envelope.event_id.as_str()), "the answer derives from the request");
        assert_eq!(answer(&request(), &demo("55.00", |_| {})), ResourcingOutput::AlternativeFound(found), "the same request and catalog give the same answer");
    }

    /// What keeps Partner B out, each named in the escalation's reason.
    #[rstest::rstest]
    #[case::price_61("61.00", (|_| {}) as fn(&mut PartnerUpserted), "1 outside the price window")]
    #[case::not_opted_in("55.00", (|b: &mut PartnerUpserted| b.opted_in = false) as fn(&mut PartnerUpserted), "1 not opted in to WhatsApp")]
    #[case::hard_locked("55.00", (|b: &mut PartnerUpserted| b.lock_type = "hard".into()) as fn(&mut PartnerUpserted), "1 hard-locked")]
    fn partner_b_is_excluded(#[case] price: &str, #[case] adjust: fn(&mut PartnerUpserted), #[case] why: &str) {
        let reason = reason(answer(&request(), &demo(price, adjust)));
        assert!(reason.starts_with("no partner offers pink flowers within 40.00–60.00 USD; excluded: "), "{reason}");
        assert!(reason.contains(why) && reason.contains("1 the refusing partner"), "{reason}");
    }
}
