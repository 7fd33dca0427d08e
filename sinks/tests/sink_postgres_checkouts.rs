//! The orchestration Postgres sink's checkouts on the real local stack (Apache Kafka + Apicurio +
//! Postgres): CheckoutUpdated snapshots (`negotiation.events`) of two tenants that use the same
//! bundle and checkout ids. A snapshot that is older (by source time, or by offset at the same
//! time) never replaces a newer one, and never its legs; a newer one replaces the legs with its own
//! (in its order, a leg re-sourced after payment beside its replacement under the same id); a
//! snapshot in the log twice changes nothing; a record keyed for another tenant is dead-lettered; a
//! bundle's checkout is its latest; one tenant never reads the other's. Then the sink's offsets are wiped
//! and the whole log is applied again, which must leave every row unchanged.
//! Needs `./dev up` (SOUK_KAFKA_BOOTSTRAP, SOUK_SCHEMA_REGISTRY_URL, SOUK_DATABASE_URL).

mod support;

use rust_decimal::Decimal;
use souk_projections::queries;
use souk_schemas::orchestration::NegotiationEvent;
use souk_schemas::payments::{CheckoutLeg, CheckoutUpdated};
use souk_schemas::Envelope;
use sqlx::PgPool;
use support::Stack;

const SINK: &str = "orchestration-postgres";
const INPUT: &str = "negotiation.events";
const T0: i64 = 1_760_000_000_000;
const MINUTE: i64 = 60_000;

fn d(s: &str) -> Decimal {
    s.parse().expect("a decimal literal")
}

struct Setup {
    stack: Stack,
    pool: PgPool,
    /// The tenant most records belong to, and another one using the same ids.
    a: String,
    b: String,
}

impl Setup {
    /// Runs the sink until its stored offsets reach the end of its inputs, then stops it.
    async fn run_to_end(&self) {
        support::run_orchestration_sink_to_end(&self.stack, &self.pool, &[INPUT]).await;
    }

    /// Every row of `tenant` in both tables, as JSON, in a stable order.
    async fn rows(&self, tenant: &str) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        for table in ["checkouts", "checkout_legs"] {
            let mut rows: Vec<String> = sqlx::query_scalar(&format!("SELECT to_jsonb(t)::text FROM {table} t WHERE tenant_id = $1")).bind(tenant).fetch_all(&self.pool).await.expect("rows");
            rows.sort();
            out.push(rows);
        }
        out
    }

    /// The leg ids stored for `checkout` of `tenant`, in position order.
    async fn stored_legs(&self, tenant: &str, checkout: &str) -> Vec<String> {
        sqlx::query_scalar("SELECT leg_id FROM checkout_legs WHERE tenant_id = $1 AND checkout_id = $2 ORDER BY position").bind(tenant).bind(checkout).fetch_all(&self.pool).await.expect("legs")
    }
}

async fn setup() -> Setup {
    let stack = support::stack("sinkcheckouts").await;
    let pool = PgPool::connect(&souk_runtime::stack::database_url()).await.expect("postgres");
    souk_projections::migrate(&pool).await.expect("migrate");
    let run = stack.prefix.trim_end_matches('.').to_string();
    Setup { stack, pool, a: format!("a-{run}"), b: format!("b-{run}") }
}

/// A leg of 55.00 with the platform's 12.5 % and an affiliate's 30 % of that.
fn leg(id: &str, status: &str, escrow: &str) -> CheckoutLeg {
    CheckoutLeg {
        leg_id: id.into(),
        partner_id: format!("p-{id}"),
        partner_name: format!("Partner of {id}"),
        item: "Red roses".into(),
        amount: d("55.00"),
        partner_share: d("48.13"),
        platform_fee: d("6.87"),
        affiliate_commission: d("2.06"),
        status: status.into(),
        escrow_status: escrow.into(),
        release_trigger: None,
        transfer_id: None,
        refund_id: None,
        payment_intent_id: None,
        negotiation_id: Some(format!("res-{id}")),
    }
}

/// A snapshot of `checkout` of `bundle` at T0 + `at`, keyed by the bundle.
fn snapshot(tenant: &str, id: &str, at: i64, bundle: &str, checkout: &str, status: &str, legs: Vec<CheckoutLeg>) -> (String, NegotiationEvent) {
    let total: Decimal = legs.iter().map(|l| l.amount).sum();
    let e = CheckoutUpdated {
        envelope: Envelope::external(tenant, id, T0 + at),
        checkout_id: checkout.into(),
        bundle_id: bundle.into(),
        user_id: "u1".into(),
        thread_id: format!("thread-{bundle}"),
        status: status.into(),
        payment_status: if status == "authorizing" { "authorized" } else { "captured" }.into(),
        escrow_status: "held".into(),
        total,
        captured: if status == "authorizing" { Decimal::ZERO } else { total },
        refunded: Decimal::ZERO,
        released: Decimal::ZERO,
        currency: "EUR".into(),
        payment_intent_id: Some(format!("pi_{checkout}")),
        platform_fee: legs.iter().map(|l| l.platform_fee).sum(),
        affiliate_id: Some("aff-1".into()),
        affiliate_commission: legs.iter().map(|l| l.affiliate_commission).sum(),
        affiliate_status: "pending".into(),
        reason: None,
        legs,
    };
    (format!("{tenant}|{bundle}"), NegotiationEvent::CheckoutUpdated(e))
}

/// Tenant A: bundle b1 with an old failed checkout co-0, then co-1 (authorising, paid, then
/// fulfilling with leg l1 released and l2 re-sourced: refunded, beside its replacement charged on
/// its own; a stale snapshot and a duplicate after it), and bundle b2 with co-2; tenant B: its own
/// co-1 of b1. One record is a dead letter.
async fn produce(s: &Setup) {
    let (a, b) = (s.a.as_str(), s.b.as_str());
    let released = CheckoutLeg { escrow_status: "released".into(), release_trigger: Some("delivered".into()), transfer_id: Some("tr_1".into()), ..leg("l1", "delivered", "released") };
    let refunded = CheckoutLeg { refund_id: Some("re_1".into()), release_trigger: Some("resourced".into()), ..leg("l2", "replaced", "refunded") };
    let replacement = CheckoutLeg { partner_id: "p-l2b".into(), payment_intent_id: Some("pi_l2b".into()), negotiation_id: Some("res-l2b".into()), ..leg("l2", "confirmed", "held") };
    let fulfilling = snapshot(a, "snap-3", 5 * MINUTE, "b1", "co-1", "fulfilling", vec![released, refunded, replacement]);
    let mut failed = snapshot(a, "snap-f", MINUTE / 2, "b1", "co-0", "failed", vec![leg("l1", "failed", "none")]);
    if let NegotiationEvent::CheckoutUpdated(e) = &mut failed.1 {
        e.reason = Some("card_declined".into());
    }
    let misdirected = (format!("{b}|b1"), snapshot(a, "misdirected", 7 * MINUTE, "b1", "co-1", "refunded", vec![]).1);
    let events = vec![
        failed,
        snapshot(a, "snap-1", MINUTE, "b1", "co-1", "authorizing", vec![leg("l1", "pending", "none"), leg("l2", "pending", "none")]),
        snapshot(a, "snap-2", 5 * MINUTE, "b1", "co-1", "paid", vec![leg("l1", "confirmed", "held"), leg("l2", "confirmed", "held")]),
        // The same stream time as snap-2, later in the log: newer.
        fulfilling.clone(),
        // Declared earlier than the stored snapshot, produced later: ignored, legs and all.
        snapshot(a, "snap-0", 3 * MINUTE, "b1", "co-1", "authorizing", vec![leg("l9", "pending", "none")]),
        // In the log twice (a producer retry).
        fulfilling,
        snapshot(a, "snap-b2", 2 * MINUTE, "b2", "co-2", "paid", vec![leg("l1", "confirmed", "held")]),
        // Dead letter: a record keyed for another tenant.
        misdirected,
        snapshot(b, "snap-b", MINUTE, "b1", "co-1", "paid", vec![leg("only", "confirmed", "held")]),
    ];
    s.stack.produce(INPUT, &events).await;
}

async fn assert_projected(s: &Setup) {
    let (a, b) = (s.a.as_str(), s.b.as_str());
    let detail = queries::bundle_checkout(&mut s.pool.acquire().await.unwrap(), a, "b1").await.expect("checkout").expect("b1's checkout");
    let c = &detail.checkout;
    assert_eq!((c.checkout_id.as_str(), c.status.as_str(), c.payment_status.as_str()), ("co-1", "fulfilling", "captured"), "the bundle's latest checkout; the later offset at the same time wins");
    assert_eq!((c.total, c.captured, c.platform_fee, c.affiliate_commission), (d("165.00"), d("165.00"), d("20.61"), d("6.18")));
    assert_eq!((c.payment_intent_id.as_deref(), c.affiliate_id.as_deref(), c.currency.as_str()), (Some("pi_co-1"), Some("aff-1"), "EUR"));
    assert_eq!(c.updated_at.timestamp_millis(), T0 + 5 * MINUTE);
    let legs: Vec<_> =
        detail.legs.iter().map(|l| (l.leg_id.as_str(), l.partner_id.as_str(), l.escrow_status.as_str(), l.transfer_id.as_deref().or(l.refund_id.as_deref()), l.payment_intent_id.as_deref())).collect();
    assert_eq!(
        legs,
        [("l1", "p-l1", "released", Some("tr_1"), None), ("l2", "p-l2", "refunded", Some("re_1"), None), ("l2", "p-l2b", "held", None, Some("pi_l2b"))],
        "the snapshot's legs in its order, the re-sourced l2 beside its replacement; the stale l9 never stored"
    );
    assert_eq!((detail.legs[0].partner_share, detail.legs[0].release_trigger.as_deref(), detail.legs[2].negotiation_id.as_deref()), (d("48.13"), Some("delivered"), Some("res-l2b")));
    assert_eq!(s.stored_legs(a, "co-1").await, ["l1", "l2", "l2"]);
    assert_eq!(s.stored_legs(a, "co-0").await, ["l1"], "the failed checkout keeps its own legs");
    let failed: (String, Option<String>) = sqlx::query_as("SELECT status, reason FROM checkouts WHERE tenant_id = $1 AND checkout_id = 'co-0'").bind(a).fetch_one(&s.pool).await.expect("co-0");
    assert_eq!(failed, ("failed".to_string(), Some("card_declined".to_string())));

    let b2 = queries::bundle_checkout(&mut s.pool.acquire().await.unwrap(), a, "b2").await.expect("checkout").expect("b2's checkout");
    assert_eq!((b2.checkout.checkout_id.as_str(), b2.legs.len()), ("co-2", 1));
    assert!(queries::bundle_checkout(&mut s.pool.acquire().await.unwrap(), a, "b9").await.expect("checkout").is_none());

    // Tenant B reads its own co-1 under the same ids, and nothing of tenant A's.
    let other = queries::bundle_checkout(&mut s.pool.acquire().await.unwrap(), b, "b1").await.expect("checkout").expect("B's checkout");
    assert_eq!((other.checkout.status.as_str(), other.checkout.total), ("paid", d("55.00")), "the misdirected record was dead-lettered, not projected for B");
    assert_eq!(other.legs.iter().map(|l| l.leg_id.as_str()).collect::<Vec<_>>(), ["only"]);
    assert!(queries::bundle_checkout(&mut s.pool.acquire().await.unwrap(), b, "b2").await.expect("checkout").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkouts_project_forward_with_their_legs_per_tenant() {
    let _ = tracing_subscriber::fmt().with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "souk_sinks=info".into())).with_test_writer().try_init();
    let s = setup().await;
    produce(&s).await;
    s.run_to_end().await;
    let dlq = s.stack.topology.dlq_topic(SINK);
    let dead = tokio::task::block_in_place(|| souk_runtime::testkit::watermarks(&s.stack.bootstrap, &dlq, 0).expect("dlq watermarks").1);
    assert_eq!(dead, 1, "the misdirected record is a dead letter (stale snapshots are applied and lose)");
    assert_projected(&s).await;
    let rows = (s.rows(&s.a).await, s.rows(&s.b).await);

    // Forget the offsets: the whole log is applied again (every snapshot redelivered).
    let topic = s.stack.topology.topic(INPUT);
    sqlx::query("DELETE FROM sink_offsets WHERE sink = $1 AND topic = $2").bind(SINK).bind(&topic).execute(&s.pool).await.expect("reset offsets");
    s.run_to_end().await;
    assert_eq!((s.rows(&s.a).await, s.rows(&s.b).await), rows, "re-applying every record leaves every row unchanged");
    assert_projected(&s).await;
}
