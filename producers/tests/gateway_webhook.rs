//! The WhatsApp webhook (rules C1, S003.8): verification handshake, signatures on the raw
//! body, timestamp skew, Meta's payload shapes turned into one event per message/status with ids
//! derived from Meta's, and nothing published for any refused delivery.

mod gateway_support;

use gateway_support::*;
use serde_json::json;
use souk_producers::gateway::{sign, GatewayEvent, Publish};
use souk_schemas::Envelope;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_handshake() {
    let gw = Gateway::start().await;
    let get = |query: String| gw.http.get(format!("{}/webhooks/whatsapp?{query}", gw.base)).send();
    for token in [BHARAT.verify_token, SUTRA.verify_token] {
        let resp = get(format!("hub.mode=subscribe&hub.verify_token={token}&hub.challenge=1158201444")).await.unwrap();
        assert_eq!(resp.status(), 200);
        assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
        assert_eq!(resp.text().await.unwrap(), "1158201444", "echoes the challenge");
    }
    for bad in [
        "hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1",
        "hub.mode=subscribe&hub.verify_token=bharat-verif&hub.challenge=1",
        "hub.mode=unsubscribe&hub.verify_token=bharat-verify&hub.challenge=1",
        "hub.mode=subscribe&hub.challenge=1",
        "hub.mode=subscribe&hub.verify_token=bharat-verify",
        "",
    ] {
        let resp = get(bad.to_string()).await.unwrap();
        assert_eq!(resp.status(), 403, "{bad}");
        let (_, body) = answer(resp).await;
        assert_eq!(body["error"], "VERIFICATION_FAILED");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatures_are_checked_on_the_raw_body() {
    let gw = Gateway::start().await;
    let body = serde_json::to_vec(&delivery("1001", vec![contact("919800000001", "Asha")], vec![text("919800000001", "wamid.A", NOW_S, "50m cotton blue")], vec![])).unwrap();

    let (status, err) = gw.post_webhook(&body, &[]).await;
    assert_eq!((status, err["error"].as_str()), (401, Some("MISSING_SIGNATURE")), "{err}");
    assert!(err["reason"].is_string());

    let (status, err) = gw.post_webhook(&body, &[("X-Hub-Signature-256", sign("not-the-secret", &body))]).await;
    assert_eq!((status, err["error"].as_str()), (401, Some("BAD_SIGNATURE")));

    let (status, _) = gw.post_webhook(&body, &[("X-Hub-Signature-256", "sha256=00".into())]).await;
    assert_eq!(status, 401);
    let (status, _) = gw.post_webhook(&body, &[("X-Hub-Signature-256", sign(BHARAT.app_secret, &body)[7..].to_string())]).await;
    assert_eq!(status, 401, "the sha256= prefix is required");

    // Signed correctly, then one byte changed (whitespace is part of the signed body).
    let mut tampered = body.clone();
    tampered.push(b' ');
    let (status, _) = gw.post_webhook(&tampered, &[("X-Hub-Signature-256", sign(BHARAT.app_secret, &body))]).await;
    assert_eq!(status, 401);

    // Another tenant's valid signature does not authenticate bharat's number.
    let (status, err) = gw.post_webhook(&body, &[("X-Hub-Signature-256", sign(SUTRA.app_secret, &body))]).await;
    assert_eq!(status, 401, "{err}");
    assert!(err["reason"].as_str().unwrap().contains("1001"), "{err}");
    assert!(gw.published().await.is_empty(), "nothing published for a refused delivery");

    let (status, ok) = gw.post_webhook(&body, &[("X-Hub-Signature-256", sign(BHARAT.app_secret, &body))]).await;
    assert_eq!((status, ok["events"].as_u64()), (200, Some(1)));
    let outputs: Vec<&str> = gw.published().await.iter().map(|p| p.output).collect();
    assert_eq!(outputs, ["inbound", "consent"], "the message and its sender's consent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timestamp_skew_of_exactly_300_seconds_passes() {
    let gw = Gateway::start().await;
    let body = serde_json::to_vec(&delivery("1001", vec![], vec![text("919800000001", "wamid.T", NOW_S, "hi")], vec![])).unwrap();
    let signed = |ts: String| vec![("X-Hub-Signature-256", sign(BHARAT.app_secret, &body)), ("X-Hub-Timestamp", ts)];
    for (ts, expected) in [(NOW_S - 300, 200), (NOW_S + 300, 200), (NOW_S, 200), (NOW_S - 301, 401), (NOW_S + 301, 401)] {
        let (status, body) = gw.post_webhook(&body, &signed(ts.to_string())).await;
        assert_eq!(status, expected, "skew {} s: {body}", ts - NOW_S);
    }
    let (status, err) = gw.post_webhook(&body, &signed("yesterday".into())).await;
    assert_eq!((status, err["error"].as_str()), (401, Some("BAD_TIMESTAMP")));
    assert_eq!(gw.published().await.len(), 6, "only the three accepted deliveries published (each a message and its consent)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batched_delivery_is_one_event_per_message_and_status() {
    let gw = Gateway::start().await;
    let payload = delivery(
        "1001",
        vec![contact("919800000001", "Asha"), contact("919800000002", "Ravi")],
        vec![text("919800000001", "wamid.M1", NOW_S - 5, "50m cotton blue aur 20m silk red"), text("919800000002", "wamid.M2", NOW_S - 4, "rate kya hai?")],
        vec![status("wamid.OUT1", "delivered", NOW_S - 3, "919800000003")],
    );
    let (status, ok) = gw.deliver(BHARAT.app_secret, &payload).await;
    assert_eq!((status, ok["events"].as_u64()), (200, Some(3)), "{ok}");
    let events = gw.published().await;
    let keys: Vec<_> = events.iter().map(|p| (p.output, p.key.as_str())).collect();
    assert_eq!(
        keys,
        [
            ("inbound", "bharat|919800000001"),
            ("inbound", "bharat|919800000002"),
            ("status", "bharat|919800000003"),
            ("consent", "bharat|919800000001|message"),
            ("consent", "bharat|919800000002|message")
        ]
    );

    let GatewayEvent::Inbound(m1) = &events[0].event else { panic!("{:?}", events[0]) };
    assert_eq!(m1.envelope, Envelope::external("bharat", "wa/wamid.M1", (NOW_S - 5) * 1000));
    assert_eq!((m1.wa_id.as_str(), m1.profile_name.as_deref(), m1.phone_number_id.as_str()), ("919800000001", Some("Asha"), "1001"));
    assert_eq!((m1.kind.as_str(), m1.text.as_deref(), m1.sent_at), ("text", Some("50m cotton blue aur 20m silk red"), (NOW_S - 5) * 1000));
    let GatewayEvent::Inbound(m2) = &events[1].event else { panic!() };
    assert_eq!(m2.profile_name.as_deref(), Some("Ravi"), "profile matched by wa_id");
    let GatewayEvent::Status(s) = &events[2].event else { panic!() };
    assert_eq!(s.envelope, Envelope::external("bharat", "wa-status/wamid.OUT1/delivered", (NOW_S - 3) * 1000));
    assert_eq!((s.wamid.as_str(), s.status.as_str(), s.recipient_id.as_str(), s.errors.len()), ("wamid.OUT1", "delivered", "919800000003", 0));

    // Meta redelivers: identical events (same ids), deduplicated downstream.
    let (status, _) = gw.deliver(BHARAT.app_secret, &payload).await;
    assert_eq!(status, 200);
    // Read back topic by topic: each topic holds its records of both deliveries, byte-identical.
    let twice: Vec<Publish> = ["inbound", "status", "consent"]
        .iter()
        .flat_map(|t| {
            let of_topic: Vec<Publish> = events.iter().filter(|p| p.output == *t).cloned().collect();
            [of_topic.clone(), of_topic].concat()
        })
        .collect();
    assert_eq!(gw.published().await, twice);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_types() {
    let gw = Gateway::start().await;
    let from = "919800000001";
    let template_button = json!({
        "context": { "from": "15550001111", "id": "wamid.template" },
        "from": from, "id": "wamid.B", "timestamp": NOW_S.to_string(), "type": "button",
        "button": { "payload": "PAY_NOW", "text": "Pay now" }
    });
    let payload = delivery(
        "1001",
        vec![contact(from, "Asha")],
        vec![
            text(from, "wamid.T", NOW_S, "namaste"),
            button_reply(from, "wamid.BR", NOW_S, "CONFIRM", "Confirm", "wamid.summary"),
            list_reply(from, "wamid.LR", NOW_S, "cotton|blue", "Cotton Blue", "120/m, 80 m left"),
            image(from, "wamid.IMG", NOW_S),
            template_button,
        ],
        vec![],
    );
    let (status, _) = gw.deliver(BHARAT.app_secret, &payload).await;
    assert_eq!(status, 200);
    let messages: Vec<_> = gw
        .published()
        .await
        .into_iter()
        .filter_map(|p| match p.event {
            GatewayEvent::Inbound(m) => Some(m),
            GatewayEvent::Consent(_) => None,
            other => panic!("{other:?}"),
        })
        .collect();
    let summary: Vec<_> = messages.iter().map(|m| (m.kind.as_str(), m.message_type.as_str(), m.text.as_deref(), m.reply_id.as_deref(), m.context_wamid.as_deref())).collect();
    assert_eq!(
        summary,
        [
            ("text", "text", Some("namaste"), None, None),
            ("button_reply", "interactive", Some("Confirm"), Some("CONFIRM"), Some("wamid.summary")),
            ("list_reply", "interactive", Some("Cotton Blue"), Some("cotton|blue"), Some("wamid.list-sent")),
            ("unsupported", "image", None, None, None),
            ("button_reply", "button", Some("Pay now"), Some("PAY_NOW"), Some("wamid.template")),
        ]
    );
    let raw: serde_json::Value = serde_json::from_str(&messages[3].raw_json).unwrap();
    assert_eq!(raw, image(from, "wamid.IMG", NOW_S), "the unsupported message is kept whole");
    let raw: serde_json::Value = serde_json::from_str(&messages[2].raw_json).unwrap();
    assert_eq!(raw["interactive"]["list_reply"]["description"], "120/m, 80 m left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_status_with_errors_and_other_fields_ignored() {
    let gw = Gateway::start().await;
    let mut failed = status("wamid.OUT9", "failed", NOW_S, "919800000001");
    failed["errors"] = json!([{ "code": 131047, "title": "Re-engagement message", "message": "Re-engagement message", "error_data": { "details": "Message failed to send because more than 24 hours have passed since the customer last replied to this number." } }]);
    let mut payload = delivery("1001", vec![], vec![], vec![failed, status("wamid.OUT9", "deleted", NOW_S, "919800000001")]);
    // A template-status notification in the same delivery carries no customer traffic.
    payload["entry"][0]["changes"].as_array_mut().unwrap().push(json!({ "field": "message_template_status_update", "value": { "event": "APPROVED", "message_template_id": 1 } }));
    let (status, ok) = gw.deliver(BHARAT.app_secret, &payload).await;
    assert_eq!((status, ok["events"].as_u64()), (200, Some(1)), "{ok}");
    let GatewayEvent::Status(s) = &gw.published().await[0].event else { panic!() };
    assert_eq!(s.status, "failed");
    assert_eq!((s.errors[0].code, s.errors[0].title.as_str()), (131047, "Re-engagement message"));
    assert!(s.errors[0].detail.as_deref().unwrap().contains("24 hours"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_carries_the_callback_data_the_dispatcher_sent() {
    // The dispatcher sends `biz_opaque_callback_data` = its request's event id; Meta echoes it on
    // every status of that message, which is how a send whose answer was lost gets settled.
    let gw = Gateway::start().await;
    let mut sent = status("wamid.OUT7", "sent", NOW_S, "919800000001");
    sent["biz_opaque_callback_data"] = json!("6f1c0b9e-8d0a-5d7e-9f51-3b2a1c0d4e5f");
    let payload = delivery("1001", vec![], vec![], vec![sent, status("wamid.OUT8", "delivered", NOW_S, "919800000001")]);
    let (status, ok) = gw.deliver(BHARAT.app_secret, &payload).await;
    assert_eq!((status, ok["events"].as_u64()), (200, Some(2)), "{ok}");
    let published = gw.published().await;
    let GatewayEvent::Status(with) = &published[0].event else { panic!() };
    assert_eq!((with.wamid.as_str(), with.callback_data.as_deref()), ("wamid.OUT7", Some("6f1c0b9e-8d0a-5d7e-9f51-3b2a1c0d4e5f")));
    let GatewayEvent::Status(without) = &published[1].event else { panic!() };
    assert_eq!(without.callback_data, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_deliveries_are_400_and_name_the_problem() {
    let gw = Gateway::start().await;
    let mut no_ts = text("919800000001", "wamid.X", NOW_S, "hi");
    no_ts.as_object_mut().unwrap().remove("timestamp");
    let mut no_body = text("919800000001", "wamid.Y", NOW_S, "hi");
    no_body["text"] = json!({});
    let mut bad_ts = text("919800000001", "wamid.Z", NOW_S, "hi");
    bad_ts["timestamp"] = json!("soon");
    let mut no_metadata = delivery("1001", vec![], vec![text("919800000001", "wamid.W", NOW_S, "hi")], vec![]);
    no_metadata["entry"][0]["changes"][0]["value"].as_object_mut().unwrap().remove("metadata");
    let good = text("919800000001", "wamid.OK", NOW_S, "fine");
    let cases = [
        (delivery("1001", vec![], vec![good.clone(), no_ts], vec![]), "entry[0].changes[0].value.messages[1].timestamp"),
        (delivery("1001", vec![], vec![good.clone(), no_body], vec![]), "entry[0].changes[0].value.messages[1].text.body"),
        (delivery("1001", vec![], vec![good.clone(), bad_ts], vec![]), "entry[0].changes[0].value.messages[1].timestamp"),
        (no_metadata, "entry[0].changes[0].value.metadata"),
        (json!({ "object": "whatsapp_business_account" }), "entry"),
        (json!({ "entry": "nope" }), "entry must be an array"),
        (delivery("1001", vec![], vec![good], vec![json!({ "id": "wamid.S", "status": "read", "timestamp": "1" })]), "statuses[0].recipient_id"),
    ];
    for (payload, expected) in cases {
        let (status, err) = gw.deliver(BHARAT.app_secret, &payload).await;
        assert_eq!((status, err["error"].as_str()), (400, Some("MALFORMED_PAYLOAD")), "{payload}");
        assert!(err["reason"].as_str().unwrap().contains(expected), "{err} should name {expected}");
    }
    for raw in [&b"{not json"[..], b"[]", b""] {
        let (status, err) = gw.post_webhook(raw, &[("X-Hub-Signature-256", sign(BHARAT.app_secret, raw))]).await;
        assert_eq!(status, 400, "{err}");
        assert!(err["reason"].is_string());
    }
    assert!(gw.published().await.is_empty(), "a bad message refuses the whole delivery: nothing published");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_unknown_number_and_broker_failure() {
    let gw = Gateway::start().await;
    // Over 256 KiB, correctly signed: 413 before anything else.
    let big = delivery("1001", vec![], vec![text("919800000001", "wamid.BIG", NOW_S, &"x".repeat(300 * 1024))], vec![]);
    let (status, err) = gw.deliver(BHARAT.app_secret, &big).await;
    assert_eq!((status, err["error"].as_str()), (413, Some("PAYLOAD_TOO_LARGE")), "{err}");

    let unknown = delivery("9999", vec![], vec![text("919800000001", "wamid.U", NOW_S, "hi")], vec![]);
    let (status, err) = gw.deliver(BHARAT.app_secret, &unknown).await;
    assert_eq!((status, err["error"].as_str()), (404, Some("UNKNOWN_PHONE_NUMBER")), "{err}");
    assert!(gw.published().await.is_empty());

    let ok = delivery("2002", vec![], vec![text("919800000001", "wamid.S1", NOW_S, "hi")], vec![]);
    gw.broker_down(true);
    let (status, err) = gw.deliver(SUTRA.app_secret, &ok).await;
    assert_eq!((status, err["error"].as_str()), (503, Some("UNAVAILABLE")), "Meta retries a 503: {err}");
    gw.broker_down(false);
    let (status, _) = gw.deliver(SUTRA.app_secret, &ok).await;
    assert_eq!(status, 200);
    assert_eq!(gw.published().await[0].key, "sutra|919800000001");
}

/// The sender's consent (the source's WhatsApp opt-in): a message is implicit consent, keyed apart
/// from explicit STOP / START so compaction never lets the one replace the other; ids derive from
/// the message's, so a redelivery is the same record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_message_records_its_senders_consent_and_stop_withdraws_it() {
    let gw = Gateway::start().await;
    let from = "919800000001";
    let payload = delivery("1001", vec![], vec![text(from, "wamid.C1", NOW_S, "namaste"), text(from, "wamid.C2", NOW_S, " Stop "), text(from, "wamid.C3", NOW_S, "start")], vec![]);
    let (status, ok) = gw.deliver(BHARAT.app_secret, &payload).await;
    assert_eq!((status, ok["events"].as_u64()), (200, Some(3)), "{ok}");
    let consents: Vec<(String, bool, String)> = gw
        .published()
        .await
        .into_iter()
        .filter_map(|p| match p.event {
            GatewayEvent::Consent(c) => Some((p.key, c.opted_in, c.source)),
            _ => None,
        })
        .collect();
    assert_eq!(
        consents,
        [(format!("bharat|{from}|message"), true, "customer_message".to_string()), (format!("bharat|{from}"), false, "keyword".to_string()), (format!("bharat|{from}"), true, "keyword".to_string())]
    );
    let first = gw.published().await;
    gw.deliver(BHARAT.app_secret, &payload).await;
    let all = gw.published().await;
    assert_eq!(all.len(), 2 * first.len());
    assert!(all.iter().all(|p| first.contains(p)), "a redelivery publishes the same records (same ids)");
}
