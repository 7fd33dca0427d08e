//! The read API's checkout routes against real Postgres: bundles, checkouts and checkout legs of
//! two tenants are seeded with plain SQL (tenant B reuses tenant A's ids), the router is served on
//! a loopback port and called over HTTP. Covers the JSON shape (money as exact strings, times RFC
//! 3339, the legs in the snapshot's order, a re-sourced leg beside its replacement under one id),
//! that a bundle's checkout is its latest one, the
//! bundle's `checkout` field (null without one), the 404 `NO_CHECKOUT`, and tenant isolation.
//! Needs Postgres (`./dev up`; SOUK_DATABASE_URL).

mod api_support;

use api_support::{exec, keys, Api};
use serde_json::{json, Value};
use sqlx::PgPool;

const KEY_A: &str = "checkouts-key-a";
const KEY_B: &str = "checkouts-key-b";

const BUNDLE: &str = "INSERT INTO bundles (tenant_id, bundle_id, user_id, thread_id, status, starts_at, total_minutes, legs, last_event_id, updated_at, source_offset) VALUES ";
const CHECKOUT: &str = "INSERT INTO checkouts (tenant_id, checkout_id, bundle_id, user_id, thread_id, status, payment_status, escrow_status, total, captured, refunded, \
     released, currency, payment_intent_id, platform_fee, affiliate_id, affiliate_commission, affiliate_status, reason, last_event_id, updated_at, source_offset) VALUES ";
const LEG: &str = "INSERT INTO checkout_legs (tenant_id, checkout_id, leg_id, partner_id, partner_name, item, amount, partner_share, platform_fee, affiliate_commission, \
     status, escrow_status, release_trigger, transfer_id, refund_id, payment_intent_id, negotiation_id, position) VALUES ";

/// Tenant A: bundle b1 with a failed checkout co-0 and its later checkout co-1 (leg l1 delivered,
/// leg l2 re-sourced beside its replacement, stored out of order), bundle b2 without a checkout;
/// tenant B: its own b1 with its own co-1.
async fn seed(pool: &PgPool, a: &str, b: &str) {
    for (tenant, bundles) in [(a, vec!["b1", "b2"]), (b, vec!["b1"])] {
        for bundle in bundles {
            let sql = format!("{BUNDLE} ($1, '{bundle}', 'u1', 'thread-{bundle}', 'open', '2026-01-01T10:00:00Z', 35, '[]', 'e-{bundle}', '2026-01-01T09:00:00Z', 1)");
            exec(pool, &sql, tenant).await;
        }
    }
    exec(
        pool,
        &format!(
            "{CHECKOUT} ($1, 'co-0', 'b1', 'u1', 'thread-b1', 'failed', 'declined', 'none', 110, 0, 0, 0, 'EUR', NULL, 0, NULL, 0, 'none', 'card_declined', 'e0', '2026-01-01T09:30:00Z', 2), \
             ($1, 'co-1', 'b1', 'u1', 'thread-b1', 'fulfilling', 'captured', 'partially_released', 110, 110, 0, 48.13, 'EUR', 'pi_1', 13.74, 'aff-1', 4.12, 'pending', NULL, 'e1', '2026-01-01T10:05:00Z', 7)"
        ),
        a,
    )
    .await;
    exec(
        pool,
        &format!(
            "{LEG} ($1, 'co-1', 'l2', 'pc', 'Cake Shop C', 'Chocolate cake', 55, 48.13, 6.87, 2.06, 'confirmed', 'held', NULL, NULL, NULL, 'pi_l2', 'res-2b', 2), \
             ($1, 'co-1', 'l2', 'pb', 'Cake Shop B', 'Chocolate cake', 55, 48.13, 6.87, 0, 'replaced', 'refunded', 'resourced', NULL, 're_1', NULL, 'res-2', 1), \
             ($1, 'co-1', 'l1', 'pa', 'Flower Shop A', 'Red roses', 55, 48.13, 6.87, 2.06, 'delivered', 'released', 'delivered', 'tr_1', NULL, NULL, 'res-1', 0), \
             ($1, 'co-0', 'l1', 'pa', 'Flower Shop A', 'Red roses', 55, 48.13, 6.87, 0, 'failed', 'none', NULL, NULL, NULL, NULL, NULL, 0)"
        ),
        a,
    )
    .await;
    exec(pool, &format!("{CHECKOUT} ($1, 'co-1', 'b1', 'u-b', 'thread-b1', 'paid', 'captured', 'held', 20, 20, 0, 0, 'USD', 'pi_b', 2.5, NULL, 0, 'none', NULL, 'eb', '2026-01-01T11:00:00Z', 3)"), b)
        .await;
    exec(pool, &format!("{LEG} ($1, 'co-1', 'only', 'pz', 'B shop', 'B thing', 20, 17.5, 2.5, 0, 'confirmed', 'held', NULL, NULL, NULL, NULL, NULL, 0)"), b).await;
}

async fn start() -> Api {
    api_support::serve("checkoutapi", KEY_A, KEY_B, |pool, a, b| async move { seed(&pool, &a, &b).await }).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkout_routes_are_tenant_scoped_and_shaped() {
    let api = start().await;
    let (status, body) = api.get("/v1/bundles/b1/checkout", None).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("MISSING_API_KEY")), "{body}");

    // The bundle's latest checkout: every column, money as exact strings, the legs in order.
    let checkout = api.ok("/v1/bundles/b1/checkout", KEY_A).await;
    assert_eq!(
        keys(&checkout),
        [
            "affiliate_commission",
            "affiliate_id",
            "affiliate_status",
            "bundle_id",
            "captured",
            "checkout_id",
            "currency",
            "escrow_status",
            "legs",
            "payment_intent_id",
            "payment_status",
            "platform_fee",
            "reason",
            "refunded",
            "released",
            "status",
            "thread_id",
            "total",
            "updated_at",
            "user_id"
        ]
    );
    assert_eq!((checkout["checkout_id"].as_str(), checkout["status"].as_str(), checkout["reason"].clone()), (Some("co-1"), Some("fulfilling"), Value::Null), "the latest, not the failed co-0");
    let money: Vec<&str> = ["total", "captured", "refunded", "released", "platform_fee", "affiliate_commission"].iter().map(|f| checkout[f].as_str().expect("a string")).collect();
    // Zero reads back without decimals, as every zero amount of the read API (sqlx's NUMERIC decoding).
    assert_eq!(money, ["110.00", "110.00", "0", "48.13", "13.74", "4.12"]);
    assert_eq!((checkout["payment_intent_id"].as_str(), checkout["affiliate_id"].as_str(), checkout["updated_at"].as_str()), (Some("pi_1"), Some("aff-1"), Some("2026-01-01T10:05:00Z")));
    let legs = checkout["legs"].as_array().expect("legs");
    let order: Vec<(&str, &str)> = legs.iter().map(|l| (l["leg_id"].as_str().unwrap(), l["partner_id"].as_str().unwrap())).collect();
    assert_eq!(order, [("l1", "pa"), ("l2", "pb"), ("l2", "pc")], "by position: the re-sourced leg, then its replacement");
    assert_eq!(
        keys(&legs[0]),
        [
            "affiliate_commission",
            "amount",
            "escrow_status",
            "item",
            "leg_id",
            "negotiation_id",
            "partner_id",
            "partner_name",
            "partner_share",
            "payment_intent_id",
            "platform_fee",
            "refund_id",
            "release_trigger",
            "status",
            "transfer_id"
        ]
    );
    assert_eq!(
        legs[0],
        json!({"leg_id": "l1", "partner_id": "pa", "partner_name": "Flower Shop A", "item": "Red roses", "amount": "55.00", "partner_share": "48.13", "platform_fee": "6.87",
               "affiliate_commission": "2.06", "status": "delivered", "escrow_status": "released", "release_trigger": "delivered", "transfer_id": "tr_1", "refund_id": null,
               "payment_intent_id": null, "negotiation_id": "res-1"})
    );
    assert_eq!((legs[1]["escrow_status"].as_str(), legs[1]["refund_id"].as_str(), legs[1]["affiliate_commission"].as_str()), (Some("refunded"), Some("re_1"), Some("0")));
    assert_eq!((legs[2]["payment_intent_id"].as_str(), legs[2]["transfer_id"].clone()), (Some("pi_l2"), Value::Null));

    // The bundle carries the same checkout; a bundle without one says null.
    assert_eq!(api.ok("/v1/bundles/b1", KEY_A).await["checkout"], checkout);
    let b2 = api.ok("/v1/bundles/b2", KEY_A).await;
    assert!(b2["checkout"].is_null() && b2["bundle"]["bundle_id"] == "b2", "{b2}");

    // Tenant B reads its own checkout under the same ids; nothing of tenant A's.
    let other = api.ok("/v1/bundles/b1/checkout", KEY_B).await;
    assert_eq!((other["user_id"].as_str(), other["total"].as_str(), other["currency"].as_str()), (Some("u-b"), Some("20.00"), Some("USD")));
    assert_eq!(other["legs"].as_array().map(|l| l.len()), Some(1));
    assert_eq!(api.ok("/v1/bundles/b1", KEY_B).await["checkout"], other);
    for (path, key) in [("/v1/bundles/b2/checkout", KEY_A), ("/v1/bundles/nobody/checkout", KEY_A), ("/v1/bundles/b2/checkout", KEY_B)] {
        let (status, body) = api.get(path, Some(key)).await;
        assert_eq!((status, body["error"].as_str()), (404, Some("NO_CHECKOUT")), "{path}: {body}");
        assert!(body["reason"].as_str().is_some_and(|r| !r.is_empty()), "{body}");
    }
}
