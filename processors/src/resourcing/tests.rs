use super::*;
use rstest::rstest;
use rust_decimal_macros::dec;

const NOW: i64 = 1_705_320_000_000;
const HOUR: i64 = 3_600_000;
/// Partner A of the live demo (seed-000 §6.1), and the delivery point beside it.
const SHOP_A: Location = Location { lat: 40.7128, lng: -74.0060 };
const SHOP_B: Location = Location { lat: 40.7580, lng: -73.9855 };

fn search() -> Search {
    Search {
        item: "pink flowers".into(),
        exclude_partner_id: "partner-a".into(),
        min_price: dec!(40.00),
        max_price: dec!(60.00),
        original_price: dec!(50.00),
        currency: "USD".into(),
        capabilities: vec!["florist".into()],
        deadline: NOW + 2 * HOUR,
        destination: SHOP_A,
    }
}

fn candidate(id: &str, partner: &str, price: rust_decimal::Decimal) -> Candidate {
    Candidate {
        product_id: id.into(),
        name: "Pink Flowers".into(),
        partner_id: partner.into(),
        price,
        currency: "USD".into(),
        capabilities: vec!["florist".into(), "same_day".into()],
        inventory: 10,
        location: SHOP_B,
        ready_at: NOW + HOUR,
        trust: 70,
        hard_locked: false,
    }
}

/// §6.1: Partner B at 55.00 is inside 40.00–60.00; at 61.00 it is not (the demo's escalating variant).
#[rstest]
#[case::demo_partner_b(dec!(55.00), Ok(()))]
#[case::lowest(dec!(40.00), Ok(()))]
#[case::highest(dec!(60.00), Ok(()))]
#[case::above(dec!(61.00), Err(Excluded::Price))]
#[case::below(dec!(39.99), Err(Excluded::Price))]
fn the_price_window_is_inclusive(#[case] price: rust_decimal::Decimal, #[case] expected: Result<(), Excluded>) {
    assert_eq!(admissible(&search(), &candidate("p", "partner-b", price)), expected);
}

#[rstest]
#[case::same_partner(|c: &mut Candidate| c.partner_id = "partner-a".into(), Excluded::SamePartner)]
#[case::hard_locked(|c: &mut Candidate| c.hard_locked = true, Excluded::HardLocked)]
#[case::other_currency(|c: &mut Candidate| c.currency = "EUR".into(), Excluded::Price)]
#[case::missing_capability(|c: &mut Candidate| c.capabilities = vec!["bakery".into()], Excluded::Capabilities)]
#[case::out_of_stock(|c: &mut Candidate| c.inventory = 0, Excluded::OutOfStock)]
#[case::another_item(|c: &mut Candidate| c.name = "Red Flowers".into(), Excluded::OtherItem)]
fn what_excludes_a_candidate(#[case] change: fn(&mut Candidate), #[case] why: Excluded) {
    let mut c = candidate("p", "partner-b", dec!(55.00));
    change(&mut c);
    assert_eq!(admissible(&search(), &c), Err(why));
}

#[test]
fn unlimited_stock_and_extra_capabilities_are_fine() {
    let mut c = candidate("p", "partner-b", dec!(55.00));
    c.inventory = -1;
    c.capabilities = vec!["FLORIST".into(), "delivery".into()];
    assert_eq!(admissible(&search(), &c), Ok(()));
}

/// Rules R2, each criterion deciding between two otherwise equal candidates.
#[rstest]
#[case::ready_before_the_deadline_first(|a: &mut Candidate, b: &mut Candidate| { a.ready_at = NOW + 3 * HOUR; a.price = dec!(50.00); b.price = dec!(59.00); }, "b")]
#[case::then_price_closeness(|a: &mut Candidate, b: &mut Candidate| { a.price = dec!(44.00); b.price = dec!(53.00); }, "b")]
#[case::closeness_counts_both_ways(|a: &mut Candidate, b: &mut Candidate| { a.price = dec!(47.00); b.price = dec!(54.00); }, "a")]
#[case::then_distance(|a: &mut Candidate, b: &mut Candidate| { a.location = Location { lat: 41.0, lng: -74.5 }; b.trust = 10; }, "b")]
#[case::then_trust(|a: &mut Candidate, b: &mut Candidate| { a.trust = 60; b.trust = 90; }, "b")]
#[case::then_product_id(|_: &mut Candidate, _: &mut Candidate| {}, "a")]
fn candidates_rank_in_the_order_of_b3(#[case] shape: fn(&mut Candidate, &mut Candidate), #[case] first: &str) {
    let (mut a, mut b) = (candidate("a", "partner-b", dec!(55.00)), candidate("b", "partner-c", dec!(55.00)));
    shape(&mut a, &mut b);
    for order in [vec![a.clone(), b.clone()], vec![b.clone(), a.clone()]] {
        assert_eq!(rank(&search(), &order)[0].product_id, first, "whatever the input order");
    }
}

#[test]
fn the_demo_finds_partner_b_and_nothing_at_61() {
    let partner_a_pink = candidate("a-pink", "partner-a", dec!(50.00));
    let b = candidate("b-pink", "partner-b", dec!(55.00));
    let offered = [partner_a_pink.clone(), b];
    let ranked = rank(&search(), &offered);
    assert_eq!(ranked.iter().map(|c| c.product_id.as_str()).collect::<Vec<_>>(), ["b-pink"]);
    assert!(rank(&search(), &[partner_a_pink, candidate("b-pink", "partner-b", dec!(61.00))]).is_empty());
}

#[test]
fn the_demo_shops_are_about_5_km_apart() {
    let km = distance_km(SHOP_A, SHOP_B);
    assert!((5.2..5.5).contains(&km), "{km}");
    assert_eq!(distance_km(SHOP_A, SHOP_A), 0.0);
}

proptest::proptest! {
    /// Ranking keeps exactly the admissible candidates, and its order does not depend on the input order.
    #[test]
    fn ranking_is_a_filter_and_a_total_order(prices in proptest::collection::vec(3000i64..7000, 1..8), rotate in 0usize..8) {
        let all: Vec<Candidate> = prices.iter().enumerate().map(|(i, p)| {
            let mut c = candidate(&format!("p{i}"), &format!("partner-{}", i % 3), rust_decimal::Decimal::new(*p, 2));
            c.trust = (i as i32 * 37) % 100;
            c
        }).collect();
        let mut rotated = all.clone();
        rotated.rotate_left(rotate % all.len());
        let ids = |v: Vec<&Candidate>| v.into_iter().map(|c| c.product_id.clone()).collect::<Vec<_>>();
        let ranked = ids(rank(&search(), &all));
        proptest::prop_assert_eq!(&ranked, &ids(rank(&search(), &rotated)));
        proptest::prop_assert_eq!(ranked.len(), all.iter().filter(|c| admissible(&search(), c).is_ok()).count());
    }
}

/// The item asked for is found by its words, in any case, singular or plural, among other words.
#[rstest]
#[case::same_name("pink flowers", "Pink Flowers", true)]
#[case::singular("pink flowers", "Fresh pink flower bouquet", true)]
#[case::other_colour("pink flowers", "Red Flowers", false)]
#[case::half_the_words("pink flowers", "Pink balloons", false)]
#[case::nothing_asked("", "Pink Flowers", false)]
fn the_item_asked_for_is_matched_by_its_words(#[case] item: &str, #[case] name: &str, #[case] expected: bool) {
    assert_eq!(crate::resourcing::is_item(item, name), expected);
}
