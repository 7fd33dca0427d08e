//! kill -9 of the whole `souk run` in the middle of the demo story, twice at seeded random points
//! (printed; `SOUK_TEST_SEED` replays them), then restart: the story completes with the same final
//! projections as an uninterrupted run, no outbound message is sent twice — neither the same event
//! nor the same text to the same customer — and no order is invoiced twice.

mod support;

use rand::Rng;
use souk::demo::scenario::{self, ASHA, FARHAN, KIRAN, MEENA, POOJA, RAVI, SUNIL};
use std::collections::BTreeMap;
use std::time::Duration;
use support::textile::Textile;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill9_mid_demo_same_projections_no_duplicate_send_no_double_invoice() {
    let mut t = Textile::start_unseeded("kill9demo").await;
    // The story drives souk with its own client; `t.client` stays free for the checks.
    let client = std::sync::Arc::new(souk::demo::client::SoukClient::new(t.client.base(), t.client.tenant.clone(), chrono::Utc::now().timestamp()));
    let transcript = std::sync::Arc::new(scenario::Transcript::new(std::env::var("SOUK_TEST_TRANSCRIPT").is_err()));
    let story = {
        let (client, transcript) = (client.clone(), transcript.clone());
        tokio::spawn(async move {
            scenario::seed(&client, &transcript).await?;
            scenario::play(&client, &transcript).await
        })
    };
    // Two crashes while the story runs, at seeded random points: one early (seeding / golden
    // path) by time, one mid-story by progress — a few sends after the restarted run's first new
    // send (by time it could fall after the end of a story that ran fast).
    let mut rng = support::seeded_rng("kill9 demo");
    let (first, sends_later) = (Duration::from_millis(rng.random_range(1_000..=10_000)), rng.random_range(1..=3usize));
    eprintln!("kill -9 {} ms after the start, then {sends_later} sends after the restarted run's first new send", first.as_millis());
    for round in 0..2 {
        if round == 0 {
            tokio::time::sleep(first).await;
        } else {
            let target = t.sends() + sends_later;
            let waiting = std::time::Instant::now();
            while t.sends() < target && !story.is_finished() {
                assert!(waiting.elapsed() < Duration::from_secs(120), "no progress within 120 s\n{}", t.log_tail());
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        assert!(!story.is_finished(), "the story should still be running when souk is killed");
        t.kill9();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let sent_before = t.sends();
        let restarted = std::time::Instant::now();
        t.restart();
        // Restart time: from starting the new `souk run` to its first new output reaching the
        // outside world (a WhatsApp send the story caused after the crash).
        while t.sends() == sent_before && !story.is_finished() {
            assert!(restarted.elapsed() < Duration::from_secs(120), "nothing was sent within 120 s of the restart\n{}", t.log_tail());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        eprintln!("restart to first new WhatsApp send: {} ms", restarted.elapsed().as_millis());
    }
    let outcome = tokio::time::timeout(Duration::from_secs(420), story).await.expect("story finished in time").expect("story task");
    if let Err(e) = outcome {
        panic!("the story failed across the crashes: {e:#}\n{}", t.log_tail());
    }

    // Once every decided reply went through the dispatcher: no outbound event was sent twice, and
    // no customer got the same message twice (a reply decided again under another id would pass
    // the first check); each customer got exactly the story's replies.
    t.caught_up("whatsapp-dispatcher", "whatsapp.outbound").await;
    let delivered = t.whatsapp.delivered();
    let mut by_request: BTreeMap<&str, usize> = BTreeMap::new();
    let mut by_text: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for r in &delivered {
        *by_request.entry(r.request_id().expect("idempotency header")).or_default() += 1;
        *by_text.entry((r.to().unwrap_or_default(), r.text().unwrap_or_default())).or_default() += 1;
    }
    let duplicates: Vec<_> = by_request.iter().filter(|(_, n)| **n > 1).collect();
    assert!(duplicates.is_empty(), "outbound events sent more than once: {duplicates:?}");
    let repeated: Vec<_> = by_text.iter().filter(|(_, n)| **n > 1).collect();
    assert!(repeated.is_empty(), "a customer got the same message more than once: {repeated:#?}");
    let mut per_customer: BTreeMap<&str, usize> = BTreeMap::new();
    for (to, _) in by_text.keys() {
        *per_customer.entry(to).or_default() += 1;
    }
    let story_replies: BTreeMap<&str, usize> = [(ASHA, 4), (RAVI, 3), (MEENA, 6), (KIRAN, 3), (FARHAN, 3), (SUNIL, 3), (POOJA, 2)].into_iter().map(|((wa_id, _), n)| (wa_id, n)).collect();
    assert_eq!(per_customer, story_replies, "distinct messages per customer, as in the uninterrupted story");

    // The same final projections as the uninterrupted demo.
    let expected_states = [
        (ASHA, "ORDER_COMPLETED"),
        (RAVI, "ORDER_COMPLETED"),
        (MEENA, "ORDER_COMPLETED"),
        (KIRAN, "ORDER_COMPLETED"),
        (FARHAN, "ORDER_CANCELLED"),
        (SUNIL, "ORDER_REJECTED"),
        (POOJA, "ORDER_CANCELLED"),
    ];
    let mut totals = BTreeMap::new();
    for ((wa_id, name), state) in expected_states {
        let detail = t.order_in(wa_id, state).await;
        if state == "ORDER_COMPLETED" {
            let order_id = detail["order"]["order_id"].as_str().unwrap().to_string();
            let invoice = t.invoiced(&order_id).await["invoice"].clone();
            totals.insert(name, invoice["total"].as_str().unwrap().to_string());
        }
    }
    let expected_totals: BTreeMap<&str, String> = [("Asha", "2520.00"), ("Ravi", "1798.65"), ("Meena", "11865.00"), ("Kiran", "13020.00")].into_iter().map(|(k, v)| (k, v.to_string())).collect();
    assert_eq!(totals, expected_totals);
    let stock = t.client.get("/v1/stock").await.unwrap();
    let available: BTreeMap<String, String> = stock["pools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (format!("{}/{}", p["material"].as_str().unwrap(), p["color"].as_str().unwrap()), p["on_hand_meters"].as_str().unwrap().to_string()))
        .collect();
    let expected_on_hand: BTreeMap<String, String> = [
        ("cotton/blue", "69.000"),
        ("cotton/red", "100.000"),
        ("cotton/white", "72.500"),
        ("linen/white", "10.000"),
        ("polyester/blue", "0"),
        ("polyester/red", "30.000"),
        ("silk/green", "0"),
        ("silk/red", "0"),
        ("silk/white", "18.000"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let normalize = |m: &BTreeMap<String, String>| m.iter().map(|(k, v)| (k.clone(), v.parse::<rust_decimal::Decimal>().unwrap().normalize())).collect::<BTreeMap<_, _>>();
    assert_eq!(normalize(&available), normalize(&expected_on_hand), "stock on hand after the story");
    t.ledger_outstanding(ASHA.0, "1520.00").await;

    // No order has two invoices.
    let approvals = t.whatsapp.delivered().iter().filter(|r| r.text().unwrap_or_default().starts_with("Order approved. Invoice #")).count();
    assert_eq!(approvals, 4, "one approval message per completed order");
    for n in 1..=4 {
        t.client.get(&format!("/v1/invoices/INV-00000{n}")).await.unwrap();
    }
    let (status, _) = t.client.owner(reqwest::Method::GET, "/v1/invoices/INV-000005", None).await.unwrap();
    assert_eq!(status, 404, "no fifth invoice");
}
