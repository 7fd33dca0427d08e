//! rules B6/C2 with a tenant's own threshold, end to end: `intent_confidence_threshold` in
//! tenants.toml reaches the intent stage, is recorded on each `IntentResolved`, and decides in the
//! order session whether a message is acted on or gets the one clarifying question, then a human.

mod support;

use support::textile::Textile;

const C: &str = "919823240001";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn b6_tenant_threshold_turns_a_typo_match_into_a_question_then_a_human() {
    let t = Textile::start_configured("b6-threshold", |tenant| tenant.confidence_threshold = Some("0.9".into())).await;

    // "blu coton" matches blue cotton within edit distance 1 (confidence 0.850): enough for the
    // default 0.80, not for this tenant's 0.90.
    let sent = t.say(C, "wamid.b6.1", "20m blu coton", 1).await;
    assert!(sent[0].text().unwrap_or_default().starts_with("Sorry, I didn't understand"), "one clarifying question: {:?}", t.sent_to(C));
    assert!(sent[0].button_ids().is_empty(), "a question, not a summary: {:?}", sent[0].body);
    let sent = t.say(C, "wamid.b6.2", "20 m bleu cottn", 1).await;
    assert!(sent[1].text().unwrap_or_default().contains("asked someone from the shop"), "the second miss hands over: {:?}", t.sent_to(C));
    let result = t
        .client
        .wait("a LOW_CONFIDENCE escalation", || async {
            let list = t.client.get("/v1/escalations").await?;
            Ok(list["escalations"].as_array().unwrap().iter().find(|e| e["kind"] == "LOW_CONFIDENCE" && e["customer"] == C).cloned())
        })
        .await;
    let escalation = result.unwrap_or_else(|e| panic!("{e:#}\n{}", t.log_tail()));
    let detail = escalation["detail"].as_str().unwrap();
    assert!(detail.contains("confidence 0.850 < 0.900"), "judged against the tenant's threshold: {detail}");
    assert!(detail.contains("bleu cottn"), "the owner sees what was said: {detail}");
    assert!(t.client.latest_order(C).await.unwrap().is_none(), "nothing was ordered on a guess");

    // An exact match (0.950) clears the raised bar: the order opens with its summary.
    let sent = t.say(C, "wamid.b6.3", "20m blue cotton", 1).await;
    assert_eq!(sent[2].button_ids(), vec!["confirm", "edit", "cancel_order"], "the summary's buttons");
    let detail = t.order_in(C, "FINAL_CUSTOMER_CONFIRMATION").await;
    let lines = detail["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 1, "{detail:#}");
    assert_eq!((lines[0]["material"].as_str(), lines[0]["color"].as_str()), (Some("cotton"), Some("blue")));
    t.settle().await;
    let list = t.client.get("/v1/escalations").await.unwrap();
    let low: Vec<_> = list["escalations"].as_array().unwrap().iter().filter(|e| e["kind"] == "LOW_CONFIDENCE").collect();
    assert_eq!(low.len(), 1, "one escalation: {list:#}");
}
