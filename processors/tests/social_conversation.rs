//! The social inbox's conversation through the broker-free driver (rules IB1–IB4): the
//! confidence gate as a table (0.80 itself auto-sends), a redelivered `mid` answered once, the
//! owner's review loop (approve / edit / reject / write), the dispatcher's answers and the
//! platform's receipts, the window of 20, retention, and the notification feed's numbering.

use rstest::rstest;
use rust_decimal::Decimal;
use souk_processors::social::conversation::{ConversationOutput as Out, ConversationProcessor, Status, WINDOW};
use souk_processors::social::NotificationFeed;
use souk_runtime::TestDriver;
use souk_schemas::social::*;
use souk_schemas::Envelope;

const TOPIC: &str = "social.inputs";
const KEY: &str = "shop|instagram|ab12";
const T0: i64 = 1_764_000_000_000;

fn message(mid: &str, at: i64) -> SocialInput {
    SocialInput::CustomerMessageReceived(CustomerMessageReceived {
        envelope: Envelope::external("shop", &format!("instagram/{mid}"), at),
        platform: "instagram".into(),
        subject: "ab12".into(),
        connection_id: "1784".into(),
        message_id: mid.into(),
        sender: "s1.k.sender".into(),
        text: format!("s1.k.text-{mid}"),
        message_type: "text".into(),
        platform_ts: at,
    })
}

fn reply_id(mid: &str) -> String {
    Envelope::external("shop", &format!("instagram/{mid}"), 0).event_id
}

fn draft(mid: &str, confidence: &str, at: i64) -> SocialInput {
    SocialInput::DraftGenerated(DraftGenerated {
        envelope: Envelope::external("shop", &format!("draft/{mid}"), at),
        reply_id: reply_id(mid),
        text: "s1.k.draft".into(),
        confidence: confidence.parse().unwrap(),
        threshold: "0.80".parse().unwrap(),
        drafter: "offline-1".into(),
        rule_ids: vec![],
        reason: "r".into(),
        summary: None,
    })
}

fn decide(reply: &str, decision: &str, text: Option<&str>, at: i64) -> SocialInput {
    SocialInput::ReplyDecided(ReplyDecided {
        envelope: Envelope::external("shop", &format!("cmd/{decision}/{reply}"), at),
        command_id: format!("{decision}-{reply}"),
        reply_id: reply.into(),
        decision: decision.into(),
        text: text.map(str::to_string),
        actor: "owner".into(),
    })
}

fn result(mid: &str, outcome: &str, at: i64) -> SocialInput {
    SocialInput::SocialSendResult(SocialSendResult {
        envelope: Envelope::external("shop", &format!("result/{mid}/{outcome}"), at),
        reply_id: reply_id(mid),
        outcome: outcome.into(),
        platform_message_id: (outcome == "sent").then(|| format!("out-{mid}")),
        detail: outcome.into(),
        retry_at: None,
    })
}

fn statuses(out: &[souk_runtime::processor::Emitted<Out>]) -> Vec<String> {
    out.iter().filter_map(|e| if let Out::ReplyUpdated(r) = &e.event { Some(r.status.clone()) } else { None }).collect()
}

fn sends(out: &[souk_runtime::processor::Emitted<Out>]) -> Vec<SocialSendRequested> {
    out.iter().filter_map(|e| if let Out::SocialSendRequested(s) = &e.event { Some(s.clone()) } else { None }).collect()
}

#[rstest]
#[case::well_above("0.92", "auto_sent", true)]
#[case::threshold_itself("0.80", "auto_sent", true)]
#[case::just_below("0.799", "escalated", false)]
#[case::doubtful("0.65", "escalated", false)]
fn the_confidence_gate(#[case] confidence: &str, #[case] status: &str, #[case] sent: bool) {
    let mut d = TestDriver::new(ConversationProcessor, 1);
    let first = d.feed(TOPIC, KEY, message("m1", T0));
    assert!(first.iter().any(|e| matches!(&e.event, Out::DraftRequested(r) if r.reply_id == reply_id("m1") && r.window.is_empty())));
    assert_eq!(statuses(&first), ["pending"]);
    let out = d.feed(TOPIC, KEY, draft("m1", confidence, T0 + 100));
    assert_eq!(statuses(&out), [status]);
    assert_eq!(sends(&out).len(), usize::from(sent));
    let notes: Vec<_> = out.iter().filter_map(|e| if let Out::NotificationRaised(n) = &e.event { Some((e.key.clone(), n.clone())) } else { None }).collect();
    if sent {
        assert!(notes.is_empty());
        assert_eq!(d.state(KEY).status, Status::Active);
    } else {
        let (key, note) = &notes[0];
        assert_eq!(key, "shop", "one feed per tenant");
        assert_eq!((note.priority.as_str(), note.kind.as_str()), ("high", "escalation"));
        let expected: Decimal = confidence.parse().unwrap();
        assert_eq!(note.title, format!("Low confidence: {:.2}", expected));
        assert_eq!(note.preview.as_deref(), Some("s1.k.text-m1"), "the customer's words stay sealed");
        assert_eq!(d.state(KEY).status, Status::Escalated);
    }
}

#[test]
fn a_redelivered_mid_is_answered_once() {
    let mut d = TestDriver::new(ConversationProcessor, 1);
    assert!(!d.feed(TOPIC, KEY, message("m1", T0)).is_empty());
    // The same mid in another delivery (another event id, as after a webhook retry with a new envelope).
    let mut again = message("m1", T0 + 5);
    if let SocialInput::CustomerMessageReceived(m) = &mut again {
        m.envelope = Envelope::external("shop", "instagram/m1/redelivered", T0 + 5);
    }
    assert!(d.feed(TOPIC, KEY, again).is_empty(), "a mid already taken changes nothing");
    assert_eq!(d.state(KEY).message_count, 1);
}

#[test]
fn the_owner_reviews_an_escalated_draft() {
    let mut d = TestDriver::new(ConversationProcessor, 1);
    d.feed(TOPIC, KEY, message("m1", T0));
    d.feed(TOPIC, KEY, draft("m1", "0.65", T0 + 1));
    let out = d.feed(TOPIC, KEY, decide(&reply_id("m1"), "edit", Some("s1.k.edited"), T0 + 2));
    assert_eq!(statuses(&out), ["edited"]);
    assert_eq!(sends(&out)[0].text, "s1.k.edited");
    assert!(out.iter().any(|e| matches!(&e.event, Out::NotificationClosed(c) if c.status == "resolved")));
    assert_eq!(d.state(KEY).status, Status::Active);
    assert!(d.feed(TOPIC, KEY, decide(&reply_id("m1"), "approve", None, T0 + 3)).is_empty(), "decided once");
    assert_eq!(statuses(&d.feed(TOPIC, KEY, result("m1", "throttled", T0 + 4))), ["throttled"]);
    assert_eq!(statuses(&d.feed(TOPIC, KEY, result("m1", "sent", T0 + 5))), ["sent"]);
    let delivered = SocialInput::SocialStatusReceived(SocialStatusReceived {
        envelope: Envelope::external("shop", "delivered", T0 + 6),
        platform: "instagram".into(),
        subject: "ab12".into(),
        status: "delivered".into(),
        platform_message_ids: vec!["out-m1".into()],
        watermark: None,
    });
    assert_eq!(statuses(&d.feed(TOPIC, KEY, delivered)), ["delivered"]);
    let read = SocialInput::SocialStatusReceived(SocialStatusReceived {
        envelope: Envelope::external("shop", "read", T0 + 7),
        platform: "instagram".into(),
        subject: "ab12".into(),
        status: "read".into(),
        platform_message_ids: vec![],
        watermark: Some(T0 + 7),
    });
    assert_eq!(statuses(&d.feed(TOPIC, KEY, read)), ["read"]);
    assert_eq!(d.state(KEY).message_count, 2, "the sent reply joined the window");
}

#[rstest]
#[case::approve("approve", None, Some("s1.k.draft"), "approved")]
#[case::reject("reject", None, None, "rejected")]
fn approve_or_reject(#[case] decision: &str, #[case] text: Option<&str>, #[case] sent: Option<&str>, #[case] status: &str) {
    let mut d = TestDriver::new(ConversationProcessor, 1);
    d.feed(TOPIC, KEY, message("m1", T0));
    d.feed(TOPIC, KEY, draft("m1", "0.40", T0 + 1));
    let out = d.feed(TOPIC, KEY, decide(&reply_id("m1"), decision, text, T0 + 2));
    assert_eq!(statuses(&out), [status]);
    assert_eq!(sends(&out).first().map(|s| s.text.clone()).as_deref(), sent);
}

#[test]
fn the_owner_writes_a_reply_and_a_conversation_without_a_customer_is_refused() {
    let mut d = TestDriver::new(ConversationProcessor, 1);
    d.feed(TOPIC, "shop|instagram|cd34", decide("owner-c1", "write", Some("s1.k.hello"), T0));
    assert_eq!(d.rejections.len(), 1, "nobody to write to");
    d.feed(TOPIC, KEY, message("m1", T0));
    let out = d.feed(TOPIC, KEY, decide("owner-c1", "write", Some("s1.k.hello"), T0 + 1));
    assert_eq!(statuses(&out), ["edited"]);
    assert_eq!(sends(&out)[0].recipient, "s1.k.sender");
}

#[test]
fn the_window_keeps_twenty_and_hands_over_the_rest() {
    let mut d = TestDriver::new(ConversationProcessor, 1);
    let mut last = Vec::new();
    for i in 0..23 {
        last = d.feed(TOPIC, KEY, message(&format!("m{i}"), T0 + i));
    }
    let request = last.iter().find_map(|e| if let Out::DraftRequested(r) = &e.event { Some(r.clone()) } else { None }).unwrap();
    assert_eq!(request.window.len(), WINDOW, "the 20 messages before this one");
    assert_eq!(request.message_count, 23);
    assert_eq!(request.evicted.len(), 1, "each request hands over what left the window since the last");
    assert_eq!(d.state(KEY).window.len(), WINDOW);
}

#[test]
fn thirty_days_of_silence_archive_the_conversation() {
    let mut d = TestDriver::new(ConversationProcessor, 1);
    d.feed(TOPIC, KEY, message("m1", T0));
    let day = 86_400_000;
    d.feed(TOPIC, "shop|instagram|other", message("x", T0 + 30 * day - 1));
    assert_eq!(d.state(KEY).status, Status::Active);
    d.feed(TOPIC, "shop|instagram|other", message("y", T0 + 30 * day));
    let state = d.state(KEY);
    assert_eq!(state.status, Status::Archived);
    assert!(state.window.is_empty() && state.last_message.is_none(), "the messages are dropped");
    d.feed(TOPIC, KEY, message("m2", T0 + 31 * day));
    assert_eq!(d.state(KEY).status, Status::Active, "a new message reopens it");
}

#[test]
fn the_feed_numbers_each_notification_once() {
    let mut d = TestDriver::new(NotificationFeed, 1);
    let raise = |id: &str, at: i64| {
        NotificationInput::NotificationRaised(NotificationRaised {
            envelope: Envelope::external("shop", &format!("raise/{id}"), at),
            notification_id: id.into(),
            kind: "escalation".into(),
            priority: "high".into(),
            title: "Low confidence: 0.65".into(),
            body: "b".into(),
            preview: None,
            subject: None,
            context: "{}".into(),
            link: None,
        })
    };
    let seq = |out: Vec<souk_runtime::processor::Emitted<NotificationEvent>>| {
        out.into_iter()
            .map(|e| match e.event {
                NotificationEvent::NotificationUpdated(n) => (n.seq, n.status),
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(seq(d.feed("notifications.inputs", "shop", raise("a", T0))), [(1, "unread".to_string())]);
    assert_eq!(seq(d.feed("notifications.inputs", "shop", raise("b", T0 + 1))), [(2, "unread".to_string())]);
    let mut copy = raise("a", T0 + 2);
    if let NotificationInput::NotificationRaised(n) = &mut copy {
        n.envelope = Envelope::external("shop", "raise/a/again", T0 + 2);
    }
    assert!(d.feed("notifications.inputs", "shop", copy).is_empty());
    let read = NotificationInput::NotificationClosed(NotificationClosed {
        envelope: Envelope::external("shop", "read-a", T0 + 3),
        command_id: "c".into(),
        notification_id: "a".into(),
        status: "read".into(),
        actor: "owner".into(),
    });
    assert_eq!(seq(d.feed("notifications.inputs", "shop", read)), [(1, "read".to_string())]);
}
