//! The negotiation survives crashes and replays (rules N1–N8 on the runtime's guarantees):
//! `souk run` SIGKILLed while Partner A holds the request and again while the user considers the
//! replacement resumes where it was — each partner gets each message once — and the negotiation
//! processor's input log, copied into fresh topics and replayed, yields byte-identical outputs.

mod support;

use souk::demo::flowers::{self, PARTNER_A, PARTNER_B};
use souk_runtime::kafka::{make_headers, producer, send_all, OutRecord};
use support::orchestration::{Story, HOUR};
use support::textile::Textile;
use support::Pipeline;

/// The Avro datum after the 5-byte Confluent header (magic + schema id).
fn datum(bytes: &[u8]) -> &[u8] {
    &bytes[5..]
}

/// The live demo from the chat to the replaced leg, with the given restarts in between.
async fn live_demo(t: &mut Textile, bundle: &str, kill: bool) {
    let story = Story::change_requested(t, bundle, "55.00", chrono::Utc::now().timestamp_millis(), 24 * HOUR, false).await;
    drop(story);
    if kill {
        t.restart();
    }
    t.client.say(PARTNER_A, &format!("wamid.{bundle}.a1"), "No, we don't have pink flowers available").await.unwrap();
    flowers::thread_has(&t.client, bundle, "recovery_proposal").await.unwrap_or_else(|e| panic!("{e:#}\n{}", t.log_tail()));
    if kill {
        t.restart();
    }
    flowers::chat(&t.client, bundle, &format!("{bundle}-m2"), "Yes, proceed").await.unwrap();
    t.wait_sent(PARTNER_B, 1).await;
    t.client.press(PARTNER_B, &format!("wamid.{bundle}.b1"), "neg:accept", "Accept").await.unwrap();
    let b = flowers::thread_has(&t.client, bundle, "recovered").await.unwrap_or_else(|e| panic!("{e:#}\n{}", t.log_tail()));
    assert_eq!(b["negotiations"][0]["status"], "recovered_autonomously");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill9_in_the_middle_of_a_negotiation_resumes_without_a_duplicate_message() {
    let mut t = Textile::start_unseeded("neg-kill9").await;
    live_demo(&mut t, "bundle-kill9", true).await;
    t.settle().await;
    let (to_a, to_b) = (t.sends_to(PARTNER_A), t.sends_to(PARTNER_B));
    assert_eq!((to_a.len(), to_b.len()), (2, 1), "request and cancellation to A, the order to B: {:?} {:?}", t.sent_to(PARTNER_A), t.sent_to(PARTNER_B));
    let ids: std::collections::BTreeSet<_> = to_a.iter().chain(&to_b).map(|r| r.request_id().unwrap().to_string()).collect();
    assert_eq!(ids.len(), 3, "each outbound event sent once");
    let b = t.client.get("/v1/bundles/bundle-kill9").await.unwrap();
    assert_eq!(b["messages"].as_array().unwrap().iter().filter(|m| m["kind"] == "recovery_proposal").count(), 1, "the user was asked once: {b}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replaying_the_negotiation_log_gives_byte_identical_outputs() {
    let mut t = Textile::start_unseeded("neg-replay-a").await;
    live_demo(&mut t, "bundle-replay", false).await;
    t.caught_up("negotiation", "negotiation.inputs").await;
    let a = &t.pipeline;

    let b = Pipeline::new("neg-replay-b").await;
    let prod = producer(&a.bootstrap).unwrap();
    let input = a.read("negotiation.inputs").await;
    let records = input
        .iter()
        .map(|r| OutRecord { topic: b.topology.topic("negotiation.inputs"), partition: Some(r.partition), key: r.key.clone(), payload: r.payload.clone(), headers: make_headers(&[]) })
        .collect();
    send_all(&prod, records).await.unwrap();
    let mut run_b = b.spawn("negotiation", "replay");
    let (group, topic) = (b.topology.group_id("negotiation"), b.topology.topic("negotiation.inputs"));
    souk_runtime::testkit::wait_group_caught_up(&b.bootstrap, &group, &topic, std::time::Duration::from_secs(120)).await.unwrap_or_else(|e| panic!("{e:#}\n{}", b.log_of("replay")));
    support::kill9(&mut run_b);

    for topic in ["negotiation.events", "negotiations.directory", "whatsapp.outbound"] {
        let (out_a, out_b) = (a.read(topic).await, b.read(topic).await);
        assert!(!out_a.is_empty(), "{topic} has outputs");
        assert_eq!(out_a.len(), out_b.len(), "{topic}");
        for (i, (ra, rb)) in out_a.iter().zip(&out_b).enumerate() {
            assert_eq!((ra.partition, &ra.key), (rb.partition, &rb.key), "{topic} record {i}");
            assert_eq!(datum(ra.payload.as_deref().unwrap()), datum(rb.payload.as_deref().unwrap()), "{topic} partition {} offset {} / {}", ra.partition, ra.offset, rb.offset);
        }
    }
}
