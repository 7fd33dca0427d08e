//! rules F3.18, F3.21, F3.22 and F3.23 plus the search API, end to end on the real stack: a Hinglish
//! multi-item order whose recorded intent replays through the order session without any NLU, the
//! message log, the pending-approval projection, the negotiation bound with its one escalation and
//! one call to action per reply, tenant-scoped search over the catalog and Hinglish messages, and
//! the WhatsApp opt-in gate (STOP / START).

mod support;

use rust_decimal::Decimal;
use serde_json::Value;
use souk::demo::client::SoukClient;
use souk_processors::order_session::{OrderSession, SessionOutput};
use souk_runtime::TestDriver;
use souk_schemas::orders::OrderInput;
use std::collections::BTreeSet;
use support::cta;
use support::textile::json::{dec, lines, order_id};
use support::textile::Textile;

/// Polls until the pending-approval projection lists exactly `want`; returns the list.
async fn pending(t: &Textile, want: BTreeSet<String>) -> Value {
    let result = t
        .client
        .wait(&format!("pending approvals = {want:?}"), || async {
            let list = t.client.get("/v1/orders/pending-approval").await?;
            let ids: BTreeSet<String> = list["orders"].as_array().unwrap().iter().map(|o| o["order_id"].as_str().unwrap().to_string()).collect();
            Ok((ids == want).then_some(list))
        })
        .await;
    match result {
        Ok(list) => list,
        Err(e) => panic!("{e:#}\n{:#}", t.client.get("/v1/orders/pending-approval").await.unwrap_or_default()),
    }
}

/// Polls `GET /v1/search?q=` as `client`'s tenant until a hit's customer is `want` or its doc id
/// contains `want`; returns the hits.
async fn search(t: &Textile, client: &SoukClient, q: &str, want: &str) -> Vec<Value> {
    let result = client
        .wait(&format!("search {q:?} to find {want}"), || async {
            let hits = client.get(&format!("/v1/search?q={q}&limit=100")).await?["hits"].as_array().cloned().unwrap_or_default();
            Ok(hits.iter().any(|h| h["customer"] == want || h["doc_id"].as_str().is_some_and(|d| d.contains(want))).then_some(hits))
        })
        .await;
    match result {
        Ok(hits) => hits,
        Err(e) => panic!("{e:#}\n{:#}\n{}", client.get(&format!("/v1/search?q={q}&limit=100")).await.unwrap_or_default(), t.log_tail()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn f3_18_hinglish_multi_item_and_recorded_intent_replays_without_nlu() {
    const C: &str = "919818180001";
    let t = Textile::start("f3-18").await;
    let sent = t.say(C, "wamid.f18.1", "10m blue cotton aur 6m red polyester", 1).await;
    assert_eq!(sent[0].button_ids(), vec!["confirm", "edit", "cancel_order"], "{:?}", sent[0].text());
    let detail = t.order_in(C, "FINAL_CUSTOMER_CONFIRMATION").await;
    let got: Vec<(String, String, Decimal)> = lines(&detail).iter().map(|l| (l["material"].as_str().unwrap().into(), l["color"].as_str().unwrap().into(), dec(&l["requested_meters"]))).collect();
    assert_eq!(got, vec![("cotton".into(), "blue".into(), Decimal::from(10)), ("polyester".into(), "red".into(), Decimal::from(6))]);
    t.press(C, "wamid.f18.2", "confirm", 1).await;
    let detail = t.order_in(C, "WAITING_OWNER_CONFIRMATION").await;
    let id = order_id(&detail);

    // The recorded intent on orders.inputs: the offline extractor's, with both lines.
    let topic = t.pipeline.topology.topic("orders.inputs");
    let records = t.pipeline.read("orders.inputs").await;
    let mut inputs = Vec::new();
    for r in &records {
        let Some(bytes) = r.payload.as_deref().filter(|b| !b.is_empty()) else { continue };
        let input: OrderInput = t.pipeline.codec.decode(bytes).await.unwrap_or_else(|e| panic!("orders.inputs offset {} does not decode: {e}", r.offset));
        inputs.push((r, input));
    }
    let intents: Vec<_> = inputs
        .iter()
        .filter_map(|(_, i)| match i {
            OrderInput::IntentResolved(e) if e.customer == C => Some(e),
            _ => None,
        })
        .collect();
    assert_eq!(intents.len(), 2, "one recorded intent per message: {intents:#?}");
    let order = intents.iter().find(|i| i.wamid == "wamid.f18.1").expect("the order message's intent");
    assert_eq!(order.extractor, "offline-1");
    assert_eq!(order.decision, "ORDER");
    assert_eq!(order.language, "hinglish");
    let recorded: Vec<(String, String, Option<Decimal>)> = order.lines.iter().map(|l| (l.material.clone(), l.color.clone(), l.requested_meters)).collect();
    assert_eq!(recorded, vec![("cotton".into(), "blue".into(), Some(Decimal::from(10))), ("polyester".into(), "red".into(), Some(Decimal::from(6)))]);

    // Replaying the whole recorded log through the order session (no NLU, no catalog, no broker)
    // yields the projected order.
    let mut driver = TestDriver::new(OrderSession, t.pipeline.topology.partitions("orders.inputs"));
    for (r, input) in &inputs {
        driver.feed_at(&topic, r.partition, r.offset, r.key.as_deref().unwrap_or_default(), input);
    }
    assert!(driver.rejections.is_empty(), "{:?}", driver.rejections);
    let key = format!("{}|{C}", t.client.tenant.id);
    let session = driver.state(&key).session.unwrap_or_else(|| panic!("the replay has an active session for {key}"));
    assert_eq!(session.order_id, id);
    assert_eq!(session.state.as_str(), "WAITING_OWNER_CONFIRMATION");
    let replayed: Vec<Value> = session
        .lines
        .iter()
        .map(|l| {
            serde_json::json!([
                l.line_id,
                l.material,
                l.color,
                l.requested_meters.normalize().to_string(),
                l.normalized_meters.normalize().to_string(),
                l.status,
                l.inventory_status,
                l.hold_id,
                l.hold_status
            ])
        })
        .collect();
    let projected: Vec<Value> = lines(&detail)
        .iter()
        .map(|l| {
            serde_json::json!([
                l["line_id"],
                l["material"],
                l["color"],
                dec(&l["requested_meters"]).normalize().to_string(),
                dec(&l["normalized_meters"]).normalize().to_string(),
                l["status"],
                l["inventory_status"],
                l["hold_id"],
                l["hold_status"]
            ])
        })
        .collect();
    assert_eq!(replayed, projected, "the replayed lines equal the projected ones");
    // …and the replay says exactly what was sent.
    let replayed_texts: Vec<String> = driver
        .outputs
        .iter()
        .filter_map(|o| match &o.emitted.event {
            SessionOutput::OutboundMessageRequested(m) if m.to == C => Some(m.text.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(replayed_texts, t.sent_to(C), "the replay's replies are the ones sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn f3_21_message_log_has_every_message_with_direction_order_and_dispatch() {
    const C: &str = "919821210001";
    let t = Textile::start("f3-21").await;
    t.say(C, "wamid.f21.1", "20m blue cotton", 1).await;
    t.press(C, "wamid.f21.2", "confirm", 1).await;
    let id = order_id(&t.order_in(C, "WAITING_OWNER_CONFIRMATION").await);
    let cmd = t.client.approve(&id, "approve-f21").await.unwrap();
    assert_eq!(t.client.wait_command(&cmd).await.unwrap()["accepted"], true);
    let sends = t.wait_sent(C, 3).await;
    t.order_in(C, "ORDER_COMPLETED").await;

    // Every outbound row carries the dispatcher's wamid and a dispatched status.
    let dispatched = ["sent", "delivered", "read"];
    let result = t
        .client
        .wait("5 logged messages, the outbound ones dispatched", || async {
            let list = t.client.get(&format!("/v1/messages?customer={C}")).await?;
            let all = list["messages"].as_array().cloned().unwrap_or_default();
            let done = all.len() >= 5 && all.iter().filter(|m| m["direction"] == "out").all(|m| !m["wamid"].is_null() && dispatched.contains(&m["status"].as_str().unwrap_or_default()));
            Ok(done.then_some(all))
        })
        .await;
    let messages = match result {
        Ok(m) => m,
        Err(e) => panic!("{e:#}\n{:#}", t.client.get(&format!("/v1/messages?customer={C}")).await.unwrap_or_default()),
    };
    t.settle().await;
    let messages = t.client.get(&format!("/v1/messages?customer={C}")).await.unwrap()["messages"].as_array().cloned().unwrap_or(messages);
    let inbound: Vec<&Value> = messages.iter().filter(|m| m["direction"] == "in").collect();
    let outbound: Vec<&Value> = messages.iter().filter(|m| m["direction"] == "out").collect();
    assert_eq!((inbound.len(), outbound.len(), messages.len()), (2, 3, 5), "{messages:#?}");

    let in_ids: BTreeSet<&str> = inbound.iter().map(|m| m["message_id"].as_str().unwrap()).collect();
    assert_eq!(in_ids, BTreeSet::from(["wamid.f21.1", "wamid.f21.2"]));
    for m in &inbound {
        assert_eq!(m["customer"], C);
        assert_eq!(m["order_id"].as_str(), Some(id.as_str()), "inbound message with its order id: {m:#}");
    }
    let first = inbound.iter().find(|m| m["message_id"] == "wamid.f21.1").unwrap();
    assert_eq!(first["text"], "20m blue cotton");

    // The outbound rows are exactly the sends WhatsApp received: same request id, same wamid.
    for r in &sends {
        let row = outbound.iter().find(|m| m["message_id"].as_str() == r.request_id()).unwrap_or_else(|| panic!("send {:?} ({:?}) is not in the log: {outbound:#?}", r.request_id(), r.text()));
        assert_eq!(row["order_id"].as_str(), Some(id.as_str()), "outbound message with its order id: {row:#}");
        assert_eq!(row["wamid"].as_str(), r.wamid.as_deref(), "the dispatcher's wamid: {row:#}");
        assert!(dispatched.contains(&row["status"].as_str().unwrap_or_default()), "{row:#}");
        assert_eq!(row["text"].as_str(), r.text(), "{row:#}");
    }
    // Filtering by order gives the same five.
    let by_order = t.client.get(&format!("/v1/messages?order_id={id}")).await.unwrap();
    assert_eq!(by_order["messages"].as_array().unwrap().len(), 5, "{by_order:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn f3_22_pending_approvals_are_exactly_the_waiting_orders() {
    const A: &str = "919822220001";
    const B: &str = "919822220002";
    const SUMMARY_ONLY: &str = "919822220003";
    const NEGOTIATING: &str = "919822220004";
    let t = Textile::start("f3-22").await;
    t.say(A, "wamid.f22.a1", "5m red cotton", 1).await;
    t.press(A, "wamid.f22.a2", "confirm", 1).await;
    let a = order_id(&t.order_in(A, "WAITING_OWNER_CONFIRMATION").await);
    t.say(B, "wamid.f22.b1", "6m white cotton", 1).await;
    t.press(B, "wamid.f22.b2", "confirm", 1).await;
    let b = order_id(&t.order_in(B, "WAITING_OWNER_CONFIRMATION").await);
    t.say(SUMMARY_ONLY, "wamid.f22.c1", "7m red polyester", 1).await;
    t.order_in(SUMMARY_ONLY, "FINAL_CUSTOMER_CONFIRMATION").await;
    t.say(NEGOTIATING, "wamid.f22.d1", "10m green silk", 1).await;
    t.order_in(NEGOTIATING, "CUSTOMER_NEGOTIATION").await;

    let list = pending(&t, BTreeSet::from([a.clone(), b.clone()])).await;
    let waiting = t.client.get("/v1/orders?state=WAITING_OWNER_CONFIRMATION").await.unwrap();
    let waiting: BTreeSet<String> = waiting["orders"].as_array().unwrap().iter().map(|o| o["order_id"].as_str().unwrap().to_string()).collect();
    assert_eq!(waiting, BTreeSet::from([a.clone(), b.clone()]), "the projection and the orders agree");
    for o in list["orders"].as_array().unwrap() {
        assert_eq!(o["active_lines"], 1, "{o}");
        let expect = if o["order_id"] == a.as_str() { (A, "590.00") } else { (B, "660.00") };
        assert_eq!(o["customer"], expect.0);
        assert_eq!(dec(&o["subtotal"]), expect.1.parse::<Decimal>().unwrap(), "{o}");
    }

    // Removed on approve…
    let cmd = t.client.approve(&a, "approve-f22-a").await.unwrap();
    assert_eq!(t.client.wait_command(&cmd).await.unwrap()["accepted"], true);
    pending(&t, BTreeSet::from([b.clone()])).await;
    t.order_in(A, "ORDER_COMPLETED").await;
    // …and on reject.
    let cmd = t.client.reject(&b, "reject-f22-b", "no credit").await.unwrap();
    assert_eq!(t.client.wait_command(&cmd).await.unwrap()["accepted"], true);
    pending(&t, BTreeSet::new()).await;
    t.order_in(B, "ORDER_REJECTED").await;
    // A later confirm adds it again; nothing stale comes back.
    t.press(SUMMARY_ONLY, "wamid.f22.c2", "confirm", 1).await;
    let c = order_id(&t.order_in(SUMMARY_ONLY, "WAITING_OWNER_CONFIRMATION").await);
    pending(&t, BTreeSet::from([c])).await;
    t.settle().await;
    let list = t.client.get("/v1/orders/pending-approval").await.unwrap();
    assert_eq!(list["orders"].as_array().unwrap().len(), 1, "{list:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn f3_23_negotiation_bound_escalates_once_and_every_reply_has_one_cta() {
    const C: &str = "919823230001";
    let t = Textile::start("f3-23").await;
    t.say(C, "wamid.f23.0", "10m green silk", 1).await;
    let id = order_id(&t.order_in(C, "CUSTOMER_NEGOTIATION").await);

    // Seven understood customer turns that never resolve the out-of-stock line.
    let turns: [(&str, Option<&str>, &str); 7] = [
        ("wamid.f23.1", Some("alternatives:1"), ""),
        ("wamid.f23.2", None, "any other color?"),
        ("wamid.f23.3", None, "add 2 rolls of blue polyester"),
        ("wamid.f23.4", Some("alternatives:1"), ""),
        ("wamid.f23.5", None, "alternatives for the green silk"),
        ("wamid.f23.6", Some("alternatives:1"), ""),
        ("wamid.f23.7", None, "any other color?"),
    ];
    for (n, (wamid, button, text)) in turns.iter().enumerate() {
        let sent = match button {
            Some(b) => t.press(C, wamid, b, 1).await,
            None => t.say(C, wamid, text, 1).await,
        };
        let reply = sent.last().unwrap().text().unwrap_or_default().to_string();
        if n + 1 == 6 {
            assert!(reply.contains("asked the shop owner"), "the 6th turn tells the customer a human helps: {reply:?}");
        }
        if n + 1 == 3 {
            assert!(reply.contains("How many meters of blue polyester"), "an item without meters is asked about: {reply:?}");
        }
        if n + 1 < 6 {
            // An escalation would be in the same transaction as the reply just sent: read the
            // projection once it has caught up with the escalations topic.
            t.caught_up("commerce-postgres", "escalations").await;
            let escalations = t.client.get("/v1/escalations").await.unwrap();
            assert!(escalations["escalations"].as_array().unwrap().iter().all(|e| e["kind"] != "NEGOTIATION_STALLED"), "no escalation before the 6th turn (turn {}): {escalations:#}", n + 1);
        }
    }
    let result = t
        .client
        .wait("a NEGOTIATION_STALLED escalation", || async {
            let list = t.client.get("/v1/escalations").await?;
            let found = list["escalations"].as_array().unwrap().iter().any(|e| e["kind"] == "NEGOTIATION_STALLED");
            Ok(found.then_some(()))
        })
        .await;
    result.unwrap_or_else(|e| panic!("{e:#}\n{}", t.log_tail()));
    t.caught_up("order-session", "orders.inputs").await;
    t.caught_up("commerce-postgres", "escalations").await;
    let list = t.client.get("/v1/escalations").await.unwrap();
    let stalled: Vec<&Value> = list["escalations"].as_array().unwrap().iter().filter(|e| e["kind"] == "NEGOTIATION_STALLED").collect();
    assert_eq!(stalled.len(), 1, "exactly one escalation: {list:#}");
    assert_eq!(stalled[0]["order_id"].as_str(), Some(id.as_str()));
    assert_eq!(stalled[0]["customer"].as_str(), Some(C));
    let detail = t.order_in(C, "CUSTOMER_NEGOTIATION").await;
    assert_eq!(order_id(&detail), id, "the same order, still negotiating (a human takes over)");

    // One reply per turn, each asking exactly one thing: checked on every reply the order session
    // emitted (on the topic, so also one the dispatcher would refuse to send), then on the sends.
    let emitted = t.outbound_to(C).await;
    assert_eq!(emitted.len(), 8, "one reply per message: {:#?}", emitted.iter().map(|m| &m.text).collect::<Vec<_>>());
    for m in &emitted {
        assert_eq!(cta::assert_at_most_one_call_to_action(m), 1, "a negotiation reply asks exactly one thing: {m:#?}");
    }
    t.caught_up("whatsapp-dispatcher", "whatsapp.outbound").await;
    let sends = t.sends_to(C);
    assert_eq!(
        sends.iter().map(|r| r.request_id().unwrap_or_default()).collect::<Vec<_>>(),
        emitted.iter().map(|m| m.envelope.event_id.as_str()).collect::<Vec<_>>(),
        "each reply sent once, in order"
    );
    for r in &sends {
        let kind = r.body["type"].as_str().unwrap_or_default();
        assert!(kind == "text" || kind == "interactive", "{:?}", r.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn search_is_tenant_scoped_over_catalog_and_hinglish_messages() {
    const MINE: &str = "919824240001";
    const THEIRS: &str = "919824240002";
    let mut t = Textile::start("f3-search").await;
    let other = t.add_tenant("b").await;
    souk::demo::scenario::seed(&other, &t.transcript).await.expect("seeding the second tenant");
    let me = t.client.tenant.id.clone();
    let them = other.tenant.id.clone();

    t.say(MINE, "wamid.search.1", "bhaiya 10m laal cotton chahiye", 1).await;
    other.say(THEIRS, "wamid.search.2", "5m laal polyester chahiye").await.unwrap();
    t.wait_sent(THEIRS, 1).await;

    // "laal": my Hinglish message, not theirs.
    let hits = search(&t, &t.client, "laal", MINE).await;
    assert!(hits.iter().any(|h| h["kind"] == "message" && h["text"].as_str().is_some_and(|x| x.contains("laal cotton"))), "{hits:#?}");
    for h in &hits {
        assert!(h["doc_id"].as_str().unwrap().contains(&format!(":{me}|")), "only my tenant's documents: {h}");
        assert_ne!(h["customer"], THEIRS, "{h}");
    }
    let hits = search(&t, &other, "laal", THEIRS).await;
    for h in &hits {
        assert!(h["doc_id"].as_str().unwrap().contains(&format!(":{them}|")), "only their documents: {h}");
        assert_ne!(h["customer"], MINE, "{h}");
    }

    // "cotton": my catalog pools (blue, red, white) and my message.
    let hits = search(&t, &t.client, "cotton", "|cotton|white").await;
    let pools: BTreeSet<String> = hits.iter().filter(|h| h["kind"] == "catalog").map(|h| h["doc_id"].as_str().unwrap().to_string()).collect();
    let want: BTreeSet<String> = ["blue", "red", "white"].iter().map(|c| format!("catalog:{me}|cotton|{c}")).collect();
    assert_eq!(pools, want, "my cotton pools and nobody else's: {hits:#?}");
    let blue = hits.iter().find(|h| h["doc_id"] == format!("catalog:{me}|cotton|blue")).unwrap();
    assert_eq!(dec(&blue["price_per_meter"]), "120.00".parse::<Decimal>().unwrap());
    assert!(hits.iter().any(|h| h["kind"] == "message" && h["customer"] == MINE), "{hits:#?}");
    for h in &hits {
        assert!(h["doc_id"].as_str().unwrap().contains(&format!(":{me}|")), "{h}");
    }
    // Filtering by kind.
    let only_catalog = t.client.get("/v1/search?q=cotton&kind=catalog&limit=100").await.unwrap();
    assert!(only_catalog["hits"].as_array().unwrap().iter().all(|h| h["kind"] == "catalog"), "{only_catalog:#}");
}

/// No opt-in, no message (the source's WhatsApp module): a customer who writes STOP receives
/// nothing more — the reply to their confirm is logged as failed with the reason and escalated
/// `NO_OPT_IN` — until they write START; the owner's approval then reaches them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_customer_who_writes_stop_receives_nothing_until_start() {
    const C: &str = "919821219001";
    let t = Textile::start("opt-out").await;
    t.say(C, "wamid.opt.1", "20m blue cotton", 1).await;
    t.say(C, "wamid.opt.2", "STOP", 0).await;
    t.press(C, "wamid.opt.3", "confirm", 0).await;
    let id = order_id(&t.order_in(C, "WAITING_OWNER_CONFIRMATION").await);
    let refused = t.client.wait("the reply to the confirm logged as refused", || async {
        let list = t.client.get(&format!("/v1/messages?customer={C}")).await?;
        let all = list["messages"].as_array().cloned().unwrap_or_default();
        Ok(all.into_iter().find(|m| m["direction"] == "out" && m["status"] == "failed"))
    });
    let refused = refused.await.unwrap_or_else(|e| panic!("{e:#}\n{}", t.log_tail()));
    let reason = refused.to_string();
    assert!(reason.contains(&format!("NO_OPT_IN: {C} opted out of WhatsApp messages; nothing was sent")), "{refused:#}");
    let escalated = t.client.wait("the NO_OPT_IN escalation", || async {
        let list = t.client.get("/v1/escalations").await?;
        Ok(list["escalations"].as_array().and_then(|e| e.iter().find(|e| e["kind"] == "NO_OPT_IN").cloned()))
    });
    escalated.await.unwrap();
    t.settle().await;
    assert_eq!(t.sends_to(C).len(), 1, "nothing after STOP: {:?}", t.sent_to(C));

    t.say(C, "wamid.opt.4", "START", 0).await;
    let cmd = t.client.approve(&id, "approve-opt").await.unwrap();
    assert_eq!(t.client.wait_command(&cmd).await.unwrap()["accepted"], true);
    t.order_in(C, "ORDER_COMPLETED").await;
    let sends = t.wait_sent(C, 2).await;
    assert!(sends.len() >= 2, "after START the approval reaches the customer: {:?}", t.sent_to(C));
}
