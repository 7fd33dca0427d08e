//! Owner commands (rules S003.9–S003.10, A4–A6): API-key authentication, strict bodies,
//! validation with the field named, one event per command on the right topic and key, idempotent
//! command ids, and nothing published for any refusal.

mod gateway_support;

use gateway_support::*;
use reqwest::Method;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use souk_producers::gateway::GatewayEvent;
use souk_schemas::Envelope;

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approve_and_reject_go_to_the_customers_session() {
    let gw = Gateway::start().await;
    let (id, p) = accepted(&gw, gw.command(Method::POST, "/v1/orders/o-1/approve", Some(BHARAT.api_key), Some(json!({ "actor": "owner@bharat", "command_id": "click-1" }))).await).await;
    assert_eq!((id.as_str(), p.output, p.key.as_str()), ("click-1", "decisions", "bharat|919800000001"));
    let GatewayEvent::OwnerDecision(d) = &p.event else { panic!("{p:?}") };
    assert_eq!(d.envelope, Envelope::external("bharat", "cmd/click-1", NOW_MS), "client command id ⇒ stable event id");
    assert_eq!((d.order_id.as_str(), d.customer.as_str(), d.decision.as_str(), d.actor.as_deref(), d.reason.as_deref()), ("o-1", "919800000001", "APPROVE", Some("owner@bharat"), None));

    // The owner double-clicks: same command id, same event (deduplicated downstream).
    let (status, _) = gw.command(Method::POST, "/v1/orders/o-1/approve", Some(BHARAT.api_key), Some(json!({ "actor": "owner@bharat", "command_id": "click-1" }))).await;
    assert_eq!(status, 202);
    assert_eq!(gw.published().await[1], p);

    // No body at all: a fresh UUIDv4 command id.
    let (status, body) = gw.command(Method::POST, "/v1/orders/o-1/reject", Some(BHARAT.api_key), None).await;
    assert_eq!(status, 202, "{body}");
    let fresh = uuid::Uuid::parse_str(body["command_id"].as_str().unwrap()).unwrap();
    assert_eq!(fresh.get_version_num(), 4);
    let (status, _) = gw.command(Method::POST, "/v1/orders/o-1/reject", Some(BHARAT.api_key), Some(json!({ "reason": "  price too low  " }))).await;
    assert_eq!(status, 202);
    let all = gw.published().await;
    let GatewayEvent::OwnerDecision(r) = &all[3].event else { panic!() };
    assert_eq!((r.decision.as_str(), r.reason.as_deref()), ("REJECT", Some("price too low")));
    assert_ne!(all[2].event.envelope().event_id, all[3].event.envelope().event_id, "fresh ids differ");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_refused() {
    let gw = Gateway::start().await;
    refused(&gw, gw.command(Method::POST, "/v1/orders/o-404/approve", Some(BHARAT.api_key), None).await, 404, "UNKNOWN_ORDER", "o-404").await;
    // Orders are tenant-scoped: sutra cannot see bharat's order.
    refused(&gw, gw.command(Method::POST, "/v1/orders/o-1/approve", Some(SUTRA.api_key), None).await, 404, "UNKNOWN_ORDER", "o-1").await;
    refused(&gw, gw.command(Method::POST, "/v1/orders/o-1/approve", Some(BHARAT.api_key), Some(json!({ "approved": true }))).await, 400, "MALFORMED_BODY", "approved").await;
    refused(&gw, gw.command(Method::POST, "/v1/orders/o-1/approve", Some(BHARAT.api_key), Some(json!({ "command_id": "a|b" }))).await, 400, "INVALID_FIELD", "command_id").await;
    refused(&gw, gw.command(Method::POST, "/v1/orders/o-1/approve", None, None).await, 401, "MISSING_API_KEY", "Bearer").await;
    refused(&gw, gw.command(Method::POST, "/v1/orders/o-1/approve", Some("bharat-owner-ke"), None).await, 401, "BAD_API_KEY", "API key").await;
    let basic = gw.http.post(format!("{}/v1/orders/o-1/approve", gw.base)).basic_auth("owner", Some(BHARAT.api_key)).send().await.unwrap();
    refused(&gw, answer(basic).await, 401, "MISSING_API_KEY", "Bearer").await;
    // The 401 comes before the body is even looked at.
    refused(&gw, gw.command(Method::POST, "/v1/orders/o-1/approve", None, Some(json!({ "bogus": 1 }))).await, 401, "MISSING_API_KEY", "Bearer").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payments() {
    let gw = Gateway::start().await;
    let body = json!({ "payment_id": "UPI-881", "customer": "919800000001", "amount": "500.00", "method": "UPI", "reference": "4411" });
    let (id, p) = accepted(&gw, gw.command(Method::POST, "/v1/payments", Some(BHARAT.api_key), Some(body.clone())).await).await;
    assert_eq!((p.output, p.key.as_str()), ("payments", "bharat|919800000001"));
    let GatewayEvent::Payment(pay) = &p.event else { panic!() };
    assert_eq!((pay.payment_id.as_str(), pay.amount, pay.method.as_deref(), pay.reference.as_deref()), ("UPI-881", dec("500"), Some("UPI"), Some("4411")));
    assert_eq!(pay.envelope, Envelope::external("bharat", &format!("cmd/{id}"), NOW_MS));
    // A retried POST of the same payment is the same event.
    let (status, again) = gw.command(Method::POST, "/v1/payments", Some(BHARAT.api_key), Some(body)).await;
    assert_eq!((status, again["command_id"].as_str()), (202, Some(id.as_str())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payments_refused() {
    let gw = Gateway::start().await;
    let with = |field: &str, value: Value| {
        let mut b = json!({ "payment_id": "P1", "customer": "919800000001", "amount": "10" });
        b[field] = value;
        b
    };
    for (body, code, mentions) in [
        (with("amount", json!("0")), "INVALID_FIELD", "amount"),
        (with("amount", json!("-5")), "INVALID_FIELD", "amount"),
        (with("amount", json!("10.001")), "INVALID_FIELD", "amount"),
        (with("amount", json!("ten")), "MALFORMED_BODY", "ten"),
        (with("customer", json!("  ")), "INVALID_FIELD", "customer"),
        (with("currency", json!("INR")), "MALFORMED_BODY", "currency"),
        (json!({ "payment_id": "P1", "amount": "10" }), "MALFORMED_BODY", "customer"),
    ] {
        refused(&gw, gw.command(Method::POST, "/v1/payments", Some(BHARAT.api_key), Some(body)).await, 400, code, mentions).await;
    }
    refused(&gw, gw.command(Method::POST, "/v1/payments", Some("nope"), Some(with("amount", json!("1")))).await, 401, "BAD_API_KEY", "API key").await;
    let raw = gw.http.post(format!("{}/v1/payments", gw.base)).bearer_auth(BHARAT.api_key).body("{\"payment_id\":").send().await.unwrap();
    refused(&gw, answer(raw).await, 400, "MALFORMED_BODY", "EOF").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_upserts_are_normalized() {
    let gw = Gateway::start().await;
    let (_, p) = accepted(
        &gw,
        gw.command(Method::PUT, "/v1/catalog/%20Cotton%20/Navy%20Blue", Some(BHARAT.api_key), Some(json!({ "price_per_meter": "120.50", "aliases": ["Sooti", "sooti ", "kapas"] }))).await,
    )
    .await;
    assert_eq!((p.output, p.key.as_str()), ("inventory", "bharat|cotton|navy blue"));
    let GatewayEvent::CatalogItem(c) = &p.event else { panic!() };
    assert_eq!((c.material.as_str(), c.color.as_str(), c.price_per_meter, c.aliases.clone()), ("cotton", "navy blue", dec("120.50"), vec!["sooti".to_string(), "kapas".into()]));

    let gw = Gateway::start().await;
    refused(&gw, gw.command(Method::PUT, "/v1/catalog/cotton/blue", Some(BHARAT.api_key), Some(json!({ "price_per_meter": "0" }))).await, 400, "INVALID_FIELD", "price_per_meter").await;
    refused(&gw, gw.command(Method::PUT, "/v1/catalog/cotton/blue", Some(BHARAT.api_key), Some(json!({ "price_per_meter": "1", "aliases": ["ok", " "] }))).await, 400, "INVALID_FIELD", "aliases[1]")
        .await;
    refused(&gw, gw.command(Method::PUT, "/v1/catalog/cot%7Cton/blue", Some(BHARAT.api_key), Some(json!({ "price_per_meter": "1" }))).await, 400, "INVALID_FIELD", "material").await;
    refused(&gw, gw.command(Method::PUT, "/v1/catalog/cotton/blue", Some(BHARAT.api_key), Some(json!({ "price": "1" }))).await, 400, "MALFORMED_BODY", "price").await;
    refused(&gw, gw.command(Method::PUT, "/v1/catalog/cotton/blue", None, Some(json!({ "price_per_meter": "1" }))).await, 401, "MISSING_API_KEY", "Bearer").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_received() {
    let gw = Gateway::start().await;
    let body = json!({ "batch_id": "B-7", "material": "Silk", "color": "Red", "dye_lot": "L9", "rolls": 4, "meters_per_roll": "25", "loose_meters": "12.5", "price_per_meter": "310", "received_at": "2024-01-02T10:00:00+05:30" });
    let (id, p) = accepted(&gw, gw.command(Method::POST, "/v1/stock", Some(BHARAT.api_key), Some(body.clone())).await).await;
    assert_eq!((p.output, p.key.as_str()), ("inventory", "bharat|silk|red"));
    let GatewayEvent::Batch(b) = &p.event else { panic!() };
    assert_eq!((b.batch_id.as_str(), b.dye_lot.as_deref(), b.rolls, b.meters_per_roll, b.loose_meters, b.price_per_meter), ("B-7", Some("L9"), 4, dec("25"), dec("12.5"), Some(dec("310"))));
    assert_eq!(b.received_at, 1_704_169_800_000, "RFC 3339 with offset");
    let (_, again) = gw.command(Method::POST, "/v1/stock", Some(BHARAT.api_key), Some(body)).await;
    assert_eq!(again["command_id"].as_str(), Some(id.as_str()), "a retried batch is the same event");

    let gw = Gateway::start().await;
    let (_, p) = accepted(
        &gw,
        gw.command(Method::POST, "/v1/stock", Some(BHARAT.api_key), Some(json!({ "batch_id": "B-8", "material": "silk", "color": "red", "rolls": 0, "meters_per_roll": "25", "loose_meters": "3" })))
            .await,
    )
    .await;
    let GatewayEvent::Batch(b) = &p.event else { panic!() };
    assert_eq!((b.received_at, b.price_per_meter, b.dye_lot.clone()), (NOW_MS, None, None), "received_at defaults to now");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_refused() {
    let gw = Gateway::start().await;
    let with = |field: &str, value: Value| {
        let mut b = json!({ "batch_id": "B-1", "material": "silk", "color": "red", "rolls": 2, "meters_per_roll": "25", "loose_meters": "0" });
        b[field] = value;
        b
    };
    for (body, code, mentions) in [
        (with("rolls", json!(-1)), "INVALID_FIELD", "rolls"),
        (with("rolls", json!(0)), "INVALID_FIELD", "rolls"),
        (with("meters_per_roll", json!("0")), "INVALID_FIELD", "meters_per_roll"),
        (with("loose_meters", json!("1.0005")), "INVALID_FIELD", "loose_meters"),
        (with("price_per_meter", json!("9.999")), "INVALID_FIELD", "price_per_meter"),
        (with("received_at", json!("yesterday")), "INVALID_FIELD", "received_at"),
        (with("material", json!("")), "INVALID_FIELD", "material"),
        (with("rolls", json!("two")), "MALFORMED_BODY", "rolls"),
        (with("weight", json!(1)), "MALFORMED_BODY", "weight"),
    ] {
        refused(&gw, gw.command(Method::POST, "/v1/stock", Some(BHARAT.api_key), Some(body)).await, 400, code, mentions).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_settings() {
    let gw = Gateway::start().await;
    let (_, p) = accepted(&gw, gw.command(Method::PUT, "/v1/settings", Some(SUTRA.api_key), Some(json!({ "gst_rate": "0.05", "reminder_days": 7 }))).await).await;
    assert_eq!((p.output, p.key.as_str()), ("billing", "sutra"));
    let GatewayEvent::Settings(s) = &p.event else { panic!() };
    assert_eq!((s.gst_rate, s.reminder_days, s.envelope.tenant_id.as_str()), (dec("0.05"), 7, "sutra"));

    let gw = Gateway::start().await;
    for (body, mentions) in [
        (json!({ "gst_rate": "1.0", "reminder_days": 7 }), "gst_rate"),
        (json!({ "gst_rate": "0.12345", "reminder_days": 7 }), "gst_rate"),
        (json!({ "gst_rate": "-0.01", "reminder_days": 7 }), "gst_rate"),
        (json!({ "gst_rate": "0.05", "reminder_days": 0 }), "reminder_days"),
        (json!({ "gst_rate": "0.05", "reminder_days": 366 }), "reminder_days"),
    ] {
        refused(&gw, gw.command(Method::PUT, "/v1/settings", Some(BHARAT.api_key), Some(body)).await, 400, "INVALID_FIELD", mentions).await;
    }
    refused(&gw, gw.command(Method::PUT, "/v1/settings", Some(BHARAT.api_key), Some(json!({ "gst_rate": "0.05" }))).await, 400, "MALFORMED_BODY", "reminder_days").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_outage_oversized_bodies_and_wrong_routes() {
    let gw = Gateway::start().await;
    gw.broker_down(true);
    refused(&gw, gw.command(Method::PUT, "/v1/settings", Some(BHARAT.api_key), Some(json!({ "gst_rate": "0.05", "reminder_days": 7 }))).await, 503, "UNAVAILABLE", "broker").await;
    gw.broker_down(false);

    let huge = json!({ "payment_id": "P1", "customer": "919800000001", "amount": "1", "reference": "r".repeat(300 * 1024) });
    refused(&gw, gw.command(Method::POST, "/v1/payments", Some(BHARAT.api_key), Some(huge)).await, 413, "PAYLOAD_TOO_LARGE", "").await;

    let (status, _) = gw.command(Method::GET, "/v1/payments", Some(BHARAT.api_key), None).await;
    assert_eq!(status, 405);
    let (status, _) = gw.command(Method::POST, "/v1/orders/o-1/cancel", Some(BHARAT.api_key), None).await;
    assert_eq!(status, 404);
    let (status, _) = gw.command(Method::DELETE, "/webhooks/whatsapp", None, None).await;
    assert_eq!(status, 405);
    assert!(gw.published().await.is_empty());
}
