//! The time chain (rules TC1–TC3, B6a): when each leg of a bundle arrives, and what adding an item
//! to a leg does to the legs' deadlines. Deterministic: the same legs give the same timeline, in
//! whole minutes, so a replay of the log yields the same decisions.

use crate::geo::{distance_km, Location};
use rust_decimal::Decimal;

/// The average courier speed in a city the model assumes (rules TC1).
pub const CITY_SPEED_KMH: f64 = 20.0;
/// A conflict whose delay is more than this suggests a separate delivery (rules TC3).
pub const SEPARATE_DELIVERY_OVER_MINUTES: i64 = 10;
/// Courier price: a base plus a rate per started kilometre (rules TC3).
pub const COURIER_BASE: Decimal = Decimal::from_parts(499, 0, 0, false, 2);
/// See [`COURIER_BASE`].
pub const COURIER_PER_KM: Decimal = Decimal::ONE;

const MINUTE_MS: i64 = 60_000;

/// One leg: picked up from its partner once prepared, carried to its destination.
#[derive(Debug, Clone, PartialEq)]
pub struct Leg {
    /// The leg.
    pub leg_id: String,
    /// What the user calls it ("Dinner Reservation").
    pub name: String,
    /// Where the partner is.
    pub pickup: Location,
    /// Minutes the partner needs before pickup.
    pub prep_minutes: i64,
    /// Where it is delivered.
    pub destination: Location,
    /// Epoch ms it must arrive by.
    pub deadline: i64,
}

/// An item to add to a leg's route (picked up on the way, delivered with the leg).
#[derive(Debug, Clone, PartialEq)]
pub struct Addition {
    /// What it is ("chocolates").
    pub item: String,
    /// Where it is picked up.
    pub pickup: Location,
    /// Minutes its partner needs before pickup.
    pub prep_minutes: i64,
}

/// Minutes to travel from `a` to `b` at [`CITY_SPEED_KMH`], rounded up to whole minutes.
pub fn travel_minutes(a: Location, b: Location) -> i64 {
    (distance_km(a, b) / CITY_SPEED_KMH * 60.0 - 1e-9).ceil().max(0.0) as i64
}

/// When `leg` arrives if the bundle starts at `start` (epoch ms): preparation, then the ride.
pub fn arrival(leg: &Leg, start: i64) -> i64 {
    start + (leg.prep_minutes + travel_minutes(leg.pickup, leg.destination)) * MINUTE_MS
}

/// Minutes from `start` until the last leg arrives.
pub fn total_minutes(legs: &[Leg], start: i64) -> i64 {
    legs.iter().map(|l| (arrival(l, start) - start) / MINUTE_MS).max().unwrap_or(0)
}

/// A leg the addition makes late.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The leg.
    pub leg_id: String,
    /// Its name.
    pub leg_name: String,
    /// Its deadline.
    pub deadline: i64,
    /// Its arrival with the addition.
    pub new_arrival: i64,
    /// New arrival − deadline, in minutes (> 0).
    pub delay_minutes: i64,
}

/// What souk proposes instead of making a leg late.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suggestion {
    /// Always `separate_delivery` for now.
    pub kind: &'static str,
    /// The text for the user.
    pub message: String,
    /// The item to send separately.
    pub item: String,
    /// Where the courier takes it (the leg's name).
    pub delivery_location: String,
    /// The courier's price.
    pub estimated_cost: Decimal,
}

/// What adding an item to a leg does (rules TC2, TC3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConflictAnalysis {
    /// A deadline is missed.
    pub has_conflict: bool,
    /// New arrival − old arrival of the leg carrying the item, in minutes.
    pub time_impact_minutes: i64,
    /// Missed deadlines.
    pub conflicts: Vec<Conflict>,
    /// One per conflict of more than [`SEPARATE_DELIVERY_OVER_MINUTES`].
    pub suggestions: Vec<Suggestion>,
}

/// Adds `item` to the route of `legs[on]` (the courier collects the leg, then the item, then
/// delivers both) and reports the missed deadlines. Without double counting (B6a): a leg's delay
/// is its new arrival − its deadline.
pub fn simulate_addition(legs: &[Leg], on: usize, item: &Addition, start: i64) -> ConflictAnalysis {
    let Some(leg) = legs.get(on) else {
        return ConflictAnalysis { has_conflict: false, time_impact_minutes: 0, conflicts: Vec::new(), suggestions: Vec::new() };
    };
    let collected = start + leg.prep_minutes * MINUTE_MS;
    let at_item = (collected + travel_minutes(leg.pickup, item.pickup) * MINUTE_MS).max(start + item.prep_minutes * MINUTE_MS);
    let new_arrival = at_item + travel_minutes(item.pickup, leg.destination) * MINUTE_MS;
    let time_impact_minutes = (new_arrival - arrival(leg, start)) / MINUTE_MS;
    let mut conflicts = Vec::new();
    let mut suggestions = Vec::new();
    if new_arrival > leg.deadline {
        let delay_minutes = (new_arrival - leg.deadline) / MINUTE_MS;
        if delay_minutes > SEPARATE_DELIVERY_OVER_MINUTES {
            suggestions.push(Suggestion {
                kind: "separate_delivery",
                message: format!("Adding {} will make you {delay_minutes} minutes late for {}. Should I proceed, or would you like me to courier it separately?", item.item, leg.name),
                item: item.item.clone(),
                delivery_location: leg.name.clone(),
                estimated_cost: courier_cost(item.pickup, leg.destination),
            });
        }
        conflicts.push(Conflict { leg_id: leg.leg_id.clone(), leg_name: leg.name.clone(), deadline: leg.deadline, new_arrival, delay_minutes });
    }
    ConflictAnalysis { has_conflict: !conflicts.is_empty(), time_impact_minutes, conflicts, suggestions }
}

/// [`COURIER_BASE`] + [`COURIER_PER_KM`] × started kilometres from `from` to `to`.
pub fn courier_cost(from: Location, to: Location) -> Decimal {
    let km = (distance_km(from, to) - 1e-9).ceil().max(0.0) as i64;
    COURIER_BASE + COURIER_PER_KM * Decimal::from(km)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use rust_decimal_macros::dec;

    const START: i64 = 1_705_341_600_000; // 2024-01-15T18:00:00Z
    const RESTAURANT: Location = Location { lat: 40.7580, lng: -73.9855 };
    /// About 7.8 km south of the restaurant along the meridian (started km: 8).
    const CHOCOLATIER: Location = Location { lat: 40.6880, lng: -73.9855 };

    fn dinner(prep_minutes: i64, deadline_after_minutes: i64) -> Leg {
        Leg { leg_id: "dinner".into(), name: "Dinner Reservation".into(), pickup: CHOCOLATIER, prep_minutes, destination: RESTAURANT, deadline: START + deadline_after_minutes * MINUTE_MS }
    }

    fn chocolates(prep_minutes: i64) -> Addition {
        Addition { item: "chocolates".into(), pickup: CHOCOLATIER, prep_minutes }
    }

    #[test]
    fn travel_is_distance_over_city_speed_in_whole_minutes() {
        // 7.78 km at 20 km/h = 23.3 min, rounded up
        assert_eq!(travel_minutes(CHOCOLATIER, RESTAURANT), 24);
        assert_eq!(travel_minutes(RESTAURANT, RESTAURANT), 0);
        let leg = dinner(30, 60);
        assert_eq!(arrival(&leg, START), START + 54 * MINUTE_MS);
        assert_eq!(total_minutes(&[leg.clone(), Leg { prep_minutes: 50, ..leg }], START), 74);
    }

    /// seed-000 §6.3 with this model's numbers: the addition costs 15 minutes past the deadline ⇒
    /// a conflict and the separate-delivery suggestion; exactly 10 ⇒ the conflict alone.
    #[rstest]
    #[case::fifteen_late(45, 15, true)]
    #[case::eleven_late(41, 11, true)]
    #[case::exactly_ten(40, 10, false)]
    fn a_late_addition_is_a_conflict_and_over_ten_minutes_a_suggestion(#[case] item_prep: i64, #[case] delay: i64, #[case] suggested: bool) {
        // the leg alone arrives at 30 + 24 = 54 min, its deadline; the item is ready at item_prep
        let analysis = simulate_addition(&[dinner(30, 54)], 0, &chocolates(item_prep), START);
        assert!(analysis.has_conflict);
        assert_eq!(analysis.time_impact_minutes, delay);
        assert_eq!(
            analysis.conflicts,
            vec![Conflict { leg_id: "dinner".into(), leg_name: "Dinner Reservation".into(), deadline: START + 54 * MINUTE_MS, new_arrival: START + (54 + delay) * MINUTE_MS, delay_minutes: delay }]
        );
        assert_eq!(analysis.suggestions.len(), usize::from(suggested));
        if let Some(s) = analysis.suggestions.first() {
            assert_eq!(s.message, format!("Adding chocolates will make you {delay} minutes late for Dinner Reservation. Should I proceed, or would you like me to courier it separately?"));
            assert_eq!((s.kind, s.delivery_location.as_str(), s.estimated_cost), ("separate_delivery", "Dinner Reservation", dec!(12.99)));
        }
    }

    #[test]
    fn an_addition_within_the_deadline_is_no_conflict() {
        let analysis = simulate_addition(&[dinner(30, 90)], 0, &chocolates(45), START);
        assert_eq!((analysis.has_conflict, analysis.time_impact_minutes, analysis.suggestions.len()), (false, 15, 0));
        assert!(!simulate_addition(&[dinner(30, 90)], 3, &chocolates(45), START).has_conflict, "no such leg");
    }

    proptest::proptest! {
        /// The model is a function of its inputs, and an addition never makes a leg earlier.
        #[test]
        fn additions_never_speed_a_leg_up(prep in 0i64..300, item_prep in 0i64..300, dlat in -0.2f64..0.2, dlng in -0.2f64..0.2) {
            let leg = dinner(prep, 60);
            let item = Addition { item: "x".into(), pickup: Location { lat: CHOCOLATIER.lat + dlat, lng: CHOCOLATIER.lng + dlng }, prep_minutes: item_prep };
            let a = simulate_addition(std::slice::from_ref(&leg), 0, &item, START);
            proptest::prop_assert_eq!(&a, &simulate_addition(&[leg], 0, &item, START));
            proptest::prop_assert!(a.time_impact_minutes >= 0);
        }
    }
}
