//! Table tests of rules A2 allocation and of the holds-vs-on-hand arithmetic.

use super::*;
use rstest::rstest;
use rust_decimal_macros::dec;

/// (batch_id, received_at, rolls, meters_per_roll, loose)
type B = (&'static str, i64, i32, Decimal, Decimal);
/// (batch_id, rolls, loose, cut, meters)
type A = (&'static str, i32, Decimal, Decimal, Decimal);

fn pool(batches: &[B]) -> Vec<Stock> {
    batches.iter().map(|(id, at, rolls, mpr, loose)| Stock { batch_id: id.to_string(), received_at: *at, rolls: *rolls, meters_per_roll: *mpr, loose_meters: *loose }).collect()
}

fn allocs(expected: &[A]) -> Vec<BatchAllocation> {
    expected.iter().map(|(id, rolls, loose, cut, meters)| BatchAllocation { batch_id: id.to_string(), rolls: *rolls, loose_meters: *loose, cut_meters: *cut, meters: *meters }).collect()
}

#[rstest]
#[case::single_batch_preferred_over_split(
    &[("b1", 1, 1, dec!(10), dec!(0)), ("b2", 2, 3, dec!(10), dec!(0))], dec!(25),
    Some(vec![("b2", 2, dec!(0), dec!(5), dec!(25))]))]
#[case::first_fitting_batch_wins(
    &[("b1", 1, 5, dec!(10), dec!(0)), ("b2", 2, 5, dec!(10), dec!(0))], dec!(25),
    Some(vec![("b1", 2, dec!(0), dec!(5), dec!(25))]))]
#[case::roll_cut_remnant_to_loose(
    &[("b1", 1, 2, dec!(10), dec!(0))], dec!(13),
    Some(vec![("b1", 1, dec!(0), dec!(3), dec!(13))]))]
#[case::loose_first_when_it_covers(
    &[("b1", 1, 2, dec!(10), dec!(6))], dec!(5),
    Some(vec![("b1", 0, dec!(5), dec!(0), dec!(5))]))]
#[case::loose_first_even_above_a_roll(
    &[("b1", 1, 2, dec!(10), dec!(15))], dec!(12),
    Some(vec![("b1", 0, dec!(12), dec!(0), dec!(12))]))]
#[case::whole_rolls_then_loose_then_cut(
    &[("b1", 1, 3, dec!(10), dec!(4))], dec!(27),
    Some(vec![("b1", 2, dec!(4), dec!(3), dec!(27))]))]
#[case::fewer_rolls_than_floor_then_loose(
    &[("b1", 1, 1, dec!(10), dec!(8))], dec!(18),
    Some(vec![("b1", 1, dec!(8), dec!(0), dec!(18))]))]
#[case::fifo_split_across_batches(
    &[("b3", 3, 0, dec!(10), dec!(5)), ("b1", 1, 1, dec!(10), dec!(2)), ("b2", 2, 1, dec!(10), dec!(0))], dec!(20),
    Some(vec![("b1", 1, dec!(2), dec!(0), dec!(12)), ("b2", 0, dec!(0), dec!(8), dec!(8))]))]
#[case::split_skips_empty_batches(
    &[("b1", 1, 0, dec!(10), dec!(0)), ("b2", 2, 0, dec!(10), dec!(4)), ("b3", 3, 0, dec!(10), dec!(4))], dec!(6),
    Some(vec![("b2", 0, dec!(4), dec!(0), dec!(4)), ("b3", 0, dec!(2), dec!(0), dec!(2))]))]
#[case::received_at_tie_broken_by_batch_id(
    &[("b", 5, 2, dec!(10), dec!(0)), ("a", 5, 2, dec!(10), dec!(0))], dec!(15),
    Some(vec![("a", 1, dec!(0), dec!(5), dec!(15))]))]
#[case::earlier_received_at_beats_smaller_batch_id(
    &[("a", 9, 2, dec!(10), dec!(0)), ("z", 1, 2, dec!(10), dec!(0))], dec!(15),
    Some(vec![("z", 1, dec!(0), dec!(5), dec!(15))]))]
#[case::exact_fit_no_cut(
    &[("b1", 1, 2, dec!(10), dec!(5))], dec!(25),
    Some(vec![("b1", 2, dec!(5), dec!(0), dec!(25))]))]
#[case::exact_fit_of_the_whole_pool(
    &[("b1", 1, 1, dec!(10), dec!(1)), ("b2", 2, 1, dec!(20), dec!(0))], dec!(31),
    Some(vec![("b1", 1, dec!(1), dec!(0), dec!(11)), ("b2", 1, dec!(0), dec!(0), dec!(20))]))]
#[case::decimals_exact(
    &[("b1", 1, 3, dec!(45.5), dec!(0.250))], dec!(100.125),
    Some(vec![("b1", 2, dec!(0.250), dec!(8.875), dec!(100.125))]))]
#[case::insufficient(
    &[("b1", 1, 1, dec!(10), dec!(0)), ("b2", 2, 0, dec!(10), dec!(3))], dec!(14), None)]
#[case::empty_pool(&[], dec!(1), None)]
fn allocates_per_decision_a2(#[case] batches: &[B], #[case] meters: Decimal, #[case] expected: Option<Vec<A>>) {
    let got = allocate(&pool(batches), meters);
    assert_eq!(got, expected.map(|e| allocs(&e)));
    if let Some(got) = got {
        assert_eq!(got.iter().map(|a| a.meters).sum::<Decimal>(), meters);
    }
}

#[rstest]
#[case(dec!(30), dec!(10), 3)]
#[case(dec!(29.999), dec!(10), 2)]
#[case(dec!(0.3), dec!(0.1), 3)]
#[case(dec!(100), dec!(33.333), 3)]
#[case(dec!(0), dec!(10), 0)]
#[case(dec!(-5), dec!(10), 0)]
fn whole_rolls_is_an_exact_floor(#[case] meters: Decimal, #[case] per_roll: Decimal, #[case] expected: i64) {
    assert_eq!(whole_rolls(meters, per_roll), expected);
}

#[rstest]
#[case(dec!(5), dec!(10), dec!(10), 0)]
#[case(dec!(10), dec!(10), dec!(10), 0)]
#[case(dec!(10.001), dec!(10), dec!(10), 1)]
#[case(dec!(30), dec!(10), dec!(10), 2)]
#[case(dec!(31), dec!(10), dec!(10), 3)]
fn rolls_to_open_is_a_ceiling(#[case] claims: Decimal, #[case] loose: Decimal, #[case] per_roll: Decimal, #[case] expected: i64) {
    assert_eq!(rolls_to_open(claims, loose, per_roll), expected);
}

fn stock(rolls: i32, loose: Decimal) -> Stock {
    Stock { batch_id: "b".into(), received_at: 0, rolls, meters_per_roll: dec!(10), loose_meters: loose }
}

/// A cut opens a roll on paper: the remnant is available loose, the roll count drops by one.
#[test]
fn a_cut_claim_opens_a_roll_in_the_available_view() {
    let on_hand = stock(2, dec!(2));
    let hold = take_from_batch(&on_hand, dec!(3));
    assert_eq!((hold.rolls, hold.loose_meters, hold.cut_meters), (0, dec!(2), dec!(1)));
    let mut claims = Claims::default();
    claims.add(&hold);
    let avail = available(&on_hand, &claims).unwrap();
    assert_eq!((avail.rolls, avail.loose_meters), (1, dec!(9)));
    assert_eq!(avail.meters(), on_hand.meters() - dec!(3));
}

/// A second hold may take the first hold's remnant; committing it first still never goes negative:
/// the commit opens the roll physically.
#[test]
fn committing_a_hold_on_anothers_remnant_opens_the_roll() {
    let on_hand = stock(2, dec!(5));
    let first = take_from_batch(&on_hand, dec!(7)); // 5 loose + cut 2
    let mut claims = Claims::default();
    claims.add(&first);
    let view = available(&on_hand, &claims).unwrap(); // 1 roll + 8 loose
    let second = take_from_batch(&view, dec!(8)); // 8 loose (5 physical + 3 of the remnant)
    assert_eq!((second.rolls, second.loose_meters, second.cut_meters), (0, dec!(8), dec!(0)));
    claims.add(&second);
    assert_eq!(available(&on_hand, &claims).unwrap().meters(), dec!(10));

    let after_second = deduct(&on_hand, &second).unwrap();
    assert_eq!((after_second.rolls, after_second.loose_meters), (1, dec!(7)));
    let after_first = deduct(&after_second, &first).unwrap();
    assert_eq!((after_first.rolls, after_first.loose_meters), (1, dec!(0)));
}

/// Claims that need more rolls than the batch has do not fit.
#[test]
fn claims_beyond_on_hand_do_not_fit() {
    let mut claims = Claims::default();
    claims.add(&BatchAllocation { batch_id: "b".into(), rolls: 2, loose_meters: dec!(1), cut_meters: dec!(0), meters: dec!(21) });
    assert!(available(&stock(2, dec!(0)), &claims).is_none());
    assert!(available(&stock(3, dec!(0)), &claims).is_some());
    assert!(available(&stock(2, dec!(1)), &claims).is_some());
}
