//! How discovery ranks a tenant's products (seed-000 module 20, docs/rules/discovery.md): the
//! weights of the four signals and partner-level promotions, both kept whole on the compacted
//! topic `discovery.ranking` (weights keyed `<tenant>`, promotions `<tenant>|<partner>`), so an
//! admin's change takes effect on the next query without a restart.

use crate::envelope::Envelope;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The weights of relevance, boost, quality and margin; they sum to 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RankingWeightsSet {
    pub envelope: Envelope,
    pub relevance: Decimal,
    pub boost: Decimal,
    pub quality: Decimal,
    pub margin: Decimal,
}

/// A partner-level promotion (the source's `promotion_weights` without a bundle).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerPromoted {
    pub envelope: Envelope,
    pub partner_id: String,
    /// `sponsored`, `featured`, `verified` or `margin_optimized`.
    pub promotion_type: String,
    /// Multiplier of the type's base boost.
    pub weight: Decimal,
    /// Epoch ms; `None` = already running.
    #[serde(default)]
    pub starts_at: Option<i64>,
    /// Epoch ms, exclusive; `None` = open-ended.
    #[serde(default)]
    pub ends_at: Option<i64>,
    /// `false` = withdrawn.
    pub active: bool,
}

/// `discovery.ranking`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RankingEvent {
    RankingWeightsSet(RankingWeightsSet),
    PartnerPromoted(PartnerPromoted),
}

crate::stream_event!(RankingEvent { RankingWeightsSet, PartnerPromoted });

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orders::tests::round_trip;

    const RECORDS: [&str; 2] = ["souk.discovery.RankingWeightsSet", "souk.discovery.PartnerPromoted"];

    #[test]
    fn ranking_records_round_trip_through_avro() {
        let envelope = Envelope::external("acme", "cmd-1", 1_000);
        round_trip(
            &RECORDS,
            &RankingEvent::RankingWeightsSet(RankingWeightsSet {
                envelope: envelope.clone(),
                relevance: "0.40".parse().unwrap(),
                boost: "0.30".parse().unwrap(),
                quality: "0.20".parse().unwrap(),
                margin: "0.10".parse().unwrap(),
            }),
        );
        round_trip(
            &RECORDS,
            &RankingEvent::PartnerPromoted(PartnerPromoted {
                envelope,
                partner_id: "p1".into(),
                promotion_type: "sponsored".into(),
                weight: "1.50".parse().unwrap(),
                starts_at: Some(5),
                ends_at: None,
                active: true,
            }),
        );
    }
}
