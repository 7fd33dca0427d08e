//! The social inbox on the real stack, through HTTP (source 002 table (f), examples 2–5 and 7; rules
//! SC1, IB1–IB3, SN1, PR1): Instagram's webhook authenticated like Meta signs it, every messaging
//! item one conversation event, a redelivered `mid` answered once, the confidence gate (a greeting
//! auto-sent at 0.90, a doubtful question escalated at 0.65 with a high-priority notification
//! "Low confidence: 0.65"), the owner's edit resolving it — and the customers' words never in
//! plain text on any topic.

mod support;

use reqwest::StatusCode;
use serde_json::{json, Value};
use souk_schemas::social::{DraftEvent, NotificationEvent, SocialEvent, SocialOutbound};
use std::time::Duration;
use support::inbox::{decoded, delivery, eventually};
use support::textile::Textile;

async fn post(t: &Textile, body: &[u8], signature: Option<&str>, timestamp: Option<i64>) -> (StatusCode, Value) {
    let mut req = reqwest::Client::new().post(format!("{}/webhooks/instagram", t.client.base())).header("content-type", "application/json").body(body.to_vec());
    if let Some(sig) = signature {
        req = req.header("x-hub-signature-256", sig);
    }
    if let Some(ts) = timestamp {
        req = req.header("x-hub-timestamp", ts.to_string());
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Reads the live stream from `Last-Event-ID` `last` until `want` notifications arrived: their
/// (id, event name) in order, after the `connected` event.
async fn sse(t: &Textile, last: Option<i64>, want: usize) -> Vec<(String, String)> {
    let mut req = reqwest::Client::new().get(format!("{}/v1/notifications/stream", t.client.base())).bearer_auth(&t.client.tenant.api_key).header("accept", "text/event-stream");
    if let Some(last) = last {
        req = req.header("last-event-id", last.to_string());
    }
    let mut resp = req.send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let (mut text, mut events, mut connected) = (String::new(), Vec::new(), false);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while events.len() < want {
        let chunk = tokio::time::timeout_at(deadline, resp.chunk()).await.expect("the stream delivers in time").unwrap().expect("the stream stays open");
        text.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = text.find("\n\n") {
            let block: String = text.drain(..end + 2).collect();
            let field = |name: &str| block.lines().find_map(|l| l.strip_prefix(&format!("{name}:")).map(|v| v.trim().to_string()));
            match (field("event"), field("id")) {
                (Some(e), _) if e == "connected" => connected = true,
                (Some(e), Some(id)) => events.push((id, e)),
                _ => {} // a keep-alive comment
            }
        }
    }
    assert!(connected, "the stream opens with `connected`");
    events
}

fn reply_statuses(events: &[SocialEvent]) -> Vec<(String, String)> {
    events.iter().filter_map(|e| if let SocialEvent::ReplyUpdated(r) = e { Some((r.conversation_id.clone(), r.status.clone())) } else { None }).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instagram_messages_are_answered_or_escalated_once_and_never_stored_in_plain_text() {
    let t = Textile::start_unseeded("inbox-ig").await;
    let (page, secret) = (t.client.tenant.instagram_page_id.clone(), t.client.tenant.instagram_app_secret.clone());
    let now_ms = chrono::Utc::now().timestamp_millis();
    let body = delivery(&page, &[("ig-user-1", "mid.hi.1", "Hi!"), ("ig-user-2", "mid.size.2", "Do you have this in size M?")], now_ms);
    let signature = souk_producers::gateway::sign(&secret, &body);

    // Examples 3–5: refused before anything is produced.
    let (status, answer) = post(&t, &body, None, None).await;
    assert_eq!((status, answer["reason"].as_str()), (StatusCode::UNAUTHORIZED, Some("Missing signature header")));
    let (status, answer) = post(&t, &body, Some(&souk_producers::gateway::sign("not-the-app-secret", &body)), None).await;
    assert_eq!((status, answer["reason"].as_str()), (StatusCode::UNAUTHORIZED, Some("Invalid signature")));
    let (status, answer) = post(&t, &body, Some(&signature), Some(now_ms / 1000 - 400)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(answer["reason"].as_str().unwrap().starts_with("Webhook timestamp too old"), "{answer}");
    assert!(decoded::<DraftEvent>(&t, "social.drafts").await.is_empty(), "nothing refused reached the pipeline");

    // Example 2: 200 {"status":"processed"}, one event per messaging item.
    let (status, answer) = post(&t, &body, Some(&signature), Some(now_ms / 1000 - 200)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!((answer["status"].as_str(), answer["events"].as_u64()), (Some("processed"), Some(2)));

    // The greeting is auto-sent (0.90 ≥ 0.80); the doubtful question is escalated at 0.65.
    let events = eventually("both replies decided", async || {
        let events: Vec<SocialEvent> = decoded(&t, "social.events").await;
        let statuses = reply_statuses(&events);
        (statuses.iter().any(|(_, s)| s == "auto_sent") && statuses.iter().any(|(_, s)| s == "escalated")).then_some(events)
    })
    .await;
    let escalated = events.iter().rev().find_map(|e| if let SocialEvent::ReplyUpdated(r) = e { (r.status == "escalated").then(|| r.clone()) } else { None }).unwrap();
    assert_eq!(escalated.confidence, Some("0.650".parse().unwrap()));
    assert_eq!(escalated.drafter.as_deref(), Some("social-offline-1"));
    let auto = events.iter().find_map(|e| if let SocialEvent::ReplyUpdated(r) = e { (r.status == "auto_sent").then(|| r.clone()) } else { None }).unwrap();
    assert_eq!(auto.confidence, Some("0.900".parse().unwrap()));
    let sends: Vec<SocialOutbound> = decoded(&t, "social.outbound").await;
    assert_eq!(sends.len(), 1, "only the auto-approved reply goes out");

    // Example 7: the owner is told, high priority, first in the tenant's feed.
    let notification = eventually("the escalation notification", async || {
        let feed: Vec<NotificationEvent> = decoded(&t, "notifications.events").await;
        feed.into_iter().map(|NotificationEvent::NotificationUpdated(n)| n).find(|n| n.kind == "escalation")
    })
    .await;
    assert_eq!((notification.title.as_str(), notification.priority.as_str(), notification.seq), ("Low confidence: 0.65", "high", 1));

    // A redelivery of the same mids (Meta retries) is answered once.
    let (status, _) = post(&t, &body, Some(&signature), None).await;
    assert_eq!(status, StatusCode::OK);
    t.caught_up("social-conversation", "social.inputs").await;
    assert_eq!(decoded::<DraftEvent>(&t, "social.drafts").await.len(), 2, "each mid drafted once");

    // The owner edits the escalated draft: it goes out, the notification is resolved.
    let path = format!("/v1/conversations/{}/replies/{}/edit", escalated.conversation_id, escalated.reply_id);
    let (status, answer) = t.client.owner(reqwest::Method::POST, &path, Some(json!({"text": "Yes — size M is <b>available</b>!<script>x()</script>"}))).await.unwrap();
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    eventually("the edited reply sent out", async || {
        let sends: Vec<SocialOutbound> = decoded(&t, "social.outbound").await;
        (sends.len() == 2).then_some(())
    })
    .await;
    eventually("the notification resolved", async || {
        let feed: Vec<NotificationEvent> = decoded(&t, "notifications.events").await;
        feed.into_iter().map(|NotificationEvent::NotificationUpdated(n)| n).find(|n| n.status == "resolved")
    })
    .await;

    // The read side, opened with the keys: the inbox, the conversation, the feed and its live stream.
    let inbox = eventually("the inbox projected", async || {
        let inbox = t.client.get("/v1/conversations").await.ok()?;
        let rows = inbox["conversations"].as_array()?.clone();
        (rows.len() == 2 && rows.iter().all(|c| c["status"] == "active" && c["message_count"] == 2)).then_some(rows)
    })
    .await;
    assert!(inbox.iter().all(|c| c["unread_count"].as_i64() <= Some(1)), "{inbox:?}");
    // Both replies went out through Instagram's /me/messages with the page's token.
    let sent: Vec<_> = t.whatsapp.requests().into_iter().filter(|r| r.path == "/v17.0/me/messages").collect();
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(sent[0].bearer(), Some(format!("IGQ-{}", t.client.tenant.access_token).as_str()));
    assert_eq!((sent[0].to(), sent[0].text()), (Some("ig-user-1"), Some("Hi! Thanks for reaching out — how can we help you today?")));
    assert_eq!((sent[1].to(), sent[1].text()), (Some("ig-user-2"), Some("Yes — size M is <b>available</b>!")));
    let detail = t.client.get(&format!("/v1/conversations/{}", escalated.conversation_id)).await.unwrap();
    let answered = &detail["messages"][0];
    assert_eq!(answered["content"], "Do you have this in size M?");
    assert_eq!(answered["confidence_score"], "0.650");
    assert_eq!(answered["sent_text"], "Yes — size M is <b>available</b>!", "HTML rules: <script> removed, <b> kept");
    assert_eq!((answered["status"].as_str(), answered["decided_by"].as_str()), (Some("sent"), Some("owner")));
    assert!(answered["platform_reply_id"].as_str().is_some_and(|id| id.starts_with("m_")), "{answered}");
    assert_eq!(detail["customer_id"], "ig-user-2");
    let feed = t.client.get("/v1/notifications").await.unwrap();
    assert_eq!(feed["notifications"][0]["title"], "Low confidence: 0.65");
    assert_eq!(feed["notifications"][0]["preview"], "Do you have this in size M?");
    assert_eq!(sse(&t, None, 1).await, [("1".to_string(), "escalation".to_string())]);
    let (status, _) = t.client.owner(reqwest::Method::POST, &format!("/v1/notifications/{}/read", notification.notification_id), None).await.unwrap();
    assert_eq!(status, StatusCode::ACCEPTED);

    // A second escalation while no stream is open: a client resuming from id 1 gets exactly it.
    let later = delivery(&page, &[("ig-user-3", "mid.late.3", "Where is my order?")], chrono::Utc::now().timestamp_millis());
    let (status, _) = post(&t, &later, Some(&souk_producers::gateway::sign(&secret, &later)), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sse(&t, Some(1), 1).await, [("2".to_string(), "escalation".to_string())], "resumed after 1: the missed one, once");
    let waiting = eventually("the third conversation escalated in the inbox", async || {
        let inbox = t.client.get("/v1/conversations?status=escalated").await.ok()?;
        let rows = inbox["conversations"].as_array()?.clone();
        (rows.len() == 1).then_some(rows)
    })
    .await;
    assert_eq!(t.client.get("/v1/conversations").await.unwrap()["conversations"][0]["conversation_id"], waiting[0]["conversation_id"], "escalated first");
    let read = t.client.get("/v1/notifications?unread_only=true").await.unwrap();
    assert_eq!(read["unread_count"], 1, "the first was read, the second is not: {read}");

    // Rules PR1: no topic of the inbox holds a customer's words, id or the owner's reply in plain text.
    for topic in ["social.inputs", "social.drafts", "social.outbound", "social.events", "notifications.inputs", "notifications.events", "privacy.keys"] {
        for record in t.pipeline.read(topic).await {
            let bytes = [record.key.unwrap_or_default().into_bytes(), record.payload.unwrap_or_default()].concat();
            let text = String::from_utf8_lossy(&bytes);
            for secret in ["size M", "Hi!", "ig-user-1", "ig-user-2", "available"] {
                assert!(!text.contains(secret), "{topic} holds {secret:?} in plain text");
            }
        }
    }
    // Nor does souk's log.
    let logs = t.logs();
    for secret in ["size M", "ig-user-2", "my order"] {
        assert!(!logs.contains(secret), "the log holds {secret:?}");
    }
}
