//! A partner's trust score (rules T1): what verification and track record earn, capped at 100, and
//! the White Glove tier at 70. Recomputed from the partner's facts whenever one of them changes.

/// What the score is computed from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrustFacts {
    /// A verified business licence (+20).
    pub licence: bool,
    /// Verified insurance (+15).
    pub insurance: bool,
    /// A verified tax id (+10).
    pub tax_id: bool,
    /// Positive reviews (+5 each).
    pub positive_reviews: u32,
    /// On-time delivery rate in whole percent, 0–100 (+1 per point); `None` before any delivery.
    pub on_time_percent: Option<u8>,
}

/// The highest score.
pub const MAX_SCORE: u32 = 100;
/// From this score a partner is White Glove (prioritised in discovery).
pub const WHITE_GLOVE_AT: u32 = 70;

/// The score, 0–100.
pub fn score(f: &TrustFacts) -> u32 {
    let verified = [(f.licence, 20), (f.insurance, 15), (f.tax_id, 10)].iter().filter(|(has, _)| *has).map(|(_, points)| points).sum::<u32>();
    let reviews = f.positive_reviews.saturating_mul(5);
    let on_time = u32::from(f.on_time_percent.unwrap_or(0).min(100));
    verified.saturating_add(reviews).saturating_add(on_time).min(MAX_SCORE)
}

/// White Glove tier.
pub fn is_white_glove(f: &TrustFacts) -> bool {
    score(f) >= WHITE_GLOVE_AT
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const VERIFIED: TrustFacts = TrustFacts { licence: true, insurance: true, tax_id: true, positive_reviews: 0, on_time_percent: None };

    /// seed-000 §6.6's worked example, step by step, and the edges of the tier.
    #[rstest]
    #[case::nothing(TrustFacts::default(), 0, false)]
    #[case::licence_insurance_tax(VERIFIED, 45, false)]
    #[case::plus_two_reviews(TrustFacts { positive_reviews: 2, ..VERIFIED }, 55, false)]
    #[case::plus_on_time_95_capped(TrustFacts { positive_reviews: 2, on_time_percent: Some(95), ..VERIFIED }, 100, true)]
    #[case::just_below_white_glove(TrustFacts { on_time_percent: Some(24), ..VERIFIED }, 69, false)]
    #[case::exactly_white_glove(TrustFacts { on_time_percent: Some(25), ..VERIFIED }, 70, true)]
    #[case::reviews_alone(TrustFacts { positive_reviews: 30, ..TrustFacts::default() }, 100, true)]
    #[case::licence_only(TrustFacts { licence: true, ..TrustFacts::default() }, 20, false)]
    fn scores_follow_the_rules(#[case] facts: TrustFacts, #[case] expected: u32, #[case] white_glove: bool) {
        assert_eq!((score(&facts), is_white_glove(&facts)), (expected, white_glove));
    }

    proptest::proptest! {
        /// Never above 100, and no fact ever lowers the score.
        #[test]
        fn bounded_and_monotone(reviews in 0u32..u32::MAX, on_time in 0u8..=255, extra in 0u32..50) {
            let f = TrustFacts { positive_reviews: reviews, on_time_percent: Some(on_time), ..VERIFIED };
            proptest::prop_assert!(score(&f) <= MAX_SCORE);
            let more = TrustFacts { positive_reviews: reviews.saturating_add(extra), ..f };
            proptest::prop_assert!(score(&more) >= score(&f));
        }
    }
}
