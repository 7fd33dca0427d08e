//! Checkout and escrow end to end (rules CO1–CO9): through HTTP on a running `souk run`, partners
//! answering on WhatsApp (the recording Cloud API), the payment provider a local server speaking
//! Stripe's API that records every call, and a driven clock where the time chain must complete.
//! What the provider saw is the proof: how much was authorised, captured, refunded and paid to
//! whom, to the cent.

mod support;

use reqwest::Method;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{json, Value};
use souk::demo::flowers::{self, DESTINATION, PARTNER_A, PARTNER_B};
use souk_producers::simulator::live_demo::{florist, payout_account, product};
use support::orchestration::{origin, rfc, HOUR};
use support::textile::Textile;

/// Bakery C, the third partner: close to the delivery point.
const PARTNER_C: &str = "15550003333";

/// Declares Flower Shops A and B (B's pink flowers at 55.00) and Bakery C with `cakes`
/// (product id, price, margin percent).
async fn partners(t: &Textile, cakes: &[(&str, &str, Option<&str>)]) {
    flowers::declare_partners(&t.client, "55.00").await.unwrap();
    t.client.command(Method::PUT, "/v1/partners/partner-c", florist("Bakery C", (40.7306, -73.9866), PARTNER_C, true)).await.unwrap();
    for (id, price, margin) in cakes {
        let mut body = product("partner-c", &format!("Cake {id}"), price, true);
        if let Some(m) = margin {
            body["margin_percent"] = json!(m);
        }
        t.client.command(Method::PUT, &format!("/v1/products/{id}"), body).await.unwrap();
    }
}

/// Orders `bundle` with one leg per product, starting at `start`, each due tomorrow.
async fn order(t: &Textile, bundle: &str, start: i64, products: &[&str]) {
    let legs: Vec<Value> = products
        .iter()
        .enumerate()
        .map(|(i, p)| {
            json!({ "leg_id": format!("leg-{}", i + 1), "name": format!("Part {}", i + 1), "product_id": p, "starts_at": rfc(start + 24 * HOUR), "deadline": rfc(start + 26 * HOUR),
                    "destination": { "lat": DESTINATION.0, "lng": DESTINATION.1 } })
        })
        .collect();
    let body = json!({ "bundle_id": bundle, "user_id": flowers::USER, "starts_at": rfc(start), "legs": legs, "command_id": format!("order-{bundle}") });
    let (status, answer) = t.client.owner(Method::POST, "/v1/bundles", Some(body)).await.unwrap();
    assert_eq!(status, 202, "{answer}");
}

/// `POST /v1/bundles/{bundle}/checkout` with `body`.
async fn check_out(t: &Textile, bundle: &str, body: Value) {
    let (status, answer) = t.client.owner(Method::POST, &format!("/v1/bundles/{bundle}/checkout"), Some(body)).await.unwrap();
    assert_eq!(status, 202, "{answer}");
}

/// The checkout once `ready` holds for it.
async fn checkout_when(t: &Textile, bundle: &str, what: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let found = t.client.wait(what, || async {
        let (status, c) = t.client.owner(Method::GET, &format!("/v1/bundles/{bundle}/checkout"), None).await?;
        Ok((status == 200 && ready(&c)).then_some(c))
    });
    match found.await {
        Ok(c) => c,
        Err(e) => {
            let (_, b) = t.client.owner(Method::GET, &format!("/v1/bundles/{bundle}"), None).await.unwrap();
            panic!("{e:#}\nthe bundle now: {b:#}\n{}", t.log_tail())
        }
    }
}

fn status_is(c: &Value, status: &str) -> bool {
    c["status"] == status
}

/// The partner taps a reply button on the newest message souk sent them.
async fn tap(t: &Textile, partner: &str, id: &str, wamid: &str) {
    t.client.press(partner, wamid, id, id).await.unwrap();
}

/// The purposes of souk's messages to `partner`, in order.
async fn purposes(t: &Textile, partner: &str) -> Vec<String> {
    t.outbound_to(partner).await.into_iter().map(|m| m.purpose).collect()
}

fn money(v: &Value) -> Decimal {
    v.as_str().unwrap_or_else(|| panic!("money as a string, not {v}")).parse().unwrap()
}

/// Every leg reserved, the total authorised and captured.
async fn paid(t: &Textile, bundle: &str, partners: &[&str]) -> Value {
    for (i, p) in partners.iter().enumerate() {
        t.wait_sent(p, 1).await;
        tap(t, p, "neg:accept", &format!("wamid.{bundle}.reserve.{i}")).await;
    }
    checkout_when(t, bundle, "the checkout paid", |c| status_is(c, "paid")).await
}

/// CO2, CO5: the second partner declines ⇒ the first partner's reservation is released, the
/// card is never touched, the user is told why.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_checkout_where_the_second_partner_refuses_compensates_the_first() {
    let t = Textile::start_unseeded("checkout-refused").await;
    partners(&t, &[("cake-1", "30.00", None)]).await;
    order(&t, "bundle-refused", chrono::Utc::now().timestamp_millis(), &["red-flowers-a", "cake-1"]).await;
    check_out(&t, "bundle-refused", json!({ "payment_method": "pm_card_visa" })).await;
    t.wait_sent(PARTNER_A, 1).await;
    t.wait_sent(PARTNER_C, 1).await;
    tap(&t, PARTNER_A, "neg:accept", "wamid.refused.a").await;
    t.caught_up("negotiation", "negotiation.inputs").await;
    tap(&t, PARTNER_C, "neg:decline", "wamid.refused.c").await;
    let c = checkout_when(&t, "bundle-refused", "the checkout cancelled", |c| status_is(c, "cancelled")).await;
    assert_eq!(c["reason"], "Bakery C declined the order", "{c}");
    assert_eq!(c["payment_status"], "pending");
    assert_eq!(c["legs"].as_array().unwrap().iter().map(|l| l["status"].as_str().unwrap()).collect::<Vec<_>>(), vec!["released", "refused"]);
    t.wait_sent(PARTNER_A, 2).await;
    assert_eq!(purposes(&t, PARTNER_A).await, vec!["order_reservation", "order_released"]);
    assert_eq!(purposes(&t, PARTNER_C).await, vec!["order_reservation"], "the partner who declined is not told again");
    assert!(t.stripe.requests().is_empty(), "nothing was authorised: {:?}", t.stripe.requests());
    let b = flowers::thread_has(&t.client, "bundle-refused", "checkout_cancelled").await.unwrap();
    assert!(flowers::thread(&b).iter().any(|m| m == "Your order was not placed: Bakery C declined the order. Nothing was charged."), "{:?}", flowers::thread(&b));
}

/// The partner transfers the provider made, as (destination, minor units), in order.
fn transfers(t: &Textile) -> Vec<(String, i64)> {
    t.stripe.transfers().into_iter().map(|tr| (tr.destination, tr.amount)).collect()
}

async fn delivered(t: &Textile, bundle: &str, leg: &str) {
    let (status, answer) = t.client.owner(Method::POST, &format!("/v1/bundles/{bundle}/legs/{leg}/delivered"), Some(json!({ "command_id": format!("delivered-{bundle}-{leg}") }))).await.unwrap();
    assert_eq!(status, 202, "{answer}");
}

/// CO6, CO8: a delivered leg's share is paid at once; a leg re-sourced after payment is refunded
/// in full, its replacement charged on its own and paid when the time chain completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn escrow_is_released_leg_by_leg_and_refunded_for_a_swapped_leg() {
    let t = Textile::start_driven("checkout-escrow").await;
    let t0 = origin();
    t.tick_at(t0).await;
    partners(&t, &[("cake-1", "30.00", None)]).await;
    let bundle = "bundle-escrow";
    order(&t, bundle, t0, &["red-flowers-a", "cake-1"]).await;
    check_out(&t, bundle, json!({ "payment_method": "pm_card_visa" })).await;
    let c = paid(&t, bundle, &[PARTNER_A, PARTNER_C]).await;
    assert_eq!((money(&c["total"]), money(&c["captured"]), c["escrow_status"].as_str()), (dec!(80.00), dec!(80.00), Some("held")), "{c}");

    delivered(&t, bundle, "leg-2").await;
    let c = checkout_when(&t, bundle, "the cake's share released", |c| c["legs"][1]["escrow_status"] == "released").await;
    assert_eq!(c["legs"][1]["release_trigger"], "delivery_confirmed");
    assert_eq!(c["legs"][0]["escrow_status"], "held", "the flowers are not delivered yet");
    let bakery = payout_account("Bakery C");
    assert_eq!(transfers(&t), vec![(bakery.clone(), 3000)]);

    // Partner A cannot do pink; Partner B can, and the user takes it (rules B3, N7).
    flowers::chat(&t.client, bundle, "escrow-m1", "I want pink flowers instead of red").await.unwrap();
    t.wait_sent(PARTNER_A, 3).await;
    t.client.say(PARTNER_A, "wamid.escrow.a.no", "No, we don't have pink flowers available").await.unwrap();
    flowers::thread_has(&t.client, bundle, "recovery_proposal").await.unwrap_or_else(|e| panic!("{e:#}\n{}", t.log_tail()));
    flowers::chat(&t.client, bundle, "escrow-m2", "Yes, proceed").await.unwrap();
    t.wait_sent(PARTNER_B, 1).await;
    tap(&t, PARTNER_B, "neg:accept", "wamid.escrow.b.yes").await;
    let c = checkout_when(&t, bundle, "the swapped leg refunded and its replacement held", |c| {
        let legs = c["legs"].as_array().unwrap();
        legs.len() == 3 && legs[0]["escrow_status"] == "refunded" && legs[2]["escrow_status"] == "held"
    })
    .await;
    assert_eq!((c["legs"][0]["status"].as_str(), c["legs"][2]["partner_id"].as_str()), (Some("replaced"), Some("partner-b")), "{c}");
    assert_eq!((money(&c["refunded"]), money(&c["captured"])), (dec!(50.00), dec!(135.00)));

    // The time chain completes at the last deadline: the replacement's share leaves escrow.
    t.tick_at(t0 + 27 * HOUR).await;
    let c = checkout_when(&t, bundle, "the checkout completed", |c| status_is(c, "completed")).await;
    assert_eq!((c["escrow_status"].as_str(), c["legs"][2]["release_trigger"].as_str()), (Some("released"), Some("time_chain_complete")), "{c}");
    assert_eq!(transfers(&t), vec![(bakery, 3000), (payout_account("Flower Shop B"), 5500)], "Partner A is never paid for the leg it could not do");
    let intents = t.stripe.payment_intents();
    assert_eq!(intents.iter().map(|p| (p.capture_method.as_str(), p.amount_received, p.amount_refunded)).collect::<Vec<_>>(), vec![("manual", 8000, 5000), ("automatic", 5500, 0)]);
    assert_eq!(t.stripe.balance(&t.client.tenant.payments_secret_key, "usd"), 0, "no margins: everything captured went back or out");
    let b = flowers::thread_has(&t.client, bundle, "checkout_completed").await.unwrap();
    let thread = flowers::thread(&b);
    assert!(thread.iter().any(|m| m == "50.00 USD for Red Flowers from Flower Shop A has been refunded to you."), "{thread:?}");
}

/// CO4, CO7: awkward prices, margins and an affiliate; every amount the provider moved is exact,
/// and partners + affiliate + the platform's net are what was captured.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn checkout_totals_are_exact_to_the_cent() {
    let t = Textile::start_unseeded("checkout-cents").await;
    partners(&t, &[("cake-1", "33.33", Some("12.50")), ("cake-2", "33.33", Some("7.25"))]).await;
    let bundle = "bundle-cents";
    order(&t, bundle, chrono::Utc::now().timestamp_millis(), &["cake-1", "cake-2", "red-flowers-a"]).await;
    let affiliate = json!({ "affiliate_id": "creator-1", "payout_account": "acct_creator_1", "percent": "30" });
    check_out(&t, bundle, json!({ "payment_method": "pm_card_visa", "affiliate": affiliate })).await;
    // Bakery C holds two legs: each tap answers its newest open reservation.
    t.wait_sent(PARTNER_C, 2).await;
    tap(&t, PARTNER_C, "neg:accept", "wamid.cents.c1").await;
    t.caught_up("negotiation", "negotiation.inputs").await;
    let c = paid(&t, bundle, &[PARTNER_C, PARTNER_A]).await;
    let legs = c["legs"].as_array().unwrap();
    let split: Vec<(Decimal, Decimal, Decimal)> = legs.iter().map(|l| (money(&l["partner_share"]), money(&l["platform_fee"]), money(&l["affiliate_commission"]))).collect();
    assert_eq!(split, vec![(dec!(29.16), dec!(4.17), dec!(1.25)), (dec!(30.91), dec!(2.42), dec!(0.73)), (dec!(50.00), dec!(0), dec!(0))]);
    assert_eq!((money(&c["total"]), money(&c["platform_fee"]), money(&c["affiliate_commission"])), (dec!(116.66), dec!(6.59), dec!(1.98)));
    for leg in ["leg-1", "leg-2", "leg-3"] {
        delivered(&t, bundle, leg).await;
    }
    let c = checkout_when(&t, bundle, "the checkout completed", |c| status_is(c, "completed")).await;
    assert_eq!((c["affiliate_status"].as_str(), money(&c["released"])), (Some("transferred"), dec!(112.05)), "{c}");
    let bakery = payout_account("Bakery C");
    let mut paid_out = transfers(&t);
    paid_out.sort();
    let mut expected = vec![(bakery.clone(), 2916), (bakery, 3091), (payout_account("Flower Shop A"), 5000), ("acct_creator_1".to_string(), 198)];
    expected.sort();
    assert_eq!(paid_out, expected);
    let [pi] = t.stripe.payment_intents().try_into().expect("one PaymentIntent");
    assert_eq!((pi.amount, pi.amount_received, pi.status.as_str()), (11666, 11666, "succeeded"));
    assert_eq!(t.stripe.balance(&t.client.tenant.payments_secret_key, "usd"), 461, "the platform keeps 4.17 + 2.42 − 1.98");
}

/// CO9: souk is SIGKILLed while the provider has applied the authorisation but its answer is
/// still in flight, and again during the capture; after each restart the same command is sent
/// with the same Idempotency-Key, the provider replays its answer, and the card is charged once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill9_in_the_middle_of_a_checkout_resumes_without_a_double_charge() {
    let mut t = Textile::start_unseeded("checkout-kill9").await;
    partners(&t, &[("cake-1", "30.00", None)]).await;
    let bundle = "bundle-kill9";
    order(&t, bundle, chrono::Utc::now().timestamp_millis(), &["red-flowers-a", "cake-1"]).await;
    check_out(&t, bundle, json!({ "payment_method": "pm_card_visa" })).await;
    t.stripe.hold_after_apply("/v1/payment_intents");
    for (i, p) in [PARTNER_A, PARTNER_C].iter().enumerate() {
        t.wait_sent(p, 1).await;
        tap(&t, p, "neg:accept", &format!("wamid.kill9.{i}")).await;
    }
    assert!(t.stripe.wait_held(1, std::time::Duration::from_secs(60)).await, "the authorisation reached the provider\n{}", t.log_tail());
    t.restart();
    t.stripe.release_held();
    // Held again: the capture, applied, its answer lost with the process.
    t.stripe.hold_after_apply("/v1/payment_intents/");
    assert!(t.stripe.wait_held(1, std::time::Duration::from_secs(120)).await, "the capture reached the provider\n{}", t.log_tail());
    t.restart();
    t.stripe.release_held();
    let c = checkout_when(&t, bundle, "the checkout paid", |c| status_is(c, "paid")).await;
    assert_eq!(money(&c["captured"]), dec!(80.00), "{c}");
    let [pi] = t.stripe.payment_intents().try_into().expect("one PaymentIntent, however often it was asked for");
    assert_eq!((pi.amount, pi.amount_received, pi.status.as_str()), (8000, 8000, "succeeded"));
    let creates: Vec<_> = t.stripe.requests().into_iter().filter(|r| r.path == "/v1/payment_intents").collect();
    assert!(creates.len() >= 2, "the authorisation was asked again after the restart: {creates:?}");
    assert!(creates.iter().all(|r| r.idempotency_key == creates[0].idempotency_key), "with the same key");
    assert!(creates[1..].iter().all(|r| r.replayed), "answered from the provider's idempotency store");
    let captures = t.stripe.requests().into_iter().filter(|r| r.path.ends_with("/capture")).count();
    assert!(captures >= 2, "the capture was asked again too ({captures})");
    assert_eq!(purposes(&t, PARTNER_A).await, vec!["order_reservation", "order_confirmed"], "each partner told once");
}
