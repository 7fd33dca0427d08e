//! One conversation (rules IB1–IB4): key `<tenant>|<platform>|<subject>`. A customer message is
//! taken once (its platform message id is remembered; a redelivery changes nothing), joins the
//! window of the last [`WINDOW`] messages and is handed to the reply stage with that window as a
//! `DraftRequested`. The logged draft decides: confidence ≥ the tenant's threshold (the threshold
//! itself passes) ⇒ `auto_sent`, sent at once; below ⇒ `escalated`, with a high-priority
//! notification "Low confidence: 0.65" for the owner, who approves, edits or rejects it (or writes
//! a reply of their own). A reply then goes `sent` (the dispatcher's answer), `delivered`, `read`,
//! or `failed`; `throttled` while the channel's hourly budget holds it back. A conversation without
//! a message for [`RETENTION_DAYS`] is archived and its messages dropped from state.

use serde::{Deserialize, Serialize};
use souk_runtime::{Ctx, Processor, Rejection};
use souk_schemas::social::{
    conversation_id, ConversationErased, ConversationUpdated, CustomerMessageReceived, DraftGenerated, DraftRequested, NotificationClosed, NotificationRaised, ReplyDecided, ReplyUpdated, SocialInput,
    SocialSendRequested, SocialSendResult, SocialStatusReceived, WindowMessage,
};
use souk_schemas::StreamEvent;
use std::collections::{BTreeMap, VecDeque};

/// The processor's name in topology.toml.
pub const NAME: &str = "social-conversation";
/// Messages a draft sees (source 002 a.8: the 20 most recent).
pub const WINDOW: usize = 20;
/// Past this many messages a summary of the earlier ones is kept (a.8: > 50).
pub const SUMMARY_AFTER: i32 = 50;
/// Days a conversation's messages are kept without a new one (a.8, d: 30).
pub const RETENTION_DAYS: i64 = 30;
/// Platform message ids remembered for deduplication (far more than a redelivery window holds).
pub const SEEN_IDS: usize = 512;
/// Finished replies kept in state (their receipts may still come).
pub const FINISHED_REPLIES: usize = 64;
const DAY_MS: i64 = 86_400_000;
const RETENTION_TIMER: &str = "retention";

/// Where a conversation stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Nothing waits for the owner.
    #[default]
    Active,
    /// A reply waits for the owner's review.
    Escalated,
    /// No message for 30 days; its messages were dropped.
    Archived,
}

impl Status {
    /// The projected name.
    pub fn name(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Escalated => "escalated",
            Status::Archived => "archived",
        }
    }
}

/// One customer message and its reply, or a reply a person wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    /// The reply's id (the answered message's event id, or `owner-<command id>`).
    pub reply_id: String,
    /// The customer message answered.
    pub message_id: Option<String>,
    /// Its text, sealed.
    pub message_text: Option<String>,
    /// When it arrived.
    pub received_at: Option<i64>,
    /// `pending`, `auto_sent`, `escalated`, `approved`, `edited`, `rejected`, `throttled`, `sent`,
    /// `delivered`, `read` or `failed`.
    pub status: String,
    /// The stage's draft, sealed.
    pub draft: Option<String>,
    /// What was (or is being) sent, sealed.
    pub sent_text: Option<String>,
    /// The draft's confidence.
    pub confidence: Option<rust_decimal::Decimal>,
    /// The threshold it was judged against.
    pub threshold: Option<rust_decimal::Decimal>,
    /// Who drafted it.
    pub drafter: Option<String>,
    /// Why that confidence.
    pub reason: Option<String>,
    /// Business rules the draft applied.
    pub rule_ids: Vec<String>,
    /// Our sent message's platform id.
    pub platform_message_id: Option<String>,
    /// Who decided, for a reviewed reply.
    pub decided_by: Option<String>,
    /// The dispatcher's last word (throttled until …, the failure).
    pub detail: Option<String>,
    /// Stream time of the last change.
    pub updated_at: i64,
    /// When it was sent (read watermarks compare with it).
    pub sent_at: Option<i64>,
}

impl Reply {
    fn waits_for_owner(&self) -> bool {
        self.status == "escalated"
    }

    fn finished(&self) -> bool {
        matches!(self.status.as_str(), "rejected" | "read" | "failed")
    }
}

/// The state of one conversation key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversation {
    /// `instagram` or `whatsapp`.
    pub platform: String,
    /// The customer's pseudonym.
    pub subject: String,
    /// The page / phone number the customer writes to.
    pub connection_id: String,
    /// The sealed `{id, username}` of the customer (who replies go to).
    pub sender: Option<String>,
    /// Where it stands.
    pub status: Status,
    /// The last [`WINDOW`] messages.
    pub window: VecDeque<WindowMessage>,
    /// Messages that left the window since the last draft request.
    pub evicted: Vec<WindowMessage>,
    /// The summary of earlier messages, sealed.
    pub summary: Option<String>,
    /// Messages so far (both ways).
    pub message_count: i32,
    /// Customer messages since the owner last acted.
    pub unread_count: i32,
    /// The last message, sealed, and when.
    pub last_message: Option<String>,
    /// When.
    pub last_message_at: i64,
    /// The last draft's confidence.
    pub last_confidence: Option<rust_decimal::Decimal>,
    /// Platform message ids already taken (newest last).
    pub seen: VecDeque<String>,
    /// Replies by id: open ones, and the last finished ones.
    pub replies: BTreeMap<String, Reply>,
}

/// The conversation lifecycle; stateless itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConversationProcessor;

/// What a conversation emits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[allow(clippy::large_enum_variant)] // short-lived outputs, encoded once each
pub enum ConversationOutput {
    /// A message for the reply stage (→ `drafts`).
    DraftRequested(DraftRequested),
    /// A reply to send (→ `outbound`).
    SocialSendRequested(SocialSendRequested),
    /// The conversation's snapshot (→ `events`).
    ConversationUpdated(ConversationUpdated),
    /// A reply's snapshot (→ `events`).
    ReplyUpdated(ReplyUpdated),
    /// An escalation for the owner (→ `notifications`).
    NotificationRaised(NotificationRaised),
    /// The escalation's reply was decided (→ `notifications`).
    NotificationClosed(NotificationClosed),
    /// The customer was erased (→ `events`).
    ConversationErased(ConversationErased),
}

souk_schemas::stream_event!(ConversationOutput { DraftRequested, SocialSendRequested, ConversationUpdated, ReplyUpdated, NotificationRaised, NotificationClosed, ConversationErased });

/// The escalation notification of a reply.
pub fn notification_id(reply_id: &str) -> String {
    format!("escalation-{reply_id}")
}

impl Processor for ConversationProcessor {
    type State = Conversation;
    type Input = SocialInput;
    type Output = ConversationOutput;

    fn name(&self) -> &'static str {
        NAME
    }

    fn handle(&self, state: &mut Conversation, event: &SocialInput, ctx: &mut Ctx<ConversationOutput>) -> Result<(), Rejection> {
        if event.is_tick() {
            return Ok(());
        }
        match event {
            SocialInput::CustomerMessageReceived(m) => received(state, m, ctx),
            SocialInput::ErasureRequested(e) => {
                erased(state, e, ctx);
                Ok(())
            }
            SocialInput::DraftGenerated(d) => drafted(state, d, ctx),
            SocialInput::ReplyDecided(d) => decided(state, d, ctx),
            SocialInput::SocialSendResult(r) => send_result(state, r, ctx),
            SocialInput::SocialStatusReceived(s) => receipt(state, s, ctx),
            SocialInput::Tick(_) => Ok(()),
        }
    }

    fn on_timer(&self, state: &mut Conversation, timer_id: &str, ctx: &mut Ctx<ConversationOutput>) {
        if timer_id != RETENTION_TIMER || state.status == Status::Archived || ctx.now() < state.last_message_at + RETENTION_DAYS * DAY_MS {
            return;
        }
        state.status = Status::Archived;
        state.window.clear();
        state.evicted.clear();
        state.summary = None;
        state.last_message = None;
        state.replies.retain(|_, r| !r.finished() && !r.waits_for_owner());
        conversation_snapshot(state, ctx);
    }

    fn output_name(&self, output: &ConversationOutput) -> &'static str {
        match output {
            ConversationOutput::DraftRequested(_) => "drafts",
            ConversationOutput::SocialSendRequested(_) => "outbound",
            ConversationOutput::ConversationUpdated(_) | ConversationOutput::ReplyUpdated(_) | ConversationOutput::ConversationErased(_) => "events",
            ConversationOutput::NotificationRaised(_) | ConversationOutput::NotificationClosed(_) => "notifications",
        }
    }
}

fn push_window(state: &mut Conversation, message: WindowMessage) {
    state.last_message = Some(message.text.clone());
    state.last_message_at = state.last_message_at.max(message.at);
    state.message_count += 1;
    state.window.push_back(message);
    while state.window.len() > WINDOW {
        if let Some(old) = state.window.pop_front() {
            state.evicted.push(old);
        }
    }
}

fn received(state: &mut Conversation, m: &CustomerMessageReceived, ctx: &mut Ctx<ConversationOutput>) -> Result<(), Rejection> {
    let expected = souk_schemas::social::conversation_key(&m.envelope.tenant_id, &m.platform, &m.subject);
    if ctx.key() != expected {
        return Err(Rejection::new("KEY_MISMATCH", format!("a message of conversation {expected} under key {:?}", ctx.key())));
    }
    if state.seen.contains(&m.message_id) {
        return Ok(()); // a redelivery: answered once (rules IB1)
    }
    state.seen.push_back(m.message_id.clone());
    while state.seen.len() > SEEN_IDS {
        state.seen.pop_front();
    }
    state.platform = m.platform.clone();
    state.subject = m.subject.clone();
    state.connection_id = m.connection_id.clone();
    state.sender = Some(m.sender.clone());
    if state.status == Status::Archived {
        state.status = Status::Active;
    }
    let window: Vec<WindowMessage> = state.window.iter().cloned().collect();
    push_window(state, WindowMessage { role: "customer".into(), text: m.text.clone(), at: m.platform_ts });
    state.unread_count += 1;
    let reply = Reply {
        reply_id: m.envelope.event_id.clone(),
        message_id: Some(m.message_id.clone()),
        message_text: Some(m.text.clone()),
        received_at: Some(m.platform_ts),
        status: "pending".into(),
        updated_at: ctx.now(),
        ..Reply::default()
    };
    let request = DraftRequested {
        envelope: ctx.envelope(),
        reply_id: reply.reply_id.clone(),
        platform: m.platform.clone(),
        subject: m.subject.clone(),
        message_id: m.message_id.clone(),
        text: m.text.clone(),
        window,
        evicted: std::mem::take(&mut state.evicted),
        summary: state.summary.clone(),
        message_count: state.message_count,
    };
    ctx.emit(ctx.key().to_string(), ConversationOutput::DraftRequested(request));
    reply_snapshot(state, &reply, ctx);
    state.replies.insert(reply.reply_id.clone(), reply);
    ctx.schedule(RETENTION_TIMER, state.last_message_at + RETENTION_DAYS * DAY_MS);
    conversation_snapshot(state, ctx);
    Ok(())
}

/// Rules PR2: the customer is forgotten — their state dropped (a later message starts afresh,
/// under a new key) and the read side told to delete them.
fn erased(state: &mut Conversation, e: &souk_schemas::privacy::ErasureRequested, ctx: &mut Ctx<ConversationOutput>) {
    *state = Conversation::default();
    ctx.cancel(RETENTION_TIMER);
    let done = ConversationErased {
        envelope: ctx.envelope(),
        conversation_id: conversation_id(&e.platform, &e.subject),
        platform: e.platform.clone(),
        subject: e.subject.clone(),
        command_id: e.command_id.clone(),
    };
    ctx.emit(ctx.key().to_string(), ConversationOutput::ConversationErased(done));
}

fn drafted(state: &mut Conversation, d: &DraftGenerated, ctx: &mut Ctx<ConversationOutput>) -> Result<(), Rejection> {
    let Some(mut reply) = state.replies.get(&d.reply_id).filter(|r| r.status == "pending").cloned() else { return Ok(()) };
    reply.draft = Some(d.text.clone());
    reply.confidence = Some(d.confidence);
    reply.threshold = Some(d.threshold);
    reply.drafter = Some(d.drafter.clone());
    reply.reason = Some(d.reason.clone());
    reply.rule_ids = d.rule_ids.clone();
    reply.updated_at = ctx.now();
    state.last_confidence = Some(d.confidence);
    if d.summary.is_some() {
        state.summary = d.summary.clone();
    }
    if d.confidence >= d.threshold {
        reply.status = "auto_sent".into();
        send(state, &mut reply, d.text.clone(), ctx);
    } else {
        reply.status = "escalated".into();
        state.status = Status::Escalated;
        let raised = NotificationRaised {
            envelope: ctx.envelope(),
            notification_id: notification_id(&reply.reply_id),
            kind: "escalation".into(),
            priority: "high".into(),
            title: format!("Low confidence: {:.2}", d.confidence),
            body: format!("A customer's {} message needs your review before it is answered.", platform_label(&state.platform)),
            preview: reply.message_text.clone(),
            subject: Some(state.subject.clone()),
            context: serde_json::json!({
                "platform": state.platform,
                "conversation_id": conversation_id(&state.platform, &state.subject),
                "reply_id": reply.reply_id,
                "confidence": d.confidence.to_string(),
                "conversation_url": format!("/conversations/{}", conversation_id(&state.platform, &state.subject)),
            })
            .to_string(),
            link: Some(format!("/console#/conversations/{}", conversation_id(&state.platform, &state.subject))),
        };
        ctx.emit(d.envelope.tenant_id.clone(), ConversationOutput::NotificationRaised(raised));
    }
    reply_snapshot(state, &reply, ctx);
    state.replies.insert(reply.reply_id.clone(), reply);
    conversation_snapshot(state, ctx);
    Ok(())
}

fn platform_label(platform: &str) -> &'static str {
    match platform {
        "instagram" => "Instagram",
        _ => "WhatsApp",
    }
}

/// Sends `text` as `reply`'s answer.
fn send(state: &Conversation, reply: &mut Reply, text: String, ctx: &mut Ctx<ConversationOutput>) {
    reply.sent_text = Some(text.clone());
    let request = SocialSendRequested {
        envelope: ctx.envelope(),
        reply_id: reply.reply_id.clone(),
        platform: state.platform.clone(),
        connection_id: state.connection_id.clone(),
        subject: state.subject.clone(),
        recipient: state.sender.clone().unwrap_or_default(),
        text,
    };
    ctx.emit(ctx.key().to_string(), ConversationOutput::SocialSendRequested(request));
}

fn decided(state: &mut Conversation, d: &ReplyDecided, ctx: &mut Ctx<ConversationOutput>) -> Result<(), Rejection> {
    if state.sender.is_none() {
        return Err(Rejection::new("UNKNOWN_CONVERSATION", format!("no customer has written in conversation {}", ctx.key())));
    }
    let mut reply = match (d.decision.as_str(), state.replies.get(&d.reply_id)) {
        ("write", None) => Reply { reply_id: d.reply_id.clone(), status: "pending".into(), ..Reply::default() },
        ("write", Some(_)) => return Ok(()), // the same command again
        (_, Some(r)) if r.waits_for_owner() => r.clone(),
        _ => return Ok(()), // decided already, or not escalated: nothing to decide
    };
    reply.decided_by = Some(d.actor.clone());
    reply.updated_at = ctx.now();
    let text = match d.decision.as_str() {
        "approve" => reply.draft.clone(),
        "edit" | "write" => d.text.clone(),
        _ => None,
    };
    let was_escalated = reply.waits_for_owner();
    match (d.decision.as_str(), text) {
        ("approve", Some(text)) => {
            reply.status = "approved".into();
            send(state, &mut reply, text, ctx);
        }
        ("edit" | "write", Some(text)) => {
            reply.status = "edited".into();
            send(state, &mut reply, text, ctx);
        }
        ("reject", _) => reply.status = "rejected".into(),
        (decision, _) => return Err(Rejection::new("BAD_DECISION", format!("{decision} of reply {} carries no text to send", d.reply_id))),
    }
    if was_escalated {
        let closed =
            NotificationClosed { envelope: ctx.envelope(), command_id: d.command_id.clone(), notification_id: notification_id(&reply.reply_id), status: "resolved".into(), actor: d.actor.clone() };
        ctx.emit(d.envelope.tenant_id.clone(), ConversationOutput::NotificationClosed(closed));
    }
    state.unread_count = 0;
    reply_snapshot(state, &reply, ctx);
    state.replies.insert(reply.reply_id.clone(), reply);
    if state.status == Status::Escalated && !state.replies.values().any(Reply::waits_for_owner) {
        state.status = Status::Active;
    }
    forget_finished(state);
    conversation_snapshot(state, ctx);
    Ok(())
}

fn send_result(state: &mut Conversation, r: &SocialSendResult, ctx: &mut Ctx<ConversationOutput>) -> Result<(), Rejection> {
    let Some(mut reply) = state.replies.get(&r.reply_id).cloned() else { return Ok(()) };
    if matches!(reply.status.as_str(), "sent" | "delivered" | "read" | "failed") {
        return Ok(()); // settled already
    }
    reply.updated_at = ctx.now();
    reply.detail = Some(r.detail.clone());
    match r.outcome.as_str() {
        "sent" => {
            reply.status = "sent".into();
            reply.platform_message_id = r.platform_message_id.clone();
            reply.sent_at = Some(ctx.now());
            if let Some(text) = reply.sent_text.clone() {
                push_window(state, WindowMessage { role: "business".into(), text, at: ctx.now() });
            }
        }
        "throttled" => reply.status = "throttled".into(),
        _ => reply.status = "failed".into(),
    }
    reply_snapshot(state, &reply, ctx);
    state.replies.insert(reply.reply_id.clone(), reply);
    forget_finished(state);
    conversation_snapshot(state, ctx);
    Ok(())
}

fn receipt(state: &mut Conversation, s: &SocialStatusReceived, ctx: &mut Ctx<ConversationOutput>) -> Result<(), Rejection> {
    let rank = |status: &str| match status {
        "sent" => 1,
        "delivered" => 2,
        "read" => 3,
        _ => 0,
    };
    let target = rank(&s.status);
    let changed: Vec<String> = state
        .replies
        .values()
        .filter(|r| rank(&r.status) > 0 && rank(&r.status) < target)
        .filter(|r| r.platform_message_id.as_ref().is_some_and(|id| s.platform_message_ids.contains(id)) || s.watermark.is_some_and(|w| r.sent_at.is_some_and(|at| at <= w)))
        .map(|r| r.reply_id.clone())
        .collect();
    for id in changed {
        if let Some(reply) = state.replies.get_mut(&id) {
            reply.status = s.status.clone();
            reply.updated_at = ctx.now();
            let reply = reply.clone();
            reply_snapshot(state, &reply, ctx);
        }
    }
    forget_finished(state);
    Ok(())
}

/// Keeps the last [`FINISHED_REPLIES`] finished replies (by last change).
fn forget_finished(state: &mut Conversation) {
    let mut finished: Vec<(i64, String)> = state.replies.values().filter(|r| r.finished() || r.status == "delivered").map(|r| (r.updated_at, r.reply_id.clone())).collect();
    if finished.len() > FINISHED_REPLIES {
        finished.sort();
        for (_, id) in &finished[..finished.len() - FINISHED_REPLIES] {
            state.replies.remove(id);
        }
    }
}

fn conversation_snapshot(state: &Conversation, ctx: &mut Ctx<ConversationOutput>) {
    let snapshot = ConversationUpdated {
        envelope: ctx.envelope(),
        conversation_id: conversation_id(&state.platform, &state.subject),
        platform: state.platform.clone(),
        subject: state.subject.clone(),
        status: state.status.name().into(),
        customer_name: state.sender.clone(),
        last_message: state.last_message.clone(),
        last_message_at: state.last_message_at,
        last_confidence: state.last_confidence,
        unread_count: state.unread_count,
        message_count: state.message_count,
        summary: state.summary.clone(),
    };
    ctx.emit(ctx.key().to_string(), ConversationOutput::ConversationUpdated(snapshot));
}

fn reply_snapshot(state: &Conversation, reply: &Reply, ctx: &mut Ctx<ConversationOutput>) {
    let snapshot = ReplyUpdated {
        envelope: ctx.envelope(),
        conversation_id: conversation_id(&state.platform, &state.subject),
        reply_id: reply.reply_id.clone(),
        platform: state.platform.clone(),
        subject: state.subject.clone(),
        message_id: reply.message_id.clone(),
        message_text: reply.message_text.clone(),
        received_at: reply.received_at,
        status: reply.status.clone(),
        draft: reply.draft.clone(),
        sent_text: reply.sent_text.clone(),
        confidence: reply.confidence,
        threshold: reply.threshold,
        drafter: reply.drafter.clone(),
        reason: reply.reason.clone(),
        rule_ids: reply.rule_ids.clone(),
        platform_message_id: reply.platform_message_id.clone(),
        decided_by: reply.decided_by.clone(),
        detail: reply.detail.clone(),
        updated_at: reply.updated_at,
    };
    ctx.emit(ctx.key().to_string(), ConversationOutput::ReplyUpdated(snapshot));
}
