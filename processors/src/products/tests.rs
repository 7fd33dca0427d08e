//! The product aggregate through the broker-free driver: availability as a table with the source's
//! boundaries (examples 10–12), adjustments with previous/new (example 9) and the refusal of
//! negative stock, crossings notified once, restock when leaving zero, holds with a TTL, and the
//! customer view never carrying a count.

use super::*;
use proptest::prelude::*;
use rstest::rstest;
use souk_runtime::processor::Emitted;
use souk_runtime::TestDriver;
use souk_schemas::clock::Tick;
use souk_schemas::products::*;
use souk_schemas::Envelope;

const TOPIC: &str = "products.commands";
const KEY: &str = "shop|p1";
const T0: i64 = 1_764_000_000_000;

fn env(id: &str, at: i64) -> Envelope {
    Envelope::external("shop", id, at)
}

fn define(stocks: &[(i64, i32)]) -> ProductCommand {
    ProductCommand::ProductDefined(ProductDefined {
        envelope: env("define", T0),
        command_id: "define".into(),
        product_id: "p1".into(),
        name: "Linen shirt".into(),
        description: String::new(),
        category: "clothing".into(),
        base_price: "29.99".parse().unwrap(),
        status: "active".into(),
        images: vec![],
        variants: stocks
            .iter()
            .enumerate()
            .map(|(i, (stock, threshold))| VariantDefinition {
                variant_id: variant_id("p1", i + 1),
                name: format!("V{}", i + 1),
                sku: format!("LS-{}", i + 1),
                price: None,
                stock_quantity: *stock,
                low_stock_threshold: *threshold,
                attributes: [("size".to_string(), ["S", "M", "L"][i % 3].to_string())].into(),
                status: "active".into(),
            })
            .collect(),
        source: "api".into(),
        import_row: None,
    })
}

fn adjust(id: &str, variant: usize, adjustment: i64, at: i64) -> ProductCommand {
    ProductCommand::StockAdjustRequested(StockAdjustRequested {
        envelope: env(id, at),
        command_id: id.into(),
        product_id: "p1".into(),
        variant_id: variant_id("p1", variant),
        adjustment,
        reason: "count".into(),
    })
}

fn reserve(id: &str, quantity: i64, ttl: i64, at: i64) -> ProductCommand {
    ProductCommand::ReservationRequested(ReservationRequested {
        envelope: env(id, at),
        command_id: id.into(),
        product_id: "p1".into(),
        reservation_id: format!("r-{id}"),
        variant_id: variant_id("p1", 1),
        quantity,
        ttl_seconds: ttl,
        holder: Some("instagram-ab".into()),
    })
}

fn settle(id: &str, reservation: &str, outcome: &str, at: i64) -> ProductCommand {
    ProductCommand::ReservationSettled(ReservationSettled { envelope: env(id, at), command_id: id.into(), product_id: "p1".into(), reservation_id: reservation.into(), outcome: outcome.into() })
}

fn tick(d: &mut TestDriver<ProductInventory>, at: i64) -> Vec<Emitted<ProductOutput>> {
    d.feed_partition(TOPIC, 0, "", ProductCommand::Tick(Tick { envelope: Envelope::external("*", &format!("tick-{at}"), at), partition: 0 }))
}

fn kinds(out: &[Emitted<ProductOutput>]) -> Vec<&'static str> {
    out.iter()
        .map(|e| match &e.event {
            ProductOutput::ProductUpdated(_) => "updated",
            ProductOutput::StockMovementRecorded(_) => "movement",
            ProductOutput::ProductCommandRejected(_) => "rejected",
            ProductOutput::ProductAvailabilityChanged(_) => "availability",
            ProductOutput::LowStockCrossed(_) => "low_stock",
            ProductOutput::Restocked(_) => "restocked",
            ProductOutput::ReservationUpdated(_) => "reservation",
            ProductOutput::ProductAvailability(_) => "view",
            ProductOutput::NotificationRaised(_) => "notification",
        })
        .collect()
}

fn snapshot(out: &[Emitted<ProductOutput>]) -> ProductUpdated {
    out.iter().rev().find_map(|e| if let ProductOutput::ProductUpdated(u) = &e.event { Some(u.clone()) } else { None }).expect("a snapshot")
}

#[rstest]
#[case::example_10_below_the_threshold(&[(3, 5)], "low_stock")]
#[case::example_11_nothing_left(&[(0, 5)], "out_of_stock")]
#[case::example_12_at_the_threshold_itself(&[(5, 5)], "low_stock")]
#[case::one_above(&[(6, 5)], "available")]
#[case::summed_over_variants_against_the_smallest_threshold(&[(2, 10), (3, 5)], "low_stock")]
#[case::summed_over_variants_above_the_smallest_threshold(&[(3, 10), (3, 5)], "available")]
#[case::the_default_threshold(&[(10, DEFAULT_LOW_STOCK_THRESHOLD), (1, DEFAULT_LOW_STOCK_THRESHOLD)], "available")]
fn availability_is_judged_on_the_total(#[case] stocks: &[(i64, i32)], #[case] status: &str) {
    let mut d = TestDriver::new(ProductInventory, 1);
    let out = d.feed(TOPIC, KEY, define(stocks));
    assert_eq!(snapshot(&out).availability, status);
    let view = out.iter().find_map(|e| if let ProductOutput::ProductAvailability(v) = &e.event { Some(v.clone()) } else { None }).unwrap();
    assert_eq!(view.status, status);
    assert_eq!(out.iter().find(|e| matches!(e.event, ProductOutput::ProductAvailability(_))).map(|e| d.processor().output_name(&e.event)), Some("availability"));
}

#[test]
fn example_9_an_adjustment_reports_previous_and_new() {
    let mut d = TestDriver::new(ProductInventory, 1);
    d.feed(TOPIC, KEY, define(&[(5, 10)]));
    let out = d.feed(TOPIC, KEY, adjust("restock", 1, 10, T0 + 1));
    let ProductOutput::StockMovementRecorded(m) = &out[0].event else { panic!("{:?}", kinds(&out)) };
    assert_eq!((m.previous_stock, m.new_stock, m.quantity, m.movement_type.as_str()), (5, 15, 10, "adjustment"));
    assert_eq!(snapshot(&out).total_stock, 15);
    // Delivered again (a producer retry): applied once.
    assert!(d.feed(TOPIC, KEY, adjust("restock", 1, 10, T0 + 2)).is_empty());
    assert_eq!(d.state(KEY).variants[0].stock, 15);
}

#[rstest]
#[case::below_zero(-6, "NEGATIVE_STOCK")]
#[case::unknown_variant_is_refused(0, "UNKNOWN_VARIANT")]
fn refused_adjustments_change_nothing(#[case] adjustment: i64, #[case] code: &str) {
    let mut d = TestDriver::new(ProductInventory, 1);
    d.feed(TOPIC, KEY, define(&[(5, 10)]));
    let before = d.state(KEY);
    let variant = if code == "UNKNOWN_VARIANT" { 9 } else { 1 };
    let out = d.feed(TOPIC, KEY, adjust("a", variant, adjustment, T0 + 1));
    assert_eq!(kinds(&out), ["rejected"]);
    let ProductOutput::ProductCommandRejected(r) = &out[0].event else { unreachable!() };
    assert_eq!(r.code, code);
    let mut after = d.state(KEY);
    after.recent_commands.pop_back();
    assert_eq!(after, before, "a refusal leaves the state as it was");
}

#[test]
fn an_adjustment_never_leaves_less_than_is_held() {
    let mut d = TestDriver::new(ProductInventory, 1);
    d.feed(TOPIC, KEY, define(&[(5, 1)]));
    assert_eq!(kinds(&d.feed(TOPIC, KEY, reserve("h", 3, 600, T0 + 1)))[0], "reservation");
    let out = d.feed(TOPIC, KEY, adjust("a", 1, -3, T0 + 2));
    assert!(matches!(&out[0].event, ProductOutput::ProductCommandRejected(r) if r.code == "BELOW_RESERVED"), "{:?}", kinds(&out));
}

#[test]
fn a_low_stock_crossing_is_notified_once_and_leaving_zero_is_a_restock() {
    let mut d = TestDriver::new(ProductInventory, 1);
    let created = d.feed(TOPIC, KEY, define(&[(8, 5)]));
    assert!(!kinds(&created).contains(&"notification"), "a new product crosses nothing");
    let down = d.feed(TOPIC, KEY, adjust("sell-5", 1, -5, T0 + 1));
    assert_eq!(kinds(&down), ["movement", "updated", "availability", "low_stock", "notification", "view"]);
    let note = down.iter().find_map(|e| if let ProductOutput::NotificationRaised(n) = &e.event { Some((e.key.clone(), n.clone())) } else { None }).unwrap();
    assert_eq!((note.0.as_str(), note.1.kind.as_str(), note.1.priority.as_str()), ("shop", "low_stock", "medium"));
    let context: serde_json::Value = serde_json::from_str(&note.1.context).unwrap();
    assert_eq!((context["current_stock"].as_i64(), context["threshold"].as_i64()), (Some(3), Some(5)));
    // Further down while already low: no second notification.
    let lower = d.feed(TOPIC, KEY, adjust("sell-1", 1, -1, T0 + 2));
    assert!(!kinds(&lower).contains(&"notification"), "{:?}", kinds(&lower));
    let zero = d.feed(TOPIC, KEY, adjust("sell-2", 1, -2, T0 + 3));
    assert!(kinds(&zero).contains(&"availability") && !kinds(&zero).contains(&"low_stock"));
    let back = d.feed(TOPIC, KEY, adjust("restock", 1, 20, T0 + 4));
    assert_eq!(kinds(&back), ["movement", "updated", "availability", "restocked", "notification", "view"]);
    // Up again and down again: a new crossing.
    let again = d.feed(TOPIC, KEY, adjust("sell-16", 1, -16, T0 + 5));
    assert!(kinds(&again).contains(&"low_stock"));
}

#[test]
fn holds_claim_available_to_promise_and_expire_on_the_clock() {
    let mut d = TestDriver::new(ProductInventory, 1);
    d.feed(TOPIC, KEY, define(&[(4, 1)]));
    let held = d.feed(TOPIC, KEY, reserve("h1", 3, 60, T0 + 1));
    assert!(matches!(&held[0].event, ProductOutput::ReservationUpdated(r) if r.status == "held" && r.expires_at == T0 + 1 + 60_000));
    let refused = d.feed(TOPIC, KEY, reserve("h2", 2, 60, T0 + 2));
    assert!(matches!(&refused[0].event, ProductOutput::ReservationUpdated(r) if r.status == "rejected"), "only 1 is free");
    // The same command again is answered as the hold stands.
    let mut again = reserve("h1", 3, 60, T0 + 3);
    if let ProductCommand::ReservationRequested(r) = &mut again {
        r.envelope = env("h1-redelivered", T0 + 3);
    }
    let again = d.feed(TOPIC, KEY, again);
    assert!(matches!(&again[..], [e] if matches!(&e.event, ProductOutput::ReservationUpdated(r) if r.status == "held")));
    assert!(tick(&mut d, T0 + 60_000).is_empty(), "not yet");
    let expired = tick(&mut d, T0 + 61_001);
    assert!(matches!(&expired[0].event, ProductOutput::ReservationUpdated(r) if r.status == "expired"), "{:?}", kinds(&expired));
    assert_eq!(d.state(KEY).variants[0].reserved, 0);
    assert_eq!(d.state(KEY).variants[0].stock, 4, "an expiry changes no stock");
}

#[test]
fn a_confirmed_hold_leaves_stock_and_a_released_one_does_not() {
    let mut d = TestDriver::new(ProductInventory, 1);
    d.feed(TOPIC, KEY, define(&[(4, 1)]));
    d.feed(TOPIC, KEY, reserve("h1", 3, 60, T0 + 1));
    let confirmed = d.feed(TOPIC, KEY, settle("c1", "r-h1", "confirm", T0 + 2));
    assert!(matches!(&confirmed[0].event, ProductOutput::StockMovementRecorded(m) if (m.previous_stock, m.new_stock) == (4, 1)));
    assert_eq!((d.state(KEY).variants[0].stock, d.state(KEY).variants[0].reserved), (1, 0));
    assert!(tick(&mut d, T0 + 120_000).is_empty(), "a settled hold does not expire");
    d.feed(TOPIC, KEY, reserve("h2", 1, 60, T0 + 3));
    d.feed(TOPIC, KEY, settle("c2", "r-h2", "release", T0 + 4));
    assert_eq!((d.state(KEY).variants[0].stock, d.state(KEY).variants[0].reserved), (1, 0));
    let late = d.feed(TOPIC, KEY, settle("c3", "r-h2", "confirm", T0 + 5));
    assert!(matches!(&late[..], [e] if matches!(&e.event, ProductOutput::ReservationUpdated(r) if r.status == "released")), "an ended hold stays ended");
}

#[test]
fn commands_for_a_product_that_does_not_exist_are_refused() {
    let mut d = TestDriver::new(ProductInventory, 1);
    let out = d.feed(TOPIC, KEY, adjust("a", 1, 1, T0));
    assert!(matches!(&out[..], [e] if matches!(&e.event, ProductOutput::ProductCommandRejected(r) if r.code == "UNKNOWN_PRODUCT")));
    d.feed(TOPIC, KEY, define(&[(1, 1)]));
    let mut second = define(&[(9, 1)]);
    if let ProductCommand::ProductDefined(p) = &mut second {
        p.command_id = "define-again".into();
        p.envelope = env("define-again", T0 + 1);
    }
    assert!(matches!(&d.feed(TOPIC, KEY, second)[..], [e] if matches!(&e.event, ProductOutput::ProductCommandRejected(r) if r.code == "PRODUCT_EXISTS")));
}

proptest! {
    /// Whatever the owner does, stock never goes negative, holds never exceed stock, every
    /// movement's new level is its previous plus its quantity, and a status change is reported
    /// exactly when availability changes.
    #[test]
    fn stock_stays_consistent(ops in proptest::collection::vec((0u8..4, -8i64..8), 1..40)) {
        let mut d = TestDriver::new(ProductInventory, 1);
        d.feed(TOPIC, KEY, define(&[(5, 3)]));
        let mut status = d.state(KEY).availability.clone();
        for (i, (op, n)) in ops.into_iter().enumerate() {
            let at = T0 + 1 + i as i64 * 1000;
            let out = match op {
                0 | 1 => d.feed(TOPIC, KEY, adjust(&format!("a{i}"), 1, n, at)),
                2 => d.feed(TOPIC, KEY, reserve(&format!("h{i}"), n.abs().max(1), 2, at)),
                _ => tick(&mut d, at),
            };
            for e in &out {
                if let ProductOutput::StockMovementRecorded(m) = &e.event {
                    prop_assert_eq!(m.new_stock, m.previous_stock + m.quantity);
                }
                if let ProductOutput::ProductAvailability(v) = &e.event {
                    let text = serde_json::to_string(v).unwrap();
                    prop_assert!(!text.contains("stock_quantity") && !text.contains("reserved"));
                }
            }
            let s = d.state(KEY);
            let v = &s.variants[0];
            prop_assert!(v.stock >= 0 && v.reserved >= 0 && v.reserved <= v.stock, "{v:?}");
            let reported = out.iter().any(|e| matches!(e.event, ProductOutput::ProductAvailabilityChanged(_)));
            prop_assert_eq!(reported, s.availability != status);
            status = s.availability.clone();
        }
    }
}
