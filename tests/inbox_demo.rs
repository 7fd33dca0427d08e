//! `souk demo inbox`'s story runs as written against a running souk (issue 13 §8): every step it
//! waits for happens — the 0.92 answer, the 0.65 escalation answered by the owner, one low-stock
//! notification, the taught rule applied, the erasure.

mod support;

use support::textile::Textile;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inbox_demo_story_plays_to_the_end() {
    let t = Textile::start_unseeded("demo-inbox").await;
    souk::demo::inbox::play(&t.client, &t.transcript).await.unwrap_or_else(|e| panic!("{e:#}\n{}", t.log_tail()));
    let inbox = t.client.get("/v1/conversations").await.unwrap();
    let customers: Vec<&str> = inbox["conversations"].as_array().unwrap().iter().filter_map(|c| c["customer_id"].as_str()).collect();
    assert!(!customers.contains(&souk::demo::inbox::AMARA) && customers.contains(&souk::demo::inbox::CHIOMA), "{customers:?}");
}
