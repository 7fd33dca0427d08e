//! One notification feed per tenant (rules SN1): key `<tenant>`, so every notification of a
//! tenant is numbered in one order. Each raised notification gets the next `seq` — the SSE event
//! id a client resumes from with `Last-Event-ID` — and its snapshot; reading it (the owner) or
//! resolving it (what it was about was decided) changes its status. Raising the same id again
//! changes nothing, so a re-emitted escalation is numbered once.

use serde::{Deserialize, Serialize};
use souk_runtime::{Ctx, Processor, Rejection};
use souk_schemas::social::{NotificationClosed, NotificationEvent, NotificationInput, NotificationRaised, NotificationUpdated};
use std::collections::{BTreeMap, VecDeque};

/// The processor's name in topology.toml.
pub const NAME: &str = "notification-feed";
/// Notifications whose status can still change (unread ones) kept in state, newest last.
pub const OPEN_KEPT: usize = 2048;

/// A notification the feed still knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Known {
    /// Its snapshot.
    pub last: NotificationUpdated,
}

/// A tenant's feed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Feed {
    /// The last sequence number given.
    pub seq: i64,
    /// Notifications by id.
    pub known: BTreeMap<String, Known>,
    /// Their ids, oldest first (to bound `known`).
    pub order: VecDeque<String>,
}

/// The feed lifecycle; stateless itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct NotificationFeed;

impl Processor for NotificationFeed {
    type State = Feed;
    type Input = NotificationInput;
    type Output = NotificationEvent;

    fn name(&self) -> &'static str {
        NAME
    }

    fn handle(&self, state: &mut Feed, event: &NotificationInput, ctx: &mut Ctx<NotificationEvent>) -> Result<(), Rejection> {
        match event {
            NotificationInput::NotificationRaised(n) => raised(state, n, ctx),
            NotificationInput::NotificationClosed(c) => closed(state, c, ctx),
        }
        Ok(())
    }

    fn on_timer(&self, _state: &mut Feed, _timer_id: &str, _ctx: &mut Ctx<NotificationEvent>) {}

    fn output_name(&self, _output: &NotificationEvent) -> &'static str {
        "events"
    }
}

fn raised(state: &mut Feed, n: &NotificationRaised, ctx: &mut Ctx<NotificationEvent>) {
    if state.known.contains_key(&n.notification_id) {
        return;
    }
    state.seq += 1;
    let snapshot = NotificationUpdated {
        envelope: ctx.envelope(),
        notification_id: n.notification_id.clone(),
        seq: state.seq,
        kind: n.kind.clone(),
        priority: n.priority.clone(),
        status: "unread".into(),
        title: n.title.clone(),
        body: n.body.clone(),
        preview: n.preview.clone(),
        subject: n.subject.clone(),
        context: n.context.clone(),
        link: n.link.clone(),
        raised_at: ctx.now(),
        read_at: None,
        resolved_at: None,
    };
    ctx.emit(ctx.key().to_string(), NotificationEvent::NotificationUpdated(snapshot.clone()));
    state.known.insert(n.notification_id.clone(), Known { last: snapshot });
    state.order.push_back(n.notification_id.clone());
    while state.order.len() > OPEN_KEPT {
        if let Some(old) = state.order.pop_front() {
            state.known.remove(&old);
        }
    }
}

fn closed(state: &mut Feed, c: &NotificationClosed, ctx: &mut Ctx<NotificationEvent>) {
    let now = ctx.now();
    let Some(known) = state.known.get_mut(&c.notification_id) else { return };
    let mut next = known.last.clone();
    match c.status.as_str() {
        "read" if next.read_at.is_none() => next.read_at = Some(now),
        "resolved" if next.resolved_at.is_none() => next.resolved_at = Some(now),
        _ => return,
    }
    next.status = if next.resolved_at.is_some() { "resolved" } else { "read" }.into();
    next.envelope = ctx.envelope();
    known.last = next.clone();
    ctx.emit(ctx.key().to_string(), NotificationEvent::NotificationUpdated(next));
}
