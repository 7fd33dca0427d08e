//! The read API's system 2 routes against real Postgres: partners, products, a bundle and its
//! negotiation of two tenants are seeded with plain SQL (tenant B reuses tenant A's ids), the router
//! is served on a loopback port and called over HTTP. Covers the JSON shape of every route
//! (decimals as strings, times RFC 3339, the partner's location), filters and ordering, the 400s of
//! a bad query, and tenant isolation: a tenant never sees another's rows (empty lists, 404s).
//! Needs Postgres (`./dev up`; SOUK_DATABASE_URL).

mod api_support;

use api_support::{exec, ids, Api};
use serde_json::json;
use sqlx::PgPool;

const KEY_A: &str = "orchestration-key-a";
const KEY_B: &str = "orchestration-key-b";

const LEGS: &str = r#"[{"leg_id": "l1", "name": "Flowers", "partner_id": "pa", "partner_name": "Flower Shop A", "partner_contact": "1234567890",
  "partner_lat": 40.7128, "partner_lng": -74.006, "preparation_minutes": 20, "hard_locked": false, "product_id": "p1", "item": "Red Flowers",
  "price": "50.00", "currency": "USD", "capabilities": ["florist"], "is_jit": false, "starts_at": "2026-01-01T10:00:00Z",
  "deadline": "2026-01-01T12:00:00Z", "destination_lat": 40.75, "destination_lng": -73.99, "arrives_at": "2026-01-01T10:35:00Z"}]"#;

/// Tenant A: two partners (one White Glove), three products, bundle b1 with two negotiations, a
/// reply, a thread and a recovery. Tenant B: partner pa, product p1 and bundle b1 of its own.
async fn seed(pool: &PgPool, a: &str, b: &str) {
    let partner = "INSERT INTO partners (tenant_id, partner_id, name, business_type, lat, lng, capabilities, channel_id, opted_in, lock_type, \
         preparation_minutes, trust_score, white_glove, active, last_event_id, updated_at, source_offset) VALUES ";
    exec(
        pool,
        &format!(
            "{partner} ($1, 'pb', 'Flower Shop B', 'florist', 40.758, -73.9855, '{{florist}}', '1234567891', true, 'soft', 15, 100, true, true, 'e1', '2026-01-01T09:00:00Z', 1), \
             ($1, 'pa', 'Flower Shop A', 'florist', 40.7128, -74.006, '{{florist,delivery}}', '1234567890', true, 'none', 20, 45, false, true, 'e2', '2026-01-01T09:00:00Z', 0)"
        ),
        a,
    )
    .await;
    exec(pool, &format!("{partner} ($1, 'pa', 'B shop', 'limo', 1, 2, '{{}}', '99', false, 'hard', 0, 0, false, false, 'e3', '2026-01-01T09:00:00Z', 0)"), b).await;
    let product = "INSERT INTO partner_products (tenant_id, product_id, partner_id, name, description, price, currency, capabilities, \
         inventory_count, active, last_event_id, updated_at, source_offset) VALUES ";
    exec(
        pool,
        &format!(
            "{product} ($1, 'p2', 'pb', 'Pink Flowers', '', 55, 'USD', '{{Florist}}', -1, true, 'e4', '2026-01-01T09:00:00Z', 0), \
             ($1, 'p1', 'pa', 'Red Flowers', 'a dozen', 50.00, 'USD', '{{florist}}', 10, true, 'e5', '2026-01-01T09:00:00Z', 0), \
             ($1, 'p3', 'pa', 'Chauffeur', '', 120.5, 'USD', '{{limo}}', 0, false, 'e6', '2026-01-01T09:00:00Z', 0)"
        ),
        a,
    )
    .await;
    exec(pool, &format!("{product} ($1, 'p1', 'pa', 'B thing', '', 1, 'EUR', '{{}}', 1, true, 'e7', '2026-01-01T09:00:00Z', 0)"), b).await;
    let bundle = "INSERT INTO bundles (tenant_id, bundle_id, user_id, thread_id, status, starts_at, total_minutes, legs, last_event_id, updated_at, source_offset) VALUES ";
    exec(pool, &format!("{bundle} ($1, 'b1', 'u1', 't1', 'open', '2026-01-01T10:00:00Z', 35, '{LEGS}', 'e8', '2026-01-01T09:30:00Z', 10)"), a).await;
    exec(pool, &format!("{bundle} ($1, 'b1', 'u-b', 't-b', 'changing', '2026-01-01T10:00:00Z', 5, '[]', 'e9', '2026-01-01T09:30:00Z', 0)"), b).await;
    let negotiation = "INSERT INTO negotiations (tenant_id, negotiation_id, bundle_id, leg_id, negotiation_type, status, partner_id, counter_offer_count, \
         unclear_replies, paused, proposal, proposal_price, reason, last_event_id, updated_at, source_offset) VALUES ";
    exec(
        pool,
        &format!(
            "{negotiation} ($1, 'n2', 'b1', 'l1', 'price_negotiation', 'escalated', 'pa', 0, 2, false, NULL, NULL, 'STALLED', 'e10', '2026-01-01T09:50:00Z', 14), \
             ($1, 'n1', 'b1', 'l1', 'product_change', 'awaiting_user_approval', 'pa', 1, 0, false, 'Red Roses', 52.50, NULL, 'e11', '2026-01-01T09:40:00Z', 12), \
             ($1, 'n3', 'b9', 'l1', 'timing_change', 'accepted', 'pb', 0, 0, false, NULL, NULL, NULL, 'e12', '2026-01-01T09:45:00Z', 3)"
        ),
        a,
    )
    .await;
    exec(pool, &format!("{negotiation} ($1, 'n9', 'b1', 'l1', 'product_change', 'escalated', 'pa', 0, 0, true, NULL, NULL, NULL, 'e13', '2026-01-01T09:59:00Z', 1)"), b).await;
    exec(
        pool,
        "INSERT INTO negotiation_replies (tenant_id, event_id, negotiation_id, bundle_id, partner_id, text, button_id, classification, offered_item, \
         offered_price, offered_change_percent, classifier, at, source_offset) VALUES \
         ($1, 'r2', 'n1', 'b1', 'pa', NULL, 'neg:modify', 'counter_offer', NULL, NULL, 10.00, 'offline-1', '2026-01-01T09:41:00Z', 13), \
         ($1, 'r1', 'n1', 'b1', 'pa', 'I have red roses for $52.50', NULL, 'counter_offer', 'red roses', 52.50, NULL, 'offline-1', '2026-01-01T09:40:00Z', 11)",
        a,
    )
    .await;
    exec(
        pool,
        "INSERT INTO thread_messages (tenant_id, event_id, bundle_id, thread_id, negotiation_id, kind, text, at, source_offset) VALUES \
         ($1, 'm2', 'b1', 't1', 'n1', 'counter_offer', 'Flower Shop A offers Red Roses for 52.50 USD. Should I accept?', '2026-01-01T09:40:00Z', 12), \
         ($1, 'm1', 'b1', 't1', NULL, 'bundle_confirmed', 'Your bundle is confirmed.', '2026-01-01T09:40:00Z', 11)",
        a,
    )
    .await;
    exec(
        pool,
        "INSERT INTO recoveries (tenant_id, event_id, negotiation_id, bundle_id, leg_id, old_partner_id, new_partner_id, product_id, item, price, \
         delay_minutes, at, source_offset) VALUES ($1, 'x1', 'n1', 'b1', 'l1', 'pa', 'pb', 'p2', 'Pink Flowers', 55.00, -5, '2026-01-01T09:55:00Z', 15)",
        a,
    )
    .await;
}

async fn start() -> Api {
    api_support::serve("orchapi", KEY_A, KEY_B, |pool, a, b| async move { seed(&pool, &a, &b).await }).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orchestration_routes_are_tenant_scoped_and_shaped() {
    let api = start().await;

    // Authentication and bad queries.
    for path in ["/v1/partners", "/v1/partners/pa", "/v1/products", "/v1/bundles/b1", "/v1/negotiations", "/v1/negotiations/n1"] {
        let (status, body) = api.get(path, None).await;
        assert_eq!((status, body["error"].as_str()), (401, Some("MISSING_API_KEY")), "{path}: {body}");
    }
    for bad in ["/v1/negotiations?limit=0", "/v1/negotiations?limit=501", "/v1/negotiations?limit=many", "/v1/negotiations?status=lost"] {
        let (status, body) = api.get(bad, Some(KEY_A)).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("BAD_QUERY")), "{bad}: {body}");
    }

    // Partners: by id, with location, trust and tier.
    let partners = api.ok("/v1/partners", KEY_A).await;
    assert_eq!(ids(&partners["partners"], "partner_id"), ["pa", "pb"]);
    let pa = &partners["partners"][0];
    assert_eq!(pa["location"], json!({ "lat": 40.7128, "lng": -74.006 }));
    assert_eq!((pa["trust_score"].as_i64(), pa["white_glove"].as_bool(), pa["preparation_minutes"].as_i64()), (Some(45), Some(false), Some(20)));
    assert_eq!(pa["capabilities"], json!(["florist", "delivery"]));
    assert_eq!((pa["channel_id"].as_str(), pa["lock_type"].as_str(), pa["updated_at"].as_str()), (Some("1234567890"), Some("none"), Some("2026-01-01T09:00:00Z")));
    assert_eq!(partners["partners"][1]["white_glove"], true);
    let mut keys: Vec<&str> = pa.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["active", "business_type", "capabilities", "channel_id", "location", "lock_type", "name", "opted_in", "partner_id", "preparation_minutes", "trust_score", "updated_at", "white_glove"]
    );

    // One partner with its products (removed ones included, flagged).
    let detail = api.ok("/v1/partners/pa", KEY_A).await;
    assert_eq!(detail["partner"]["name"], "Flower Shop A");
    assert_eq!(ids(&detail["products"], "product_id"), ["p1", "p3"]);
    assert_eq!((detail["products"][1]["price"].as_str(), detail["products"][1]["active"].as_bool()), (Some("120.50"), Some(false)));

    // Products: decimals as strings with two places; filters by partner and capability.
    let products = api.ok("/v1/products", KEY_A).await;
    assert_eq!(ids(&products["products"], "product_id"), ["p1", "p2", "p3"]);
    let p2 = &products["products"][1];
    assert_eq!((p2["price"].as_str(), p2["currency"].as_str(), p2["inventory_count"].as_i64()), (Some("55.00"), Some("USD"), Some(-1)));
    assert_eq!(ids(&api.ok("/v1/products?partner_id=pa", KEY_A).await["products"], "product_id"), ["p1", "p3"]);
    assert_eq!(ids(&api.ok("/v1/products?capability=florist", KEY_A).await["products"], "product_id"), ["p1", "p2"], "case-insensitive");
    assert_eq!(ids(&api.ok("/v1/products?partner_id=pb&capability=limo", KEY_A).await["products"], "product_id"), Vec::<&str>::new());

    // A bundle with its timeline, negotiations, thread and recoveries.
    let bundle = api.ok("/v1/bundles/b1", KEY_A).await;
    let b = &bundle["bundle"];
    assert_eq!((b["user_id"].as_str(), b["starts_at"].as_str(), b["total_minutes"].as_i64()), (Some("u1"), Some("2026-01-01T10:00:00Z"), Some(35)));
    assert_eq!((b["legs"][0]["price"].as_str(), b["legs"][0]["arrives_at"].as_str()), (Some("50.00"), Some("2026-01-01T10:35:00Z")));
    assert_eq!(ids(&bundle["negotiations"], "negotiation_id"), ["n1", "n2"], "least recently changed first; only this bundle's");
    let n1 = &bundle["negotiations"][0];
    assert_eq!((n1["proposal"].as_str(), n1["proposal_price"].as_str(), n1["counter_offer_count"].as_i64()), (Some("Red Roses"), Some("52.50"), Some(1)));
    assert!(bundle["negotiations"][1]["proposal_price"].is_null());
    assert_eq!(ids(&bundle["messages"], "event_id"), ["m1", "m2"], "log order");
    assert!(bundle["messages"][0]["negotiation_id"].is_null(), "a bundle-level note");
    assert_eq!(bundle["messages"][1]["negotiation_id"], "n1");
    let recovery = &bundle["recoveries"][0];
    assert_eq!((recovery["new_partner_id"].as_str(), recovery["price"].as_str(), recovery["delay_minutes"].as_i64()), (Some("pb"), Some("55.00"), Some(-5)));

    // Negotiations: newest first, filters, limit.
    assert_eq!(ids(&api.ok("/v1/negotiations", KEY_A).await["negotiations"], "negotiation_id"), ["n2", "n3", "n1"]);
    assert_eq!(ids(&api.ok("/v1/negotiations?bundle_id=b1", KEY_A).await["negotiations"], "negotiation_id"), ["n2", "n1"]);
    assert_eq!(ids(&api.ok("/v1/negotiations?status=escalated", KEY_A).await["negotiations"], "negotiation_id"), ["n2"]);
    assert_eq!(ids(&api.ok("/v1/negotiations?limit=1", KEY_A).await["negotiations"], "negotiation_id"), ["n2"]);
    let negotiation = api.ok("/v1/negotiations/n1", KEY_A).await;
    assert_eq!(negotiation["negotiation"]["status"], "awaiting_user_approval");
    assert_eq!(ids(&negotiation["replies"], "event_id"), ["r1", "r2"], "log order");
    let (r1, r2) = (&negotiation["replies"][0], &negotiation["replies"][1]);
    assert_eq!((r1["offered_item"].as_str(), r1["offered_price"].as_str(), r1["button_id"].as_str()), (Some("red roses"), Some("52.50"), None));
    assert_eq!((r2["button_id"].as_str(), r2["offered_change_percent"].as_str(), r2["text"].as_str()), (Some("neg:modify"), Some("10.00"), None));

    // Tenant B sees its own rows under the same ids, never tenant A's; unknown ids are 404s.
    assert_eq!(ids(&api.ok("/v1/partners", KEY_B).await["partners"], "name"), ["B shop"]);
    let b_partner = api.ok("/v1/partners/pa", KEY_B).await;
    assert_eq!(ids(&b_partner["products"], "name"), ["B thing"]);
    assert_eq!(ids(&api.ok("/v1/products?capability=florist", KEY_B).await["products"], "product_id"), Vec::<&str>::new());
    let b_bundle = api.ok("/v1/bundles/b1", KEY_B).await;
    assert_eq!((b_bundle["bundle"]["user_id"].as_str(), b_bundle["bundle"]["legs"].clone()), (Some("u-b"), json!([])));
    assert_eq!(ids(&b_bundle["negotiations"], "negotiation_id"), ["n9"]);
    assert!(b_bundle["messages"].as_array().unwrap().is_empty() && b_bundle["recoveries"].as_array().unwrap().is_empty());
    assert_eq!(ids(&api.ok("/v1/negotiations", KEY_B).await["negotiations"], "negotiation_id"), ["n9"]);
    for (path, key) in [("/v1/negotiations/n1", KEY_B), ("/v1/negotiations/n9", KEY_A), ("/v1/partners/pb", KEY_B), ("/v1/bundles/b9", KEY_A), ("/v1/partners/nobody", KEY_A)] {
        let (status, body) = api.get(path, Some(key)).await;
        assert_eq!((status, body["error"].as_str()), (404, Some("NOT_FOUND")), "{path}: {body}");
        assert!(body["reason"].as_str().is_some_and(|r| !r.is_empty()), "{body}");
    }
}
