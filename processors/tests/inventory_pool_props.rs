//! Property test of the inventory pool: random receipts, reserves, commits, releases, adjustments and
//! ticks through the driver. After every step nothing is negative, available = on hand − held, held =
//! the open holds' meters, and meters are conserved per batch (received/adjusted − committed).

mod support;

use proptest::prelude::*;
use rust_decimal::Decimal;
use souk_processors::inventory_pool::allocation;
use souk_processors::inventory_pool::PoolState;
use souk_schemas::inventory::InventoryEvent;
use std::collections::{BTreeMap, BTreeSet};
use support::*;

#[derive(Debug, Clone)]
enum Op {
    Receive { batch: u8, rolls: i32, per_roll: u8, loose_milli: i64, received_at: i64 },
    Adjust { batch: u8, rolls: i32, loose_milli: i64 },
    Reserve { hold: u8, meters_milli: i64, ttl_ms: i64 },
    Commit { hold: u8 },
    Release { hold: u8 },
    Tick { advance_ms: i64 },
}

const PER_ROLL: [Decimal; 4] = [Decimal::from_parts(10, 0, 0, false, 0), Decimal::from_parts(75, 0, 0, false, 1), Decimal::from_parts(45725, 0, 0, false, 3), Decimal::ONE];

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0u8..4, 0i32..5, 0u8..4, 0i64..20_000, 0i64..3)
            .prop_map(|(batch, rolls, per_roll, loose_milli, received_at)| Op::Receive { batch, rolls, per_roll, loose_milli, received_at }),
        1 => (0u8..4, 0i32..6, 0i64..30_000).prop_map(|(batch, rolls, loose_milli)| Op::Adjust { batch, rolls, loose_milli }),
        5 => (0u8..10, 1i64..60_000, 1i64..5_000).prop_map(|(hold, meters_milli, ttl_ms)| Op::Reserve { hold, meters_milli, ttl_ms }),
        3 => (0u8..10).prop_map(|hold| Op::Commit { hold }),
        2 => (0u8..10).prop_map(|hold| Op::Release { hold }),
        1 => (0i64..3_000).prop_map(|advance_ms| Op::Tick { advance_ms }),
    ]
}

/// What the outputs say happened, kept independently of the processor's state.
#[derive(Default)]
struct Model {
    /// Per batch: meters it should have on hand (received or adjusted, minus committed).
    on_hand: BTreeMap<String, Decimal>,
    /// Open holds (from Reserved until Committed/Released/HoldExpired) and their meters.
    open: BTreeMap<String, Decimal>,
    /// Holds ever closed (a hold id is never reopened).
    closed: BTreeSet<String>,
    received: Decimal,
    adjusted: Decimal,
    committed: Decimal,
}

fn meters(rolls: i32, per_roll: Decimal, loose_milli: i64) -> Decimal {
    Decimal::from(rolls) * per_roll + Decimal::new(loose_milli, 3)
}

fn at_most_3_dp(value: Decimal) -> bool {
    value.round_dp(3) == value
}

fn check(state: &PoolState, model: &Model) -> Result<(), TestCaseError> {
    let claims = state.claims();
    for b in &state.batches {
        prop_assert!(b.rolls >= 0 && b.loose_meters >= Decimal::ZERO, "negative on hand {b:?}");
        let claim = claims.get(&b.batch_id).copied().unwrap_or_default();
        let view = allocation::available(&b.on_hand(), &claim);
        prop_assert!(view.is_some(), "claims {claim:?} exceed on hand {b:?}");
        prop_assert_eq!(Some(&b.on_hand_meters()), model.on_hand.get(&b.batch_id), "conservation of {}", b.batch_id);
    }
    prop_assert_eq!(state.batches.len(), model.on_hand.len());
    let (levels, on_hand, held, available) = state.levels();
    for l in &levels {
        prop_assert!(l.available_meters >= Decimal::ZERO && l.held_meters >= Decimal::ZERO);
        let batch_on_hand = Decimal::from(l.rolls) * l.meters_per_roll + l.loose_meters;
        prop_assert_eq!(l.available_meters, batch_on_hand - l.held_meters);
    }
    prop_assert_eq!(available, on_hand - held);
    prop_assert_eq!(held, model.open.values().copied().sum::<Decimal>());
    prop_assert_eq!(held, state.holds.values().map(|h| h.request.meters).sum::<Decimal>());
    prop_assert_eq!(state.holds.keys().collect::<Vec<_>>(), model.open.keys().collect::<Vec<_>>());
    prop_assert_eq!(on_hand + model.committed, model.received + model.adjusted);
    Ok(())
}

/// Folds the outputs of one step into the model and checks each event on its own.
fn observe(model: &mut Model, events: &[InventoryEvent]) -> Result<(), TestCaseError> {
    for event in events {
        match event {
            InventoryEvent::Reserved(r) => {
                prop_assert_eq!(r.allocations.iter().map(|a| a.meters).sum::<Decimal>(), r.meters);
                for a in &r.allocations {
                    prop_assert!(a.rolls >= 0 && a.loose_meters >= Decimal::ZERO && a.cut_meters >= Decimal::ZERO);
                    prop_assert!(at_most_3_dp(a.meters) && at_most_3_dp(a.loose_meters) && at_most_3_dp(a.cut_meters));
                }
                if !model.closed.contains(&r.hold_id) {
                    model.open.insert(r.hold_id.clone(), r.meters);
                }
            }
            InventoryEvent::Committed(c) => {
                if let Some(m) = model.open.remove(&c.hold_id) {
                    model.committed += m;
                    for a in &c.allocations {
                        *model.on_hand.get_mut(&a.batch_id).expect("known batch") -= a.meters;
                    }
                    model.closed.insert(c.hold_id.clone());
                }
            }
            InventoryEvent::Released(r) => {
                model.open.remove(&r.hold_id);
                model.closed.insert(r.hold_id.clone());
            }
            InventoryEvent::HoldExpired(x) => {
                prop_assert!(model.open.remove(&x.hold_id).is_some(), "expired a hold that was not open");
                model.closed.insert(x.hold_id.clone());
            }
            InventoryEvent::ReserveRejected(r) => {
                prop_assert!(r.available_meters < r.requested_meters);
                model.closed.insert(r.hold_id.clone());
            }
            InventoryEvent::HoldCommandRejected(_) => {}
            InventoryEvent::StockLevelChanged(s) => {
                prop_assert_eq!(s.available_meters, s.on_hand_meters - s.held_meters);
                prop_assert!(at_most_3_dp(s.on_hand_meters) && at_most_3_dp(s.held_meters));
            }
        }
    }
    Ok(())
}

/// The hold a commit/release names: `h<hold>` in fixed mode; in varied mode one of the recent
/// reserves (`hold` steps back from the newest), or an unknown id before any reserve.
fn target(reserved: &[String], hold: u8, varied: bool) -> String {
    if !varied {
        return format!("h{hold}");
    }
    match reserved.len() {
        0 => "never-reserved".to_string(),
        n => reserved[n - 1 - usize::from(hold) % n].clone(),
    }
}

/// Runs `ops`; `varied` gives every reserve a fresh hold id and a random size, otherwise hold ids
/// repeat with a fixed size per id (redeliveries of open and closed holds).
fn run(ops: Vec<Op>, varied: bool) -> Result<(), TestCaseError> {
    let mut d = driver();
    let mut reserved: Vec<String> = Vec::new();
    let mut model = Model::default();
    let mut now = 1_000i64;
    for (i, op) in ops.into_iter().enumerate() {
        now += 10;
        let id = format!("cmd-{i}");
        let before = d.state(KEY);
        let rejections = d.rejections.len();
        let events = match &op {
            Op::Receive { batch, rolls, per_roll, loose_milli, received_at } => {
                let (batch, per_roll) = (format!("b{batch}"), PER_ROLL[*per_roll as usize]);
                let out = feed(&mut d, received(&id, now, &batch, *rolls, per_roll, Decimal::new(*loose_milli, 3), *received_at));
                if d.rejections.len() == rejections && before.batch(&batch).is_none() {
                    let m = meters(*rolls, per_roll, *loose_milli);
                    model.on_hand.insert(batch, m);
                    model.received += m;
                }
                out
            }
            Op::Adjust { batch, rolls, loose_milli } => {
                let batch = format!("b{batch}");
                let out = feed(&mut d, adjusted(&id, now, &batch, *rolls, Decimal::new(*loose_milli, 3)));
                if d.rejections.len() == rejections {
                    let per_roll = before.batch(&batch).expect("adjusted a known batch").meters_per_roll;
                    let m = meters(*rolls, per_roll, *loose_milli);
                    model.adjusted += m - model.on_hand[&batch];
                    model.on_hand.insert(batch, m);
                }
                out
            }
            Op::Reserve { hold, meters_milli, ttl_ms } => {
                let (hold_id, meters) = if varied {
                    (format!("v{}", reserved.len()), Decimal::new(*meters_milli, 3))
                } else {
                    // Each hold id always asks for the same line, so a repeat is a redelivery.
                    (format!("h{hold}"), Decimal::new(1_000 + i64::from(*hold) * 3_337, 3))
                };
                reserved.push(hold_id.clone());
                feed(&mut d, reserve(&id, now, &hold_id, meters, *ttl_ms))
            }
            Op::Commit { hold } => feed(&mut d, commit(&id, now, &target(&reserved, *hold, varied))),
            Op::Release { hold } => feed(&mut d, release(&id, now, &target(&reserved, *hold, varied))),
            Op::Tick { advance_ms } => {
                now += advance_ms;
                tick(&mut d, now)
            }
        };
        if let Some((_, _, _, rejection)) = d.rejections.get(rejections) {
            let allowed = match op {
                Op::Receive { .. } => ["BATCH_CONFLICT"].as_slice(),
                Op::Adjust { .. } => ["ADJUSTMENT_BELOW_HELD", "UNKNOWN_BATCH"].as_slice(),
                _ => [].as_slice(),
            };
            prop_assert!(allowed.contains(&rejection.code.as_str()), "{op:?} rejected: {rejection:?}");
        }
        observe(&mut model, &events)?;
        check(&d.state(KEY), &model)?;
    }
    // Releasing everything leaves all stock available.
    let open: Vec<String> = model.open.keys().cloned().collect();
    for (i, hold) in open.iter().enumerate() {
        let events = feed(&mut d, release(&format!("final-{i}"), now, hold));
        observe(&mut model, &events)?;
    }
    let state = d.state(KEY);
    check(&state, &model)?;
    let (_, on_hand, held, available) = state.levels();
    prop_assert_eq!((held, available), (Decimal::ZERO, on_hand));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    /// Hold ids repeat (redeliveries), sizes fixed per id.
    #[test]
    fn invariants_hold_with_redelivered_holds(ops in prop::collection::vec(op(), 1..80)) {
        run(ops, false)?;
    }

    /// Every reserve is a fresh hold of random size (multi-batch splits, many cuts).
    #[test]
    fn invariants_hold_with_varied_sizes(ops in prop::collection::vec(op(), 1..80)) {
        run(ops, true)?;
    }
}
