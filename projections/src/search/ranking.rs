//! Discovery's ranking (docs/rules/discovery.md, D2–D3), pure: the same candidates, weights and
//! time always give the same order. Final = relevance·w1 + boost·w2 + quality·w3 + margin·w4, each
//! signal in [0, 1]:
//! - relevance: the text score over the best candidate's (1 for all when the query is empty);
//! - boost: the strongest running promotion of the partner, its type's base times its weight,
//!   capped at 1; a White Glove partner has at least the `verified` base;
//! - quality: the partner's trust score / 100;
//! - margin: the platform's commission in money over the best candidate's (0 when none earns).
//!
//! Ties go to the nearer partner (when a location is given), then to the product id.

use super::marketplace::{PartnerDoc, ProductDoc, PromotionDoc, Weights};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::Serialize;

/// A product that matched the query, with what ranking needs about its partner.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The product.
    pub product: ProductDoc,
    /// Its partner.
    pub partner: PartnerDoc,
    /// The text score (BM25).
    pub text_score: f32,
    /// The partner's promotions (running or not).
    pub promotions: Vec<PromotionDoc>,
    /// Kilometres from the asked location, when one was given.
    pub distance_km: Option<f64>,
}

/// The four signals of one candidate and its final score.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Signals {
    /// Text relevance in [0, 1].
    pub relevance: f64,
    /// Promotion boost in [0, 1].
    pub boost: f64,
    /// Trust in [0, 1].
    pub quality: f64,
    /// Margin in [0, 1].
    pub margin: f64,
    /// The weighted sum.
    pub score: f64,
}

/// The boost a promotion type gives before its weight (the source: sponsored "highest priority",
/// verified "moderate", margin-optimised "calculated"; featured sits between the first two).
pub fn base_boost(promotion_type: &str) -> f64 {
    match promotion_type {
        "sponsored" => 1.0,
        "featured" => 0.8,
        "verified" => 0.6,
        "margin_optimized" => 0.4,
        _ => 0.0,
    }
}

/// The partner's boost at `now`.
pub fn boost(partner: &PartnerDoc, promotions: &[PromotionDoc], now: i64) -> f64 {
    let white_glove = if partner.white_glove { base_boost("verified") } else { 0.0 };
    promotions.iter().filter(|p| p.partner_id == partner.partner_id && p.runs_at(now)).map(|p| base_boost(&p.promotion_type) * p.weight.to_f64().unwrap_or(0.0)).fold(white_glove, f64::max).min(1.0)
}

/// The platform's margin on a product in money.
pub fn margin_amount(product: &ProductDoc) -> Decimal {
    product.price * product.margin_percent.unwrap_or_default() / Decimal::ONE_HUNDRED
}

/// The candidates best first, each with its signals.
pub fn rank(candidates: Vec<Candidate>, weights: &Weights, now: i64) -> Vec<(Candidate, Signals)> {
    let best_text = candidates.iter().map(|c| c.text_score).fold(0.0f32, f32::max);
    let best_margin = candidates.iter().map(|c| margin_amount(&c.product)).max().unwrap_or_default();
    let w = |d: Decimal| d.to_f64().unwrap_or(0.0);
    let mut scored: Vec<(Candidate, Signals)> = candidates
        .into_iter()
        .map(|c| {
            let relevance = if best_text > 0.0 { f64::from(c.text_score / best_text) } else { 1.0 };
            let boost = boost(&c.partner, &c.promotions, now);
            let quality = f64::from(c.partner.trust_score.min(100)) / 100.0;
            let margin = if best_margin > Decimal::ZERO { (margin_amount(&c.product) / best_margin).to_f64().unwrap_or(0.0) } else { 0.0 };
            let score = w(weights.relevance) * relevance + w(weights.boost) * boost + w(weights.quality) * quality + w(weights.margin) * margin;
            (c, Signals { relevance, boost, quality, margin, score })
        })
        .collect();
    scored.sort_by(|(a, sa), (b, sb)| {
        sb.score
            .total_cmp(&sa.score)
            .then_with(|| a.distance_km.unwrap_or(f64::INFINITY).total_cmp(&b.distance_km.unwrap_or(f64::INFINITY)))
            .then_with(|| a.product.product_id.cmp(&b.product.product_id))
    });
    scored
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn partner(id: &str, trust: u32) -> PartnerDoc {
        PartnerDoc {
            tenant: "acme".into(),
            partner_id: id.into(),
            name: id.into(),
            business_type: "florist".into(),
            lat: 0.0,
            lng: 0.0,
            capabilities: vec![],
            trust_score: trust,
            white_glove: trust >= 70,
            preparation_minutes: 10,
            occurred_at: 0,
        }
    }

    fn product(id: &str, partner: &str, price: &str, margin: Option<&str>) -> ProductDoc {
        ProductDoc {
            tenant: "acme".into(),
            product_id: id.into(),
            partner_id: partner.into(),
            name: id.into(),
            description: String::new(),
            price: price.parse().unwrap(),
            currency: "USD".into(),
            capabilities: vec![],
            inventory_count: -1,
            margin_percent: margin.map(|m| m.parse().unwrap()),
            occurred_at: 0,
        }
    }

    fn promotion(partner: &str, kind: &str, weight: &str, starts_at: Option<i64>, ends_at: Option<i64>) -> PromotionDoc {
        PromotionDoc { tenant: "acme".into(), partner_id: partner.into(), promotion_type: kind.into(), weight: weight.parse().unwrap(), starts_at, ends_at, occurred_at: 0 }
    }

    fn candidate(product: ProductDoc, partner: PartnerDoc, text_score: f32, promotions: Vec<PromotionDoc>) -> Candidate {
        Candidate { product, partner, text_score, promotions, distance_km: None }
    }

    fn ids(ranked: &[(Candidate, Signals)]) -> Vec<&str> {
        ranked.iter().map(|(c, _)| c.product.product_id.as_str()).collect()
    }

    #[rstest]
    #[case::none(vec![], 0.0)]
    #[case::sponsored(vec![promotion("p", "sponsored", "1.00", None, None)], 1.0)]
    #[case::featured_half(vec![promotion("p", "featured", "0.50", None, None)], 0.4)]
    #[case::capped_at_one(vec![promotion("p", "verified", "3.00", None, None)], 1.0)]
    #[case::strongest_wins(vec![promotion("p", "margin_optimized", "1.00", None, None), promotion("p", "featured", "1.00", None, None)], 0.8)]
    #[case::not_started(vec![promotion("p", "sponsored", "1.00", Some(101), None)], 0.0)]
    #[case::ended_exclusive(vec![promotion("p", "sponsored", "1.00", None, Some(100))], 0.0)]
    #[case::running(vec![promotion("p", "sponsored", "1.00", Some(100), Some(101))], 1.0)]
    #[case::another_partners(vec![promotion("q", "sponsored", "1.00", None, None)], 0.0)]
    fn boost_of_an_ordinary_partner_at_100(#[case] promotions: Vec<PromotionDoc>, #[case] expected: f64) {
        assert!((boost(&partner("p", 45), &promotions, 100) - expected).abs() < 1e-9);
    }

    #[test]
    fn white_glove_partners_have_the_verified_boost_at_least() {
        assert!((boost(&partner("p", 70), &[], 0) - 0.6).abs() < 1e-9);
        assert!((boost(&partner("p", 70), &[promotion("p", "sponsored", "1.00", None, None)], 0) - 1.0).abs() < 1e-9);
    }

    /// Default weights: relevance decides between equals; a sponsored partner overtakes a slightly
    /// more relevant one; trust and margin break the rest.
    #[test]
    fn the_weighted_sum_orders_the_candidates() {
        let w = Weights::default();
        let ranked = rank(
            vec![
                candidate(product("a", "pa", "50.00", None), partner("pa", 45), 2.0, vec![]),
                candidate(product("b", "pb", "55.00", None), partner("pb", 45), 1.8, vec![promotion("pb", "sponsored", "1.00", None, None)]),
                candidate(product("c", "pc", "50.00", None), partner("pc", 100), 1.0, vec![]),
            ],
            &w,
            0,
        );
        // a: 0.4·1 + 0.2·0.45 = 0.49; b: 0.4·0.9 + 0.3·1 + 0.2·0.45 = 0.75; c: 0.4·0.5 + 0.3·0.6 + 0.2·1 = 0.58
        assert_eq!(ids(&ranked), ["b", "c", "a"]);
        let (_, b) = ranked[0];
        assert!((b.score - 0.75).abs() < 1e-6, "{b:?}");
    }

    #[rstest]
    #[case::relevance_only("1.00", "0.00", "0.00", "0.00", ["a", "b", "c"])]
    #[case::boost_only("0.00", "1.00", "0.00", "0.00", ["b", "c", "a"])]
    #[case::quality_only("0.00", "0.00", "1.00", "0.00", ["c", "a", "b"])]
    #[case::margin_only("0.00", "0.00", "0.00", "1.00", ["a", "b", "c"])]
    fn changing_the_weights_changes_the_order(#[case] relevance: &str, #[case] boost: &str, #[case] quality: &str, #[case] margin: &str, #[case] expected: [&str; 3]) {
        let w = Weights { relevance: relevance.parse().unwrap(), boost: boost.parse().unwrap(), quality: quality.parse().unwrap(), margin: margin.parse().unwrap() };
        let ranked = rank(
            vec![
                candidate(product("a", "pa", "50.00", Some("20")), partner("pa", 50), 3.0, vec![]),
                candidate(product("b", "pb", "50.00", Some("10")), partner("pb", 40), 2.0, vec![promotion("pb", "sponsored", "1.00", None, None)]),
                candidate(product("c", "pc", "50.00", None), partner("pc", 90), 1.0, vec![]),
            ],
            &w,
            0,
        );
        assert_eq!(ids(&ranked), expected);
    }

    #[test]
    fn ties_go_to_the_nearer_partner_then_the_product_id() {
        let mut far = candidate(product("a", "pa", "50.00", None), partner("pa", 50), 1.0, vec![]);
        far.distance_km = Some(9.0);
        let mut near = candidate(product("b", "pb", "50.00", None), partner("pb", 50), 1.0, vec![]);
        near.distance_km = Some(1.0);
        let unknown = candidate(product("c", "pc", "50.00", None), partner("pc", 50), 1.0, vec![]);
        assert_eq!(ids(&rank(vec![unknown.clone(), far.clone(), near.clone()], &Weights::default(), 0)), ["b", "a", "c"]);
        let twin = candidate(product("0", "pd", "50.00", None), partner("pd", 50), 1.0, vec![]);
        assert_eq!(ids(&rank(vec![unknown, twin], &Weights::default(), 0)), ["0", "c"]);
    }

    #[test]
    fn an_empty_query_makes_relevance_equal_and_no_margin_makes_it_zero() {
        let ranked = rank(vec![candidate(product("a", "pa", "50.00", None), partner("pa", 50), 0.0, vec![])], &Weights::default(), 0);
        let (_, s) = ranked[0];
        assert_eq!((s.relevance, s.margin), (1.0, 0.0));
    }
}
