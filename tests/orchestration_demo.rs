//! `souk demo flowers`'s story runs as written against a running souk: every step it waits for
//! happens (the simulated partners answer, the leg is replaced, the 61.00 variant escalates).

mod support;

use support::textile::Textile;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_flowers_demo_story_plays_to_the_end() {
    let t = Textile::start_unseeded("demo-flowers").await;
    t.hand_over_to_simulator();
    souk::demo::flowers::play(&t.client, &t.transcript).await.unwrap_or_else(|e| panic!("{e:#}\n{}", t.log_tail()));
    let b = t.client.get("/v1/bundles/bundle-pink-61").await.unwrap();
    assert_eq!(b["negotiations"][0]["status"], "escalated");
    let b = t.client.get("/v1/bundles/bundle-pink").await.unwrap();
    assert_eq!((b["bundle"]["legs"][0]["partner_id"].as_str(), b["bundle"]["total_minutes"].as_i64()), (Some("partner-b"), Some(31)));
}
