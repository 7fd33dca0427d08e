//! The checkout's commands at the edge (docs/rules/checkout.md) on the real local stack: a
//! bundle's checkout and a leg's delivery are one event each on the bundle's `negotiation.inputs`
//! key, with a checkout id derived from the command when none is named; payment methods, payout
//! accounts and the affiliate's percent are validated with the field named, and nothing is
//! published for a refusal. A partner's payout account reaches its `PartnerUpserted`.

mod gateway_support;

use gateway_support::*;
use reqwest::Method;
use serde_json::{json, Value};
use souk_producers::gateway::GatewayEvent;
use souk_schemas::payments::{CheckoutRequested, LegDelivered};
use souk_schemas::Envelope;

const CHECKOUT: &str = "/v1/bundles/b1/checkout";

/// The `CheckoutRequested` a 202 published, checked to be on the bundle's key.
async fn checkout_requested(gw: &Gateway, answer: (u16, Value), key: &str) -> (Value, CheckoutRequested) {
    let body = answer.1.clone();
    let (_, p) = accepted(gw, answer).await;
    assert_eq!((p.output, p.key.as_str()), ("negotiations", key), "{p:?}");
    let GatewayEvent::Checkout(c) = p.event else { panic!("{p:?}") };
    (body, c)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkout_is_one_request_on_the_bundles_key() {
    let gw = Gateway::start().await;
    let body = json!({ "payment_method": " pm_card_visa ", "command_id": "pay-1",
                       "affiliate": { "affiliate_id": "aff-7", "payout_account": "acct_1Nv0FGQ9RKHgCVdK", "percent": "30.5" } });
    let (answer, c) = checkout_requested(&gw, gw.command(Method::POST, CHECKOUT, Some(BHARAT.api_key), Some(body.clone())).await, "bharat|b1").await;
    let checkout_id = answer["checkout_id"].as_str().unwrap().to_string();
    assert_eq!((answer["command_id"].as_str(), answer["bundle_id"].as_str()), (Some("pay-1"), Some("b1")), "{answer}");
    let uuid = uuid::Uuid::parse_str(checkout_id.strip_prefix("co-").expect("co-<uuid>")).unwrap();
    assert_eq!(uuid.get_version_num(), 5, "derived from tenant, bundle and command id");
    let expected = CheckoutRequested {
        envelope: Envelope::external("bharat", "cmd/pay-1", NOW_MS),
        checkout_id: checkout_id.clone(),
        bundle_id: "b1".into(),
        payment_method: "pm_card_visa".into(),
        affiliate_id: Some("aff-7".into()),
        affiliate_account: Some("acct_1Nv0FGQ9RKHgCVdK".into()),
        affiliate_percent: Some("30.5".parse().unwrap()),
        intent_id: None,
    };
    assert_eq!(c, expected);

    // A retry with the same command id is the same event and the same checkout.
    let (status, again) = gw.command(Method::POST, CHECKOUT, Some(BHARAT.api_key), Some(body)).await;
    assert_eq!((status, again["checkout_id"].as_str()), (202, Some(checkout_id.as_str())));
    assert_eq!(gw.published().await[1].event, GatewayEvent::Checkout(expected));

    // Another tenant checking out its own b1: its own key and another checkout id.
    let gw = Gateway::start().await;
    let (answer, c) =
        checkout_requested(&gw, gw.command(Method::POST, CHECKOUT, Some(SUTRA.api_key), Some(json!({ "payment_method": "pm_card_visa", "command_id": "pay-1" }))).await, "sutra|b1").await;
    assert_ne!(answer["checkout_id"].as_str(), Some(checkout_id.as_str()), "ids are per tenant");
    assert_eq!((c.affiliate_id, c.affiliate_account, c.affiliate_percent), (None, None, None), "no affiliate");

    // A checkout id named by the client, a percent as a JSON number, a fresh command id.
    let gw = Gateway::start().await;
    let body = json!({ "payment_method": "pm_1", "checkout_id": "co-mine", "affiliate": { "affiliate_id": "aff-7", "payout_account": "acct_9", "percent": 100 } });
    let (answer, c) = checkout_requested(&gw, gw.command(Method::POST, CHECKOUT, Some(BHARAT.api_key), Some(body)).await, "bharat|b1").await;
    assert_eq!((c.checkout_id.as_str(), c.affiliate_percent), ("co-mine", Some(100.into())));
    assert_eq!(uuid::Uuid::parse_str(answer["command_id"].as_str().unwrap()).unwrap().get_version_num(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkouts_refused() {
    let gw = Gateway::start().await;
    let affiliate = |field: &str, value: Value| {
        let mut a = json!({ "affiliate_id": "aff-7", "payout_account": "acct_1", "percent": "10" });
        a[field] = value;
        json!({ "payment_method": "pm_card_visa", "affiliate": a })
    };
    for (body, code, mentions) in [
        (json!({}), "MALFORMED_BODY", "payment_method"),
        (json!({ "payment_method": null }), "MALFORMED_BODY", "payment_method"),
        (json!({ "payment_method": "" }), "INVALID_FIELD", "payment_method"),
        (json!({ "payment_method": "pm_" }), "INVALID_FIELD", "payment_method"),
        (json!({ "payment_method": "card_visa" }), "INVALID_FIELD", "payment_method"),
        (json!({ "payment_method": "pm_card-visa" }), "INVALID_FIELD", "payment_method"),
        (json!({ "payment_method": format!("pm_{}", "a".repeat(253)) }), "INVALID_FIELD", "payment_method"),
        (json!({ "payment_method": "pm_1", "checkout_id": "co|1" }), "INVALID_FIELD", "checkout_id"),
        (json!({ "payment_method": "pm_1", "amount": "10" }), "MALFORMED_BODY", "amount"),
        (affiliate("payout_account", json!("pm_1")), "INVALID_FIELD", "affiliate.payout_account"),
        (affiliate("payout_account", json!("acct_")), "INVALID_FIELD", "affiliate.payout_account"),
        (affiliate("payout_account", json!("acct 1")), "INVALID_FIELD", "affiliate.payout_account"),
        (affiliate("percent", json!("100.01")), "INVALID_FIELD", "affiliate.percent"),
        (affiliate("percent", json!(-1)), "INVALID_FIELD", "affiliate.percent"),
        (affiliate("percent", json!("12.345")), "INVALID_FIELD", "affiliate.percent"),
        (affiliate("percent", json!("ten")), "MALFORMED_BODY", "affiliate.percent"),
        (affiliate("affiliate_id", json!(" ")), "INVALID_FIELD", "affiliate.affiliate_id"),
        (json!({ "payment_method": "pm_1", "affiliate": { "affiliate_id": "aff-7", "percent": "10" } }), "MALFORMED_BODY", "payout_account"),
    ] {
        refused(&gw, gw.command(Method::POST, CHECKOUT, Some(BHARAT.api_key), Some(body)).await, 400, code, mentions).await;
    }
    refused(&gw, gw.command(Method::POST, "/v1/bundles/b%7C1/checkout", Some(BHARAT.api_key), Some(json!({ "payment_method": "pm_1" }))).await, 400, "INVALID_FIELD", "bundle_id").await;
    refused(&gw, gw.command(Method::POST, CHECKOUT, Some(BHARAT.api_key), None).await, 400, "MALFORMED_BODY", "EOF").await;
    refused(&gw, gw.command(Method::POST, CHECKOUT, None, Some(json!({ "payment_method": "pm_1" }))).await, 401, "MISSING_API_KEY", "Bearer").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_is_confirmed_on_the_bundles_key() {
    let gw = Gateway::start().await;
    let (status, answer) = gw.command(Method::POST, "/v1/bundles/b1/legs/leg-2/delivered", Some(BHARAT.api_key), None).await;
    assert_eq!((status, answer["bundle_id"].as_str(), answer["leg_id"].as_str()), (202, Some("b1"), Some("leg-2")), "{answer}");
    let body = json!({ "confirmed_by": "courier-7", "command_id": "drop-1" });
    let (status, _) = gw.command(Method::POST, "/v1/bundles/b1/legs/leg-1/delivered", Some(BHARAT.api_key), Some(body)).await;
    assert_eq!(status, 202);
    let published = gw.published().await;
    assert_eq!(published.len(), 2);
    assert!(published.iter().all(|p| (p.output, p.key.as_str()) == ("negotiations", "bharat|b1")), "{published:?}");
    let delivered: Vec<&LegDelivered> = published.iter().map(|p| if let GatewayEvent::LegDelivered(d) = &p.event { d } else { panic!("{p:?}") }).collect();
    assert_eq!((delivered[0].leg_id.as_str(), delivered[0].confirmed_by.as_str()), ("leg-2", "owner"), "confirmed by the owner by default");
    let expected = LegDelivered { envelope: Envelope::external("bharat", "cmd/drop-1", NOW_MS), bundle_id: "b1".into(), leg_id: "leg-1".into(), confirmed_by: "courier-7".into() };
    assert_eq!(delivered[1], &expected);

    let gw = Gateway::start().await;
    let path = "/v1/bundles/b1/legs/leg-1/delivered";
    refused(&gw, gw.command(Method::POST, "/v1/bundles/b1/legs/l%7C1/delivered", Some(BHARAT.api_key), None).await, 400, "INVALID_FIELD", "leg_id").await;
    refused(&gw, gw.command(Method::POST, path, Some(BHARAT.api_key), Some(json!({ "confirmed_by": "a|b" }))).await, 400, "INVALID_FIELD", "confirmed_by").await;
    refused(&gw, gw.command(Method::POST, path, Some(BHARAT.api_key), Some(json!({ "delivered_at": "now" }))).await, 400, "MALFORMED_BODY", "delivered_at").await;
    refused(&gw, gw.command(Method::POST, path, Some("nope"), None).await, 401, "BAD_API_KEY", "API key").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partners_payout_account_is_declared() {
    let gw = Gateway::start().await;
    let partner = |payout: Value| json!({ "name": "Flower Shop A", "location": { "lat": 40.7, "lng": -74.0 }, "channel_id": "+1234567890", "opted_in": true, "payout_account": payout });
    let (status, answer) = gw.command(Method::PUT, "/v1/partners/pa", Some(BHARAT.api_key), Some(partner(json!("acct_1Nv0FGQ9RKHgCVdK")))).await;
    assert_eq!((status, answer["partner_id"].as_str()), (202, Some("pa")), "{answer}");
    let (status, _) = gw.command(Method::PUT, "/v1/partners/pb", Some(BHARAT.api_key), Some(partner(Value::Null))).await;
    assert_eq!(status, 202);
    let payouts: Vec<(String, Option<String>)> =
        gw.published().await.into_iter().filter_map(|p| if let GatewayEvent::Partner(e) = p.event { Some((e.partner_id, e.payout_account)) } else { None }).collect();
    assert_eq!(payouts, [("pa".to_string(), Some("acct_1Nv0FGQ9RKHgCVdK".to_string())), ("pb".to_string(), None)]);

    let gw = Gateway::start().await;
    for bad in [json!("pm_1"), json!("acct_"), json!("acct-1"), json!("")] {
        refused(&gw, gw.command(Method::PUT, "/v1/partners/pa", Some(BHARAT.api_key), Some(partner(bad))).await, 400, "INVALID_FIELD", "payout_account").await;
    }
}
